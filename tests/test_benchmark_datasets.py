"""benchmarks/real_data.py on Penn Action and SBU: the dataset entries, SBU's fold averaging (by hand and
through `main` with the per-fold stage replaced), `--folds` errors, the folded report, and a tiny
end-to-end SBU run (slow). Fast tests use generated folders in SBU's distribution format; the two
real-data checks skip when ../shared/data is absent.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_toys import TINY_BENCH
from test_penn_sbu import PENN, SBU, needs_penn, needs_sbu

from ssl_skel.commands import UserError
from ssl_skel.core.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import real_data  # noqa: E402
from realdata import aggregate, budget, records, stages  # noqa: E402
from realdata import run as bench_run  # noqa: E402
from realdata.datasets import DATASETS, MODALITIES, RealDataset, chosen_folds  # noqa: E402

SBU_DS = DATASETS["sbu"]
PENN_DS = DATASETS["penn_action"]
SETS = ("s01s02", "s03s04", "s02s03", "s02s07", "s01s03")  # folds 1, 1, 2, 2, 3


def make_sbu_raw(root: Path, sets=SETS, classes=(1, 2, 3, 4), seqs=2, seed: int = 0) -> Path:
    """Folders <set>/<class>/<seq>/skeleton_pos.txt, rows: frame, A's 15 joints (x, y, z), B's 15."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.7, size=(2, 15, 3))
    for s in sets:
        for c in classes:
            for q in range(1, seqs + 1):
                t = int(rng.integers(8, 14))
                frames = base[None] + rng.normal(0, 0.005, size=(t, 2, 15, 3))
                frames[:, 0, 5, c % 3] += np.linspace(0, 0.2, t)  # A's hand moves along a class axis
                rows = np.concatenate([np.arange(1, t + 1)[:, None], frames.reshape(t, 90)], axis=1)
                folder = root / s / f"{c:02d}" / f"{q:03d}"
                folder.mkdir(parents=True)
                np.savetxt(folder / "skeleton_pos.txt", rows, delimiter=",", fmt="%.6f")
    return root


# --------------------------------------------------------------------------- the dataset entries
@pytest.mark.parametrize("name", ["penn_action", "sbu"])
def test_dataset_entries_name_a_valid_preset_whose_monitor_matches(name):
    ds = DATASETS[name]
    cfg = load_config(ds.config)
    assert cfg.eval.monitor_split == ds.val_by  # the pretraining monitor and the report describe one split
    assert cfg.model.name == "unified" and cfg.objective.name == "umurl"
    assert ds.markers[0] != ds.markers[1]
    assert "goals" not in {f.name for f in dataclasses.fields(RealDataset)}  # goals live in BENCHMARKS.md
    markers = [m for d in DATASETS.values() for m in d.markers]
    assert len(set(markers)) == len(markers)  # every dataset writes its own section
    assert cfg.data.benchmark == ("official" if name == "penn_action" else "fold1")


def test_sbu_lists_its_five_folds_and_the_others_none():
    assert SBU_DS.folds == ("fold1", "fold2", "fold3", "fold4", "fold5")
    assert PENN_DS.folds == () and DATASETS["nw_ucla"].folds == ()


def test_chosen_folds_defaults_orders_and_refuses_bad_names():
    assert chosen_folds("sbu", SBU_DS, None) == list(SBU_DS.folds)
    assert chosen_folds("sbu", SBU_DS, ["fold3", "fold1"]) == ["fold1", "fold3"]  # the protocol's order
    assert chosen_folds("penn_action", PENN_DS, None) == []
    with pytest.raises(UserError, match="no fold fold6; its folds are fold1, fold2"):
        chosen_folds("sbu", SBU_DS, ["fold6"])
    with pytest.raises(UserError, match="penn_action has one official split, no folds"):
        chosen_folds("penn_action", PENN_DS, ["fold1"])
    with pytest.raises(UserError, match="named twice"):
        chosen_folds("sbu", SBU_DS, ["fold1", "fold1"])


def test_folds_on_a_single_split_dataset_exits_2_with_one_line(tmp_path, capsys):
    status = real_data.cli(["--dataset", "penn_action", "--raw", str(tmp_path), "--folds", "fold1", "--no-write"])
    assert status == 2 and "no folds" in capsys.readouterr().err


def test_sbu_convert_dispatch_on_a_generated_folder(tmp_path):
    raw = make_sbu_raw(tmp_path / "raw")
    note = stages.prepare_data("sbu", raw, tmp_path / "data")
    assert note.startswith("converted 40 clips (fold1: train 24, test 16, fold2: train 24, test 16, fold3:")
    assert stages.prepare_data("sbu", raw, tmp_path / "data").startswith(
        "reused an earlier conversion of 40 clips (fold1: train 24, test 16; fold2:"
    )


