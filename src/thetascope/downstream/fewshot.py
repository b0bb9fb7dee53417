"""Few-label segmentation on a FROZEN encoder: a light decoder trained with soft Dice.

``fewshot_dice``: two 1×1 convolutions + bilinear upsampling on a frozen backbone stage,
trained with soft Dice on k labelled evaluation images; mean Dice of its binarised
prediction (> 0.5) on the other evaluation images (empty vs empty = 1). The first k of
``fewshot_k`` is ``fewshot_dice``, others ``fewshot_dice_k<k>``.

    res = fewshot_segmentation(backbone, "resnet18", ds, st)     # DownstreamResult
    dec = train_decoder(feats, masks, st); decoder_dice(dec, feats_te, masks_te)
    order, splits = fewshot_splits(n_images, st)                 # the seeded label picks
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.data.sample import LoadedDataset
from thetascope.downstream.features import spatial_features
from thetascope.downstream.settings import DownstreamResult, DownstreamSettings, fewshot_metric


def soft_dice_loss(prob: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Mean over images of 1 − soft Dice (``eps`` smoothing) of (N, H, W) maps."""
    inter = (prob * target).flatten(1).sum(1)
    den = prob.flatten(1).sum(1) + target.flatten(1).sum(1)
    return (1 - (2 * inter + eps) / (den + eps)).mean()


def hard_dice(pred: np.ndarray, mask: np.ndarray) -> float:
    """Dice of two boolean maps; both empty counts as 1."""
    s = pred.sum() + mask.sum()
    return 1.0 if s == 0 else float(2 * np.logical_and(pred, mask).sum() / s)


class Decoder(nn.Module):
    """1×1 conv → ReLU → 1×1 conv on per-channel standardised features (``mu``, ``sd``
    fixed at construction), logits bilinearly upsampled to ``size``: (N, H, W)."""

    def __init__(self, feats: torch.Tensor, hidden: int, size: tuple[int, int]) -> None:
        super().__init__()
        feats = feats.detach()
        self.head = nn.Sequential(nn.Conv2d(feats.shape[1], hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, 1, 1))
        self.register_buffer("mu", feats.mean((0, 2, 3), keepdim=True))
        self.register_buffer("sd", feats.std((0, 2, 3), keepdim=True).clamp_min(1e-6))
        self.size = tuple(size)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        logits = self.head((f - self.mu) / self.sd)
        return F.interpolate(logits, size=self.size, mode="bilinear", align_corners=False)[:, 0]


def train_decoder(feats: torch.Tensor, masks: torch.Tensor, st: DownstreamSettings) -> nn.Module:
    """Fit a ``Decoder`` on fixed features with soft Dice (Adam, full batch)."""
    torch.manual_seed(st.seed)
    dec = Decoder(feats, st.fewshot_hidden, tuple(masks.shape[-2:]))
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


def fewshot_splits(n: int, st: DownstreamSettings, base: str = "fewshot_dice",
                   groups: list[str] | None = None,
                   ) -> list[tuple[int, str, np.ndarray | None, np.ndarray | None, str]]:
    """Per k of ``st.fewshot_k``: (k, metric name, train idx, test idx, skip note); the
    same seeded order for every k (and for the frozen and the fine-tuned decoder).

    With ``groups`` (each image's source volume/case, ``Sample.group``) the split is
    grouped: source groups in a seeded order supply the k labelled images, and only images
    of groups that gave no label are held out, so no volume straddles the split."""
    rng = np.random.default_rng(st.seed)
    order = rng.permutation(n)
    out = []
    for k in st.fewshot_k:
        name = fewshot_metric(k, st.fewshot_k, base)
        if groups is not None:
            tr, te, note = _grouped_pick(np.asarray(groups), k, st.seed)
            out.append((k, name, tr, te, note))
        elif k >= n:
            out.append((k, name, None, None, f"skipped: k={k} leaves no held-out image of {n}"))
        else:
            out.append((k, name, order[:k], order[k:], ""))
    return out


def _grouped_pick(groups: np.ndarray, k: int, seed: int):
    """k labelled images from whole source groups (seeded order); held out: the images of
    every group that supplied none."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    taken: list[int] = []
    used = set()
    for g in uniq[rng.permutation(len(uniq))]:
        if len(taken) >= k:
            break
        members = np.flatnonzero(groups == g)
        taken += members[rng.permutation(len(members))].tolist()
        used.add(g)
    test = np.flatnonzero(~np.isin(groups, list(used)))
    if len(taken) < k or not len(test):
        return None, None, (f"skipped: k={k} labelled images from whole source groups leave "
                            f"no held-out group ({len(uniq)} group(s))")
    return np.asarray(taken[:k]), test, ""


def fewshot_segmentation(backbone: nn.Module, encoder: str, ds: LoadedDataset,
                         st: DownstreamSettings) -> DownstreamResult:
    """One decoder per k: trained on k evaluation images (seeded pick), scored on the rest."""
    res = DownstreamResult()
    images, masks, _ = ds.eval_arrays()
    feats = spatial_features(backbone, encoder, torch.from_numpy(images), st.fewshot_layer)
    groups = [s.group for s in ds.eval]
    for _k, name, tr, te, note in fewshot_splits(len(images), st, groups=groups):
        if tr is None or te is None:
            res.notes[name] = note
            continue
        dec = train_decoder(feats[tr], torch.from_numpy(masks[tr]), st)
        res.values[name] = decoder_dice(dec, feats[te], masks[te])
    return res
