"""The authors' pipeline options (issue 10): crop floor, half-pixel resize, joint corruption, one-of,
CrosSCLR shift/preprocessing, Adam + step schedule, the probe's milestones and test-selected figure.

Every expectation is hand-computed (or torch's own interpolation); no authors' code is needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssl_skel.core.config import AugmentConfig, ConfigError, TrainConfig, from_dict
from ssl_skel.data import transforms as T
from ssl_skel.data.layouts import NTU25
from ssl_skel.engine.schedule import build_scheduler, lr_factor
from ssl_skel.evaluation.linear import LinearProtocol, train_linear_probe


def ramp(frames: int, m: int = 2) -> np.ndarray:
    """(3, frames, 25, m) clip whose every coordinate equals its frame index (absent bodies excepted)."""
    return np.broadcast_to(np.arange(frames, dtype=np.float32)[None, :, None, None], (3, frames, 25, m)).copy()


# --------------------------------------------------------------------------- crop length and resize
@pytest.mark.parametrize(
    ("t", "ratio", "expected"),
    [(82, 0.1, 64), (82, 0.79, 64), (82, 0.8, 65), (82, 0.99, 81), (300, 0.5, 150), (300, 0.1, 64), (40, 0.3, 40)],
)
def test_umurl_crop_length_floor(t: int, ratio: float, expected: int) -> None:
    # UmURL: L = min(max(floor(n * ratio), 64), n); 82 * 0.8 = 65.6 -> 65, 82 * 0.79 = 64.78 -> 64
    crop = T.TemporalCropResize(64, 0.1, 1.0, min_frames=64, rounding="floor", resize="half_pixel")
    assert crop.crop_length(t, ratio) == expected


def test_default_crop_length_is_unchanged() -> None:
    crop = T.TemporalCropResize(64, 0.5)
    assert [crop.crop_length(t, r) for t, r in ((82, 0.5), (82, 0.51), (3, 0.1), (1, 0.5))] == [41, 42, 2, 1]


def test_umurl_crop_never_shorter_than_64_frames() -> None:
    x = ramp(82)
    crop = T.TemporalCropResize(64, 0.1, 1.0, min_frames=64, rounding="floor", resize="half_pixel")
    for seed in range(50):
        out = crop(x, np.random.default_rng(seed))[0, :, 0, 0]
        # a crop of L frames from start s resized to 64 spans source frames [s, s + L - 1]
        # with half-pixel sampling: first sample max(0, L/128 - 0.5) above s, always > 0 frames wide
        assert out[-1] - out[0] >= 64 * (1 - 1 / 64) - 1 - 1e-4


def test_half_pixel_resize_hand_values_and_torch() -> None:
    x = np.zeros((1, 4, 1, 1), np.float32)
    x[0, :, 0, 0] = [0, 1, 2, 3]
    up = T.resample_half_pixel(x, 0, 4, 8)[0, :, 0, 0]
    # src = (i + 0.5) * 4 / 8 - 0.5, clamped to [0, 3]
    np.testing.assert_allclose(up, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0], atol=1e-7)
    y = np.zeros((1, 5, 1, 1), np.float32)
    y[0, :, 0, 0] = [0, 1, 2, 3, 4]
    np.testing.assert_allclose(T.resample_half_pixel(y, 0, 5, 2)[0, :, 0, 0], [0.75, 3.25], atol=1e-7)  # no antialias
    np.testing.assert_allclose(T.resample_half_pixel(y, 1, 3, 3)[0, :, 0, 0], [1, 2, 3], atol=1e-7)  # identity size
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(3, 37, 25, 2)).astype(np.float32)
    for start, length, out in ((0, 37, 64), (5, 20, 64), (3, 30, 7)):
        seg = torch.from_numpy(clip[:, start : start + length]).permute(0, 2, 3, 1).reshape(1, -1, length)
        ref = F.interpolate(seg, size=out, mode="linear", align_corners=False)
        ref = ref.reshape(3, 25, 2, out).permute(0, 3, 1, 2).numpy()
        np.testing.assert_allclose(T.resample_half_pixel(clip, start, length, out), ref, atol=1e-6)


def test_centre_crop_half_pixel_is_the_authors_downstream_view() -> None:
    x = ramp(10)
    out = T.CenterCropResize(4, resize="half_pixel")(x)[0, :, 0, 0]
    np.testing.assert_allclose(out, [0.75, 3.25, 5.75, 8.25], atol=1e-6)  # (i + 0.5) * 2.5 - 0.5


# --------------------------------------------------------------------------- joint corruption and one-of
def changed_joints(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.any(a != b, axis=(0, 1, 3)))


def test_joint_corruption_zeroes_exactly_the_chosen_joints() -> None:
    x = np.random.default_rng(1).normal(size=(3, 30, 25, 2)).astype(np.float32)
    x[..., 1] = 0.0
    out = T.JointCorruption(15, zero_prob=1.0)(x, np.random.default_rng(2))
    hit = changed_joints(out, x)
    assert len(hit) == 15
    assert np.all(out[:, :, hit] == 0)
    np.testing.assert_array_equal(np.delete(out, hit, axis=2), np.delete(x, hit, axis=2))


def test_joint_corruption_mixes_exactly_the_chosen_joints_by_one_matrix() -> None:
    x = np.random.default_rng(3).normal(size=(3, 30, 25, 2)).astype(np.float32)
    x[..., 1] = 0.0
    out = T.JointCorruption(15, zero_prob=0.0, magnitude=1.0)(x, np.random.default_rng(4))
    hit = changed_joints(out, x)
    assert len(hit) == 15
    assert np.all(out[..., 1] == 0)  # the absent body stays absent
    # one 3x3 matrix A for all chosen joints/frames: solve A from the data and check |a_ij| <= 1
    src = x[:, :, hit, 0].reshape(3, -1)
    dst = out[:, :, hit, 0].reshape(3, -1)
    a = np.linalg.lstsq(src.T, dst.T, rcond=None)[0].T
    np.testing.assert_allclose(a @ src, dst, atol=1e-4)
    assert np.all(np.abs(a) <= 1.0 + 1e-4)


def test_joint_corruption_branch_probability() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4, 25, 1)).astype(np.float32)
    corrupt = T.JointCorruption(15, zero_prob=0.5)
    zeroed = sum(np.all(corrupt(x, np.random.default_rng(s)) == 0, axis=(0, 1, 3)).sum() == 15 for s in range(2000))
    assert abs(zeroed / 2000 - 0.5) < 0.04  # 4.5 sigma of a fair coin over 2000 draws


class Mark:
    """A transform that records its name, for counting which branch ran."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.full_like(x, self.value)


