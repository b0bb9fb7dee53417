"""The experiment configuration: one validated, fingerprinted object read in one place.

Every protocol choice that the papers leave open is a named field here, with its default,
and a row in ``docs/METHODS.md``. Load, override and fingerprint a config like this::

    from thetascope.config import load_config, apply_overrides, fingerprint
    cfg = load_config("configs/smoke.yaml")
    cfg = apply_overrides(cfg, ["sweep.seeds=[0,1,2]", "ssl.steps=40"])
    print(fingerprint(cfg))

Unknown keys are rejected with a "did you mean" hint, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from thetascope.config.analysis import AnalysisConfig, OrientConfig
from thetascope.config.base import PROTOCOL_VERSION, ConfigError, _Strict
from thetascope.config.datasets import (
    BRATS_MODALITIES,
    REGISTERED_TAG,
    AutoSpec,
    BratsSpec,
    CTNoduleSpec,
    DataConfig,
    DatasetSpec,
    FolderSpec,
    KvasirSpec,
    LungSpec,
    ManifestSpec,
    MRILesionSpec,
    PhantomSpec,
    RegisteredSpec,
)
from thetascope.config.downstream import DownstreamConfig
from thetascope.config.sections import (
    GeometryConfig,
    MetricName,
    MetricsConfig,
    SaliencyConfig,
    SSLConfig,
    SweepConfig,
    check_encoder_input,
    check_probe_recipe,
    check_view_crop,
)
from thetascope.config.yaml_io import UniqueKeyLoader, one_line, read_yaml_config

__all__ = [
    "BRATS_MODALITIES", "PROTOCOL_VERSION", "AnalysisConfig", "AutoSpec", "BratsSpec",
    "CTNoduleSpec", "ConfigError", "DataConfig", "DatasetSpec", "DownstreamConfig",
    "ExperimentConfig", "FolderSpec", "GeometryConfig", "KvasirSpec", "LungSpec",
    "MRILesionSpec", "ManifestSpec", "MetricName", "MetricsConfig", "OrientConfig",
    "PhantomSpec", "RegisteredSpec", "RuntimeConfig", "SSLConfig", "SaliencyConfig", "SweepConfig",
    "apply_overrides", "builtin_config_path", "config_from_dict", "dump_config",
    "fingerprint", "load_config", "set_overrides", "stable_hash",
]


class RuntimeConfig(_Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch threads (None: all cores).")
    executor: Literal["local", "process", "ray"] = Field(
        "local", description="local: in this process; process: N worker processes; ray: a "
        "Ray cluster (runtime.address)."
    )
    workers: int = Field(2, ge=1, description="Worker processes for executor=process.")
    address: str = Field(
        "auto", description="Ray cluster: auto (the running one), HOST:PORT, or local (a "
        "private cluster started for this run)."
    )
    cpus_per_task: int = Field(1, ge=1, description="CPUs (= torch threads) per worker task.")
    gpus_per_task: float = Field(
        0.0, ge=0, description="GPUs per Ray task; >0 keeps cells off GPU-less nodes."
    )
    max_retries: int = Field(3, ge=0, description="Ray: retries of a task whose worker died.")
    checkpoints: Literal["none", "last", "all"] = Field(
        "none", description="Model weights kept per cell: none, the final model (model.pt), "
        "or also every intermediate checkpoint."
    )
    checkpoint_every: int = Field(
        0, ge=0, description="Save a resumable training state every N steps (0: never); an "
        "interrupted cell restarts from its last one."
    )


class ExperimentConfig(_Strict):
    name: str = "experiment"
    data: DataConfig = Field(default_factory=DataConfig)
    geometry: GeometryConfig = Field(default_factory=GeometryConfig)
    ssl: SSLConfig = Field(default_factory=SSLConfig)
    saliency: SaliencyConfig = Field(default_factory=SaliencyConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    sweep: SweepConfig = Field(default_factory=SweepConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    orient: OrientConfig = Field(default_factory=OrientConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    downstream: DownstreamConfig = Field(default_factory=DownstreamConfig)

    # cross-section checks (sections validate in field order: geometry, ssl, ..., sweep)
    @field_validator("ssl")
    @classmethod
    def _views_fit_encoder(cls, v: SSLConfig, info: ValidationInfo) -> SSLConfig:
        if "geometry" in info.data:
            check_view_crop(v, info.data["geometry"])
        if "data" in info.data:
            check_encoder_input(v, info.data["data"].image_size, info.data["data"].channels)
        return v

    @field_validator("sweep")
    @classmethod
    def _recipe_fits_protocol(cls, v: SweepConfig, info: ValidationInfo) -> SweepConfig:
        if "ssl" in info.data:
            check_probe_recipe(info.data["ssl"], v)
        return v


# --------------------------------------------------------------------------- loading
def _known_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _explain(err: ValidationError, source: str) -> ConfigError:
    """Turn pydantic's error into one readable message per problem, with did-you-mean."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p != REGISTERED_TAG)
        if e["type"] == "extra_forbidden":
            parent, key = _parent_model(e["loc"]), str(e["loc"][-1])
            hint = difflib.get_close_matches(key, _known_keys(parent), n=1) if parent else []
            extra = f"; did you mean '{hint[0]}'?" if hint else ""
            lines.append(f"unknown key '{loc}'{extra}")
        elif e["type"] == "missing":
            path = ".".join(str(p) for p in e["loc"] if not _is_kind_tag(p))
            lines.append(f"{loc}: required; set it in the file or with --set {path}=...")
        else:
            lines.append(f"{loc}: {e['msg'].removeprefix('Value error, ')}")
    if len(lines) == 1:  # one problem: one line
        return ConfigError(f"invalid config ({source}): {lines[0]}")
    return ConfigError(f"invalid config ({source}):\n  " + "\n  ".join(lines))


