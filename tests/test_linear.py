"""Linear probe on features with known structure; protocol details; frozen encoder unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_skel.evaluation.linear import LinearProtocol, holdout_rows, train_linear_probe


def _blobs(n_per, k, d, sep, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * sep
    y = np.repeat(np.arange(k), n_per)
    x = centres[y] + rng.standard_normal((len(y), d))
    return x.astype(np.float32), y


def test_separable_blobs_reach_full_accuracy():
    xtr, ytr = _blobs(40, 5, 16, 4.0, 0)
    xte, yte = _blobs(20, 5, 16, 4.0, 0)  # same centres (same seed), fresh... same draws is fine
    rng = np.random.default_rng(1)
    xte = xte + 0.1 * rng.standard_normal(xte.shape).astype(np.float32)
    res = train_linear_probe(xtr, ytr, xte, yte, 5, LinearProtocol(epochs=30, lr=0.1, batch_size=32))
    assert res.metrics["top1"] == 100.0 and res.metrics["top5"] == 100.0
    assert res.test_scores.shape == (100, 5)
    np.testing.assert_allclose(res.test_scores.sum(1), 1.0, rtol=1e-5)


def test_label_noise_caps_accuracy_at_the_expected_level():
    # class = sign of feature 0, test labels flipped for exactly 25% of clips -> 75%
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 4)).astype(np.float32)
    x[:, 0] += np.sign(x[:, 0]) * 1.0
    y = (x[:, 0] > 0).astype(np.int64)
    xt = rng.standard_normal((200, 4)).astype(np.float32)
    xt[:, 0] += np.sign(xt[:, 0]) * 1.0
    yt = (xt[:, 0] > 0).astype(np.int64)
    yt[:50] = 1 - yt[:50]
    res = train_linear_probe(x, y, xt, yt, 2, LinearProtocol(epochs=20, lr=0.1, batch_size=64))
    assert res.metrics["top1"] == pytest.approx(75.0)


def test_random_labels_stay_near_chance():
    rng = np.random.default_rng(0)
    x, xt = rng.standard_normal((600, 8)).astype(np.float32), rng.standard_normal((600, 8)).astype(np.float32)
    res = train_linear_probe(
        x, rng.integers(0, 10, 600), xt, rng.integers(0, 10, 600), 10, LinearProtocol(epochs=10, batch_size=64)
    )
    assert res.metrics["top1"] < 20.0


def test_final_epoch_reported_and_lr_schedule():
    xtr, ytr = _blobs(20, 3, 8, 3.0, 0)
    res = train_linear_probe(xtr, ytr, xtr, ytr, 3, LinearProtocol(epochs=10, lr=0.2, val_fraction=0.25))
    lrs = [h["lr"] for h in res.history]
    # milestones at 80% (epoch 8) and 93% (epoch 9): lr after epochs 1..10
    np.testing.assert_allclose(lrs, [0.2] * 7 + [0.02] + [0.002] * 2, rtol=1e-6)
    assert res.metrics["val_top1_final"] == res.history[-1]["val_top1"]
    assert 1 <= res.metrics["best_val_epoch"] <= 10
    assert res.val_scores.shape == (len(res.val_rows), 3)


def test_seeded_and_reproducible():
    xtr, ytr = _blobs(20, 3, 8, 1.0, 0)
    a = train_linear_probe(xtr, ytr, xtr, ytr, 3, LinearProtocol(epochs=3, seed=4))
    b = train_linear_probe(xtr, ytr, xtr, ytr, 3, LinearProtocol(epochs=3, seed=4))
    np.testing.assert_array_equal(a.test_scores, b.test_scores)


def test_holdout_is_per_class():
    y = np.repeat(np.arange(4), 10)
    fit, val = holdout_rows(y, 0.2, 0)
    assert np.bincount(y[val]).tolist() == [2, 2, 2, 2]
    assert len(np.intersect1d(fit, val)) == 0 and len(fit) + len(val) == 40


def test_bad_inputs():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="one D"):
        train_linear_probe(x, np.zeros(4, int), np.zeros((4, 2), np.float32), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match="labels must be in"):
        train_linear_probe(x, np.array([0, 1, 2, 3]), x, np.zeros(4, int), 2)
    with pytest.raises(ValueError, match="differ in length"):
        train_linear_probe(x, np.zeros(3, int), x, np.zeros(4, int), 2)
    with pytest.raises(ValueError, match="val_fraction"):
        LinearProtocol(val_fraction=1.0)
    with pytest.raises(FloatingPointError, match="diverged"):
        big = np.full((8, 2), 1e30, np.float32)
        train_linear_probe(big, np.array([0, 1] * 4), big, np.array([0, 1] * 4), 2, LinearProtocol(epochs=2, lr=1e10))


def test_frozen_encoder_unchanged_by_probe_on_its_features(tmp_path):
    from eval_helpers import clips, tiny_encoder, write_checkpoint

    from ssl_skel.evaluation.api import load_encoder

    path = write_checkpoint(tmp_path / "a.pt", tiny_encoder())
    frozen = load_encoder(path)
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    torch.nn.Sequential(frozen).train()
    x = clips(12)
    feats = frozen.embed(x).numpy()
    y = np.arange(12) % 3
    train_linear_probe(feats, y, feats, y, 3, LinearProtocol(epochs=3))
    assert all(torch.equal(before[k], v) for k, v in frozen.state_dict().items())
    assert not frozen.training


def test_l2_normalize_equals_a_probe_on_unit_rows_and_ignores_row_scale():
    xtr, ytr = _blobs(30, 4, 8, 2.0, 3)
    xte, yte = _blobs(10, 4, 8, 2.0, 4)
    rng = np.random.default_rng(5)
    scale_tr = rng.uniform(0.1, 10.0, (len(xtr), 1)).astype(np.float32)
    scale_te = rng.uniform(0.1, 10.0, (len(xte), 1)).astype(np.float32)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    plain = LinearProtocol(epochs=5, lr=0.5, batch_size=16, seed=2)
    l2 = LinearProtocol(epochs=5, lr=0.5, batch_size=16, seed=2, normalize="l2")
    reference = train_linear_probe(unit(xtr), ytr, unit(xte), yte, 4, plain)
    scaled = train_linear_probe(xtr * scale_tr, ytr, xte * scale_te, yte, 4, l2)
    np.testing.assert_allclose(scaled.test_scores, reference.test_scores, atol=1e-5)
    assert scaled.metrics["top1"] == reference.metrics["top1"]


def test_unknown_normalize_is_rejected():
    with pytest.raises(ValueError, match="normalize"):
        LinearProtocol(normalize="batchnorm")
