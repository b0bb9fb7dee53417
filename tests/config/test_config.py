import pytest

from thetascope.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    builtin_config_path,
    config_from_dict,
    fingerprint,
    load_config,
)


def test_shipped_configs_validate():
    for name in ("default", "smoke"):
        cfg = load_config(builtin_config_path(name))
        assert cfg.name == name
        assert len(cfg.data.datasets) >= 2


def test_default_config_meets_issue_minimums():
    cfg = load_config(None)
    assert len(cfg.data.datasets) >= 2
    assert len(cfg.sweep.thetas) >= 7 and min(cfg.sweep.thetas) == 0
    assert max(cfg.sweep.thetas) == 180
    assert len(cfg.sweep.seeds) >= 2


def test_unknown_key_gets_did_you_mean():
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        config_from_dict({"ssl": {"step": 3}})
    with pytest.raises(ConfigError, match="did you mean 'count'"):
        config_from_dict({"data": {"datasets": [{"kind": "phantom-cxr", "cuont": 3}]}})


def test_overrides_parse_yaml_values():
    cfg = apply_overrides(ExperimentConfig(), ["sweep.thetas=[0, 45]", "ssl.steps=3",
                                               "metrics.binarize=fixed:0.3"])
    assert cfg.sweep.thetas == [0, 45]
    assert cfg.ssl.steps == 3
    assert cfg.metrics.binarize == "fixed:0.3"


def test_override_unknown_section():
    with pytest.raises(ConfigError, match="did you mean 'sweep'"):
        apply_overrides(ExperimentConfig(), ["swep.seeds=[1]"])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_overrides(ExperimentConfig(), ["sweep.seeds"])


def test_theta_range_and_validation():
    cfg = config_from_dict({"sweep": {"thetas": "0:90:30"}})
    assert cfg.sweep.thetas == [0, 30, 60, 90]
    # stop is inclusive but never passed: '0:359:10' ended at 360 (= 0) and was refused
    assert config_from_dict({"sweep": {"thetas": "0:359:10"}}).sweep.thetas[-1] == 350
    assert len(config_from_dict({"sweep": {"thetas": "0:359:1"}}).sweep.thetas) == 360
    assert config_from_dict({"sweep": {"thetas": "0:180:45"}}).sweep.thetas[-1] == 180
    with pytest.raises(ConfigError, match="out of range"):
        config_from_dict({"sweep": {"thetas": [0, 400]}})
    with pytest.raises(ConfigError, match="duplicates"):
        config_from_dict({"sweep": {"thetas": [0, 0]}})


def test_bad_binarize_rule_rejected():
    with pytest.raises(ConfigError, match="binarize"):
        config_from_dict({"metrics": {"binarize": "fixed:2"}})
    with pytest.raises(ConfigError, match="unknown binarize rule"):
        config_from_dict({"metrics": {"binarize": "median"}})


def test_fingerprint_is_stable_and_sensitive():
    a, b = ExperimentConfig(), ExperimentConfig()
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(apply_overrides(a, ["ssl.steps=7"]))


def test_missing_config_file_message(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