def test_convert_reuses_a_penn_folder_that_records_its_labels_subfolder(tmp_path):
    raw, data = tmp_path / "penn_action", tmp_path / "data"
    (raw / "labels").mkdir(parents=True)
    data.mkdir()
    (data / "manifest.json").write_text(json.dumps({"source": {"raw": str(raw / "labels")}}))
    assert stages.prepare_data("penn_action", raw, data).startswith("reused")
    with pytest.raises(SystemExit, match="holds another dataset"):
        stages.prepare_data("penn_action", tmp_path / "elsewhere", data)


# --------------------------------------------------------------------------- fold averaging
def _run(seed, lin, knn, top1=None, done=3, curve=((3, 50.0),)):
    row = {m: {"linear": lin, "knn1": knn} for m in MODALITIES}
    out = {"seed": seed, "epochs_done": done, "planned_epochs": 3, "stopped_by_budget": False, "pretrain_s": 10.0}
    out.update(loss=1.0, curve=[list(c) for c in curve], pretrained=row, random=row)
    if top1 is not None:
        out["finetune"] = {"top1": top1, "epochs": 2, "lr": 0.1}
        out["scratch"] = {"top1": top1 / 2, "epochs": 2, "lr": 0.1}
    return out


def test_fold_mean_by_hand():
    runs = {"fold1": _run(0, 80.0, 70.0, 90.0), "fold2": _run(0, 90.0, 60.0, 70.0, done=2)}
    res = aggregate.fold_mean(runs)
    assert res["pretrained"]["fused"] == {"linear": 85.0, "knn1": 65.0}
    assert res["finetune"] == {"top1": 80.0, "epochs": 2, "lr": 0.1} and res["scratch"]["top1"] == 40.0
    assert res["epochs_done"] == [3, 2] and res["pretrain_s"] == 20.0 and res["folds"] is runs
    # a row that one fold lacks is not averaged over the others
    runs["fold2"].pop("finetune")
    runs["fold2"]["random"] = {}
    res = aggregate.fold_mean(runs)
    assert "finetune" not in res and "random" not in res and res["scratch"]["top1"] == 40.0


def test_main_runs_every_fold_per_seed_and_reports_the_fold_mean(tmp_path, monkeypatch):
    """`main` with the per-fold stage replaced: which folds run, with which benchmark, and the averaging."""
    raw = make_sbu_raw(tmp_path / "raw")
    calls = []
    figures = {("fold1", 0): 80.0, ("fold2", 0): 90.0, ("fold1", 1): 70.0, ("fold2", 1): 90.0}

    def fake_run_fold(settings, ds, config, base, seed, folder):
        fold = next(o.split("=", 1)[1] for o in base if o.startswith("data.benchmark="))
        calls.append((seed, fold, folder.relative_to(tmp_path / "out").as_posix()))
        run = _run(seed, figures[(fold, seed)], 50.0, 60.0, curve=((3, 40.0 + seed),))
        return run, records.StageTimes({"pretrain": 30.0})

    class FakeEncoder:
        dim = 256

        class encoder:  # noqa: N801 - mimics FrozenEncoder.encoder
            @staticmethod
            def num_parameters():
                return 123_000

    monkeypatch.setattr(bench_run, "run_fold", fake_run_fold)
    monkeypatch.setattr("ssl_skel.evaluation.api.load_encoder", lambda path: FakeEncoder())
    md = tmp_path / "BENCHMARKS.md"
    argv = ["--dataset", "sbu", "--raw", str(raw), "--out", str(tmp_path / "out"), "--seeds", "0", "1"]
    argv += ["--folds", "fold2", "fold1", "--floor-frames", "4", "--benchmarks-md", str(md), "--threads", "1"]
    argv += ["--note", "A note.", "data.num_workers=0"]
    assert real_data.main(argv) == 0
    assert calls == [(0, "fold1", "seed0/fold1"), (0, "fold2", "seed0/fold2")] + [
        (1, "fold1", "seed1/fold1"),
        (1, "fold2", "seed1/fold2"),
    ]
    text = md.read_text()
    # seed 0: (80 + 90) / 2 = 85, seed 1: (70 + 90) / 2 = 80 -> 82.5 +- 2.5
    assert "| pretrained | fused | 82.5 ± 2.5 | 50.0 ± 0.0 |" in text
    assert "| supervised fine-tune of the pretrained encoder (2 epochs) | fused | 60.0 ± 0.0" in text
    assert "2 folds run (fold1, fold2 only, of fold1, fold2, fold3, fold4, fold5)" in text
    assert "per fold train 24-24 clips, test 16-16 clips" in text and "(mean over folds)" in text
    assert "Per fold, pretrained fused linear / KNN-1 (mean over seeds): fold1 75.0 / 50.0, fold2 90.0 / 50.0" in text
    assert "seed 1: fold1 41.0 (epoch 3), fold2 41.0 (epoch 3)" in text and "A note." in text
    assert "Pretraining per seed and fold: epochs done/planned seed 0: 3/3, 3/3; seed 1: 3/3, 3/3" in text
    # each seed's monitor draws its own held-out sets, and the section names each seed's
    assert "by set (fold1 [seed 0: train_clips 16, val_clips 8, held_out ['s02s07']; seed 1: " in text
    assert "]; fold2 [seed 0: " in text
    assert "pretrain 2.0 min" in text  # 4 runs of 30 s: stage times summed over seeds and folds
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["folds"] == ["fold1", "fold2"] and set(res["fold_floors"]) == {"fold1", "fold2"}
    ridge = np.mean([res["fold_floors"][f]["ridge"] for f in ("fold1", "fold2")])
    assert res["floors"]["ridge"] == pytest.approx(ridge)
    assert json.loads((tmp_path / "out" / "seed1" / "results.json").read_text())["pretrained"]["fused"]["linear"] == 80


