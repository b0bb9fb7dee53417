"""``sweep.theta_batch: auto``: fused θ-models where fusion pays (a CUDA GPU), one model at
a time where it does not (the CPU).

    cfg = resolve_theta_batch(cfg, device)     # "auto" -> an int, before cell keys are made
    cfg.sweep.theta_batch                       # 1 on a CPU; K from free memory on a GPU

Why: fusing 8 θ-models into one network trained 2.55× (fp32) and 4.52× (bf16) faster than
one at a time on an H100, and 0.67–0.80× on 2 CPU cores, where one model at batch 128 is
only 1.27–1.59× eight at batch 16 (docs/PERFORMANCE.md) — so a CPU run stays at 1. On a
GPU, K is what fits: one real training step of a single model measures its peak memory
(parameters, optimiser state, activations at the config's batch and image size), and K is
the number of such models that fit in ``AUTO_MEMORY_SHARE`` of the device's free memory,
at most ``AUTO_MAX_K`` (the fused sizes measured) and at most the θ of one seed. Methods
or encoders whose spec cannot fuse, the probe protocol and mid-training checkpoints
(``runtime.checkpoint_every``, which fused training cannot resume) resolve to 1.
The resolved number, not "auto", enters each cell's identity (as ``precision`` does), so
a fused run's cells are never mixed with one-at-a-time cells.
"""

from __future__ import annotations

import dataclasses

import torch

from thetascope.config import ExperimentConfig

AUTO_MAX_K = 8
AUTO_MEMORY_SHARE = 0.6  # of the free memory at the start; the rest for SmoothGrad, caches


def fused_k(cfg: ExperimentConfig) -> int:
    """The θ-models a task trains at once: ``sweep.theta_batch``, or 1 while it is still
    "auto" (the runner resolves it before planning, ``resolve_theta_batch``)."""
    k = cfg.sweep.theta_batch
    return k if isinstance(k, int) and cfg.sweep.protocol == "fixed-theta" else 1


def can_fuse(cfg: ExperimentConfig) -> bool:
    """Whether this config's cells may be trained fused at all."""
    from thetascope.ssl.registry import get_encoder, get_method

    return (cfg.sweep.protocol == "fixed-theta" and not cfg.runtime.checkpoint_every
            and get_method(cfg.ssl.method).theta_fusion
            and get_encoder(cfg.ssl.encoder).theta_fusion)


def one_model_peak_bytes(cfg: ExperimentConfig, device: torch.device) -> int:
    """Peak device memory of one training step of one model at the config's sizes."""
    from thetascope.ssl.pairs import pair_builder
    from thetascope.ssl.train import TrainSettings, pretrain
    from thetascope.sweep.cell import build_model

    s, d, g = cfg.ssl, cfg.data, cfg.geometry
    n = 4 * s.batch_size  # a queue of the batch's size or more: its memory is negligible
    images = torch.rand(n, d.channels, d.image_size, d.image_size)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    model = build_model(cfg, n, seed=0).to(device)
    pair = pair_builder("fixed-theta", 90.0, s.augment, d.image_size, g.interpolation,
                        g.fill, g.circle_mask, g.rotate_then_crop)
    settings = dataclasses.replace(TrainSettings.from_config(cfg), steps=1)
    pretrain(model, images, pair, settings, seed=0)
    peak = torch.cuda.max_memory_allocated(device) - base
    del model
    torch.cuda.empty_cache()
    return int(peak)


def auto_theta_batch(cfg: ExperimentConfig, device: torch.device) -> tuple[int, str]:
    """(K, why) for ``theta_batch: auto`` on ``device``."""
    if device.type != "cuda":
        return 1, f"{device.type}: fused θ-models train slower than one at a time there"
    if not can_fuse(cfg):
        return 1, "this method, encoder, protocol or checkpointing cannot fuse θ-models"
    per_seed = len(cfg.sweep.thetas)
    free, _ = torch.cuda.mem_get_info(device)
    peak = max(1, one_model_peak_bytes(cfg, device))
    k = max(1, min(AUTO_MAX_K, per_seed, int(AUTO_MEMORY_SHARE * free // peak)))
    return k, (f"{free / 2**30:.1f} GiB free, {peak / 2**20:.0f} MiB a model: {k} θ-models "
               "fused")


def resolve_theta_batch(cfg: ExperimentConfig, device: torch.device,
                        ) -> tuple[ExperimentConfig, str]:
    """A copy of ``cfg`` whose ``sweep.theta_batch`` is a number, and why it is that one
    (empty when it was a number already)."""
    if cfg.sweep.theta_batch != "auto":
        return cfg, ""
    k, why = auto_theta_batch(cfg, device)
    sweep = cfg.sweep.model_copy(update={"theta_batch": k})
    return cfg.model_copy(update={"sweep": sweep}), why
