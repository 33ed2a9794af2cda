"""The command line every command shares: help, printing the config, the user's own configs, sweeps, and run
directories that refuse a changed config."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jepa.cli import main


def _jepa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jepa.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize("command", ["train", "eval", "collect", "rollout", "compare"])
def test_help_lists_the_groups_and_every_key_with_its_default(command, tmp_path):
    result = _jepa(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "== Configuration groups ==" in result.stdout
    keys = {"train": "warmup_steps: 100", "eval": "baselines: true", "collect": "episodes_per_shard: 50"}
    keys |= {"rollout": "samples: 150", "compare": "out: compare.png"}
    assert keys[command] in result.stdout
    assert not any(tmp_path.iterdir())  # nothing written


def test_cfg_prints_the_resolved_config_and_exits(tmp_path):
    result = _jepa("train", "experiment=wm_two_rooms", "optim.lr=0.002", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load(result.stdout)
    assert cfg["method"]["name"] == "world_model" and cfg["optim"]["lr"] == 0.002
    assert not any(tmp_path.iterdir())


def _own_experiment(directory: Path, body: str) -> Path:
    (directory / "experiment").mkdir(parents=True)
    (directory / "experiment" / "mine.yaml").write_text("# @package _global_\n" + body)
    return directory


def test_a_users_own_config_directory_composes_with_the_shipped_groups(tmp_path):
    own = _own_experiment(
        tmp_path / "configs", "defaults:\n  - override /data: digits\nname: mine\noptim:\n  lr: 0.003\n"
    )
    result = _jepa("train", "--config-dir", str(own), "experiment=mine", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load(result.stdout)
    assert (cfg["name"], cfg["data"]["name"], cfg["optim"]["lr"]) == ("mine", "digits", 0.003)


def test_a_misspelt_key_in_a_users_experiment_file_exits_2_naming_it(tmp_path):
    own = _own_experiment(tmp_path / "configs", "optim:\n  learning_rate: 0.003\n")
    result = _jepa("train", "--config-dir", str(own), "experiment=mine", cwd=tmp_path)
    assert result.returncode == 2
    assert "learning_rate" in result.stderr and "optim" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_sweep_runs_its_jobs_one_after_another_each_into_its_own_run_directory(tiny_overrides, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Hydra keeps its record of the sweep under ./runs/sweeps
    overrides = [o for o in tiny_overrides if not o.startswith("run_dir=")]
    run_dir = tmp_path / "sweep"
    args = ["train", "-m", *overrides, f"run_dir={run_dir}", "train.steps=2", "eval.enabled=false"]
    assert main([*args, "data.num_workers=0", "optim.lr=0.001,0.002"]) == 0
    runs = sorted(p.name for p in run_dir.iterdir())
    assert runs == ["optim.lr_0.001", "optim.lr_0.002"]
    for run, lr in zip(runs, (0.001, 0.002)):
        saved = yaml.safe_load((run_dir / run / "config.yaml").read_text())
        assert saved["optim"]["lr"] == lr and (run_dir / run / "checkpoints" / "latest").exists()


def test_rerunning_a_run_with_a_changed_config_is_refused_naming_the_key(tiny_overrides, capsys):
    common = ["train", *tiny_overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]
    assert main(common) == 0
    run_dir = Path(next(o for o in tiny_overrides if o.startswith("run_dir=")).split("=", 1)[1])
    saved = (run_dir / "config.yaml").read_text()
    assert main(common) == 0  # the same config: resumes (here: already finished)

    assert main([*common, "optim.lr=0.01"]) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "train.resume=force" in err
    assert (run_dir / "config.yaml").read_text() == saved  # never silently overwritten

    assert main([*common, "optim.lr=0.01", "train.steps=3", "train.resume=force"]) == 0
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]["lr"] == 0.01
    assert (run_dir / "config.previous.yaml").read_text() == saved
    assert (run_dir / "checkpoints" / "step_00000003").exists()  # continued from step 2, not restarted


def test_eval_probes_a_run_with_its_own_saved_config(tiny_overrides, capsys):
    assert main(["train", *tiny_overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]) == 0
    run_dir = next(o for o in tiny_overrides if o.startswith("run_dir=")).split("=", 1)[1]
    capsys.readouterr()
    assert main(["eval", f"run={run_dir}", "eval.baselines=false", "threads=1"]) == 0
    assert "probes on held-out shapes" in capsys.readouterr().out
    assert (Path(run_dir) / "eval.json").exists()


def test_unknown_command_is_named_with_the_usage_and_exits_2(capsys):
    assert main(["trian"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jepa: 'trian' is not a command; did you mean train?") and "rollout" in err


def test_version_is_the_installed_packages(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"jepa {version('jepa')}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "train.resume=foce"], "train.resume='foce'"),
        (["eval"], "run must be set"),
        (["eval", "run=/nonexistent/run"], "run=/nonexistent/run has no checkpoint"),
        (["compare"], "runs must be set"),
        (["train", "optim.lr=[1,"], "optim.lr"),
        (["rollout", "agent=random", "env.id=CartPole-v1"], "continuous actions"),
        (["rollout", "agent=expert", "env=pendulum", "env.id=MountainCarContinuous-v0"], "agent=expert"),
        (["bench", "experiment=wm_two_rooms"], "masked-JEPA training step only"),
        (["export", "run=/nonexistent/run"], "run=/nonexistent/run has no checkpoint"),
        (["train", "model.init_from=/nonexistent.pth"], "model.init_from=/nonexistent.pth is not a file"),
        (["train", "model.pos_embed=alibi"], "model.pos_embed"),
    ],
)
def test_bad_configs_of_every_command_exit_2_before_any_work(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args",
    [["train", "experiment=act_two_rooms"], ["collect", "env=two_rooms", "out=data"], ["rollout", "run=runs/none"]],
)
def test_the_control_commands_without_gymnasium_exit_2_naming_the_extra(args, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # as on an install without the 'control' extra
    assert main(args) == 2
    assert "pip install 'jepa[control]'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_jepa_command_imports_its_own_envs_and_evals_beside_a_users_folders_of_those_names(tmp_path):
    for name in ("envs", "evals"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the user\\'s own {name}')\n")
    jepa = Path(sys.executable).parent / "jepa"
    args = ["collect", "env=two_rooms", "episodes=1", "steps=3", "num_envs=1", "out=out", "progress=false"]
    done = subprocess.run([jepa, *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    shadowed = _jepa(*args[:-2], "out=out2", cwd=tmp_path)  # python -m: the working directory comes first
    assert shadowed.returncode != 0 and "the user's own envs" in shadowed.stderr


def test_a_users_configs_folder_cannot_shadow_the_presets(tmp_path):
    """The presets live in the top-level configs/ folder but are installed as jepa.configs: even python -m, which
    puts the working directory first, reads ours beside a user's configs/ folder with experiment/ijepa_shapes.yaml."""
    (tmp_path / "configs" / "experiment").mkdir(parents=True)
    (tmp_path / "configs" / "__init__.py").write_text("raise ImportError('the user's own configs')\n")
    (tmp_path / "configs" / "experiment" / "ijepa_shapes.yaml").write_text("name: the_users\n")
    done = _jepa("train", "experiment=ijepa_shapes", "--cfg", "job", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "name: ijepa_shapes" in done.stdout


def test_collect_refuses_a_directory_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "old.npz").write_bytes(b"")
    assert main(["collect", f"out={tmp_path}", "episodes=1"]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_resume_never_starts_afresh_and_a_path_resumes_from_that_runs_latest_checkpoint(tiny_overrides, tmp_path):
    common = ["train", *tiny_overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]
    run_dir = Path(next(o for o in tiny_overrides if o.startswith("run_dir=")).split("=", 1)[1])
    assert main(common) == 0
    (run_dir / "eval.json").write_text("{}")  # left from an earlier evaluation
    other = tmp_path / "continued"
    assert main([*common, f"run_dir={other}", "train.steps=3", f"train.resume={run_dir}"]) == 0
    assert sorted(p.name for p in (other / "checkpoints").glob("step_*")) == ["step_00000003"]
    assert main([*common, "train.resume=never"]) == 0
    assert not (run_dir / "eval.json").exists()  # nothing of the old run is left to mix with the new one


def test_a_second_run_into_a_held_run_directory_is_refused_and_the_first_is_untouched(tiny_overrides, tmp_path):
    import os
    import time

    from conftest import _logged_losses

    args = [*tiny_overrides, "train.steps=300", "eval.enabled=false", "data.num_workers=0"]
    args = [a for a in args if not a.startswith("run_dir=")]
    lone, shared = tmp_path / "lone", tmp_path / "shared"
    cli = [sys.executable, "-m", "jepa.cli", "train", *args]
    subprocess.run([*cli, f"run_dir={lone}"], check=True, timeout=300, capture_output=True)
    first = subprocess.Popen([*cli, f"run_dir={shared}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = shared / ".lock"
    deadline = time.time() + 120
    while time.time() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.01)
    second = subprocess.run([*cli, f"run_dir={shared}", "train.seed=1"], capture_output=True, text=True, timeout=300)
    assert first.poll() is None, "the first run ended before the second tried its directory"
    assert first.wait(timeout=300) == 0
    assert second.returncode == 1 and len(second.stderr.strip().splitlines()) == 1
    holder = f"jepa train: {shared} is in use by jepa train, pid {first.pid} on {os.uname().nodename}, since "
    assert second.stderr.startswith(holder)
    assert _logged_losses(shared) == _logged_losses(lone)  # nothing of the refused run got in
    assert yaml.safe_load((shared / "config.yaml").read_text())["train"]["seed"] == 0
    assert main(["train", *args, f"run_dir={shared}"]) == 0  # released at exit: the finished run re-opens


def test_checkpoints_a_killed_run_left_half_written_are_removed_at_the_next_start(tiny_overrides):
    common = ["train", *tiny_overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]
    run_dir = Path(next(o for o in tiny_overrides if o.startswith("run_dir=")).split("=", 1)[1])
    partial = run_dir / "checkpoints" / ".tmp-step_00000004-12345"
    partial.mkdir(parents=True)
    (partial / "model.safetensors").write_bytes(b"half")
    assert main(common) == 0
    assert not partial.exists() and (run_dir / "checkpoints" / "step_00000002").exists()


def test_help_says_what_each_key_means_from_the_schema(capsys):
    assert main(["train", "experiment=act_two_rooms", "--help"]) == 0
    out = capsys.readouterr().out
    assert "  chunk: 8  # actions predicted per step, executed open-loop" in out
    assert "  pos_embed: sincos  # sincos (added to the tokens: I-JEPA, V-JEPA) | rope" in out


def test_a_run_ends_naming_where_its_files_and_data_are(tiny_overrides, data_root, capsys):
    assert main(["train", *tiny_overrides, "train.steps=1", "eval.enabled=false", "data.num_workers=0"]) == 0
    run_dir = Path(next(o for o in tiny_overrides if o.startswith("run_dir=")).split("=", 1)[1])
    out = capsys.readouterr().out
    assert f"run directory {run_dir.resolve()}: config.yaml, metrics.jsonl, checkpoints/" in out
    assert f"data read from {Path(data_root).resolve()}" in out