_DATASET_MODELS = (MRILesionSpec, CTNoduleSpec, PhantomSpec, FolderSpec, BratsSpec, LungSpec,
                   KvasirSpec, ManifestSpec, AutoSpec)


def _is_kind_tag(part: object) -> bool:
    return part == REGISTERED_TAG or any(
        part in c.model_fields["kind"].annotation.__args__  # type: ignore[union-attr]
        for c in _DATASET_MODELS)


def _parent_model(loc: tuple) -> type[BaseModel] | None:
    """The model that owns the last key of an error location (for did-you-mean)."""
    model: Any = ExperimentConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is not None:
            ann = field.annotation
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
            continue
        # inside the dataset union the location names the tag, e.g. 'phantom-cxr'
        model = RegisteredSpec if part == REGISTERED_TAG else next(
            (c for c in _DATASET_MODELS
             if part in c.model_fields["kind"].annotation.__args__), None)  # type: ignore[union-attr]
    return model


def _non_finite(value: Any, where: str = "") -> list[str]:
    """Problems of the values no field can use, by path: NaN / ±Inf numbers
    ('geometry.fill: must be a finite number'), and text holding a NUL or an unpaired
    surrogate (which no file system or terminal accepts)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: must be a finite number, got {value}"]
    if isinstance(value, str | Path) and any(c == "\0" or 0xD800 <= ord(c) <= 0xDFFF
                                               for c in str(value)):
        return [f"{where}: {str(value)!r} holds a NUL or an unpaired surrogate character; "
                "write it as plain text"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{where}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{where}.{i}")]
    return []


def config_from_dict(raw: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a raw config; no setting may be NaN or infinite (a NaN ``geometry.fill`` or
    an infinite ``ssl.weight_decay`` would turn every score into NaN without a word)."""
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise _explain(err, source) from None
    if bad := _non_finite(cfg.model_dump(mode="python")):
        sep = "\n  " if len(bad) > 1 else " "
        raise ConfigError(f"invalid config ({source}):{sep}" + sep.join(bad))
    return cfg


def builtin_config_path(name: str) -> Path:
    """Path of a config shipped inside the package (``default``, ``smoke``)."""
    return Path(str(resources.files("thetascope") / "configs" / f"{name}.yaml"))


def shipped_config_names() -> list[str]:
    """The configs shipped inside the package: ``default``, ``smoke``, ``study``, …"""
    return sorted(p.name.removesuffix(".yaml") for p in
                  resources.files("thetascope").joinpath("configs").iterdir()
                  if p.name.endswith(".yaml"))


def load_config(path: str | Path | None = None,
                overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML config (``None``: the shipped ``default.yaml``), apply ``--set`` overrides
    to the raw YAML, then validate once, so an override can fill a required field (e.g. a
    dataset root left open in ``paper.yaml``)."""
    p = builtin_config_path("default") if path is None else Path(path)
    if not p.is_file():
        shipped = builtin_config_path(str(path)) if path is not None else None
        if shipped is not None and shipped.is_file():  # allow `--config smoke`
            p = shipped
        else:
            raise ConfigError(f"config file not found: {p} (give a YAML path, or a shipped "
                              f"name: {', '.join(shipped_config_names())})")
    raw = read_yaml_config(p)
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections")
    raw.setdefault("name", p.stem)
    set_overrides(raw, overrides or [])
    return config_from_dict(raw, str(p) + (" + --set overrides" if overrides else ""))


def set_overrides(raw: dict, overrides: list[str]) -> None:
    """Apply ``a.b.c=value`` strings to a raw config dict in place; values are YAML.

    Numeric parts index lists (``data.datasets.0.root=/data/brats``); missing mappings are
    created, and unknown keys are then rejected by validation with a did-you-mean.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        dotted, value = item.split("=", 1)
        parts = dotted.strip().split(".")
        try:
            parsed = yaml.load(value, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: "
                              f"{one_line(exc)}") from None
        node: Any = raw
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {item!r}: '{where}' needs an index below "
                                      f"{len(node)}")
                if last:
                    node[int(part)] = parsed
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = parsed
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"--set {item!r}: '{'.'.join(parts[:i])}' is a value, not a "
                                  "section")


def apply_overrides(cfg: ExperimentConfig, overrides: list[str]) -> ExperimentConfig:
    """Apply ``section.key=value`` strings to a validated config (see ``set_overrides``)."""
    raw = cfg.model_dump(mode="json")
    set_overrides(raw, overrides)
    return config_from_dict(raw, "--set overrides")


def dump_config(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hash of a JSON-able object, independent of key order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def fingerprint(cfg: ExperimentConfig) -> str:
    """Fingerprint of the whole config plus the protocol version."""
    return stable_hash({"v": PROTOCOL_VERSION, "cfg": cfg.model_dump(mode="json")})
