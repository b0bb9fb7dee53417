"""What a registered encoder or SSL method declares: ``EncoderSpec`` and ``MethodSpec``.

An encoder is a factory plus the facts every other layer needs about it, so no module
branches on its name::

    spec = EncoderSpec("tiny_cnn", make_tiny_cnn, feature_dim=64,
                       stage_forward=tiny_stages, layers=(1, 2, 3))
    spec.check_input(image_size=64, in_channels=1)       # ValueError naming the constraint
    net = spec.create(in_channels=1, image_size=64)      # (N, 1, 64, 64) -> (N, 64)
    fmap = spec.spatial(net, x, layer=2)                 # (N, C, h, w) for downstream probes

The factory is called with keywords: ``factory(in_channels=..., image_size=...)``, plus
``norm_layer=...`` when ``norm_layer=True`` (ResNets: MoCo's split batch norm). It returns
a module mapping (N, C, H, W) images to (N, ``feature_dim``) features.

A method builds an ``SSLModel`` (``ssl/model.py``) from the ``ssl`` config section::

    spec = MethodSpec("my_byol", build_byol, label="BYOL")
    model = spec.build(cfg.ssl, in_channels=1, image_size=64, n_images=120)

Register them with ``thetascope.ssl.registry.register_encoder`` / ``register_method``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

# (in_channels=, image_size=[, norm_layer=]) -> module mapping (N, C, H, W) to (N, D)
EncoderFactory = Callable[..., nn.Module]
# (backbone, images, layer) -> (N, C, h, w) feature map, differentiable, mode left as is
StageForward = Callable[[nn.Module, torch.Tensor, int], torch.Tensor]
# (ssl config section, *, in_channels, image_size, n_images) -> an SSLModel
MethodBuilder = Callable[..., Any]


@dataclass(frozen=True)
class EncoderSpec:
    """A registered encoder: how to build it and what the rest of thetascope may assume.

    - ``feature_dim``: D of the factory's (N, D) output (the projection head's input).
    - ``stage_forward`` / ``layers``: the spatial feature map downstream's few-shot and
      fine-tuning decoders read (``downstream.fewshot_layer`` must be one of ``layers``);
      None: those measurements are not available for this encoder.
    - ``first_conv``: state-dict prefix of the input convolution, so RGB checkpoint
      weights can be summed to one channel (``ssl/checkpoints.py``); None: no adaptation.
    - ``theta_fusion``: ``sweep.theta_batch > 1`` may fuse K copies (``ssl/stacked.py``
      fuses convolutions, batch norms and linear layers only).
    - ``norm_layer``: the factory accepts ``norm_layer=`` (MoCo's split batch norm).
    - ``image_size_multiple`` / ``min_image_size``: input constraints on ``data.image_size``.
    - ``fixed_image_size``: built for exactly ``data.image_size`` (ViT's position
      embeddings), so views cut smaller (``geometry.rotate_then_crop``) do not fit.
    """

    name: str
    factory: EncoderFactory
    feature_dim: int
    stage_forward: StageForward | None = None
    layers: tuple[int, ...] = ()
    first_conv: str | None = None
    theta_fusion: bool = False
    norm_layer: bool = False
    image_size_multiple: int = 1
    min_image_size: int = 1
    fixed_image_size: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"an encoder needs a non-empty name, got {self.name!r}")
        if not callable(self.factory):
            raise TypeError(f"encoder {self.name!r}: factory must be callable")
        if not isinstance(self.feature_dim, int) or self.feature_dim < 1:
            raise ValueError(f"encoder {self.name!r}: feature_dim must be a positive int, "
                             f"got {self.feature_dim!r}")
        if self.stage_forward is not None and not self.layers:
            raise ValueError(f"encoder {self.name!r}: stage_forward needs the valid layers")
        if self.image_size_multiple < 1 or self.min_image_size < 1:
            raise ValueError(f"encoder {self.name!r}: image_size_multiple and min_image_size "
                             "must be ≥ 1")

    def check_input(self, image_size: int, in_channels: int | None = None) -> None:
        """Raise ValueError naming the encoder and the constraint ``image_size`` breaks."""
        step = self.image_size_multiple
        if image_size % step:
            raise ValueError(
                f"encoder {self.name!r} needs data.image_size divisible by {step}, got "
                f"{image_size}; use {max(step, image_size // step * step)}")
        if image_size < self.min_image_size:
            raise ValueError(f"encoder {self.name!r} needs data.image_size ≥ "
                             f"{self.min_image_size}, got {image_size}")
        if in_channels is not None and in_channels < 1:
            raise ValueError(f"encoder {self.name!r}: in_channels must be ≥ 1, got {in_channels}")

    def create(self, in_channels: int = 3, image_size: int = 224,
               norm_layer: Callable[[int], nn.Module] | None = None) -> nn.Module:
        """The factory's module, after ``check_input``; ``norm_layer`` is passed only to
        encoders that declare ``norm_layer=True`` (others keep their own norms)."""
        self.check_input(image_size, in_channels)
        kw: dict[str, Any] = {"in_channels": in_channels, "image_size": image_size}
        if self.norm_layer:
            kw["norm_layer"] = norm_layer
        net = self.factory(**kw)
        if not isinstance(net, nn.Module):
            raise TypeError(f"encoder {self.name!r}: the factory returned "
                            f"{type(net).__name__}, not an nn.Module")
        return net

    def spatial(self, backbone: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
        """(N, C, h, w) feature map at ``layer`` (differentiable; mode left as is)."""
        if self.stage_forward is None:
            raise ValueError(f"encoder {self.name!r} declares no spatial features "
                             "(EncoderSpec.stage_forward); turn downstream.fewshot and "
                             "downstream.finetune off")
        if layer not in self.layers:
            raise ValueError(f"encoder {self.name!r} has spatial layers {list(self.layers)}, "
                             f"not {layer}; set downstream.fewshot_layer to one of them")
        return self.stage_forward(backbone, x, layer)


@dataclass(frozen=True)
class MethodSpec:
    """A registered SSL method: ``build(ssl, *, in_channels, image_size, n_images)``
    returns an ``SSLModel``; ``ssl`` is the config's ``ssl`` section (read by field name).

    - ``uses_queue``: keeps a MoCo-style queue of ``ssl.queue_size`` keys (checked against
      the dataset before a sweep) and splits batch norm (``ssl.split_bn``).
    - ``theta_fusion``: ``sweep.theta_batch > 1`` can train K θ-models as one network.
    - ``label``: the name reports print (``"MoCo v2"``).
    - ``chance_loss``: ``(batch_size, queue_size) -> float``, the loss of a model that
      cannot tell its positive from the negatives (MoCo: ln(K + 1)); [I]'s "did training
      move the model" rule compares the final loss with it. ``None``: that rule reads
      "not tested" for runs of this method.
    """

    name: str
    build: MethodBuilder
    uses_queue: bool = False
    theta_fusion: bool = False
    label: str = ""
    description: str = ""
    chance_loss: Callable[[int, int | None], float] | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a method needs a non-empty name, got {self.name!r}")
        if not callable(self.build):
            raise TypeError(f"method {self.name!r}: build must be callable")

    @property
    def display_name(self) -> str:
        return self.label or self.name
