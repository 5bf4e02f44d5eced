"""How aelab writes and names files, so that a crash, a full disk or a hostile file never costs data.

- Every file is written whole or not at all: into a temporary file in the same folder, flushed to
  disk (fsync), then renamed over the target. A failure removes the temporary file; a kill leaves
  one behind, which `clean_temps` removes the next time the folder is claimed.
- `overwrite=False` publishes with a hard link, which fails if the target exists: an existing file
  is never replaced, even by a process racing this one.
- A path read from a file (a manifest, a config) is resolved and must stay inside its folder
  before anything is read, written or deleted there (`inside`).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from aelab.errors import AelabError

TEMP_MARK = ".aelab-tmp"  # in the name of every temporary file aelab writes


def temp_path(path: Path) -> Path:
    """A hidden, unique temporary name beside `path` (same folder: the rename stays atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_MARK}")


@contextmanager
def atomic_write(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s content into; on success it is synced and renamed
    onto `path`, on any failure (Ctrl-C included) it is removed and `path` is left as it was."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        _fsync_file(tmp)
        publish(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def write_text(path: str | Path, text: str, overwrite: bool = True) -> Path:
    with atomic_write(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def publish(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and never replaces: fails with EEXIST if `path` exists
    except FileExistsError:
        raise AelabError(f"{path} already exists; aelab never overwrites a file it did not make: "
                         "choose another name or move that file away") from None
    except OSError as e:  # a filesystem without hard links (FAT, some network mounts)
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():
            raise AelabError(f"{path} already exists; aelab never overwrites a file it did not make: "
                             "choose another name or move that file away") from None
        os.replace(tmp, path)


def target_of(name: str) -> str:
    """The file a temporary file stands for ('.a.png.12-ab12cd34.aelab-tmp' -> 'a.png'), for messages."""
    match = re.fullmatch(r"(.*/)?\.(.+)\.\d+-[0-9a-f]+" + re.escape(TEMP_MARK), name)
    return f"{match[1] or ''}{match[2]}" if match else name


def clean_temps(folder: str | Path) -> list[Path]:
    """Remove the temporary files a killed aelab process left in `folder` (call it only while
    holding the folder, so that no live writer's file is removed). Returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if TEMP_MARK in entry.name and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def inside(folder: str | Path, relative: str | os.PathLike, what: str = "path") -> Path:
    """`folder / relative`, resolved (symlinks followed), refused unless it lies inside `folder`.
    For any path read from a file: '../x', '/etc/x' or a symlink out of the folder never pass."""
    base = Path(folder).resolve()
    text = os.fspath(relative)
    if not isinstance(text, str) or not text or "\0" in text or Path(text).is_absolute():
        raise AelabError(f"{what} {relative!r} is not a relative path inside {folder}")
    target = (base / text).resolve()
    if target == base or not target.is_relative_to(base):
        raise AelabError(f"{what} {relative!r} points outside {folder}; refusing to use it")
    return target


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable. Not every system lets a folder be opened: best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
