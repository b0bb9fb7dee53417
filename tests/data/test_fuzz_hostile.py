"""Property-based fuzzing of what a new user feeds thetascope (Hypothesis; issue 20).

The property, for generated config overrides, folder datasets and manifests: every
``thetascope data inspect`` / ``thetascope run`` either exits 0 with consistent outputs, or
exits 2 with one line ``error: …`` naming the file or field; never a traceback, and never an
exit 0 whose scores come from degenerate data (a full or off-circle mask, a flat image).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/data/test_fuzz_hostile.py -m "not slow"
    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/data/test_fuzz_hostile.py -m slow

Two profiles, both derandomized (the same examples on every machine, so CI is reproducible):
``FAST`` runs with the normal tests (≈ 30 s on 2 cores); ``LONG`` (``@pytest.mark.slow``)
draws more and larger inputs (images up to 2048 px, more runs). The CLI is called in-process
(typer's ``CliRunner``), the same code path as the console script.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz_inputs import (
    FileSpec,
    fuzz_folder,
    fuzz_manifest,
    override_lists,
    runnable_folder,
    write_folder,
)
from thetascope.config import (
    AutoSpec,
    ConfigError,
    DataConfig,
    config_from_dict,
    dump_config,
    fingerprint,
    load_config,
)
from thetascope.data.problems import DataError, displayable

_BASE = dict(deadline=None, derandomize=True, database=None, print_blob=True,
             suppress_health_check=list(HealthCheck))
# (examples) per property: FAST in every test run, LONG under the slow marker
PROFILES = {
    "FAST": {"config": 300, "cli_config": 10, "inspect": 40, "manifest": 30, "run": 4,
             "bytes": 150, "side": 300},
    "LONG": {"config": 3000, "cli_config": 40, "inspect": 300, "manifest": 300, "run": 30,
             "bytes": 2000, "side": 2048},
}
RUN_ARGS = ["-s", "sweep.thetas=[0]", "-s", "ssl.steps=1", "-s", "ssl.batch_size=2",
            "-s", "ssl.split_bn=1", "-s", "data.image_size=16", "-s", "data.max_eval_images=3",
            "-s", "runtime.threads=1", "-s", "orient.enabled=false",
            "-s", "analysis.enabled=false", "-s", "saliency.samples=1",
            "-s", "saliency.gallery_images=1"]


def _invoke(*args: str):
    from typer.testing import CliRunner

    from thetascope.cli import app

    return CliRunner().invoke(app, list(args))


SEEN: Counter = Counter()  # outcomes per property: a property must not pass vacuously


def outcome(res, what: str = "") -> str:
    """'ok' (exit 0) or 'refused' (exit 2, one 'error:' line); anything else fails."""
    assert "Traceback" not in res.output, res.output
    if res.exit_code == 0:
        assert res.exception is None, repr(res.exception)
        SEEN[what, "ok"] += 1
        return "ok"
    SEEN[what, "refused"] += 1
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), (
        res.exit_code, repr(res.exception), res.output[-2000:])
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, res.stderr
    if errors[0].startswith("error: invalid config (") and errors[0].endswith(":"):
        assert all(line.startswith("  ") for line in res.stderr.splitlines()[1:] if line)
    return "refused"


# --------------------------------------------------------------------------- config
def _config_property(overrides: list[str]) -> None:
    try:
        cfg = load_config("smoke", overrides)
    except ConfigError as exc:
        assert str(exc).strip(), overrides
        return
    thetas = cfg.sweep.thetas
    assert all(0 <= t < 360 for t in thetas) and len(set(thetas)) == len(thetas)
    again = config_from_dict(yaml.safe_load(dump_config(cfg)))  # a resolved config reloads
    assert fingerprint(again) == fingerprint(cfg)


def test_config_overrides_fast():
    settings(max_examples=PROFILES["FAST"]["config"], **_BASE)(
        given(override_lists())(_config_property))()


@pytest.mark.slow
def test_config_overrides_long():
    settings(max_examples=PROFILES["LONG"]["config"], **_BASE)(
        given(override_lists(max_size=8))(_config_property))()


def _cli_config(tmp_path: Path, n: int) -> None:
    """Generated overrides through `data inspect CONFIG` (built-in data, no training)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  datasets:\n    - kind: phantom-polyp\n      count: 6\n"
                   "      size: 32\n")
    SEEN.clear()

    @settings(max_examples=n, **_BASE)
    @given(override_lists(max_size=2))
    @example(["data.image_size=32"])
    @example(["data.datasets=[]"])  # refused in one line
    def prop(overrides):
        args = [a for o in overrides for a in ("-s", o)]
        outcome(_invoke("data", "inspect", str(cfg), "--out", str(tmp_path / "o"),
                        "--samples", "1", *args), "cli_config")

    prop()
    assert SEEN["cli_config", "ok"] >= 1 and SEEN["cli_config", "refused"] >= 1, SEEN


