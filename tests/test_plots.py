"""Confusion matrix and t-SNE PNGs are written, non-empty and valid images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ssl_skel.engine.metrics import confusion_matrix
from ssl_skel.engine.plots import plot_confusion, plot_tsne, stratified_subsample


def test_confusion_counts_by_hand():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_pngs_written(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 15)
    x = rng.standard_normal((60, 8)) + 5 * np.eye(8)[y]
    p1 = plot_confusion(y, (y + (rng.random(60) < 0.2)) % 4, tmp_path / "cm.png", ["a", "b", "c", "d"])
    p2 = plot_tsne(x, y, tmp_path / "tsne.png", max_points=40)
    for p in (p1, p2):
        assert p.stat().st_size > 1000
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100


def test_subsample_is_stratified_and_bounded():
    y = np.repeat(np.arange(5), [100, 50, 30, 20, 10])
    rows = stratified_subsample(y, 40, seed=0)
    assert len(rows) <= 40 and np.bincount(y[rows], minlength=5).tolist() == [8, 8, 8, 8, 8]
    np.testing.assert_array_equal(rows, stratified_subsample(y, 40, seed=0))


def test_tsne_needs_points(tmp_path):
    with pytest.raises(ValueError, match="at least 3 points"):
        plot_tsne(np.zeros((2, 4)), np.array([0, 1]), tmp_path / "t.png")
