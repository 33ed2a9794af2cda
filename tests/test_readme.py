"""The README's examples: every ```python block runs, and every `jepa <command>` in a ```bash block exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import traceback
from pathlib import Path

import pytest

from jepa.cli import COMMANDS, main
from jepa.config.compose import compose_config
from jepa.config.validate import check_declared

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


PYTHON_BLOCKS = blocks("python")


def test_readme_has_python_and_bash_blocks():
    assert PYTHON_BLOCKS and blocks("bash")


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=[f"python_block_{i}" for i in range(len(PYTHON_BLOCKS))])
def test_python_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    try:
        exec(compile(code, "<README.md python block>", "exec"), namespace)
    except Exception:
        pytest.fail(f"this README block failed:\n\n{code}\n{traceback.format_exc()}", pytrace=False)


def jepa_commands(script: str) -> list[tuple[str, str]]:
    """(command name, line) for every call of `jepa` in a shell script (also `.venv/bin/jepa` and `jepa.cli`)."""
    found = []
    for line in script.splitlines():
        code = line.split("#", 1)[0]
        for match in re.finditer(r"(?:^|[\s/;&|(])jepa(?:\.cli)?\s+(\S+)", code):
            found.append((match.group(1), line.strip()))
    return found


def test_jepa_command_finder():
    script = "bash scripts/setup.sh && .venv/bin/jepa train x=1\ntorchrun -m jepa.cli eval run=r  # jepa nothing\n"
    assert [name for name, _ in jepa_commands(script)] == ["train", "eval"]


def test_readme_jepa_commands_exist():
    commands = [found for script in blocks("bash") for found in jepa_commands(script)]
    assert commands, "no jepa command in the README's bash blocks"
    unknown = [line for name, line in commands if name not in COMMANDS]
    assert not unknown, f"jepa commands that do not exist ({', '.join(COMMANDS)}):\n" + "\n".join(unknown)


def jepa_invocations(script: str) -> list[list[str]]:
    """The arguments of every `.venv/bin/jepa` call of a shell script: lines joined at a trailing backslash, split
    at ``&&``, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    calls = []
    for line in joined.splitlines():
        for part in line.split("#", 1)[0].split("&&"):
            words = shlex.split(part)
            if words and words[0].endswith("bin/jepa"):
                calls.append(words[1:])
    return calls


def test_readme_shell_lines_call_what_the_setup_installed():
    """After `bash scripts/setup.sh`, in a fresh shell, `jepa` is not on the PATH: every line calls `.venv/bin/...`."""
    bare = [
        line
        for script in blocks("bash")
        for line in script.splitlines()
        if re.match(r"\s*(jepa|torchrun|tensorboard|python|pytest)\b", line.split("#", 1)[0])
    ]
    assert not bare, "README lines that a fresh shell cannot run:\n" + "\n".join(bare)


def _one_job(args: list[str]) -> list[str]:
    """A sweep's first job: without -m, each swept key at its first value."""
    return [re.sub(r"^([\w.]+=)([^,\[]+),.*$", r"\1\2", a) for a in args if a not in ("-m", "--multirun")]


@pytest.mark.parametrize("args", [a for script in blocks("bash") for a in jepa_invocations(script)], ids=" ".join)
def test_readme_jepa_lines_compose(args, tmp_path, monkeypatch, capsys):
    """Each README `jepa` line starts: its config composes (``--cfg job`` prints it without doing the work), with
    the README's own experiment file in ./my_configs."""
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "my_configs" / "experiment"
    own.mkdir(parents=True)
    (own / "mine.yaml").write_text(blocks("yaml")[0])
    args = _one_job(args)
    if not {"--help", "--cfg"} & set(args):
        args = [*args, "--cfg", "job"]
    assert main(args) == 0, capsys.readouterr().err
    overrides = [a for a in args[1:] if "=" in a and not a.startswith("-")]
    config_dir = args[args.index("--config-dir") + 1] if "--config-dir" in args else None
    check_declared(compose_config(overrides, COMMANDS[args[0]].config, config_dir))  # no key a + would add


@pytest.mark.skipif(not (README.parent / ".venv" / "bin" / "jepa").exists(), reason="needs scripts/setup.sh's .venv")
def test_the_main_job_line_starts_in_a_fresh_shell():
    line = next(a for script in blocks("bash") for a in jepa_invocations(script) if a[:1] == ["train"])
    script = " ".join([".venv/bin/jepa", *map(shlex.quote, line), "--cfg", "job"])
    result = subprocess.run(
        ["bash", "-c", script], cwd=README.parent, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_links_resolve():
    """Relative links of the README (docs pages, anchors aside) point at files that exist."""
    missing = [
        target
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
        if "://" not in target and not (README.parent / target).exists()
    ]
    assert not missing, f"README links to missing files: {missing}"
