"""Curve signatures: can a simple classifier tell the dataset from its score-vs-θ curve?

The follow-up paper's Appendix C idea. Input: a long table of curves, one per (dataset,
encoder, method, run, seed) over a common θ grid, each the mean over images of one metric
at each θ (``seed_curve_table``). Each curve becomes a feature vector (``features``), a
classifier (``classifier``) is trained on the curves of all but one held-out group and
predicts the dataset of the held-out group's curves; every group is held out once.

    curves = seed_curve_table(results, "dice", encoder="resnet18", method="moco_v2")
    res = curve_signatures(curves, SignatureSettings(features="zscore", permutations=999))
    res.estimable, res.accuracy, res.chance, res.p_value, res.split_label
    res.confusion                     # rows: true dataset, columns: predicted, counts
    rows = signature_verdict(res, alpha=0.05)   # VERDICT_COLUMNS, test "curve_signature"

Features (``SignatureSettings.features``):
  ``raw``             the curve as it is (its level counts);
  ``zscore``          (default) the curve minus its mean over θ, divided by its SD: shape only;
  ``fourier``         magnitudes of the DFT of the z-scored curve, constant term dropped: shape
                      up to a circular shift of θ (a phase shift does not matter; exact on a
                      uniform full-circle grid, otherwise of the sampled sequence, noted);
  ``zscore+fourier``  both, concatenated.
Classifiers: ``nearest_centroid`` (default; Euclidean distance to each dataset's mean
feature vector, no hyper-parameters) and ``logistic`` (scikit-learn multinomial logistic
regression, C = 1, on standardised features; slower: one fit per fold and permutation).

Held-out groups (``split``): ``model`` = leave-one-(encoder, method)-out, ``run`` =
leave-one-run-out, ``seed`` = leave-one-seed-out; ``auto`` (default) takes the first of
these with at least two groups. A dataset must have curves in at least two groups (so that
it is in the training set whenever it is tested); others are left out with a note.
Chance: the share of the most common dataset among the evaluated curves (= 1/#datasets
when balanced). p-value: dataset labels shuffled within each held-out group (each group
keeps its dataset counts, so every training set still holds every dataset), the whole
procedure repeated ``permutations`` times; p = (1 + #{accuracy ≥ observed}) / (1 + N).
A shuffle that merely renames the datasets consistently in every group scores exactly the
observed accuracy, so p cannot fall below (such renamings) / (distinct relabellings): with
2 datasets × 2 seeds that is 1/2, with 3 datasets × 2 seeds 1/6; the result notes it
(``p_floor``). More seeds, or several encoders/methods, are needed for a small p.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from thetascope.analysis.verdict import VERDICT_COLUMNS, VerdictSettings, decide
from thetascope.analysis.verdict import row as verdict_row
from thetascope.config.analysis import AnalysisConfig
from thetascope.config.defaults import default

FEATURES = ("raw", "zscore", "fourier", "zscore+fourier")
CLASSIFIERS = ("nearest_centroid", "logistic")
SPLITS = ("auto", "model", "run", "seed")
CURVE_COLUMNS = ["dataset", "encoder", "method", "run", "seed", "metric", "theta", "value"]
SPLIT_LABELS = {"model": "leave-one-(encoder, method)-out", "run": "leave-one-run-out",
                "seed": "leave-one-seed-out"}
_KEY = ["dataset", "encoder", "method", "run", "seed"]


@dataclass(frozen=True, kw_only=True)
class SignatureSettings:
    """Curve-signature settings; defaults are ``AnalysisConfig``'s ``signature_*`` and
    ``seed``. ``from_config(cfg.analysis)`` is the one place they are read from a config."""

    features: str = default(AnalysisConfig, "signature_features")
    classifier: str = default(AnalysisConfig, "signature_classifier")
    split: str = default(AnalysisConfig, "signature_split")
    permutations: int = default(AnalysisConfig, "signature_permutations")
    seed: int = default(AnalysisConfig, "seed")

    def __post_init__(self) -> None:
        for name, value, allowed in (("features", self.features, FEATURES),
                                     ("classifier", self.classifier, CLASSIFIERS),
                                     ("split", self.split, SPLITS)):
            if value not in allowed:
                raise ValueError(f"unknown signature {name} {value!r}; choose one of "
                                 f"{list(allowed)}")
        if self.permutations < 0:
            raise ValueError(f"permutations must be ≥ 0, got {self.permutations}")

    @classmethod
    def from_config(cls, analysis) -> SignatureSettings:
        """From an ``AnalysisConfig`` (fields ``signature_*`` and ``seed``)."""
        return cls(features=analysis.signature_features,
                   classifier=analysis.signature_classifier, split=analysis.signature_split,
                   permutations=analysis.signature_permutations, seed=analysis.seed)


@dataclass
class SignatureResult:
    estimable: bool
    reason: str  # why not estimable; "" when estimable
    settings: SignatureSettings
    metric: str = ""
    accuracy: float = float("nan")
    chance: float = float("nan")  # share of the most common dataset among the curves
    uniform_chance: float = float("nan")  # 1 / number of datasets
    p_value: float = float("nan")
    split: str = ""  # the resolved scheme: model, run or seed
    n_groups: int = 0
    n_curves: int = 0
    datasets: list[str] = field(default_factory=list)
    thetas: np.ndarray = field(default_factory=lambda: np.empty(0))
    confusion: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_relabellings: float = float("inf")  # distinct within-group relabellings
    p_floor: float = 0.0  # smallest attainable p: renamings / relabellings
    notes: list[str] = field(default_factory=list)

    @property
    def split_label(self) -> str:
        return SPLIT_LABELS.get(self.split, self.split)

    def summary(self) -> str:
        """One sentence: 'accuracy 0.92 vs chance 0.33 (3 datasets, 24 curves, ...), p = …'."""
        if not self.estimable:
            return f"not estimable ({self.reason})"
        s = self.settings
        return (f"held-out accuracy {self.accuracy:.2f} vs chance {self.chance:.2f} "
                f"({len(self.datasets)} datasets, {self.n_curves} curves, {self.split_label} "
                f"over {self.n_groups} groups; {s.classifier} on {s.features} features), "
                f"p = {self.p_value:.3g} ({s.permutations} permutations)")


def seed_curve_table(results: pd.DataFrame, metric: str, encoder: str = "", method: str = "",
                     run: str = "") -> pd.DataFrame:
    """Per (dataset, seed, θ): the mean over images of ``metric``; columns ``CURVE_COLUMNS``.

    ``encoder``, ``method`` and ``run`` label every curve (one run = one encoder and method).
    """
    if results.empty or "metric" not in results:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    df = results[results["metric"] == metric]
    g = df.groupby(["dataset", "seed", "theta"], as_index=False)["value"].mean()
    g = g.assign(encoder=str(encoder), method=str(method), run=str(run), metric=metric)
    g["seed"] = g["seed"].astype(int)
    g["theta"] = g["theta"].astype(float)
    return g[CURVE_COLUMNS]


def curve_features(curves: np.ndarray, kind: str = "zscore") -> np.ndarray:
    """(n, T) curves -> (n, F) features; a constant curve z-scores to zeros."""
    c = np.asarray(curves, dtype=np.float64)
    if kind == "raw":
        return c
    sd = c.std(axis=1, keepdims=True)
    z = np.divide(c - c.mean(axis=1, keepdims=True), sd, out=np.zeros_like(c), where=sd > 1e-12)
    if kind == "zscore":
        return z
    mag = np.abs(np.fft.rfft(z, axis=1))[:, 1:] / np.sqrt(c.shape[1])
    if kind == "fourier":
        return mag
    if kind == "zscore+fourier":
        return np.concatenate([z, mag], axis=1)
    raise ValueError(f"unknown signature features {kind!r}; choose one of {list(FEATURES)}")


def _nearest_centroid(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int,
                      n_groups: int) -> np.ndarray:
    """Held-out predictions for every curve: each group's centroids from the other groups."""
    sums = np.zeros((n_groups, n_classes, x.shape[1]))
    np.add.at(sums, (groups, y), x)
    counts = np.zeros((n_groups, n_classes))
    np.add.at(counts, (groups, y), 1.0)
    train_sum = sums.sum(axis=0)[None] - sums  # (G, C, F)
    train_n = counts.sum(axis=0)[None] - counts  # (G, C)
    with np.errstate(invalid="ignore", divide="ignore"):
        cent = train_sum / train_n[..., None]
    d = ((x[:, None, :] - cent[groups]) ** 2).sum(axis=2)  # (n, C)
    d[~np.isfinite(d)] = np.inf  # a class absent from the training set is never predicted
    return d.argmin(axis=1)


