"""SmoothGrad maps/s against Captum's NoiseTunnel(Saliency) on the same model and images.

Same target (cosine similarity of the two views' embeddings, gradients to both), same
samples, σ and chunking; images are scaled to a range of exactly 1 so Captum's single σ
per input equals thetascope's per-image σ. Each variant runs in a fresh process so its
peak RSS is its own, the three alternate over a few rounds and keep their best time (one
shot each moved the fp32 ratio between 0.91 and 1.30 on this VM). thetascope runs as a
sweep cell does, on a BN-folded copy of the encoder (``attribution/inference.py``), so maps
are equal to float32 rounding, not bitwise. "Within float tolerance" is measured, not
assumed: with zero noise (the noise draws differ by construction) both maps are compared
with the same map computed in float64, and thetascope's largest error (relative to the
map's maximum) may be at most ``MAP_TOLERANCE`` times Captum's own. Gradients of this
untrained network are ill-conditioned (float32 itself errs by ≈ 1e-2 of the maximum at a
few pixels), so a fixed threshold would say little. With noise, maps are compared by
correlation. On a GPU both run there and memory is the peak of CUDA allocations.

    rows = bench_smoothgrad(size=128, n_images=8, samples=16)
    rows = bench_smoothgrad(size=224, n_images=32, samples=32, device="cuda")
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time

import numpy as np
import torch

from thetascope.bench.common import Row, sync

MAP_TOLERANCE = 2.0  # no-noise maps: ours' error against float64 ≤ this × Captum's own


def _setup(size: int, n: int, device: str = "cpu"):
    from thetascope.ssl.moco import MoCo
    from thetascope.ssl.pairs import make_pair

    torch.manual_seed(0)
    model = MoCo("resnet18", dim=128, K=16).eval().to(device)
    x = torch.rand(n, 3, size, size)
    flat = x.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    x = (x - lo) / (hi - lo)  # every image spans exactly [0, 1]
    a, r = make_pair(x, 30.0, circle=False)
    return model, a.to(device), r.to(device)


def _done(t0: float, device: str) -> float:
    """Seconds since ``t0``, after the device's queued work."""
    sync(torch.device(device))
    return time.perf_counter() - t0


def _ours(size, n, samples, noise, chunk, precision, device="cpu"):
    from thetascope.attribution.inference import SaliencyEncoder
    from thetascope.attribution.smoothgrad import SmoothGradSettings, smoothgrad_pair
    from thetascope.attribution.targets import pair_cosine

    model, a, r = _setup(size, n, device)
    s = SmoothGradSettings(samples=samples, noise_level=noise, chunk_size=chunk * n,
                           precision=precision, memory_budget_mb=0)
    # as a sweep cell does it (sweep/cell.py): BN folded; NHWC with bf16
    target = pair_cosine(SaliencyEncoder(model.query_encoder(), channels_last=precision == "bf16"))
    if device == "cuda":  # kernels are picked and loaded per shape on first use
        smoothgrad_pair(target, a, r, s)
    else:
        smoothgrad_pair(target, a[:1], r[:1], SmoothGradSettings(samples=1))  # warm-up
    t0 = time.perf_counter()
    mx, mr = smoothgrad_pair(target, a, r, s)
    secs = _done(t0, device)
    return secs, mx.cpu().numpy(), mr.cpu().numpy()


def _captum(size, n, samples, noise, chunk, precision, device="cpu"):
    from captum.attr import NoiseTunnel, Saliency

    from thetascope.attribution.targets import pair_cosine

    model, a, r = _setup(size, n, device)
    target = pair_cosine(model.embed)
    nt = NoiseTunnel(Saliency(target))
    Saliency(target).attribute((a[:1], r[:1]), abs=False)  # warm-up
    if device == "cuda" and noise:
        nt.attribute((a, r), nt_type="smoothgrad", nt_samples=samples,
                     stdevs=(noise, noise), nt_samples_batch_size=chunk, abs=False)
    t0 = time.perf_counter()
    if noise == 0:  # NoiseTunnel adds noise even at σ = 0; plain gradients are the same
        gx, gr = Saliency(target).attribute((a, r), abs=False)
    else:
        gx, gr = nt.attribute((a, r), nt_type="smoothgrad", nt_samples=samples,
                              stdevs=(noise, noise), nt_samples_batch_size=chunk, abs=False)
    mx = (gx * a).abs().amax(1)
    mr = (gr * r).abs().amax(1)
    secs = _done(t0, device)
    return secs, mx.detach().cpu().numpy(), mr.detach().cpu().numpy()


