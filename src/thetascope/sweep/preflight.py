"""Checks that run once before any cell, so a setting that cannot work fails once, clearly.

    preflight(cfg, datasets)   # TrainingConfigError / CheckpointError naming the fix

Without them each cell would fail on its own (a worker turns the error into one failed
task), and the run would end with "no cell finished" instead of the reason:

- MoCo's queue must fit each dataset's SSP pool with the batch (``resolve_queue_size``:
  K a multiple of the batch, K + batch ≤ images); SimCLR's batch must fit the pool;
- MoCo's split batch norm needs ≥ 2 images per group (batch_size / split_bn);
- ``ssl.weights`` must load with ``torch.load(weights_only=True)`` (a checkpoint holding
  pickled code is refused here, before any worker sees it) and fit ``ssl.encoder``;
- a metric, encoder or SSL method registered at run time needs ``runtime.executor: local``
  (``check_registrations``);
- few-shot / fine-tuned segmentation read a spatial layer the encoder's spec declares
  (``check_encoder_layers``).
"""

from __future__ import annotations

from thetascope.config import ExperimentConfig
from thetascope.data.sample import LoadedDataset
from thetascope.ssl.registry import get_method
from thetascope.ssl.train import TrainingConfigError, resolve_queue_size


def check_batches(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset]) -> None:
    s = cfg.ssl
    queue = get_method(s.method).uses_queue  # MoCo-style: a queue and split batch norm
    if queue and s.split_bn > 1 and s.batch_size % s.split_bn == 0 \
            and s.batch_size // s.split_bn < 2:
        raise TrainingConfigError(
            f"ssl.batch_size={s.batch_size} with ssl.split_bn={s.split_bn} leaves one image "
            "per batch-norm group, and batch norm needs two; raise ssl.batch_size to "
            f"{2 * s.split_bn} or set ssl.split_bn=1")
    for name, ds in datasets.items():
        n = len(ds.ssp)
        try:
            if queue:
                resolve_queue_size(s.queue_size, s.batch_size, n)
            elif s.batch_size > n:
                raise TrainingConfigError(
                    f"ssl.batch_size={s.batch_size} exceeds the {n} SSP images; set "
                    f"ssl.batch_size to at most {n}")
        except TrainingConfigError as exc:
            raise TrainingConfigError(f"dataset '{name}': {exc}") from None


def check_weights(cfg: ExperimentConfig) -> None:
    """Load ``ssl.weights`` into a throw-away backbone (CheckpointError if unusable)."""
    if cfg.ssl.weights is None:
        return
    from thetascope.ssl.backbones import create_backbone
    from thetascope.ssl.checkpoints import load_backbone_weights

    backbone, _ = create_backbone(cfg.ssl.encoder, in_channels=cfg.data.channels,
                                  image_size=cfg.data.image_size)
    load_backbone_weights(cfg.ssl.weights, backbone, cfg.ssl.encoder)


def runtime_registrations(cfg: ExperimentConfig) -> list[str]:
    """The encoder, SSL method and metrics of ``cfg`` that were registered by this Python
    process (a script or notebook), as opposed to built-in or entry-point ones: spawned
    worker processes (``runtime.executor`` process or ray) do not have them.

        runtime_registrations(cfg)   # e.g. ["ssl.encoder 'tiny_cnn'", "metric 'hit'"]
    """
    from thetascope.metrics.registry import get_metric
    from thetascope.ssl.registry import ENCODERS, METHODS

    found = [f"{kind} {name!r}" for kind, reg, name in (
        ("ssl.encoder", ENCODERS, cfg.ssl.encoder), ("ssl.method", METHODS, cfg.ssl.method))
        if reg.origin(name) == "runtime"]
    return found + [f"metric {m!r}" for m in cfg.metrics.names
                    if get_metric(m).origin == "runtime"]


def check_registrations(cfg: ExperimentConfig) -> None:
    """Refuse an encoder, SSL method or metric registered by this process when cells run
    in worker processes (``runtime.executor`` process or ray), before any cell trains.
    (``thetascope.run`` switches such a run to the local executor instead.)"""
    if cfg.runtime.executor == "local":
        return
    local = runtime_registrations(cfg)
    if local:
        from thetascope.config import ConfigError

        raise ConfigError(
            f"{', '.join(local)} were registered in this Python process, and "
            f"runtime.executor={cfg.runtime.executor} runs cells in worker processes that do "
            "not have them; use runtime.executor=local, or register them through an entry "
            "point ('thetascope.encoders', 'thetascope.methods', 'thetascope.metrics') of an "
            "installed package")


def check_encoder_layers(cfg: ExperimentConfig) -> None:
    """``downstream.fewshot_layer`` must be a spatial layer of the encoder's spec when the
    few-shot or fine-tuned segmentation runs (``EncoderSpec.layers``)."""
    d = cfg.downstream
    if not (d.enabled and (d.fewshot or d.finetune)):
        return
    from thetascope.config import ConfigError
    from thetascope.ssl.registry import get_encoder

    spec = get_encoder(cfg.ssl.encoder)
    if spec.stage_forward is None:
        raise ConfigError(
            f"encoder {spec.name!r} declares no spatial features (EncoderSpec.stage_forward), "
            "which downstream.fewshot and downstream.finetune read; turn them off")
    if d.fewshot_layer not in spec.layers:
        raise ConfigError(
            f"downstream.fewshot_layer={d.fewshot_layer} is not a spatial layer of encoder "
            f"{spec.name!r} ({list(spec.layers)}); set it to one of those")


def preflight(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset]) -> None:
    check_batches(cfg, datasets)
    check_weights(cfg)
    check_registrations(cfg)
    check_encoder_layers(cfg)
