"""MNIST, Fashion-MNIST and Kuzushiji-MNIST: four IDX files each, train/test split as published.

Files are found (or downloaded) as `aelab.data.download` says and verified before use: by the
SHA-256 of their decompressed content, which does not depend on how they were compressed (Debian
re-compresses Fashion-MNIST), or else by the SHA-256 of the official .gz archive.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aelab import files
from aelab.data import download
from aelab.data.idx import is_gzip, read_idx
from aelab.data.spec import Availability, DatasetSpec
from aelab.errors import AelabError

if TYPE_CHECKING:
    from aelab.config import DataConfig
    from aelab.data.dataset import ImageData

# ImageData (and torch with it) is imported in load(): `aelab datasets` asks the specs at the end
# whether their files are here without loading torch (data/spec.py).

log = logging.getLogger("aelab")


@dataclass(frozen=True)
class IdxFile:
    name: str  # e.g. "train-images-idx3-ubyte"; the official archive is name + ".gz"
    archive_sha256: str  # of the official .gz
    content_sha256: str | None = None  # of the decompressed file, when published/known

    @property
    def archive(self) -> str:
        return self.name + ".gz"

    def spellings(self) -> list[str]:
        # The official archive, the unpacked file, and the unpacked name Kaggle's copies use.
        kaggle = ".idx".join(self.name.rsplit("-idx", 1))
        return [self.archive, self.name, kaggle]


@dataclass(frozen=True)
class IdxDataset:
    name: str
    description: str
    mirrors: tuple[str, ...]  # base URLs, tried in order
    files: dict[str, IdxFile]  # role (train_images, train_labels, test_images, test_labels) -> file
    label_names: tuple[str, ...]
    system_package: str | None = None  # a Debian package that installs the files

    def urls(self, f: IdxFile) -> list[str]:
        return [m + f.archive for m in self.mirrors]


def _files(sha: dict[str, tuple[str, str | None]]) -> dict[str, IdxFile]:
    names = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
    return {role: IdxFile(names[role], *sha[role]) for role in names}


DATASETS: dict[str, IdxDataset] = {
    "mnist": IdxDataset(
        "mnist", "handwritten digits, 28x28 grey, 60k train + 10k test, labels 0-9",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/",
         "http://yann.lecun.com/exdb/mnist/"),
        _files({
            "train_images": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                             "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            "train_labels": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            "test_images": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            "test_labels": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        }),
        tuple(str(i) for i in range(10)),
    ),
    "fashion-mnist": IdxDataset(
        "fashion-mnist", "Zalando's clothing images, 28x28 grey, 60k train + 10k test, 10 classes",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        _files({
            "train_images": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                             "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            "train_labels": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            "test_images": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            "test_labels": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        }),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"),
        system_package="dataset-fashion-mnist",
    ),
    "kmnist": IdxDataset(
        "kmnist", "Kuzushiji-MNIST: cursive Japanese hiragana, 28x28 grey, 60k train + 10k test, 10 classes",
        ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        _files({
            "train_images": ("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", None),
            "train_labels": ("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", None),
            "test_images": ("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", None),
            "test_labels": ("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", None),
        }),
        # Romanised: plot fonts rarely have the hiragana (o, ki, su, tsu, na, ha, ma, ya, re, wo).
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    ),
}


# ------------------------------------------------------------------------------ finding the files

def locate(spec: IdxDataset, path: str | None, only: str | None = None) -> tuple[dict[str, Path], dict[str, IdxFile]]:
    """(found: role -> path, missing: role -> file), looking in the folders download.search_dirs lists.
    `only`: "train" or "test" looks for that split's two files alone."""
    dirs = download.search_dirs(spec.name, path)
    found, missing = {}, {}
    for role, f in spec.files.items():
        if only and not role.startswith(only):
            continue
        hit = download.find_file(dirs, f.spellings())
        if hit is None:
            missing[role] = f
        else:
            found[role] = hit
    return found, missing


def survey(name: str, path: str | None = None) -> tuple[dict[str, Path], dict[str, IdxFile], dict[str, Path]]:
    """What `aelab datasets` says is here: (good: role -> path, missing: role -> file, wrong: role ->
    path). Files are found by name, as `locate` finds them, then checked as loading would check them
    (`is_official`): MNIST's t10k files in a folder given as data.path are not Fashion-MNIST's."""
    spec = DATASETS[name]
    found, missing = locate(spec, path)
    good = {role: p for role, p in found.items() if is_official(spec, role, p)}
    return good, missing, {role: p for role, p in found.items() if role not in good}


def available(name: str, path: str | None = None) -> bool:
    """All four files are on this machine and are the dataset's (no download needed)."""
    return len(survey(name, path)[0]) == len(DATASETS[name].files)


def test_split_only(name: str, path: str | None = None) -> bool:
    """Only the published test split's files are here (enough for data.published_split 'test')."""
    return set(survey(name, path)[0]) == {"test_images", "test_labels"}


