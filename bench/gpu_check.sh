#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go: the GPU tests, the GPU bench (batch 64 and 512,
# with CUDA graphs and without, the conv net with and without AMP and channels_last), time to
# accuracy on the GPU, then the whole CPU suite with a GPU present (tests must pass either way).
#
#   bash bench/gpu_check.sh            # logs and JSON in ./gpu-check (or in $OUT when set)
#   BUDGET=480 bash bench/gpu_check.sh # no step runs past 480 s from the start
#   ONLY="gpu-tests all-tests" bash bench/gpu_check.sh   # only the steps named
#
# Steps, in order: gpu-tests, tta, tta1d, bench64, bench512, tables, all-tests.
#
# Writes steps.log (every step's output and a summary) and the bench's JSON files.
# Uses .venv/bin/python when it exists, else python3 with src/ on the path (a machine with
# torch preinstalled; it also needs mnist1d, e.g. its wheel installed with --target and put on
# PYTHONPATH; without pydantic/fastapi the playground tests are skipped). Each step has a time limit and a failing step does not stop the rest;
# the exit status is that of the first step that failed.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check}
mkdir -p "$out"
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
status=0
summary=()

log=$(mktemp)
step() {  # step NAME SECONDS COMMAND...: run it, append its output to $out/steps.log, note how it ended
  local name=$1 limit=$2; shift 2
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && return 0
  local left=$(( ${BUDGET:-100000} - SECONDS ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 10 ]; then summary+=("$(printf '%-12s skipped: out of time' "$name")"); return 0; fi
  local started=$SECONDS
  echo "=== $name: $*" | tee -a "$out/steps.log"
  timeout "$limit" "$@" 2>&1 | tee -a "$out/steps.log" >"$log"
  local rc=${PIPESTATUS[0]}
  tail -n 25 "$log"
  summary+=("$(printf '%-12s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - started))")")
  [ "$rc" -ne 0 ] && [ "$status" -eq 0 ] && status=$rc
  return 0
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$out/steps.log" || true
"$py" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__,
'cuda', torch.version.cuda, torch.cuda.get_device_name())" | tee -a "$out/steps.log"

step gpu-tests 180 "$py" -m pytest -q -p no:cacheprovider -m gpu tests/
bench="$py -m torchprimer bench --device cuda --json"
step tta 90 bash -c "$bench --target 0.97 --dataset digits > $out/tta.json"
step tta1d 120 bash -c "$bench --target 0.55 --dataset mnist1d > $out/tta1d.json"
step bench64 150 bash -c "$bench > $out/bench64.json"
step bench512 90 bash -c "$bench --batch-size 512 --parts torchprimer,eager,floor > $out/bench512.json"
step tables 30 "$py" -c "import json, sys; from torchprimer.bench import render, render_tta
for name in sys.argv[1:]:
    try:
        report = json.load(open(name))
    except ValueError:
        print(name, 'holds no report (its step failed)'); continue
    print(render_tta(report) if 'recipes' in report else render(report), end='\n\n')" \
  $(ls "$out"/tta.json "$out"/tta1d.json "$out"/bench64.json "$out"/bench512.json 2>/dev/null)
workers=$(( $(nproc) > 12 ? 12 : $(nproc) ))
step all-tests 240 "$py" -m pytest -q -p no:cacheprovider -n "$workers" tests/ \
  --ignore=tests/test_ui_browser.py --ignore=tests/test_ui_api.py

echo "=== summary"
printf '%s\n' "${summary[@]}" | tee -a "$out/steps.log"
rm -f "$log"
exit "$status"
