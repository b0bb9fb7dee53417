"""Shared fixtures. Tests run single-process; torch uses at most 2 threads."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