def test_one_of_picks_each_branch_with_its_probability() -> None:
    x = np.zeros((1, 1, 1, 1), np.float32)
    pick = T.OneOf((Mark(1.0), Mark(2.0)), (0.2, 0.5))
    counts = {0.0: 0, 1.0: 0, 2.0: 0}
    n = 5000
    for s in range(n):
        counts[float(pick(x, np.random.default_rng([7, s]))[0, 0, 0, 0])] += 1
    assert abs(counts[1.0] / n - 0.2) < 0.025 and abs(counts[2.0] / n - 0.5) < 0.03
    assert abs(counts[0.0] / n - 0.3) < 0.03
    again = [float(pick(x, np.random.default_rng([7, s]))[0, 0, 0, 0]) for s in range(20)]
    assert again == [float(pick(x, np.random.default_rng([7, s]))[0, 0, 0, 0]) for s in range(20)]  # seeded
    with pytest.raises(ValueError, match="sum to at most 1"):
        T.OneOf((Mark(1.0), Mark(2.0)), (0.7, 0.5))


def umurl_augment() -> AugmentConfig:
    return AugmentConfig(
        shear=1.0, flip_prob=0.0, crop_min=0.1, crop_min_frames=64, crop_rounding="floor", corrupt_joints=15,
        one_of=("corrupt", "shear"), one_of_probs=(0.5, 0.5),
    )  # fmt: skip


