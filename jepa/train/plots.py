"""PNG plots of runs: one per run (training curves, collapse monitors, probe results side by side) and one
overlaying the curves of several runs (``jepa compare``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from jepa.train.logging import read_metrics

# metrics.jsonl key -> (panel title, y scale): the loss, then the collapse monitors
COMPARED = {
    "loss": ("training loss", "log"),
    "rankme": ("RankMe of pooled features (1 = collapsed)", "linear"),
    "feature_std": ("mean per-dimension feature std", "log"),
}


def pyplot():
    """matplotlib's pyplot on the file-only backend, imported late so the library never needs a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(run_dir: str | Path) -> Path:
    """``summary.png`` of a run: its training loss, its collapse monitors and, once ``eval.json`` holds probe
    ``rows``, their held-out accuracies (or R² of float labels) per encoder."""
    plt = pyplot()
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    steps = [m["step"] for m in metrics]
    axes[0].plot(steps, [m["loss"] for m in metrics])
    axes[0].set(title="training loss", xlabel="step", yscale="log")
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
        # datasets without a class (trajectory frames) are judged by their float labels' R² instead
        accuracy = bool(probes)
        scale, title = (100, "held-out probe accuracy (%)") if accuracy else (1, "held-out probe R²")
        probes = probes or [c for c in rows[0] if c == "r2" or c.endswith("_r2")]
        width = 0.8 / max(len(probes), 1)
        for i, probe in enumerate(probes):
            xs = [j + i * width for j in range(len(rows))]
            errors = [scale * (r.get(f"{probe}_ci") or 0.0) for r in rows]  # 95 % intervals over probe seeds
            bars = axes[2].bar(xs, [scale * r[probe] for r in rows], width, yerr=errors, capsize=3, label=probe)
            axes[2].bar_label(bars, fmt="%.1f" if accuracy else "%.2f", fontsize=8)
        axes[2].set_xticks([j + width * (len(probes) - 1) / 2 for j in range(len(rows))], names)
        axes[2].set_title(title)
        # an R² may be negative; the headroom keeps the legend off the bars
        axes[2].set_ylim(bottom=0 if accuracy else None, top=1.3 * scale)
        axes[2].legend(loc="upper center", ncols=len(probes), fontsize=8)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    out = run_dir / "summary.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Overlay the loss and collapse-monitor curves (``COMPARED``) of several runs, one line per run labelled
    with its directory name, so an ablation reads in one figure."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(COMPARED), figsize=(5 * len(COMPARED), 4))
    for run_dir in map(Path, run_dirs):
        metrics = read_metrics(run_dir)
        for ax, key in zip(axes, COMPARED):
            logged = [m for m in metrics if key in m]
            ax.plot([m["step"] for m in logged], [m[key] for m in logged], label=run_dir.name)
    for ax, (title, scale) in zip(axes, COMPARED.values()):
        ax.set(title=title, xlabel="step", yscale=scale)
    axes[0].legend()
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
