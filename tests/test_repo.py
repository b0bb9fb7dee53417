"""Repository-level promises: CI runs the README's test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_readme_quickstart_has_exactly_two_commands():
    cmds = _quickstart_commands()
    assert len(cmds) == 2 and all("\n" not in c for c in cmds)
    assert cmds[0].endswith("thetascope run")
    assert "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _quickstart_commands()[1] in ci


def test_every_config_field_has_a_methods_row():
    from thetascope.config import ExperimentConfig

    methods = (ROOT / "docs" / "METHODS.md").read_text()
    cfg = ExperimentConfig()
    missing = []
    for section in ("data", "geometry", "ssl", "saliency", "metrics", "sweep", "orient",
                    "analysis", "downstream"):
        for key in type(getattr(cfg, section)).model_fields:
            if f"{section}.{key}" not in methods and f"`{key}`" not in methods:
                missing.append(f"{section}.{key}")
    assert not missing, f"fields without a row in docs/METHODS.md: {missing}"
