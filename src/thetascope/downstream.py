"""Downstream quality of a pre-trained checkpoint, measured on its FROZEN encoder (issue H).

Three measurements, each a dataset-level number per (dataset, θ, seed) cell:

- ``probe_accuracy``: the follow-up's pair task. Each SSP image i gives a positive pair
  (x_i, x_i rotated by θ) and a negative pair (x_i, x_j), j ≠ i (or x_j rotated by θ with
  ``probe_negative: rotated``); the pair's feature is the concatenation (or |difference|)
  of the two frozen backbone embeddings; a ReLU MLP (``probe_hidden``) is trained with SGD
  on 80 % of the source images and scored on pairs built from the held-out 20 %.
- ``fewshot_dice``: a light decoder (two 1×1 convolutions + bilinear upsampling) on a
  frozen backbone stage, trained with soft Dice on k labelled evaluation images, mean Dice
  of its binarised prediction (> 0.5) on the other evaluation images (empty vs empty = 1).
  The first k of ``fewshot_k`` is ``fewshot_dice``, others ``fewshot_dice_k<k>``.
- ``linear_probe_accuracy``: logistic regression on standardised frozen features, label
  "mask non-empty" of each SSP slice, split grouped by source volume/case; skipped (with
  the reason in the notes) when a split lacks a class.

    res = evaluate_downstream(model.encoder_q.backbone, "resnet18", ds, theta=90.0,
                              settings=DownstreamSettings.from_config(cfg))
    res.values   # {"probe_accuracy": 0.91, "fewshot_dice": 0.55, ...}
    res.notes    # {"linear_probe_accuracy": "skipped: every SSP slice has a lesion"}

The trainers take plain tensors (``train_pair_probe``, ``train_decoder``), so they can be
tested on planted features without any encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.config import ExperimentConfig
from thetascope.data.sample import LoadedDataset, Sample
from thetascope.ssl.pairs import make_pair

DATASET_ID = "__dataset__"  # image_id of the dataset-level downstream rows


@dataclass(frozen=True)
class DownstreamSettings:
    probe: bool = True
    fewshot: bool = True
    linear_probe: bool = True
    max_images: int | None = None
    test_fraction: float = 0.2
    pair_feature: str = "concat"
    negative: str = "plain"
    hidden: tuple[int, ...] = (512, 256, 128, 64, 32)
    lr: float = 0.015
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 20
    fewshot_k: tuple[int, ...] = (4,)
    fewshot_layer: int = 2
    fewshot_hidden: int = 32
    fewshot_steps: int = 200
    fewshot_lr: float = 0.01
    linear_c: float = 1.0
    seed: int = 0
    interpolation: str = "bilinear"
    fill: float = 0.0
    circle: bool = True

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> DownstreamSettings:
        d, g = cfg.downstream, cfg.geometry
        return cls(d.probe, d.fewshot, d.linear_probe, d.max_images, d.test_fraction,
                   d.probe_pair_feature, d.probe_negative, tuple(d.probe_hidden), d.probe_lr,
                   d.probe_momentum, d.probe_batch_size, d.probe_epochs, tuple(d.fewshot_k),
                   d.fewshot_layer, d.fewshot_hidden, d.fewshot_steps, d.fewshot_lr,
                   d.linear_c, d.seed, g.interpolation, g.fill, g.circle_mask)


@dataclass
class DownstreamResult:
    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def fewshot_metric(k: int, ks: tuple[int, ...] | list[int]) -> str:
    """Metric name of the decoder trained on k labels (the first k is the plain name)."""
    return "fewshot_dice" if k == ks[0] else f"fewshot_dice_k{k}"


def downstream_metric_names(cfg: ExperimentConfig) -> list[str]:
    """The metrics a run with this config adds to each cell (empty when disabled)."""
    d = cfg.downstream
    if not d.enabled:
        return []
    names = ["probe_accuracy"] if d.probe else []
    names += [fewshot_metric(k, d.fewshot_k) for k in d.fewshot_k] if d.fewshot else []
    return names + (["linear_probe_accuracy"] if d.linear_probe else [])


# --------------------------------------------------------------------------- features
@torch.no_grad()
def global_features(backbone: nn.Module, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """(N, D) frozen backbone embeddings (eval mode, no gradients), on the CPU."""
    dev = next(backbone.parameters()).device
    was = backbone.training
    backbone.eval()
    try:
        out = [backbone(images[i:i + batch].to(dev)).float().cpu()
               for i in range(0, len(images), batch)]
    finally:
        backbone.train(was)
    return torch.cat(out)


@torch.no_grad()
def spatial_features(backbone: nn.Module, encoder: str, images: torch.Tensor,
                     layer: int = 2, batch: int = 64) -> torch.Tensor:
    """(N, C, h, w) frozen feature map: ResNet ``layer<layer>``, ConvNeXt stage ``layer``,
    ViT's last-layer patch tokens (``layer`` ignored)."""
    dev = next(backbone.parameters()).device
    was = backbone.training
    backbone.eval()

    def one(x: torch.Tensor) -> torch.Tensor:
        m: nn.Module = backbone
        if encoder.startswith("resnet"):
            x = m.maxpool(m.relu(m.bn1(m.conv1(x))))  # type: ignore[operator]
            for k in range(1, layer + 1):
                x = getattr(m, f"layer{k}")(x)
            return x
        if encoder == "convnext_tiny":
            return m.features[: 2 * layer](x)  # type: ignore[index]
        if encoder == "vit_b_16":
            tok = m.encoder(torch.cat([m.class_token.expand(x.shape[0], -1, -1),  # type: ignore[union-attr]
                                       m._process_input(x)], dim=1))  # type: ignore[operator]
            side = int(round((tok.shape[1] - 1) ** 0.5))
            return tok[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, side, side)
        raise ValueError(f"no spatial features for encoder {encoder!r}")

    try:
        out = [one(images[i:i + batch].to(dev)).float().cpu()
               for i in range(0, len(images), batch)]
    finally:
        backbone.train(was)
    return torch.cat(out)


