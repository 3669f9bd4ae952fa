"""KNN retrieval: every backend equals brute force, classifiers match hand-computed votes."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_skel.engine.metrics import topk_accuracy
from ssl_skel.evaluation import knn_search as search_mod
from ssl_skel.evaluation.faiss_setup import openblas_coretype_for_cpu
from ssl_skel.evaluation.knn import knn_classify
from ssl_skel.evaluation.knn_search import knn_search, l2_normalize, principal_basis, pruned_search


def _brute(train, test, k):
    sims = l2_normalize(test).astype(np.float64) @ l2_normalize(train).astype(np.float64).T
    idx = np.argsort(-sims, axis=1)[:, :k]
    return np.take_along_axis(sims, idx, 1), idx


@pytest.mark.parametrize("backend", ["faiss", "torch", "pruned", "auto"])
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


def _decaying(n, d, rng, classes=5):
    """Unit rows with a dominant subspace (variance of dim i ~ i^-1.5, a common mean, class centres)."""
    scale = np.arange(1, d + 1, dtype=np.float64) ** -0.75
    y = rng.integers(0, classes, n)
    x = (
        rng.standard_normal((n, d)) * scale
        + scale * rng.standard_normal(d)
        + rng.standard_normal((classes, d))[y] * scale
    )
    return l2_normalize(x.astype(np.float32))


@pytest.mark.parametrize("kind", ["isotropic", "decaying"])
@pytest.mark.parametrize("k", [1, 4])
def test_pruned_equals_brute_force(kind, k):
    rng = np.random.default_rng(1)
    if kind == "isotropic":  # no dominant subspace: the bound proves almost nothing, results stay exact
        both = l2_normalize(rng.standard_normal((1700, 48)).astype(np.float32))
    else:
        both = _decaying(1700, 48, rng)
    train, test = both[:1500], both[1500:]
    want_s, want_i = _brute(train, test, k)
    assert np.min(np.diff(-np.concatenate([want_s, _brute(train, test, k + 1)[0][:, -1:]], 1), axis=1)) > 1e-6
    # never fall back, so the candidate paths themselves are what is tested
    s, i, stats = pruned_search(train, test, k, rank=6, chunk=64, max_fraction=1.0, max_left_out=1.0)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_allclose(s, want_s, atol=1e-5)
    assert not stats.fell_back and stats.pruned_queries == 200 and stats.rank == 6 and stats.brute_queries == 0
    if kind == "decaying":
        assert stats.proven_queries > 0 or k > 1  # 1-NN: some queries are proven from the probed rows alone
        assert stats.candidates / 200 < 300  # the bound discards most of the 1500 rows
    else:
        assert stats.thresholded_queries > 0 and stats.candidates / 200 > 750


def test_pruned_adversarial_near_duplicates_and_ties_to_probe():
    # the true neighbour has a small low-rank score but a large residual: the best-bound
    # probe rows are not it, and only the bound keeps it among the candidates.
    rng = np.random.default_rng(2)
    train = _decaying(600, 32, rng)
    basis = principal_basis(__import__("torch").from_numpy(train), 4)[0].numpy()
    q = rng.standard_normal((10, 32)).astype(np.float32)
    q -= (q @ basis) @ basis.T  # queries orthogonal to the principal subspace
    q = l2_normalize(q)
    want_s, want_i = _brute(train, q, 1)
    s, i, _ = pruned_search(train, q, 1, rank=4, chunk=4, probe=2, max_fraction=1.0, max_left_out=1.0)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_allclose(s, want_s, atol=1e-5)


def test_pruned_near_ties_below_float32_resolution_follow_float64():
    # each query has two train rows whose scores differ by ~1e-7 (below what a float32 dot
    # product resolves at D=64) and an exact duplicate pair: the pruned search rescores in
    # float64, so its winner is the float64 brute-force one, and exact ties go to the lower index
    rng = np.random.default_rng(5)
    train = _decaying(800, 64, rng).astype(np.float64)
    q = _decaying(30, 64, rng).astype(np.float64)
    for j in range(len(q)):
        base = q[j] + 0.05 * rng.standard_normal(64)
        base /= np.linalg.norm(base)
        other = base + 2e-7 * q[j]
        train[2 * j], train[2 * j + 1] = base, other / np.linalg.norm(other)
    train32 = train.astype(np.float32)
    q32 = q.astype(np.float32)
    sims64 = q32.astype(np.float64) @ train32.astype(np.float64).T
    want = sims64.argmax(1)
    _, i, _ = pruned_search(train32, q32, 1, rank=8, chunk=7, max_fraction=1.0, max_left_out=1.0)
    np.testing.assert_array_equal(i[:, 0], want)
    dup = np.concatenate([train32, train32[100:105]])  # rows 800..804 duplicate rows 100..104
    _, i, _ = pruned_search(dup, dup[800:805], 1, rank=8, max_fraction=1.0, max_left_out=1.0)
    np.testing.assert_array_equal(i[:, 0], np.arange(100, 105))


@pytest.mark.parametrize("fallback", ["torch", "faiss"])
def test_pruned_falls_back_to_brute_force_when_pruning_does_not_pay(fallback):
    rng = np.random.default_rng(3)
    train = l2_normalize(rng.standard_normal((2000, 64)).astype(np.float32))
    test = l2_normalize(rng.standard_normal((300, 64)).astype(np.float32))
    # isotropic: 8 of 64 directions leave out ~7/8 of the energy -> brute force at once
    s, i, stats = pruned_search(train, test, 2, rank=8, chunk=128, fallback=fallback)
    assert stats.fell_back and stats.pruned_queries == 0 and stats.brute_queries == 300
    assert stats.left_out > 0.5
    np.testing.assert_array_equal(i, _brute(train, test, 2)[1])
    # with the energy test off, the thresholded candidates exceed 0.5% of the rows: brute
    # force for those queries and, after that chunk, for all remaining ones; answers stay exact
    s, i, stats = pruned_search(train, test, 2, rank=8, chunk=128, max_left_out=1.0, fallback=fallback)
    assert stats.fell_back and stats.brute_queries + stats.pruned_queries == 300
    np.testing.assert_array_equal(i, _brute(train, test, 2)[1])
    s, i, stats = pruned_search(
        train, test, 2, rank=8, chunk=128, max_left_out=1.0, max_fraction=1.0, fallback=fallback
    )
    np.testing.assert_array_equal(i, _brute(train, test, 2)[1])
    assert stats.brute_queries == 0


@pytest.mark.parametrize(
    "kind, bf16, dim, want",
    [
        ("isotropic", False, 1024, "faiss"),
        ("isotropic", True, 1024, "cascade"),
        ("decaying", False, 1024, "pruned"),
        ("decaying", True, 1024, "pruned"),
        ("decaying", True, 512, "faiss"),  # narrow features: brute force beats the extra passes
        ("isotropic", True, 512, "faiss"),
    ],
)
def test_auto_picks_the_backend_by_the_energy_test(kind, bf16, dim, want, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(search_mod, "fast_bf16_cpu", lambda: bf16)
    monkeypatch.setattr(search_mod, "faiss_gpu_available", lambda: False)
    monkeypatch.setattr(search_mod, "faiss_openblas_core", lambda: "SkylakeX")
    rng = np.random.default_rng(6)
    if kind == "isotropic":
        both = l2_normalize(rng.standard_normal((3000, dim)).astype(np.float32))
    else:
        both = _decaying(3000, dim, rng)
    result = search_mod.search(both[:2600], both[2600:], 1)
    assert result.backend == want
    np.testing.assert_array_equal(result.indices, _brute(both[:2600], both[2600:], 1)[1])


def test_principal_basis_is_orthonormal_and_finds_the_subspace():
    import torch

    rng = np.random.default_rng(4)
    span = np.linalg.qr(rng.standard_normal((20, 3)))[0]  # data inside a 3-d subspace of R^20
    x = torch.from_numpy((rng.standard_normal((300, 3)) @ span.T).astype(np.float32))
    basis, left_out = principal_basis(x, 3, sample=100)
    basis = basis.double().numpy()
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(basis @ basis.T, span @ span.T, atol=1e-4)  # same projector
    assert left_out < 1e-6
    assert principal_basis(x, 10)[0].shape == (20, 3)  # rank capped by the data's rank
    # isotropic data: 2 of 20 directions carry about 2/20 of the energy
    iso = torch.from_numpy(rng.standard_normal((4000, 20)).astype(np.float32))
    assert principal_basis(iso, 2, sample=4000)[1] == pytest.approx(0.9, abs=0.03)


def test_openblas_coretype_by_cpu_flags():
    assert openblas_coretype_for_cpu({"avx512f", "avx512bw", "avx512vl", "avx2", "fma"}) == "SkylakeX"
    assert openblas_coretype_for_cpu({"avx2", "fma", "sse4_2"}) == "Haswell"
    assert openblas_coretype_for_cpu({"sse4_2"}) is None


class _Clips:
    """Dataset of n items whose clip is filled with the index (so embeddings are predictable)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import torch

        return {"views": [torch.full((3, 4, 25, 2), float(i))], "label": i % 3, "index": i}


