"""What a GPU step would launch and wait for, counted on the CPU: the reference MoCo loop
against thetascope's training step, and SmoothGrad's noise per row against per block.

    python benchmarks/launch_count.py          # writes benchmarks/results/launch_count.json

At batch 16 a GPU training step is bound by the host's cost per kernel launch (≈ 40 µs
on the lent H100's VM, docs/PERFORMANCE.md), and every host read of a device value
(``.item()``, ``float(t)``) stops the host until the GPU has caught up. Neither needs a GPU
to count: a ``TorchDispatchMode`` sees every aten op the step dispatches. It counts:
- **kernel ops**: ops that run a kernel, so views, ``detach`` and allocations are
  left out;
- **host reads**: ``aten._local_scalar_dense`` (``.item()``, ``float(t)``, ``int(t)``) and
  ``Tensor.tolist`` calls on float tensors (the int64 ones are the epoch order, drawn on the
  host).

Side by side in one run, on the same model, images and settings (ResNet-18, 64 px,
batch 16, steps 2-3 counted after warm-up). A count is a proxy for time, not a time:
``thetascope bench --device cuda`` measures the time on a GPU.
The blocking host-to-device copies the old loop made are not CPU ops, so they are not
counted here; ``tests/gpu`` checks them on a GPU.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from thetascope.attribution.noise import block_rows, row_noise  # noqa: E402
from thetascope.bench.op_count import OpCounter  # noqa: E402
from thetascope.bench.training import BATCH, DIM, K_QUEUE, _images, _ReferenceLoop  # noqa: E402
from thetascope.ssl.moco import MoCo  # noqa: E402
from thetascope.ssl.pairs import pair_builder  # noqa: E402
from thetascope.ssl.train import TrainSettings, pretrain  # noqa: E402


def summary(c: OpCounter, per: int) -> dict:
    return {"kernel_ops": c.kernel_ops / per, "host_reads": c.host_reads / per,
            "top": dict(c.kernel_counts.most_common(6))}


def reference_step(images: torch.Tensor) -> dict:
    ref = _ReferenceLoop("resnet18", images)
    ref()
    ref()
    with OpCounter() as c:
        ref()
        ref()
    return summary(c, per=2)


def thetascope_step(images: torch.Tensor, precision: str, split_bn: int) -> dict:
    """Steps 2 and 3 of ``pretrain`` with a per-step ``on_step`` caller (as the bench's
    interleaved timing has; the counter is switched on and off from inside it)."""
    torch.manual_seed(0)
    model = MoCo("resnet18", dim=DIM, K=K_QUEUE, split_bn=split_bn)
    counter = OpCounter()

    def hook(step: int, loss: float) -> None:
        if step == 1:
            counter.__enter__()
        if step == 3:
            counter.__exit__(None, None, None)

    settings = TrainSettings(steps=4, batch_size=BATCH, precision=precision)
    pretrain(model, images, pair_builder("fixed-theta", 30.0), settings, 0, hook)
    return summary(counter, per=2)


def thetascope_run_reads(images: torch.Tensor, steps: int) -> float:
    """Host reads over a whole ``pretrain`` run without ``on_step`` (setup and the final
    read of the losses included)."""
    torch.manual_seed(0)
    model = MoCo("resnet18", dim=DIM, K=K_QUEUE, split_bn=2)
    with OpCounter() as c:
        pretrain(model, images, pair_builder("fixed-theta", 30.0),
                 TrainSettings(steps=steps, batch_size=BATCH, precision="fp32"), 0)
    return c.host_reads


def noise_ops(draw, rows: int = 512, chunk: int = 128) -> dict:
    with OpCounter() as c:
        for start in range(0, rows, chunk):
            draw(0, start, chunk, (3, 8, 8), "independent")
    return {"kernel_ops": c.kernel_ops, "top": dict(c.kernel_counts.most_common(3))}


def main() -> None:
    torch.set_num_threads(1)
    images = _images(BATCH * 4, 64)
    rows = {
        "reference MoCo loop (fp32)": reference_step(images),
        "thetascope fp32, split BN 2": thetascope_step(images, "fp32", 2),
        "thetascope fp32, split BN 1": thetascope_step(images, "fp32", 1),
        "thetascope bf16 + channels_last, split BN 2": thetascope_step(images, "bf16", 2),
    }
    reads = {f"{n} steps": thetascope_run_reads(images, n) for n in (4, 8)}
    noise = {"per-row generators (CPU scheme, CUDA before)": noise_ops(row_noise),
             "blocks of 32 rows (CUDA scheme)": noise_ops(block_rows)}
    out = {"measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": platform.node(), "torch": torch.__version__,
           "training_per_step": rows,
           "host_reads_per_run_without_on_step": reads,
           "smoothgrad_noise_512_rows_in_chunks_of_128": noise}
    path = Path(__file__).parent / "results" / "launch_count.json"
    path.write_text(json.dumps(out, indent=1))
    for name, r in {**rows, **noise}.items():
        print(f"{name:48s} kernel ops {r['kernel_ops']:8.1f}  host reads "
              f"{r.get('host_reads', 0):4.1f}")
    print(f"host reads over a whole run without on_step: {reads}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
