#!/usr/bin/env bash
# GPU checks and timings in one call, for a lent GPU machine that has torch but not all of
# thetascope's dependencies (those travel as wheels in .whl/, see docs/PERFORMANCE.md).
#
#   bash benchmarks/device_run.sh OUT_DIR
#
# Writes OUT_DIR/gpu_checks.txt, the bench JSON (<date>-<host>-cuda.json), bench.log and
# default_run.txt; a failed correctness check stops before any timing.
set -o pipefail
out=${1:?usage: device_run.sh OUT_DIR}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$out/gpu.txt"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src" PYTHONUNBUFFERED=1 COLUMNS=180
python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__)"
python3 benchmarks/gpu_checks.py 2>&1 | tee "$out/gpu_checks.txt" || exit 1
python3 -m thetascope bench --device cuda --only multi_theta,training,smoothgrad \
  --out "$out" 2>&1 | tee "$out/bench.log"
# the default run as a researcher with a GPU would start it (runtime.device auto)
timer=(); [ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
start=$(date +%s)
"${timer[@]}" timeout 200 python3 -m thetascope run --out /tmp/drun > "$out/default_run.txt" 2>&1
echo "default run: exit $?, $(( $(date +%s) - start )) s" | tee -a "$out/default_run.txt"
grep -E "Maximum resident" "$out/default_run.txt"
