"""precision: auto resolves to bf16 only where the hardware has fast bf16, before any cell
key is computed, and explicit values stay as named."""

from __future__ import annotations

import torch

from thetascope import precision
from thetascope.config import load_config


def test_auto_follows_the_cpu_flags(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert precision.fast_bf16(cpu) and precision.resolve("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert precision.fast_bf16(cpu)
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert not precision.fast_bf16(cpu) and precision.resolve("auto", cpu) == "fp32"
    assert precision.resolve("bf16", cpu) == "bf16"  # named values are kept


def test_resolved_config_is_concrete_and_keys_follow_it(monkeypatch):
    cfg = load_config(None)
    assert cfg.ssl.precision == "auto" and cfg.saliency.precision == "auto"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset())
    fp32 = precision.resolve_precision(cfg, torch.device("cpu"))
    assert (fp32.ssl.precision, fp32.saliency.precision) == ("fp32", "fp32")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
    bf16 = precision.resolve_precision(cfg, torch.device("cpu"))
    assert (bf16.ssl.precision, bf16.saliency.precision) == ("bf16", "bf16")
    named = load_config(None, ["ssl.precision=fp32"])
    assert precision.resolve_precision(named, torch.device("cpu")).ssl.precision == "fp32"
    from thetascope.config import fingerprint

    assert fingerprint(fp32) != fingerprint(bf16)
