"""Bone / motion streams on hand-computed cases, for numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_skel.data.layouts import NTU25, Layout
from ssl_skel.data.modalities import bone, bone_motion, motion, to_modalities, to_modality

# a 3-joint chain: 0 is the root, 1 hangs from 0, 2 from 1
CHAIN = Layout("chain", ("a", "b", "c"), (0, 0, 1), 0, ())


def chain_clip() -> np.ndarray:
    """x: (N=1, C=2, T=3, V=3, M=1) with hand-picked coordinates."""
    x = np.zeros((1, 2, 3, 3, 1), np.float32)
    x[0, 0, :, :, 0] = [[0, 1, 3], [1, 2, 5], [1, 4, 4]]  # x coordinate per (t, v)
    x[0, 1, :, :, 0] = [[0, 0, 0], [2, 2, 2], [0, 1, 1]]  # y coordinate per (t, v)
    return x


def test_bone_hand_computed() -> None:
    b = bone(chain_clip(), CHAIN)
    np.testing.assert_array_equal(b[0, 0, :, :, 0], [[0, 1, 2], [0, 1, 3], [0, 3, 0]])
    np.testing.assert_array_equal(b[0, 1, :, :, 0], [[0, 0, 0], [0, 0, 0], [0, 1, 0]])


def test_motion_hand_computed_last_frame_zero() -> None:
    m = motion(chain_clip())
    np.testing.assert_array_equal(m[0, 0, :, :, 0], [[1, 1, 2], [0, 2, -1], [0, 0, 0]])
    np.testing.assert_array_equal(m[0, 1, :, :, 0], [[2, 2, 2], [-2, -1, -1], [0, 0, 0]])
    np.testing.assert_array_equal(bone_motion(chain_clip(), CHAIN)[0, 0, :, :, 0], [[0, 0, 1], [0, 2, -3], [0, 0, 0]])


def test_ntu_root_bone_is_zero_and_shapes_kept() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 25, 2)).astype(np.float32)
    b = bone(x, NTU25)
    assert b.shape == x.shape and b.dtype == np.float32
    assert np.all(b[..., 20, :] == 0)
    np.testing.assert_allclose(b[..., 3, :], x[..., 3, :] - x[..., 2, :])  # head - neck
    assert bone(x[0], NTU25).shape == x[0].shape  # batch axis optional
    np.testing.assert_array_equal(motion(x[0]), motion(x)[0])


def test_torch_matches_numpy() -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 25, 2)).astype(np.float32)
    t = torch.from_numpy(x)
    for name in ("joint", "bone", "motion", "bone_motion"):
        out = to_modality(t, name, NTU25)
        assert isinstance(out, torch.Tensor) and out.shape == t.shape
        np.testing.assert_allclose(out.numpy(), to_modality(x, name, NTU25), atol=1e-6)
    assert set(to_modalities(t, ("bone", "motion"), NTU25)) == {"bone", "motion"}


def test_unknown_modality() -> None:
    with pytest.raises(ValueError, match=r"unknown modality 'rgb' \(known: joint, bone, motion, bone_motion\)"):
        to_modality(chain_clip(), "rgb", CHAIN)
