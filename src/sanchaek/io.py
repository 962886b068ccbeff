"""Atomic, crash-safe file IO shared by every stage.

Writers go through a temp file in the target folder, fsync, then ``os.replace``: a reader (or a
killed stage) sees either the old file or the new one, never half of one. A full disk raises a
SanchaekError that names the file and leaves the previous output intact.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from .errors import SanchaekError


def _disk_error(path: Path, exc: OSError) -> SanchaekError:
    if exc.errno == errno.ENOSPC:
        return SanchaekError(
            f"disk full while writing {path}: free space and rerun (earlier output is intact)"
        )
    return SanchaekError(f"cannot write {path}: {exc.strerror or exc} (earlier output is intact)")


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[TextIO]:
    """Open a temp file beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates 0600 files; outputs should get the permissions a plain open() would give.
    os.fchmod(fd, 0o666 & ~_current_umask())
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise _disk_error(path, exc) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_quietly(tmp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, sort_keys=False)
        fh.write("\n")


def dumps_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write all records atomically; returns how many were written."""
    n = 0
    with atomic_open(path) as fh:
        for record in records:
            fh.write(dumps_line(record))
            n += 1
    return n


def read_json(path: str | Path, *, what: str = "file", fix: str = "") -> Any:
    path = Path(path)
    if not path.exists():
        raise SanchaekError(f"{what} {path} not found" + (f": {fix}" if fix else ""))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SanchaekError(
            f"{path} is not valid UTF-8 JSON ({exc}): regenerate it" + (f" ({fix})" if fix else "")
        ) from exc


def read_jsonl(
    path: str | Path,
    *,
    on_error: str = "raise",
    skipped: Callable[[int, str], None] | None = None,
    missing_fix: str = "",
) -> Iterator[dict]:
    """Yield one dict per line.

    ``on_error="raise"`` stops at the first bad line with a message naming file and line;
    ``on_error="skip"`` calls ``skipped(lineno, reason)`` and goes on. Blank lines are ignored.
    """
    path = Path(path)
    if not path.exists():
        raise SanchaekError(f"{path} not found" + (f": {missing_fix}" if missing_fix else ""))
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("line is not a JSON object")
            except (UnicodeDecodeError, ValueError) as exc:
                reason = "invalid UTF-8" if isinstance(exc, UnicodeDecodeError) else f"broken JSON ({exc})"
                if on_error == "skip":
                    if skipped is not None:
                        skipped(lineno, reason)
                    continue
                raise SanchaekError(
                    f"{path}:{lineno}: {reason}: fix or remove that line, or set the stage's on_bad_line: skip"
                ) from exc
            yield record


class JsonlAppender:
    """Append records durably (write + flush + fsync per batch) for resumable producers like crawl.

    A torn last line from a kill is repaired on open: anything after the last newline is cut off.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(self.path)
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, records: Iterable[dict]) -> None:
        try:
            for record in records:
                self._fh.write(dumps_line(record))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise _disk_error(self.path, exc) from exc

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _truncate_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)


def swap_into_place(building: Path, target: Path) -> None:
    """Replace the folder ``target`` by ``building`` with two renames: a reader (or a kill) sees the old
    folder or the new one, never a half-written one."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(building, target)
    shutil.rmtree(old, ignore_errors=True)


def replace_dir(target: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temp folder beside ``target``, then swap it in: a reader or a kill sees the old folder or
    the new one. The folder gets a plain folder's permissions (mkdtemp's are 0700, which would hide a
    trained model from the other users of a shared machine)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        fill(tmp)
        swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
