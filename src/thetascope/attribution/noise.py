"""SmoothGrad's noise: standard normal, one draw per (image, sample) row, fixed by (seed, row).

    ex, er = row_noise(seed=3, start=0, count=64, shape=(3, 224, 224),
                       pairing="independent", device=torch.device("cuda"))
    ex.shape                                  # (64, 3, 224, 224); er: the other view's

Each row's noise depends on the seed and the row's index alone, never on how rows are
chunked, so maps do not depend on ``saliency.chunk_size`` or the memory budget.

- **CPU**: each row has its own seeded ``torch.Generator``.
- **CUDA**: one generator per row would mean one or two kernel launches per row: for 512
  rows, more launches than the model's forward and backward, and at SmoothGrad's batch
  sizes a GPU waits on launches (docs/PERFORMANCE.md). So rows are drawn in fixed blocks
  of ``BLOCK_ROWS``: block k (rows [k·B, (k+1)·B)) comes from one generator seeded by
  (seed, k), with one ``randn`` per view. A chunk takes its rows out of the blocks it
  overlaps. Blocks are fixed by the row index, so the values are still a function of
  (seed, row).

Same sampler (torch's normal), different values per scheme. Each device drew its own noise
before this as well, so a seed fixes the maps per kind of device, not across CPU and GPU.
"""

from __future__ import annotations

import torch

BLOCK_ROWS = 32  # CUDA rows per generator: part of what a seed means there, keep fixed


def _seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def block_rows(seed: int, start: int, count: int, shape: torch.Size | tuple[int, ...],
               pairing: str, device: torch.device | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows start..start+count of both views from the fixed blocks (the CUDA scheme, also
    callable on the CPU): one generator and one ``randn`` per view and block."""
    device = device or torch.device("cpu")
    if count <= 0:
        empty = torch.empty((0, *shape), device=device)
        return empty, empty
    xs, rs = [], []
    first, last = start // BLOCK_ROWS, (start + count - 1) // BLOCK_ROWS
    for block in range(first, last + 1):
        gen = torch.Generator(device=device).manual_seed(_seed(seed, block))
        ex = torch.randn((BLOCK_ROWS, *shape), generator=gen, device=device)
        er = ex if pairing == "shared" else torch.randn((BLOCK_ROWS, *shape), generator=gen,
                                                        device=device)
        lo = max(start, block * BLOCK_ROWS) - block * BLOCK_ROWS
        hi = min(start + count, (block + 1) * BLOCK_ROWS) - block * BLOCK_ROWS
        xs.append(ex[lo:hi])
        rs.append(er[lo:hi])
    ex = torch.cat(xs) if len(xs) > 1 else xs[0]
    if pairing == "shared":
        return ex, ex
    return ex, torch.cat(rs) if len(rs) > 1 else rs[0]


def row_noise(seed: int, start: int, count: int, shape: torch.Size | tuple[int, ...],
              pairing: str, device: torch.device | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise for rows start..start+count of both views (``pairing`` "shared": the same),
    drawn on ``device``: a generator per row on the CPU, per block of rows on CUDA."""
    device = device or torch.device("cpu")
    if device.type == "cuda":
        return block_rows(seed, start, count, shape, pairing, device)
    xs, rs = [], []
    for row in range(start, start + count):
        gen = torch.Generator(device=device).manual_seed(_seed(seed, row))
        ex = torch.randn(shape, generator=gen, device=device)
        xs.append(ex)
        rs.append(ex if pairing == "shared" else torch.randn(shape, generator=gen,
                                                             device=device))
    return torch.stack(xs), torch.stack(rs)
