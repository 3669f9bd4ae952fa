"""KNN retrieval: faiss equals brute force, classifiers match hand-computed votes."""
from __future__ import annotations

import numpy as np
import pytest

from ssl_skel.evaluation.knn import knn_classify, knn_search, l2_normalize, topk_accuracy


def _brute(train, test, k):
    sims = l2_normalize(test).astype(np.float64) @ l2_normalize(train).astype(np.float64).T
    idx = np.argsort(-sims, axis=1)[:, :k]
    return np.take_along_axis(sims, idx, 1), idx


@pytest.mark.parametrize("backend", ["faiss", "torch", "auto"])
def test_search_equals_brute_force(backend):
    rng = np.random.default_rng(0)
    train = rng.standard_normal((500, 24)).astype(np.float32) * rng.uniform(0.5, 3, (500, 1)).astype(np.float32)
    test = rng.standard_normal((120, 24)).astype(np.float32)
    want_s, want_i = _brute(train, test, 5)
    assert np.min(np.diff(-want_s, axis=1)) > 1e-5  # tie-free data
    s, i = knn_search(train, test, 5, backend=backend)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_allclose(s, want_s, atol=1e-5)


def test_cosine_not_euclidean():
    train = np.array([[10.0, 0.0], [0.6, 0.8]], np.float32)  # far but same direction as the query
    test = np.array([[1.0, 0.05]], np.float32)
    _, idx = knn_search(train, test, 1)
    assert idx[0, 0] == 0


def test_one_nn_predicts_nearest_label():
    train = np.array([[1, 0], [0, 1], [-1, 0]], np.float32)
    labels = np.array([2, 0, 1])
    test = np.array([[0.9, 0.1], [0.1, 0.9], [-1, 0.2]], np.float32)
    res = knn_classify(train, labels, test, 3, k=1)
    np.testing.assert_array_equal(res.predictions, [2, 0, 1])
    assert topk_accuracy(res.scores, np.array([2, 0, 0]), (1,))["top1"] == pytest.approx(200 / 3)


def test_majority_and_weighted_votes_by_hand():
    # query along +x; neighbours: sims 1.0 (class 1), 0.8 and 0.6 (class 0)
    train = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [-1, 0]], np.float32)
    labels = np.array([1, 0, 0, 1])
    test = np.array([[1, 0]], np.float32)
    plain = knn_classify(train, labels, test, 2, k=3)
    assert plain.predictions[0] == 0
    np.testing.assert_allclose(plain.scores[0], [2 / 3, 1 / 3], rtol=1e-6)
    w = knn_classify(train, labels, test, 2, k=3, weighted=True, temperature=0.1)
    e = np.exp(np.array([1.0, 0.8, 0.6]) / 0.1)
    want = np.array([e[1] + e[2], e[0]]) / e.sum()
    np.testing.assert_allclose(w.scores[0], want, rtol=1e-5)
    assert w.predictions[0] == 1


def test_topk_accuracy_by_hand():
    scores = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]])
    assert topk_accuracy(scores, np.array([2, 0]), (1, 2)) == {"top1": 50.0, "top2": 100.0}


def test_bad_inputs():
    a = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="one D"):
        knn_search(a, np.zeros((2, 5), np.float32), 1)
    with pytest.raises(ValueError, match="k=5"):
        knn_search(a, a, 5)
    with pytest.raises(ValueError, match="unknown KNN backend"):
        knn_search(a, a, 1, backend="annoy")
    with pytest.raises(ValueError, match="labels must be in"):
        knn_classify(a, np.array([0, 1, 2, 3]), a, 3)
    with pytest.raises(ValueError, match="4 train features but 2 labels"):
        knn_classify(a, np.array([0, 1]), a, 3)
    with pytest.raises(ValueError, match="temperature"):
        knn_classify(a, np.zeros(4, int), a, 3, weighted=True, temperature=0)
