"""Guard: on a slice of the built-in dataset, pretraining must beat a random encoder by a wide margin.

The built-in dataset (version 2) is made so that a randomly initialised encoder cannot see through
its nuisances (any yaw, proportions, handedness, speed changes, noise) while augmentation-invariant
features can; a broken objective (its loss replaced by zero, a detached branch, ...) leaves the
encoder at its initialisation and fails here. Scored on a validation split carved from the training
split (the online monitor's), never the test split.
"""

from __future__ import annotations

import pytest
import torch

from ssl_skel.core.checkpoint import encoder_from_checkpoint
from ssl_skel.core.config import load_config
from ssl_skel.engine.pretrain import pretrain
from ssl_skel.evaluation.monitor import KNN_KEY, KnnMonitor

SLICE = [
    "model.params.hidden_size=32",
    "objective.params.proj_output_dim=64",
    "data.clip_length=16",
    "data.num_workers=0",
    "train.batch_size=64",
    "train.epochs=25",
    "train.lr=0.016",
    "train.log_every=50",
    "eval.monitor_every=25",
    "eval.monitor_fraction=0.3",
    "eval.feature_batch_size=128",
]


@pytest.fixture(scope="module")
def slice_data(tmp_path_factory):
    from ssl_skel.data.synthetic import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("data") / "syn", seed=0, clips_per_class=32, num_subjects=8)


def test_pretrained_encoder_beats_a_random_one_by_a_wide_margin(slice_data, tmp_path):
    cfg = load_config("synthetic", [f"data.root={slice_data}", f"run_dir={tmp_path / 'run'}", *SLICE])
    monitor = KnnMonitor(cfg)
    result, _ = pretrain(cfg, resume=False)
    pretrained, _ = encoder_from_checkpoint(result.last_checkpoint)
    torch.manual_seed(cfg.seed)  # as pretraining seeds before building: the encoder it started from
    initial, _ = encoder_from_checkpoint(result.last_checkpoint, load_weights=False)
    with torch.no_grad():
        scores = {
            name: monitor.measure(enc)[KNN_KEY] for name, enc in (("pretrained", pretrained), ("random", initial))
        }
    assert scores["pretrained"] - scores["random"] >= 15.0, scores
