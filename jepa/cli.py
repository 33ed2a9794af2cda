"""The ``jepa`` command: ``jepa <command> [key=value ...] [group=option ...] [--help] [--cfg job] [-m]``.

Every command is a Hydra application composed from ``jepa/configs/<file>.yaml`` against a typed schema, so all share
Hydra's command line: ``--help`` lists the config groups and every key with its default, ``--cfg job`` prints
the resolved config and exits, ``--config-dir DIR`` adds a directory of the user's own configs (e.g.
``experiment=mine`` from ``DIR/experiment/mine.yaml``), and ``-m key=a,b`` runs a sweep, one job after another.
A bad key or value exits with status 2, naming it, before any work.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig

USAGE = """usage: jepa <command> [key=value ...] [group=option ...] [--help] [--cfg job] [--config-dir DIR] [-m]

  train        train a method (experiment=ijepa_shapes, experiment=wm_two_rooms, ...), then evaluate it
  eval         evaluate a finished run again: jepa eval run=runs/ijepa_shapes
  bench        time training steps (samples/s, GFLOP/s, peak memory), beside the official I-JEPA step
  bench-video  clips/s the video loader decodes per backend, against the clips/s training consumes
  collect      record episodes of an environment: jepa collect env=two_rooms policy=waypoint out=data/two_rooms
  rollout      run an agent in an environment: jepa rollout run=runs/wm_two_rooms (MPC in its world model)
  compare      overlay the training curves of runs: jepa compare runs=[runs/a,runs/b]
  export       write a run's encoder alone: jepa export run=runs/ijepa_shapes out=encoder.safetensors

`jepa <command> --help` lists the command's config groups and keys with their defaults."""


@dataclass(frozen=True)
class Command:
    """A command's config (``jepa/configs/<config>.yaml`` and its schema), the ``module:function`` that does its
    work, and the one, if any, that checks what the config cannot before any work; imported only when run."""

    config: str
    run: str
    check: str | None = None
    output: str | None = None  # the key naming the directory it writes, which each job of a sweep gets its own of
    default_output: str | None = None  # the ``module:function`` giving that directory when the key is left empty


COMMANDS = {
    "train": Command("train", "jepa.commands.train:train", output="run_dir"),
    "eval": Command("eval", "jepa.commands.evaluate:evaluate"),
    "bench": Command("train", "jepa.bench.report:print_bench", "jepa.bench.step:check_bench"),
    "bench-video": Command("train", "jepa.bench.report:print_video_bench", "jepa.bench.video:check_video_config"),
    "collect": Command("collect", "jepa.commands.collect:collect", output="out"),
    "rollout": Command(
        "rollout",
        "jepa.commands.rollout:rollout",
        output="out",
        default_output="jepa.config.command_schema:rollout_out",
    ),
    "compare": Command("compare", "jepa.commands.compare:compare"),
    "export": Command("export", "jepa.commands.export:export"),
}


def _function(path: str) -> Callable[[DictConfig], object]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _swept_keys(args: list[str]) -> set[str]:
    """The keys a sweep varies (``optim.lr=1e-3,5e-4``), from the command line as Hydra parses it; an override it
    cannot parse raises a ConfigError quoting it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from jepa.common.errors import ConfigError

    parser, swept = OverridesParser.create(), set()
    for arg in (a for a in args if not a.startswith("-") and "=" in a):
        try:
            (override,) = parser.parse_overrides([arg])
        except HydraException as err:
            raise ConfigError(f"cannot parse {arg!r}: {err}") from None
        if override.is_sweep_override():
            swept.add(override.key_or_group)
    return swept


def _in_sweep_job_dir(cfg: DictConfig, command: Command, swept: set[str]) -> None:
    """In a sweep (-m), each job writes into its own directory (the ``output`` key's: a training run's
    ``run_dir``, a collection's or a rollout's ``out``), named by its values of the swept keys:
    ``<dir>/optim.lr_0.001__model.depth_4`` (no ``=`` or ``,``, which a later override would have to quote)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    output = command.output
    if hydra_cfg.mode != RunMode.MULTIRUN or output is None:
        return
    pairs = [o.split("=", 1) for o in hydra_cfg.overrides.task]
    values = "__".join(f"{key.lstrip('+~')}_{value}" for key, value in pairs if key.lstrip("+~") in swept)
    if not values:
        return
    directory = cfg[output] or _function(command.default_output)(cfg)
    cfg[output] = f"{directory}/{values}"


def run_command(name: str, args: list[str]) -> int:
    """Compose and check the config of command ``name`` from ``args`` (Hydra's command line), then run it."""
    import hydra

    from jepa.common.distributed import shutdown
    from jepa.common.errors import ConfigError
    from jepa.config.store import register_configs
    from jepa.config.validate import validate

    command = COMMANDS[name]
    started = False
    try:
        swept = _swept_keys(args)
    except ConfigError as err:
        print(f"jepa {name}: bad config: {err}", file=sys.stderr)
        return 2

    def task(cfg: DictConfig) -> None:
        nonlocal started
        started = True
        try:
            validate(command.config, cfg)
            if command.check:
                _function(command.check)(cfg)
            _in_sweep_job_dir(cfg, command, swept)
            _function(command.run)(cfg)
        except ConfigError as err:
            print(f"jepa {name}: bad config: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    register_configs()
    argv, sys.argv = sys.argv, [f"jepa {name}", *args]
    try:
        hydra.main(config_path="pkg://jepa.configs", config_name=command.config, version_base=None)(task)()
    except SystemExit as stop:
        code = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
        # Hydra exits 1 on a config it cannot compose (an unknown key, a wrong type): a bad config too
        return 2 if code == 1 and not started else code
    finally:
        sys.argv = argv
        shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print(USAGE, file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    return run_command(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
