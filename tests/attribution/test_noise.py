"""SmoothGrad's noise: a function of (seed, row) whatever the chunking, standard normal,
independent between views unless shared. The CUDA scheme (fixed blocks of rows) is plain
torch and runs here on the CPU; tests/gpu covers the device."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from thetascope.attribution.noise import BLOCK_ROWS, block_rows, row_noise

SHAPE = (3, 6, 6)


@pytest.mark.parametrize("draw", [row_noise, block_rows], ids=["per-row (CPU)", "blocks (CUDA)"])
@pytest.mark.parametrize("pairing", ["independent", "shared"])
def test_rows_do_not_depend_on_the_chunking(draw, pairing: str) -> None:
    whole = draw(7, 0, 3 * BLOCK_ROWS + 5, SHAPE, pairing)
    # the memory probe's single row, a chunk across a block boundary, the rest
    cuts = [(0, 1), (1, BLOCK_ROWS + 3), (BLOCK_ROWS + 4, 2 * BLOCK_ROWS + 1)]
    parts = [draw(7, start, count, SHAPE, pairing) for start, count in cuts]
    for view in (0, 1):
        assert torch.equal(torch.cat([p[view] for p in parts]), whole[view])


@pytest.mark.parametrize("draw", [row_noise, block_rows], ids=["per-row", "blocks"])
def test_views_are_independent_unless_shared(draw) -> None:
    ex, er = draw(1, 0, 64, SHAPE, "independent")
    assert abs(stats.pearsonr(ex.flatten(), er.flatten())[0]) < 0.02
    sx, sr = draw(1, 0, 64, SHAPE, "shared")
    assert torch.equal(sx, sr)
    assert not torch.equal(draw(2, 0, 64, SHAPE, "shared")[0], sx)  # another seed


def test_blocks_are_standard_normal_and_rows_uncorrelated() -> None:
    ex, _ = block_rows(3, 0, 4 * BLOCK_ROWS, (3, 16, 16), "shared")
    values = ex.flatten().double().numpy()
    assert abs(values.mean()) < 0.01 and abs(values.std() - 1) < 0.01
    assert stats.kstest(values, "norm").pvalue > 0.01  # fixed seed: not flaky
    # neighbouring rows, inside a block and across its boundary
    for a, b in ((0, 1), (BLOCK_ROWS - 1, BLOCK_ROWS)):
        assert abs(stats.pearsonr(ex[a].flatten(), ex[b].flatten())[0]) < 0.1


def test_no_rows() -> None:
    ex, er = block_rows(0, 5, 0, SHAPE, "independent")
    assert ex.shape == er.shape == (0, *SHAPE)
