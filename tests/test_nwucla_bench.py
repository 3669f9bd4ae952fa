"""benchmarks/real_data.py (benchmarks/nwucla.py wraps it): a tiny end-to-end smoke run on a generated
NW-UCLA-format folder, plus the parts with hand-checkable values (raw-coordinate floor features,
BENCHMARKS.md section replacement, mean and spread, the report) and the bad-input paths.

The real-data conversion test lives in tests/test_real_data.py; this file never reads
../shared/data.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_toys import TINY_BENCH

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import real_data  # noqa: E402
from realdata import aggregate, floors, report, stages  # noqa: E402
from realdata.datasets import DATASETS, MODALITIES  # noqa: E402

UCLA = DATASETS["nw_ucla"]


def make_raw(root: Path, train_per_class: int = 2, test_per_class: int = 1, seed: int = 0) -> Path:
    """A folder in NW-UCLA's distribution format: all_sqe/*.json + the two split lists.

    Each class moves the right hand along its own direction, so the classes differ.
    """
    rng = np.random.default_rng(seed)
    (root / "all_sqe").mkdir(parents=True)
    lists = {"train_split.json": [], "val_split.json": []}
    base = rng.normal(0.0, 0.3, size=(20, 3))
    for label in range(1, 11):
        direction = np.array([np.cos(label), np.sin(label), 0.1 * label])
        for k in range(train_per_class + test_per_class):
            view = 3 if k >= train_per_class else 1 + k % 2
            name = f"a{label:02d}_s{k + 1:02d}_e00_v{view:02d}"
            t = int(rng.integers(6, 12)) if k else 1  # the real set has 1-frame clips too
            frames = base[None] + rng.normal(0, 0.01, size=(t, 20, 3))
            frames[:, 11] += np.linspace(0, 1, t)[:, None] * direction
            (root / "all_sqe" / f"{name}.json").write_text(
                json.dumps({"file_name": name, "skeletons": frames.tolist(), "label": label})
            )
            split = "val_split.json" if view == 3 else "train_split.json"
            lists[split].append({"file_name": name, "length": t, "label": label})
    for fname, items in lists.items():
        (root / fname).write_text(json.dumps(items))
    return root


TINY = [*TINY_BENCH, "train.log_every=1"]


# --------------------------------------------------------------------------- smoke run
def test_benchmark_end_to_end_writes_table_and_keeps_other_sections(tmp_path):
    raw = make_raw(tmp_path / "raw")
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Other\n\nkeep me\n")
    out = tmp_path / "bench"
    argv = ["--dataset", "nw_ucla", "--raw", str(raw), "--out", str(out), "--threads", "1", "--seeds", "0", "1"]
    argv += ["--budget-minutes", "5", "--finetune-epochs", "1", "--monitor-points", "1", "--floor-frames", "4"]
    argv += ["--benchmarks-md", str(md), *TINY]
    assert real_data.main(argv) == 0

    text = md.read_text()
    assert "## Other\n\nkeep me" in text and text.count(UCLA.markers[0]) == 1
    assert "## NW-UCLA (cross-view, real data)" in text and "| pretrained | motion |" in text
    assert "| random init | fused |" in text and "floor: raw coordinates (4 frames, 240-d)" in text
    assert "supervised fine-tune" in text and "supervised ST-GCN from scratch" in text
    assert "Seeds 0, 1: mean ± population std" in text and "by view" in text
    assert "Wall time per stage (all seeds): convert" in text
    assert f"Command: `python benchmarks/real_data.py --dataset nw_ucla --raw {raw} --out {out}" in text
    assert "Goals" not in text  # published goals live in BENCHMARKS.md's own text, not in the driver

    res = json.loads((out / "results.json").read_text())
    assert res["sizes"] == [20, 10] and [r["seed"] for r in res["per_seed"]] == [0, 1]
    for run in res["per_seed"]:
        assert run["epochs_done"] == 2 and run["planned_epochs"] == 2
        assert [e for e, _ in run["curve"]] == [2]  # one validation point, at the end
        for table in (run["pretrained"], run["random"]):
            assert set(table) == set(MODALITIES)
            assert all(0.0 <= v <= 100.0 for row in table.values() for v in row.values())
        assert run["finetune"]["epochs"] == 1 and 0.0 <= run["scratch"]["top1"] <= 100.0
    assert 0.0 <= res["floors"]["knn1"] <= 100.0 and res["floors"]["dim"] == 4 * 20 * 3
    assert set(res["stages"]) >= {"convert", "pretrain", "evaluate pretrained", "floors", "finetune"}

    # a rerun resumes: the data is reused and no epoch is trained again
    mtime = (out / "seed0" / "pretrain" / "last.pt").stat().st_mtime_ns
    assert real_data.main(argv + ["--skip-finetune", "--skip-random", "--no-write"]) == 0
    assert (out / "seed0" / "pretrain" / "last.pt").stat().st_mtime_ns == mtime
    res2 = json.loads((out / "results.json").read_text())
    assert (
        res2["data_note"] == "reused an earlier conversion of 30 clips (xview: train 20, test 10)"
        and res2["per_seed"][0]["pretrained"] == res["per_seed"][0]["pretrained"]
    )
    # stage times are kept per seed, so a resumed (or separately run) seed reports its real cost
    assert all((out / f"seed{s}" / "stages.json").exists() for s in (0, 1))
    assert res2["stages"]["pretrain"] >= res["stages"]["pretrain"] > 0.0
    assert md.read_text() == text

    # a changed probe in the preset is probed again on the same encoder (the checkpoint stores the old one),
    # and a longer --scratch-epochs trains the ST-GCN again while the fine-tune of 1 epoch is kept
    finetuned = out / "seed0" / "eval" / "finetune" / "results.json"
    finetune_mtime = finetuned.stat().st_mtime_ns
    probe = ["eval.linear_normalize=l2", "eval.linear_lr=1.0"]
    assert real_data.main(argv + probe + ["--scratch-epochs", "2", "--skip-random", "--no-write"]) == 0
    assert (out / "seed0" / "pretrain" / "last.pt").stat().st_mtime_ns == mtime
    settings = json.loads((out / "seed0" / "eval" / "linear_pretrained" / "results.json").read_text())["settings"]
    assert settings["normalize"] == "l2" and settings["lr"] == 1.0
    res3 = json.loads((out / "results.json").read_text())["per_seed"][0]
    assert all(res3["pretrained"][m]["knn1"] == res["per_seed"][0]["pretrained"][m]["knn1"] for m in MODALITIES)
    assert res3["scratch"]["epochs"] == 2 and res3["finetune"]["epochs"] == 1
    assert finetuned.stat().st_mtime_ns == finetune_mtime


# --------------------------------------------------------------------------- pieces
class _Clips:
    """The two methods of SkeletonClips that the floor features use."""

    def __init__(self, clips, labels):
        self.clips, self.labels = clips, np.asarray(labels)

    def __len__(self):
        return len(self.clips)

    def valid_frames(self, i):
        return self.clips[i]


def test_raw_features_centre_and_scale_by_hand():
    # one joint, one person, 2 frames, C=1 coordinates 1 and 3: mean 2, RMS distance 1 -> [-1, 1]
    x = np.array([1.0, 3.0], np.float32).reshape(1, 2, 1, 1)
    feats, labels = floors.raw_features(_Clips([x, 10 * x], [4, 7]), frames=2)
    np.testing.assert_allclose(feats, [[-1.0, 1.0], [-1.0, 1.0]], atol=1e-6)  # scale-free
    assert labels.tolist() == [4, 7] and feats.dtype == np.float32
    # 3 frames resampled from 2: the middle frame is the average
    feats, _ = floors.raw_features(_Clips([x], [0]), frames=3)
    np.testing.assert_allclose(feats, [[-1.0, 0.0, 1.0]] / np.sqrt(2 / 3), atol=1e-6)
    # a 1-frame clip of one point is all zeros after centring, not NaN
    feats, _ = floors.raw_features(_Clips([np.ones((3, 1, 1, 1), np.float32)], [0]), frames=4)
    assert np.isfinite(feats).all() and not feats.any()


def test_split_text_names_each_seeds_held_out_view_once_when_they_agree(tmp_path):
    from ssl_skel.data.formats.nw_ucla import convert_ucla
    from ssl_skel.data.sources import open_arrays
    from ssl_skel.data.splits import split_of

    convert_ucla(make_raw(tmp_path / "raw"), tmp_path / "data")
    arrays = open_arrays(tmp_path / "data", "xview", "train")
    held = {s: split_of(arrays, by="view", fraction=0.3, seed=s).groups for s in range(6)}
    same = [s for s in held if held[s] == held[0]]
    other = next(s for s in held if held[s] != held[0])  # two training views: some seed holds out the other
    assert report.split_text(arrays, "view", 0.3, same[:2]) == (
        f"seeds {same[0]}, {same[1]}: train_clips 10, val_clips 10, held_out {list(held[0])}"
    )
    text = report.split_text(arrays, "view", 0.3, [0, other])
    assert text == f"seed 0: train_clips 10, val_clips 10, held_out {list(held[0])}; " + (
        f"seed {other}: train_clips 10, val_clips 10, held_out {list(held[other])}"
    )


def test_write_section_replaces_only_its_own_block(tmp_path):
    md = tmp_path / "B.md"
    report.write_section(md, "first", UCLA.markers)
    assert md.read_text().startswith("# Benchmarks") and "first" in md.read_text()
    md.write_text(md.read_text() + "\n## Later section\n\nstays\n")
    report.write_section(md, "second\nwith \\1 backslash", UCLA.markers)
    text = md.read_text()
    assert "first" not in text and "second\nwith \\1 backslash" in text
    assert text.endswith("## Later section\n\nstays\n") and text.count(UCLA.markers[0]) == 1


def test_mean_std_by_hand():
    assert aggregate.mean_std([1.0, 3.0]) == (2.0, 1.0)
    assert all(np.isnan(aggregate.mean_std([])))


def test_report_marks_budget_stop_and_aggregates_seeds():
    from ssl_skel.core.config import load_config

    cfg = load_config("nwucla_cpu")
    row = {m: {"linear": 50.0, "knn1": 40.0} for m in MODALITIES}
    row2 = {m: {"linear": 60.0, "knn1": 40.0} for m in MODALITIES}
    run = {"seed": 0, "epochs_done": 7, "planned_epochs": 10, "stopped_by_budget": True, "curve": [[5, 40.0]]}
    ctx = {
        "dataset": UCLA,
        "cfg": cfg,
        "seeds": [0, 1],
        "date": "d",
        "machine": "m",
        "command": "c",
        "data_note": "reused",
        "sizes": [1020, 464],
        "enc_params": 1.5e6,
        "dim": 512,
        "config_name": "nwucla_cpu",
        "budget": 1.0,
        "val_split": "seed 0",
        "per_seed": [{**run, "pretrained": row}, {**run, "seed": 1, "pretrained": row2, "curve": []}],
        "floors": {"knn1": 62.3, "ridge": 57.1, "dim": 1920},
        "floor_frames": 32,
        "stages": {"convert": 60.0, "pretrain": 120.0},
    }
    text = report.report(ctx)
    assert "7/10, 7/10" in text and "stopped by the budget" in text
    assert "| pretrained | fused | 55.0 ± 5.0 | 40.0 ± 0.0 |" in text and "random init" not in text
    assert "| 57.1 (ridge) | 62.3 |" in text and "seed 0: 5: 40.0" in text
    assert "convert 1.0 min, pretrain 2.0 min; total 3.0 min" in text
    assert "Goals" not in text and "published" not in text.lower()


# --------------------------------------------------------------------------- bad input
def test_convert_refuses_a_folder_holding_another_dataset(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text(json.dumps({"source": {"dataset": "synthetic", "raw": "/elsewhere"}}))
    with pytest.raises(SystemExit, match="holds another dataset"):
        stages.prepare_data("nw_ucla", tmp_path / "raw", data)


def test_missing_raw_folder_is_a_named_error(tmp_path):
    from ssl_skel.data.storage import DataFormatError

    with pytest.raises(DataFormatError, match="raw folder not found"):
        real_data.main(
            ["--dataset", "nw_ucla", "--raw", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b"), "--no-write"]
            + TINY
        )


def test_failing_stage_stops_the_benchmark(tmp_path):
    features = stages.FrozenFeatures(Path("/no/such/file.pt"), False, 0, 0, tmp_path / "cache", MODALITIES)
    with pytest.raises(SystemExit, match="knn failed: /no/such/file.pt: checkpoint not found"):
        stages.run_knn(features, 1, tmp_path / "knn")


def test_printed_command_leaves_out_the_note_text():
    argv = ["--dataset", "nw_ucla", "--note", "a long paragraph", "--seeds", "0", "--note=x", "--threads", "1"]
    assert real_data.without_note(argv) == ["--dataset", "nw_ucla", "--seeds", "0", "--threads", "1"]


@pytest.mark.parametrize(
    "args",
    [["--bogus"], [], ["--dataset", "nw_ucla", "--raw", "/nonexistent", "--out", "{tmp}/o", "--no-write"]],
)
def test_bad_arguments_are_one_line_and_status_2(args, tmp_path, capsys):
    try:
        rc = real_data.cli([a.replace("{tmp}", str(tmp_path)) for a in args])
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("python benchmarks/real_data.py")


def test_no_benchmark_module_builds_command_lines():
    """The stages call the typed evaluation API, not the command mains with an argument list."""
    option = re.compile(r"""["']--[a-z][a-z-]*["']""")
    realdata = sorted((BENCHMARKS / "realdata").glob("*.py"))
    assert [p.name for p in realdata if option.search(p.read_text())] == []
    assert [p.name for p in realdata if "ssl_skel.commands." in p.read_text()] == []  # no command module is called


def test_stage_calls_pass_the_typed_settings_to_the_library(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from ssl_skel.core.config import load_config
    from ssl_skel.evaluation.linear import LinearProtocol

    cfg = load_config("synthetic")
    opened, calls = [], []
    run = SimpleNamespace(cfg=cfg, seed=3)
    monkeypatch.setattr(stages.EVALUATION, "open", lambda request: opened.append(request) or run)
    monkeypatch.setattr(stages.EVALUATION, "protocol", lambda run, settings, out: calls.append((settings, out)))
    features = stages.FrozenFeatures(tmp_path / "ck.pt", True, 3, 0, tmp_path / "cache", ("fused", "joint"))
    stages.run_linear(features, stages.LinearProbe(7, 0.5, 64, "l2"), tmp_path / "lin")
    stages.run_knn(features, 1, tmp_path / "knn")
    stages.run_finetune(tmp_path / "ck.pt", False, 3, stages.Supervised(5, 0.016, None, 2), tmp_path / "ft")
    (lin, lin_out), (knn, knn_out), (ft, ft_out) = calls
    for request, out in zip(opened[:2], (lin_out, knn_out)):
        assert (request.checkpoint, request.out, request.seed, request.num_workers) == (tmp_path / "ck.pt", out, 3, 0)
        assert (request.random_init, request.plots, request.cache_dir) == (True, False, tmp_path / "cache")
    assert lin_out == tmp_path / "lin" and lin.modalities == ("fused", "joint")
    base = LinearProtocol.from_eval(cfg.eval, seed=3)
    assert lin.probe == dataclasses.replace(base, epochs=7, lr=0.5, batch_size=64, normalize="l2")
    assert knn_out == tmp_path / "knn" and (knn.k, knn.modalities) == (1, ("fused", "joint"))
    ft_request = opened[2]
    assert (ft_request.seed, ft_request.num_workers, ft_request.random_init, ft_request.plots) == (3, 2, False, False)
    assert ft_out == tmp_path / "ft" and ft.tag == "finetune"
    assert ft.supervised == dataclasses.replace(cfg.supervised, label_smoothing=0.1)
    train = dataclasses.replace(cfg.train, epochs=5, lr=0.016, warmup_epochs=1, save_every=5)
    assert ft.train == train
