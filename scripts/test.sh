#!/usr/bin/env bash
# Install everything the test suite needs, then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[test]"
python -m ruff check src tests benchmarks
python -m pytest
