"""SmoothGrad maps/s against Captum's NoiseTunnel(Saliency) on the same model and images.

Same target (cosine similarity of the two views' embeddings, gradients to both), same
samples, σ and chunking; images are scaled to a range of exactly 1 so Captum's single σ
per input equals thetascope's per-image σ. Each variant runs in a fresh process so its
peak RSS is its own, the three alternate over a few rounds and keep their best time (one
shot each moved the fp32 ratio between 0.91 and 1.30 on this VM). Maps are compared
exactly with zero noise (the noise draws differ by construction), and by correlation
with noise.

    rows = bench_smoothgrad(size=128, n_images=8, samples=16)
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time

import numpy as np
import torch

from thetascope.bench.common import Row


def _setup(size: int, n: int):
    from thetascope.ssl.moco import MoCo
    from thetascope.ssl.pairs import make_pair

    torch.manual_seed(0)
    model = MoCo("resnet18", dim=128, K=16).eval()
    x = torch.rand(n, 3, size, size)
    flat = x.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    x = (x - lo) / (hi - lo)  # every image spans exactly [0, 1]
    a, r = make_pair(x, 30.0, circle=False)
    return model, a, r


def _ours(size, n, samples, noise, chunk, precision):
    from thetascope.saliency.smoothgrad import SmoothGradSettings, smoothgrad_pair
    from thetascope.saliency.targets import pair_cosine

    model, a, r = _setup(size, n)
    s = SmoothGradSettings(samples=samples, noise_level=noise, chunk_size=chunk * n,
                           precision=precision)
    target = pair_cosine(model.embed)
    smoothgrad_pair(target, a[:1], r[:1], SmoothGradSettings(samples=1))  # warm-up
    t0 = time.perf_counter()
    mx, mr = smoothgrad_pair(target, a, r, s)
    return time.perf_counter() - t0, mx.numpy(), mr.numpy()


def _captum(size, n, samples, noise, chunk, precision):
    from captum.attr import NoiseTunnel, Saliency

    from thetascope.saliency.targets import pair_cosine

    model, a, r = _setup(size, n)
    target = pair_cosine(model.embed)
    nt = NoiseTunnel(Saliency(target))
    Saliency(target).attribute((a[:1], r[:1]), abs=False)  # warm-up
    t0 = time.perf_counter()
    if noise == 0:  # NoiseTunnel adds noise even at σ = 0; plain gradients are the same
        gx, gr = Saliency(target).attribute((a, r), abs=False)
    else:
        gx, gr = nt.attribute((a, r), nt_type="smoothgrad", nt_samples=samples,
                              stdevs=(noise, noise), nt_samples_batch_size=chunk, abs=False)
    mx = (gx * a).abs().amax(1)
    mr = (gr * r).abs().amax(1)
    return time.perf_counter() - t0, mx.detach().numpy(), mr.detach().numpy()


def _reset_peak() -> None:
    """Forget the inherited high-water mark (ru_maxrss survives fork and exec on Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind, args, queue):
    _reset_peak()
    torch.set_num_threads(queue_threads := args[-1])
    fn = _ours if kind == "ours" else _captum
    secs, mx, mr = fn(*args[:-1])
    queue.put((secs, mx, mr, _peak_mb(), queue_threads))


def _run(kind: str, *args) -> tuple[float, np.ndarray, np.ndarray, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(kind, (*args, torch.get_num_threads()), q))
    p.start()
    secs, mx, mr, peak, _ = q.get()
    p.join()
    return secs, mx, mr, peak


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def bench_smoothgrad(size: int = 128, n_images: int = 8, samples: int = 16,
                     chunk: int = 4, rounds: int = 3) -> list[Row]:
    """Captum, thetascope fp32 and bf16 alternate for ``rounds`` rounds (a fresh process
    each); each keeps its best time and its highest peak RSS."""
    args = (size, n_images, samples, 0.15, chunk)
    best: dict[str, tuple] = {}
    for _ in range(rounds):
        for name, kind, precision in (("captum", "captum", "fp32"), ("fp32", "ours", "fp32"),
                                      ("bf16", "ours", "bf16")):
            secs, mx, mr, peak = _run(kind, *args, precision)
            old = best.get(name)
            best[name] = (min(secs, old[0]) if old else secs, mx, mr,
                          max(peak, old[3]) if old else peak)
    t_c, cx, cr, mem_c = best["captum"]
    t_o, ox, orr, mem_o = best["fp32"]
    t_b, bx, br, mem_b = best["bf16"]
    _, zx, zr, _ = _run("ours", size, n_images, 1, 0.0, chunk, "fp32")
    _, zcx, zcr, _ = _run("captum", size, n_images, 1, 0.0, chunk, "fp32")
    exact = float(max(np.abs(zx - zcx).max(), np.abs(zr - zcr).max()))
    rate = lambda t: n_images / t  # noqa: E731 - maps (image pairs) per second
    base = f"captum NoiseTunnel(Saliency), {size}px, {n_images} images, {samples} samples"
    return [
        Row("SmoothGrad fp32", base, rate(t_c), rate(t_o), "map pairs/s", 1.0,
            notes={"peak_rss_mb": round(mem_o, 1), "captum_peak_rss_mb": round(mem_c, 1),
                   "max_abs_diff_no_noise": exact,
                   "scale_of_maps": float(np.abs(zcx).max()),
                   "correlation_with_captum_maps": round(_corr(ox, cx), 4)}),
        Row("SmoothGrad bf16 autocast", base + " (fp32)", rate(t_c), rate(t_b), "map pairs/s",
            1.8, notes={"peak_rss_mb": round(mem_b, 1),
                        "correlation_with_fp32_maps": round(_corr(bx, ox), 4)}),
    ]
