"""The README's examples: every ```python block runs, and every `jepa <command>` in a ```bash block exists."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import pytest

from jepa.cli import COMMANDS

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


def test_readme_links_resolve():
    """Relative links of the README (docs pages, anchors aside) point at files that exist."""
    missing = [
        target
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
        if "://" not in target and not (README.parent / target).exists()
    ]
    assert not missing, f"README links to missing files: {missing}"
