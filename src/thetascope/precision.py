"""``precision: auto``: bf16 where the hardware computes it fast, fp32 elsewhere.

    fast_bf16(torch.device("cpu"))           # True on a CPU with AMX or AVX-512 BF16
    cfg = resolve_precision(cfg, device)     # "auto" fields replaced by "bf16" or "fp32"

bf16 autocast with channels_last trained ResNets 1.6–2.1× faster than fp32 on these
machines' CPUs that have AMX or AVX-512 BF16 (docs/PERFORMANCE.md) and ≥ 1.5× on a GPU;
without those instructions bf16 is emulated and slower than fp32. The resolved value, not
"auto", enters each cell's identity, so cells computed in bf16 are never mixed with fp32
ones; it is resolved on the machine that runs ``thetascope run`` (with Ray, the driver's).
The quality checks behind the choice (bf16 loss curves within 0.35–1.3 % of fp32, maps
correlating ≈ 0.99 with fp32 maps) are rows of ``thetascope bench``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:  # not Linux: no flags known, so no claim of fast bf16
        pass
    return frozenset()


def fast_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CPU: AMX or AVX-512 BF16; CUDA: bf16)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return any(f in _cpu_flags() for f in BF16_CPU_FLAGS)
    return False


def resolve(value: str, device: torch.device) -> str:
    return ("bf16" if fast_bf16(device) else "fp32") if value == "auto" else value


def resolve_precision(cfg, device: torch.device):
    """A copy of ``cfg`` whose ``ssl.precision`` and ``saliency.precision`` are concrete."""
    s, sal = resolve(cfg.ssl.precision, device), resolve(cfg.saliency.precision, device)
    if (s, sal) == (cfg.ssl.precision, cfg.saliency.precision):
        return cfg
    return cfg.model_copy(update={"ssl": cfg.ssl.model_copy(update={"precision": s}),
                                  "saliency": cfg.saliency.model_copy(
                                      update={"precision": sal})})
