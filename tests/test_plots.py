"""The run-comparison plot reads several runs' metrics.jsonl and fails early on a wrong argument."""

import json
import re

import pytest
from hydra.errors import HydraException

from jepa.cli import main
from jepa.commands.compare import compare
from jepa.common.errors import ConfigError
from jepa.config import load_config
from jepa.train.plots import plot_runs


def _write_run(run_dir, rankme_end: float, std_end: float, steps: int = 20) -> None:
    """Synthetic metrics: a loss every step, the collapse monitors every 5th step, as the trainer logs them."""
    run_dir.mkdir(parents=True)
    records = []
    for step in range(1, steps + 1):
        record = {"step": step, "loss": 1.0 / step}
        if step % 5 == 0:
            frac = step / steps
            record |= {"rankme": 10 + (rankme_end - 10) * frac, "feature_std": 0.2 + (std_end - 0.2) * frac}
        records.append(record)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_plot_runs_overlays_several_runs_in_one_png(tmp_path):
    _write_run(tmp_path / "online_none", rankme_end=1.05, std_end=0.001)
    _write_run(tmp_path / "online_vcr", rankme_end=9.0, std_end=0.3)
    out = plot_runs([tmp_path / "online_none", tmp_path / "online_vcr"], tmp_path / "plots" / "collapse.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_command_writes_the_png(tmp_path):
    _write_run(tmp_path / "a", rankme_end=1.05, std_end=0.001)
    _write_run(tmp_path / "b", rankme_end=9.0, std_end=0.3)
    out = tmp_path / "ab.png"
    assert main(["compare", f"runs=[{tmp_path / 'a'},{tmp_path / 'b'}]", f"out={out}"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_needs_at_least_one_run():
    with pytest.raises(ConfigError, match="runs"):
        compare(load_config(["runs=[]"], command="compare"))


def test_compare_fails_naming_a_run_without_metrics(tmp_path, capsys):
    _write_run(tmp_path / "a", rankme_end=1.0, std_end=0.0)
    missing, out = tmp_path / "missing", tmp_path / "x.png"
    cfg = load_config([f"runs=[{tmp_path / 'a'},{missing}]", f"out={out}"], command="compare")
    with pytest.raises(ConfigError, match=re.escape(f"{missing} has no metrics.jsonl")):
        compare(cfg)
    assert main(["compare", f"runs=[{missing}]", f"out={out}"]) == 2
    assert str(missing) in capsys.readouterr().err and not out.exists()


def test_a_misspelt_compare_key_fails_naming_it(tmp_path, capsys):
    _write_run(tmp_path / "a", rankme_end=1.0, std_end=0.0)
    with pytest.raises(HydraException, match="outt"):
        load_config([f"runs=[{tmp_path / 'a'}]", "outt=x.png"], command="compare")
    assert main(["compare", f"runs=[{tmp_path / 'a'}]", "outt=x.png"]) == 2
    assert "outt" in capsys.readouterr().err


def _write_eval(run_dir, pretrained: float, random_init: float) -> None:
    rows = [
        {"encoder": "pretrained", "seeds": 5, "shape_acc": pretrained, "shape_acc_ci": 0.01},
        {"encoder": "random_init", "seeds": 5, "shape_acc": random_init, "shape_acc_ci": 0.02},
    ]
    (run_dir / "eval.json").write_text(json.dumps({"rows": rows}))


def test_compare_reports_the_probes_over_trainings_with_t_intervals(tmp_path, capsys):
    """Three trainings' probe rows become one row per encoder: the mean over the trainings and the half-width of
    the Student-t interval with 2 degrees of freedom (4.303 * sd / sqrt(3))."""
    runs = []
    for seed, (pretrained, random_init) in enumerate([(0.30, 0.20), (0.32, 0.20), (0.34, 0.20)]):
        _write_run(tmp_path / f"s{seed}", rankme_end=9.0, std_end=0.3)
        _write_eval(tmp_path / f"s{seed}", pretrained, random_init)
        runs.append(str(tmp_path / f"s{seed}"))
    out = tmp_path / "seeds.png"
    assert main(["compare", f"runs=[{','.join(runs)}]", f"out={out}"]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [row["encoder"] for row in summary] == ["pretrained", "random_init"]
    assert summary[0]["shape_acc"] == pytest.approx(0.32)
    assert summary[0]["shape_acc_ci"] == pytest.approx(4.302653 * 0.02 / 3**0.5, rel=1e-5)
    assert summary[1]["shape_acc_ci"] == pytest.approx(0.0, abs=1e-12)
    printed = capsys.readouterr().out
    assert "over 3 trainings" in printed and "32.0 ±5.0" in printed


def test_compare_refuses_trainings_that_report_different_encoders(tmp_path, capsys):
    _write_run(tmp_path / "a", rankme_end=9.0, std_end=0.3)
    _write_run(tmp_path / "b", rankme_end=9.0, std_end=0.3)
    _write_eval(tmp_path / "a", 0.3, 0.2)
    (tmp_path / "b" / "eval.json").write_text(json.dumps({"rows": [{"encoder": "world_model", "success": 1.0}]}))
    assert main(["compare", f"runs=[{tmp_path / 'a'},{tmp_path / 'b'}]", f"out={tmp_path / 'x.png'}"]) == 2
    assert "different encoders" in capsys.readouterr().err
