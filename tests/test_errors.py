"""What a user gets wrong, and what the machine refuses, each ends the command with one line on stderr and an exit
status: 2 for a bad config or bad input, 1 for what the machine refused (``JEPA_DEBUG=1`` shows the traceback)."""

import errno
import pickle
import shutil
from pathlib import Path

import pytest

from jepa.cli import main
from jepa.commands.collect import collect
from jepa.config import load_config


def _fails_in_one_line(args: list[str], capsys, status: int) -> str:
    capsys.readouterr()
    assert main(args) == status
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "%|" not in line]  # bars aside
    assert len(lines) == 1, "\n".join(lines)
    return lines[0]


class _Code:
    """Unpickling this would name code to run; a checkpoint holding it must be refused."""


@pytest.fixture
def trained_run(tiny_overrides):
    """A finished two-step I-JEPA run (its directory)."""
    assert main(["train", *tiny_overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]) == 0
    return Path(next(o for o in tiny_overrides if o.startswith("run_dir=")).split("=", 1)[1])


@pytest.mark.parametrize(
    "args, message",
    [
        (["trian.steps=5"], "trian.steps is not a key of this command's config; did you mean train.steps?"),
        (["+trian.steps=5"], "trian.steps is not a key of this command's config (a + cannot add one)"),
        (["+method.chunks=5", "method=act"], "method.chunks is not a key"),
        (["optim.lr=fast"], "optim.lr=fast: Value 'fast' of type 'str' could not be converted to Float"),
        (["method=ijepa"], "no option method/ijepa; the options: act, act_jepa"),
        (["optim.lr=[1,"], "cannot parse 'optim.lr=[1,'"),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_it(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    err = _fails_in_one_line(["train", *args], capsys, 2)
    assert err.startswith("jepa train: bad config: ") and message in err
    assert not any(tmp_path.iterdir())


def test_a_pickled_or_damaged_checkpoint_is_refused_in_one_line(trained_run, tiny_overrides, tmp_path, capsys):
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"weights": _Code}))
    args = ["train", *tiny_overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]
    err = _fails_in_one_line([*args, f"run_dir={tmp_path / 'other'}", f"model.init_from={evil}"], capsys, 2)
    assert "never unpickled" in err

    weights = trained_run / "checkpoints" / "step_00000002" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    err = _fails_in_one_line(args, capsys, 2)
    assert "step_00000002 is damaged" in err and "train.resume=never" in err


def test_what_the_machine_refuses_is_one_line(tiny_overrides, monkeypatch, capsys):
    args = ["train", *tiny_overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]
    err = _fails_in_one_line([*args, "run_dir=/proc/jepa/run"], capsys, 1)  # nothing can be created under /proc
    assert err.startswith("jepa train: cannot use /proc/jepa")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[-1]))

    monkeypatch.setattr("jepa.train.checkpoint.save_file", full)
    assert "No space left on device" in _fails_in_one_line(args, capsys, 1)


def test_a_non_policy_run_as_a_policy_is_one_line(trained_run, capsys):
    err = _fails_in_one_line(["rollout", "agent=policy", f"run={trained_run}", "env=two_rooms"], capsys, 2)
    assert "trained method=masked_jepa, not a policy" in err


def test_trajectories_without_a_readable_shard_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    out = tmp_path / "episodes"
    overrides = ["env=two_rooms", "policy=random", "episodes=2", "steps=6", "num_envs=1", "progress=false"]
    collect(load_config([*overrides, f"out={out}"], command="collect"))
    for shard in out.glob("shard_*.npz"):
        shard.write_bytes(b"not a shard")
    args = ["train", "experiment=wm_two_rooms", f"data.root={out}", f"run_dir={tmp_path / 'run'}", "train.steps=1"]
    assert "no readable shard in" in _fails_in_one_line(args, capsys, 2)
    shutil.rmtree(out)
    out.mkdir()
    assert "not a finished trajectory collection" in _fails_in_one_line(args, capsys, 2)


def test_jepa_debug_shows_the_traceback_instead(monkeypatch, tmp_path):
    from jepa.common.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JEPA_DEBUG", "1")
    with pytest.raises(ConfigError, match="train.resume='foce'"):
        main(["train", "train.resume=foce"])


def test_missing_or_too_little_data_is_one_line_exit_2(tiny_overrides, tmp_path, capsys):
    args = ["train", *tiny_overrides, "train.steps=1", "eval.enabled=false", "data.num_workers=0"]
    err = _fails_in_one_line([*args, "data=folder", f"data.root={tmp_path / 'nowhere'}"], capsys, 2)
    assert "nowhere does not exist" in err
    assert "fewer than one batch" in _fails_in_one_line([*args, "data.num_train=8"], capsys, 2)
