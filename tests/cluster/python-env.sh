#!/usr/bin/env bash
# Makes VENV (default target/pyvenv) a Python environment with the pinned
# kafka-python the cluster tests use. Idempotent: does nothing when it is
# already there. kafka-python 2.0.2 runs on Python 3.11 (3.12 removed what
# its vendored six needs).
set -euo pipefail
venv="${1:-target/pyvenv}"
version="2.0.2"
if "$venv/bin/python" -c "import kafka, sys; sys.exit(kafka.__version__ != '$version')" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "kafka-python==$version"
