"""`training.snapshot_every: N` (seed 002's DisplayCallback): every N epochs, a strip of fixed test
images over their reconstructions goes to snapshots/epoch_NNNN.png; at the end of training
(on_train_end) joins the strips into training.gif, the epoch number in each frame. A training
callback (train/callbacks.py), like those a Python user writes.

The GIF is made from the PNGs on disk, so a run resumed after an interruption still gets every
snapshot in its animation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aelab import files
from aelab.data.dataset import ImageData, to_float
from aelab.explore import frames as fr
from aelab.layout import SNAPSHOT, SNAPSHOTS, TRAINING_GIF
from aelab.train.callbacks import Callback

FOLDER, GIF = SNAPSHOTS, TRAINING_GIF


class Snapshots(Callback):
    """`Trainer(callbacks=[Snapshots(run, test, every)])`: strips during training, the GIF at its end."""

    def __init__(self, run: Path, test: ImageData, every: int, seed: int = 42, n: int = 10):
        self.folder = Path(run) / FOLDER
        self.every = every
        # The same images at every epoch, picked as the run's reconstruction figure picks them.
        index = np.sort(np.random.default_rng(seed).choice(len(test), min(n, len(test)), replace=False))
        self.images = torch.from_numpy(test.subset(index).images)
        self.originals = fr.tiled(to_float(self.images).numpy(), len(index), cell=56)

    def on_epoch_end(self, trainer, row: dict) -> None:
        epoch = trainer.state.epoch
        last = epoch >= trainer.config.training.epochs or trainer.state.stopped_early
        if epoch % self.every == 0 or last:
            self.capture(trainer.model, epoch)

    @torch.no_grad()
    def capture(self, model, epoch: int) -> Path:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        x = to_float(self.images.to(device))
        recon = model.output_activation(model(x, sample=False).logits).float().cpu().numpy()
        model.train(was_training)
        strip = _stack(self.originals, fr.tiled(recon, len(recon), cell=56))
        picture = fr.with_caption(strip, f"epoch {epoch}: test images (top) and their reconstructions",
                                  top=True)
        path = files.make_folder(self.folder) / SNAPSHOT.format(epoch=epoch)  # refused if a link
        with files.atomic_write(path) as tmp:
            picture.save(tmp, format="PNG")
        return path

    def on_train_end(self, trainer) -> None:
        self.finish()

    def finish(self, fps: float = 4) -> Path | None:
        return training_gif(self.folder.parent, fps)


def training_gif(run: Path, fps: float = 4) -> Path | None:
    """Write run/training.gif from every snapshot on disk; None when there are none."""
    paths = sorted((Path(run) / FOLDER).glob("epoch_*.png"))
    if not paths:
        return None
    frames = []
    for p in paths:  # aelab's own PNGs: no other format is opened, whatever lies in the folder
        with Image.open(p, formats=["PNG"]) as img:
            frames.append(img.convert("RGB"))
    return fr.write_gif(frames, Path(run) / GIF, fps)


def _stack(top: Image.Image, bottom: Image.Image, gap: int = 6) -> Image.Image:
    out = Image.new("RGB", (max(top.width, bottom.width), top.height + gap + bottom.height), fr.WHITE)
    out.paste(top, (0, 0))
    out.paste(bottom, (0, top.height + gap))
    return out
