"""The pair-task probe and the linear probe, both on FROZEN global features.

- ``probe_accuracy``: the follow-up's pair task. Each SSP image i gives a positive pair
  (x_i, x_i rotated by θ) and a negative pair (x_i, x_j), j ≠ i (or x_j rotated by θ with
  ``probe_negative: rotated``); the pair's feature is the concatenation (or |difference|)
  of the two frozen backbone embeddings; a ReLU MLP (``probe_hidden``) is trained with SGD
  on 80 % of the source images and scored on pairs built from the held-out 20 %.
- ``linear_probe_accuracy``: logistic regression on standardised frozen features, label
  "mask non-empty" of each SSP slice, split grouped by source volume/case; skipped (with
  the reason) when a split lacks a class.

    acc = pair_probe(backbone, ds.ssp, theta=90.0, st=DownstreamSettings())
    acc, note = linear_probe(backbone, ds.ssp, DownstreamSettings())   # acc None: skipped
    acc = train_pair_probe(x_train, y_train, x_test, y_test, st)       # plain tensors
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.data.sample import Sample
from thetascope.downstream.features import global_features, group_of, grouped_split
from thetascope.downstream.settings import DownstreamSettings
from thetascope.ssl.pairs import make_pair


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


