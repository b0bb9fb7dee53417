"""Executors: run tasks in this process, in N worker processes, or on a Ray cluster.

All three share one interface and the driver alone writes results:

    ex = create_executor(cfg.runtime)              # local | process | ray
    ex.run(tasks, ctx, on_result, on_error, monitor)

Each worker sets torch's thread count to its CPU allocation (``runtime.cpus_per_task``;
the whole machine for ``local``): oversubscribed torch runs 10–40× slower on small
machines. Ray tasks declare CPUs and GPUs, so a cell that asks for a GPU is never placed
on a node without one, and are retried (``runtime.max_retries``) when their worker dies.

Every executor turns any ``Exception`` raised in a task into ``on_error(task, exc)``: one
failed cell, whose traceback the driver writes to run.log (the process and Ray executors
carry the worker's traceback in the exception). ``KeyboardInterrupt`` and ``SystemExit``
are not ``Exception`` and still stop the run.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Protocol

import torch

from thetascope.config import RuntimeConfig
from thetascope.sweep.work import Task, TaskResult, WorkContext, execute

OnResult = Callable[[Task, TaskResult], None]
OnError = Callable[[Task, BaseException], None]


class Monitor(Protocol):
    """Progress sink: what the driver shows while tasks run."""

    def started(self, task: Task) -> None: ...
    def step(self, task: Task, step: int, loss: float) -> None: ...
    def saliency(self, task: Task, done: int, total: int) -> None: ...


class LocalExecutor:
    """Tasks one after another in this process (live per-step progress)."""

    name = "local"

    def run(self, tasks: list[Task], ctx: WorkContext, on_result: OnResult,
            on_error: OnError, monitor: Monitor | None = None) -> None:
        for task in tasks:
            if monitor:
                monitor.started(task)
            step_cb = (lambda s, loss, t=task: monitor.step(t, s, loss)) if monitor else None
            sal_cb = (lambda d, n, t=task: monitor.saliency(t, d, n)) if monitor else None
            try:
                result = execute(task, ctx, step_cb, sal_cb)
            except Exception as exc:  # any error in a cell fails that cell alone
                on_error(task, exc)
                continue
            on_result(task, result)


_WORKER_CTX: WorkContext | None = None


def _init_worker(ctx: WorkContext, threads: int) -> None:
    global _WORKER_CTX
    torch.set_num_threads(threads)
    _WORKER_CTX = ctx


def _run_in_worker(task: Task) -> TaskResult:
    assert _WORKER_CTX is not None, "worker not initialised"
    return execute(task, _WORKER_CTX)


class ProcessExecutor:
    """A pool of N spawned worker processes on this machine, each with its own threads."""

    name = "process"

    def __init__(self, workers: int, threads_per_worker: int) -> None:
        self.workers, self.threads = workers, threads_per_worker

    def run(self, tasks: list[Task], ctx: WorkContext, on_result: OnResult,
            on_error: OnError, monitor: Monitor | None = None) -> None:
        if not tasks:
            return
        with cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                    initializer=_init_worker,
                                    initargs=(ctx, self.threads)) as pool:
            futures = {pool.submit(_run_in_worker, t): t for t in tasks}
            if monitor:
                for t in tasks[: self.workers]:
                    monitor.started(t)
            for fut in cf.as_completed(futures):
                task = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # a worker's failure is one failed task
                    on_error(task, exc)
                    continue
                on_result(task, result)


# Test-only fault injection (docs/RELIABILITY.md): when this variable names a file that does
# not exist yet, the first Ray task to reach its second training step creates the file and
# ends its worker process abruptly (os._exit), as a worker killed mid-cell would be; Ray
# then retries the task (runtime.max_retries). Unset, it costs one dictionary lookup.
FAULT_WORKER_EXIT = "THETASCOPE_FAULT_WORKER_EXIT"


def _fault_hook(key: str) -> Callable[[int, float], None] | None:
    marker = os.environ.get(FAULT_WORKER_EXIT)
    if not marker:
        return None

    def on_step(step: int, loss: float) -> None:
        if step < 1:
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # another attempt already died: carry on
            return
        os.write(fd, f"{key} {os.getpid()}\n".encode())
        os.close(fd)
        os._exit(1)

    return on_step


def _ray_execute(task: Task, ctx: WorkContext, threads: int,
                 pretrained: tuple[dict, list[float]] | None) -> TaskResult:
    torch.set_num_threads(threads)
    if pretrained is not None:
        task = Task(task.kind, task.key, task.cell, pretrained)
    return execute(task, ctx, _fault_hook(task.key))


class RayExecutor:
    """Each task a Ray task with declared resources; results come back to the driver."""

    name = "ray"

    def __init__(self, address: str, cpus: int, gpus: float, max_retries: int) -> None:
        self.address, self.cpus, self.gpus, self.max_retries = address, cpus, gpus, max_retries

    def run(self, tasks: list[Task], ctx: WorkContext, on_result: OnResult,
            on_error: OnError, monitor: Monitor | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError(
                "executor=ray needs Ray: pip install 'thetascope[ray]' (or 'ray[default]')"
            ) from None
        if not tasks:
            return
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        try:
            remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus,
                                max_retries=self.max_retries)(_ray_execute)
            ctx_ref = ray.put(ctx)
            shared: dict[int, object] = {}  # one object-store copy per pre-trained model
            pending = {}
            for t in tasks:
                ref = None
                if t.pretrained is not None:
                    if id(t.pretrained) not in shared:
                        shared[id(t.pretrained)] = ray.put(t.pretrained)
                    ref = shared[id(t.pretrained)]
                light = Task(t.kind, t.key, t.cell, None)
                pending[remote.remote(light, ctx_ref, self.cpus, ref)] = t
            if monitor:
                for t in tasks:
                    monitor.started(t)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                task = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # RayTaskError, WorkerCrashedError after retries
                    on_error(task, exc)
                    continue
                on_result(task, result)
        finally:
            if started_here:
                ray.shutdown()


def create_executor(rt: RuntimeConfig) -> LocalExecutor | ProcessExecutor | RayExecutor:
    if rt.executor == "process":
        return ProcessExecutor(rt.workers, rt.cpus_per_task)
    if rt.executor == "ray":
        gpus = rt.gpus_per_task if rt.gpus_per_task or rt.device != "cuda" else 1.0
        return RayExecutor(rt.address, rt.cpus_per_task, gpus, rt.max_retries)
    return LocalExecutor()
