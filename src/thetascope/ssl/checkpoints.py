"""Checkpoints: thetascope's own (weights, queue, pointer) and users' pre-trained weights.

A checkpoint is untrusted input: everything is loaded with ``torch.load(weights_only=True)``,
which refuses pickled code.

    save_checkpoint(path, model, {"theta": 30.0})        # atomic
    state, meta = load_checkpoint(path)
    report = load_backbone_weights("moco_v2_800ep_pretrain.pth.tar", backbone, "resnet50")
    print(report)          # loaded 318 tensors; missing: [...]; unexpected: [...]

Accepted layouts for ``load_backbone_weights``:
- the official MoCo v1/v2 file: ``{"state_dict": {"module.encoder_q.<resnet key>": ...}}``
  (``fc.*`` head weights and ``encoder_k``/``queue`` are dropped);
- a plain torchvision state_dict (``conv1.weight``, ..., ``fc.*`` dropped), optionally
  wrapped in ``{"state_dict": ...}`` or ``{"model": ...}`` and/or prefixed ``module.``;
- a thetascope checkpoint (``encoder_q.backbone.*``).
Grayscale input (data.channels = 1) with RGB weights: the first convolution's kernels are
summed over the input channels, which gives the same response to a gray image replicated
to three channels (the standard adaptation, as in timm's ``adapt_input_conv``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from thetascope.ssl.backbones import first_conv_name

FORMAT = "thetascope-moco-v1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, worded for the user (file and fix)."""


def save_checkpoint(path: Path, model: nn.Module, meta: dict) -> None:
    """Write weights (and MoCo's queue and pointer) atomically."""
    save_state(path, model.state_dict(), meta)


def save_state(path: Path, state_dict: dict, meta: dict) -> None:
    """Write a state_dict in thetascope's checkpoint format, atomically."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    plain_meta = json.loads(json.dumps(meta, default=str))  # weights_only-loadable types
    try:
        torch.save({"format": FORMAT, "state_dict": state_dict, "meta": plain_meta}, tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written temporary left behind
        tmp.unlink(missing_ok=True)
        raise


def _torch_load(path: Path) -> object:
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zips, foreign formats
        first = (str(exc).splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"{path}: not a loadable weights-only checkpoint ({type(exc).__name__}: {first}); "
            "it may be corrupt or contain code; re-save it as a plain state_dict"
        ) from None


def load_checkpoint(path: Path) -> tuple[dict, dict]:
    """Load a thetascope checkpoint written by ``save_checkpoint``."""
    obj = _torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a thetascope MoCo checkpoint (no 'format' marker)")
    return obj["state_dict"], obj.get("meta", {})


@dataclass
class LoadReport:
    path: str
    layout: str
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{self.path}: {self.layout} layout, loaded {self.loaded} tensors"]
        for name, keys in (("missing", self.missing), ("unexpected", self.unexpected),
                           ("adapted", self.adapted)):
            if keys:
                more = f" (+{len(keys) - 8} more)" if len(keys) > 8 else ""
                parts.append(f"{name}: {keys[:8]}{more}")
        return "; ".join(parts)


def _backbone_state(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Find the backbone tensors in any accepted layout; returns (state, layout name)."""
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        sd, layout, prefix = obj["state_dict"], "thetascope", "encoder_q.backbone."
    else:
        sd = obj
        if isinstance(sd, dict):
            for wrapper in ("state_dict", "model"):
                if isinstance(sd.get(wrapper), dict):
                    sd = sd[wrapper]
                    break
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise CheckpointError(f"{path}: no state_dict of tensors found")
        if any(k.startswith("module.encoder_q.") for k in sd):
            layout, prefix = "moco-official", "module.encoder_q."
        elif any(k.startswith("encoder_q.backbone.") for k in sd):
            layout, prefix = "thetascope", "encoder_q.backbone."
        elif any(k.startswith("module.") for k in sd):
            layout, prefix = "torchvision (module.)", "module."
        else:
            layout, prefix = "torchvision", ""
    state = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    # classifier / projection heads are not part of the backbone
    state = {k: v for k, v in state.items()
             if not k.startswith(("fc.", "heads.", "classifier.2", "head."))}
    if not state:
        raise CheckpointError(f"{path}: no backbone weights under prefix {prefix!r}")
    return state, layout


def load_backbone_weights(path: Path, backbone: nn.Module, encoder: str) -> LoadReport:
    """Load pre-trained weights into ``backbone`` (non-strict) and report what matched.

    Raises when nothing matches, so a checkpoint for another architecture is never
    silently ignored.
    """
    state, layout = _backbone_state(_torch_load(path), Path(path))
    own = backbone.state_dict()
    adapted = []
    first = first_conv_name(encoder)
    conv_key = f"{first}.weight" if first else ""
    if conv_key in state and conv_key in own and state[conv_key].shape != own[conv_key].shape:
        w, target = state[conv_key], own[conv_key]
        if w.shape[1] == 3 and target.shape[1] == 1 and w.shape[0] == target.shape[0]:
            state[conv_key] = w.sum(dim=1, keepdim=True)
            adapted.append(f"{conv_key}: RGB kernels summed for 1-channel input")
    shape_bad = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if shape_bad:
        raise CheckpointError(
            f"{path}: {len(shape_bad)} tensors have the wrong shape for {encoder} "
            f"(e.g. {shape_bad[0]}: {tuple(state[shape_bad[0]].shape)} vs "
            f"{tuple(own[shape_bad[0]].shape)}); is ssl.encoder the checkpoint's architecture?"
        )
    result = backbone.load_state_dict(state, strict=False)
    loaded = len(state) - len(result.unexpected_keys)
    if loaded == 0:
        raise CheckpointError(
            f"{path}: none of its {len(state)} tensors match {encoder} (e.g. "
            f"{next(iter(state))}); is ssl.encoder the checkpoint's architecture?"
        )
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    return LoadReport(str(path), layout, loaded, missing, list(result.unexpected_keys), adapted)
