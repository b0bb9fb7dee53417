"""SSP training throughput against a plain MoCo loop, and K θ-models fused vs one by one.

The baseline is written here the way facebookresearch/moco's ``main_moco.py`` and
``builder.py`` do it on one device: two encoders, a queue, InfoNCE, SGD, precomputed
views; no shuffle-BN (it needs several GPUs). thetascope's ``pretrain`` runs on the same
images and settings (fp32; then bf16 autocast + channels_last), so the ratio is the
framework's overhead (or gain). The two loops run interleaved, one reference step after
each thetascope step, and rates come from median step times: on this shared VM, separate
back-to-back runs moved a ratio by ±30 %. thetascope keeps its split batch norm (the
honest key encoder on one device); fp32 rows also note the ratio with ``split_bn=1``,
the baseline's own BN, which isolates the framework's overhead. On a GPU both loops run
there (images and views on the device); each step ends in a host read of its loss, so
step times include the GPU's work.

    rows = bench_training([("resnet18", 64), ("resnet50", 128)], steps=6)
    rows = bench_training([("resnet18", 64)], steps=30, device=torch.device("cuda"))
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from thetascope.bench.common import Row, matmul_peak, sync
from thetascope.ssl.moco import MoCo, momentum_update
from thetascope.ssl.optim import sgd
from thetascope.ssl.pairs import make_pair, pair_builder
from thetascope.ssl.stacked import pretrain_stacked
from thetascope.ssl.train import TrainSettings, pretrain
from thetascope.ssl.train_step import GraphedStep

BATCH, K_QUEUE, DIM = 16, 64, 128


class ReferenceMoCo(nn.Module):
    """MoCo as in facebookresearch/moco builder.py (single device, no shuffle-BN)."""

    def __init__(self, encoder: nn.Module, K: int = K_QUEUE, m: float = 0.99,
                 T: float = 0.2) -> None:
        super().__init__()
        self.K, self.m, self.T = K, m, T
        self.encoder_q, self.encoder_k = encoder, copy.deepcopy(encoder)
        for p in self.encoder_k.parameters():
            p.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(DIM, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor):
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            for pq, pk in zip(self.encoder_q.parameters(), self.encoder_k.parameters(),
                              strict=True):
                pk.data = pk.data * self.m + pq.data * (1.0 - self.m)
            k = F.normalize(self.encoder_k(im_k), dim=1)
        l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q, self.queue.clone().detach())
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        ptr = int(self.queue_ptr)
        self.queue[:, ptr:ptr + k.shape[0]] = k.T
        self.queue_ptr[0] = (ptr + k.shape[0]) % self.K
        return logits, labels


def _images(n: int, size: int) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, 3, size, size)


def _rate(step_times: list[float], batch: int = BATCH) -> float:
    """Images/s from the median step time: one slow step (another process, a page-fault
    storm) does not move it, unlike total time over a handful of steps."""
    return batch / statistics.median(step_times)


class _ReferenceLoop:
    """The reference training loop, one step per call (so it can run interleaved)."""

    def __init__(self, encoder: str, images: torch.Tensor,
                 device: torch.device | None = None, batch: int = BATCH) -> None:
        torch.manual_seed(0)
        device = device or torch.device("cpu")
        self.model = ReferenceMoCo(MoCo(encoder, dim=DIM, K=K_QUEUE).query_encoder()).to(device)
        self.a, self.b = (v.to(device) for v in make_pair(images, 30.0))
        self.opt = torch.optim.SGD(self.model.encoder_q.parameters(), lr=0.03, momentum=0.9,
                                   weight_decay=1e-4)
        self.model.train()
        self.n, self.step, self.losses, self.batch = images.shape[0], 0, [], batch

    def __call__(self) -> float:
        """One step; returns its wall time in seconds."""
        t0 = time.perf_counter()
        b = self.batch
        idx = (torch.arange(self.step * b, (self.step + 1) * b) % self.n).to(self.a.device)
        logits, labels = self.model(self.a[idx], self.b[idx])
        loss = F.cross_entropy(logits, labels)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.losses.append(float(loss.detach()))  # waits for the GPU, like pretrain's
        self.step += 1
        return time.perf_counter() - t0


def _interleaved(encoder: str, images: torch.Tensor, steps: int, precision: str,
                 split_bn: int = 2, device: torch.device | None = None,
                 batch: int = BATCH, cuda_graph: bool = False,
                 ) -> tuple[float, float, list, list]:
    """(reference img/s, thetascope img/s, their losses): one reference step runs after
    each ``pretrain`` step, so both sides see the same machine state (other processes, CPU
    frequency after AMX bursts); rates come from median step times. With ``cuda_graph``
    the first 4 steps (warm-up and capture) are left out of the rates."""
    ref = _ReferenceLoop(encoder, images, device, batch)
    torch.manual_seed(0)
    model = MoCo(encoder, dim=DIM, K=K_QUEUE, split_bn=split_bn).to(device or "cpu")
    ours_t: list[float] = []
    ref_t: list[float] = []
    mark = [time.perf_counter()]

    def on_step(step: int, loss: float) -> None:
        ours_t.append(time.perf_counter() - mark[0])
        ref_t.append(ref())
        mark[0] = time.perf_counter()

    skip = 1 + (GraphedStep.WARMUP if cuda_graph else 0)  # warm-up (and capture) steps
    settings = TrainSettings(steps=steps + skip, batch_size=batch, precision=precision,
                             cuda_graph=cuda_graph)
    losses = pretrain(model, images, pair_builder("fixed-theta", 30.0), settings, 0, on_step)
    return (_rate(ref_t[skip:], batch), _rate(ours_t[skip:], batch), ref.losses, losses)


def step_flops(encoder: str, size: int, batch: int = BATCH) -> float:
    """FLOPs of one MoCo step: query forward + backward, key forward."""
    model = MoCo(encoder, dim=DIM, K=K_QUEUE)
    x = torch.rand(batch, 3, size, size)
    with FlopCounterMode(display=False) as fc:
        model.query_encoder()(x).sum().backward()
        with torch.no_grad():  # the key encoder is a copy of the query encoder: same FLOPs
            model.query_encoder()(x)
    return float(fc.get_total_flops())


LOSS_TOLERANCE = 0.05  # bf16 vs fp32 loss curves: max |difference| / mean fp32 loss


def bench_training(configs: list[tuple[str, int]], steps: int = 6,
                   device: torch.device | None = None, batch: int = BATCH) -> list[Row]:
    """One fp32 and one bf16 row per (encoder, size) at ``batch``; on CUDA two more, with
    each step replayed from a CUDA graph (``TrainSettings.cuda_graph``). MFU is measured
    FLOP/s over this device's matrix-multiply peak in the same precision, measured in the
    same run."""
    device = device or torch.device("cpu")
    peaks = {"fp32": matmul_peak(torch.float32, device),
             "bf16": matmul_peak(torch.bfloat16, device)}
    variants = [("fp32", False), ("bf16", False)]
    if device.type == "cuda":
        variants += [("fp32", True), ("bf16", True)]
    rows = []
    for encoder, size in configs:
        images = _images(max(batch * 4, BATCH * 4), size)
        flops = step_flops(encoder, size, batch)
        measured, fell_back = {}, {}
        for precision, graph in variants:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                measured[precision, graph] = _interleaved(
                    encoder, images, steps, precision, device=device, batch=batch,
                    cuda_graph=graph)
            fell_back[precision, graph] = next(  # the warning names the refused op
                (str(w.message) for w in caught if "CUDA graph" in str(w.message)), "")
        # the baseline's own BN (no split): what the framework costs apart from split BN
        same_bn = _interleaved(encoder, images, steps, "fp32", split_bn=1, device=device,
                               batch=batch)
        fp32 = torch.tensor(measured["fp32", False][3])
        for (precision, graph), (base, ours, ref_losses, losses) in measured.items():
            target = 0.95 if precision == "fp32" else 1.6
            notes = {"mfu": round(ours / batch * flops / peaks[precision], 4),
                     "matmul_peak_gflops": round(peaks[precision] / 1e9, 1),
                     "flops_per_step": flops, "steps": steps, "batch": batch,
                     "device": str(device), "first_losses": losses[:3],
                     "reference_first_losses": ref_losses[:3]}
            if graph:
                notes["cuda_graph_fell_back_to_eager"] = bool(fell_back[precision, graph])
                if fell_back[precision, graph]:
                    notes["cuda_graph_warning"] = fell_back[precision, graph][:400]
                eager = torch.tensor(measured[precision, False][3])
                got = torch.tensor(losses[:len(eager)])  # the graphed run has 3 more steps
                notes["loss_rel_diff_vs_eager"] = round(
                    float((got - eager).abs().max() / eager.mean()), 6)
            elif precision == "fp32":
                notes["ratio_with_split_bn_1"] = round(same_bn[1] / same_bn[0], 4)
            if precision == "bf16":
                drift = float((torch.tensor(losses)[:len(fp32)] - fp32).abs().max()
                              / fp32.mean())
                notes.update(loss_rel_diff_vs_fp32=round(drift, 4),
                             loss_tolerance=LOSS_TOLERANCE,
                             losses_within_tolerance=drift <= LOSS_TOLERANCE)
            batch_label = "" if batch == BATCH else f" batch {batch}"
            rows.append(Row(
                f"SSP training {encoder} {size}px{batch_label} {precision}"
                + (" + channels_last" if precision == "bf16" else "")
                + (" + CUDA graph" if graph else ""),
                "reference MoCo loop (main_moco.py/builder.py style), fp32, interleaved "
                "step by step", base, ours, "images/s", target, notes=notes))
    return rows


def bench_multi_theta(k: int = 8, size: int = 64, steps: int = 4,
                      device: torch.device | None = None, precision: str = "fp32") -> Row:
    """K fixed-θ ResNet-18 models fused vs trained one after another (aggregate img/s),
    both after a warm-up of each path, on ``device``."""
    device = device or torch.device("cpu")
    images = _images(BATCH * 4, size)
    thetas = [i * 360.0 / k for i in range(k)]
    settings = TrainSettings(steps=steps, batch_size=BATCH, precision=precision)

    def models(count: int = k) -> list[MoCo]:
        out = []
        for _ in range(count):
            torch.manual_seed(0)
            out.append(MoCo("resnet18", dim=DIM, K=32, split_bn=2).to(device))
        return out

    warm = TrainSettings(steps=2, batch_size=BATCH, precision=precision)
    pretrain_stacked(models(), images, thetas, warm, 0)
    pretrain(models(1)[0], images, pair_builder("fixed-theta", thetas[1]), warm, 0)
    batch = models()
    sync(device)
    t0 = time.perf_counter()
    for md, th in zip(batch, thetas, strict=True):
        pretrain(md, images, pair_builder("fixed-theta", th), settings, 0)
    sync(device)
    seq = k * steps * BATCH / (time.perf_counter() - t0)
    batch = models()
    sync(device)
    t0 = time.perf_counter()
    pretrain_stacked(batch, images, thetas, settings, 0)
    sync(device)
    fused = k * steps * BATCH / (time.perf_counter() - t0)
    bound = _one_model_big_batch(k, size, steps, device, precision)
    # the shared-weight bound saves K−1 weight updates that K models cannot; add them back
    update = _weight_update_seconds(device)
    tighter = k * BATCH / (k * BATCH / bound + (k - 1) * update)
    label = "" if precision == "fp32" else f" {precision}"
    return Row(f"training {k} θ-models at once (ResNet-18, {size}px{label})",
               f"{k} sequential pretrain runs", seq, fused, "images/s (all models)", 1.3,
               notes={"device": str(device), "steps": steps, "precision": precision,
                      "one_model_batch_k_times_b_images_per_s": round(bound, 2),
                      "upper_bound_ratio": round(bound / seq, 3),
                      "weight_update_ms_per_model_step": round(update * 1e3, 2),
                      "upper_bound_ratio_with_k_weight_updates": round(tighter / seq, 3)})


def _weight_update_seconds(device: torch.device) -> float:
    """Median time of one ResNet-18 MoCo weight update (SGD step with momentum and weight
    decay, then the key encoder's momentum update): work that grows with the number of
    models, not with the batch."""
    torch.manual_seed(0)
    model = MoCo("resnet18", dim=DIM, K=32).to(device)
    q, k = list(model.encoder_q.parameters()), list(model.encoder_k.parameters())
    for p in q:
        p.grad = torch.randn_like(p)
    opt = sgd(q, TrainSettings())  # the optimizer pretrain builds
    times = []
    for _ in range(8):
        sync(device)
        t0 = time.perf_counter()
        opt.step()
        with torch.no_grad():
            momentum_update(k, q, 0.99)
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def _one_model_big_batch(k: int, size: int, steps: int, device: torch.device,
                         precision: str) -> float:
    """Images/s of ONE model trained at batch K·B: the same work per image as K models at
    batch B, with one set of weights (so better cache reuse, one optimizer step). No
    fusion of K separate models can beat it, so its ratio to the sequential runs bounds
    what ``sweep.theta_batch`` can gain on this device."""
    images = _images(BATCH * k, size)
    settings = TrainSettings(steps=steps + 1, batch_size=BATCH * k, precision=precision)
    torch.manual_seed(0)
    model = MoCo("resnet18", dim=DIM, K=BATCH * k, split_bn=2).to(device)
    times: list[float] = []
    mark = [0.0]

    def on_step(step: int, loss: float) -> None:
        sync(device)
        times.append(time.perf_counter() - mark[0])
        mark[0] = time.perf_counter()

    sync(device)
    mark[0] = time.perf_counter()
    pretrain(model, images, pair_builder("fixed-theta", 45.0), settings, 0, on_step)
    return BATCH * k / statistics.median(times[1:])  # step 0 is warm-up
