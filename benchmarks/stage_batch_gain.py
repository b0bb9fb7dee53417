"""Where a bigger batch pays, stage by stage: ResNet-18 per-image training cost at batch 16
against batch K·16, for the stem and each of the four stages.

    .venv/bin/python benchmarks/stage_batch_gain.py                 # ≈ 20 s on 2 cores
    .venv/bin/python benchmarks/stage_batch_gain.py --size 128 --k 4

Why it exists: ``thetascope bench``'s fused-θ row compares K θ-models trained at once with
K sequential runs, and bounds any fusion by ONE model trained at batch K·B. This script
shows where that bound's gain comes from. A stage whose per-image cost falls with the
batch because each weight is reused by more images (the last stages: many weights, tiny
maps) cannot fall for K *separate* models, which have K sets of weights; only stages that
gain for other reasons could. Work per "step" is what MoCo does per stage: a query
forward + backward and a key forward (train mode, split BN as ``pretrain`` builds it).

The two batch sizes alternate repetition by repetition, so both see the same machine
state; times are medians. It also reports the whole backbone's gain if layers 3 and 4
kept their batch-16 cost (what K separate weight sets would do if weight reuse were all
those stages gain from a batch). Writes ``benchmarks/results/stage_batch_gain.json`` (or --out):
per stage, ms per image at each batch, the gain, and the stage's share of a batch-16 step.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn as nn

from thetascope.ssl.moco import MoCo


def _stages(size: int) -> list[tuple[str, nn.Module]]:
    torch.manual_seed(0)
    bb = MoCo("resnet18", dim=128, K=32, split_bn=2).encoder_q.backbone.train()
    stem = nn.Sequential(bb.conv1, bb.bn1, bb.relu, bb.maxpool)
    return [("stem", stem), ("layer1", bb.layer1), ("layer2", bb.layer2),
            ("layer3", bb.layer3), ("layer4", bb.layer4)]


def _input_shapes(stages: list[tuple[str, nn.Module]], n: int, size: int) -> list[tuple]:
    x, out = torch.rand(n, 3, size, size), []
    with torch.no_grad():
        for _, m in stages:
            out.append(tuple(x.shape))
            x = m(x)
    return out


def _step_seconds(m: nn.Module, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    m(x).sum().backward()  # the query encoder's share
    with torch.no_grad():
        m(x)  # the key encoder's share
    dt = time.perf_counter() - t0
    for p in m.parameters():
        p.grad = None
    x.grad = None
    return dt


def measure(size: int = 64, k: int = 8, reps: int = 8, batch: int = 16) -> dict:
    stages = _stages(size)
    sizes = (batch, batch * k)
    inputs = {n: [torch.rand(s, requires_grad=True) for s in _input_shapes(stages, n, size)]
              for n in sizes}
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(reps + 1):  # the first repetition warms oneDNN's primitive caches
        for n in sizes:
            for (name, m), x in zip(stages, inputs[n], strict=True):
                times.setdefault((name, n), []).append(_step_seconds(m, x))
    ms = {key: statistics.median(v[1:]) / key[1] * 1e3 for key, v in times.items()}
    small = sum(ms[(name, batch)] for name, _ in stages)
    large = sum(ms[(name, batch * k)] for name, _ in stages)
    rows = [{"stage": name, "ms_per_image_batch_small": round(ms[(name, batch)], 4),
             "ms_per_image_batch_large": round(ms[(name, batch * k)], 4),
             "gain": round(ms[(name, batch)] / ms[(name, batch * k)], 3),
             "share_of_small_batch_step": round(ms[(name, batch)] / small, 3)}
            for name, _ in stages]
    return {"machine": f"{platform.node()}, {torch.get_num_threads()} torch threads, "
                       f"torch {torch.__version__}",
            "encoder": "resnet18", "size": size, "batch_small": batch,
            "batch_large": batch * k, "reps": reps, "stages": rows,
            "whole_backbone_gain": round(small / large, 3),
            # the batch-K·B rates for stem..layer2, batch-B rates for layers 3-4: the
            # ceiling if the weight-heavy stages gained nothing from fusing K models
            "ceiling_if_layer3_layer4_do_not_gain": round(small / sum(
                ms[(name, batch * k if name in ("stem", "layer1", "layer2") else batch)]
                for name, _ in stages), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--k", type=int, default=8, help="large batch = k × 16")
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "stage_batch_gain.json")
    args = ap.parse_args()
    result = measure(args.size, args.k, args.reps)
    for r in result["stages"]:
        print(f"{r['stage']:7s} {r['ms_per_image_batch_small']:7.3f} ms/img at "
              f"{result['batch_small']:3d}  {r['ms_per_image_batch_large']:7.3f} at "
              f"{result['batch_large']:3d}  gain {r['gain']:5.2f}  share "
              f"{r['share_of_small_batch_step']:.2f}")
    print(f"whole backbone: gain {result['whole_backbone_gain']}; if layers 3-4 gained "
          f"nothing: {result['ceiling_if_layer3_layer4_do_not_gain']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
