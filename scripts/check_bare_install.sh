#!/usr/bin/env bash
# An install without extras (`pip install .`) runs jepa: its help, a tiny image pretraining, and a policy's
# training refused with the extra to install named. Builds a throwaway virtualenv in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bare=$(mktemp -d)
trap 'rm -rf "$bare"' EXIT
python3 -m venv "$bare/venv"
py="$bare/venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
constraint=()
if [ -f .venv/torch-constraint.txt ]; then constraint=(-c .venv/torch-constraint.txt); fi  # the CPU torch
"$py" -m pip install --quiet "${constraint[@]}" .
cd "$bare"
jepa="$bare/venv/bin/jepa"
"$jepa" --help >/dev/null
"$jepa" train --help >/dev/null
"$jepa" train experiment=ijepa_shapes train.steps=2 data.num_train=16 data.num_val=8 data.batch_size=8 \
  data.num_workers=0 eval.enabled=false train.progress=false run_dir="$bare/run" >/dev/null
test -d "$bare/run/checkpoints"
set +e
"$jepa" train experiment=act_two_rooms run_dir="$bare/policy" 2>"$bare/err.txt"
status=$?
set -e
if [ "$status" != 2 ] || ! grep -q "jepa\[control\]" "$bare/err.txt"; then
  echo "a policy's training without the control extra should exit 2 naming it; got $status: $(cat "$bare/err.txt")"
  exit 1
fi
echo "bare install: jepa --help, jepa train --help and a tiny ijepa_shapes run work; act_two_rooms names the extra"
