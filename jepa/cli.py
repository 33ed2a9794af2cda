"""The ``jepa`` command: ``jepa <command> [key=value ...] [group=option ...] [--help] [--cfg job] [-m]``.

Every command is a Hydra application composed from ``configs/<file>.yaml`` (installed as ``jepa.configs``) against a
typed schema, so all share Hydra's command line: ``--help`` lists the config groups and every key with its default,
``--cfg job`` prints the resolved config and exits, ``--config-dir DIR`` adds a directory of the user's own configs
(e.g. ``experiment=mine`` from ``DIR/experiment/mine.yaml``), and ``-m key=a,b`` runs a sweep, one job after another.
A bad key or value exits with status 2, naming it, before any work; bad input (a checkpoint, the data) exits 2 and
what the machine refuses (a full disk, a read-only directory) 1, each as one line (``JEPA_DEBUG=1``: the traceback).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig

DEBUG_ENV = "JEPA_DEBUG"  # set to 1: an error shows its traceback (and Hydra's) instead of one line

USAGE = """usage: jepa <command> [key=value ...] [group=option ...] [--help] [--cfg job] [--config-dir DIR] [-m]
       jepa --version

  train        train a method (experiment=ijepa_shapes, experiment=wm_two_rooms, ...), then evaluate it
  eval         evaluate a finished run again: jepa eval run=runs/ijepa_shapes
  bench        time training steps (samples/s, GFLOP/s, peak memory), beside the official I-JEPA step
  bench-video  clips/s the video loader decodes per backend, against the clips/s training consumes
  collect      record episodes of an environment: jepa collect env=two_rooms policy=waypoint out=data/two_rooms
  rollout      run an agent in an environment: jepa rollout run=runs/wm_two_rooms (MPC in its world model)
  compare      overlay the training curves of runs: jepa compare runs=[runs/a,runs/b]
  export       write a run's encoder alone: jepa export run=runs/ijepa_shapes out=encoder.safetensors
  embed        features of image, video or sound files: jepa embed file=encoder.safetensors inputs=photos/

`jepa <command> --help` lists the command's config groups and keys with their defaults."""


@dataclass(frozen=True)
class Command:
    """A command's config (``configs/<config>.yaml`` and its schema), the ``module:function`` that does its
    work, and the one, if any, that checks what the config cannot before any work; imported only when run."""

    config: str
    run: str
    check: str | None = None
    output: str | None = None  # the key naming the directory it writes, which each job of a sweep gets its own of
    default_output: str | None = None  # the ``module:function`` giving that directory when the key is left empty
    extra: str | None = None  # the optional extra it needs (control: gymnasium), named before its module is imported


