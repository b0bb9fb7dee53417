"""Shared fixtures. Tests run single-process; torch uses at most 2 threads."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _private_data_cache(monkeypatch, tmp_path_factory):
    """File datasets cache under $XDG_CACHE_HOME: never the user's own cache in tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
