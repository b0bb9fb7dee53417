#!/usr/bin/env bash
# GPU checks and timings in one call, for a lent GPU machine that has torch but not all of
# thetascope's dependencies (those travel as wheels in .whl/, see docs/PERFORMANCE.md).
#
#   bash benchmarks/device_run.sh OUT_DIR
#
# First the `gpu` tests (tests/gpu/test_cuda.py: training, SmoothGrad and fused θ on CUDA
# against the CPU, under a minute; capped at 120 s), then `thetascope bench --device cuda`,
# then the default run (capped at 200 s), within the 10-minute limit of one call (run the
# whole script as one call with timeout_s=600). Writes OUT_DIR/gpu.txt,
# gpu_tests.txt, the bench JSON (<date>-<host>-cuda.json), bench.log and default_run.txt; no
# CUDA device or a failed gpu test stops before any timing. pytest (with pluggy, iniconfig,
# packaging, pygments) is in the lent machines' image; where it is not, its wheels travel in
# .whl/ with the rest (docs/PERFORMANCE.md).
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
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible'" || exit 1
python3 -c "import pytest" || { echo "pytest missing: add its wheels to .whl/"; exit 1; }
timeout 120 python3 -m pytest -m gpu tests/gpu -q 2>&1 | tee "$out/gpu_tests.txt" || exit 1
python3 -m thetascope bench --device cuda --only multi_theta,training,smoothgrad \
  --out "$out" 2>&1 | tee "$out/bench.log"
# the default run as a researcher with a GPU would start it (runtime.device auto)
timer=(); [ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
start=$(date +%s)
"${timer[@]}" timeout 200 python3 -m thetascope run --out /tmp/drun > "$out/default_run.txt" 2>&1
echo "default run: exit $?, $(( $(date +%s) - start )) s" | tee -a "$out/default_run.txt"
grep -E "Maximum resident" "$out/default_run.txt"
