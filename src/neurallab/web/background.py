"""Run the web app in a background thread, on a free loopback port.

For the browser test and the screenshot script: they need a real HTTP server (a
browser cannot talk to an in-process ASGI app), started and stopped in a few lines,
on a port nobody else holds. The socket is bound here (port 0: the system picks a
free one) and handed to uvicorn, so there is no window in which another process
could take the port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["running_server"]


@contextmanager
def running_server(app, host: str = "127.0.0.1", timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yields its base URL.

    Parameters
    ----------
    app : ASGI application
    host : str
        Loopback by default: nothing outside this machine can reach it.
    timeout : float
        Seconds to wait for the server to start (and to stop).

    Yields
    ------
    str
        ``http://127.0.0.1:PORT``.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"uvicorn-{port}")
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web app did not start on {host}:{port}")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
