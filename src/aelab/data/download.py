"""Where dataset files are looked for, where aelab keeps what it makes, and verified downloads.

Lookup order for a named dataset's files: `data.path`, then `$AELAB_DATA_DIR/<name>/`, then
`~/.cache/aelab/<name>/`, then Debian's `/usr/share/datasets/<name>/`. Downloads go to the first
of the two cache folders (`$AELAB_DATA_DIR` when set) and are written atomically: a file appears
under its final name only after its SHA-256 matched, so a partial or wrong file is never kept.
`AELAB_OFFLINE=1` turns downloading off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

log = logging.getLogger("aelab")

SYSTEM_DIR = Path("/usr/share/datasets")  # Debian's dataset-* packages install here
TIMEOUT_SECONDS = 30


def cache_root() -> Path:
    """Where aelab keeps downloads and decoded caches: $AELAB_DATA_DIR, else ~/.cache/aelab."""
    env = os.environ.get("AELAB_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aelab"


def offline() -> bool:
    return os.environ.get("AELAB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def search_dirs(name: str, path: str | Path | None = None) -> list[Path]:
    """The folders a named dataset's files are looked for in, in order."""
    dirs = [Path(path).expanduser()] if path else []
    env = os.environ.get("AELAB_DATA_DIR")
    if env:
        dirs.append(Path(env).expanduser() / name)
    dirs += [Path.home() / ".cache" / "aelab" / name, SYSTEM_DIR / name]
    return dirs


def find_file(dirs: list[Path], names: list[str]) -> Path | None:
    """The first existing file among `names` (alternative spellings) in the first folder that has one."""
    for folder in dirs:
        for name in names:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


class DownloadError(Exception):
    """A download that failed (offline, HTTP error, wrong checksum). Nothing was kept."""


def fetch(urls: list[str], dest: Path, sha256: str, progress: bool = True) -> Path:
    """Download the first URL that works into `dest`, verified against `sha256`, atomically.
    Raises DownloadError naming what went wrong with each URL."""
    problems = []
    for url in urls:
        try:
            _fetch_one(url, dest, sha256, progress)
            return dest
        except DownloadError as e:
            problems.append(f"{url}: {e}")
            log.debug("download failed: %s: %s", url, e)
    raise DownloadError("; ".join(problems))


def _fetch_one(url: str, dest: Path, sha256: str, progress: bool) -> None:
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")  # same folder: os.replace is atomic
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "aelab"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            dest.parent.mkdir(parents=True, exist_ok=True)  # only once a mirror answers
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(part, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                               desc=dest.name, disable=not progress, leave=False) as bar:
                while chunk := response.read(1 << 16):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != sha256:
            raise DownloadError(f"SHA-256 {digest.hexdigest()} does not match the published {sha256}; "
                                "not kept")
        os.replace(part, dest)
        log.info("downloaded %s (SHA-256 verified)", dest)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"unreachable ({e.reason})") from None
    except (OSError, ValueError) as e:  # timeouts, resets, a full disk
        raise DownloadError(str(e) or type(e).__name__) from None
    finally:
        part.unlink(missing_ok=True)
