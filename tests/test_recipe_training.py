"""The training side of the published supervised recipes: CTR-GCN's schedule (epoch warm-up, milestones,
lr not scaled), Nesterov SGD, dataset repeat, CTR-GCN's graph and initialisations, the presets."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from ssl_skel.core.config import ConfigError, SupervisedConfig, TrainConfig, from_dict, load_config, resolve_preset
from ssl_skel.data.layouts import Layout, ctrgcn_adjacency, get_layout, partition_adjacency
from ssl_skel.engine.optimizer import build_optimizer
from ssl_skel.engine.schedule import build_scheduler, lr_factor
from ssl_skel.models.encoders import InputSpec, build_encoder
from ssl_skel.objectives import build_method


def ctrgcn_lr(epoch: int, base: float = 0.1, warm: int = 5, steps=(50,)) -> float:
    """CTR-GCN's adjust_learning_rate, written out: one value per 0-based epoch."""
    if epoch < warm:
        return base * (epoch + 1) / warm
    return base * 0.1 ** sum(1 for s in steps if epoch >= s)


# ----------------------------------------------------------------------------- schedule and optimiser
def test_epoch_warmup_and_milestones_follow_ctrgcn_per_step():
    cfg = load_config("nwucla_ctrgcn").train
    steps_per_epoch = 3
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, cfg, cfg.lr)
    sched = build_scheduler(opt, cfg, cfg.epochs * steps_per_epoch, steps_per_epoch)
    seen = []
    for _ in range(cfg.epochs * steps_per_epoch):
        seen.append(opt.param_groups[0]["lr"])
        sched.step()
    expected = [ctrgcn_lr(s // steps_per_epoch) for s in range(cfg.epochs * steps_per_epoch)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)
    assert seen[:3] == pytest.approx([0.02] * 3) and seen[50 * 3] == pytest.approx(0.01)


def test_step_warmup_unchanged_and_epoch_warmup_validated():
    assert [lr_factor(s, 100, 4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert [lr_factor(s, 100, 4, warmup_unit=2) for s in range(5)] == [0.5, 0.5, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="warmup_unit"):
        lr_factor(0, 100, 5, warmup_unit=2)
    with pytest.raises(ConfigError, match="whole number"):
        from_dict(TrainConfig, {"warmup_epochs": 2.5, "warmup_by": "epoch"})
    with pytest.raises(ConfigError, match="nesterov"):
        from_dict(TrainConfig, {"optimizer": "adamw", "nesterov": True})


def test_nesterov_sgd_with_decay_on_every_parameter():
    cfg = load_config("nwucla_ctrgcn").train
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    opt = build_optimizer(model, cfg, 0.1)
    assert isinstance(opt, torch.optim.SGD) and len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["weight_decay"] == 1e-4
    assert len(group["params"]) == 4  # weights, biases and the norm's parameters alike


def test_lr_is_the_runs_own_without_scaling(tiny_data):
    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.engine import distributed as D
    from ssl_skel.engine.loop import build_loop

    cfg = load_config("nwucla_ctrgcn", [f"data.root={tiny_data}", "data.benchmark=xsub", "data.clip_length=16"])
    data = cfg.supervised.data_config(cfg.data)
    train = build_dataset(data, "train", train=True, seed=0)
    encoder = build_encoder("stgcn", {"base_channels": 4, "out_channels": 8, "num_layers": 2}, train.spec)
    method = build_method("supervised", {}, encoder, num_classes=train.num_classes)
    info = D.DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), initialised_here=False)
    for scaling, lr in (("none", 0.1), ("linear", 0.1 * 16 / 256)):
        train_cfg = from_dict(TrainConfig, {**_plain(cfg.train), "lr_scaling": scaling})
        loop = build_loop(method, train, train_cfg, None, info, seed=0, meta={}, num_workers=0)
        assert loop.lr == pytest.approx(lr)
        assert loop.optimizer.param_groups[0]["lr"] == pytest.approx(lr / 5)  # epoch 1 of a 5-epoch warm-up


def _plain(cfg) -> dict:
    from ssl_skel.core.config import to_dict

    return to_dict(cfg)


# ----------------------------------------------------------------------------- repeat
def test_repeat_makes_one_epoch_of_several_passes_with_draws_of_their_own(tiny_data):
    from ssl_skel.data.datasets import build_dataset

    cfg = load_config("nwucla_ctrgcn", [f"data.root={tiny_data}", "data.benchmark=xsub", "data.clip_length=16"])
    data = cfg.supervised.data_config(cfg.data)
    once = build_dataset(dataclasses.replace(data, repeat=1), "train", train=True, seed=0)
    five = build_dataset(data, "train", train=True, seed=0)
    n = len(once)
    assert len(five) == 5 * n and len(five.labels) == n
    a, b = five[3], five[3 + 2 * n]
    assert a["index"] == b["index"] == 3 and a["label"] == b["label"] == int(once.labels[3])
    assert not torch.equal(a["views"][0], b["views"][0])  # another pass, other draws
    assert torch.equal(five[3]["views"][0], once[3]["views"][0])  # the first pass is the plain split's
    assert len(build_dataset(data, "test", train=False, seed=0)) == len(
        build_dataset(data, "test", train=False, seed=1)
    )


def test_labelled_subset_repeats_its_rows(tiny_data):
    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.evaluation.finetune import LabelledSubset

    cfg = load_config("nwucla_ctrgcn", [f"data.root={tiny_data}", "data.benchmark=xsub", "data.clip_length=16"])
    five = build_dataset(cfg.supervised.data_config(cfg.data), "train", train=True, seed=0)
    sub = LabelledSubset(five, np.array([4, 1]))
    assert len(sub) == 10 and [sub[i]["index"] for i in range(4)] == [4, 1, 4, 1]
    assert torch.equal(sub[2]["views"][0], five[4 + len(five.labels)]["views"][0])


# ----------------------------------------------------------------------------- graph and init
def test_ctrgcn_graph_on_a_hand_made_tree():
    # 0 root; 1, 2 children of 0; 3 child of 1
    tree = Layout("t4", ("a", "b", "c", "d"), (0, 0, 0, 1), centre=0, flip_pairs=())
    a = ctrgcn_adjacency(tree)  # A[k, input, output]
    np.testing.assert_array_equal(a[0], np.eye(4))
    inward = np.zeros((4, 4))
    inward[1, 0] = inward[2, 0] = inward[3, 1] = 1.0  # each child feeds its parent, weight 1 (summed)
    np.testing.assert_array_equal(a[1], inward)
    outward = np.zeros((4, 4))
    outward[0, 1] = outward[0, 2] = 0.5  # the root spreads over its 2 children
    outward[1, 3] = 1.0
    np.testing.assert_array_equal(a[2], outward)
    assert np.array_equal(partition_adjacency(tree, "ctrgcn"), a)


def test_ctrgcn_graph_matches_the_authors_nwucla_edges():
    # their inward pairs (1-based child, parent), graph/ucla.py as the notes list them
    pairs = [(1, 2), (2, 3), (4, 3), (5, 3), (6, 5), (7, 6), (8, 7), (9, 3), (10, 9), (11, 10), (12, 11), (13, 1)]
    pairs += [(14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19)]
    a = ctrgcn_adjacency(get_layout("kinect20"))
    inward = np.zeros((20, 20))
    for child, parent in pairs:
        inward[child - 1, parent - 1] = 1.0
    children = inward.sum(axis=0)
    np.testing.assert_array_equal(a[1], inward)
    np.testing.assert_allclose(a[2], inward.T / np.maximum(children, 1)[:, None])
    assert a[2][2].sum() == pytest.approx(1.0) and a[2][2].max() == pytest.approx(0.25)  # shoulder centre


def test_ctrgcn_init_as_the_authors():
    torch.manual_seed(0)
    spec = InputSpec("kinect20", 3, 1, 52)
    enc = build_encoder("ctrgcn", {"partition": "ctrgcn", "init": "ctrgcn"}, spec)
    conv = enc.blocks[4].tcn.branches[0][0]  # 1x1, 128 -> 32
    fan_out = conv.out_channels * math.prod(conv.kernel_size)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.1)
    tbn = [m for m in enc.blocks[4].tcn.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    weights = torch.cat([m.weight for m in tbn])
    assert 0.005 < weights.std().item() < 0.04 and abs(weights.mean().item() - 1) < 0.01
    assert torch.all(enc.blocks[4].gcn.bn.weight == 1e-6) and torch.all(enc.blocks[4].gcn.alpha == 0)
    torch.testing.assert_close(
        enc.blocks[0].gcn.topology, torch.from_numpy(ctrgcn_adjacency(get_layout("kinect20")).transpose(0, 2, 1))
    )
    assert torch.all(enc.blocks[0].gcn.convs[0].phi.bias == 0)


def test_stgcn_init_and_head_inits():
    torch.manual_seed(0)
    spec = InputSpec("kinect20", 3, 1, 52)
    enc = build_encoder("stgcn", {"base_channels": 64, "init": "stgcn"}, spec)
    assert enc.blocks[5].tcn[2].weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert enc.blocks[5].tcn[0].weight.std().item() == pytest.approx(0.02, rel=0.3)
    for scheme, std in (("normal", 0.01), ("stgcn", 0.02), ("ctrgcn", math.sqrt(2 / 10))):
        head = build_method("supervised", {"head_init": scheme}, enc, num_classes=10).head
        assert head.weight.std().item() == pytest.approx(std, rel=0.1)
        assert (head.bias.abs().max().item() > 0) == (scheme == "ctrgcn")  # theirs keeps torch's bias


# ----------------------------------------------------------------------------- presets and the supervised section
def test_presets_name_their_paper_and_build_the_published_models():
    spec = InputSpec("kinect20", 3, 1, 52)
    for name, paper, params in (("nwucla_ctrgcn", "ICCV 2021", 1_421_378), ("nwucla_stgcn", "AAAI 2018", 3_074_840)):
        cfg = load_config(name)
        head = resolve_preset(name).read_text().split("\n")[:4]
        assert any(paper in line for line in head)  # the paper is named at the top
        assert build_encoder(cfg.model.name, cfg.model.params, spec).num_parameters() == params
        assert cfg.objective.name == "supervised" and cfg.supervised.repeat == 5
        assert cfg.train.lr_scaling == "none" and cfg.train.nesterov and cfg.train.warmup_by == "epoch"


def test_supervised_section_defaults_and_validation():
    s = SupervisedConfig()
    assert s.augment.shear == 0 and s.augment.flip_prob == 0 and s.augment.crop_min == 1.0 and s.augment.rotate_deg == 0
    with pytest.raises(ConfigError, match="repeat"):
        from_dict(SupervisedConfig, {"repeat": 0})
    with pytest.raises(ConfigError, match="clip_length"):
        from_dict(SupervisedConfig, {"clip_length": 1})
    with pytest.raises(ConfigError, match="supervised.augment.shaer"):
        load_config("nwucla_ctrgcn", ["supervised.augment.shaer=0.1"])
