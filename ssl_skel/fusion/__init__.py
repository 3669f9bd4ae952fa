"""RGB-D and pose-driven fusion adapters for downstream use of skeleton encoders.

Four designs, one module each, registered by name in `ADAPTERS`:
`umdr` (RGB-D decoupling and recoupling), `integral` (IntegralAction's pose-driven gate),
`epam` (EPAM-Net's pose-guided attention with late score fusion), `mmcl` (multi-modality
co-learning; skeleton alone at test). Each is a `Method`, so the one training engine
trains it; `predict(batch)` gives per-stream class scores for evaluation.
"""

from __future__ import annotations

from typing import Any

from ssl_skel.core.config import from_dict
from ssl_skel.core.registry import ADAPTERS


def build_adapter(name: str, params: dict, encoder: Any, num_classes: int, rgbd: Any, **kwargs: Any):
    """Build adapter `name` with `params` validated against its params dataclass.

    encoder: the skeleton `SkeletonEncoder`; rgbd: `ssl_skel.fusion.rgbd.RGBDSpec`;
    kwargs: `freeze_encoder`, `modality` (see `FusionAdapter`).
    """
    entry = ADAPTERS.get(name)
    typed = from_dict(entry.params, params, source=f"adapter {name}", prefix="params")
    return entry.cls(encoder, typed, num_classes, rgbd, **kwargs)


from ssl_skel.fusion import epam, integral, mmcl, umdr  # noqa: E402,F401  (register)
