"""Sub-commands of ``neurallab``; each module defines ``register(subparsers)``."""
