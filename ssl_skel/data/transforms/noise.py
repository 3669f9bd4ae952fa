"""Noise and masking steps: Gaussian noise and temporal blur, joint / frame / axis masking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssl_skel.data.transforms.frames import _check, _keep_absent_zero, presence


@dataclass(frozen=True)
class GaussianNoise:
    """Add N(0, std^2) to every coordinate of present persons."""

    std: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        out = x + rng.normal(0.0, self.std, size=x.shape).astype(np.float32)
        return _keep_absent_zero(out, presence(x))


@dataclass(frozen=True)
class GaussianBlur:
    """With probability `prob`, smooth along time with a Gaussian of sigma uniform in `sigma`."""

    prob: float = 0.5
    sigma: tuple[float, float] = (0.1, 2.0)
    radius: int = 7

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        if rng.random() >= self.prob:
            return x
        sigma = rng.uniform(*self.sigma)
        offsets = np.arange(-self.radius, self.radius + 1)
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        kernel /= kernel.sum()
        t = x.shape[1]
        idx = np.clip(np.arange(t)[:, None] + offsets[None, :], 0, t - 1)  # edge padding
        out = np.einsum("ctkvm,k->ctvm", x[:, idx], kernel.astype(np.float32))
        return _keep_absent_zero(out, presence(x))


@dataclass(frozen=True)
class JointMask:
    """Spatial masking: zero round(ratio * V) random joints in every frame and person."""

    ratio: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        count = int(round(self.ratio * x.shape[2]))
        out = x.copy()
        out[:, :, rng.choice(x.shape[2], size=count, replace=False)] = 0.0
        return out


@dataclass(frozen=True)
class FrameMask:
    """Temporal masking: zero round(ratio * T) random frames."""

    ratio: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        count = int(round(self.ratio * x.shape[1]))
        out = x.copy()
        out[:, rng.choice(x.shape[1], size=count, replace=False)] = 0.0
        return out


@dataclass(frozen=True)
class AxisMask:
    """With probability `prob`, zero one random coordinate axis."""

    prob: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        if rng.random() >= self.prob:
            return x
        out = x.copy()
        out[int(rng.integers(x.shape[0]))] = 0.0
        return out
