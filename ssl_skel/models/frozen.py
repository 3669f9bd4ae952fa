"""Frozen encoders: eval mode and no gradients, kept even when a parent calls `.train()`.

`freeze` is the one way the toolkit freezes an encoder (feature extraction, linear-probe style
fine-tuning, fusion adapters with a frozen skeleton branch); a module that holds a frozen
encoder calls `freeze` again from its own `train()` so BatchNorm statistics never drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ssl_skel.data.layouts import Layout
from ssl_skel.data.prepare import prepare_batch
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder


def freeze(module: nn.Module) -> nn.Module:
    """No gradients and eval mode (BatchNorm statistics and dropout fixed); returns the module."""
    module.requires_grad_(False)
    module.eval()
    return module


class FrozenEncoder(nn.Module):
    """A pretrained encoder for feature extraction: eval mode, no gradients, ever.

    `.train()` from a parent module leaves the encoder in eval mode, so BatchNorm
    statistics cannot drift during a linear probe (moco-v3's sanity check asserts the same).
    """

    def __init__(self, encoder: SkeletonEncoder, source: str = "", eval_view: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.encoder = freeze(encoder)
        self.source = source
        # the run's eval-view settings (data.resize, data.preprocess), replayed by prepare()
        self.eval_view = {"resize": "endpoints", "view": "none", **dict(eval_view or {})}

    def train(self, mode: bool = True) -> FrozenEncoder:  # noqa: ARG002 - frozen on purpose
        super().train(False)
        return self

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    @property
    def spec(self) -> InputSpec:
        return self.encoder.spec

    @property
    def layout(self) -> str:
        return self.encoder.spec.layout

    @property
    def skeleton(self) -> Layout:
        """The layout the encoder was trained on, in full (from the checkpoint, no file needed)."""
        return self.encoder.layout

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.encoder.modalities)

    @property
    def device(self) -> torch.device:
        first = next(iter(self.encoder.parameters()), None)
        return first.device if first is not None else torch.device("cpu")

    def resolve(self, modality: str | None) -> str:
        """'fused' on a single-stream encoder is its one stream; unknown names are errors."""
        if modality is None or (modality == "fused" and "fused" not in self.modalities):
            return self.modalities[0]
        if modality not in self.modalities:
            raise ValueError(f"encoder offers modalities {self.modalities}, not {modality!r}")
        return modality

    def check_input(self, x: torch.Tensor) -> None:
        """x: (N, C, T, V, M); fails saying which C, V, M the encoder was trained on."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor (N, C, T, V, M), got {type(x).__name__}")
        self.encoder.check_input(x)

    def embed_modalities(self, x: torch.Tensor, modalities: Sequence[str]) -> dict[str, torch.Tensor]:
        """x: (N, C, T, V, M) -> {modality: (N, dim)} in one pass through the encoder."""
        self.check_input(x)
        names = {m: self.resolve(m) for m in modalities}
        with torch.inference_mode():
            out = self.encoder.forward_modalities(
                x.to(self.device, torch.float32), tuple(dict.fromkeys(names.values()))
            )
        return {m: out[n].float() for m, n in names.items()}

    def embed(self, x: torch.Tensor, modality: str | None = "fused") -> torch.Tensor:
        """x: (N, C, T, V, M) joints -> (N, dim) features ("fused" for unified encoders)."""
        return self.embed_modalities(x, (modality or self.modalities[0],))[modality or self.modalities[0]]

    def prepare(self, clips: Sequence[Any], *, drop_persons: bool = False) -> torch.Tensor:
        """Raw clips -> the (N, C, T, V, M) batch evaluation saw.

        clips: a list of arrays, each (T, V, C) or (M, T, V, C), any length and number of persons. The
        training data's normalisation (centring, view alignment, scaling, missing joints; stored in the
        checkpoint), person padding or selection and the dataset's eval transform (resampling to the
        clip length) are applied: `ssl_skel.data.prepare.prepare_batch`. A clip with more persons than the
        encoder takes is an error unless drop_persons=True; implausible coordinates (1e30) are an error.
        """
        return torch.from_numpy(prepare_batch(clips, self.spec, **self.eval_view, drop_persons=drop_persons))

    def embed_clips(
        self, clips: Sequence[Any], modality: str | None = "fused", batch_size: int = 256, *, drop_persons: bool = False
    ) -> torch.Tensor:
        """Raw clips (see `prepare`) -> (N, dim) features, `batch_size` clips per forward pass; ValueError naming
        the clip if a feature is NaN/inf (never returned silently)."""
        parts = []
        for i in range(0, len(clips), batch_size):
            try:
                batch = self.prepare(clips[i : i + batch_size], drop_persons=drop_persons)
            except ValueError as exc:  # ClipError "clip k: ..." counts from the batch's first clip
                raise type(exc)(_renumber(str(exc), i)) from None
            parts.append(self.embed(batch, modality))
            bad = (~torch.isfinite(parts[-1])).any(dim=1).nonzero()
            if len(bad):
                raise ValueError(f"embed_clips: clip {i + int(bad[0])}: the encoder returned NaN/inf features")
        if not parts:
            raise ValueError("embed_clips: no clips given")
        return torch.cat(parts)

    def forward(self, x: torch.Tensor, modality: str | None = "fused") -> torch.Tensor:
        return self.embed(x, modality)


def _renumber(message: str, offset: int) -> str:
    """'clip 3: ...' of a batch starting at clip `offset` -> 'clip {3 + offset}: ...'."""
    head, sep, rest = message.partition(": ")
    if sep and head.startswith("clip ") and head[5:].isdigit():
        return f"clip {int(head[5:]) + offset}: {rest}"
    return message