def where(name: str, path: str | None = None) -> str:
    """A short text for `aelab datasets`: where the files are, or what is missing or not the dataset's."""
    good, missing, wrong = survey(name, path)
    folders = ", ".join(sorted({str(p.parent) for p in good.values()}))
    if not missing and not wrong:
        return "found in " + folders
    target = download.cache_root() / name
    how = "AELAB_OFFLINE is set" if download.offline() else f"downloads to {target} on first use"
    if wrong:  # found by name, but another dataset's (MNIST's t10k files where Fashion-MNIST's are looked for)
        it = "it is" if len(wrong) == 1 else "they are"
        said = (f"{', '.join(p.name for p in wrong.values())} in "
                f"{', '.join(sorted({str(p.parent) for p in wrong.values()}))}: {it} not {name}'s "
                f"(checksum), loading refuses {'it' if len(wrong) == 1 else 'them'}")
        return said + (f"; its other files in {folders}" if good else "")
    if not good:
        return f"not on this machine ({how})"
    if set(good) == {"test_images", "test_labels"}:
        return (f"test split only, in {folders} (loads offline with data.published_split test); "
                f"the training split {how}")
    return f"missing {_listing(missing.values())} ({how})"


def availability(name: str, path: str | None = None) -> Availability:
    """What `aelab datasets` says: loads offline, where, or "test only" (data.published_split test)."""
    return Availability(available(name, path), where(name, path), "test only" if test_split_only(name, path) else "")


