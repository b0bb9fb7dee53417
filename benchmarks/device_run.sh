#!/usr/bin/env bash
# GPU checks and timings in one call, for a lent GPU machine that has torch but not all of
# thetascope's dependencies (those travel as wheels in .whl/, see docs/PERFORMANCE.md).
#
#   bash benchmarks/device_run.sh OUT_DIR
#
# First the `gpu` tests (tests/gpu/test_cuda.py: training, SmoothGrad and fused θ on CUDA
# against the CPU, under a minute; capped at 120 s), then the host-sync and CUDA-graph
# checks (recorded, capped at 90 s), then `thetascope bench --device cuda` (training rows at
# batch 16 and 64, eager and CUDA-graphed; capped at 300 s, the JSON is rewritten after every
# row), then the default run (capped at 150 s - whatever is left of the 10-minute limit of one
# call: run the whole script as one call with timeout_s=600). Writes OUT_DIR/gpu.txt,
# gpu_tests.txt, gpu_graph_tests.txt, the bench JSON (<date>-<host>-cuda.json), bench.log and
# default_run.txt; no CUDA device or a failed CPU-comparison test stops before any timing. pytest (with pluggy, iniconfig,
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
# the checks against the CPU gate every timing; the host-sync and CUDA-graph checks (written
# without a GPU at hand) are recorded and do not stop the run
timeout 120 python3 -m pytest -m gpu tests/gpu -q -k "not graph and not sync" 2>&1 \
  | tee "$out/gpu_tests.txt" || exit 1
timeout 90 python3 -m pytest -m gpu tests/gpu -q -k "graph or sync" 2>&1 \
  | tee "$out/gpu_graph_tests.txt"
timeout 300 python3 -m thetascope bench --device cuda --only training,smoothgrad,multi_theta \
  --out "$out" 2>&1 | tee "$out/bench.log"
# the default run as a researcher with a GPU would start it (runtime.device auto)
timer=(); [ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
start=$(date +%s)
"${timer[@]}" timeout 150 python3 -m thetascope run --out /tmp/drun > "$out/default_run.txt" 2>&1
echo "default run: exit $?, $(( $(date +%s) - start )) s" | tee -a "$out/default_run.txt"
grep -E "Maximum resident" "$out/default_run.txt"
