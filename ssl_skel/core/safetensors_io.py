"""An encoder-only checkpoint as a safetensors file: the weights as tensors, the rest as JSON metadata.

Why: a safetensors file holds only tensors and a JSON header, so reading one runs no code (there is
no pickle at all), other tools and languages read its weights, and it needs no ssl_skel to inspect.
A checkpoint's entries that are not weights (kind, config, the encoder entry with its input spec,
epoch, metrics, source) travel as one JSON string under the metadata key "ssl_skel";
`read_safetensors` rebuilds from them the dict a torch.save checkpoint holds, so
`core.checkpoint.load_checkpoint` (and with it `load_encoder` and every command) reads either form.

The weights are stored under the encoder's own parameter names (no "encoder." prefix: the file holds
nothing else), and the encoder entry says so with `prefix: ""`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

METADATA_KEY = "ssl_skel"
HEADER_LIMIT = 100_000_000  # safetensors' own limit on the JSON header (bytes)


def looks_like_safetensors(head: bytes) -> bool:
    """True when `head` (a file's first 9 bytes) opens a safetensors file.

    The format starts with the JSON header's length (u64, little-endian), then the header's "{".
    """
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= HEADER_LIMIT


def _plain(value: Any) -> Any:
    """JSON's stand-in for values a checkpoint may hold besides plain types (tensors, numpy scalars)."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def safetensors_bytes(payload: dict, tensors: dict[str, torch.Tensor]) -> bytes:
    """The file's bytes: `tensors` (names -> tensors, copied to contiguous CPU memory) and every
    entry of `payload` as JSON metadata (weights excluded). Raises ValueError naming an entry JSON cannot hold.
    """
    from safetensors.torch import save

    meta = {k: v for k, v in payload.items() if k != "model"}
    for key, value in meta.items():
        try:
            json.dumps(value, default=_plain)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"checkpoint entry {key!r} cannot be stored as JSON metadata ({exc})") from None
    text = json.dumps(meta, default=_plain, sort_keys=True)
    weights = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    return save(weights, metadata={"format": "pt", METADATA_KEY: text})


def read_safetensors(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The checkpoint dict stored in a safetensors file written by `safetensors_bytes`.

    Raises ValueError (one line, without the path: the caller names the file) for a damaged file,
    a safetensors file without ssl_skel metadata, or metadata that is not a JSON object.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 - safe_open has no iterator
    except Exception as exc:  # noqa: BLE001 - the reader fails in several ways on damaged bytes
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"truncated or corrupt safetensors file ({reason})") from None
    text = meta.get(METADATA_KEY)
    if text is None:
        raise ValueError(
            f"a safetensors file without ssl_skel metadata (no {METADATA_KEY!r} entry): "
            "only encoders written by `ssl-skel export --format safetensors` are read"
        )
    try:
        payload = json.loads(text)  # NaN and Infinity (diverged metrics) read back as floats
    except ValueError as exc:
        raise ValueError(f"metadata entry {METADATA_KEY!r} is not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError(f"metadata entry {METADATA_KEY!r} is not a JSON object")
    device = torch.device(map_location)
    payload["model"] = {k: v.to(device) for k, v in tensors.items()}
    return payload
