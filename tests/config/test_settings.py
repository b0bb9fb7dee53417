"""The lower layers' settings dataclasses are single-sourced from the config.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/config/test_settings.py

Each is built from a config by one ``from_config``, is keyword-only, and takes its defaults
from the config's pydantic fields, so ``Settings()`` equals ``Settings.from_config(default
config)`` and every field equals the config value it names.
"""

from __future__ import annotations

import dataclasses

import pytest

from thetascope.analysis.signatures import SignatureSettings
from thetascope.analysis.verdict import VerdictSettings
from thetascope.attribution.smoothgrad import SmoothGradSettings
from thetascope.config import ExperimentConfig, load_config
from thetascope.config.defaults import default
from thetascope.config.sections import SSLConfig
from thetascope.downstream.settings import DownstreamSettings
from thetascope.ssl.train import TrainSettings

# settings field -> (config section, config field); a field missing here is named alike
RENAMES = {
    TrainSettings: {"momentum": ("ssl", "sgd_momentum")},
    DownstreamSettings: {"pair_feature": ("downstream", "probe_pair_feature"),
                         "negative": ("downstream", "probe_negative"),
                         "hidden": ("downstream", "probe_hidden"),
                         "lr": ("downstream", "probe_lr"),
                         "momentum": ("downstream", "probe_momentum"),
                         "batch_size": ("downstream", "probe_batch_size"),
                         "epochs": ("downstream", "probe_epochs"),
                         "interpolation": ("geometry", "interpolation"),
                         "fill": ("geometry", "fill"),
                         "circle": ("geometry", "circle_mask")},
    SignatureSettings: {"features": ("analysis", "signature_features"),
                        "classifier": ("analysis", "signature_classifier"),
                        "split": ("analysis", "signature_split"),
                        "permutations": ("analysis", "signature_permutations")},
}
SECTION = {TrainSettings: "ssl", SmoothGradSettings: "saliency",
           DownstreamSettings: "downstream", VerdictSettings: "analysis",
           SignatureSettings: "analysis"}
NOT_IN_CONFIG = {TrainSettings: {"channels_last", "cuda_graph"}}  # bench-only knobs


def build(cls, cfg: ExperimentConfig):
    return cls.from_config(cfg.analysis if cls is SignatureSettings else cfg)


def config_value(cls, name: str, cfg: ExperimentConfig):
    section, key = RENAMES.get(cls, {}).get(name, (SECTION[cls], name))
    value = getattr(getattr(cfg, section), key)
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("cls", list(SECTION), ids=lambda c: c.__name__)
def test_settings_from_the_default_config_equal_its_values_field_by_field(cls):
    cfg = ExperimentConfig()
    built = build(cls, cfg)
    for f in dataclasses.fields(cls):
        if f.name in NOT_IN_CONFIG.get(cls, set()):
            continue
        want = config_value(cls, f.name, cfg)
        assert getattr(built, f.name) == want, f"{cls.__name__}.{f.name}"
        assert f.default == want or f.default_factory() == want, (  # type: ignore[misc]
            f"{cls.__name__}.{f.name}'s default drifted from the config's {want!r}")
    assert cls() == built  # the dataclass's own defaults are the config's


@pytest.mark.parametrize("cls", list(SECTION), ids=lambda c: c.__name__)
def test_settings_follow_a_changed_config(cls):
    cfg = load_config(None, ["ssl.steps=7", "saliency.samples=3", "downstream.probe_lr=0.5",
                             "analysis.alpha=0.01", "analysis.signature_permutations=199",
                             "geometry.fill=0.25", "analysis.generic_terms=[h1]"])
    built = build(cls, cfg)
    for f in dataclasses.fields(cls):
        if f.name not in NOT_IN_CONFIG.get(cls, set()):
            assert getattr(built, f.name) == config_value(cls, f.name, cfg), f.name


@pytest.mark.parametrize("cls", list(SECTION), ids=lambda c: c.__name__)
def test_settings_are_keyword_only(cls):
    first = dataclasses.fields(cls)[0]
    with pytest.raises(TypeError):
        cls(getattr(cls(), first.name))


def test_train_settings_default_steps_are_the_configs():
    assert TrainSettings().steps == default(SSLConfig, "steps") == SSLConfig().steps


def test_default_of_a_list_field_is_a_tuple_and_unknown_fields_raise():
    from thetascope.config import AnalysisConfig

    assert default(AnalysisConfig, "generic_terms") == tuple(AnalysisConfig().generic_terms)
    with pytest.raises(KeyError):
        default(SSLConfig, "no_such_field")
