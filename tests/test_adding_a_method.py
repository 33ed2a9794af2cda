"""A method added from outside the package: examples/vicreg is a method file, a recipe file and a preset, and
nothing in jepa/ names it. ``JEPA_METHODS`` has ``jepa`` import the recipe, which registers the method; the
engine, the checks, the probes and the command line then serve it as they serve ours (docs/adding_a_method.md)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jepa.common.errors import ConfigError
from jepa.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "vicreg"
PRESET = ["--config-dir", str(EXAMPLE / "configs"), "experiment=vicreg_shapes"]


@pytest.fixture
def vicreg(monkeypatch):
    monkeypatch.setenv("JEPA_METHODS", "vicreg_recipe")
    monkeypatch.syspath_prepend(str(EXAMPLE))


def test_the_example_is_its_own_files_and_the_package_does_not_name_it():
    files = sorted(p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.rglob("*.*") if "__pycache__" not in p.parts)
    assert files == ["configs/experiment/vicreg_shapes.yaml", "vicreg.py", "vicreg_recipe.py"]
    mentions = re.compile(r"vicreg_recipe|vicreg_shapes|VICRegConfig|[\"'=]vicreg\b")  # not the VCR comments' "VICReg"
    sources = [p for p in (ROOT / "jepa").rglob("*") if p.suffix in (".py", ".yaml")]
    assert [p for p in sources if mentions.search(p.read_text())] == []


def test_its_config_composes_and_its_checks_and_sections_are_enforced(vicreg):
    cfg = load_config(["experiment=vicreg_shapes"], config_dir=EXAMPLE / "configs")
    assert cfg.method.name == "vicreg" and cfg.method.expander_dim == 256 and cfg.regularizer.name == "vcr"
    with pytest.raises(ConfigError, match="regularizer.name=sigreg"):  # its own check
        load_config(["experiment=vicreg_shapes", "regularizer=sigreg"], config_dir=EXAMPLE / "configs")
    with pytest.raises(ConfigError, match="mask.num_targets"):  # a section it does not read
        load_config(["experiment=vicreg_shapes", "mask.num_targets=2"], config_dir=EXAMPLE / "configs")


def test_the_command_line_trains_evaluates_and_resumes_it(tmp_path):
    env = os.environ | {"JEPA_METHODS": "vicreg_recipe", "PYTHONPATH": str(EXAMPLE)}
    tiny = ["data.batch_size=8", "data.num_train=32", "data.num_val=16", f"data.root={tmp_path / 'data'}"]
    tiny += ["model.depth=1", "train.progress=false", "train.threads=1", "eval.baselines=false", "run_dir=run"]
    jepa = [sys.executable, "-m", "jepa.cli", "train", *PRESET, *tiny]

    def train(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*jepa, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    first = train("train.steps=2")
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / "run" / "eval.json").is_file() and (tmp_path / "run" / "checkpoints" / "latest").exists()
    misspelt = train("method.expander_dimm=8")
    assert misspelt.returncode == 2 and "did you mean method.expander_dim?" in misspelt.stderr
    resumed = train("train.steps=3", "train.resume=force")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed" in (resumed.stdout + resumed.stderr).lower()


def test_a_jepa_methods_module_that_cannot_be_imported_is_named(monkeypatch, capsys):
    from jepa.cli import main

    monkeypatch.setenv("JEPA_METHODS", "no_such_recipe")
    assert main(["train", "experiment=ijepa_shapes"]) == 2
    assert "JEPA_METHODS names no_such_recipe, which cannot be imported" in capsys.readouterr().err
