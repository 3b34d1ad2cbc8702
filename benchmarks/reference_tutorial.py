"""The tutorial's network in plain NumPy, written straight from its equations.

This is the yardstick of ``bench_tutorial.py``: no library, no validation, no
generality — the 2-3-1 sigmoid network of chapters 2–6 exactly as the tutorial
writes it, trained by the same SciPy BFGS (``minimize(jac=True)``, at most 200
iterations, a callback that records ``J`` after every iteration)::

    z2 = X·W1,  a2 = f(z2),  z3 = a2·W2,  ŷ = f(z3)           (chapter 2)
    J = ½·Σ(y − ŷ)²                                          (chapter 3)
    δ3 = −(y − ŷ) ⊙ f'(z3),  ∂J/∂W2 = a2ᵀ·δ3
    δ2 = (δ3·W2ᵀ) ⊙ f'(z2),  ∂J/∂W1 = Xᵀ·δ2                   (chapter 4)
    f(z) = 1/(1 + e^{−z}),   f'(z) = e^{−z}/(1 + e^{−z})²

The class keeps the tutorial's method names (``forward``, ``costFunction``,
``costFunctionPrime``, ``getParams``/``setParams``) and the trainer its shape: the
wrapper SciPy calls sets the parameters and returns the cost and the gradient,
the callback records the cost. As in the tutorial's code, the cost and the
gradient each run their own forward pass, and the callback one more.
:class:`LeanTrainer` is the same with one forward pass per evaluation (the cost
taken from the gradient's pass, the callback reading SciPy's ``fun``) — the
fastest honest form of this code, reported next to the tutorial's own.

Weights are drawn as ``default_rng(seed).standard_normal`` — ``W1`` (2, 3) then
``W2`` (3, 1) — the same numbers ``neurallab.Network([2, 3, 1], init="normal",
seed=seed)`` starts from.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

__all__ = ["NeuralNetwork", "Trainer", "LeanTrainer", "scaled_data"]


def scaled_data() -> tuple[np.ndarray, np.ndarray]:
    """The chapter-1 data scaled into [0, 1]: hours by column maximum, scores by 100."""
    X = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]])
    y = np.array([[75.0], [82.0], [93.0]])
    return X / np.amax(X, axis=0), y / 100.0


class NeuralNetwork:
    """The 2-3-1 sigmoid network without biases (chapters 2–5)."""

    def __init__(self, seed: int | None = None):
        self.inputLayerSize = 2
        self.outputLayerSize = 1
        self.hiddenLayerSize = 3
        rng = np.random.default_rng(seed)
        self.W1 = rng.standard_normal((self.inputLayerSize, self.hiddenLayerSize))
        self.W2 = rng.standard_normal((self.hiddenLayerSize, self.outputLayerSize))

    def forward(self, X):
        self.z2 = np.dot(X, self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = np.dot(self.a2, self.W2)
        yHat = self.sigmoid(self.z3)
        return yHat

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))

    def sigmoidPrime(self, z):
        return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        J = 0.5 * np.sum((y - self.yHat) ** 2)
        return J

    def costFunctionPrime(self, X, y):
        self.yHat = self.forward(X)
        delta3 = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3)
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.z2)
        dJdW1 = np.dot(X.T, delta2)
        return dJdW1, dJdW2

    def getParams(self):
        return np.concatenate((self.W1.ravel(), self.W2.ravel()))

    def setParams(self, params):
        W1_end = self.hiddenLayerSize * self.inputLayerSize
        self.W1 = np.reshape(params[0:W1_end], (self.inputLayerSize, self.hiddenLayerSize))
        W2_end = W1_end + self.hiddenLayerSize * self.outputLayerSize
        self.W2 = np.reshape(params[W1_end:W2_end], (self.hiddenLayerSize, self.outputLayerSize))

    def computeGradients(self, X, y):
        dJdW1, dJdW2 = self.costFunctionPrime(X, y)
        return np.concatenate((dJdW1.ravel(), dJdW2.ravel()))


class Trainer:
    """SciPy BFGS on the unrolled weights, recording J after each iteration (chapter 6)."""

    def __init__(self, N: NeuralNetwork):
        self.N = N

    def callbackF(self, params):
        self.N.setParams(params)
        self.J.append(self.N.costFunction(self.X, self.y))

    def costFunctionWrapper(self, params, X, y):
        self.N.setParams(params)
        cost = self.N.costFunction(X, y)
        grad = self.N.computeGradients(X, y)
        return cost, grad

    def train(self, X, y, maxiter: int = 200):
        self.X = X
        self.y = y
        self.J = []
        params0 = self.N.getParams()
        options = {"maxiter": maxiter, "disp": False}
        _res = optimize.minimize(self.costFunctionWrapper, params0, jac=True, method="BFGS",
                                 args=(X, y), options=options, callback=self.callbackF)
        self.N.setParams(_res.x)
        self.optimizationResults = _res
        return _res


class LeanTrainer(Trainer):
    """:class:`Trainer` with one forward pass per evaluation.

    The cost comes from the forward pass the gradient needs anyway, and the
    callback records SciPy's own ``fun`` instead of evaluating the cost again.
    """

    def callbackF(self, intermediate_result):
        self.J.append(intermediate_result.fun)

    def costFunctionWrapper(self, params, X, y):
        self.N.setParams(params)
        grad = self.N.computeGradients(X, y)        # runs forward, sets yHat
        cost = 0.5 * np.sum((y - self.N.yHat) ** 2)
        return cost, grad
