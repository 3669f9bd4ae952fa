"""KNN classifiers on frozen features (the retrieval protocol and the weighted k-NN).

Protocol (UmURL, CMD, AimCLR "action retrieval"): L2-normalise train and test features,
find each test clip's nearest train clip by cosine similarity (exact search:
ssl_skel.evaluation.knn_search), and predict its label (k=1).

The weighted k-NN classifier of InstDisc (Wu et al., 2018) and DINO (Caron et al., 2021)
is an option: class score s_c = sum over the k neighbours i with label c of
exp(cos(q, x_i) / tau).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ssl_skel.core.config import EvalConfig
from ssl_skel.evaluation.knn_search import knn_search

if TYPE_CHECKING:
    from ssl_skel.evaluation.features import Features
    from ssl_skel.evaluation.outputs import EvalResult
    from ssl_skel.evaluation.protocol import EvalData, FeatureCache, ModalityFigures
    from ssl_skel.evaluation.run import EvalRun
    from ssl_skel.models.frozen import FrozenEncoder

BACKENDS = ("auto", "faiss", "torch", "pruned")


@dataclass
class KnnResult:
    predictions: np.ndarray  # (Q,)
    scores: np.ndarray  # (Q, num_classes) class scores, rows sum to 1
    neighbours: np.ndarray  # (Q, k) train row indices
    similarities: np.ndarray  # (Q, k)


def knn_classify(
    train: np.ndarray,
    train_labels: np.ndarray,
    test: np.ndarray,
    num_classes: int,
    *,
    k: int = 1,
    weighted: bool = False,
    temperature: float = 0.1,
    backend: str = "auto",
    gpu: bool | None = None,
) -> KnnResult:
    """k-NN classifier on cosine similarity.

    Unweighted: majority vote of the k neighbours (ties go to the lower class index, as
    in scikit-learn); k=1 is the retrieval protocol. Weighted: s_c = sum exp(sim / tau).
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    if len(train_labels) != len(train):
        raise ValueError(f"{len(train)} train features but {len(train_labels)} labels")
    if train_labels.size and (train_labels.min() < 0 or train_labels.max() >= num_classes):
        raise ValueError(
            f"train labels must be in [0, {num_classes}), got [{train_labels.min()}, {train_labels.max()}]"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    sims, idx = knn_search(train, test, k, backend=backend, gpu=gpu)
    votes = train_labels[idx]  # (Q, k)
    weights = np.exp((sims - 1.0) / temperature) if weighted else np.ones_like(sims)  # shift: no overflow
    scores = np.zeros((len(test), num_classes), dtype=np.float64)
    np.add.at(scores, (np.repeat(np.arange(len(test)), k), votes.ravel()), weights.ravel())
    scores /= np.maximum(scores.sum(1, keepdims=True), 1e-300)
    return KnnResult(scores.argmax(1), scores.astype(np.float32), idx, sims)


# --------------------------------------------------------------------------- the protocol on an encoder
@dataclass(frozen=True)
class KnnSettings:
    """A KNN evaluation: k=1 unweighted is the retrieval protocol; `weighted` the InstDisc/DINO classifier.

    backend: exact search (evaluation/knn_search.py): auto = faiss GPU index when available, torch on
    CUDA, else faiss on CPU; pruned = PCA-bound exact search. modalities: as in LinearSettings.
    """

    k: int = 1
    weighted: bool = False
    temperature: float = 0.1
    backend: str = "auto"
    modalities: tuple[str, ...] = ()

    tag: ClassVar[str] = "knn"  # results.json protocol and output folder prefix

    def __post_init__(self) -> None:
        if self.k < 1 or self.temperature <= 0:
            raise ValueError(f"KNN needs k >= 1 and temperature > 0, got k={self.k}, temperature={self.temperature}")
        if self.backend not in BACKENDS:
            raise ValueError(f"KNN backend must be one of {BACKENDS}, got {self.backend!r}")

    @classmethod
    def from_config(
        cls,
        ev: EvalConfig,
        *,
        k: int | None = None,
        temperature: float | None = None,
        weighted: bool = False,
        backend: str = "auto",
        modalities: Sequence[str] = (),
    ) -> KnnSettings:
        """`k` and `temperature` default to the config's eval.knn_k and eval.knn_temperature."""
        return cls(k or ev.knn_k, weighted, temperature or ev.knn_temperature, backend, tuple(modalities))

    def evaluate(self, run: EvalRun, out_dir: Path) -> EvalResult:
        return evaluate_knn(run.frozen_encoder(), run.data, self, cache=run.feature_cache(out_dir))


def evaluate_knn(
    encoder: FrozenEncoder, data: EvalData, settings: KnnSettings, *, cache: FeatureCache | None = None
) -> EvalResult:
    """KNN per modality: each test clip classified by its nearest train clips (cosine, exact search)."""
    from ssl_skel.engine.metrics import topk_accuracy
    from ssl_skel.evaluation.protocol import ModalityFigures, frozen_protocol, resolve_modalities

    modalities = resolve_modalities(encoder, settings.modalities)
    # top-5 only means something when at least 5 neighbours (or weights) rank the classes
    ks = (1, 5) if settings.k >= 5 else (1,)

    def classify(m: str, train: Features, test: Features, num_classes: int) -> ModalityFigures:
        res = knn_classify(
            train.embeddings[m],
            train.labels,
            test.embeddings[m],
            num_classes,
            k=min(settings.k, len(train)),
            weighted=settings.weighted,
            temperature=settings.temperature,
            backend=settings.backend,
        )
        return ModalityFigures(topk_accuracy(res.scores, test.labels, ks), res.scores)

    return frozen_protocol(
        encoder,
        data,
        modalities,
        classify,
        protocol=settings.tag,
        title=f"knn k={settings.k}",
        settings={
            "k": settings.k,
            "weighted": settings.weighted,
            "temperature": settings.temperature if settings.weighted else None,
            "similarity": "cosine (inner product of L2-normalised features)",
            "backend": settings.backend,
            "features": "un-augmented clips",
        },
        selection="no training: nothing selected",
        cache=cache,
    )
