"""The dataset registry: every name ``data.datasets`` accepts, built-in or brought along.

Bring arrays (or a function that returns them) from a script or a notebook, then name the
dataset in a config::

    from thetascope.data.catalog import register_dataset

    register_dataset("discs", (images, masks))                 # (N, H, W) arrays
    register_dataset("discs", {"images": x, "masks": m, "groups": vols, "ids": names})

    @register_dataset("scans")                                 # a loader, called per run
    def load_scans(split="train"):                             # data.datasets[i].options
        return {"images": ..., "masks": ..., "groups": ...}

    cfg = load_config("smoke", ["data.datasets=[discs]"])      # or [{kind: scans,
                                                               #      options: {split: val}}]
    with registered_dataset("tmp", (images, masks)):           # undone on exit
        ...
    dataset_names()          # ('mri-lesion', 'ct-nodule', ..., 'auto', 'discs', 'scans')

What a loader may return, and the checks that run on it: ``data/inmemory.py``. Arrays
given directly are checked when registered; a loader's result each time it is loaded.
A registered dataset goes through the same preprocessing (``data.image_size``, crop,
intensity scaling), SSP/evaluation split, degenerate-image screening and data fingerprint
(each cell's identity hashes the arrays) as the built-ins; it is never cached on disk (it
is in memory already; ``data.cache`` applies to file datasets).

The built-in kinds (``mri-lesion``, ``folder``, ``brats``, ...) are registered through the
same function, with their config model (``spec``): their loader gets ``(spec, LoadOptions)``
and returns a ``RawSet``. An installed package adds datasets through the
``thetascope.datasets`` entry point group, read on the registry's first lookup (``DATASETS``,
a ``thetascope.registry.Registry``, holds that lifecycle). A dataset registered in a script
exists in that process only: a report regenerated later from another process cannot redraw
its images.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from thetascope.data.builtin import RawSet
from thetascope.data.inmemory import as_rawset
from thetascope.data.problems import DataError, LoadOptions
from thetascope.registry import Registry

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset kind. ``load(spec, opts)`` gives its ``RawSet``; ``cached``:
    preprocessed once into the on-disk cache (file datasets); ``spec``: the config model of a
    built-in layout (None: ``RegisteredSpec``); ``origin``: builtin, entry point or runtime."""

    name: str
    load: Callable[[Any, LoadOptions], RawSet]
    cached: bool = False
    spec: type | None = None
    description: str = ""
    origin: str = "runtime"


DATASETS: Registry[DatasetEntry] = Registry(
    "dataset", "thetascope.datasets", lambda: _builtins(),
    "add one with thetascope.register_dataset",
    error=DataError, sort_names=False, fixed_builtins=True)


def register_dataset(name: str, loader: Any = None, *, description: str = "",
                     replace: bool = False, spec: type | None = None, cached: bool = False,
                     origin: str = "runtime"):
    """Register ``loader`` (a callable, or the data itself) under ``name``; without
    ``loader``, a decorator. Returns ``loader``.

    ``loader``: a callable called with the dataset's ``options`` as keyword arguments, or
    the data itself (``(images, masks)``, a dict, a ``RawSet``; checked now). ``spec`` and
    ``cached`` are for the built-in layouts (a loader ``(spec, LoadOptions) -> RawSet``).
    A name already registered is refused unless ``replace=True`` (a built-in never is).
    """
    if loader is None:
        return lambda f: register_dataset(name, f, description=description, replace=replace,
                                          spec=spec, cached=cached, origin=origin)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"dataset name {name!r}: use letters, digits and '_', '-', '.', "
                         "'+' (at most 64, starting with a letter or digit), e.g. 'my-scans'")
    DATASETS.check_free(name, replace)
    if spec is not None:
        load = loader
    elif callable(loader):
        load = _from_function(name, loader, description)
    else:
        raw = as_rawset(loader, name, description)  # arrays given now: checked now
        load = _from_data(name, raw)
    DATASETS.add(DatasetEntry(name, load, cached, spec, description), replace, origin=origin)
    return loader