COMMANDS = {
    "train": Command("train", "jepa.commands.train:train", output="run_dir"),
    "eval": Command("eval", "jepa.commands.evaluate:evaluate"),
    "bench": Command("train", "jepa.bench.report:print_bench", "jepa.bench.step:check_bench"),
    "bench-video": Command("train", "jepa.bench.report:print_video_bench", "jepa.bench.video:check_video_config"),
    "collect": Command("collect", "jepa.commands.collect:collect", output="out", extra="control"),
    "rollout": Command(
        "rollout",
        "jepa.commands.rollout:rollout",
        output="out",
        default_output="jepa.config.command_schema:rollout_out",
        extra="control",
    ),
    "compare": Command("compare", "jepa.commands.compare:compare"),
    "export": Command("export", "jepa.commands.export:export"),
    "embed": Command("embed", "jepa.commands.embed:embed"),
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


def _first_lines(text: str) -> list[str]:
    """The lines of an error message that say what is wrong: not OmegaConf's indented node details, Hydra's
    config search path or its link to the override grammar."""
    kept = []
    for line in text.strip().splitlines():
        if line.startswith(("Config search path", "See https://")):
            break
        if line.strip() and not line.startswith("    "):
            kept.append(line.strip())
    return kept


def _one_line(err: BaseException, command: str) -> str:
    """An error's message on one line, with what caused it. Hydra's for an unknown key says which key and the
    nearest declared one instead of its advice to add the key with ``+`` (which the checks refuse too)."""
    from jepa.config.validate import nearest_key, options_with_key

    text = " ".join(_first_lines(str(err)))
    details = f"{err}\n{err.__cause__ or ''}"
    unknown = re.match(r"Could not override '([^']+)'", text) or re.search(r"not in '\w+'\s+full_key: (\S+)", details)
    if unknown:
        key = unknown.group(1)
        near = nearest_key(key, command)
        where = re.match(r"In '([^']+)'", text)  # a config file, e.g. the user's experiment/mine
        owners = options_with_key(key)
        hint = f"; it belongs to {owners}" if owners else f"; did you mean {near}?" if near else ""
        return f"{key}{f' (in {where.group(1)})' if where else ''} is not a key of this command's config{hint}"
    options = re.match(r"(In '[^']+': )?Could not find '([^']+)' Available options in '[^']+': (.*)", text)
    if options:
        return f"no option {options.group(2)}; the options: {', '.join(options.group(3).split())}"
    cause = err.__cause__
    if isinstance(err, _hydra_errors()) and cause is not None and str(cause).strip():  # ours say it all
        text = f"{text}: {' '.join(_first_lines(str(cause)))}"
    return text


def _report(name: str, err: BaseException) -> int:
    """Print what went wrong in one line on stderr -> the exit status: 2 for a bad config or bad input (the
    config, a checkpoint, the data), 1 for what the machine refused (a full disk, a read-only directory), a run
    directory another run holds, or a training that diverged."""
    from jepa.common.errors import CheckpointError, ConfigError, DataError, NonFiniteLossError, RunDirBusyError

    if isinstance(err, (RunDirBusyError, NonFiniteLossError)):
        print(f"jepa {name}: {err}", file=sys.stderr)
        return 1
    if isinstance(err, (ConfigError, *_hydra_errors())):
        print(f"jepa {name}: bad config: {_one_line(err, COMMANDS[name].config)}", file=sys.stderr)
        return 2
    if isinstance(err, (CheckpointError, DataError)):
        print(f"jepa {name}: {_one_line(err, COMMANDS[name].config)}", file=sys.stderr)
        return 2
    where = f" {err.filename}" if getattr(err, "filename", None) else ""
    print(f"jepa {name}: cannot use{where}: {err.strerror or err}", file=sys.stderr)  # an OSError
    return 1


def _help_with_meanings(hydra_help: str, command: str, args: list[str]) -> str:
    """Hydra's ``--help`` with each key's meaning (from the schema's comments) at the end of its line."""
    from jepa.commands.describe import annotate, key_descriptions
    from jepa.config.compose import compose_config

    head, marker, config_yaml = hydra_help.partition("Override anything in the config (foo.bar=value)\n")
    if not marker:
        return hydra_help
    config_dir = args[args.index("--config-dir") + 1] if "--config-dir" in args[:-1] else None
    overrides = [a for a in args if "=" in a and not a.startswith("-") and a != config_dir]
    try:
        described = key_descriptions(compose_config(overrides, command, config_dir))
    except Exception:  # noqa: BLE001  (a config Hydra could print but not compose: print it as it is)
        return hydra_help
    return head + marker + annotate(config_yaml, described)


def run_command(name: str, args: list[str]) -> int:
    """Compose and check the config of command ``name`` from ``args`` (Hydra's command line), then run it. An
    error the user can act on is one line on stderr (:func:`_report`); ``JEPA_DEBUG=1`` shows its traceback."""
    from jepa.common.errors import CheckpointError, ConfigError, DataError, NonFiniteLossError, RunDirBusyError
    from jepa.config.checks import check_installed
    from jepa.config.methods import load_methods
    from jepa.config.store import register_configs
    from jepa.config.validate import validate

    reported = (ConfigError, CheckpointError, DataError, RunDirBusyError, NonFiniteLossError, OSError)
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    command = COMMANDS[name]
    try:
        if {"-m", "--multirun"} & set(args) and {"-c", "--cfg"} & set(args):
            raise ConfigError("-m and --cfg do not go together: print one job's config without -m")
        swept = _swept_keys(args)
    except ConfigError as err:
        return _report(name, err)

    def task(cfg: DictConfig) -> None:
        try:
            try:
                validate(command.config, cfg)
                if command.extra:
                    check_installed("gymnasium", command.extra, f"jepa {name}")
                if command.check:
                    _function(command.check)(cfg)
            except _hydra_errors() as err:  # a value the schema's types refuse; later, a bug of ours
                raise ConfigError(_one_line(err, command.config)) from err
            _in_sweep_job_dir(cfg, command, swept)
            _function(command.run)(cfg)
        except reported as err:
            if debug:
                raise
            raise SystemExit(_report(name, err)) from None  # reported here: Hydra would add a line of its own

    register_configs()
    if command.config == "train":
        try:
            load_methods()  # the method=<name> options
        except ConfigError as err:
            return _report(name, err)
    if {"--help", "-h"} & set(args):
        hydra_help = io.StringIO()
        with contextlib.redirect_stdout(hydra_help):
            status = _hydra_main(command, task, name, args, debug)
        print(_help_with_meanings(hydra_help.getvalue(), command.config, args), end="")
        return status
    return _hydra_main(command, task, name, args, debug)


def _hydra_main(command: Command, task: Callable[[DictConfig], None], name: str, args: list[str], debug: bool) -> int:
    """Run ``task`` as the Hydra application of ``command`` on the command line ``args`` -> the exit status; Hydra's
    errors are reported in one line."""
    import hydra

    from jepa.common.distributed import shutdown

    argv, sys.argv = sys.argv, [f"jepa {name}", *args]
    hydra_full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises, and the error is reported here in one line
    try:
        hydra.main(config_path="pkg://jepa.configs", config_name=command.config, version_base=None)(task)()
    except SystemExit as stop:
        return 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    except _hydra_errors() as err:
        if debug:
            raise
        return _report(name, err)
    finally:
        sys.argv = argv
        if hydra_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR")
        else:
            os.environ["HYDRA_FULL_ERROR"] = hydra_full_error
        shutdown()
    return 0


def _hydra_errors() -> tuple[type[BaseException], ...]:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return HydraException, OmegaConfBaseException


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--version"], ["-V"]):
        from importlib.metadata import version

        print(f"jepa {version('jepa')}")
        return 0
    if not argv or argv[0] not in COMMANDS:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        if argv and not asked:
            near = difflib.get_close_matches(argv[0], COMMANDS, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            print(f"jepa: {argv[0]!r} is not a command{hint}\n", file=sys.stderr)
        print(USAGE, file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    return run_command(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
