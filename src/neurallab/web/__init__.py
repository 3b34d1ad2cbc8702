"""The web app: upload an image, see what the network sees and what it says; or, for
a model trained on a table, type its input values and see its answer.

Start it with ``neurallab serve [MODEL]``, or build it in code::

    from neurallab.web import create_app, create_values_app
    app = create_app("model.safetensors")          # an image classifier
    app = create_values_app("scores.safetensors")  # a model trained on a CSV file

Needs the ``web`` extra (FastAPI, uvicorn, python-multipart).
"""

from __future__ import annotations

from .app import create_app, create_values_app
from .default import default_model
from .inference import ImageClassifier
from .values import ValuesModel

__all__ = ["create_app", "create_values_app", "default_model", "ImageClassifier",
           "ValuesModel"]
