"""Load test of the web app on loopback: many single-image requests, several clients.

Starts ``neurallab serve`` in its own process on 127.0.0.1 (a free port), warms it
up, then sends ``--requests`` single-image ``POST /api/predict`` requests from
``--clients`` concurrent keep-alive clients, and the same number of ``GET /healthz``
as the peer in the same run: the health check is the server's floor (HTTP, routing,
JSON), so the ratio of the two says what decoding an upload and running the network
add on top. Everything is bounded: a fixed count and a ``--timeout`` for the whole run.

Checks, each printed, and the exit status is 1 if one fails:

* zero errors (every prediction 200 with the right label for the image sent);
* the server's resident memory after the run within ``--max-growth-mb`` (50 MB) of
  before it (read from ``/proc/<pid>/status``, or psutil where installed).

Usage::

    python benchmarks/bench_web_load.py                      # 2,000 requests, 8 clients
    python benchmarks/bench_web_load.py --requests 200 --clients 4 --model m.safetensors
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
from PIL import Image

HOST = "127.0.0.1"  # loopback only: the load never leaves this machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB (1e6 bytes)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 1e6
    except ImportError:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"cannot read the memory of process {pid}")


def test_image() -> tuple[bytes, str]:
    """A Fashion-MNIST test image as PNG bytes, and its class name."""
    import neurallab as nl

    data = nl.datasets.fashion_mnist_sample()
    buf = io.BytesIO()
    Image.fromarray(np.asarray(data.X_test[0], dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue(), data.class_names[int(data.y_test[0])]


def start_server(model: str | None, port: int, timeout: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "neurallab", "serve", *([model] if model else []),
           "--host", HOST, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}: {' '.join(cmd)}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


async def hammer(url: str, n: int, clients: int, make_request, check) -> dict:
    """``n`` requests from ``clients`` concurrent clients; latencies and errors."""
    latencies = np.empty(n)
    errors: list[str] = []
    next_index = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(c: httpx.AsyncClient):
        nonlocal next_index
        while next_index < n:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            try:
                r = await make_request(c)
                problem = check(r)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            latencies[i] = time.perf_counter() - t0
            if problem:
                errors.append(problem)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*[client(c) for _ in range(clients)])
        wall = time.perf_counter() - t0
    return {"n": n, "errors": errors, "wall": wall, "rps": n / wall,
            "p50": 1e3 * np.percentile(latencies, 50), "p99": 1e3 * np.percentile(latencies, 99)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--model", help="a .safetensors classifier (default: the built-in one)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for the whole run")
    ap.add_argument("--max-growth-mb", type=float, default=50.0)
    args = ap.parse_args(argv)

    image, label = test_image()
    files = {"files": ("item.png", image, "image/png")}
    server_ms: list[float] = []

    async def predict(c):
        return await c.post("/api/predict", files=files)

    def check_predict(r):
        if r.status_code != 200:
            return f"status {r.status_code}: {r.text[:200]}"
        answer = r.json()["results"][0]
        server_ms.append(answer["timing_ms"]["total"])
        return None if answer["label"] == label else f"label {answer['label']!r}, not {label!r}"

    async def health(c):
        return await c.get("/healthz")

    def check_health(r):
        return None if r.status_code == 200 else f"status {r.status_code}"

    port = free_port()
    t_start = time.monotonic()
    proc = start_server(args.model, port, timeout=min(args.timeout, 180))
    url = f"http://{HOST}:{port}"
    try:
        async def run():
            await hammer(url, args.warmup, args.clients, predict, check_predict)
            before = rss_mb(proc.pid)
            pred = await hammer(url, args.requests, args.clients, predict, check_predict)
            after = rss_mb(proc.pid)
            base = await hammer(url, args.requests, args.clients, health, check_health)
            return before, pred, after, base

        left = args.timeout - (time.monotonic() - t_start)
        before, pred, after, base = asyncio.run(asyncio.wait_for(run(), timeout=left))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    print(f"neurallab serve on {url} (pid {proc.pid}), {os.cpu_count()} CPUs, "
          f"{args.clients} concurrent clients, {args.warmup} warm-up requests")
    print(f"{'':22}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in (("POST /api/predict", pred), ("GET /healthz (peer)", base)):
        print(f"{name:22}{r['n']:9d}{len(r['errors']):8d}{r['rps']:9.0f}"
              f"{r['p50']:9.2f}{r['p99']:9.2f}")
    print(f"predict / healthz: p50 x{pred['p50'] / base['p50']:.2f}, "
          f"throughput x{pred['rps'] / base['rps']:.2f}")
    print(f"server-side decode + inference per image: p50 "
          f"{np.percentile(server_ms, 50):.2f} ms")
    growth = after - before
    ok_memory = growth <= args.max_growth_mb
    print(f"server RSS: {before:.1f} MB before, {after:.1f} MB after {args.requests} "
          f"predictions: {growth:+.1f} MB (limit {args.max_growth_mb:g} MB) "
          f"{'OK' if ok_memory else 'FAIL'}")
    errors = pred["errors"] + base["errors"]
    for e in errors[:5]:
        print(f"error: {e}")
    print("zero errors: OK" if not errors else f"errors: {len(errors)} FAIL")
    return 0 if ok_memory and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
