"""The "supervised" method: cross-entropy by hand, frozen option, bad params; subset wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from eval_helpers import clips, tiny_encoder
from torch.nn import functional as F

from ssl_skel.core.config import ConfigError
from ssl_skel.evaluation.finetune import LabelledSubset
from ssl_skel.objectives import build_method


def _batch(n=4):
    return {"views": [clips(n)], "label": torch.tensor([0, 1, 2, 1][:n]), "index": torch.arange(n)}


def test_loss_is_cross_entropy_of_the_head():
    method = build_method("supervised", {}, tiny_encoder(), num_classes=3)
    method.eval()
    batch = _batch()
    out = method(batch)
    with torch.no_grad():
        logits = method.head(method.encoder(batch["views"][0], "fused"))
    assert torch.allclose(out["loss"], F.cross_entropy(logits, batch["label"]), atol=1e-6)
    assert set(out) >= {"loss", "loss/ce", "stat/train_top1", "stat/embed_std"}
    assert method.head.weight.shape == (3, 64) and torch.all(method.head.bias == 0)


def test_label_smoothing_and_modality():
    method = build_method("supervised", {"label_smoothing": 0.1, "modality": "bone"}, tiny_encoder(), num_classes=3)
    method.eval()
    batch = _batch()
    with torch.no_grad():
        logits = method.head(method.encoder(batch["views"][0], "bone"))
    assert torch.allclose(
        method(batch)["loss"], F.cross_entropy(logits, batch["label"], label_smoothing=0.1), atol=1e-6
    )


def test_full_finetune_updates_encoder_frozen_does_not():
    for freeze, changes in ((False, True), (True, False)):
        method = build_method("supervised", {"freeze_encoder": freeze}, tiny_encoder(), num_classes=3)
        method.train()
        assert method.encoder.training is (not freeze)
        before = {k: v.clone() for k, v in method.encoder.state_dict().items()}
        opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.5)
        method(_batch())["loss"].backward()
        opt.step()
        after = method.encoder.state_dict()
        changed = any(not torch.equal(before[k], after[k]) for k in before)
        assert changed is changes


def test_bad_params():
    with pytest.raises(ConfigError, match="dropout"):
        build_method("supervised", {"dropout": 1.5}, tiny_encoder(), num_classes=3)
    with pytest.raises(ConfigError, match="objective.params.lr"):
        build_method("supervised", {"lr": 1}, tiny_encoder(), num_classes=3)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        build_method("supervised", {}, tiny_encoder(), num_classes=None)
    with pytest.raises(ValueError, match="not 'rgb'"):
        build_method("supervised", {"modality": "rgb"}, tiny_encoder(), num_classes=3)


def test_labelled_subset_keeps_attributes():
    class Clips:
        spec, num_classes, class_names = "spec", 3, ["a", "b", "c"]
        labels = np.array([0, 1, 2, 1, 0])
        epoch = -1

        def set_epoch(self, e):
            self.epoch = e

        def __getitem__(self, i):
            return {"views": [], "label": int(self.labels[i]), "index": i}

    base = Clips()
    sub = LabelledSubset(base, np.array([1, 4]))
    assert len(sub) == 2 and sub.labels.tolist() == [1, 0] and sub[1]["index"] == 4
    sub.set_epoch(3)
    assert base.epoch == 3 and sub.num_classes == 3 and sub.spec == "spec"