def test_umurl_pipeline_is_crop_then_one_of_corruption_or_shear() -> None:
    pipe = T.build_transforms(umurl_augment(), NTU25, 64, resize="half_pixel")
    assert [type(t).__name__ for t in pipe.transforms] == ["TemporalCropResize", "OneOf"]
    one_of = pipe.transforms[1]
    assert [type(t).__name__ for t in one_of.transforms] == ["JointCorruption", "Shear"] and one_of.probs == (0.5, 0.5)
    crop = pipe.transforms[0]
    assert (crop.min_frames, crop.rounding, crop.resize, crop.min_ratio) == (64, "floor", "half_pixel", 0.1)
    x = np.random.default_rng(0).normal(size=(3, 90, 25, 2)).astype(np.float32)
    np.testing.assert_array_equal(pipe(x, np.random.default_rng([0, 3, 5])), pipe(x, np.random.default_rng([0, 3, 5])))


def test_one_of_config_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown steps"):
        from_dict(AugmentConfig, {"one_of": ["shaer"], "one_of_probs": [1.0]})
    with pytest.raises(ConfigError, match="one probability per"):
        from_dict(AugmentConfig, {"one_of": ["shear"], "one_of_probs": []})
    with pytest.raises(ValueError, match="switched off"):
        T.build_transforms(AugmentConfig(one_of=("corrupt",), one_of_probs=(1.0,)), NTU25, 32)


# --------------------------------------------------------------------------- CrosSCLR
def test_random_shift_mirrors_edges_and_keeps_length() -> None:
    x = ramp(12, 1)
    shift = T.RandomShift(6)  # pad = 2: padded frames 1 0 | 0 .. 11 | 11 10
    padded = [1, 0] + list(range(12)) + [11, 10]
    seen = set()
    for seed in range(60):
        out = list(shift(x, np.random.default_rng(seed))[0, :, 0, 0])
        starts = [s for s in range(5) if out == padded[s : s + 12]]
        assert len(starts) == 1, out
        seen.update(starts)
    assert seen == {0, 1, 2, 3, 4}


def test_crossclr_preprocess_centres_every_frame_and_aligns_shoulders() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(scale=0.05, size=(3, 30, 25, 2)).astype(np.float32)
    x[..., 1] = 0.0
    for sign in (1.0, -1.0):  # the body turns through 10..60 degrees of yaw, facing one side of the camera
        yaw = np.deg2rad(np.linspace(10, 60, 30))
        x[:, :, 8, 0] = x[:, :, 4, 0] + np.stack([np.cos(yaw), np.full(30, 0.1), sign * np.sin(yaw)]) * 0.4
        out = T.Compose(T.build_preprocess("crossclr", 50))(x, rng)
        assert out.shape == (3, 50, 25, 2)
        np.testing.assert_allclose(out[:, :, 20, 0], 0.0, atol=1e-6)  # spine-shoulder at the origin in every frame
        shoulders = out[:, :, 8, 0] - out[:, :, 4, 0]  # right - left shoulder
        np.testing.assert_allclose(shoulders[2], 0.0, atol=1e-3)  # in the xy-plane (the 1e-4 in the angle)
        assert np.all(shoulders[0] > 0)  # along +x
        assert np.all(out[..., 1] == 0)


def test_y_alignment_hand_values() -> None:
    x = np.zeros((3, 2, 25, 1), np.float32)
    x[:, :, 8, 0] = [[0.0, 0.0], [0.3, 0.3], [1.0, 1.0]]  # right shoulder along +z from the left one
    out = T.YAlign()(x)
    # v = (0, 0, 1): angle arccos(0) = 90 deg, negated as sum v_z >= 0; R_y(-90) takes (0, 0.3, 1) to (1, 0.3, 0)
    np.testing.assert_allclose(out[:, :, 8, 0].T, [[1.0, 0.3, 0.0]] * 2, atol=1e-6)


