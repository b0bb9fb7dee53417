"""Peak memory of SmoothGrad under ``saliency.memory_budget_mb``: ResNet-50, 512² inputs,
50 samples, the default chunk (16 rows) capped by the default budget (2048 MB).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_smoothgrad.py          # ≈ 3 min
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_smoothgrad.py --samples 8 --size 256

Each variant runs in a fresh spawned process, so its peak RSS (``ru_maxrss``) is its own:

- ``budget``: the configured run (chunk 16, budget 2048 MB) -> the effective chunk, the
  measured peak RSS, and the peak above the process's baseline (model, inputs, torch);
- ``rule``: a few rows at chunk 1 and chunk 2 without a cap, to check the rule's estimate
  (peak above baseline ≤ (rows + 0.5) × S + 64 MB, S = one row's saved bytes) against the peaks.

Writes ``benchmarks/results/memory_smoothgrad.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _variant(q: mp.Queue, encoder: str, size: int, images: int, samples: int, chunk: int,
             budget: int, threads: int) -> None:
    import torch

    from thetascope.attribution.smoothgrad import SmoothGradSettings, saved_bytes, smoothgrad_pair
    from thetascope.attribution.targets import pair_cosine
    from thetascope.ssl.moco import MoCo
    from thetascope.ssl.pairs import make_pair

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = MoCo(encoder, dim=128, K=16, image_size=size).eval()
    x, r = make_pair(torch.rand(images, 3, size, size), 30.0)
    target = pair_cosine(model.embed)
    baseline = _rss_mb()  # torch, the model and the inputs
    settings = SmoothGradSettings(samples=samples, chunk_size=chunk, memory_budget_mb=budget,
                                  precision="fp32")
    done: list[int] = []
    t0 = time.perf_counter()
    smoothgrad_pair(target, x, r, settings, seed=0, on_chunk=lambda d, n: done.append(d))
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    steps = [b - a for a, b in zip([0, *done], done, strict=False)]
    with saved_bytes() as saved:  # S of one row, after the peak was read
        target(x[:1].clone().requires_grad_(True), r[:1].clone().requires_grad_(True))
    q.put({"encoder": encoder, "size": size, "images": images, "samples": samples,
           "chunk_size": chunk, "memory_budget_mb": budget,
           "rows_per_pass": sorted(set(steps)), "effective_chunk": max(steps),
           "saved_per_row_mb": round(saved[0] / 2**20, 1),
           "baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(peak, 1),
           "peak_above_baseline_mb": round(peak - baseline, 1), "wall_s": round(wall, 1),
           "torch_threads": threads})


def run_variant(**kw: object) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_variant, args=(q,), kwargs=kw)
    p.start()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"variant {kw} failed (exit {p.exitcode})")
    return q.get(timeout=5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoder", default="resnet50")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--budget-mb", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rule-rows", type=int, default=4, help="rows of the rule check")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "memory_smoothgrad.json")
    a = ap.parse_args()
    common = {"encoder": a.encoder, "size": a.size, "threads": a.threads}
    budget = run_variant(**common, images=a.images, samples=a.samples, chunk=a.chunk,
                         budget=a.budget_mb)
    print(json.dumps(budget))
    rule = [run_variant(**common, images=1, samples=a.rule_rows, chunk=c, budget=0)
            for c in (1, 2)]
    growth = rule[1]["peak_above_baseline_mb"] - rule[0]["peak_above_baseline_mb"]
    result = {
        "benchmark": "smoothgrad peak RSS under saliency.memory_budget_mb",
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} CPUs; load average at start "
                   f"{os.getloadavg()[0]:.2f} (other processes were running)",
        "budgeted_run": budget,
        "within_budget": budget["peak_above_baseline_mb"] <= a.budget_mb,
        "rule_check": {"chunk_1": rule[0], "chunk_2": rule[1],
                       "measured_growth_per_row_mb": round(growth, 1),
                       "saved_per_row_mb": rule[0]["saved_per_row_mb"],
                       "rule": "peak above baseline <= (rows + 0.5) x saved_per_row + 64 MB"},
        "unbudgeted_projection_mb": round((a.chunk + 0.5) * budget["saved_per_row_mb"] + 64, 1),
        "command": f"OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_smoothgrad.py "
                   f"--encoder {a.encoder} --size {a.size} --samples {a.samples}",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