def _from_function(name: str, fn: Callable[..., Any], description: str):
    def load(spec, opts: LoadOptions | None = None) -> RawSet:
        options = dict(getattr(spec, "options", None) or {})
        try:
            result = fn(**options)
        except TypeError as exc:
            if options and "argument" in str(exc):
                raise DataError(f"dataset '{name}': its loader does not take the options "
                                f"{options} ({exc}); fix data.datasets[...].options") from None
            raise
        return as_rawset(result, name, description)

    return load


def _from_data(name: str, raw: RawSet):
    def load(spec, opts: LoadOptions | None = None) -> RawSet:
        if getattr(spec, "options", None):
            raise DataError(f"dataset '{name}' was registered as arrays, which take no "
                            "options; remove data.datasets[...].options (or register a "
                            "loader function)")
        return raw

    return load


def unregister_dataset(name: str) -> None:
    """Remove a dataset registered at run time (built-ins stay)."""
    DATASETS.remove(name)


@contextlib.contextmanager
def registered_dataset(name: str, loader: Any, **kwargs) -> Iterator[DatasetEntry]:
    """``register_dataset`` for the ``with`` block only."""
    with DATASETS.registered(name, lambda: register_dataset(name, loader, **kwargs)) as entry:
        yield entry


def dataset_names() -> tuple[str, ...]:
    """Every registered dataset kind: the built-ins first, then the others in order."""
    return tuple(DATASETS.names())


def get_dataset(name: str) -> DatasetEntry:
    """The registered dataset ``name``, or a ``DataError`` that lists the registered ones."""
    return DATASETS.get(name)


def unknown_dataset(name: str) -> str:
    return DATASETS.unknown(name)


def _layout(module: str, function: str) -> Callable[..., RawSet]:
    """A built-in layout loader, imported on first use (nibabel, pandas: only when needed)."""
    def load(spec, opts: LoadOptions | None = None) -> RawSet:
        return getattr(importlib.import_module(f"thetascope.data.{module}"), function)(
            spec, opts)

    return load


def _builtins() -> None:
    """Register the built-in kinds (``DATASETS`` calls this once, on first use)."""
    from thetascope.config import datasets as c
    from thetascope.data.builtin import load_builtin_arrays
    from thetascope.data.folder import load_folder

    def phantom(s, o=None):
        return load_builtin_arrays(s.kind, count=s.count, size=s.size, seed=s.seed)

    def auto(s, o=None):
        from thetascope.data.detect import resolve_spec

        spec = resolve_spec(s)
        return get_dataset(spec.kind).load(spec, o)

    def folder(s, o=None):
        return load_folder(s.root, s.image_dir, s.mask_dir, s.mask_threshold, o)

    def ct(s, o=None):
        return load_builtin_arrays("ct-nodule", window_center=s.window_center,
                                   window_width=s.window_width)

    for name, load, spec, cached in (
        ("mri-lesion", lambda s, o=None: load_builtin_arrays("mri-lesion"), c.MRILesionSpec,
         False),
        ("ct-nodule", ct, c.CTNoduleSpec, False),
        ("phantom-cxr", phantom, c.PhantomSpec, False),
        ("phantom-polyp", phantom, c.PhantomSpec, False),
        ("folder", folder, c.FolderSpec, True),
        ("brats", _layout("brats", "load_brats"), c.BratsSpec, True),
        ("lung", _layout("lung", "load_lung"), c.LungSpec, True),
        ("kvasir", _layout("kvasir", "load_kvasir"), c.KvasirSpec, True),
        ("manifest", _layout("manifest", "load_manifest"), c.ManifestSpec, True),
        ("auto", auto, c.AutoSpec, False),
    ):
        register_dataset(name, load, spec=spec, cached=cached, origin="builtin",
                         description=spec.__doc__.strip().splitlines()[0])
