"""Linear probe: a linear classifier trained on frozen, precomputed features.

Protocol (UmURL `action_recognition.py`, following MoCo's linear classification and the
skeleton SSL papers AimCLR / CMD): the encoder is frozen in eval mode, one
`nn.Linear(D, num_classes)` is trained with SGD (momentum 0.9, no weight decay), the
weights initialised N(0, 0.01) and the bias 0, and the learning rate multiplied by 0.1 at
80% and 93% of the epochs (UmURL: 150 epochs, drops at 120 and 140). UmURL's downstream
clips are not augmented, so features are computed once and the probe trains on them,
which makes 100 epochs on NTU-sized features take seconds on CPU.

Reported: the accuracy of the final epoch on the test split; optionally the best epoch
on a held-out part of the train split (`val_fraction`), which selects nothing that
touches the test split. Beside it, for comparison with paper tables only, the figure the
authors print: the best test top-1 over evaluations every `test_every` epochs (UmURL's
"Final best accuracy", every 5 epochs; CrosSCLR's "Best Top1"). That figure is selected
on the test split, so it is stored under `test_selected_*` keys and never as top1.

`normalize="l2"` (`eval.linear_normalize: l2`) scales every feature row to unit length
before the probe, the geometry the cosine KNN already uses. It departs from UmURL's
probe, so it is off by default; a preset turns it on only where its validation split
said so (configs/nwucla_cpu.yaml records the figures).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ssl_skel.core.config import LINEAR_NORMALIZE, EvalConfig, LinearNormalize
from ssl_skel.data.splits import stratified_rows as holdout_rows  # one stratified hold-out for the toolkit
from ssl_skel.engine.metrics import topk_accuracy

if TYPE_CHECKING:
    from ssl_skel.evaluation.features import Features
    from ssl_skel.evaluation.outputs import EvalResult
    from ssl_skel.evaluation.protocol import EvalData, FeatureCache, ModalityFigures
    from ssl_skel.evaluation.run import EvalRun
    from ssl_skel.models.frozen import FrozenEncoder

log = logging.getLogger(__name__)

SELECTION = (
    "top1/top5: final epoch of the linear classifier on the test split (never the best test epoch); "
    "val_top1_best/best_val_epoch, when present, come from a held-out part of the train split; "
    "test_selected_best_top1/test_selected_best_epoch: the best test epoch (TEST-SELECTED, the figure the "
    "authors' scripts print), for comparison with paper tables only"
)


@dataclass(frozen=True)
class LinearProtocol:
    epochs: int = 100
    lr: float = 0.1
    batch_size: int = 256
    weight_decay: float = 0.0
    momentum: float = 0.9
    milestones: tuple[float, ...] = (0.8, 0.93)  # fractions of epochs where lr *= 0.1
    milestone_epochs: tuple[int, ...] = ()  # if given: lr *= 0.1 from these (0-based) epochs on (UmURL 120, 140)
    val_fraction: float = 0.0  # held out of the train split to report a best-on-val epoch
    test_every: int = 5  # the test-selected figure: test top-1 every this many epochs (0 = not computed)
    normalize: LinearNormalize = "none"  # "l2": every feature row (train and test) scaled to unit length first
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("linear probe needs epochs >= 1, batch_size >= 1 and lr > 0")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if any(not 1 <= m < self.epochs for m in self.milestone_epochs):
            raise ValueError(f"milestone epochs {self.milestone_epochs} must lie in [1, {self.epochs})")
        if self.test_every < 0:
            raise ValueError(f"test_every must be >= 0, got {self.test_every}")
        if self.normalize not in LINEAR_NORMALIZE:
            raise ValueError(f"normalize must be one of {LINEAR_NORMALIZE}, got {self.normalize!r}")

    @classmethod
    def from_eval(cls, ev: EvalConfig, **runtime: Any) -> LinearProtocol:
        """The probe a config's `eval` section asks for; `runtime`: seed, val_fraction, or an override."""
        settings = {
            "epochs": ev.linear_epochs,
            "lr": ev.linear_lr,
            "batch_size": ev.linear_batch_size,
            "weight_decay": ev.linear_weight_decay,
            "milestone_epochs": ev.linear_milestones,
            "test_every": ev.linear_test_every,
            "normalize": ev.linear_normalize,
        }
        return cls(**{**settings, **runtime})

    def milestone_list(self) -> list[int]:
        """Epochs (0-based) from which the lr is multiplied by one more 0.1."""
        if self.milestone_epochs:
            return sorted(set(self.milestone_epochs))
        return sorted({max(1, int(round(f * self.epochs))) for f in self.milestones})