def _float64_maps(size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """No-noise maps of the benchmark's model and images, computed in float64."""
    import copy

    import torch.nn.functional as F

    from thetascope.attribution.targets import pair_cosine

    model, a, r = _setup(size, n)
    net = copy.deepcopy(model.query_encoder()).double()
    a, r = a.double().requires_grad_(True), r.double().requires_grad_(True)
    gx, gr = torch.autograd.grad(pair_cosine(lambda z: F.normalize(net(z), dim=1))(a, r).sum(),
                                 [a, r])
    return ((gx * a).abs().amax(1).detach().numpy(), (gr * r).abs().amax(1).detach().numpy())


def _rel_err(mx: np.ndarray, mr: np.ndarray, ref: tuple[np.ndarray, np.ndarray]) -> float:
    """Largest |map − reference| over both views, relative to the reference's maximum."""
    scale = max(np.abs(ref[0]).max(), np.abs(ref[1]).max())
    return float(max(np.abs(mx - ref[0]).max(), np.abs(mr - ref[1]).max()) / scale)


def _reset_peak() -> None:
    """Forget the inherited high-water mark (ru_maxrss survives fork and exec on Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_mb(device: str = "cpu") -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind, args, device, threads, queue):
    _reset_peak()
    torch.set_num_threads(threads)
    fn = _ours if kind == "ours" else _captum
    secs, mx, mr = fn(*args, device=device)
    queue.put((secs, mx, mr, _peak_mb(device)))


def _run(kind: str, *args, device: str = "cpu") -> tuple[float, np.ndarray, np.ndarray, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(kind, args, device, torch.get_num_threads(), q))
    p.start()
    secs, mx, mr, peak = q.get()
    p.join()
    return secs, mx, mr, peak


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def bench_smoothgrad(size: int = 128, n_images: int = 8, samples: int = 16,
                     chunk: int = 4, rounds: int = 3, device: str = "cpu") -> list[Row]:
    """Captum, thetascope fp32 and bf16 alternate for ``rounds`` rounds (a fresh process
    each); each keeps its best time and its highest peak memory (RSS on the CPU, CUDA
    allocations on a GPU)."""
    args = (size, n_images, samples, 0.15, chunk)
    best: dict[str, tuple] = {}
    for _ in range(rounds):
        for name, kind, precision in (("captum", "captum", "fp32"), ("fp32", "ours", "fp32"),
                                      ("bf16", "ours", "bf16")):
            secs, mx, mr, peak = _run(kind, *args, precision, device=device)
            old = best.get(name)
            best[name] = (min(secs, old[0]) if old else secs, mx, mr,
                          max(peak, old[3]) if old else peak)
    t_c, cx, cr, mem_c = best["captum"]
    t_o, ox, orr, mem_o = best["fp32"]
    t_b, bx, br, mem_b = best["bf16"]
    _, zx, zr, _ = _run("ours", size, n_images, 1, 0.0, chunk, "fp32", device=device)
    _, zcx, zcr, _ = _run("captum", size, n_images, 1, 0.0, chunk, "fp32", device=device)
    exact = float(max(np.abs(zx - zcx).max(), np.abs(zr - zcr).max()))
    ref = _float64_maps(size, n_images)
    err, err_c = _rel_err(zx, zr, ref), _rel_err(zcx, zcr, ref)
    rate = lambda t: n_images / t  # noqa: E731 - maps (image pairs) per second
    base = f"captum NoiseTunnel(Saliency), {size}px, {n_images} images, {samples} samples"
    mem = "peak_rss_mb" if device == "cpu" else "peak_cuda_allocated_mb"
    return [
        Row("SmoothGrad fp32", base, rate(t_c), rate(t_o), "map pairs/s", 1.0,
            notes={mem: round(mem_o, 1), f"captum_{mem}": round(mem_c, 1), "device": device,
                   "max_abs_diff_no_noise": exact,
                   "max_rel_err_vs_float64_no_noise": err,
                   "captum_max_rel_err_vs_float64_no_noise": err_c,
                   "map_tolerance": f"≤ {MAP_TOLERANCE}× Captum's float64 error",
                   "maps_within_tolerance": err <= MAP_TOLERANCE * err_c,
                   "scale_of_maps": float(np.abs(zcx).max()),
                   "correlation_with_captum_maps": round(_corr(ox, cx), 4)}),
        Row("SmoothGrad bf16 autocast", base + " (fp32)", rate(t_c), rate(t_b), "map pairs/s",
            1.8, notes={mem: round(mem_b, 1), "device": device,
                        "correlation_with_fp32_maps": round(_corr(bx, ox), 4)}),
    ]
