"""Config loading: every mistake is an error naming the key and the file; overrides apply."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from ssl_skel.core.config import (
    AugmentConfig,
    Config,
    ConfigError,
    DataConfig,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
    to_dict,
)

BASE = {
    "data": {"root": "data/synthetic", "benchmark": "xsub", "augment": {"shear": 0.3}},
    "model": {"name": "stgcn", "params": {}},
    "objective": {"name": "skeletonclr", "params": {}},
    "train": {"epochs": 3, "batch_size": 16},
}


def write(tmp_path: Path, tree: dict, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree))
    return path


def test_valid_file_loads_with_defaults_and_name(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert isinstance(cfg, Config) and cfg.name == "run" and cfg.run_dir == str(Path("runs") / "run")
    assert cfg.data.augment == AugmentConfig(shear=0.3)
    assert cfg.data.clip_length == 64 and cfg.train.epochs == 3 and cfg.train.lr == 1e-3
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    tree = {**BASE, "data": {**BASE["data"], "clip_lenght": 32}}
    path = write(tmp_path, tree)
    with pytest.raises(ConfigError, match=rf"{path}: data.clip_lenght: unknown key \(allowed: .*clip_length"):
        load_config(path)


def test_missing_key(tmp_path: Path) -> None:
    tree = {**BASE, "data": {"root": "x"}}
    with pytest.raises(ConfigError, match=r"run.yaml: data.benchmark: missing required key"):
        load_config(write(tmp_path, tree))


def test_wrong_type(tmp_path: Path) -> None:
    tree = {**BASE, "train": {"epochs": "ten"}}
    with pytest.raises(ConfigError, match=r"run.yaml: train.epochs: expected an integer, got 'ten'"):
        load_config(write(tmp_path, tree))
    tree = {**BASE, "train": {"amp": "maybe"}}
    with pytest.raises(ConfigError, match=r"train.amp: 'maybe' is not one of \['auto', 'on', 'off'\]"):
        load_config(write(tmp_path, tree))
    tree = {**BASE, "eval": {"linear_normalize": "bn"}}
    with pytest.raises(ConfigError, match=r"eval.linear_normalize: 'bn' is not one of \['none', 'l2'\]"):
        load_config(write(tmp_path, tree))


def test_out_of_range(tmp_path: Path) -> None:
    tree = {**BASE, "data": {**BASE["data"], "augment": {"flip_prob": 1.5}}}
    with pytest.raises(ConfigError, match=r"run.yaml: data.augment: flip_prob must be in \[0, 1\]"):
        load_config(write(tmp_path, tree))
    with pytest.raises(ConfigError, match="clip_length must be >= 2"):
        from_dict(DataConfig, {"root": "r", "benchmark": "b", "clip_length": 1}, source="x.yaml")


def test_unknown_encoder_and_bad_params(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run.yaml: model.name: unknown encoder 'resnet'"):
        load_config(write(tmp_path, {**BASE, "model": {"name": "resnet"}}))
    with pytest.raises(ConfigError, match=r"run.yaml: model.params.no_such_param: unknown key"):
        load_config(write(tmp_path, {**BASE, "model": {"name": "stgcn", "params": {"no_such_param": 1}}}))


def test_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    cfg = load_config(path, ["train.lr=0.5", "data.augment.noise_std=0.01", "seed=7"])
    assert cfg.train.lr == 0.5 and cfg.data.augment.noise_std == 0.01 and cfg.seed == 7
    with pytest.raises(ConfigError, match=r"override 'train.lr' must look like key=value"):
        load_config(path, ["train.lr"])
    with pytest.raises(ConfigError, match=r"run.yaml: train.bogus: unknown key"):
        load_config(path, ["train.bogus=1"])
    with pytest.raises(ConfigError, match="seed is not a section"):
        apply_overrides(BASE | {"seed": 1}, ["seed.x=2"])


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file or preset"):
        load_config("no_such_preset_name")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(bad)


def test_save_round_trip(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    save_config(cfg, tmp_path / "saved.yaml")
    again = load_config(tmp_path / "saved.yaml")
    assert to_dict(again) == to_dict(cfg)


def test_exponent_without_a_dot_is_a_number():
    """YAML 1.1 reads `4e-3` as a string; a float field still takes it, a word does not."""
    from ssl_skel.core.config import ConfigError, load_config

    cfg = load_config("synthetic", ["train.lr=4e-3", "train.weight_decay=1e-5"])
    assert cfg.train.lr == 4e-3 and cfg.train.weight_decay == 1e-5
    with pytest.raises(ConfigError, match="train.lr"):
        load_config("synthetic", ["train.lr=fast"])


def test_base_preset_is_inherited_key_by_key(tmp_path: Path) -> None:
    write(tmp_path, BASE, "parent.yaml")
    child = {"base": "parent.yaml", "data": {"benchmark": "xview"}, "train": {"epochs": 5}}
    cfg = load_config(write(tmp_path, child, "child.yaml"))
    assert cfg.name == "child" and cfg.data.benchmark == "xview" and cfg.train.epochs == 5
    assert cfg.data.augment.shear == 0.3 and cfg.train.batch_size == 16 and cfg.model.name == "stgcn"


def test_shipped_presets_inherit_from_the_paper_preset() -> None:
    xsub, xview = load_config("ntu60_xsub"), load_config("ntu60_xview")
    assert xview.data.benchmark == "xview" and xview.train.batch_size == 2 * xsub.train.batch_size
    assert xview.data.augment == xsub.data.augment and xview.train.epochs == xsub.train.epochs == 451
    assert load_config("ntu120_xset").data.root == "data/ntu120_umurl"


def test_base_errors_name_the_file(tmp_path: Path) -> None:
    write(tmp_path, {**BASE, "base": "b.yaml"}, "a.yaml")
    write(tmp_path, {"base": "a.yaml"}, "b.yaml")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="no such config file or preset"):
        load_config(write(tmp_path, {"base": "no_such_preset"}, "c.yaml"))
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


# --------------------------------------------------------------------------- issue 25 item 7: duplicate keys
@pytest.mark.parametrize(
    "text, key",
    [
        ("train:\n  lr: 0.1\nmodel: {name: stgcn}\ntrain:\n  epochs: 3\n", "train"),
        ("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.008\n", "train.lr"),
        ("data: {root: a, root: b}\n", "data.root"),
        ("runs:\n  - {a: 1, a: 2}\n", "runs[0].a"),
    ],
)
def test_duplicate_yaml_keys_are_refused_with_the_key_and_file(tmp_path, text, key):
    from ssl_skel.core.safe_yaml import parse_yaml

    with pytest.raises(ConfigError, match=rf"^dup.yaml: duplicate key {re.escape(key)!s} \(line \d+\)"):
        parse_yaml(text, "dup.yaml")


def test_duplicate_top_level_block_in_a_config_file_is_one_line(tmp_path):
    tree = yaml.safe_dump(BASE)
    path = tmp_path / "run.yaml"
    path.write_text(tree + "train:\n  lr: 0.008\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: duplicate key train \(line \d+\)"):
        load_config(path)


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    from ssl_skel.core.safe_yaml import parse_yaml

    tree = parse_yaml("base: &b {lr: 0.1, epochs: 3}\ntrain:\n  <<: *b\n  lr: 0.5\n", "m.yaml")
    assert tree["train"] == {"lr": 0.5, "epochs": 3}