def is_official(spec: IdxDataset, role: str, path: Path) -> bool:
    """Would loading accept `path` as the dataset's file for `role`? Cheap when it can be: a file the
    decoded cache says it verified is not read again, nor is a file read twice in one process."""
    st = path.stat()
    return _is_official(spec.name, role, str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _is_official(name: str, role: str, path: str, size: int, mtime_ns: int) -> bool:
    spec, source = DATASETS[name], Path(path)
    _, key_file, key = _cache_files(spec, role, source)
    try:
        stored = json.loads(key_file.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and {k: stored.get(k) for k in key} == key:
            return True  # decoded from this very file, after read_verified accepted it
    except (OSError, ValueError):
        pass
    try:
        read_verified(spec, role, source, quiet=True)
    except AelabError:
        return False
    return True


def resolve(spec: IdxDataset, path: str | None, progress: bool = True, only: str | None = None) -> dict[str, Path]:
    """Every file's path, downloading the missing ones; else one line on how to provide them."""
    if path and not Path(path).expanduser().is_dir():
        raise AelabError(f"data.path '{path}' is not a folder; point it at the folder holding "
                         f"{spec.name}'s IDX files, or remove it to use the default places")
    found, missing = locate(spec, path, only)
    target = download.cache_root() / spec.name
    problems = []
    if missing and not download.offline():
        for role, f in list(missing.items()):
            try:
                found[role] = download.fetch(spec.urls(f), target / f.archive, f.archive_sha256, progress)
                del missing[role]
            except download.DownloadError as e:
                problems.append(str(e))
    if missing:
        raise AelabError(_missing_message(spec, path, found, missing, problems))
    return found


def _missing_message(spec, path, found, missing, problems) -> str:
    looked = ", ".join(str(d) for d in download.search_dirs(spec.name, path))
    have = f"; found {_listing(spec.files[r] for r in found)} in {found[next(iter(found))].parent}" if found else ""
    if download.offline():
        why = "downloading is off (AELAB_OFFLINE is set)"
    else:
        why = "the download failed (" + _first_problem(problems) + ")"
    apt = f", or install Debian's package {spec.system_package}" if spec.system_package else ""
    return (f"{spec.name}: {_listing(missing.values())} not found (looked in {looked}){have}; {why}. "
            f"Provide them one of three ways: set data.path to a folder holding them; copy them into "
            f"$AELAB_DATA_DIR/{spec.name}/ or ~/.cache/aelab/{spec.name}/; or run once with internet "
            f"access so aelab downloads them from {spec.mirrors[0]}{apt}"
            + (" (or set data.published_split to 'test' to use the published test set alone)"
               if set(found) == {"test_images", "test_labels"} else ""))


def _listing(files) -> str:
    return ", ".join(f.archive for f in files)


def _first_problem(problems: list[str]) -> str:
    return problems[0].split("; ")[0] if problems else "unknown reason"


# ------------------------------------------------------------------------------ reading the files

def read_verified(spec: IdxDataset, role: str, path: Path, quiet: bool = False) -> np.ndarray:
    """The file's array, once it proved to be the official file (else one line saying how it is not).
    `quiet`: no warning for a file with no published checksum to verify it by."""
    f = spec.files[role]
    images = role.endswith("images")  # 28x28 uint8 images, or uint8 labels: the family's format
    array, content_sha = read_idx(path, np.uint8, 3 if images else 1)
    if len(array) == 0 or images and array.shape[1:] != (28, 28):
        raise AelabError(f"{path} holds {'images of shape' if images else 'labels of shape'} {array.shape}, "
                         f"not {spec.name}'s: at least one {'28x28 image' if images else 'label'}; "
                         "provide the official file")
    fix = (f"the file is damaged or not {spec.name}'s {f.name}: replace it with the official file "
           f"(delete it and aelab downloads it when online)")
    if f.content_sha256 is not None:
        if content_sha != f.content_sha256:
            raise AelabError(f"{path}: checksum mismatch: its content's SHA-256 is {content_sha[:16]}..., "
                             f"the official one {f.content_sha256[:16]}...; {fix}")
    elif is_gzip(path):
        archive_sha = files.sha256_file(path)
        if archive_sha != f.archive_sha256:
            raise AelabError(f"{path}: checksum mismatch: its SHA-256 is {archive_sha[:16]}..., the "
                             f"official archive's {f.archive_sha256[:16]}...; {fix}")
    elif not quiet:
        log.warning("%s: no published checksum of the unpacked file; not verified", path)
    return array


def load(name: str, path: str | None = None, progress: bool = True, only: str | None = None):
    """(train, test) as published; images uint8 (N, 1, 28, 28), labels int64. With `only`
    ("train" or "test"): that split alone, as one ImageData."""
    from aelab.data.dataset import ImageData

    spec = DATASETS[name]
    paths = resolve(spec, path, progress, only)
    arrays, fresh = {}, []
    for role, p in paths.items():
        arrays[role] = _cached(spec, role, p)
        if arrays[role] is None:
            arrays[role] = read_verified(spec, role, p)
            fresh.append(role)
    parts = []
    for split in (only,) if only else ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise AelabError(f"{paths[split + '_images']} and {paths[split + '_labels']} do not belong "
                             f"together (images {images.shape}, labels {labels.shape}); provide the "
                             f"official {spec.name} files")
        if labels.size and int(labels.max()) >= len(spec.label_names):
            raise AelabError(f"{paths[split + '_labels']} has label {int(labels.max())}; {spec.name} "
                             f"has {len(spec.label_names)} classes")
        parts.append(ImageData(images[:, None], labels.astype(np.int64), list(spec.label_names), name))
    for role in fresh:  # only once every file proved good
        _cache(spec, role, paths[role], arrays[role])
    return parts[0] if only else (parts[0], parts[1])


# The decoded arrays are kept as .npy files (a fraction of a second to load instead of
# decompressing and hashing again). Beside each, a key: the verified source file's fingerprint
# (path, size, time) and the SHA-256 of the .npy itself, checked on every load; a cache that is
# damaged (a flipped byte, permuted labels) or stale is decoded again, with one line saying so.

def _cache_files(spec: IdxDataset, role: str, source: Path) -> tuple[Path, Path, dict]:
    f = spec.files[role]
    folder = download.cache_root() / "decoded" / spec.name
    st = source.stat()
    key = {"source": str(source.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return folder / f"{f.name}.npy", folder / f"{f.name}.json", key


def _cached(spec: IdxDataset, role: str, source: Path) -> np.ndarray | None:
    array_file, key_file, key = _cache_files(spec, role, source)
    if not array_file.is_file() and not key_file.is_file():
        return None
    try:
        stored = json.loads(key_file.read_text(encoding="utf-8"))
        if not isinstance(stored, dict) or {k: stored.get(k) for k in key} != key:
            log.info("the decoded cache %s is stale (its source changed); decoding %s again", array_file, source.name)
            return None
        if files.sha256_file(array_file) != stored.get("sha256"):
            raise ValueError("its content no longer matches its SHA-256")
        return np.load(array_file, allow_pickle=False)
    except (OSError, ValueError) as e:
        log.warning("the decoded cache %s is damaged (%s); decoding %s again", array_file, str(e)[:120], source.name)
    return None


def _cache(spec: IdxDataset, role: str, source: Path, array: np.ndarray) -> None:
    array_file, key_file, key = _cache_files(spec, role, source)
    part = array_file.with_name(f".{array_file.name}.{os.getpid()}.part")
    try:
        array_file.parent.mkdir(parents=True, exist_ok=True)
        files.remove_abandoned(array_file.parent)
        with open(part, "wb") as out:
            np.save(out, array, allow_pickle=False)
        key["sha256"] = files.sha256_file(part)
        key_file.unlink(missing_ok=True)  # never a key beside an array it does not describe
        os.replace(part, array_file)
        files.write_text(key_file, json.dumps(key))
    except OSError as e:
        log.info("could not cache the decoded %s in %s (%s)", source.name, array_file.parent, e)
    finally:
        part.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ the specs

def _spec(name: str) -> DatasetSpec:
    def load_published(cfg: DataConfig) -> tuple[ImageData, ImageData | None]:
        if cfg.published_split == "both":
            return load(name, cfg.path)
        return load(name, cfg.path, only=cfg.published_split), None  # split again by data.test_split

    return DatasetSpec(name, DATASETS[name].description, load_published,
                       check=functools.partial(availability, name))


MNIST, FASHION_MNIST, KMNIST = (_spec(name) for name in ("mnist", "fashion-mnist", "kmnist"))
