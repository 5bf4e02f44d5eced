"""Parameter sweeps: every combination of a grid of config values, times k folds, each trial a
normal run folder under one sweep folder, resumable, summarised in results.csv / results.md.

    sweeps/<name>/sweep.json                   what was asked: base config, grid, folds
    sweeps/<name>/runs/<combination>-fold<i>/  one ordinary run per trial
    sweeps/<name>/results.csv                  one row per trial
    sweeps/<name>/results.md                   mean ± std over folds per combination
    sweeps/<name>/*.png                        comparison figures

A trial whose metrics.json exists is finished and is skipped when the sweep is run again;
an interrupted trial resumes from its checkpoint.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

from aelab import runs
from aelab.config import Config, parse_value, read_config_file, set_dotted, validate_config
from aelab.evaluate.run_evaluation import measure, merge_metrics, split_data
from aelab.experiments.results import write_results
from aelab.experiments.train_run import train_run
from aelab.errors import AelabError
from aelab.experiments.kfold import fold_settings

log = logging.getLogger("aelab")
SPEC = "sweep.json"
LATENT_KEYS = ("active_units",)  # written after training: a trial without them is not finished


@dataclass
class Trial:
    name: str  # the combination, e.g. "type=ae_latent_dim=2"
    fold: int | None
    settings: dict  # grid key -> value
    config: Config
    run: Path

    @property
    def finished(self) -> bool:
        path = self.run / runs.METRICS
        if not path.is_file():
            return False
        return all(k in json.loads(path.read_text()).get("test", {}) for k in LATENT_KEYS)


# ------------------------------------------------------------------------------ what to run

def parse_grid(items: list[str]) -> dict[str, list]:
    """['model.type=ae,vae', 'model.latent_dim=2,8'] -> {'model.type': ['ae', 'vae'], ...}.
    A value list in JSON form keeps commas inside values: model.encoder_topology=[[35,2],[35,12]]."""
    grid: dict[str, list] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise AelabError(f"--grid {item!r}: expected KEY=V1,V2,..., e.g. --grid model.latent_dim=2,8,16")
        text = text.strip()
        values = json.loads(text) if text.startswith("[") and _is_json_list(text) else \
            [parse_value(v.strip()) for v in text.split(",") if v.strip()]
        grid[key.strip()] = values
    return grid


def _is_json_list(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list)
    except json.JSONDecodeError:
        return False


def read_sweep_file(path: str | Path) -> tuple[dict, dict[str, list], int]:
    """A config file, optionally with a `sweep` section {"grid": {KEY: [values]}, "folds": k}."""
    raw = read_config_file(path)
    spec = raw.pop("sweep", None) or {}
    if not isinstance(spec, dict) or set(spec) - {"grid", "folds"}:
        raise AelabError(f"{path}: the 'sweep' section takes 'grid' (an object KEY: [values]) and 'folds'")
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise AelabError(f"{path}: sweep.grid must be an object whose entries are non-empty lists of values, "
                         'e.g. {"model.latent_dim": [2, 8]}')
    folds = spec.get("folds", 1)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise AelabError(f"{path}: sweep.folds must be a whole number >= 1 (got {json.dumps(folds)})")
    return raw, dict(grid), folds


def trial_name(settings: dict) -> str:
    if not settings:
        return "base"
    short = {k: k.split(".")[-1] for k in settings}
    if len(set(short.values())) < len(short):  # two keys end alike: keep them whole
        short = {k: k for k in settings}
    text = "_".join(f"{short[k]}={_compact(v)}" for k, v in settings.items())
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", text).strip("-")


def _compact(value) -> str:
    return "-".join(map(str, value)) if isinstance(value, list) else str(value)


def expand(base: dict, grid: dict[str, list], folds: int, root: Path) -> list[Trial]:
    """Every combination of the grid, times every fold, validated up front."""
    trials = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        settings = dict(zip(keys, values))
        name = trial_name(settings)
        for fold_overrides in fold_settings(folds):
            raw = copy.deepcopy(base)
            for key, value in {**settings, **fold_overrides}.items():
                set_dotted(raw, key, value)
            config = validate_config(raw, source=f"sweep trial {name}")
            fold = fold_overrides.get("data.fold")
            folder = name if fold is None else f"{name}-fold{fold}"
            trials.append(Trial(name, fold, settings, config, root / "runs" / folder))
    return trials


# ------------------------------------------------------------------------------ running

def claim_sweep_dir(out: Path, spec: dict) -> None:
    """Create the sweep folder, or re-enter one started with exactly the same spec."""
    path = out / SPEC
    if path.is_file():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(spec)):
            raise AelabError(f"{out} holds a sweep with a different config, grid or folds; "
                             "choose a new --out (finished trials are only reused for the same sweep)")
        return
    if out.exists() and any(out.iterdir()):
        raise AelabError(f"--out {out} exists and is not a sweep folder; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(path, spec)


def run_sweep(base: dict, grid: dict[str, list], folds: int, out: str | Path, jobs: int = 1,
              progress: bool = True) -> list[dict]:
    """Run (or finish) the sweep in `out`; returns one result row per trial and writes the summaries."""
    out = Path(out)
    trials = expand(base, grid, folds, out)
    claim_sweep_dir(out, {"base": base, "grid": grid, "folds": folds})
    todo = [t for t in trials if not t.finished]
    log.info("sweep %s: %d trials (%d finished already), %d job(s)", out, len(trials),
             len(trials) - len(todo), jobs)
    threads = max(1, available_cores() // max(jobs, 1))
    started = time.perf_counter()
    if jobs <= 1:
        for i, trial in enumerate(todo, 1):
            run_trial(trial.config.to_dict(), str(trial.run), None, trial.fold in (None, 0))
            if progress:
                log.info("trial %d/%d %s done (%.0f s so far)", i, len(todo), trial.run.name,
                         time.perf_counter() - started)
    else:
        # Processes, not threads: each trial gets its own interpreter and cores // jobs torch threads.
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_trial, t.config.to_dict(), str(t.run), threads, t.fold in (None, 0)): t
                       for t in todo}
            for i, future in enumerate(as_completed(futures), 1):
                future.result()  # re-raises a trial's error here
                if progress:
                    log.info("trial %d/%d %s done (%.0f s so far)", i, len(todo), futures[future].run.name,
                             time.perf_counter() - started)
    return write_results(out, trials, grid, folds)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_trial(config_dict: dict, run_dir: str, threads: int | None, figures: bool) -> None:
    """Train one trial (resuming or restarting an interrupted one) and add the latent metrics."""
    if threads:
        torch.set_num_threads(threads)
    config = validate_config(config_dict)
    run = Path(run_dir)
    if not (run / runs.METRICS).is_file():
        resume = (run / runs.CHECKPOINT).is_file() and (run / runs.CONFIG).is_file()
        if not resume and run.exists():
            shutil.rmtree(run)  # a trial that died before its first checkpoint: start it again
        run.mkdir(parents=True, exist_ok=True)
        train_run(config, run, resume=resume, progress=False, figures=figures)
    model, _, _ = runs.load_model(run)
    test = split_data(config)["test"]
    noise = config.model.noise
    # A denoising model is also scored at its own noise level, on about 10k corrupted images.
    repeats = max(1, min(100, 10_000 // len(test)))
    extras = measure(model, test, config.training.seed + 1, [noise] if noise else None, noise_repeats=repeats)
    for row in extras.pop("denoising", []):
        extras.update({f"denoising_{k}": v for k, v in row.items() if k not in ("noise", "repeats")})
        extras["denoising_repeats"] = row["repeats"]
    merge_metrics(run, {"test": extras})
