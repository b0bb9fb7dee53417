"""Self-negatives: queue keys that come from the query's own image.

A small dataset is reshuffled every epoch, so MoCo's queue soon holds an older key of the
image a query was made from; without augmentation that "negative" is nearly the positive.
Every key therefore carries its image's index (and its source group: volume, case,
patient) beside the queue, and the logits of same-image keys are masked before the
softmax (``ssl.mask_self_negatives``). Counts of affected queries are kept either way.

    same = same_source(ids, model.queue_ids)                  # (N, K) bool
    l_neg = l_neg.masked_fill(same, float("-inf"))            # exp(-inf) = 0: as if removed
    counts = self_negative_counts(same, groups, model.queue_groups)   # (3,) long
    groups = group_codes(["brain1", "brain1", "brain2"])      # tensor([0, 0, 1])
    self_negative_summary(model.self_negatives)               # the cell's meta entries

Only the image is masked, never the group: the built-in MR set has 48 slices from 2
volumes, so masking the group would remove half of every query's negatives, and a
neighbouring slice is a different image (a hard negative, as in the papers' instance
discrimination). How often a same-group key sits in the queue is still counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

UNKNOWN = -1  # a key whose source is not known (random init, an old checkpoint, no ids)


def same_source(ids: torch.Tensor, queue_ids: torch.Tensor) -> torch.Tensor:
    """(N, K) bool: queue key j comes from the source ``ids[i]`` (ids are ≥ 0)."""
    return ids[:, None] == queue_ids[None, :]


def self_negative_counts(same: torch.Tensor, groups: torch.Tensor,
                         queue_groups: torch.Tensor) -> torch.Tensor:
    """(queries, queries with a key of their own image in the queue, queries with a key
    of another image of their own group in the queue), as a (3,) long tensor on the
    queue's device (no host sync)."""
    other_in_group = same_source(groups, queue_groups) & ~same
    queries = same.new_full((), same.shape[0], dtype=torch.long)  # no host-to-device copy
    return torch.stack([queries, same.any(1).sum(), other_in_group.any(1).sum()])


def group_codes(names: Sequence[str]) -> torch.Tensor:
    """Integer code per source-group name, in order of first appearance."""
    codes: dict[str, int] = {}
    return torch.tensor([codes.setdefault(n, len(codes)) for n in names], dtype=torch.long)


def self_negative_summary(counts: torch.Tensor, masked: bool) -> dict:
    """What a cell records: the share of queries whose own image had a key in the queue
    (``self_negative_share``), the share left unmasked in the loss, and the share with a
    same-group key of another image. Empty when nothing was counted (SimCLR, no ids)."""
    n, own, group = (int(v) for v in counts.tolist())
    if n == 0:
        return {}
    share = round(own / n, 4)
    return {"self_negative_share": share, "self_negative_unmasked_share": 0.0 if masked
            else share, "same_group_negative_share": round(group / n, 4),
            "self_negative_queries": n, "self_negatives_masked": masked}
