"""From a config and training data to a model learning: the steps `aelab train` (experiments/
train_run.py) and the Python API's `fit` share, so that both build and train the same model from
the same settings.

    config, model, sampler = assemble(config, train)        # what the data decides, then the model
    state = fit(Trainer(model, config, device), train, validation)
"""

from __future__ import annotations

import torch

from aelab.config import Config
from aelab.errors import AelabError
from aelab.models import samplers
from aelab.models.registry import build_model, complete_options, model_class
from aelab.models.topology import resolve_widths
from aelab.train.schedules import resolve_steps
from aelab.train.trainer import TrainState

NO_LABELS = ("model.type '{type}' learns from labels; {data} has none (use a labelled dataset, e.g. a folder "
             "with one sub-folder per class)")


def resolve(config: Config, train) -> Config:
    """`config` with what the training data decides written in, so that a run reloads and resumes
    the same: options such as a CVAE's number of classes, a latent grid's latent_dim, the widths
    n_layers or encoder_topology give, and the epochs that training.steps needs."""
    resolved = complete_options(config, train)
    outputs = model_class(config.model.type).encoder_outputs(resolved.model.latent_dim)
    resolved = resolve_widths(resolved, train.shape, outputs)
    return resolve_steps(resolved, len(train))


def assemble(config: Config, train, encoder=None, decoder=None, no_labels: str = NO_LABELS):
    """(the resolved config, the model with its seeded initial weights, its sampler's kind).
    `encoder`/`decoder`: networks given in Python. Settings the model cannot take are said here,
    before any training: a misspelt sampler option, a model that needs labels the data lacks
    (`no_labels`: that message, with {type} and {data})."""
    config = resolve(config, train)
    model = build_model(config.model, train.shape, encoder, decoder, seed=config.training.seed)
    samplers.check_options(config.model)
    kind = samplers.resolve(model)
    if kind != "prior":
        samplers.options_for(kind, config.model)
    if model.needs_labels and train.labels is None:
        raise AelabError(no_labels.format(type=config.model.type, data=train.name))
    return config, model, kind


def fit(trainer, train, validation=None, checkpoint_path=None) -> TrainState:
    """trainer.fit on ImageData: the images, and a conditional model's labels with them."""
    labelled = trainer.model.needs_labels

    def labels(data):
        return torch.from_numpy(data.labels) if labelled and data is not None else None

    return trainer.fit(train.tensor(), None if validation is None else validation.tensor(),
                       checkpoint_path=checkpoint_path, labels=labels(train), validation_labels=labels(validation))
