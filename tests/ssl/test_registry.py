"""Encoder and method registries (``ssl/registry.py``) and the ``SSLModel`` interface.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/ssl/test_registry.py

Every registration made here is undone (``scoped_registrations``), so no other test sees it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from rich.console import Console

from thetascope.config import ConfigError, apply_overrides, builtin_config_path, load_config
from thetascope.ssl.encoders import BUILTIN_ENCODERS
from thetascope.ssl.moco import MoCo
from thetascope.ssl.model import SSLModel
from thetascope.ssl.registry import (
    ENCODERS,
    METHODS,
    Registry,
    UnknownNameError,
    encoder_names,
    get_encoder,
    get_method,
    method_names,
    register_encoder,
    register_method,
    scoped_registrations,
    unregister_encoder,
)
from thetascope.ssl.simclr import SimCLR
from thetascope.ssl.specs import EncoderSpec


class TinyCNN(nn.Module):
    """Three convolutions and a global average: (N, C, H, W) -> (N, 32)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.block1 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(self.stem(x))).mean(dim=(2, 3))


def tiny_cnn(in_channels: int, image_size: int) -> nn.Module:
    return TinyCNN(in_channels)


def tiny_stages(m: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    x = m.stem(x)
    for block in (m.block1, m.block2)[:layer]:
        x = block(x)
    return x


def register_tiny(name: str = "tiny_cnn", **fields) -> EncoderSpec:
    return register_encoder(name, tiny_cnn, **{
        "feature_dim": 32, "stage_forward": tiny_stages, "layers": (1, 2),
        "first_conv": "stem.0", **fields})


def smoke(*overrides: str):
    return apply_overrides(load_config(builtin_config_path("smoke")), list(overrides))


@pytest.fixture
def scoped():
    with scoped_registrations():
        yield


def test_builtins_are_registered_and_declare_their_feature_dim():
    assert set(BUILTIN_ENCODERS) <= set(encoder_names())
    assert {"moco_v2", "simclr"} <= set(method_names())
    for name in BUILTIN_ENCODERS:
        spec = get_encoder(name)
        net = spec.create(in_channels=1, image_size=32).eval()
        assert net(torch.rand(2, 1, 32, 32)).shape == (2, spec.feature_dim), name
    assert get_encoder("resnet18").theta_fusion and not get_encoder("vit_b_16").theta_fusion
    assert get_method("moco_v2").uses_queue and not get_method("simclr").uses_queue


def test_a_registered_encoder_is_accepted_by_the_config_and_only_while_registered():
    with pytest.raises(ConfigError, match="unknown encoder 'tiny_cnn'"):
        smoke("ssl.encoder=tiny_cnn")
    with scoped_registrations():
        register_tiny()
        assert smoke("ssl.encoder=tiny_cnn").ssl.encoder == "tiny_cnn"
        assert "tiny_cnn" in encoder_names()
    assert "tiny_cnn" not in encoder_names()
    with pytest.raises(ConfigError):
        smoke("ssl.encoder=tiny_cnn")


def test_unknown_names_list_the_registered_ones(scoped):
    register_tiny()
    with pytest.raises(UnknownNameError) as err:
        get_encoder("alexnet")
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    for name in (*BUILTIN_ENCODERS, "tiny_cnn"):
        assert name in str(err.value)
    with pytest.raises(ConfigError, match=r"registered: .*resnet18.*tiny_cnn"):
        smoke("ssl.encoder=alexnet")
    with pytest.raises(ConfigError, match=r"unknown SSL method 'byol'; registered: moco_v2, "
                                          r"simclr"):
        smoke("ssl.method=byol")


def test_input_constraints_fail_clearly_in_the_config_and_the_factory(scoped):
    register_tiny("tiny7", image_size_multiple=7)
    with pytest.raises(ConfigError, match=r"encoder 'tiny7' needs data.image_size divisible "
                                          r"by 7, got 32; use 28"):
        smoke("ssl.encoder=tiny7")
    with pytest.raises(ValueError, match="'vit_b_16' needs data.image_size divisible by 16"):
        get_encoder("vit_b_16").create(in_channels=1, image_size=40)
    with pytest.raises(ConfigError, match="divisible by 16, got 40"):
        smoke("ssl.encoder=vit_b_16", "data.image_size=40")
    register_tiny("tiny_fixed", fixed_image_size=True)
    with pytest.raises(ConfigError, match="'tiny_fixed' is built for that size"):
        smoke("ssl.encoder=tiny_fixed", "geometry.rotate_then_crop=true")


def test_every_form_of_register_encoder(scoped):
    @register_encoder("tiny_deco", feature_dim=32)
    def make(in_channels: int, image_size: int) -> nn.Module:
        return TinyCNN(in_channels)

    assert make(in_channels=1, image_size=8).stem[0].in_channels == 1  # returned unchanged
    assert get_encoder("tiny_deco").factory is make
    spec = EncoderSpec("tiny_spec", tiny_cnn, 32)
    assert register_encoder(spec) is spec
    assert register_encoder("tiny_renamed", spec).name == "tiny_renamed"
    with pytest.raises(ValueError, match="already registered"):
        register_tiny("tiny_deco")
    assert register_tiny("tiny_deco", overwrite=True).factory is tiny_cnn
    assert unregister_encoder("tiny_deco").name == "tiny_deco"
    assert "tiny_deco" not in encoder_names()
    with pytest.raises(ValueError, match="feature_dim must be a positive int"):
        register_encoder("bad", tiny_cnn, feature_dim=0)
    with pytest.raises(TypeError, match="not an nn.Module"):
        register_encoder("bad", lambda **kw: 3, feature_dim=4).create(1, 16)


def test_spatial_features_follow_the_spec(scoped):
    from thetascope.downstream.features import spatial_features

    spec = register_tiny()
    net = spec.create(in_channels=1, image_size=16)
    assert spatial_features(net, "tiny_cnn", torch.rand(2, 1, 16, 16), layer=2).shape == \
        (2, 32, 4, 4)
    with pytest.raises(ValueError, match=r"spatial layers \[1, 2\], not 3"):
        spec.spatial(net, torch.rand(1, 1, 16, 16), 3)
    flat = register_encoder("tiny_flat", tiny_cnn, feature_dim=32)
    with pytest.raises(ValueError, match="declares no spatial features"):
        flat.spatial(net, torch.rand(1, 1, 16, 16), 1)


def test_preflight_checks_the_downstream_layer_against_the_spec(scoped):
    from thetascope.sweep.preflight import check_encoder_layers

    register_tiny()
    register_encoder("tiny_flat", tiny_cnn, feature_dim=32)
    on = ["downstream.enabled=true"]
    check_encoder_layers(smoke("ssl.encoder=tiny_cnn", *on))  # layer 2 of (1, 2)
    with pytest.raises(ConfigError, match=r"fewshot_layer=3 is not a spatial layer of encoder "
                                          r"'tiny_cnn' \(\[1, 2\]\)"):
        check_encoder_layers(smoke("ssl.encoder=tiny_cnn", "downstream.fewshot_layer=3", *on))
    with pytest.raises(ConfigError, match="'tiny_flat' declares no spatial features"):
        check_encoder_layers(smoke("ssl.encoder=tiny_flat", *on))
    check_encoder_layers(smoke("ssl.encoder=tiny_flat", *on, "downstream.fewshot=false",
                               "downstream.finetune=false"))


def test_theta_batch_refuses_an_encoder_that_cannot_be_fused(scoped):
    from thetascope.sweep.dispatch import check_theta_batch

    register_tiny()
    check_theta_batch(smoke("sweep.theta_batch=2"))  # MoCo v2 + ResNet-18: fusable
    with pytest.raises(ConfigError, match="encoder 'tiny_cnn' cannot be fused"):
        check_theta_batch(smoke("ssl.encoder=tiny_cnn", "sweep.theta_batch=2"))
    with pytest.raises(ConfigError, match="method 'simclr' cannot be fused"):
        check_theta_batch(smoke("ssl.method=simclr", "sweep.theta_batch=2"))


def test_a_registered_method_is_found_and_builds_the_model(scoped):
    from thetascope.sweep.cell import build_model

    @register_method("simclr_t1", label="SimCLR (T=1)")
    def build(ssl, *, in_channels: int, image_size: int, n_images: int) -> SSLModel:
        return SimCLR(ssl.encoder, dim=ssl.dim, T=1.0, in_channels=in_channels,
                      image_size=image_size)

    assert get_method("simclr_t1").display_name == "SimCLR (T=1)"
    cfg = smoke("ssl.method=simclr_t1")
    model = build_model(cfg, n_images=24, seed=0)
    assert isinstance(model, SimCLR) and model.T == 1.0
    register_method("broken", lambda ssl, **kw: nn.Linear(2, 2))
    with pytest.raises(TypeError, match="not an SSLModel"):
        build_model(smoke("ssl.method=broken"), n_images=24, seed=0)


def test_a_runtime_registration_is_refused_with_worker_processes(scoped):
    from thetascope.sweep.preflight import check_registrations

    register_tiny()
    assert ENCODERS.origin("resnet18") == "builtin" and ENCODERS.origin("tiny_cnn") == "runtime"
    assert METHODS.origin("simclr") == "builtin"
    check_registrations(smoke("ssl.encoder=tiny_cnn"))  # local executor: fine
    check_registrations(smoke("runtime.executor=process"))  # built-ins: fine
    with pytest.raises(ConfigError, match="ssl.encoder 'tiny_cnn' were registered in this "
                                          "Python process"):
        check_registrations(smoke("ssl.encoder=tiny_cnn", "runtime.executor=process"))


def test_entry_points_are_loaded_on_the_first_lookup_only(monkeypatch):
    reg = Registry("encoder", "thetascope.encoders", "thetascope.ssl.encoders", "hint")
    calls = []

    def fake_load(group: str) -> list[str]:
        calls.append(group)
        reg.add(EncoderSpec("plugin_cnn", tiny_cnn, 32))
        return ["plugin_cnn"]

    monkeypatch.setattr("thetascope.ssl.registry.load_entry_points", fake_load)
    assert calls == []
    assert reg.get("plugin_cnn").feature_dim == 32
    assert "plugin_cnn" in reg.names() and calls == ["thetascope.encoders"]
    assert reg.origin("plugin_cnn") == "entry point"


@pytest.mark.parametrize("cls", [MoCo, SimCLR])
def test_moco_and_simclr_implement_the_ssl_model_interface(cls, tmp_path):
    from thetascope.ssl.checkpoints import save_checkpoint

    torch.manual_seed(0)
    kw = {"K": 4} if cls is MoCo else {}
    model = cls("resnet18", dim=8, in_channels=1, image_size=32, **kw).eval()
    assert isinstance(model, SSLModel) and model.encoder_name == "resnet18"
    x = torch.rand(4, 1, 32, 32)
    torch.testing.assert_close(model.embed(x), F.normalize(model.query_encoder()(x), dim=1))
    assert model.query_backbone()(x).shape == (4, 512)
    logits, labels = model(x, x.flip(-1), torch.arange(4), torch.arange(4))  # the loss step
    assert logits.shape[0] == labels.shape[0] and logits.shape[0] in (4, 8)
    loss = model.loss(x, x.flip(-1))
    assert loss.dim() == 0 and torch.isfinite(loss)
    donor = cls("resnet18", dim=8, in_channels=1, image_size=32, **kw)
    save_checkpoint(tmp_path / "w.pt", donor, {})
    report = model.load_backbone_weights(tmp_path / "w.pt")
    assert report.loaded > 0
    for a, b in zip(model.query_backbone().parameters(), donor.query_backbone().parameters(),
                    strict=True):
        torch.testing.assert_close(a, b)
    if cls is MoCo:  # the key encoder starts as a copy of the new query encoder
        for q, k in zip(model.encoder_q.parameters(), model.encoder_k.parameters(),
                        strict=True):
            torch.testing.assert_close(q, k)


def test_smoke_sweep_with_a_registered_tiny_cnn_runs_end_to_end(scoped, tmp_path):
    from thetascope.sweep.runner import run_experiment

    register_tiny()
    cfg = smoke(
        # both volumes' lesion slices: the few-shot split is grouped by volume
        "ssl.encoder=tiny_cnn", "data.datasets=[{kind: mri-lesion, max_eval: 10}]",
        "sweep.thetas=[0, 90, 180]", "runtime.threads=1", "orient.enabled=false",
        "downstream.enabled=true", "downstream.fewshot_k=[2]", "downstream.probe_epochs=2",
        "downstream.probe_hidden=[8, 8, 8, 8, 8]", "downstream.fewshot_steps=5",
        "downstream.finetune_steps=3", "analysis.permutations=99", "analysis.bootstrap=100",
        "analysis.surrogates=99", "analysis.predictors=[]", "metrics.bootstrap=100")
    res = run_experiment(cfg, tmp_path, console=Console(quiet=True))
    trained = res.results[res.results.model == "trained"]
    assert set(trained.encoder) == {"tiny_cnn"} and set(trained.theta) == {0.0, 90.0, 180.0}
    dice = trained[trained.metric == "dice"]
    assert len(dice) and dice.value.between(0, 1).all()
    down = trained[trained.image_id == "__dataset__"]
    assert {"fewshot_dice", "finetune_dice"} <= set(down.metric)
    assert (tmp_path / "report.html").is_file()
