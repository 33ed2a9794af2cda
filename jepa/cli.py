"""The ``jepa`` command: ``jepa train|eval|bench|bench-video [hydra overrides]``,
``jepa collect|wm-train|plan [key=value ...]``, ``jepa compare RUN_DIR ... [out=PNG]``."""

from __future__ import annotations

import logging
import sys

USAGE = """usage: jepa {train,eval,bench,bench-video,compare,collect,wm-train,plan} [key=value ...]

  jepa train experiment=ijepa_shapes        pretrain, then probe and plot (the README's main job)
  jepa eval  experiment=ijepa_shapes        probe the latest checkpoint of that run
  jepa bench experiment=ijepa_shapes        time training steps (samples/s, GFLOP/s, peak memory)
  jepa bench-video experiment=vjepa_moving_shapes
                                            clips/s the video loader decodes per backend vs clips/s training uses
  jepa compare runs/a runs/b out=compare.png
                                            overlay the loss, RankMe and feature-std curves of several runs
  jepa collect env=jepa/TwoRooms-v0 policy=waypoint episodes=200 out=data/two_rooms
                                            record episodes as trajectory shards (keys: envs/collect.py)
  jepa wm-train data=data/two_rooms out=runs/world_model
                                            train an action-conditioned world model (keys: jepa/control/config.py)
  jepa plan run=runs/world_model planner=cem episodes=20
                                            reach Two-Rooms goals by planning in its latent space

Overrides use Hydra syntax (model.depth=6 data.batch_size=32); every key is typed and checked
before any work starts. Configs: the `configs` package shipped with jepa."""


def _collect(cfg) -> None:
    from envs.collect import collect

    out = collect(cfg)
    print(f"wrote {cfg.episodes} episodes of {cfg.env} to {out}" + (f" and Minari {cfg.minari}" if cfg.minari else ""))


def _wm_train(cfg) -> None:
    from jepa.control.train import train_world_model

    train_world_model(cfg)


def _plan(cfg) -> None:
    from jepa.control.plan import run_planning

    run_planning(cfg)


def _load(command: str, args: list[str]):
    """The checked configuration of ``command``: key=value into a dataclass for collect, wm-train and plan,
    Hydra otherwise."""
    if command == "collect":
        from envs.collect import parse_collect_args

        return parse_collect_args(args)
    if command == "compare":
        from jepa.plots import parse_compare_args

        return parse_compare_args(args)
    if command in ("wm-train", "plan"):
        from jepa.control.config import PlanConfig, WorldModelTrainConfig
        from jepa.keyvalue import parse_key_values

        return parse_key_values(WorldModelTrainConfig if command == "wm-train" else PlanConfig, args, command)
    from jepa.train.config import load_config

    cfg = load_config(args)
    if command == "bench-video":
        from jepa.bench_video import check_video_config

        check_video_config(cfg)
    return cfg


def _train(cfg) -> None:
    from jepa.evaluate import evaluate_run
    from jepa.train.engine import Trainer

    trainer = Trainer(cfg)
    trainer.fit()
    if trainer.dist.is_main and cfg.eval.enabled:
        evaluate_run(cfg, trainer.method)


def _eval(cfg) -> None:
    import torch

    from jepa.evaluate import evaluate_run, load_trained_method

    if cfg.train.threads:  # as training does: more threads than free cores make every probe crawl
        torch.set_num_threads(cfg.train.threads)
    evaluate_run(cfg, load_trained_method(cfg))


def _bench(cfg) -> None:
    from evals.report import format_table
    from jepa.bench import run_bench

    rows = run_bench(cfg)
    print(f"bench: {cfg.model.name} {cfg.data.image_size}px patch {cfg.model.patch_size} batch {cfg.data.batch_size}")
    columns = ["implementation", "precision", "samples_per_s", "gflop_per_step", "gflops", "matmul_peak_gflops"]
    print(format_table(rows, [*columns, "fraction_of_peak", "peak_memory_mb"]))
    ours = [row for row in rows if row["implementation"].startswith("jepa")]
    if len(ours) > 1:
        print(
            f"{ours[1]['precision']}/{ours[0]['precision']} throughput ratio: "
            f"{ours[1]['samples_per_s'] / ours[0]['samples_per_s']:.2f}"
        )
    for reference in (row for row in rows if not row["implementation"].startswith("jepa")):
        for row in ours:
            print(
                f"{row['implementation']} {row['precision']} / {reference['implementation']} {reference['precision']}: "
                f"{row['samples_per_s'] / reference['samples_per_s']:.2f}x samples/s, "
                f"{row['gflops'] / reference['gflops']:.2f}x GFLOP/s, "
                f"{row['peak_memory_mb'] / reference['peak_memory_mb']:.2f}x peak memory"
            )


def _bench_video(cfg) -> None:
    from evals.report import format_table
    from jepa.bench_video import COLUMNS, run_video_bench

    rows = run_video_bench(cfg)
    data = cfg.data
    print(
        f"bench-video: {data.name}, {data.frames_per_clip} frames every {data.frame_step} at {data.image_size} px, "
        f"batch {data.batch_size}, {cfg.model.name} depth {cfg.model.depth}"
    )
    print(format_table(rows, COLUMNS))


def _compare(cfg) -> None:
    from jepa.plots import plot_runs

    runs, out = cfg
    print(f"wrote {plot_runs(runs, out)}")


COMMANDS = {
    "train": _train,
    "eval": _eval,
    "bench": _bench,
    "bench-video": _bench_video,
    "compare": _compare,
    "collect": _collect,
    "wm-train": _wm_train,
    "plan": _plan,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from hydra.errors import HydraException

    from jepa.common.distributed import shutdown
    from jepa.common.errors import ConfigError

    try:
        # some values are only checked where they are used (a run directory to load): also a bad config
        COMMANDS[argv[0]](_load(argv[0], argv[1:]))
    except (HydraException, ConfigError) as err:
        cause = f" ({err.__cause__})" if err.__cause__ else ""
        print(f"jepa: bad config: {err}{cause}", file=sys.stderr)
        return 2
    finally:
        shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
