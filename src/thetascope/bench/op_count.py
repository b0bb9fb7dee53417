"""Count what a piece of torch code would launch on a GPU, and how often it reads a value
back to the host, by running it on the CPU.

    with OpCounter() as ops:
        pretrain(model, images, pair, settings, seed=0)
    ops.kernel_ops        # ops that run a kernel (views, detach, allocations, reads left out)
    ops.scalar_reads      # .item(), float(t), int(t), bool(t): aten._local_scalar_dense
    ops.tolist_reads      # Tensor.tolist of float tensors (dispatches no op: wrapped)
    ops.counts            # every aten op by name

Used by ``benchmarks/launch_count.py`` and ``tests/ssl/test_train_step.py``. A count stands
in for time on a GPU, where a small step is bound by its launches and each host read
drains the queue; it is not a time.
"""

from __future__ import annotations

import collections

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# ops that dispatch but launch no kernel (views are recognised by ``func.is_view``)
NO_KERNEL = frozenset({"aten.detach", "aten.empty", "aten.new_empty", "aten.empty_like",
                       "aten.empty_strided", "aten.lift_fresh", "aten._unsafe_view",
                       "aten.set_"})
SCALAR_READ = "aten._local_scalar_dense"


class OpCounter(TorchDispatchMode):
    """Every aten op dispatched while active, by name, plus ``Tensor.tolist`` reads of float
    tensors (int64 ones are host-side index lists, such as an epoch's order)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()
        self.kernel_counts: collections.Counter[str] = collections.Counter()
        self.tolist_reads = 0
        self._tolist = torch.Tensor.tolist

    def __enter__(self):
        original = self._tolist

        def tolist(t: torch.Tensor):
            if t.is_floating_point():
                self.tolist_reads += 1
            return original(t)

        torch.Tensor.tolist = tolist  # type: ignore[method-assign]
        return super().__enter__()

    def __exit__(self, *exc):
        torch.Tensor.tolist = self._tolist  # type: ignore[method-assign]
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        self.counts[name] += 1
        if not (func.is_view or name in NO_KERNEL or name == SCALAR_READ):
            self.kernel_counts[name] += 1
        return func(*args, **(kwargs or {}))

    @property
    def kernel_ops(self) -> int:
        return sum(self.kernel_counts.values())

    @property
    def scalar_reads(self) -> int:
        return self.counts[SCALAR_READ]

    @property
    def host_reads(self) -> int:
        return self.scalar_reads + self.tolist_reads