class _SumEncoder:
    dim = 2

    def embed_modalities(self, x, names):
        s = x.sum(dim=(1, 2, 3, 4))
        return {m: __import__("torch").stack([s, -s * (j + 1)], 1) for j, m in enumerate(names)}


@pytest.mark.parametrize("workers", [0, 2])
def test_extract_features_fills_rows_in_order(workers, caplog):
    from ssl_skel.evaluation.features import extract_features

    with caplog.at_level("INFO", logger="ssl_skel.evaluation.features"):
        f = extract_features(
            _SumEncoder(), _Clips(7), ("fused", "bone"), batch_size=3, num_workers=workers, progress=False
        )
    per_clip = 3 * 4 * 25 * 2
    want = np.arange(7, dtype=np.float32) * per_clip
    np.testing.assert_array_equal(f.embeddings["fused"], np.stack([want, -want], 1))
    np.testing.assert_array_equal(f.embeddings["bone"], np.stack([want, -2 * want], 1))
    assert f.embeddings["fused"].dtype == np.float32 and f.embeddings["fused"].flags.c_contiguous
    np.testing.assert_array_equal(f.labels, np.arange(7) % 3)
    np.testing.assert_array_equal(f.indices, np.arange(7))
    assert ("1 loader workers instead of 2" in caplog.text) == (workers == 2)


