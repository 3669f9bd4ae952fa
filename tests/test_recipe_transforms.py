"""CTR-GCN's NW-UCLA preprocessing as options, each against a naive per-clip reference on hand-made clips:
per-axis min-max, rotation about chosen axes in the authors' order (whole degrees), sorted random frames over
the whole clip, floor-linspace frames, and the whole training / test pipeline of the nwucla_ctrgcn preset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssl_skel.core.config import AugmentConfig, ConfigError, from_dict, load_config
from ssl_skel.data import transforms as T
from ssl_skel.data.layouts import get_layout


def hand_clip(t: int = 7, v: int = 20, seed: int = 0) -> np.ndarray:
    """(3, t, v, 1): joints at distinct, uneven positions (metres), frame index readable from x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, [[0.3], [0.8], [0.2]], size=(3, t * v)).reshape(3, t, v, 1)
    return (x + np.array([1.0, -2.0, 3.0])[:, None, None, None]).astype(np.float32)


def naive_minmax(x: np.ndarray) -> np.ndarray:
    """Per axis over every frame and joint of the clip, point by point: 2 (v - min) / (max - min) - 1."""
    out = np.empty_like(x, dtype=np.float64)
    for c in range(x.shape[0]):
        values = [float(x[c, t, j, m]) for t in range(x.shape[1]) for j in range(x.shape[2]) for m in range(x.shape[3])]
        lo, hi = min(values), max(values)
        for t in range(x.shape[1]):
            for j in range(x.shape[2]):
                for m in range(x.shape[3]):
                    out[c, t, j, m] = 2 * (x[c, t, j, m] - lo) / (hi - lo) - 1
    return out


