"""`training.wandb`: a run logged to Weights & Biases in offline mode: nothing goes over the network;
`wandb sync RUN/wandb/offline-run-*` uploads it later. The value is true (the files go to
RUN/wandb/, or runs/wandb/ from Python) or a folder to write them under instead.

The W&B run is named after the run folder, in the project "aelab" (or $WANDB_PROJECT); the
config is its parameters, each epoch one history step, metrics.json's numbers its summary, and the
run's figures and model.safetensors its files. A sweep's trials share a W&B group: the sweep's name.
Console capture, system statistics and code saving are off: the run logs what aelab gives it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from aelab.errors import AelabError
from aelab.layout import WANDB
from aelab.train.callbacks import Callback
from aelab.train.trackers import content

PROJECT = "aelab"
FOLDER = WANDB  # W&B makes RUN/wandb/ itself (its `dir` is the folder above)


class WandbTracker(Callback):
    name = "wandb"

    def __init__(self, setting, runs_folder: Path, run_name: str, folder: Path | None = None,
                 resume: dict | None = None, parent: dict | None = None):
        content.check_installed("wandb", ("wandb",), "wandb")
        import wandb

        where = Path(setting) if isinstance(setting, str) else Path(folder or runs_folder)
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AelabError(f"training.wandb: cannot make the folder {where} for W&B's files ({e.strerror}); "
                             "give a folder you can write to, or true") from None
        settings = wandb.Settings(mode="offline", console="off", silent=True, x_disable_stats=True,
                                  x_disable_meta=True, disable_git=True, save_code=False, disable_code=True)
        previous = (resume or {}).get("id")
        try:
            self.run = wandb.init(project=os.environ.get("WANDB_PROJECT") or PROJECT, name=run_name,
                                  dir=str(where), group=(parent or {}).get("group"), id=previous,
                                  resume="allow" if previous else None, settings=settings, reinit="create_new")
        except Exception as e:  # wandb's own errors: a bad setting, a folder it cannot use
            raise AelabError(f"training.wandb: W&B could not start an offline run in {where}: "
                             f"{str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__}") from None
        self.last_epoch = 0

    def ids(self) -> dict:
        return {"id": self.run.id, "dir": str(Path(self.run.settings.sync_dir).resolve())}

    def on_train_begin(self, trainer) -> None:
        self.run.config.update(content.parameters(trainer.config), allow_val_change=True)  # the resolved config

    def on_epoch_end(self, trainer, row: dict) -> None:
        self.run.log(content.epoch_values(row), step=row["epoch"])
        self.last_epoch = row["epoch"]

    def finish(self, metrics: dict | None, files: list[Path]) -> None:
        if metrics:
            self.run.summary.update(content.final_values(metrics))
        for path in files:  # copied, not linked: the offline run stays whole if the run folder moves
            shutil.copy2(path, Path(self.run.dir) / Path(path).name)
        self.run.finish()

    def fail(self, interrupted: bool) -> None:
        try:
            self.run.finish(exit_code=130 if interrupted else 1)
        except Exception:  # already failing: the first error is the one to see
            pass