def test_extract_features_of_an_empty_split():
    from ssl_skel.evaluation.features import extract_features

    f = extract_features(_SumEncoder(), _Clips(0), ("fused",), progress=False)
    assert f.embeddings["fused"].shape == (0, 2) and len(f) == 0


@pytest.mark.parametrize("core, want", [("SkylakeX", "faiss"), ("Prescott", "torch"), (None, "faiss")])
def test_auto_backend_on_cpu_avoids_faiss_with_generic_blas_kernels(monkeypatch, core, want):
    import torch

    used = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(search_mod, "fast_bf16_cpu", lambda: False)
    monkeypatch.setattr(search_mod, "faiss_gpu_available", lambda: False)
    monkeypatch.setattr(search_mod, "faiss_openblas_core", lambda: core)
    monkeypatch.setattr(
        search_mod,
        "search_faiss",
        lambda *a, **k: used.append("faiss") or (np.ones((1, 2), np.float32), np.zeros((1, 2), np.int64)),
    )
    monkeypatch.setattr(
        search_mod,
        "search_torch",
        lambda *a, **k: used.append("torch") or (np.ones((1, 2), np.float32), np.zeros((1, 2), np.int64)),
    )
    knn_search(np.eye(2, dtype=np.float32), np.ones((1, 2), np.float32), 1)  # too small for the energy test
    assert used == [want]


def test_bf16_score_error_bound_holds_at_the_papers_width():
    import torch

    rng = np.random.default_rng(7)
    for kind in ("isotropic", "decaying"):
        x = _decaying(3000, 2048, rng) if kind == "decaying" else l2_normalize(rng.standard_normal((3000, 2048)))
        q = x[:200]
        exact = q.astype(np.float64) @ x.astype(np.float64).T
        approx = (torch.from_numpy(q).bfloat16() @ torch.from_numpy(x).t().bfloat16()).double().numpy()
        assert np.abs(approx - exact).max() < search_mod.BF16_SCORE_ERROR


@pytest.mark.parametrize("kind", ["isotropic", "decaying"])
@pytest.mark.parametrize("k", [1, 3])
def test_cascade_equals_float64_brute_force(kind, k):
    rng = np.random.default_rng(8)
    both = l2_normalize(rng.standard_normal((2600, 96))) if kind == "isotropic" else _decaying(2600, 96, rng)
    train, test = both[:2400], both[2400:]
    s, i, stats = search_mod.cascade_search(train, test, k, chunk=64)
    want_s, want_i = _brute(train, test, k)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_allclose(s, want_s, atol=1e-5)
    assert stats.proven_queries + stats.brute_queries == 200


