#!/usr/bin/env bash
# The device check in one command (docs/speed.md#on-a-gpu): installs what the machine lacks from a wheel folder
# made beforehand, then runs scripts/gpu_check.py (every method in bf16, torchrun, SDPA against xformers, a
# killed run resumed, the ViT-L/16 bench with its MFU) and writes <out>/gpu_check.json. Without a CUDA device it
# runs the same checks on the CPU with tiny settings.
#   bash scripts/gpu_check.sh [--out runs/gpu_check]
# The wheel folder, made on a machine with network for the GPU machine's Python and platform (PyTorch is already
# there):
#   pip download -d wheels --only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64 \
#     hydra-core omegaconf "gymnasium[classic-control]==1.4.0" decord2 av soundfile scipy scikit-learn \
#     matplotlib tqdm pillow safetensors tensorboard
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
[ -x .venv/bin/python ] && py=.venv/bin/python
if ! "$py" -c "import jepa, hydra, gymnasium" 2>/dev/null; then
  wheels=${WHEELS:-wheels}
  if [ ! -d "$wheels" ]; then
    echo "gpu_check: jepa and its dependencies are not installed and there is no wheel folder $wheels (see the top of $0)" >&2
    exit 2
  fi
  "$py" -m pip install --quiet --no-index --find-links "$wheels" --no-build-isolation -e ".[control,video]"
fi
exec "$py" scripts/gpu_check.py "$@"
