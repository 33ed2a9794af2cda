"""One PNG per run: training curves, collapse monitors and probe results side by side."""

from __future__ import annotations

import json
from pathlib import Path

from jepa.train.logging import read_metrics


def plot_run(run_dir: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    steps = [m["step"] for m in metrics]
    axes[0].plot(steps, [m["loss"] for m in metrics])
    axes[0].set(title="prediction loss", xlabel="step", yscale="log")
    monitored = [m for m in metrics if "rankme" in m]
    if monitored:
        ax = axes[1]
        ax.plot([m["step"] for m in monitored], [m["rankme"] for m in monitored], color="tab:blue")
        ax.set(title="collapse monitors", xlabel="step")
        ax.set_ylabel("RankMe", color="tab:blue")
        twin = ax.twinx()
        twin.plot([m["step"] for m in monitored], [m["feature_std"] for m in monitored], color="tab:orange")
        twin.set_ylabel("feature std", color="tab:orange")
    eval_path = run_dir / "eval.json"
    if eval_path.exists():
        rows = json.loads(eval_path.read_text())["rows"]
        names = [r["encoder"] for r in rows]
        probes = [c for c in ("linear_acc", "knn_acc", "attentive_acc") if c in rows[0]]
        width = 0.8 / max(len(probes), 1)
        for i, probe in enumerate(probes):
            xs = [j + i * width for j in range(len(rows))]
            bars = axes[2].bar(xs, [100 * r[probe] for r in rows], width, label=probe)
            axes[2].bar_label(bars, fmt="%.1f", fontsize=8)
        axes[2].set_xticks([j + width * (len(probes) - 1) / 2 for j in range(len(rows))], names)
        axes[2].set(title="held-out probe accuracy (%)", ylim=(0, 105))
        axes[2].legend(loc="upper right")
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    out = run_dir / "summary.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
