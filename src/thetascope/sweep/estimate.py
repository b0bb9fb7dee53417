"""Before anything runs: how many cells and model fits, and what they will cost here.

    est = estimate(cfg, datasets)        # times a few real training steps and saliency rows
    est.cells, est.fits, est.seconds_per_cell, est.total_seconds

The calibration builds the configured model at the configured input size on this machine
(same threads and device as a run: a worker's ``runtime.cpus_per_task`` threads with the
process and Ray executors), times ``warmup + measure`` optimiser steps and one
SmoothGrad chunk, and extrapolates linearly. It costs a few seconds; for a GPU cluster run
it on a GPU node for numbers that mean something there.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import torch

from thetascope.attribution.inference import SaliencyEncoder
from thetascope.attribution.smoothgrad import SmoothGradSettings, smoothgrad_pair
from thetascope.attribution.targets import create_target
from thetascope.config import ExperimentConfig
from thetascope.data.sample import LoadedDataset
from thetascope.precision import resolve_precision
from thetascope.ssl.pairs import make_pair, pair_builder
from thetascope.ssl.train import TrainSettings, pretrain
from thetascope.sweep.cell import build_model
from thetascope.sweep.theta_batch import resolve_theta_batch
from thetascope.sweep.work import pick_device


@dataclass
class Estimate:
    cells: int
    fits: int
    seconds_per_step: float
    seconds_per_saliency_row: float
    train_seconds_per_fit: float
    saliency_seconds_per_cell: float
    total_seconds: float
    parallel_tasks: int
    wall_seconds: float
    device: str
    reference_passes: int = 0  # untrained-model SmoothGrad passes (sweep.references)
    precision: str = ""  # training / saliency precision after "auto" is resolved

    def as_dict(self) -> dict:
        return asdict(self)


def _time_steps(cfg: ExperimentConfig, ds: LoadedDataset, device: torch.device,
                warmup: int, measure: int) -> float:
    images = torch.from_numpy(ds.ssp_array())
    model = build_model(cfg, images.shape[0], 0).to(device)
    pair = pair_builder(cfg.sweep.protocol, 45.0, cfg.ssl.augment, cfg.data.image_size)
    t = {}

    def on_step(step: int, loss: float) -> None:
        t[step] = time.perf_counter()

    steps = warmup + measure
    settings = replace(TrainSettings.from_config(cfg), steps=steps)
    pretrain(model, images, pair, settings, 0, on_step)
    return (t[steps - 1] - t[warmup - 1]) / measure


def _time_saliency(cfg: ExperimentConfig, ds: LoadedDataset, device: torch.device) -> float:
    images, _, _ = ds.eval_arrays()
    model = build_model(cfg, len(ds.ssp), 0).to(device).eval()
    x, r = make_pair(torch.from_numpy(images[:1]), 45.0)
    s = SmoothGradSettings.from_config(cfg)
    rows = min(s.samples, s.chunk_size)
    net = SaliencyEncoder(model.query_encoder(), channels_last=cfg.saliency.precision == "bf16")
    target = create_target(cfg.saliency.target, net)
    one_chunk = replace(s, samples=rows)
    smoothgrad_pair(target, x.to(device), r.to(device), one_chunk)  # warm-up
    times = []
    for _ in range(3):  # best of three: robust to a busy machine
        t0 = time.perf_counter()
        smoothgrad_pair(target, x.to(device), r.to(device), one_chunk)
        times.append(time.perf_counter() - t0)
    return min(times) / rows


def estimate(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset],
             warmup: int = 1, measure: int = 3) -> Estimate:
    device = pick_device(cfg.runtime.device)
    cfg = resolve_precision(cfg, device)
    cfg, _ = resolve_theta_batch(cfg, device)
    ds = max(datasets.values(), key=lambda d: len(d.ssp))
    n_cells = len(datasets) * len(cfg.sweep.thetas) * len(cfg.sweep.seeds)
    fits = n_cells if cfg.sweep.protocol == "fixed-theta" else \
        len(datasets) * len(cfg.sweep.seeds)
    d = cfg.downstream
    if d.enabled and "theta-free" in d.baselines:  # the θ-free baseline's pre-training
        fits += len(datasets) * len(cfg.sweep.seeds)
    rt = cfg.runtime
    threads = torch.get_num_threads()
    if rt.executor in ("process", "ray"):  # time what a worker runs: cpus_per_task threads
        torch.set_num_threads(rt.cpus_per_task)
    try:
        step_s = _time_steps(cfg, ds, device, warmup, measure)
        row_s = _time_saliency(cfg, ds, device)
    finally:
        torch.set_num_threads(threads)
    n_eval = max(len(d.eval) for d in datasets.values())
    train_fit = step_s * cfg.ssl.steps
    sal_cell = row_s * cfg.saliency.samples * n_eval
    refs = set(cfg.sweep.references) & {"untrained", "resample"}
    zero = any(float(t) % 360.0 == 0.0 for t in cfg.sweep.thetas)
    per_unit = (len(cfg.sweep.thetas) if "untrained" in refs else 0) + \
        (1 if "resample" in refs and not ("untrained" in refs and zero) else 0)
    ref_passes = len(datasets) * len(cfg.sweep.seeds) * per_unit
    total = fits * train_fit + (n_cells + ref_passes) * sal_cell
    parallel = rt.workers if rt.executor == "process" else 1
    return Estimate(n_cells, fits, step_s, row_s, train_fit, sal_cell, total, parallel,
                    total / parallel, str(device), ref_passes,
                    f"{cfg.ssl.precision} / {cfg.saliency.precision}")