# --------------------------------------------------------------------------- splits
def group_of(s: Sample) -> str:
    """Source group of a sample (volume or case when known, else the sample itself)."""
    for key in ("volume", "case", "patient", "subject"):
        if s.meta.get(key) is not None:
            return str(s.meta[key])
    return s.id


def grouped_split(groups: list[str], test_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, test) masks; whole groups go to one side, ≥ 1 group each."""
    uniq = sorted(set(groups))
    if len(uniq) < 2:
        raise ValueError(f"a grouped split needs ≥ 2 groups, got {len(uniq)}")
    rng = np.random.default_rng(seed)
    order = [uniq[i] for i in rng.permutation(len(uniq))]
    n_test = min(len(uniq) - 1, max(1, int(round(test_fraction * len(uniq)))))
    test_groups = set(order[:n_test])
    test = np.array([g in test_groups for g in groups])
    return ~test, test


# --------------------------------------------------------------------------- pair probe
def mlp(d_in: int, hidden: tuple[int, ...] | list[int], d_out: int = 2) -> nn.Sequential:
    """ReLU MLP: len(hidden) + 1 linear layers."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.ReLU()]
        d_in = h
    return nn.Sequential(*layers, nn.Linear(d_in, d_out))


def train_pair_probe(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                     y_test: torch.Tensor, st: DownstreamSettings) -> float:
    """Train the MLP (SGD, standardised inputs, cross-entropy); held-out accuracy."""
    gen = torch.Generator().manual_seed(st.seed)
    mu, sd = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    xtr, xte = (x_train - mu) / sd, (x_test - mu) / sd
    torch.manual_seed(st.seed)
    net = mlp(xtr.shape[1], st.hidden)
    opt = torch.optim.SGD(net.parameters(), lr=st.lr, momentum=st.momentum)
    for _ in range(st.epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), st.batch_size):
            b = perm[i:i + st.batch_size]
            loss = F.cross_entropy(net(xtr[b]), y_train[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((net(xte).argmax(1) == y_test).float().mean())


def pair_features(fa: torch.Tensor, fb: torch.Tensor, kind: str) -> torch.Tensor:
    """Feature of a pair: ``concat`` (N, 2D) or ``absdiff`` (N, D) of two embeddings."""
    return torch.cat([fa, fb], 1) if kind == "concat" else (fa - fb).abs()


def _pairs(idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each index a different index of the same split (a derangement)."""
    shift = rng.integers(1, len(idx))
    perm = rng.permutation(len(idx))
    partner = np.empty(len(idx), int)
    partner[perm] = perm[(np.arange(len(idx)) + shift) % len(idx)]
    return idx[partner]


def pair_probe(backbone: nn.Module, samples: list[Sample], theta: float,
               st: DownstreamSettings) -> float:
    """Held-out accuracy of the pair task on frozen features (see the module docstring)."""
    images = torch.from_numpy(np.stack([s.image for s in samples]).astype(np.float32))
    x, r = make_pair(images, theta, st.interpolation, st.fill, st.circle)  # type: ignore[arg-type]
    fx, fr = global_features(backbone, x), global_features(backbone, r)
    neg_view = fr if st.negative == "rotated" else fx
    train, test = grouped_split([group_of(s) for s in samples], st.test_fraction, st.seed)
    rng = np.random.default_rng(st.seed)

    def build(mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.flatnonzero(mask)
        if len(idx) < 2:
            raise ValueError("a probe split has fewer than 2 images")
        j = torch.from_numpy(_pairs(idx, rng))
        i = torch.from_numpy(idx)
        feats = torch.cat([pair_features(fx[i], fr[i], st.pair_feature),
                           pair_features(fx[i], neg_view[j], st.pair_feature)])
        y = torch.cat([torch.ones(len(i)), torch.zeros(len(i))]).long()
        return feats, y

    return train_pair_probe(*build(train), *build(test), st)


# --------------------------------------------------------------------------- few-shot seg
def soft_dice_loss(prob: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Mean over images of 1 − soft Dice (``eps`` smoothing) of (N, H, W) maps."""
    inter = (prob * target).flatten(1).sum(1)
    den = prob.flatten(1).sum(1) + target.flatten(1).sum(1)
    return (1 - (2 * inter + eps) / (den + eps)).mean()


def hard_dice(pred: np.ndarray, mask: np.ndarray) -> float:
    """Dice of two boolean maps; both empty counts as 1."""
    s = pred.sum() + mask.sum()
    return 1.0 if s == 0 else float(2 * np.logical_and(pred, mask).sum() / s)


def train_decoder(feats: torch.Tensor, masks: torch.Tensor, st: DownstreamSettings) -> nn.Module:
    """Fit 1×1 conv → ReLU → 1×1 conv (logits upsampled to the mask size) with soft Dice."""
    torch.manual_seed(st.seed)
    mu = feats.mean((0, 2, 3), keepdim=True)
    sd = feats.std((0, 2, 3), keepdim=True).clamp_min(1e-6)
    head = nn.Sequential(nn.Conv2d(feats.shape[1], st.fewshot_hidden, 1), nn.ReLU(),
                         nn.Conv2d(st.fewshot_hidden, 1, 1))
    size = masks.shape[-2:]

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = head
            self.register_buffer("mu", mu)
            self.register_buffer("sd", sd)

        def forward(self, f: torch.Tensor) -> torch.Tensor:
            logits = self.head((f - self.mu) / self.sd)
            return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[:, 0]

    dec = Decoder()
    opt = torch.optim.Adam(dec.parameters(), lr=st.fewshot_lr)
    target = masks.float()
    for _ in range(st.fewshot_steps):
        loss = soft_dice_loss(torch.sigmoid(dec(feats)), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return dec


def decoder_dice(dec: nn.Module, feats: torch.Tensor, masks: np.ndarray) -> float:
    """Mean hard Dice of the decoder's binarised prediction over the given images."""
    with torch.no_grad():
        pred = (torch.sigmoid(dec(feats)) > 0.5).numpy()
    return float(np.mean([hard_dice(p, m) for p, m in zip(pred, masks, strict=True)]))


def fewshot_segmentation(backbone: nn.Module, encoder: str, ds: LoadedDataset,
                         st: DownstreamSettings) -> DownstreamResult:
    """One decoder per k: trained on k evaluation images (seeded pick), scored on the rest."""
    res = DownstreamResult()
    images, masks, _ = ds.eval_arrays()
    feats = spatial_features(backbone, encoder, torch.from_numpy(images), st.fewshot_layer)
    order = np.random.default_rng(st.seed).permutation(len(images))
    for k in st.fewshot_k:
        name = fewshot_metric(k, st.fewshot_k)
        if k >= len(images):
            res.notes[name] = f"skipped: k={k} leaves no held-out image of {len(images)}"
            continue
        tr, te = order[:k], order[k:]
        dec = train_decoder(feats[tr], torch.from_numpy(masks[tr]), st)
        res.values[name] = decoder_dice(dec, feats[te], masks[te])
    return res


# --------------------------------------------------------------------------- linear probe
def linear_probe(backbone: nn.Module, samples: list[Sample],
                 st: DownstreamSettings) -> tuple[float | None, str]:
    """(held-out accuracy, note) of lesion present/absent; (None, reason) when not possible."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    labelled = [s for s in samples if s.mask is not None]
    if len(labelled) < 4:
        return None, f"skipped: {len(labelled)} SSP slices with a mask (needs ≥ 4)"
    y = np.array([bool(np.asarray(s.mask).any()) for s in labelled])
    if y.all() or not y.any():
        return None, f"skipped: every labelled SSP slice is {'positive' if y.all() else 'negative'}"
    groups = [group_of(s) for s in labelled]
    if len(set(groups)) < 2:
        return None, "skipped: fewer than 2 source groups for a grouped split"
    train, test = grouped_split(groups, st.test_fraction, st.seed)
    for part, m in (("training", train), ("held-out", test)):
        if len(set(y[m])) < 2:
            return None, f"skipped: the {part} split has one class only"
    images = torch.from_numpy(np.stack([s.image for s in labelled]).astype(np.float32))
    if st.circle:
        images = make_pair(images, 0.0, st.interpolation, st.fill, True)[0]  # type: ignore[arg-type]
    f = global_features(backbone, images).numpy()
    scaler = StandardScaler().fit(f[train])
    clf = LogisticRegression(C=st.linear_c, max_iter=2000)
    clf.fit(scaler.transform(f[train]), y[train])
    acc = float(clf.score(scaler.transform(f[test]), y[test]))
    return acc, f"{int(train.sum())} train / {int(test.sum())} held-out slices, " \
        f"{y.mean():.0%} positive"


# --------------------------------------------------------------------------- all
def evaluate_downstream(backbone: nn.Module, encoder: str, ds: LoadedDataset, theta: float,
                        settings: DownstreamSettings) -> DownstreamResult:
    """Every switched-on measurement of one checkpoint; failures become notes, not errors."""
    st = settings
    res = DownstreamResult()
    pool = ds.ssp[: st.max_images] if st.max_images else list(ds.ssp)
    if st.probe:
        try:
            res.values["probe_accuracy"] = pair_probe(backbone, pool, theta, st)
        except ValueError as exc:
            res.notes["probe_accuracy"] = f"skipped: {exc}"
    if st.fewshot:
        fs = fewshot_segmentation(backbone, encoder, ds, st)
        res.values.update(fs.values)
        res.notes.update(fs.notes)
    if st.linear_probe:
        acc, note = linear_probe(backbone, pool, st)
        if acc is not None:
            res.values["linear_probe_accuracy"] = acc
        res.notes["linear_probe_accuracy"] = note
    return res


def downstream_for_cell(cfg: ExperimentConfig, model: nn.Module, ds: LoadedDataset,
                        theta: float) -> DownstreamResult | None:
    """What ``run_cell`` calls: None when ``downstream.enabled`` is false. The global torch
    RNG is forked, so the cell's other numbers are the same with or without this."""
    if not cfg.downstream.enabled:
        return None
    backbone = model.encoder_q.backbone  # type: ignore[union-attr]
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        return evaluate_downstream(backbone, cfg.ssl.encoder, ds, theta,
                                   DownstreamSettings.from_config(cfg))


def downstream_records(res: DownstreamResult | None) -> list[dict]:
    """Long-format records (image_id ``__dataset__``) of a cell's downstream values."""
    if res is None:
        return []
    return [{"image_id": DATASET_ID, "metric": m, "value": float(v)}
            for m, v in res.values.items()]
