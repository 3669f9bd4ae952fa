"""Validation splits carved from a training split: stratified by class, or whole subject/view groups."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_skel.data.splits import group_keys, validation_split
from ssl_skel.data.storage import DataFormatError


def test_stratified_holds_out_each_class_in_proportion_and_is_seeded():
    labels = np.repeat(np.arange(3), [10, 20, 5])
    split = validation_split(labels, by="class", fraction=0.2, seed=1)
    assert [int(np.sum(labels[split.val] == c)) for c in range(3)] == [2, 4, 1]
    assert np.array_equal(np.sort(np.concatenate([split.train, split.val])), np.arange(35))
    again = validation_split(labels, by="class", fraction=0.2, seed=1)
    other = validation_split(labels, by="class", fraction=0.2, seed=2)
    assert np.array_equal(split.val, again.val) and not np.array_equal(split.val, other.val)
    assert split.describe() == {"by": "class", "seed": 1, "train_clips": 28, "val_clips": 7, "fraction": 0.2}


def test_group_split_holds_out_whole_subjects_or_views():
    names = [f"S{s:03d}C{c:03d}A001R{i:04d}" for i, (s, c) in enumerate((s, c) for s in (1, 3, 5, 7) for c in (1, 2))]
    labels = np.zeros(len(names), np.int64)
    split = validation_split(labels, by="subject", fraction=0.25, seed=0, names=names)
    held = {names[i][:4] for i in split.val}
    kept = {names[i][:4] for i in split.train}
    assert len(held) == 1 and not held & kept and len(split.val) == 2
    assert split.describe()["held_out"] == [f"subject{int(next(iter(held))[1:])}"]
    views = validation_split(labels, by="view", fraction=0.5, seed=0, names=names)
    assert len({names[i][4:8] for i in views.val}) == 1 and len(views.val) == 4  # never all views


def test_ucla_names_and_bad_input():
    assert list(group_keys(["a01_s02_e03_v01", "a10_s10_e00_v02"], "view")) == ["view1", "view2"]
    assert list(group_keys(["a01_s02_e03_v01"], "subject")) == ["subject2"]
    with pytest.raises(DataFormatError, match="carries no subject"):
        group_keys(["clip7"], "subject")
    with pytest.raises(ValueError, match="fraction"):
        validation_split(np.zeros(4), fraction=1.0)
    with pytest.raises(ValueError, match="one clip name per label"):
        validation_split(np.zeros(4), by="view")
    with pytest.raises(DataFormatError, match="two or more views"):
        validation_split(np.zeros(2), by="view", names=["S001C001A001R0001", "S002C001A001R0002"])


def test_sbu_set_split_holds_out_whole_actor_pair_sets():
    sets = ["s01s02", "s02s01", "s03s04", "s05s02"]  # s01s02 and s02s01 are different sets
    names = [f"{s}_{c:02d}_{q:03d}" for s in sets for c in (1, 2) for q in (1, 2)]
    assert list(group_keys(names[:1] + names[4:5], "set")) == ["s01s02", "s02s01"]
    labels = np.tile([0, 0, 1, 1], len(sets))
    split = validation_split(labels, by="set", fraction=0.3, seed=0, names=names)
    held = {names[i][:6] for i in split.val}
    assert held == set(split.groups) and len(held) == 2 and len(split.val) == 8  # 4 clips per set, >= 30 %
    assert not held & {names[i][:6] for i in split.train}
    assert split.describe()["held_out"] == sorted(held)
    with pytest.raises(DataFormatError, match="carries no set"):
        group_keys(["a01_s02_e03_v01"], "set")


def test_monitor_split_set_is_a_valid_config_value():
    from ssl_skel.core.config import EvalConfig

    assert EvalConfig(monitor_split="set").monitor_split == "set"
    with pytest.raises(ValueError, match="class, subject, view or set"):
        EvalConfig(monitor_split="pair")
