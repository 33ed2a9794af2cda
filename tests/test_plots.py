"""The run-comparison plot reads several runs' metrics.jsonl and fails early on a wrong argument."""

import json

import pytest

from jepa.cli import main
from jepa.common.errors import ConfigError
from jepa.plots import parse_compare_args, plot_runs


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
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), f"out={out}"]) == 0
    assert out.is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "at least one run"),
        (["{tmp}/missing"], "has no metrics.jsonl"),
        (["{tmp}/a", "outt=x.png"], "'outt'"),
    ],
)
def test_compare_arguments_fail_naming_the_problem(tmp_path, args, message):
    _write_run(tmp_path / "a", rankme_end=1.0, std_end=0.0)
    with pytest.raises(ConfigError, match=message):
        parse_compare_args([a.format(tmp=tmp_path) for a in args])
