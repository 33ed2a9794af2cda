"""Metrics to ``metrics.jsonl`` (one JSON object per logged step) and TensorBoard (``tb/``)."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


class MetricsLogger:
    """Append-only metrics; on resume, records past the checkpoint's step are dropped so a resumed
    run's history reads as if it had never been interrupted."""

    def __init__(self, run_dir: str | Path, resume_step: int = 0):
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_step > 0 and self.path.exists():
            kept = [
                line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= resume_step
            ]
            self.path.write_text("".join(line + "\n" for line in kept))
        elif self.path.exists():
            self.path.unlink()
        self._file = self.path.open("a")
        self._tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=resume_step + 1 if resume_step else None)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        self._file.flush()
        for key, value in metrics.items():
            self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []
