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
# dev also tests Push-T: gym-pusht asks for pygame, whose files clash with pygame-ce's (the audio tests read
# pygame-ce's sounds; both install the module `pygame`, which gym-pusht draws with alike). Its other
# dependencies come with dev.
if [[ ",${extras}," == *",dev,"* ]]; then
  "$py" -m pip install --quiet --no-deps "gym-pusht>=0.1.5"
fi
# torchaudio from PyPI is a CUDA build: with a CPU-only torch it imports only once its CUDA extension libraries
# are gone, and its features (kaldi fbank, resample) then run in pure Python. Found without importing it.
if "$py" -c "import sys, torch; sys.exit(torch.version.cuda is not None)"; then
  torchaudio_dir=$("$py" -c "import importlib.util as u; s = u.find_spec('torchaudio'); print(s.submodule_search_locations[0] if s else '')")
  if [ -n "$torchaudio_dir" ]; then
    rm -f "$torchaudio_dir"/lib/*.so
  fi
fi
echo "jepa installed in .venv (torch $("$py" -c 'import torch; print(torch.__version__)'))"