def _logistic(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int,
              n_groups: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.empty(len(y), dtype=int)
    for g in range(n_groups):
        test = groups == g
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on tiny, separable sets
            model.fit(x[~test], y[~test])
        pred[test] = model.predict(x[test])
    return pred


def _shuffle_within(y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = y.copy()
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        out[idx] = y[rng.permutation(idx)]
    return out


def _log_relabellings(y: np.ndarray, groups: np.ndarray) -> float:
    """log of the number of distinct label vectors a within-group shuffle can produce."""
    total = 0.0
    for g in np.unique(groups):
        counts = np.bincount(y[groups == g])
        total += math.lgamma(counts.sum() + 1) - sum(math.lgamma(c + 1) for c in counts)
    return total


def _renamings(y: np.ndarray, groups: np.ndarray, n_classes: int) -> int:
    """How many renamings of the datasets are themselves within-group relabellings: each
    scores exactly the observed accuracy (accuracy does not depend on the names), so the
    smallest attainable p is about renamings / relabellings. 1 when there are > 8 datasets."""
    if n_classes > 8:
        return 1
    counts = np.zeros((groups.max() + 1, n_classes), dtype=int)
    np.add.at(counts, (groups, y), 1)
    return sum(bool(np.array_equal(counts[:, list(perm)], counts))
               for perm in itertools.permutations(range(n_classes)))


def _not_estimable(reason: str, st: SignatureSettings, metric: str, notes: list[str],
                   **kw) -> SignatureResult:
    return SignatureResult(False, reason, st, metric, notes=notes, **kw)


def _wide(curves: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Curves × θ on the θ that every (encoder, method, run) unit has; curves still missing
    a value there are dropped."""
    wide = curves.pivot_table(index=_KEY, columns="theta", values="value", aggfunc="mean")
    units = wide.groupby(level=["encoder", "method", "run"]).count()
    keep = [t for t in wide.columns if (units[t] > 0).all()]
    if len(keep) < wide.shape[1]:
        notes.append(f"{wide.shape[1] - len(keep)} θ not measured by every run left out")
    wide = wide[keep]
    bad = wide.isna().any(axis=1)
    if bad.any():
        notes.append(f"{int(bad.sum())} curve(s) missing a θ of the common grid left out")
    return wide[~bad]


def _resolve_split(index: pd.MultiIndex, split: str) -> tuple[str, np.ndarray] | None:
    keys = {"model": [f"{e} · {m}" for e, m in zip(index.get_level_values("encoder"),
                                                    index.get_level_values("method"),
                                                    strict=True)],
            "run": [str(r) for r in index.get_level_values("run")],
            "seed": [str(s) for s in index.get_level_values("seed")]}
    order = ["model", "run", "seed"] if split == "auto" else [split]
    for name in order:
        if len(set(keys[name])) >= 2:
            return name, np.asarray(keys[name])
    return None


def curve_signatures(curves: pd.DataFrame, settings: SignatureSettings | None = None,
                     metric: str | None = None) -> SignatureResult:
    """Held-out accuracy of identifying each curve's dataset, with chance, confusion matrix
    and a within-group permutation p-value; "not estimable" results carry the reason."""
    st = settings or SignatureSettings()
    notes: list[str] = []
    df = curves
    if metric is not None and "metric" in df:
        df = df[df["metric"] == metric]
    elif "metric" in df and df["metric"].nunique() > 1:
        raise ValueError(f"curves hold several metrics {sorted(df['metric'].unique())}; "
                         "name one with metric=")
    metric = metric or (str(df["metric"].iloc[0]) if "metric" in df and len(df) else "")
    df = df.assign(**{c: "" for c in ("encoder", "method", "run") if c not in df})
    df = df[np.isfinite(df["value"].astype(float))]
    n_sets = df["dataset"].nunique() if len(df) else 0
    if n_sets < 2:
        return _not_estimable(f"needs curves of ≥ 2 datasets, got {n_sets}", st, metric, notes)
    wide = _wide(df, notes)
    if wide.shape[1] < 3:
        return _not_estimable(f"needs ≥ 3 θ shared by every curve, got {wide.shape[1]}", st,
                              metric, notes)
    resolved = _resolve_split(wide.index, st.split)
    if resolved is None:
        what = ("two (encoder, method) pairs, two runs or two seeds" if st.split == "auto"
                else f"two groups for split {st.split!r}")
        return _not_estimable(f"nothing to hold out: needs {what}", st, metric, notes)
    split, group_keys = resolved
    ds = wide.index.get_level_values("dataset").astype(str).to_numpy()
    ok = np.ones(len(ds), dtype=bool)
    for name in np.unique(ds):
        n_groups = len(set(group_keys[ds == name]))
        if n_groups < 2:
            notes.append(f"{name} left out: its curves are in {n_groups} held-out group "
                         "(needs ≥ 2, so that it is in every training set it is tested by)")
            ok &= ds != name
    names = sorted(set(ds[ok]))
    if len(names) < 2:
        return _not_estimable(f"fewer than 2 datasets have curves in ≥ 2 "
                              f"{SPLIT_LABELS[split]} groups", st, metric, notes, split=split)
    wide, ds, group_keys = wide[ok], ds[ok], group_keys[ok]
    thetas = wide.columns.to_numpy(dtype=np.float64)
    if st.features in ("fourier", "zscore+fourier"):
        step = np.diff(np.append(thetas, thetas[0] + 360.0))
        if not np.allclose(step, step[0]):
            notes.append("θ grid is not a uniform full circle: Fourier magnitudes are those of "
                         "the sampled sequence, not shift-invariant")
    x = curve_features(wide.to_numpy(), st.features)
    y = np.searchsorted(names, ds)
    group_names, groups = np.unique(group_keys, return_inverse=True)
    fit = _nearest_centroid if st.classifier == "nearest_centroid" else _logistic
    pred = fit(x, y, groups, len(names), len(group_names))
    acc = float(np.mean(pred == y))
    rng = np.random.default_rng(st.seed)
    null = np.array([np.mean(fit(x, yp, groups, len(names), len(group_names)) == yp)
                     for yp in (_shuffle_within(y, groups, rng) for _ in range(st.permutations))])
    p = float((1 + np.sum(null >= acc - 1e-12)) / (1 + len(null))) if len(null) else np.nan
    log_k = _log_relabellings(y, groups)
    n_relabel = math.exp(log_k) if log_k < 700 else float("inf")
    n_rename = _renamings(y, groups, len(names))
    p_floor = n_rename / n_relabel
    if p_floor > 1 / (1 + st.permutations):
        notes.append(f"{n_relabel:.0f} distinct relabellings within the held-out groups, "
                     f"{n_rename} of them mere renamings of the "
                     f"datasets: p cannot fall below about {p_floor:.2g} (more seeds or "
                     "models are needed for a smaller p)")
    counts = np.bincount(y, minlength=len(names))
    conf = pd.crosstab(pd.Categorical(np.asarray(names)[y], names),
                       pd.Categorical(np.asarray(names)[pred], names), dropna=False)
    conf.index.name, conf.columns.name = "true", "predicted"
    index = wide.index.to_frame(index=False)
    preds = index.assign(group=group_keys, predicted=np.asarray(names)[pred])
    return SignatureResult(
        True, "", st, metric, acc, float(counts.max() / counts.sum()), 1.0 / len(names), p,
        split, len(group_names), len(y), names, thetas, conf, preds, n_relabel, p_floor, notes)


def confusion_text(conf: pd.DataFrame) -> str:
    """'a → a 4, b 1; b → b 5' (true → predicted counts, zeros left out)."""
    parts = []
    for true, row in conf.iterrows():
        cells = ", ".join(f"{pred} {int(n)}" for pred, n in row.items() if n)
        parts.append(f"{true} → {cells}")
    return "; ".join(parts)


def signature_verdict(res: SignatureResult, alpha: float = 0.05, correction: str = "holm",
                      dataset: str = "all") -> pd.DataFrame:
    """One ``VERDICT_COLUMNS`` row, test ``curve_signature``: statistic = held-out accuracy,
    effect size = accuracy − chance; decision yes/no at ``alpha``, or "not estimable" when
    the design cannot reach ``alpha`` (``p_floor`` above it) or the test cannot run."""
    if not res.estimable:
        row = verdict_row(dataset, "curve_signature", "held-out accuracy", np.nan,
                   decision="not estimable",
                   detail=f"dataset identifiable from its curve: not estimable ({res.reason})"
                   + "".join(f"; {n}" for n in res.notes), n=res.n_curves)
        return pd.DataFrame([row], columns=VERDICT_COLUMNS).astype({"decision": object})
    detail = "; ".join([res.summary(), f"chance 1/{len(res.datasets)} = "
                        f"{res.uniform_chance:.2f}", "confusion (true → predicted) "
                        + confusion_text(res.confusion), *res.notes])
    row = verdict_row(dataset, "curve_signature", f"held-out accuracy ({res.split_label})",
               res.accuracy, res.p_value, effect=res.accuracy - res.chance, detail=detail,
               n=res.n_curves)
    df = pd.DataFrame([row], columns=VERDICT_COLUMNS)
    df["decision"] = df["decision"].astype(object)
    decide(df, df.test == "curve_signature", VerdictSettings(alpha=alpha,
                                                                correction=correction))
    if res.p_floor > alpha:  # "no" would claim an absence the design could never reject
        df.loc[:, "decision"] = "not estimable"
        df.loc[:, "detail"] = (f"underpowered: p cannot fall below {res.p_floor:.2g} > α = "
                               f"{alpha:g} with these curves (more seeds, encoders or "
                               f"methods are needed); " + detail)
    return df


def run_signatures(results: pd.DataFrame, cfg, run: str = "") -> SignatureResult:
    """``curve_signatures`` of one run's results with its config's ``analysis`` settings
    (metric, ``signature_*``, seed); curves labelled by ``ssl.encoder`` / ``ssl.method``."""
    a = cfg.analysis
    curves = seed_curve_table(results, a.metric, cfg.ssl.encoder, cfg.ssl.method,
                              run or cfg.name)
    return curve_signatures(curves, SignatureSettings.from_config(a), a.metric)
