"""What every evaluation protocol shares: the clips it reads, and the frozen-feature loop.

Why one place: the linear probe and KNN both extract un-augmented features of the train and
test splits once, run one classifier per modality and return the same kind of result; only
the classifier differs. A protocol on frozen features passes its classifier to
`frozen_protocol`; a protocol that trains (fine-tuning) reads its clips through `EvalData` too,
so every protocol checks the data against the encoder the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ssl_skel.core.config import ConfigError, DataConfig, to_dict
from ssl_skel.core.memory import keep_freed_memory
from ssl_skel.evaluation.features import Features, cache_key, extract_features
from ssl_skel.evaluation.outputs import EvalResult

if TYPE_CHECKING:
    from ssl_skel.data.datasets import SkeletonClips
    from ssl_skel.evaluation.ensemble import Scores
    from ssl_skel.models.encoders.base import InputSpec
    from ssl_skel.models.frozen import FrozenEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalData:
    """The clips an evaluation reads: a config's data section, the seed of its views, how they are loaded.

    `batch_size`: clips per feature (or prediction) batch, the config's `eval.feature_batch_size`.
    `keep_freed_memory`: let CPU feature extraction keep freed memory for the next batch (a process
    setting that lasts until exit, so only an evaluation process turns it on; see core/memory.py).
    """

    config: DataConfig
    seed: int = 0
    num_workers: int = 0
    batch_size: int = 256
    keep_freed_memory: bool = False

    def dataset(self, part: str, *, train: bool, spec: InputSpec | None = None) -> SkeletonClips:
        """The split `part` as clips (`train`: augmented views), checked against `spec` when given."""
        from ssl_skel.data.datasets import build_dataset

        ds = build_dataset(self.config, part, train=train, seed=self.seed)
        if spec is not None:
            check_spec(spec, ds.spec, self.config.root)
        return ds


@dataclass(frozen=True)
class FeatureCache:
    """Features kept on disk under `folder`, keyed by `checkpoint`'s bytes and the data's identity."""

    folder: Path
    checkpoint: Path

    def key(self, data: DataConfig, part: str, modalities: Sequence[str]) -> str:
        return cache_key(self.checkpoint, {**to_dict(data), "part": part, "augment": None}, modalities)


def check_spec(trained, data, root: str) -> None:
    """Transfer needs the same layout, channels and persons; say which differs."""
    diffs = [
        f"{k}: encoder {getattr(trained, k)!r}, data {getattr(data, k)!r}"
        for k in ("layout", "in_channels", "num_persons")
        if getattr(trained, k) != getattr(data, k)
    ]
    if diffs:
        raise ConfigError(
            f"{root}: dataset does not fit the encoder ({'; '.join(diffs)}); "
            "transfer needs a dataset with the same skeleton layout"
        )


def resolve_modalities(encoder: FrozenEncoder, names: Sequence[str]) -> list[str]:
    """() -> the encoder's default modality alone (the fused feature of a unified encoder, the one the
    UmURL protocol reports: each extra modality is one more pass over both splits); ("all",) -> every
    modality the encoder offers (fused first); else the names, each checked against the encoder."""
    if not names:
        return [encoder.modalities[0]]
    if tuple(names) == ("all",):
        return list(encoder.modalities)
    for m in names:
        try:
            encoder.resolve(m)
        except ValueError as exc:  # names the ones offered
            raise ConfigError(str(exc)) from None
    return list(names)


def split_features(
    encoder: FrozenEncoder,
    data: EvalData,
    part: str,
    modalities: Sequence[str],
    cache: FeatureCache | None = None,
) -> tuple[SkeletonClips, Features]:
    """Un-augmented features of one split (read from / written to `cache` when given)."""
    ds = data.dataset(part, train=False, spec=encoder.spec)
    if data.keep_freed_memory and encoder.device.type == "cpu" and len(ds) > 2 * data.batch_size:
        # not inside extract_features, which the training loop's monitor also calls: there it would raise peak memory
        keep_freed_memory()
    feats = extract_features(
        encoder,
        ds,
        modalities,
        batch_size=data.batch_size,
        num_workers=data.num_workers,
        cache_dir=cache.folder if cache is not None else None,
        key=cache.key(data.config, part, modalities) if cache is not None else None,
        desc=f"{part} features",
    )
    return ds, feats


@dataclass
class ModalityFigures:
    """One modality's outcome: metrics, (N_test, K) test scores, optional scores of a held-out train part."""

    metrics: dict[str, float]
    scores: np.ndarray
    held_out: Scores | None = None


# (modality, train features, test features, number of classes) -> that modality's figures
Classifier = Callable[[str, Features, Features, int], ModalityFigures]


def frozen_protocol(
    encoder: FrozenEncoder,
    data: EvalData,
    modalities: Sequence[str],
    classify: Classifier,
    *,
    protocol: str,
    title: str,
    settings: dict,
    selection: str,
    cache: FeatureCache | None = None,
) -> EvalResult:
    """Features of both splits once, then `classify` per modality; the t-SNE uses the first modality."""
    _, train = split_features(encoder, data, "train", modalities, cache)
    test_ds, test = split_features(encoder, data, "test", modalities, cache)
    metrics, scores, held_out = {}, {}, {}
    for m in modalities:
        figures = classify(m, train, test, test_ds.num_classes)
        metrics[m], scores[m] = figures.metrics, figures.scores
        if figures.held_out is not None:
            held_out[m] = figures.held_out
        log.info("%s %s: top1 %.2f top5 %s", protocol, m, figures.metrics["top1"], figures.metrics.get("top5", "-"))
    return EvalResult(
        protocol=protocol,
        title=title,
        metrics=metrics,
        scores=scores,
        labels=test.labels,
        indices=test.indices,
        class_names=list(test_ds.class_names),
        embeddings=test.embeddings[modalities[0]],
        settings=settings,
        selection=selection,
        held_out=held_out,
    )
