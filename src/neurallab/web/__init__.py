"""The web app: upload an image, see what the network sees and what it says.

Start it with ``neurallab serve [MODEL]``, or build it in code::

    from neurallab.web import create_app
    app = create_app("model.safetensors")      # any ASGI server runs it

Needs the ``web`` extra (FastAPI, uvicorn, python-multipart).
"""

from __future__ import annotations

from .app import create_app
from .default import default_model
from .inference import ImageClassifier

__all__ = ["create_app", "default_model", "ImageClassifier"]
