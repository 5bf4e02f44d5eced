"""How aelab writes and names files, so that a crash, a full disk or a hostile file never costs data.

- Every file is written whole or not at all: into a temporary file in the same folder, flushed to
  disk (fsync), then renamed over the target. A failure removes the temporary file; a kill leaves
  one behind, which `clean_temps` removes the next time the folder is claimed.
- `overwrite=False` publishes with a hard link, which fails if the target exists: an existing file
  is never replaced, even by a process racing this one.
- A path read from a file (a manifest, a config) is resolved and must stay inside its folder
  before anything is read, written or deleted there (`inside`).
- No write follows a link out of the folder it works in. While a process holds a folder (a run it
  trains, a sweep: `hold`), every write below it goes through `route`, which refuses a symbolic
  link anywhere on the way (a run folder from elsewhere may hold `snapshots -> /home/you`) and a
  resolved path outside the folder; files are created with O_NOFOLLOW (`open_new`), sub-folders
  with `make_folder`.
- Reading a folder from elsewhere never hangs or reads without bound: `read_regular` opens regular
  files only (not a FIFO, nor a link to /dev/zero), without blocking, up to a size cap.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import threading
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
    path = route(path)
    overwrite = overwrite and os.path.abspath(path) not in _promised_new
    tmp = temp_path(path)
    try:
        os.close(open_new(tmp))  # exclusive, not through a link: the writer then fills this file
        yield tmp
        _fsync_file(tmp)
        publish(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    _promised_new.discard(os.path.abspath(path))
    _fsync_folder(path.parent)


_promised_new: set[str] = set()  # paths a command chose as new: published without replacing anything


def new_file(path: str | Path) -> Path:
    """Mark `path` as a file that must be new: when it is written (atomic_write, by whatever
    function draws it), it is published exclusively, so of two processes racing for one name
    (`aelab generate RUN --out g.png` twice at once) the second is refused, never replaces."""
    _promised_new.add(os.path.abspath(path))
    return Path(path)


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


# ------------------------------------------------------------ writing below a folder: no links

_held: dict[str, int] = {}  # folders this process writes into (absolute path -> times held)
_held_lock = threading.Lock()


def hold(folder: str | Path) -> None:
    """From now on, check every write below `folder` (a run being trained, a sweep) with `route`."""
    key = os.path.abspath(folder)
    with _held_lock:
        _held[key] = _held.get(key, 0) + 1


def let_go(folder: str | Path) -> None:
    key = os.path.abspath(folder)
    with _held_lock:
        if _held.get(key, 0) > 1:
            _held[key] -= 1
        else:
            _held.pop(key, None)


def route(path: str | Path) -> Path:
    """`path`, checked for writing: below the innermost held folder that contains it, no part of
    the way may be a symbolic link and the resolved path must lie inside that folder. One line
    (AelabError) otherwise. The last part may be a link: it is replaced (renamed over), never
    followed."""
    path = Path(path)
    full = os.path.abspath(path)
    with _held_lock:
        roots = [r for r in _held if full.startswith(r.rstrip(os.sep) + os.sep)]
    if not roots:
        return path
    root = max(roots, key=len)
    here = root
    for part in Path(full).relative_to(root).parts[:-1]:
        here = os.path.join(here, part)
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            break  # made later, by make_folder
        if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
            raise AelabError(f"{here} is {'a symbolic link' if stat.S_ISLNK(mode) else 'not a folder'}; aelab "
                             f"never writes through a link inside {root}: remove it (or copy the run without links)")
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.dirname(full))
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise AelabError(f"{path} resolves to {real}, outside {root}; aelab never writes outside the folder it works in")
    return path


def open_new(path: str | Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode: int = 0o644) -> int:
    """os.open for writing, never through a symbolic link (O_NOFOLLOW) nor a link on the way
    (`route`); a link where the file should be is one line, not a write elsewhere."""
    path = route(path)
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.EEXIST and os.path.islink(path)):
            raise AelabError(f"{path} is a symbolic link; aelab never writes through a link: remove it") from None
        raise


def make_folder(path: str | Path) -> Path:
    """mkdir -p of a sub-folder aelab writes into (snapshots/, logs/), refused if it is a link."""
    path = route(path)
    path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise AelabError(f"{path} is a symbolic link; aelab never writes through a link: remove it")
    return path


def links_in(folder: str | Path) -> list[str]:
    """Names of the symbolic links directly in `folder` (a run aelab is about to write into)."""
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_symlink())
    except OSError:
        return []


# ------------------------------------------------------------------ reading a folder from elsewhere

def read_regular(path: str | Path, limit: int) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes. Opened without
    blocking (a FIFO would wait for a writer forever) and checked after opening (fstat: no race
    with a swap), so a FIFO, a device such as /dev/zero or a huge file raises OSError/ValueError
    at once instead of hanging or filling memory."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise ValueError(f"{path} is {st.st_size} bytes, more than the {limit} such a file may have")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{path} holds more than {limit} bytes")
        return data
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (a cache's content hash)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


_ABANDONED = re.compile(r"^\..+\.(\d+)(?:-[0-9a-f]+)?\.(?:part|tmp)(?:\.compact)?$")


def remove_abandoned(folder: str | Path) -> list[Path]:
    """Remove the partial files (`.NAME.PID.part`, `.tmp`) that a process killed while writing a
    cache left in `folder`; a file whose process still runs is left alone (it is being written)."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _ABANDONED.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False) or _alive(int(match[1])):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a pid: leave the file
    return True


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
