#!/usr/bin/env bash
# spectomo on an OpenCL GPU in one command (see benchmarks/gpu_check.py): installs into .venv if
# there is none, then runs the kernel tests and the 256³ timings and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q -e ".[test]"
fi
exec .venv/bin/python benchmarks/gpu_check.py "$@"
