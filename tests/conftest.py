"""Shared fixtures: the tutorial's data (raw and scaled) and hypothesis settings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import neurallab as nl

# Property tests run many small networks; their speed varies with the machine's load,
# so no per-example deadline. CI runs the same number of examples as a laptop.
settings.register_profile(
    "neurallab", deadline=None, max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("neurallab")


@pytest.fixture
def sleep():
    """The tutorial's three students in raw units: X (3, 2) hours, y (3, 1) points."""
    return nl.datasets.sleep_study()


@pytest.fixture
def sleep_scaled(sleep):
    """The same data scaled as in the tutorial: X by its column maxima, y by 100."""
    X, y = sleep
    return X / X.max(axis=0), y / 100.0


@pytest.fixture
def tutorial_net():
    """A factory for the tutorial's 2-3-1 sigmoid network without biases."""
    def make(seed: int | None = 0, **kwargs) -> nl.Network:
        return nl.Network([2, 3, 1], activation="sigmoid", output_activation="sigmoid",
                          bias=False, init="normal", dtype="float64", seed=seed, **kwargs)
    return make


@pytest.fixture
def blobs():
    """A small, well-separated 3-class problem in 2-D: X (60, 2), integer labels (60,)."""
    rng = np.random.default_rng(42)
    centers = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    labels = np.repeat(np.arange(3), 20)
    X = centers[labels] + rng.normal(scale=0.5, size=(60, 2))
    return X, labels
