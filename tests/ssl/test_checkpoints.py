"""Users' checkpoints in the exact layouts they come in, loaded safely."""

import pytest
import torch

from thetascope.ssl.backbones import create_backbone
from thetascope.ssl.checkpoints import (
    CheckpointError,
    load_backbone_weights,
    save_checkpoint,
)
from thetascope.ssl.moco import MoCo


def _resnet_state(seed=0):
    torch.manual_seed(seed)
    net, _ = create_backbone("resnet18")
    sd = net.state_dict()
    sd["fc.weight"] = torch.randn(1000, 512)
    sd["fc.bias"] = torch.randn(1000)
    return sd


def _check_loaded(backbone, ref):
    own = backbone.state_dict()
    for k in ("conv1.weight", "layer4.1.bn2.running_var"):
        torch.testing.assert_close(own[k], ref[k])


def test_official_moco_layout(tmp_path):
    ref = _resnet_state()
    sd = {f"module.encoder_q.{k}": v for k, v in ref.items() if not k.startswith("fc.")}
    sd["module.encoder_q.fc.0.weight"] = torch.randn(2048, 512)  # MLP head: dropped
    sd["module.encoder_q.fc.2.weight"] = torch.randn(128, 2048)
    sd.update({f"module.encoder_k.{k}": v for k, v in ref.items()})
    sd["module.queue"] = torch.randn(128, 16)
    path = tmp_path / "moco_v2_800ep_pretrain.pth.tar"
    torch.save({"epoch": 800, "arch": "resnet18", "state_dict": sd}, path)
    net, _ = create_backbone("resnet18")
    report = load_backbone_weights(path, net, "resnet18")
    assert report.layout == "moco-official" and not report.missing
    _check_loaded(net, ref)
    assert "moco-official" in str(report)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "module"])
def test_torchvision_state_dict(tmp_path, wrap):
    ref = _resnet_state(1)
    obj = ref if wrap == "plain" else (
        {"state_dict": ref} if wrap == "state_dict" else {f"module.{k}": v for k, v in ref.items()})
    path = tmp_path / "r18.pth"
    torch.save(obj, path)
    net, _ = create_backbone("resnet18")
    report = load_backbone_weights(path, net, "resnet18")
    assert report.loaded > 100 and not report.missing
    _check_loaded(net, ref)


def test_thetascope_checkpoint_round_trip(tmp_path):
    torch.manual_seed(2)
    model = MoCo("resnet18", dim=8, K=4)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, {"theta": 45})
    net, _ = create_backbone("resnet18")
    report = load_backbone_weights(path, net, "resnet18")
    assert report.layout == "thetascope"
    assert not report.unexpected and not report.missing  # the queue's sources stay out
    torch.testing.assert_close(net.state_dict()["conv1.weight"],
                               model.encoder_q.backbone.state_dict()["conv1.weight"])


def test_grayscale_stem_adaptation(tmp_path):
    ref = _resnet_state(3)
    path = tmp_path / "r18.pth"
    torch.save(ref, path)
    net, _ = create_backbone("resnet18", in_channels=1)
    report = load_backbone_weights(path, net, "resnet18")
    assert report.adapted
    net3, _ = create_backbone("resnet18")
    load_backbone_weights(path, net3, "resnet18")
    net.eval()
    net3.eval()
    gray = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(net(gray), net3(gray.repeat(1, 3, 1, 1)), atol=1e-4, rtol=1e-4)


def test_wrong_architecture_and_malicious_files_are_refused(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(_resnet_state(), path)
    net, _ = create_backbone("resnet50")
    with pytest.raises(CheckpointError, match="wrong shape for resnet50"):
        load_backbone_weights(path, net, "resnet50")
    convnext, _ = create_backbone("convnext_tiny")
    with pytest.raises(CheckpointError, match="none of its"):
        load_backbone_weights(path, convnext, "convnext_tiny")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": Evil()}, evil)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_backbone_weights(evil, net, "resnet50")
    with pytest.raises(CheckpointError, match="not found"):
        load_backbone_weights(tmp_path / "missing.pth", net, "resnet50")


def test_weights_flow_through_the_config(tmp_path):
    from thetascope.config import ExperimentConfig, apply_overrides
    from thetascope.sweep.cell import build_model

    ref = _resnet_state(4)
    path = tmp_path / "r18.pth"
    torch.save(ref, path)
    cfg = apply_overrides(ExperimentConfig(), [f"ssl.weights={path}"])
    model = build_model(cfg, 48, seed=0)
    torch.testing.assert_close(model.encoder_q.backbone.state_dict()["conv1.weight"],
                               ref["conv1.weight"])
    torch.testing.assert_close(model.encoder_k.backbone.state_dict()["conv1.weight"],
                               ref["conv1.weight"])
    assert (model.queue_ids == -1).all() and int(model.self_negatives.sum()) == 0
