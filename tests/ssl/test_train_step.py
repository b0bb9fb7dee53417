"""The training loop does not wait for the device: no host reads inside a step, losses read
once (or once per step when a caller asks for them), a non-finite loss still named by step.

These run on the CPU, where a host read (``.item()``, ``float(t)``, ``int(t)``) shows up as
torch's ``aten._local_scalar_dense``; on a GPU each of them would stall the launch queue.
The CUDA-only parts (blocking copies, the CUDA graph) are in tests/gpu/test_cuda.py.
"""

from __future__ import annotations

import pytest
import torch

from moco_helpers import phantom_images, tiny_moco
from thetascope.bench.op_count import OpCounter
from thetascope.ssl.optim import sgd
from thetascope.ssl.pairs import pair_builder
from thetascope.ssl.simclr import SimCLR
from thetascope.ssl.train import TrainSettings, pretrain
from thetascope.ssl.train_step import EagerStep, make_step

IMAGES = phantom_images(count=24, size=32)
PAIR = pair_builder("fixed-theta", 30.0)


def _train(model, settings: TrainSettings, on_step=None) -> list[float]:
    return pretrain(model, IMAGES, PAIR, settings, seed=3, on_step=on_step,
                    groups=torch.arange(24) // 6)


@pytest.mark.parametrize("build", [tiny_moco, lambda: SimCLR("resnet18", dim=16,
                                                             image_size=32)],
                         ids=["moco", "simclr"])
def test_steps_make_no_host_reads(build) -> None:
    """Nothing reads a device value back but the one read of the losses at the end: MoCo's
    queue pointer stays on the device, the finiteness check waits for that read."""
    model = build()
    settings = TrainSettings(steps=5, batch_size=8, precision="fp32")
    with OpCounter() as ops:
        losses = _train(model, settings)
    assert len(losses) == 5
    # one read of all five losses at the end; none inside the steps
    assert ops.scalar_reads == 0, ops.counts
    assert ops.tolist_reads == 1, ops.counts


def test_deferred_losses_equal_per_step_reads() -> None:
    settings = TrainSettings(steps=5, batch_size=8, precision="fp32")
    seen: list[tuple[int, float]] = []
    with_reads = _train(tiny_moco(), settings, on_step=lambda i, v: seen.append((i, v)))
    deferred = _train(tiny_moco(), settings)
    assert deferred == with_reads == [v for _, v in seen]
    assert [i for i, _ in seen] == list(range(5))


@pytest.mark.parametrize("per_step", [True, False], ids=["on_step", "deferred"])
def test_a_non_finite_loss_names_its_step(per_step: bool) -> None:
    settings = TrainSettings(steps=4, batch_size=8, precision="fp32", lr=1e30)
    with pytest.raises(FloatingPointError, match=r"at step \d; lower ssl.lr"):
        _train(tiny_moco(), settings, on_step=(lambda i, v: None) if per_step else None)


def test_a_device_learning_rate_gives_the_float_ones_numbers() -> None:
    """The CUDA graph keeps SGD's learning rate in a tensor it updates in place; the fused
    kernel then computes what it computes with a float (checked here on the CPU)."""
    torch.manual_seed(0)
    qa, kb = IMAGES[:8], IMAGES[8:16]
    ids, groups = torch.arange(8), torch.arange(8)
    results = []
    for tensor_lr in (False, True):
        model = tiny_moco()
        model.train()
        opt = sgd(model.trainable_parameters(), TrainSettings(lr=0.03))
        if tensor_lr:
            for g in opt.param_groups:
                g["lr"] = torch.tensor(0.0)
        step = EagerStep(model, opt, bf16=False)
        torch.manual_seed(1)
        losses = [float(step(qa, kb, ids, groups, lr)) for lr in (0.03, 0.02, 0.01)]
        results.append((losses, [p.detach().clone() for p in model.parameters()]))
    (la, pa), (lb, pb) = results
    assert la == pytest.approx(lb, rel=1e-6)
    assert max(float((a - b).abs().max()) for a, b in zip(pa, pb, strict=True)) < 1e-6


def test_make_step_is_eager_off_cuda() -> None:
    model = tiny_moco()
    opt = sgd(model.trainable_parameters(), TrainSettings())
    assert isinstance(make_step(model, opt, bf16=False, cuda_graph=True), EagerStep)


def test_a_checkpoint_holds_a_float_learning_rate() -> None:
    snaps: list[dict] = []
    settings = TrainSettings(steps=4, batch_size=8, precision="fp32")
    pretrain(tiny_moco(), IMAGES, PAIR, settings, seed=3, checkpoint_every=2,
             on_checkpoint=snaps.append)
    assert all(isinstance(g["lr"], float) for g in snaps[0]["optimizer"]["param_groups"])


def test_a_diverged_run_stops_at_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without per-step reads the losses are still read every ``READ_LOSSES_EVERY`` steps,
    so a diverged run does not train to its end before saying so."""
    import thetascope.ssl.train as train

    monkeypatch.setattr(train, "READ_LOSSES_EVERY", 3)
    model = tiny_moco()
    settings = TrainSettings(steps=30, batch_size=8, precision="fp32", lr=1e30)
    with pytest.raises(FloatingPointError):
        _train(model, settings)
    steps_run = int(model.self_negatives[0]) // 8  # queries counted, a batch per step
    assert steps_run == 3
