"""One optimisation step of an ``SSLModel``: eager, or replayed from a captured CUDA graph.

    step = make_step(model, opt, bf16=False, cuda_graph=False)
    loss = step(qa, kb, ids, groups, lr=0.03)   # a 0-dim tensor on the device; not read
    float(loss)                                  # the caller decides when to wait for it

``pretrain`` calls it once per step with the batch already on the model's device, so a
step never waits for the GPU: no host reads, no blocking copies. It returns the loss as a
device tensor; reading it (``float``) is the one sync, and the loop does that only when a
caller asks for per-step losses.

``cuda_graph=True`` (``TrainSettings.cuda_graph``; CUDA only): the first ``WARMUP`` steps
run eagerly on a side stream (they create the optimiser's momentum buffers and let cuDNN
choose its kernels), the next one is captured, with forward, backward, SGD (its learning
rate a device tensor, so schedules work) and MoCo's momentum update and queue write, and
every later step is one ``graph.replay()`` on static input buffers: one launch instead of
hundreds, which is what a batch-16 step on a GPU is bound by. Shapes are static in a
training run (``drop_last`` batches), which is what makes this possible. Anything the
capture cannot take (an encoder with a host sync, another optimiser) makes it fall back
to eager steps with a warning; ``tests/gpu/test_cuda.py`` pins graphed to eager numbers.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

from thetascope.ssl.model import SSLModel
from thetascope.ssl.optim import DenseSGD

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


class EagerStep:
    """Forward, InfoNCE loss, backward and SGD, launched op by op."""

    def __init__(self, model: SSLModel, opt: torch.optim.Optimizer, bf16: bool,
                 autocast_cache: bool = True) -> None:
        self.model, self.opt, self.bf16, self.cache = model, opt, bf16, autocast_cache

    def set_lr(self, lr: float) -> None:
        for g in self.opt.param_groups:
            if isinstance(g["lr"], torch.Tensor):
                g["lr"].fill_(lr)
            else:
                g["lr"] = lr

    def __call__(self, qa: torch.Tensor, kb: torch.Tensor, ids: torch.Tensor,
                 groups: torch.Tensor, lr: float) -> torch.Tensor:
        self.set_lr(lr)
        return self.run(qa, kb, ids, groups)

    def run(self, qa: torch.Tensor, kb: torch.Tensor, ids: torch.Tensor,
            groups: torch.Tensor) -> torch.Tensor:
        device = qa.device.type
        ctx = (torch.autocast(device_type=device, dtype=torch.bfloat16,
                              cache_enabled=self.cache)
               if self.bf16 else contextlib.nullcontext())
        with ctx:
            logits, labels = self.model(qa, kb, ids, groups)
        loss = F.cross_entropy(logits, labels)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()


class GraphedStep:
    """``EagerStep`` captured once as a CUDA graph and replayed (module docstring)."""

    WARMUP = 3

    def __init__(self, model: SSLModel, opt: torch.optim.Optimizer, bf16: bool) -> None:
        # autocast's weight-cast cache must be off: cached casts made outside the capture
        # would be read, and ones made inside freed, behind the graph's back
        self.eager = EagerStep(model, opt, bf16, autocast_cache=False)
        self.device = next(model.parameters()).device
        lr = torch.zeros((), dtype=torch.float32, device=self.device)  # the kernel reads float
        for g in opt.param_groups:  # one device tensor: the captured SGD reads it
            g["lr"] = lr
        self.lr = lr
        # one side stream for warm-up and capture (torch.cuda.make_graphed_callables does the
        # same: the capture then finds the library workspaces warm-up created)
        self.side = torch.cuda.Stream(self.device)
        self.warm = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.static: tuple[torch.Tensor, ...] = ()
        self.loss = torch.zeros((), device=self.device)

    def __call__(self, qa: torch.Tensor, kb: torch.Tensor, ids: torch.Tensor,
                 groups: torch.Tensor, lr: float) -> torch.Tensor:
        self.lr.fill_(lr)
        if self.failed:
            return self.eager.run(qa, kb, ids, groups)
        if self.graph is None and self.warm < self.WARMUP:
            self.warm += 1
            main = torch.cuda.current_stream(self.device)
            self.side.wait_stream(main)
            with torch.cuda.device(self.device), torch.cuda.stream(self.side):
                loss = self.eager.run(qa, kb, ids, groups)
            main.wait_stream(self.side)
            return loss
        if self.graph is None:
            with torch.cuda.device(self.device):  # capture on the model's device
                return self._capture_and_replay(qa, kb, ids, groups)
        for buffer, value in zip(self.static, (qa, kb, ids, groups), strict=True):
            buffer.copy_(value, non_blocking=True)
        self.graph.replay()
        return self.loss.clone()

    def _capture_and_replay(self, qa: torch.Tensor, kb: torch.Tensor, ids: torch.Tensor,
                            groups: torch.Tensor) -> torch.Tensor:
        self.static = tuple(t.clone(memory_format=torch.preserve_format)
                            for t in (qa, kb, ids, groups))
        graph = torch.cuda.CUDAGraph()
        self.eager.opt.zero_grad(set_to_none=True)
        main = torch.cuda.current_stream(self.device)
        torch.cuda.synchronize(self.device)
        try:
            with torch.cuda.graph(graph, stream=self.side):
                self.loss = self.eager.run(*self.static)
        except Exception as exc:  # the capture refused an op: train on, eagerly
            # torch.cuda.graph's exit does not restore the stream when ending the capture
            # raises; and that error ("... during capture") hides the op's own, its context
            torch.cuda.set_stream(main)
            self.failed = True
            self.eager.opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize(self.device)
            cause = f"{exc}" + (f" (after: {exc.__context__})" if exc.__context__ else "")
            warnings.warn(f"CUDA graph capture of the training step failed: {cause}; "
                          "training goes on eagerly (set cuda_graph off to skip the attempt)",
                          RuntimeWarning, stacklevel=3)
            return self.eager.run(qa, kb, ids, groups)
        self.graph = graph
        graph.replay()  # capture records the step's work without running it
        return self.loss.clone()


def make_step(model: SSLModel, opt: torch.optim.Optimizer, bf16: bool,
              cuda_graph: bool) -> Step:
    """The step ``pretrain`` runs: graphed where asked for, on CUDA, with ``DenseSGD``
    (whose fused kernel takes a device learning rate); eager otherwise."""
    device = next(model.parameters()).device
    if cuda_graph and device.type == "cuda" and isinstance(opt, DenseSGD):
        return GraphedStep(model, opt, bf16)
    if cuda_graph and device.type == "cuda":
        warnings.warn("CUDA graph: the step needs the fused SGD optimiser (torch has no fused "
                      "kernel for this device): training eagerly", RuntimeWarning, stacklevel=2)
    return EagerStep(model, opt, bf16)