def test_cascade_near_ties_within_the_bf16_bound_stay_exact():
    # two rows per query a hair apart (far below bf16 resolution): the bound cannot separate
    # them in bf16, so the float64 rescoring decides, or brute force when the proof fails
    rng = np.random.default_rng(9)
    q = l2_normalize(rng.standard_normal((20, 64)))
    base = l2_normalize(q + 0.3 * rng.standard_normal((20, 64)))
    other = l2_normalize(base + 1e-4 * q)
    train = np.concatenate([l2_normalize(rng.standard_normal((500, 64))), base, other]).astype(np.float32)
    _, i, stats = search_mod.cascade_search(train, q, 1, probe=2)
    want = (q.astype(np.float64) @ train.astype(np.float64).T).argmax(1)
    np.testing.assert_array_equal(i[:, 0], want)
    assert stats.proven_queries + stats.brute_queries == 20


def _near_duplicate_gallery(rng, copies: int, d=256, queries=60):
    """Per query a gallery row and `copies - 1` near-duplicates of it whose scores differ far
    below fp32 resolution (augmented views of one clip): fp32 search alone cannot order them."""
    q = l2_normalize(rng.standard_normal((queries, d)))
    a = l2_normalize(q + 0.2 * rng.standard_normal((queries, d)))
    dups = [l2_normalize(a + 3e-7 * rng.standard_normal((queries, d))) for _ in range(copies - 1)]  # a few ulps
    noise = l2_normalize(rng.standard_normal((400, d)))
    return np.concatenate([noise, a, *dups]).astype(np.float32), q


@pytest.mark.parametrize("backend", ["faiss", "torch"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("copies", [2, 12])
def test_brute_force_equals_float64_on_near_duplicates(backend, k, copies, monkeypatch):
    # 2 copies: the float64 rescoring of the fp32 candidates orders them; 12 (more than the 8
    # candidates): no proof from the candidates, so those queries get float64 scores of every row
    train, q = _near_duplicate_gallery(np.random.default_rng(11), copies)
    exact = q.astype(np.float64) @ train.astype(np.float64).T
    want = np.lexsort((np.broadcast_to(np.arange(len(train)), exact.shape), -exact), axis=-1)[:, :k]
    top2 = np.sort(exact, 1)[:, -2:]
    assert np.sum(top2[:, 1] - top2[:, 0] < 1e-7) > 10  # the near ties are real
    calls = []
    full = search_mod._float64_topk
    monkeypatch.setattr(search_mod, "_float64_topk", lambda *a, **kw: calls.append(len(a[1])) or full(*a, **kw))
    s, i = search_mod.brute_force(train, q, k, backend)
    np.testing.assert_array_equal(i, want)
    np.testing.assert_allclose(s, np.take_along_axis(exact, want, 1), atol=1e-6)
    if copies > 8:  # (a query may still be proven when its copies happen to spread beyond the bound)
        assert len(calls) == 1 and len(q) // 2 < calls[0] <= len(q)
    else:
        assert calls == []


def test_auto_on_narrow_near_duplicates_is_exact(monkeypatch):
    monkeypatch.setattr(search_mod, "faiss_gpu_available", lambda: False)
    train, q = _near_duplicate_gallery(np.random.default_rng(12), 12)
    result = search_mod.search(train, q, 1, gpu=False)
    train, q = l2_normalize(train), l2_normalize(q)  # what search() scores (renormalising moves ulps)
    want = (q.astype(np.float64) @ train.astype(np.float64).T).argmax(1)
    assert result.backend in ("faiss", "torch")
    np.testing.assert_array_equal(result.indices[:, 0], want)


def test_fp32_score_error_bounds_the_fp32_scores():
    import torch

    rng = np.random.default_rng(13)
    for d in (64, 2048):
        x = l2_normalize(rng.standard_normal((2000, d)))
        exact = x[:100].astype(np.float64) @ x.astype(np.float64).T
        approx = (torch.from_numpy(x[:100]) @ torch.from_numpy(x).T).double().numpy()
        assert np.abs(approx - exact).max() < search_mod.fp32_score_error(d)