def test_config_overrides_through_the_cli_fast(tmp_path):
    _cli_config(tmp_path, PROFILES["FAST"]["cli_config"])


@pytest.mark.slow
def test_config_overrides_through_the_cli_long(tmp_path):
    _cli_config(tmp_path, PROFILES["LONG"]["cli_config"])


# --------------------------------------------------------------------------- folders
def _image_files(folder: Path) -> list[Path]:
    from thetascope.data.imageio import IMAGE_SUFFIXES

    return [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")
            and p.suffix.lower() in IMAGE_SUFFIXES and (p.is_file() or p.is_symlink())]


def _check_scored(samples, files: list[FileSpec]) -> None:
    """Independently of data/degenerate.py: a scored sample has contrast and a mask that
    covers part, not (almost) all, of the inscribed circle; flat or degenerate-by-
    construction files are never scored."""
    from thetascope.geometry import circle_mask

    never = {f.stem for f in files if f.content == "flat" or f.mask == "full"
             or (f.mask == "corner" and min(f.height, f.width) >= 16)}
    for s in samples:
        disc = circle_mask(*s.mask.shape).numpy()
        share = (s.mask & disc).sum() / disc.sum()
        assert 0 < share < 0.95, (s.id, share)
        assert s.image[:, disc].std() >= 0.01, s.id
        assert s.id not in never, s.id


def _folder_property(spec: dict) -> None:
    from thetascope.data.inspection import inspect_target
    from thetascope.data.registry import create_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = write_folder(spec, Path(tmp))
        res = _invoke("data", "inspect", str(root), "--out", str(Path(tmp) / "o"),
                      "--image-size", "16", "--samples", "1")
        if outcome(res, "inspect") == "refused":
            return
        info = inspect_target(str(root), [], 16)[0]  # the same data (cache hit), as objects
        read = {s.id for s in info.samples}
        listed = {Path(p).stem for p, _ in info.skipped_files}
        for f in _image_files(root / "images"):  # every image file: read or listed
            stem = displayable(f.stem)  # listed names show undecodable bytes as U+FFFD
            assert stem in read or stem in listed, (f.name, info.skipped_files)
        try:
            ds = create_dataset(AutoSpec(root=root), DataConfig(image_size=16,
                                                                max_eval_images=100))
        except DataError:  # a run would stop here, with one line (test_runs_*)
            return
        _check_scored(ds.eval, spec["files"])
        assert {i for i, _ in ds.degenerate} <= listed | read


def test_folder_datasets_fast():
    SEEN.clear()
    settings(max_examples=PROFILES["FAST"]["inspect"], **_BASE)(
        given(fuzz_folder(max_side=PROFILES["FAST"]["side"]))(_folder_property))()
    assert SEEN["inspect", "ok"] >= 3, SEEN


@pytest.mark.slow
def test_folder_datasets_long():
    settings(max_examples=PROFILES["LONG"]["inspect"], **_BASE)(
        given(fuzz_folder(max_side=PROFILES["LONG"]["side"], max_files=12))(
            _folder_property))()


# --------------------------------------------------------------------------- runs
def _run_property(spec: dict) -> None:
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        root, out = write_folder(spec, Path(tmp)), Path(tmp) / "out"
        where = json.dumps(str(root), ensure_ascii=False)  # a YAML double-quoted string
        res = _invoke("run", "--config", "smoke", "--out", str(out), *RUN_ARGS,
                      "-s", f"data.datasets=[{{kind: folder, root: {where}}}]")
        if outcome(res, "run") == "refused":
            return
        scored = set(pd.read_parquet(out / "results.parquet").image_id)
        never = {f.stem for f in spec["files"] if f.content == "flat" or f.mask == "full"}
        assert not scored & never, scored & never
        summary = (out / "summary.md").read_text(encoding="utf-8")
        if "degenerate" in res.stderr:  # flagged at the console: listed in summary.md too
            assert "degenerate mask" in summary or "no contrast" in summary


_RUNNABLE = runnable_folder(max_side=96)  # 4 ordinary pairs (a MoCo queue fits) + odd files


@pytest.mark.slow  # "fast": the short Hypothesis profile; still whole runs
def test_runs_fast():
    SEEN.clear()
    settings(max_examples=PROFILES["FAST"]["run"], **_BASE)(given(_RUNNABLE)(_run_property))()
    assert SEEN["run", "ok"] >= 1, SEEN


@pytest.mark.slow
def test_runs_long():
    settings(max_examples=PROFILES["LONG"]["run"], **_BASE)(
        given(st.one_of(_RUNNABLE, fuzz_folder(max_side=96, max_files=6)))(_run_property))()


