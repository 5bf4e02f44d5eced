"""aelab/layout.py names every file a run, its anomalies, a comparison and a sweep write: small
real runs on the 5x7 font are listed, and each file and folder must be one of layout's names (or
an instance of one of its {templates}, or its numbered() variant)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aelab import layout
from aelab.cli import main

NAMES = [v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)]
FONT = ["--set", "data.dataset=font5x7", "--set", "training.epochs=2", "--no-progress", "-q"]


def _pattern(name: str) -> re.Pattern:
    """A layout name as a regular expression: each {field} is any text; "-N" may come before the
    extension (layout.numbered)."""
    stem, dot, ext = name.rpartition(".") if "." in name and "{" not in name.rpartition(".")[2] else (name, "", "")
    body = "".join(".+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", stem))
    return re.compile(body + r"(-\d+)?" + (re.escape(dot + ext) if dot else ""))


PATTERNS = [_pattern(n) for n in NAMES]


def named(name: str) -> bool:
    return any(p.fullmatch(name) for p in PATTERNS)


def unnamed(folder: Path, free: tuple[str, ...] = ()) -> list[str]:
    """Paths under `folder` whose own name is not one of layout's; a folder named in `free` (a
    sweep's trial folders) holds a run: its children are checked, its own name is the user's."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if len(rel.parts) >= 2 and rel.parts[-2] in free:
            continue  # runs/<trial>: a trial's folder name comes from its settings
        if not named(path.name):
            found.append(str(rel))
    return found


def test_the_check_knows_a_name_from_a_stranger():
    assert named("model.safetensors") and named("epoch_0007.png") and named("sweep_latent_dim.png")
    assert named("latent_map_tsne-2.png") and named("anomalies-2") and named("sampler_gmm.safetensors")
    assert not named("scores.txt") and not named("model.pt") and not named("notes.csv")


@pytest.mark.slow
def test_a_run_its_anomalies_and_a_comparison_write_only_files_layout_names(tmp_path):
    run, other, compared = tmp_path / "run", tmp_path / "other", tmp_path / "compared"
    assert main(["train", *FONT, "--set", "training.snapshot_every=1", "--out", str(run)]) == 0
    assert main(["train", *FONT, "--no-figures", "--out", str(other)]) == 0
    assert main(["anomalies", str(run), "--normal-labels", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", "-q"]) == 0
    assert main(["compare", str(run), str(other), "--out", str(compared), "-q"]) == 0

    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {f"run/{layout.MODEL}", f"run/{layout.TRAINING_GIF}", f"run/{layout.SNAPSHOTS}/epoch_0002.png",
            f"run/{layout.ANOMALIES}/{layout.ANOMALY_SCORES}", f"run/{layout.ANOMALIES}/{layout.ANOMALY_ROC}",
            f"compared/{layout.COMPARE_CSV}", f"compared/{layout.LOSS}"} <= written
    assert not unnamed(run) and not unnamed(compared), (unnamed(run), unnamed(compared))


@pytest.mark.slow
def test_a_sweep_writes_only_files_layout_names(tmp_path):
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps({"data": {"dataset": "font5x7"}, "training": {"epochs": 2},
                                  "sweep": {"grid": {"model.latent_dim": [2, 3]}}}))
    out = tmp_path / "sweep"
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0

    assert {layout.SWEEP_SPEC, layout.RESULTS_CSV, layout.RESULTS_MD, "sweep_latent_dim.png",
            layout.SWEEP_SAMPLES} <= {p.name for p in out.iterdir()}
    assert (out / layout.SWEEP_RUNS / "latent_dim=2" / layout.MODEL).is_file()
    assert not unnamed(out, free=(layout.SWEEP_RUNS,)), unnamed(out, free=(layout.SWEEP_RUNS,))
