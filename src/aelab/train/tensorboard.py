"""`training.tensorboard: true`: follow a run in TensorBoard (`tensorboard --logdir runs`).

Written to RUN/tensorboard/: every value of the history row as a scalar per epoch (the tag says
the split: `loss/train`, `loss/validation`, `mse/validation`, ...), fixed test images over their
reconstructions every `training.snapshot_every` epochs (or ten times over the run), and at the
end the test set's codes, with labels and image sprites, for TensorBoard's embedding projector.
tensorboard is an optional dependency: `pip install "aelab[tensorboard]"`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from aelab import files
from aelab.data.dataset import ImageData, to_float
from aelab.errors import AelabError
from aelab.layout import TENSORBOARD
from aelab.models.inference import encode
from aelab.train.callbacks import Callback

FOLDER = TENSORBOARD
MAX_EMBEDDED = 2000  # the projector's sprite image holds every thumbnail: keep it a few MB


def check_installed() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise AelabError('training.tensorboard needs the tensorboard package: pip install "aelab[tensorboard]" '
                         "(or set training.tensorboard to false)")


class TensorBoardLog(Callback):
    """A training callback (train/callbacks.py): `Trainer(callbacks=[TensorBoardLog(run, test, every)])`;
    the codes for the projector at the end of training."""

    def __init__(self, run: Path, test: ImageData, every: int, seed: int = 42, n: int = 10):
        check_installed()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(files.make_folder(Path(run) / FOLDER)))  # refused if a link
        self.every = every
        self.test = test
        index = np.sort(np.random.default_rng(seed).choice(len(test), min(n, len(test)), replace=False))
        self.images = torch.from_numpy(test.subset(index).images)

    def on_epoch_end(self, trainer, row: dict) -> None:
        epoch = row["epoch"]
        for key, value in row.items():
            if key == "epoch":
                continue
            tag = "time/epoch_seconds" if key == "seconds" else \
                f"{key[4:]}/validation" if key.startswith("val_") else f"{key}/train"
            self.writer.add_scalar(tag, value, epoch)
        last = epoch >= trainer.config.training.epochs or trainer.state.stopped_early
        if epoch % self.every == 0 or epoch == 1 or last:
            self.reconstructions(trainer.model, epoch)
        self.writer.flush()

    @torch.no_grad()
    def reconstructions(self, model, epoch: int) -> None:
        was_training = model.training
        model.eval()
        x = to_float(self.images.to(next(model.parameters()).device))
        recon = model.output_activation(model(x, sample=False).logits).float().clamp(0, 1).cpu()
        model.train(was_training)
        self.writer.add_images("reconstruction/test (top: original)", torch.cat([x.cpu(), recon], 2), epoch)

    def on_train_end(self, trainer) -> None:
        self.finish(trainer.model, trainer.state.epoch)

    def finish(self, model, epoch: int) -> None:
        """The test codes for the embedding projector, labelled, each with its image as a sprite."""
        n = min(len(self.test), MAX_EMBEDDED)
        data = self.test.subset(np.arange(n))
        codes = torch.from_numpy(encode(model, data.images))
        labels = [data.label_text(i) for i in range(n)] if data.labels is not None else None
        self.writer.add_embedding(codes, metadata=labels, label_img=torch.from_numpy(data.floats()),
                                  global_step=epoch, tag="test codes")
        self.writer.close()
