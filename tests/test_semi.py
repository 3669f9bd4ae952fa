"""Semi-supervised subsets: class-balanced, seeded, reproducible; bad fractions refused."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_skel.evaluation.semi import balanced_subset


def test_balanced_and_reproducible():
    labels = np.repeat(np.arange(6), 200)
    np.random.default_rng(0).shuffle(labels)
    a = balanced_subset(labels, 0.01, seed=7)
    assert np.bincount(labels[a]).tolist() == [2] * 6
    b = balanced_subset(labels, 0.10, seed=7)
    assert np.bincount(labels[b]).tolist() == [20] * 6
    np.testing.assert_array_equal(a, balanced_subset(labels, 0.01, seed=7))
    assert not np.array_equal(b, balanced_subset(labels, 0.10, seed=8))
    assert np.all(np.diff(b) > 0)


def test_uneven_classes_keep_at_least_one():
    labels = np.array([0] * 300 + [1] * 30 + [2] * 3)
    rows = balanced_subset(labels, 0.01, seed=0)
    assert np.bincount(labels[rows]).tolist() == [3, 1, 1]
    assert len(balanced_subset(labels, 1.0)) == len(labels)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        balanced_subset(np.array([0, 1]), fraction)


def test_bad_labels():
    with pytest.raises(ValueError, match="non-empty 1-d"):
        balanced_subset(np.zeros((0,)), 0.1)
