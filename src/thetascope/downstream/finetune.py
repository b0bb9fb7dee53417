"""Few-label segmentation on a FINE-TUNED encoder: decoder and a copy of the backbone.

``finetune_dice``: the decoder of ``fewshot.py`` (same stage, width, seed, labelled picks
and held-out images) trained together with a deep copy of the backbone: Adam, the decoder
at ``fewshot_lr``, the backbone at the small ``finetune_lr``, ``finetune_steps`` full-batch
steps of soft Dice on the k labelled images. The copy runs in eval mode (batch-norm
running statistics stay as pre-trained: k images are too few to estimate them). The
cell's own model is never touched. With ``finetune_lr = 0`` it equals ``fewshot_dice``.

    res = finetune_segmentation(backbone, "resnet18", ds, st)   # {"finetune_dice": 0.62}
    net = finetune_decoder(backbone, "resnet18", images, masks, st)
    finetuned_dice(net, images_te, masks_te)
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from thetascope.data.sample import LoadedDataset
from thetascope.downstream.features import stage_forward
from thetascope.downstream.fewshot import Decoder, fewshot_splits, hard_dice, soft_dice_loss
from thetascope.downstream.settings import DownstreamResult, DownstreamSettings


class Segmenter(nn.Module):
    """A fine-tuned backbone copy and its decoder: images (N, C, H, W) -> logits (N, H, W)."""

    def __init__(self, backbone: nn.Module, encoder: str, layer: int, decoder: Decoder) -> None:
        super().__init__()
        self.backbone, self.decoder = backbone, decoder
        self.encoder, self.layer = encoder, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(stage_forward(self.backbone, self.encoder, x, self.layer))


def finetune_decoder(backbone: nn.Module, encoder: str, images: torch.Tensor,
                     masks: torch.Tensor, st: DownstreamSettings) -> Segmenter:
    """Train decoder + a deep copy of ``backbone`` on (images, masks); ``backbone`` itself is
    left exactly as it was (weights, mode, requires_grad)."""
    if st.finetune_lr < 0 or st.finetune_steps < 0:
        raise ValueError("finetune_lr and finetune_steps must be ≥ 0")
    dev = next(backbone.parameters()).device
    net = copy.deepcopy(backbone).to(dev)
    net.eval()  # batch-norm statistics stay as pre-trained; gradients still flow
    for p in net.parameters():
        p.requires_grad_(True)
    x, target = images.to(dev), masks.to(dev).float()
    with torch.no_grad():
        f0 = stage_forward(net, encoder, x, st.fewshot_layer).float()
    torch.manual_seed(st.seed)  # the same decoder initialisation as the frozen one
    seg = Segmenter(net, encoder, st.fewshot_layer,
                    Decoder(f0.cpu(), st.fewshot_hidden, tuple(masks.shape[-2:])).to(dev))
    opt = torch.optim.Adam([{"params": seg.decoder.parameters(), "lr": st.fewshot_lr},
                            {"params": net.parameters(), "lr": st.finetune_lr}])
    for _ in range(st.finetune_steps):
        loss = soft_dice_loss(torch.sigmoid(seg(x).float()), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return seg


@torch.no_grad()
def finetuned_dice(seg: Segmenter, images: torch.Tensor, masks: np.ndarray,
                   batch: int = 64) -> float:
    """Mean hard Dice of the fine-tuned segmenter's binarised prediction."""
    dev = next(seg.parameters()).device
    seg.eval()
    pred = torch.cat([(torch.sigmoid(seg(images[i:i + batch].to(dev))) > 0.5).cpu()
                      for i in range(0, len(images), batch)]).numpy()
    return float(np.mean([hard_dice(p, m) for p, m in zip(pred, masks, strict=True)]))


def finetune_segmentation(backbone: nn.Module, encoder: str, ds: LoadedDataset,
                          st: DownstreamSettings) -> DownstreamResult:
    """One fine-tuned segmenter per k (the frozen decoder's picks), scored on the rest."""
    res = DownstreamResult()
    images, masks, _ = ds.eval_arrays()
    x = torch.from_numpy(images)
    groups = [s.group for s in ds.eval]
    for _k, name, tr, te, note in fewshot_splits(len(images), st, "finetune_dice", groups):
        if tr is None or te is None:
            res.notes[name] = note
            continue
        seg = finetune_decoder(backbone, encoder, x[tr], torch.from_numpy(masks[tr]), st)
        res.values[name] = finetuned_dice(seg, x[te], masks[te])
        del seg
    return res
