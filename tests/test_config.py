import subprocess
import sys

import pytest
from hydra.errors import HydraException

from jepa.train.config import ConfigError, load_config


def test_default_and_experiment_presets_compose():
    cfg = load_config(["experiment=ijepa_shapes"])
    assert cfg.name == "ijepa_shapes" and cfg.run_dir == "runs/ijepa_shapes"
    assert cfg.mask.target_scale == [0.15, 0.2]


def test_misspelt_key_fails_naming_the_key():
    with pytest.raises(HydraException, match="model.dept"):
        load_config(["model.dept=3"])


def test_wrong_type_fails():
    with pytest.raises(HydraException, match="model.depth"):
        load_config(["model.depth=deep"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.name=vit_gigantic", "model.name"),
        ("data.image_size=30", "data.image_size"),
        ("train.precision=fp8", "train.precision"),
        ("train.steps=0", "train.steps"),
    ],
)
def test_bad_values_fail_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config([override])


def test_cli_reports_a_bad_key_before_any_work(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jepa.cli", "train", "optim.lrr=1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "optim.lrr" in result.stderr
    assert not (tmp_path / "runs").exists()
