"""Write a generated dataset directory once, atomically, so every generator shares one safe recipe.

A dataset is generated into a temporary sibling and renamed into place only when whole, with a
completion marker written last: a killed run never leaves a half dataset that looks complete, a
complete one is never regenerated, and concurrent callers (e.g. DDP ranks) end up sharing one copy.
``write_file_atomically`` does the same for a single file (the trajectory collector's shards and metadata).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

MARKER = ".complete"  # written last; its presence means the directory is whole


def is_complete(directory: str | Path) -> bool:
    """True when ``directory`` holds a fully written dataset (its marker exists)."""
    return (Path(directory) / MARKER).is_file()


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_tmp(final: Path) -> None:
    """Delete temp dirs left by killed generations on this host (their process no longer exists)."""
    prefix = f".{final.name}.tmp-{socket.gethostname()}-"
    for d in final.parent.glob(prefix + "*"):
        try:
            pid = int(d.name[len(prefix) :].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _publish(tmp: Path, final: Path) -> Path:
    """Atomically move a finished ``tmp`` into place; if another process won the race, keep theirs."""
    try:
        os.rename(tmp, final)
        return final
    except OSError:
        if not is_complete(final):
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    return final


def generate_once(final: str | Path, generate: Callable[[Path], dict]) -> Path:
    """Return ``final``, first filling it with ``generate(tmp_dir)`` unless it is already complete.

    ``generate`` writes the files into the empty directory it is given and returns metadata, which
    becomes the completion marker (JSON).
    """
    final = Path(final)
    if is_complete(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(final)
    if final.exists():
        # Never produced by this code (publication is atomic): move it aside rather than trust it.
        aside = final.parent / f".{final.name}.broken-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(final, aside)
            shutil.rmtree(aside, ignore_errors=True)
        except OSError:
            pass
    tmp = final.parent / f".{final.name}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        meta = generate(tmp)
        with open(tmp / MARKER, "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        return _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_file_atomically(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Fill ``path`` through ``write(file)`` via a temporary sibling renamed into place when whole, so a
    reader never sees a half-written file under the final name."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
