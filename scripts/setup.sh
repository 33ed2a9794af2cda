#!/usr/bin/env bash
# Create .venv and install jepa with the extras given as arguments (default: dev).
# On a machine without CUDA this pins the CPU build of torch so no install can pull a multi-GB CUDA wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
python3 -m venv .venv
py=.venv/bin/python
"$py" -m pip install --quiet --upgrade pip
if ! "$py" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    "$py" -m pip install --quiet torch
  else
    "$py" -m pip install --quiet "torch==2.13.0"
  fi
fi
# keep whatever torch is now installed: nothing below may replace it
"$py" -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > .venv/torch-constraint.txt
"$py" -m pip install --quiet -c .venv/torch-constraint.txt -e ".[${extras}]"
echo "jepa installed in .venv (torch $("$py" -c 'import torch; print(torch.__version__)'))"