@dataclass
class LinearResult:
    metrics: dict[str, float]  # test top1/top5 of the final epoch (+ val_top1 / best_val_epoch, test_selected_*)
    test_scores: np.ndarray  # (N_test, K) softmax probabilities of the final classifier
    val_scores: np.ndarray | None  # (N_val, K) on the held-out train part, if any
    val_rows: np.ndarray | None  # rows of the train features held out
    history: list[dict] = field(default_factory=list)
    classifier: dict = field(default_factory=dict)  # state_dict of the final nn.Linear


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _scores(layer: nn.Linear, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(layer(x), dim=1).numpy()


def train_linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    protocol: LinearProtocol = LinearProtocol(),
    *,
    progress: bool = False,
) -> LinearResult:
    """Train the probe on train features (N, D), report final-epoch accuracy on test (M, D)."""
    train_x = np.asarray(train_x, np.float32)
    test_x = np.asarray(test_x, np.float32)
    train_y = np.asarray(train_y, np.int64)
    test_y = np.asarray(test_y, np.int64)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"features must be (N, D) with one D, got {train_x.shape} and {test_x.shape}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError("features and labels differ in length")
    for name, y in (("train", train_y), ("test", test_y)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} labels must be in [0, {num_classes})")
    if protocol.normalize == "l2":
        train_x, test_x = unit_rows(train_x), unit_rows(test_x)
    fit_rows, val_rows = (
        holdout_rows(train_y, protocol.val_fraction, protocol.seed)
        if protocol.val_fraction
        else (np.arange(len(train_y)), np.zeros(0, np.int64))
    )

    gen = torch.Generator().manual_seed(protocol.seed)
    layer = nn.Linear(train_x.shape[1], num_classes)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.01, generator=gen)
        layer.bias.zero_()
    opt = torch.optim.SGD(
        layer.parameters(), lr=protocol.lr, momentum=protocol.momentum, weight_decay=protocol.weight_decay
    )
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=protocol.milestone_list(), gamma=0.1)
    xt = torch.from_numpy(test_x)
    xs, ys = torch.from_numpy(train_x[fit_rows]), torch.from_numpy(train_y[fit_rows])
    xv, yv = torch.from_numpy(train_x[val_rows]), train_y[val_rows]
    loss_fn = nn.CrossEntropyLoss()
    history: list[dict] = []
    best_val, best_epoch = -1.0, -1
    best_test, best_test_epoch = -1.0, -1
    from ssl_skel.core.progress import Progress

    for epoch in Progress(range(protocol.epochs), desc="linear probe", unit="epoch", enabled=progress):
        perm = torch.randperm(len(xs), generator=gen)
        total = 0.0
        for start in range(0, len(perm), protocol.batch_size):
            rows = perm[start : start + protocol.batch_size]
            loss = loss_fn(layer(xs[rows]), ys[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        sched.step()
        row = {"epoch": epoch + 1, "loss": total / max(1, len(xs)), "lr": opt.param_groups[0]["lr"]}
        if len(val_rows):
            row["val_top1"] = topk_accuracy(_scores(layer, xv), yv, (1,))["top1"]
            if row["val_top1"] > best_val:
                best_val, best_epoch = row["val_top1"], epoch + 1
        if protocol.test_every and (epoch + 1) % protocol.test_every == 0:
            row["test_top1"] = topk_accuracy(_scores(layer, xt), test_y, (1,))["top1"]
            if row["test_top1"] > best_test:  # the first epoch wins ties, as the authors' max
                best_test, best_test_epoch = row["test_top1"], epoch + 1
        history.append(row)
        if not np.isfinite(row["loss"]):
            raise FloatingPointError(f"linear probe diverged at epoch {epoch + 1} (lr={protocol.lr}); lower the lr")

    test_scores = _scores(layer, xt)
    metrics = topk_accuracy(test_scores, test_y)
    if best_test_epoch > 0:
        metrics.update({"test_selected_best_top1": best_test, "test_selected_best_epoch": best_test_epoch})
    if len(val_rows):
        metrics.update(
            {"val_top1_final": history[-1]["val_top1"], "val_top1_best": best_val, "best_val_epoch": best_epoch}
        )
    return LinearResult(
        metrics,
        test_scores,
        _scores(layer, xv) if len(val_rows) else None,
        val_rows if len(val_rows) else None,
        history,
        {k: v.clone() for k, v in layer.state_dict().items()},
    )


# --------------------------------------------------------------------------- the protocol on an encoder
@dataclass(frozen=True)
class LinearSettings:
    """A linear-probe evaluation: the probe, and which encoder outputs it classifies.

    modalities: () = the encoder's default (fused), ("all",) = every output, or names such as ("joint", "bone").
    """

    probe: LinearProtocol = LinearProtocol()
    modalities: tuple[str, ...] = ()

    tag: ClassVar[str] = "linear"  # results.json protocol and output folder prefix

    @classmethod
    def from_config(
        cls, ev: EvalConfig, *, seed: int, val_fraction: float = 0.0, modalities: Sequence[str] = ()
    ) -> LinearSettings:
        """The probe a config's `eval` section asks for (ValueError on a bad value)."""
        return cls(LinearProtocol.from_eval(ev, val_fraction=val_fraction, seed=seed), tuple(modalities))

    def evaluate(self, run: EvalRun, out_dir: Path) -> EvalResult:
        return evaluate_linear(run.frozen_encoder(), run.data, self, cache=run.feature_cache(out_dir))


def evaluate_linear(
    encoder: FrozenEncoder, data: EvalData, settings: LinearSettings, *, cache: FeatureCache | None = None
) -> EvalResult:
    """Linear probe per modality on frozen, un-augmented features of `data`'s train and test splits."""
    from ssl_skel.evaluation.ensemble import Scores
    from ssl_skel.evaluation.protocol import ModalityFigures, frozen_protocol, resolve_modalities

    modalities = resolve_modalities(encoder, settings.modalities)
    probe = settings.probe

    def classify(m: str, train: Features, test: Features, num_classes: int) -> ModalityFigures:
        res = train_linear_probe(
            train.embeddings[m], train.labels, test.embeddings[m], test.labels, num_classes, probe, progress=True
        )
        held = None
        if res.val_scores is not None:
            meta = {"protocol": "linear", "modality": m, "split": "train-holdout"}
            held = Scores(res.val_scores, train.labels[res.val_rows], train.indices[res.val_rows], meta)
        return ModalityFigures(res.metrics, res.test_scores, held)

    return frozen_protocol(
        encoder,
        data,
        modalities,
        classify,
        protocol=settings.tag,
        title="linear probe",
        settings={**probe.__dict__, "features": "un-augmented clips, computed once"},
        selection=SELECTION,
        cache=cache,
    )