# --------------------------------------------------------------------------- end to end (slow)
TINY = [*TINY_BENCH, "eval.monitor_fraction=0.3"]


@pytest.mark.slow
def test_sbu_benchmark_end_to_end_on_two_folds(tmp_path):
    raw = make_sbu_raw(tmp_path / "raw")
    md = tmp_path / "BENCHMARKS.md"
    out = tmp_path / "bench"
    argv = ["--dataset", "sbu", "--raw", str(raw), "--out", str(out), "--threads", "1", "--seeds", "0"]
    argv += ["--folds", "fold1", "fold2", "--budget-minutes", "5", "--finetune-epochs", "1", "--monitor-points", "1"]
    argv += ["--floor-frames", "4", "--skip-random", "--benchmarks-md", str(md), *TINY]
    assert real_data.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    run = res["per_seed"][0]
    assert set(run["folds"]) == {"fold1", "fold2"} and run["epochs_done"] == [2, 2]
    for fold, r in run["folds"].items():
        assert (out / "seed0" / fold / "pretrain" / "last.pt").exists()
        cfg = json.loads((out / "seed0" / fold / "eval" / "linear_pretrained" / "results.json").read_text())
        assert fold in json.dumps(cfg)  # each fold's evaluation read its own benchmark
        assert [e for e, _ in r["curve"]] == [2]
    lin = np.mean([r["pretrained"]["fused"]["linear"] for r in run["folds"].values()])
    assert run["pretrained"]["fused"]["linear"] == pytest.approx(lin)
    assert "## SBU Kinect Interaction" in md.read_text() and SBU_DS.markers[0] in md.read_text()


# --------------------------------------------------------------------------- real data (skipped when absent)
@needs_sbu
def test_sbu_convert_dispatch_on_two_real_sets(tmp_path):
    for pair in ("s01s02", "s02s03"):
        shutil.copytree(SBU / pair, tmp_path / "raw" / pair)
    note = stages.prepare_data("sbu", tmp_path / "raw", tmp_path / "data")
    n = sum(1 for _ in (tmp_path / "raw").glob("*/*/*/skeleton_pos.txt"))
    assert note.startswith(f"converted {n} clips (fold1: train ")
    names = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert names["source"]["dataset"] == "sbu_kinect_interaction"


@needs_penn
def test_penn_convert_dispatch_on_real_files(tmp_path):
    labels = tmp_path / "raw" / "labels"
    labels.mkdir(parents=True)
    for n in ("0001", "0002", "0168", "0169"):
        shutil.copy(PENN / "labels" / f"{n}.mat", labels)
    note = stages.prepare_data("penn_action", tmp_path / "raw", tmp_path / "data")
    assert note.startswith("converted 4 clips (official: train ") and "interpolated" in note
    import torch

    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.models.encoders import build_encoder

    cfg = load_config(PENN_DS.config, [f"data.root={tmp_path / 'data'}", "model.params.hidden_size=16"])
    train = build_dataset(cfg.data, "train", train=True, seed=0)
    views = train[0]["views"]
    assert views[0].shape == (2, cfg.data.clip_length, 13, 1)  # (x, y): the 2D preset's views have C = 2
    encoder = build_encoder(cfg.model.name, cfg.model.params, train.spec).eval()
    with torch.no_grad():
        z = encoder(torch.stack(views))
    assert z.shape == (2, 32) and torch.isfinite(z).all()  # the unified encoder takes C = 2


def test_probe_keeps_the_fastest_of_two_measurements(tmp_path, monkeypatch):
    """A cold first probe (65 clips/s) must not plan the run: the warm one (400 clips/s) does."""
    rates = iter([65.0, 400.0])
    monkeypatch.setattr(stages, "pretrain", lambda config, overrides, **kw: None)
    monkeypatch.setattr(records, "read_checkpoint", lambda path: {"metrics": {"last": {"samples_per_s": next(rates)}}})

    class Cfg:
        run_dir = str(tmp_path / "seed0" / "pretrain")
        data, seed = None, 0

        class train:  # noqa: N801 - mimics Config.train
            batch_size = 64

    monkeypatch.setattr("ssl_skel.data.datasets.build_dataset", lambda *a, **k: range(1280))  # 20 batches
    per_epoch, startup = budget.probe_epoch_seconds("penn_action_cpu", Cfg, [], steps=6)
    assert per_epoch == pytest.approx(20 * 64 / 400.0) and startup >= 0.0
