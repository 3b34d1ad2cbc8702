#!/usr/bin/env bash
# Install everything the test suite needs (Python packages, Debian's Fashion-MNIST files and
# Chromium for the browser test), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi

python -m pip install -q -e ".[test]"
python -m ruff check src tests benchmarks scripts
python -m pytest "$@"
