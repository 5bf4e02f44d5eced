"""Parameter sweeps: every combination of a grid of config values (for each of the sweep's named
variants, when it has some), times k folds, each trial a normal run folder under one sweep folder,
resumable, summarised in results.csv / results.md.

    sweeps/<name>/sweep.json                   what was asked: base config, grid, folds
    sweeps/<name>/runs/<combination>-fold<i>/  one ordinary run per trial
    sweeps/<name>/results.csv                  one row per trial
    sweeps/<name>/results.md                   mean ± std over folds per combination
    sweeps/<name>/*.png                        comparison figures
    sweeps/<name>/logs/<combination>-fold<i>.log   a trial's log, when it ran in a child process
    sweeps/<name>/tracking.json                the MLflow parent run / W&B group of the trials (training.mlflow, .wandb)

A trial whose metrics.json exists is finished and is skipped when the sweep is run again;
an interrupted trial resumes from its checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from aelab import files, layout, runs, trust
from aelab.config import Config, parse_value, read_config_file, set_dotted, validate_config
from aelab.errors import AelabError
from aelab.experiments.results import write_results
from aelab.experiments.kfold import fold_settings
from aelab.experiments.local_pool import run_local
from aelab.experiments.trial import run_trial
from aelab.train import trackers

log = logging.getLogger("aelab")
SPEC, LOGS, RUNS = layout.SWEEP_SPEC, layout.SWEEP_LOGS, layout.SWEEP_RUNS
LATENT_KEYS = ("active_units",)  # written after training: a trial without them is not finished


@dataclass
class Trial:
    name: str  # the combination, e.g. "type=ae_latent_dim=2" (with a variant: "vae_latent_dim=2")
    fold: int | None
    settings: dict  # grid key -> value, the variant's settings included
    config: Config
    run: Path
    variant: str | None = None

    @property
    def finished(self) -> bool:
        path = self.run / runs.METRICS
        if not path.is_file():
            return False
        test = runs.read_json(path).get("test")
        return isinstance(test, dict) and all(k in test for k in LATENT_KEYS)


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
    spec = read_sweep_spec(path)
    return spec.base, spec.grid, spec.folds


@dataclass
class Variant:
    """A named set of config values, e.g. one model type with its own settings: the grid is crossed
    with every variant, so model types that need different keys are compared in one sweep."""
    name: str
    settings: dict  # dotted key -> value


# sweep.evaluate: what each trial measures on its test split beyond the standard metrics.
EVALUATE_KEYS = {"nll_samples": (1, 100_000), "fd_samples": (2, 1_000_000)}
NLL_PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class SweepSpec:
    base: dict  # the config without its sweep section
    grid: dict[str, list]
    folds: int
    cluster: str | None  # a Dask scheduler's address, or None: run on this machine
    variants: list[Variant] = field(default_factory=list)
    evaluation: dict = field(default_factory=dict)  # sweep.evaluate, validated


def read_sweep_spec(path: str | Path) -> SweepSpec:
    """A config file, optionally with a `sweep` section {"grid": {KEY: [values]}, "folds": k,
    "cluster": "tcp://host:8786", "variants": [{"name": ..., "set": {KEY: value}}],
    "evaluate": {"nll_samples": K, "fd_samples": N}}."""
    raw = read_config_file(path)
    spec = raw.pop("sweep", None) or {}
    if not isinstance(spec, dict) or set(spec) - {"grid", "folds", "cluster", "variants", "evaluate"}:
        raise AelabError(f"{path}: the 'sweep' section takes 'grid' (an object KEY: [values]), 'folds', "
                         "'cluster', 'variants' and 'evaluate'")
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise AelabError(f"{path}: sweep.grid must be an object whose entries are non-empty lists of values, "
                         'e.g. {"model.latent_dim": [2, 8]}')
    folds = spec.get("folds", 1)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise AelabError(f"{path}: sweep.folds must be a whole number >= 1 (got {json.dumps(folds)})")
    cluster = spec.get("cluster")
    if cluster is not None and (not isinstance(cluster, str) or not cluster.strip()):
        raise AelabError(f"{path}: sweep.cluster must be a Dask scheduler's address such as "
                         f'"tcp://10.0.0.5:8786" (got {json.dumps(cluster)[:80]})')
    return SweepSpec(raw, dict(grid), folds, cluster.strip() if cluster else None,
                     parse_variants(spec.get("variants"), path, grid),
                     parse_evaluation(spec.get("evaluate"), path))


def parse_variants(items, source, grid: dict | None = None) -> list[Variant]:
    """sweep.variants: a list of {"name": NAME, "set": {KEY: value}}, names unique and usable as
    folder names, no key also in the grid."""
    if items is None:
        return []
    example = '[{"name": "vae", "set": {"model.type": "vae"}}]'
    if not isinstance(items, list) or not items:
        raise AelabError(f"{source}: sweep.variants must be a non-empty list such as {example}")
    variants = []
    for i, item in enumerate(items):
        where = f"{source}: sweep.variants[{i}]"
        if not isinstance(item, dict) or set(item) != {"name", "set"}:
            raise AelabError(f"{where} must be an object with exactly 'name' and 'set', e.g. {example}")
        name, settings = item["name"], item["set"]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+-]*", name):
            raise AelabError(f"{where}.name must be letters, digits and . _ = + - (a folder name), "
                             f"got {json.dumps(name)[:80]}")
        if name in {v.name for v in variants}:
            raise AelabError(f"{where}.name {name!r} is used twice; give every variant its own name")
        if not isinstance(settings, dict) or not all(isinstance(k, str) and k.strip() for k in settings):
            raise AelabError(f"{where}.set must be an object of dotted keys and values, "
                             'e.g. {"model.type": "iwae", "model.options.samples": 5}')
        both = sorted(set(settings) & set(grid or {}))
        if both:
            raise AelabError(f"{where}.set sets {', '.join(both)}, which sweep.grid also sweeps; "
                             "keep each key in one of them")
        variants.append(Variant(name, dict(settings)))
    return variants


def parse_evaluation(section, source) -> dict:
    """sweep.evaluate: {"nll_samples": K, "fd_samples": N, "nll_precision": "auto"}, each optional."""
    if section is None:
        return {}
    known = [*EVALUATE_KEYS, "nll_precision"]
    if not isinstance(section, dict) or set(section) - set(known):
        raise AelabError(f"{source}: sweep.evaluate takes {', '.join(map(repr, known))}, "
                         'e.g. {"nll_samples": 500, "fd_samples": 2000}')
    for key, (low, high) in EVALUATE_KEYS.items():
        value = section.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise AelabError(f"{source}: sweep.evaluate.{key} must be a whole number from {low} to {high} "
                             f"(got {json.dumps(value)[:80]})")
    precision = section.get("nll_precision", "auto")
    if precision not in NLL_PRECISIONS:
        raise AelabError(f"{source}: sweep.evaluate.nll_precision must be one of {', '.join(NLL_PRECISIONS)} "
                         f"(got {json.dumps(precision)[:80]})")
    return {k: v for k, v in section.items() if v is not None}


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


def expand(base: dict, grid: dict[str, list], folds: int, root: Path,
           variants: list[Variant] | None = None) -> list[Trial]:
    """Every combination of the grid (for every variant), times every fold, validated up front."""
    trials = []
    keys = list(grid)
    for variant in variants or [None]:
        fixed = variant.settings if variant else {}
        for values in itertools.product(*(grid[k] for k in keys)):
            swept = dict(zip(keys, values))
            name = trial_name(swept)
            if variant:
                name = variant.name if not swept else f"{variant.name}_{name}"
            settings = {**fixed, **swept}
            for fold_overrides in fold_settings(folds):
                raw = copy.deepcopy(base)
                for key, value in {**settings, **fold_overrides}.items():
                    set_dotted(raw, key, value)
                config = validate_config(raw, source=f"sweep trial {name}")
                fold = fold_overrides.get("data.fold")
                folder = name if fold is None else f"{name}-fold{fold}"
                trials.append(Trial(name, fold, settings, config, root / RUNS / folder,
                                    variant.name if variant else None))
    return _distinct(trials)


def _distinct(trials: list[Trial]) -> list[Trial]:
    """Two different settings may give one name ("dir a" and "dir-a" both become "path=dir-a"); a
    name shared that way gets a short hash of its settings, so two trials never share a folder
    (the second would be skipped as finished and reported with the first one's metrics)."""
    settings_of: dict[str, set[str]] = {}
    for t in trials:
        settings_of.setdefault(t.name, set()).add(json.dumps(t.settings, sort_keys=True, default=str))
    for t in trials:
        if len(settings_of[t.name]) > 1:
            key = json.dumps(t.settings, sort_keys=True, default=str)
            t.name = f"{t.name}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"
            t.run = t.run.with_name(t.name if t.fold is None else f"{t.name}-fold{t.fold}")
    return trials


# ------------------------------------------------------------------------------ running

def claim_sweep_dir(out: Path, spec: dict) -> None:
    """Create the sweep folder, or re-enter one started with exactly the same spec."""
    path = out / SPEC
    if path.is_file():
        old = runs.read_json(path)
        if old != json.loads(json.dumps(spec)):
            raise AelabError(f"{out} holds a sweep with a different config, grid or folds; "
                             "choose a new --out (finished trials are only reused for the same sweep)")
        return
    if out.exists() and any(out.iterdir()):
        raise AelabError(f"--out {out} exists and is not a sweep folder; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    runs.write_json(path, spec)


def run_sweep(base: dict, grid: dict[str, list], folds: int, out: str | Path, jobs: int = 1,
              progress: bool = True, cluster: str | None = None, variants: list[Variant] | None = None,
              evaluation: dict | None = None) -> list[dict]:
    """Run (or finish) the sweep in `out`; returns one result row per trial and writes the summaries.
    Trials run one after the other in this process (jobs 1), `jobs` at a time in child processes,
    or on the Dask cluster whose scheduler is at `cluster` (`out` on a filesystem all its workers see).
    `variants` are crossed with the grid; `evaluation` (sweep.evaluate) adds the importance-sampled
    NLL and the Fréchet distance of samples to every trial's test metrics."""
    out = Path(out)
    evaluation = evaluation or {}
    trials = expand(base, grid, folds, out, variants)
    if cluster:
        from aelab.experiments.cluster import connect, run_on_cluster  # imports Dask: only when asked for
    spec = {"base": base, "grid": grid, "folds": folds}
    if variants:  # only when given: sweep folders made before variants existed stay the same sweep
        spec["variants"] = [{"name": v.name, "set": v.settings} for v in variants]
    if evaluation:
        spec["evaluate"] = evaluation
    with contextlib.ExitStack() as stack:
        # The sweep file is the user's own: the factories its trials name may be imported here.
        stack.enter_context(trust.allowing(*{f for t in trials for f in (t.config.model.encoder, t.config.model.decoder)}))
        # Connected before the sweep folder is made: a wrong address leaves nothing behind.
        client = stack.enter_context(connect(cluster)) if cluster else None
        claim_sweep_dir(out, spec)
        runs.lock_run(out)  # one `aelab sweep` per folder at a time; no links inside (files.route)
        stack.callback(runs.release, out)
        for folder in (RUNS, LOGS):
            files.make_folder(out / folder)
        todo = [t for t in trials if not t.finished]
        where = f"cluster {cluster}" if cluster else f"{jobs} job(s)"
        log.info("sweep %s: %d trials (%d finished already), %s", out, len(trials), len(trials) - len(todo), where)
        report = _progress(len(todo)) if progress else lambda *counts: None
        parent = _tracking_parent(out, trials[0].config)  # training.mlflow: the trials' parent run
        try:
            if cluster:
                run_on_cluster(client, todo, out.resolve() / SPEC, out.resolve() / LOGS, report, evaluation)
            elif jobs > 1:
                run_local(todo, jobs, out / LOGS, report, evaluation)
            else:
                for i, trial in enumerate(todo, 1):
                    run_trial(trial.config.to_dict(), str(trial.run), None, trial.fold in (None, 0), evaluation)
                    report(i, 0, len(todo) - i)
            rows = write_results(out, trials, grid, folds)
        except BaseException:
            if parent is not None:
                parent.finish([], failed=True)
            raise
        if parent is not None:  # the sweep's summaries and comparison figures
            parent.finish(sorted(p for p in out.iterdir() if p.is_file() and p.suffix in (".csv", ".md", ".png")))
        return rows


def _tracking_parent(out: Path, config: Config):
    """With training.mlflow, the parent run of the trials' runs (reopened when the sweep is run again);
    its id, and W&B's group, in <sweep>/tracking.json for the trials, wherever they run."""
    if config.training.mlflow is False and config.training.wandb is False:
        return None
    path = out / trackers.SWEEP_FILE
    previous = runs.read_json(path) if path.is_file() else None
    parent, info = trackers.start_sweep(config, out / RUNS, out.name, previous)
    runs.write_json(path, info)
    return parent


def _progress(total: int):
    """report(finished, running, queued): one log line whenever the counts change."""
    started, last = time.perf_counter(), [None]

    def report(finished: int, running: int, queued: int) -> None:
        if (finished, running, queued) != last[0]:
            last[0] = (finished, running, queued)
            log.info("trials: %d/%d finished, %d running, %d queued (%.0f s)", finished, total, running,
                     queued, time.perf_counter() - started)
    return report
