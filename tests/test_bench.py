"""`jepa bench`: FLOPs averaged over the timed batches, its rows, and timing the official step beside ours."""

import os

import pytest
import torch
from omegaconf import OmegaConf

from jepa.bench.measure import mean_flops
from jepa.bench.reference import bench_reference, check_reference_config, load_reference
from jepa.bench.step import bench_precision, run_bench
from jepa.config import load_config

BENCH = ["bench.steps=2", "bench.warmup=1", "bench.repeats=2"]


def test_mean_flops_averages_over_batches_and_counts_each_mask_size_once():
    rows_per_batch, counted = [8, 16, 8, 8, 32], []

    def forward_backward(rows: int) -> None:
        counted.append(rows)
        torch.ones(rows, 4) @ torch.ones(4, 2)

    flops = mean_flops(forward_backward, rows_per_batch, lambda rows: (rows,))
    assert counted == [8, 16, 32]
    assert flops == pytest.approx(sum(2 * rows * 4 * 2 for rows in rows_per_batch) / len(rows_per_batch))


def test_attention_on_cpu_is_counted_like_two_batched_matmuls():
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    flops = mean_flops(lambda _: torch.nn.functional.scaled_dot_product_attention(q, k, v), [None], lambda _: ())
    assert flops == 2 * (2 * 2 * 3 * 5 * 5 * 4)  # q @ k^T and weights @ v


def test_bench_row_reports_the_rate_and_work_of_the_timed_steps(tiny_overrides):
    row = bench_precision(OmegaConf.to_container(load_config([*tiny_overrides, *BENCH])), "fp32")
    assert row["implementation"] == "jepa" and row["samples_per_s"] > 0 and row["gflop_per_step"] > 0
    assert row["gflops"] == pytest.approx(row["gflop_per_step"] * row["samples_per_s"] / 16)


def test_rounds_give_one_row_per_precision_from_fresh_processes(tiny_overrides):
    rows = run_bench(load_config([*tiny_overrides, *BENCH, "bench.precisions=[fp32]", "bench.rounds=2"]))
    assert [(r["implementation"], r["precision"]) for r in rows] == [("jepa", "fp32")]
    assert rows[0]["matmul_peak_gflops"] > 0 and 0 < rows[0]["fraction_of_peak"]
    assert rows[0]["peak_memory_mb"] > 0


def test_reference_must_be_a_checkout_of_the_official_code(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a checkout of facebookresearch/ijepa.*vision_transformer.py"):
        load_reference(tmp_path)


def test_reference_refuses_configs_the_official_step_cannot_run(tiny_overrides, video_overrides):
    with pytest.raises(ValueError, match="mask.min_keep=20"):  # its sampler would never finish
        check_reference_config(load_config([*tiny_overrides, "mask.min_keep=20"]))
    with pytest.raises(ValueError, match="2D images"):
        check_reference_config(load_config(video_overrides))
    check_reference_config(load_config(tiny_overrides))


@pytest.mark.skipif(not os.environ.get("IJEPA_SRC"), reason="IJEPA_SRC names no checkout of facebookresearch/ijepa")
def test_official_step_on_the_same_masks_does_the_same_work(tiny_overrides):
    cfg = load_config(
        [*tiny_overrides, *BENCH, f"bench.reference={os.environ['IJEPA_SRC']}", "bench.reference_masks=true"]
    )
    ours = bench_precision(OmegaConf.to_container(cfg), "fp32")
    official = bench_reference(OmegaConf.to_container(cfg))
    assert ours["implementation"] == "jepa (official masks)" and official["implementation"] == "official I-JEPA"
    assert official["samples_per_s"] > 0
    assert official["gflop_per_step"] == pytest.approx(ours["gflop_per_step"], rel=0.02)
