"""Score files, alignment checks, weighted combination and searched weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssl_skel.commands import ensemble as cmd
from ssl_skel.evaluation.ensemble import align, combine, load_scores, save_scores, search_weights


def _two_streams(tmp_path, prefix="test"):
    # stream A right on clips 0,1; stream B right on clip 2; together (A + 2B) right on all three
    labels = np.array([0, 1, 1])
    a = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    b = np.array([[0.4, 0.6], [0.45, 0.55], [0.1, 0.9]])
    pa = save_scores(tmp_path / "a" / prefix, a, labels, np.array([0, 1, 2]))
    order = np.array([2, 0, 1])  # B saved in a different clip order
    pb = save_scores(tmp_path / "b" / prefix, b[order], labels[order], order)
    return pa, pb


def test_round_trip_and_alignment(tmp_path):
    pa, pb = _two_streams(tmp_path)
    a, b = load_scores(pa), load_scores(pb)
    assert a.scores.dtype == np.float32 and a.scores.shape == (3, 2)
    aligned = align([a, b])
    np.testing.assert_allclose(aligned[1].scores[:, 1], [0.6, 0.55, 0.9], rtol=1e-6)
    np.testing.assert_allclose(combine([a, b], [1, 2]), [[1.7, 1.3], [1.1, 1.9], [0.8, 2.2]], rtol=1e-6)


def test_search_picks_weights_that_fix_both_streams(tmp_path):
    pa, pb = _two_streams(tmp_path)
    w, acc = search_weights([load_scores(pa), load_scores(pb)], grid=(0.0, 0.5, 1.0, 2.0))
    assert acc == 100.0
    assert w[0] == 1.0 and w[1] > 0


def test_mismatched_files_are_refused(tmp_path):
    pa, _ = _two_streams(tmp_path)
    other = save_scores(tmp_path / "c" / "t", np.ones((3, 2)), np.array([0, 1, 1]), np.array([0, 1, 5]))
    with pytest.raises(ValueError, match="score different clips"):
        align([load_scores(pa), load_scores(other)])
    wrong = save_scores(tmp_path / "d" / "t", np.ones((3, 2)), np.array([1, 1, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="disagree on labels"):
        align([load_scores(pa), load_scores(wrong)])
    with pytest.raises(ValueError, match="2 weights"):
        combine([load_scores(pa)], [1, 2])
    with pytest.raises(FileNotFoundError, match="scores file not found"):
        load_scores(tmp_path / "none.npy")
    with pytest.raises(ValueError, match="do not line up"):
        save_scores(tmp_path / "e", np.ones((2, 2)), np.array([0]), np.array([0]))


def test_command_with_weights_and_search(tmp_path, capsys):
    pa, pb = _two_streams(tmp_path)
    va, vb = _two_streams(tmp_path, prefix="val")
    assert cmd.main([str(pa), str(pb), "--weights", "1", "2", "--out", str(tmp_path / "ens")]) == 0
    res = json.loads((tmp_path / "ens" / "results.json").read_text())
    assert res["metrics"]["ensemble"]["top1"] == 100.0
    assert res["metrics"]["input1"]["top1"] == pytest.approx(200 / 3)
    assert res["metrics"]["input2"]["top1"] == pytest.approx(200 / 3)
    assert res["settings"]["weights"] == [1.0, 2.0]
    assert (tmp_path / "ens" / "confusion.png").stat().st_size > 1000
    assert list((tmp_path / "ens" / "tb").glob("events.out.tfevents*"))
    assert cmd.main([str(pa), str(pb), "--search", str(va), str(vb), "--out", str(tmp_path / "ens2")]) == 0
    res = json.loads((tmp_path / "ens2" / "results.json").read_text())
    assert res["metrics"]["ensemble"]["top1"] == 100.0 and "searched" in res["selection"]
    from ssl_skel.commands import UserError

    with pytest.raises(UserError, match="either --weights or --search"):
        cmd.main([str(pa), str(pb), "--weights", "1", "1", "--search", str(va), str(vb)])


def test_run_ensemble_from_python(tmp_path):
    """The library call the command makes: combined scores by hand, files as the command writes them."""
    from ssl_skel.evaluation import EnsembleSettings, run_ensemble

    pa, pb = _two_streams(tmp_path)
    res = run_ensemble([pa, pb], EnsembleSettings(weights=(1.0, 2.0)))
    np.testing.assert_allclose(res.scores, [[1.7, 1.3], [1.1, 1.9], [0.8, 2.2]], rtol=1e-6)
    assert res.path == tmp_path / "ensemble" / "results.json"  # beside the first input's run folder (a/test.npy here)
    assert json.loads(res.path.read_text())["metrics"] == res.metrics and res.metrics["ensemble"]["top1"] == 100.0
    assert res.weights == [1.0, 2.0] and res.val_top1 is None
    with pytest.raises(ValueError, match="not both"):
        EnsembleSettings(weights=(1.0, 1.0), search=("v1", "v2"))
    with pytest.raises(ValueError, match="2 score files but 3 weights"):
        run_ensemble([pa, pb], EnsembleSettings(weights=(1.0, 1.0, 1.0)), tmp_path / "bad")
