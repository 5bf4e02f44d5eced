"""The resume check many model types share: train a config through, and again interrupted like
Ctrl-C after some epochs and then resumed; the two runs must end with identical weights."""

from __future__ import annotations

import numpy as np
from safetensors.numpy import load_file

from aelab import runs
from aelab.config import load_config
from aelab.experiments.train_run import train_run

from test_training import StopAfter


def whole_and_resumed(overrides: list[str], tmp_path, stop_after: int = 2, check_interrupted=None):
    """(whole run's metrics, resumed run's metrics, their folders); `check_interrupted(folder)` looks
    at the interrupted run's folder before it is resumed."""
    import pytest

    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    expected = train_run(load_config(None, overrides), whole, progress=False, figures=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, overrides), resumed, progress=False, figures=False,
                  callbacks=[StopAfter(stop_after)])
    if check_interrupted is not None:
        check_interrupted(resumed)
    metrics = train_run(runs.read_config(resumed), resumed, resume=True, progress=False, figures=False)
    return expected, metrics, whole, resumed


def same_weights(a, b) -> bool:
    """Whether two run folders hold bit-identical weights, the same names."""
    wa, wb = load_file(str(a / runs.MODEL)), load_file(str(b / runs.MODEL))
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