def rot(axis: str, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


class Scripted:
    """A numpy Generator stand-in that hands out given draws (integer angles, frame slots)."""

    def __init__(self, ints=(), slots=()) -> None:
        self.ints, self.slots = np.asarray(ints), np.asarray(slots)

    def integers(self, low, high, size=None):
        assert size == len(self.ints) and np.all((low <= self.ints) & (self.ints < high))
        return self.ints

    def choice(self, a, size=None, replace=True):
        assert size == len(self.slots)
        return self.slots


# ----------------------------------------------------------------------------- min-max
def test_minmax_equals_naive_reference_and_spans_minus_one_to_one():
    x = hand_clip()
    out = T.MinMaxScale()(x)
    np.testing.assert_allclose(out, naive_minmax(x), atol=1e-6)
    for c in range(3):
        assert out[c].min() == pytest.approx(-1.0, abs=1e-6) and out[c].max() == pytest.approx(1.0, abs=1e-6)


def test_minmax_removes_translation_and_positive_scale_per_axis():
    x = hand_clip()
    moved = (x * np.array([2.0, 0.5, 3.0])[:, None, None, None] + 7.0).astype(np.float32)
    np.testing.assert_allclose(T.MinMaxScale()(moved), T.MinMaxScale()(x), atol=1e-5)


def test_minmax_keeps_absent_bodies_zero_and_a_flat_axis_at_zero():
    x = np.concatenate([hand_clip(t=4, v=3), np.zeros((3, 4, 3, 1), np.float32)], axis=3)  # person 2 absent
    x[2, ..., 0] = 5.0  # a flat z axis (person 1)
    out = T.MinMaxScale()(x)
    assert np.all(out[..., 1] == 0.0)
    assert np.all(out[2, ..., 0] == 0.0)
    np.testing.assert_allclose(out[:2, ..., :1], naive_minmax(x[:2, ..., :1]), atol=1e-6)


# ----------------------------------------------------------------------------- rotation
def test_rotation_about_y_then_x_in_whole_degrees_equals_naive():
    x = hand_clip()
    step = T.Rotate(60.0, ("y", "x"), integer=True)
    out = step(x, Scripted(ints=[-37, 52]))  # drawn in axes order: about y, then about x
    matrix = rot("x", 52) @ rot("y", -37)  # column vectors: first about y, then about x
    naive = np.einsum("ij,jtvm->itvm", matrix, x.astype(np.float64))
    np.testing.assert_allclose(out, naive, atol=1e-5)


def test_integer_rotation_draws_whole_degrees_in_range_and_leaves_z_alone():
    step = T.Rotate(3.0, ("y", "x"), integer=True)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        m, _ = step.plan(rng, 3, 20)
        ay = round(math.degrees(math.atan2(m[0, 2], m[0, 0])))  # R = Rx Ry: first row is Ry's
        ax = round(math.degrees(math.atan2(m[2, 1], m[1, 1])))  # middle column: (0, cos x, sin x)
        np.testing.assert_allclose(m, rot("x", ax) @ rot("y", ay), atol=1e-6)
        seen.add((ax, ay))
    assert {a for a, _ in seen} == set(range(-3, 4)) and {b for _, b in seen} == set(range(-3, 4))


def test_default_rotation_axes_keep_the_old_draws_and_order():
    x = hand_clip()
    out = T.Rotate(30.0)(x, np.random.default_rng(5))
    ax, ay, az = np.random.default_rng(5).uniform(-30, 30, size=3)
    matrix = rot("z", az) @ rot("y", ay) @ rot("x", ax)
    np.testing.assert_allclose(out, np.einsum("ij,jtvm->itvm", matrix, x.astype(np.float64)), atol=1e-5)


def test_rotation_config_is_validated():
    with pytest.raises(ConfigError, match="rotate_axes"):
        from_dict(AugmentConfig, {"rotate_axes": ["y", "w"]})
    with pytest.raises(ConfigError, match="rotate_axes"):
        from_dict(AugmentConfig, {"rotate_axes": ["y", "y"]})
    with pytest.raises(ConfigError, match="whole rotate_deg"):
        from_dict(AugmentConfig, {"rotate_deg": 7.5, "rotate_integer": True})


# ----------------------------------------------------------------------------- frames
def frame_clip(t: int) -> np.ndarray:
    """x of frame k is k: a picked frame names itself."""
    x = np.zeros((3, t, 2, 1), np.float32)
    x[0] = np.arange(t, dtype=np.float32)[:, None, None]
    x[1] = 1.0
    return x


def test_linspace_frames_equal_floor_of_linspace():
    for t in (1, 5, 52, 53, 201):
        out = T.LinspaceFrames(52)(frame_clip(t))
        naive = [math.floor(k * (t - 1) / 51) for k in range(52)]
        assert out.shape == (3, 52, 2, 1)
        np.testing.assert_array_equal(out[0, :, 0, 0], naive)


def test_random_sorted_frames_equal_naive_slots_and_cover_the_whole_clip():
    t = 9
    slots = [897, 3, 455, 12, 600, 9, 250, 731]  # slot p of the list range(t) * 100 holds frame p % t
    out = T.RandomSortedFrames(8)(frame_clip(t), Scripted(slots=slots))
    np.testing.assert_array_equal(out[0, :, 0, 0], sorted(p % t for p in slots))
    rng = np.random.default_rng(0)
    seen = np.concatenate([T.RandomSortedFrames(52)(frame_clip(t), rng)[0, :, 0, 0] for _ in range(20)])
    assert set(seen.astype(int)) == set(range(t))  # any frame of the whole clip, repeats when t < 52
    for _ in range(20):
        picked = T.RandomSortedFrames(52)(frame_clip(200), rng)[0, :, 0, 0]
        assert np.all(np.diff(picked) >= 0) and picked.min() >= 0 and picked.max() <= 199


def test_random_sorted_frames_draw_without_replacement_from_copies():
    draws = T.RandomSortedFrames(52, copies=1).frames(np.random.default_rng(3), 60)
    assert len(set(draws.tolist())) == 52  # one slot per frame: no frame twice
    assert np.array_equal(T.RandomSortedFrames(5).frames(np.random.default_rng(0), 1), np.zeros(5))


# ----------------------------------------------------------------------------- the preset's pipelines
def test_nwucla_ctrgcn_training_pipeline_equals_naive_feeder():
    cfg = load_config("nwucla_ctrgcn")
    pipeline = T.build_transforms(
        cfg.supervised.augment, get_layout("kinect20"), 52, normalize=cfg.data.normalize, resize=cfg.data.resize
    )
    x = hand_clip(t=30)
    slots = np.random.default_rng(1).choice(100 * 30, size=52, replace=False)
    out = pipeline(x, Scripted(ints=[-60, 17], slots=slots))
    # naive: rotate every point (about y by -60, then about x by 17), min-max the whole clip, pick sorted frames
    rotated = np.einsum("ij,jtvm->itvm", rot("x", 17) @ rot("y", -60), x.astype(np.float64))
    naive = naive_minmax(rotated)[:, sorted(p % 30 for p in slots)]
    assert out.shape == (3, 52, 20, 1)
    np.testing.assert_allclose(out, naive, atol=1e-5)


def test_nwucla_ctrgcn_test_view_equals_naive_feeder():
    cfg = load_config("nwucla_ctrgcn")
    view = T.build_eval_transform(52, normalize=cfg.data.normalize, frames=cfg.data.eval_frames)
    x = hand_clip(t=75)
    frames = [math.floor(k * 74 / 51) for k in range(52)]
    np.testing.assert_allclose(view(x, None), naive_minmax(x)[:, frames], atol=1e-6)


def test_default_pipelines_are_unchanged_by_the_new_options():
    aug = AugmentConfig(shear=0.3, rotate_deg=10)
    layout = get_layout("ntu25")
    x = np.random.default_rng(0).normal(size=(3, 40, 25, 2)).astype(np.float32)
    pipeline = T.build_transforms(aug, layout, 16)
    assert isinstance(pipeline.transforms[0], T.TemporalCropResize)
    assert isinstance(T.build_eval_transform(16).transforms[0], T.CenterCropResize)
    a, b = pipeline(x, np.random.default_rng(1)), pipeline(x, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
