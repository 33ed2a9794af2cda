"""``jepa compare runs=[a,b]``: the loss and collapse-monitor curves of several runs in one PNG and, when the runs
are trainings of one recipe with different seeds, their probe figures over the trainings with 95 % intervals."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from evals import format_table, summarise_runs, write_eval
from jepa.commands.checks import check_compare
from jepa.common.errors import ConfigError
from jepa.train.plots import plot_runs


def _over_trainings(runs: list[str], out: Path) -> None:
    """Print each probe figure's mean and t-interval over the runs (one sample per training, each already the mean
    over its probe seeds) and write them beside ``out`` as JSON; nothing when a run has no probe rows."""
    rows_per_run = []
    for run in runs:
        path = Path(run) / "eval.json"
        rows = json.loads(path.read_text()).get("rows") if path.is_file() else None
        if not rows:
            return
        rows_per_run.append(rows)
    try:
        summary = summarise_runs(rows_per_run)
    except ValueError as err:
        raise ConfigError(f"runs: {err}") from None
    columns = ["encoder"] + [c for c in summary[0] if c not in ("encoder", "seeds") and not c.endswith("_ci")]
    print(f"over {len(runs)} trainings (mean ± 95 % t-interval half-width):")
    print(format_table(summary, columns))
    table = out.with_suffix(".json")
    write_eval({"runs": [str(r) for r in runs], "rows": summary}, table)
    print(f"wrote {table}")


def compare(cfg: DictConfig) -> None:
    check_compare(cfg)
    print(f"wrote {plot_runs(cfg.runs, cfg.out)}")
    if len(cfg.runs) > 1:
        _over_trainings(list(cfg.runs), Path(cfg.out))
