"""Augmentation invariants: rigid motions keep bone lengths, flips undo, masks count, seeds repeat."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_skel.core.config import SPATIAL_STEPS, AugmentConfig
from ssl_skel.data import transforms as T
from ssl_skel.data.layouts import NTU25


def clip(seed: int = 0, frames: int = 20, second_person: bool = False) -> np.ndarray:
    """x: (3, frames, 25, 2) random skeleton; the second person is zero padding unless asked."""
    x = np.random.default_rng(seed).normal(size=(3, frames, 25, 2)).astype(np.float32)
    if not second_person:
        x[..., 1] = 0.0
    return x


def bone_lengths(x: np.ndarray) -> np.ndarray:
    parents = list(NTU25.parents)
    return np.linalg.norm(x - x[:, :, parents], axis=0)


def test_rotation_keeps_bone_lengths_and_zero_person() -> None:
    x = clip()
    out = T.Rotate(30.0)(x, np.random.default_rng(1))
    assert not np.allclose(out, x)
    np.testing.assert_allclose(bone_lengths(out), bone_lengths(x), atol=1e-5)
    assert np.all(out[..., 1] == 0)


def test_rotation_matrix_hand_values() -> None:
    r = T.rotation_matrix([0.0, 0.0, np.pi / 2])  # about z: x axis -> y axis
    np.testing.assert_allclose(r @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    r2 = T.rotation_matrix([np.pi / 2])
    np.testing.assert_allclose(r2 @ [1.0, 0.0], [0.0, 1.0], atol=1e-12)


def test_flip_mirrors_x_and_swaps_sides() -> None:
    x = clip()
    flip = T.Flip(NTU25, prob=1.0)
    out = flip(x, np.random.default_rng(0))
    left_hand, right_hand = 7, 11
    np.testing.assert_array_equal(out[0, :, right_hand], -x[0, :, left_hand])
    np.testing.assert_array_equal(out[1:, :, right_hand], x[1:, :, left_hand])
    np.testing.assert_array_equal(out[:, :, 3], x[:, :, 3] * np.array([-1, 1, 1])[:, None, None])  # head stays
    np.testing.assert_array_equal(flip(out, np.random.default_rng(5)), x)  # twice = identity
    assert T.Flip(NTU25, prob=0.0)(x, np.random.default_rng(0)) is x


def test_flip_rejects_wrong_joint_count() -> None:
    with pytest.raises(ValueError, match="25 joints, clip has 17"):
        T.Flip(NTU25, 1.0)(np.zeros((3, 4, 17, 1), np.float32), np.random.default_rng(0))


def test_resample_is_linear_interpolation() -> None:
    x = np.zeros((1, 5, 1, 1), np.float32)
    x[0, :, 0, 0] = [1, 2, 3, 4, 5]
    out = T.resample(x, 0, 5, 9)
    np.testing.assert_allclose(out[0, :, 0, 0], [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5])
    np.testing.assert_allclose(T.resample(x, 1, 3, 3)[0, :, 0, 0], [2, 3, 4])


def test_resample_does_not_blend_a_person_into_absence() -> None:
    x = np.ones((1, 2, 1, 1), np.float32)
    x[0, 1] = 0.0  # the person disappears in frame 1
    out = T.resample(x, 0, 2, 5)[0, :, 0, 0]
    np.testing.assert_array_equal(out, [1, 1, 0, 0, 0])  # nearest frame, never 0.5


@pytest.mark.parametrize("frames", [3, 20, 150])
def test_crop_resize_length_and_range(frames: int) -> None:
    x = clip(frames=frames)
    x[0, :, 0, 0] = np.arange(frames)  # frame index stored in one coordinate
    crop = T.TemporalCropResize(64, min_ratio=0.5)
    for seed in range(5):
        out = crop(x, np.random.default_rng(seed))
        assert out.shape == (3, 64, 25, 2) and out.dtype == np.float32
        t = out[0, :, 0, 0]
        assert np.all(np.diff(t) >= 0)  # time runs forward
        assert t[-1] - t[0] >= round(0.5 * frames) - 1 - 1e-4  # at least min_ratio of the frames
    centre = T.CenterCropResize(64)(x)
    assert centre[0, 0, 0, 0] == 0 and centre[0, -1, 0, 0] == frames - 1


def test_crop_rejects_bad_ratio() -> None:
    with pytest.raises(ValueError, match="min_ratio"):
        T.TemporalCropResize(64, min_ratio=0.0)
    with pytest.raises(ValueError, match="ratio"):
        T.CenterCropResize(64, ratio=1.5)


def test_shear_is_linear_and_zero_magnitude_is_identity() -> None:
    x = clip()
    a = T.Shear(0.5)(x, np.random.default_rng(3))
    b = T.Shear(0.5)(2 * x, np.random.default_rng(3))
    np.testing.assert_allclose(b, 2 * a, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a, x)
    np.testing.assert_array_equal(T.Shear(0.0)(x, np.random.default_rng(3)), x)
    assert np.all(a[..., 1] == 0)


def test_noise_std_and_zero_person() -> None:
    x = clip(frames=200)
    out = T.GaussianNoise(0.1)(x, np.random.default_rng(0))
    diff = (out - x)[..., 0]
    assert abs(diff.std() - 0.1) < 0.005 and abs(diff.mean()) < 0.005
    assert np.all(out[..., 1] == 0)


def test_blur_keeps_constants_and_spreads_an_impulse() -> None:
    x = np.ones((3, 30, 25, 1), np.float32)
    blur = T.GaussianBlur(prob=1.0, sigma=(1.5, 1.5))
    np.testing.assert_allclose(blur(x, np.random.default_rng(0)), x, rtol=1e-5)
    impulse = np.zeros((1, 30, 1, 1), np.float32) + 1e-3
    impulse[0, 15] = 1.0
    out = blur(impulse, np.random.default_rng(0))[0, :, 0, 0]
    assert out[15] < 1.0 and out[14] > 0.1 and out[16] > 0.1
    np.testing.assert_allclose(out.sum(), impulse.sum(), rtol=1e-4)  # interior impulse: mass kept
    assert T.GaussianBlur(prob=0.0)(x, np.random.default_rng(0)) is x


def test_masks_zero_exact_counts() -> None:
    x = clip(frames=64, second_person=True) + 10.0  # no accidental zeros
    rng = np.random.default_rng(0)
    joints = T.JointMask(0.2)(x, rng)
    zero_joints = np.all(joints == 0, axis=(0, 1, 3))
    assert zero_joints.sum() == 5  # round(0.2 * 25)
    np.testing.assert_array_equal(joints[:, :, ~zero_joints], x[:, :, ~zero_joints])
    frames = T.FrameMask(0.25)(x, rng)
    assert np.all(frames == 0, axis=(0, 2, 3)).sum() == 16  # round(0.25 * 64)
    axis = T.AxisMask(1.0)(x, rng)
    assert np.all(axis == 0, axis=(1, 2, 3)).sum() == 1
    assert T.AxisMask(0.0)(x, rng) is x


def full_config() -> AugmentConfig:
    return AugmentConfig(
        shear=0.5,
        rotate_deg=20,
        flip_prob=0.5,
        crop_min=0.5,
        noise_std=0.02,
        blur_prob=0.5,
        joint_mask_prob=0.1,
        frame_mask_prob=0.1,
        axis_mask_prob=0.2,
    )


def test_build_transforms_order_and_switches() -> None:
    pipeline = T.build_transforms(full_config(), NTU25, 32)
    kinds = [type(t).__name__ for t in pipeline.transforms]
    assert kinds == [
        "TemporalCropResize",
        "Shear",
        "Rotate",
        "Flip",
        "GaussianNoise",
        "GaussianBlur",
        "JointMask",
        "FrameMask",
        "AxisMask",
    ]
    off = AugmentConfig(shear=0.0, rotate_deg=0.0, flip_prob=0.0, crop_min=1.0)
    assert [type(t).__name__ for t in T.build_transforms(off, NTU25, 32).transforms] == ["TemporalCropResize"]


def test_the_steps_are_declared_once_and_every_declared_step_is_built() -> None:
    # core.config.SPATIAL_STEPS names the steps and their order; transforms only says how to build each
    assert list(T.STEP_BUILDERS) == list(SPATIAL_STEPS)
    every = AugmentConfig(
        shear=0.3, rotate_deg=10, yaw_deg=20, flip_prob=0.5, corrupt_joints=3, noise_std=0.01, blur_prob=0.5,
        joint_mask_prob=0.1, frame_mask_prob=0.1, axis_mask_prob=0.1,
    )  # fmt: skip
    kinds = [type(t).__name__ for t in T.build_transforms(every, NTU25, 32).transforms[1:]]
    assert kinds == ["Shear", "Rotate", "Yaw", "Flip", "JointCorruption", "GaussianNoise", "GaussianBlur",
                     "JointMask", "FrameMask", "AxisMask"]  # fmt: skip
    # so one_of may choose among all of them (yaw was missing from the copy of the list the config kept)
    pipe = T.build_transforms(AugmentConfig(yaw_deg=90, one_of=("yaw", "shear"), one_of_probs=(0.5, 0.5)), NTU25, 32)
    assert [type(t).__name__ for t in pipe.transforms[1].transforms] == ["Yaw", "Shear"]


def test_pipeline_is_deterministic_per_seed_and_keeps_padding_zero() -> None:
    x = clip(frames=40)
    pipeline = T.build_transforms(full_config(), NTU25, 32)
    a = pipeline(x, np.random.default_rng([0, 1, 2]))
    b = pipeline(x, np.random.default_rng([0, 1, 2]))
    c = pipeline(x, np.random.default_rng([0, 1, 3]))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (3, 32, 25, 2) and a.dtype == np.float32 and a.flags.c_contiguous
    for seed in range(20):
        assert np.all(pipeline(x, np.random.default_rng(seed))[..., 1] == 0)


def test_transforms_reject_non_clip_input() -> None:
    with pytest.raises(ValueError, match=r"\(C, T, V, M\)"):
        T.Shear(0.5)(np.zeros((3, 10, 25)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="C=4"):
        T.Rotate(10)(np.zeros((4, 10, 25, 1)), np.random.default_rng(0))
