"""Two floors without learning, on raw coordinates: cosine 1-NN and a ridge classifier.

Why: a learned feature is worth reporting only next to what the clips' coordinates give by
themselves, resampled and normalised, with no training at all.
"""

from __future__ import annotations

import numpy as np


def raw_features(dataset, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Each clip's valid frames resampled to `frames`, centred and scaled per clip, flattened.

    dataset: a SkeletonClips split; returns ((N, C * frames * V * M) float32, labels (N,)).
    Centred on the clip's mean joint position, divided by the clip's RMS distance to it.
    """
    from ssl_skel.data.transforms import CenterCropResize

    resize = CenterCropResize(frames)
    rows = []
    for i in range(len(dataset)):
        x = resize(dataset.valid_frames(i)).astype(np.float64)  # (C, frames, V, M)
        x = x - x.mean(axis=(1, 2, 3), keepdims=True)
        x = x / max(float(np.sqrt((x**2).sum(0).mean())), 1e-8)
        rows.append(x.reshape(-1))
    return np.asarray(rows, np.float32), np.asarray(dataset.labels, np.int64)


def floors(cfg_data, frames: int, seed: int) -> dict[str, float]:
    """Test top-1 of cosine 1-NN and of a ridge classifier on raw coordinates, and the feature's size."""
    from sklearn.linear_model import RidgeClassifier

    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.evaluation.knn import knn_classify

    train = build_dataset(cfg_data, "train", train=False, seed=seed)
    test = build_dataset(cfg_data, "test", train=False, seed=seed)
    xtr, ytr = raw_features(train, frames)
    xte, yte = raw_features(test, frames)
    knn = knn_classify(xtr, ytr, xte, train.num_classes, k=1)
    ridge = RidgeClassifier(alpha=1.0).fit(xtr, ytr)
    return {
        "knn1": 100.0 * float(np.mean(knn.predictions == yte)),
        "ridge": 100.0 * float(np.mean(ridge.predict(xte) == yte)),
        "dim": int(xtr.shape[1]),
    }
