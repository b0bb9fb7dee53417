"""Run the benchmark suite and write ``benchmarks/results/<date>-<host>.json``.

    rows, path = run_suite(quick=False, only=None, out_dir=Path("benchmarks/results"))
    rows, path = run_suite(only=["training", "multi_theta"], device="cuda")

``quick`` shrinks every workload (for a smoke test of the harness, not for numbers). The
default run's wall time is measured only when ``only`` names ``default_run`` (≈ 4 min).
``device`` (auto, cpu, cuda) is where training, SmoothGrad and the fused θ-models run;
on a GPU they run longer (more steps, larger SmoothGrad inputs: a GPU finishes the CPU's
sizes in milliseconds) and fused training also gets a bf16 row. The orientation and
data-path rows always run on the CPU (that is where they run in a sweep); results go to
``<date>-<host>-cuda.json`` on a GPU.
"""

from __future__ import annotations

import logging
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from thetascope.bench.common import Row, load_average, write_results
from thetascope.sweep.work import pick_device

log = logging.getLogger("thetascope")

SUITE = ("training", "smoothgrad", "self_overlap", "multi_theta", "data_path", "hog_svm",
         "default_run")


def bench_default_run() -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "thetascope", "run", "--out", tmp],
                       check=True, capture_output=True)
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return Row("default `thetascope run` wall time", "the 300 s budget of the issue", 300.0,
               wall, "s", 1.0, higher_is_better=False, notes={"peak_rss_mb": round(peak, 1)})


def run_suite(quick: bool = False, only: list[str] | None = None,
              out_dir: Path = Path("benchmarks/results"),
              on_row: Callable[[Row], None] | None = None,
              device: str = "auto") -> tuple[list[Row], Path]:
    from thetascope.bench import analysis, saliency, training

    dev = pick_device(device)
    gpu = dev.type == "cuda"

    wanted = [n for n in SUITE if (only is None or n in only)]
    if only is None:
        wanted.remove("default_run")  # opt-in: it takes minutes
    load = load_average()
    rows: list[Row] = []
    train_rate = 150.0

    meta = {"load": load, "quick": quick, "device": str(dev)}

    def add(new: list[Row]) -> None:
        for r in new:
            rows.append(r)
            if on_row:
                on_row(r)
        write_results(rows, out_dir, meta, suffix="-cuda" if gpu else "")  # crash-safe

    for name in wanted:
        if name == "training":
            configs = [("resnet18", 32)] if quick else [("resnet18", 64), ("resnet18", 128),
                                                        ("resnet50", 128)]
            steps = 2 if quick else (30 if gpu else 10)
            new = training.bench_training(configs, steps=steps, device=dev)
            if gpu and not quick:  # research batches too (at 64 a GPU step is less launch-bound)
                new += training.bench_training(configs, steps=steps, device=dev, batch=64)
            train_rate = new[0].value
            add(new)
        elif name == "smoothgrad":
            try:
                import captum  # noqa: F401 - the baseline
            except ImportError:
                log.warning("smoothgrad benchmark skipped: pip install 'thetascope[bench]'")
                continue
            sizes = ((32, 2, 4, 2, 1) if quick else
                     (224, 16, 32, 8, 3) if gpu else (128, 8, 16, 4, 3))
            add(saliency.bench_smoothgrad(*sizes, device=dev.type))
        elif name == "self_overlap":
            add([analysis.bench_self_overlap(*((4, 32) if quick else (16, 64)))])
        elif name == "multi_theta":
            sizes = (2, 32, 2) if quick else (8, 64, 20 if gpu else 4)
            add([training.bench_multi_theta(*sizes, device=dev)])
            if gpu:
                add([training.bench_multi_theta(*sizes, device=dev, precision="bf16")])
        elif name == "data_path":
            add([analysis.bench_data_path(train_rate, size=32 if quick else 64)])
        elif name == "hog_svm":
            add([analysis.bench_hog_svm(*((6, 32, 4) if quick else (24, 64, 36)))])
        elif name == "default_run":
            add([bench_default_run()])
    path = write_results(rows, out_dir, meta, suffix="-cuda" if gpu else "")
    return rows, path