# --------------------------------------------------------------------------- manifests
def _write_manifest(spec: dict, base: Path) -> Path:
    from data_layouts import gray_image, mask_image, save_png

    for i in range(3):
        save_png(base / f"a{i}.png", gray_image(40, 40, i))
        save_png(base / f"m{i}.png", mask_image(40, 40, i))

    def cell(col: str, value: str) -> str:
        return value.replace("a", "m", 1) + ".png" if col in ("mask", "seg") and value \
            .startswith("a") else (value + ".png" if value.startswith("a") else value)

    rows = [[cell(c, v) for c, v in zip(spec["cols"], r, strict=True)] for r in spec["rows"]]
    if spec["shape"] == "csv":
        path = base / "m.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if spec["cols"]:
                writer.writerow(spec["cols"])
            writer.writerows(rows)
        return path
    path = base / "m.json"
    if spec["shape"] == "json_objects":
        data: object = [dict(zip(spec["cols"], r, strict=True)) for r in rows]
    elif spec["shape"] == "json_pairs":
        data = [r[-2:] for r in rows]
    else:
        data = {"rows": rows} if rows else 42
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _manifest_property(spec: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write_manifest(spec, Path(tmp))
        outcome(_invoke("data", "inspect", str(path), "--out", str(Path(tmp) / "o"),
                        "--image-size", "16", "--samples", "1"))


def test_manifests_fast():
    settings(max_examples=PROFILES["FAST"]["manifest"], **_BASE)(
        given(fuzz_manifest())(_manifest_property))()


@pytest.mark.slow
def test_manifests_long():
    settings(max_examples=PROFILES["LONG"]["manifest"], **_BASE)(
        given(fuzz_manifest())(_manifest_property))()


# --------------------------------------------------------------------------- image bytes
@st.composite
def _mutated(draw) -> tuple[str, str, int, int, list[tuple[int, int]], float]:
    return (draw(st.sampled_from(("png", "jpg", "tif", "bmp"))),
            draw(st.sampled_from(("L", "RGB", "RGBA", "P", "I;16", "I", "F", "1", "LA"))),
            draw(st.integers(1, 40)), draw(st.integers(1, 40)),
            draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)),
            draw(st.sampled_from((1.0, 1.0, 0.5, 0.1))))


def _bytes_property(case) -> None:
    """A file of any format with flipped bytes or cut short: an array or a BadFile."""
    from fuzz_inputs import save_any
    from thetascope.data.imageio import read_image, read_mask
    from thetascope.data.problems import BadFile

    fmt, mode, h, w, flips, keep = case
    with tempfile.TemporaryDirectory() as tmp:
        path = save_any(np.random.default_rng(h * w).uniform(0, 255, (h, w)), mode,
                        Path(tmp) / f"x.{fmt}")
        data = bytearray(path.read_bytes())
        for offset, value in flips:
            data[offset % len(data)] = value
        path.write_bytes(bytes(data[: max(1, int(len(data) * keep))]))
        for read in (read_image, read_mask):
            try:
                out = read(path)
            except BadFile as bad:
                assert bad.reason and bad.fix
            else:
                assert out.ndim in (2, 3) and min(out.shape[-2:]) >= 2


def test_mutated_image_bytes_fast():
    settings(max_examples=PROFILES["FAST"]["bytes"], **_BASE)(
        given(_mutated())(_bytes_property))()


@pytest.mark.slow
def test_mutated_image_bytes_long():
    settings(max_examples=PROFILES["LONG"]["bytes"], **_BASE)(
        given(_mutated())(_bytes_property))()


def test_the_generators_make_what_they_promise(tmp_path):
    """The fuzzing is only as good as its inputs: check that the writer really makes the
    degenerate, hostile and odd files it claims (so a property cannot pass vacuously)."""
    specs = [FileSpec("full", 40, 40, "L", "png", "noise", "full"),
             FileSpec("flat", 40, 40, "RGB", "jpg", "flat", "blob"),
             FileSpec("loop", 40, 40, "L", "png", "noise", "blob", "loop"),
             FileSpec("twin", 40, 40, "I;16", "tif", "noise", "blob", "twin"),
             FileSpec("strip", 1, 64, "F", "tif", "noise", "blob")]
    root = write_folder({"root_name": "x", "files": specs}, tmp_path)
    from thetascope.data.imageio import read_image, read_mask

    assert read_mask(root / "masks" / "full.png").all()
    assert np.ptp(read_image(root / "images" / "flat.jpg")) == 0
    assert (root / "images" / "loop.png").is_symlink() and not (root / "images" / "loop.png"
                                                                  ).exists()
    assert (root / "images" / "twin.png").is_file() and (root / "images" / "twin.tif").is_file()
    assert read_image(root / "images" / "twin.tif").max() > 255  # 16 bits kept
    res = _invoke("data", "inspect", str(root), "--out", str(tmp_path / "o"), "--image-size",
                  "16")
    assert outcome(res) == "ok"
    for words in ("degenerate mask: covers 100%", "no contrast", "unresolvable link",
                  "duplicate name", "image too small: 64×1"):
        assert words in res.stdout, (words, res.stdout)
