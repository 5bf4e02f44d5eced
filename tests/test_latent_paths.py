"""Latent paths: slerp keeps to the great circle for any shape of t."""

from __future__ import annotations

import numpy as np
import pytest

from aelab.explore import slerp


@pytest.mark.parametrize("steps", [3, 4, 7])
def test_slerp_accepts_a_flat_t_and_stays_on_the_circle(steps):
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    flat = slerp(a, b, np.linspace(0, 1, steps))
    column = slerp(a, b, np.linspace(0, 1, steps)[:, None])
    assert flat.shape == (steps, 3) and np.allclose(flat, column)
    assert np.allclose(np.linalg.norm(flat, axis=1), 1.0, atol=1e-6)  # linear would dip to 0.71
    assert np.allclose(flat[0], a) and np.allclose(flat[-1], b)