def test_skeletonclr_pipeline_order() -> None:
    aug = AugmentConfig(shear=0.5, flip_prob=0.0, temporal="shift")
    pipe = T.build_transforms(aug, NTU25, 50, preprocess="crossclr")
    assert [type(t).__name__ for t in pipe.transforms] == ["FrameCentre", "ResizeAll", "YAlign", "RandomShift", "Shear"]
    view = T.build_eval_transform(50, preprocess="crossclr")
    assert [type(t).__name__ for t in view.transforms] == ["FrameCentre", "ResizeAll", "YAlign"]


# --------------------------------------------------------------------------- optimiser and schedules
def test_step_schedule_multiplies_at_the_milestone_epoch() -> None:
    cfg = TrainConfig(epochs=451, optimizer="adam", lr=5e-4, lr_schedule="step", lr_milestones=(351,))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=5e-4)
    sched = build_scheduler(opt, cfg, total_steps=451 * 3, steps_per_epoch=3)
    lrs = []
    for _ in range(451 * 3):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs[351 * 3 - 1] == pytest.approx(5e-4) and lrs[351 * 3] == pytest.approx(5e-5)
    assert lrs[-1] == pytest.approx(5e-5)
    assert lr_factor(10, 20, 0, 0.0, [5, 8], 0.5) == 0.25


def test_step_schedule_resume_refuses_changed_milestones() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    a = build_scheduler(opt, TrainConfig(epochs=10, lr_schedule="step", lr_milestones=(5,)), 100, 10)
    b = build_scheduler(opt, TrainConfig(epochs=10, lr_schedule="step", lr_milestones=(6,)), 100, 10)
    with pytest.raises(ValueError, match="lr milestones"):
        b.load_state_dict(a.state_dict())


def test_train_config_rejects_milestones_without_step() -> None:
    with pytest.raises(ConfigError, match="lr_schedule: step"):
        from_dict(TrainConfig, {"epochs": 10, "lr_milestones": [5]})
    with pytest.raises(ConfigError, match="lr_milestones"):
        from_dict(TrainConfig, {"epochs": 10, "lr_schedule": "step", "lr_milestones": [10]})


def test_adam_builder_and_decay_all() -> None:
    from ssl_skel.engine.trainer import build_optimizer

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    opt = build_optimizer(model, TrainConfig(optimizer="adam", weight_decay=1e-5, decay_all=True), 1e-3)
    assert type(opt) is torch.optim.Adam and len(opt.param_groups) == 1
    assert opt.param_groups[0]["weight_decay"] == 1e-5 and len(opt.param_groups[0]["params"]) == 4
    split = build_optimizer(model, TrainConfig(optimizer="adam", weight_decay=1e-5), 1e-3)
    assert [g["weight_decay"] for g in split.param_groups] == [1e-5, 0.0]


# --------------------------------------------------------------------------- linear probe
def test_probe_milestone_epochs_and_test_selected_figure() -> None:
    rng = np.random.default_rng(0)
    xtr, ytr = rng.normal(size=(120, 8)).astype(np.float32), rng.integers(0, 3, 120)
    xte, yte = rng.normal(size=(60, 8)).astype(np.float32), rng.integers(0, 3, 60)
    protocol = LinearProtocol(epochs=15, lr=0.1, batch_size=32, milestone_epochs=(12, 14), test_every=5)
    res = train_linear_probe(xtr, ytr, xte, yte, 3, protocol)
    lrs = [row["lr"] for row in res.history]  # lr after each epoch's scheduler step
    assert lrs[10] == pytest.approx(0.1) and lrs[11] == pytest.approx(0.01) and lrs[13] == pytest.approx(0.001)
    tested = [row["epoch"] for row in res.history if "test_top1" in row]
    assert tested == [5, 10, 15]
    best = max(row["test_top1"] for row in res.history if "test_top1" in row)
    assert res.metrics["test_selected_best_top1"] == best
    assert res.history[res.metrics["test_selected_best_epoch"] - 1]["test_top1"] == best
    assert res.metrics["top1"] == res.history[-1]["test_top1"]  # top1 stays the final epoch
    with pytest.raises(ValueError, match="milestone epochs"):
        LinearProtocol(epochs=10, milestone_epochs=(10,))
