"""The bench commands' printed tables and ratios."""

from __future__ import annotations

from omegaconf import DictConfig

from evals.report import format_table


def print_bench(cfg: DictConfig) -> list[dict]:
    """Run ``jepa bench`` and print one row per precision (and the reference), then the ratios between them."""
    from jepa.bench.step import run_bench

    rows = run_bench(cfg)
    print(f"bench: {cfg.model.name} {cfg.data.image_size}px patch {cfg.model.patch_size} batch {cfg.data.batch_size}")
    columns = ["implementation", "precision", "samples_per_s", "gflop_per_step", "gflops", "matmul_peak_gflops"]
    print(format_table(rows, [*columns, "fraction_of_peak", "peak_memory_mb"]))
    ours = [row for row in rows if row["implementation"].startswith("jepa")]
    if len(ours) > 1:
        print(
            f"{ours[1]['precision']}/{ours[0]['precision']} throughput ratio: "
            f"{ours[1]['samples_per_s'] / ours[0]['samples_per_s']:.2f} "
            f"(matmul peak ratio, the most a GEMM-bound step can gain here: "
            f"{ours[1]['matmul_peak_gflops'] / ours[0]['matmul_peak_gflops']:.2f})"
        )
    for reference in (row for row in rows if not row["implementation"].startswith("jepa")):
        for row in ours:
            print(
                f"{row['implementation']} {row['precision']} / {reference['implementation']} {reference['precision']}: "
                f"{row['samples_per_s'] / reference['samples_per_s']:.2f}x samples/s, "
                f"{row['gflops'] / reference['gflops']:.2f}x GFLOP/s, "
                f"{row['peak_memory_mb'] / reference['peak_memory_mb']:.2f}x peak memory"
            )
    return rows


def print_video_bench(cfg: DictConfig) -> list[dict]:
    """Run ``jepa bench-video`` and print its table."""
    from jepa.bench.video import COLUMNS, run_video_bench

    rows = run_video_bench(cfg)
    data = cfg.data
    print(
        f"bench-video: {data.name}, {data.frames_per_clip} frames every {data.frame_step} at {data.image_size} px, "
        f"batch {data.batch_size}, {cfg.model.name} depth {cfg.model.depth}"
    )
    print(format_table(rows, COLUMNS))
    return rows
