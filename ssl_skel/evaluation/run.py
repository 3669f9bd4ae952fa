"""One evaluation run of a checkpoint: read it once, then run protocols and write their outputs.

Why here and not in each command: linear, knn, semi and finetune all resolve the data the same
way (the checkpoint's stored config, or a given config, with data-root/benchmark overrides for
transfer), write the same results JSON / TensorBoard scalars / PNGs / scores, and must agree on
where those go (`<checkpoint dir>/eval/<protocol>_<benchmark>/`). A notebook does what the CLI does:

    run = EvalRun.open(EvalRequest("runs/synthetic/last.pt", num_workers=0))
    out = run_protocol(run, LinearSettings.from_config(run.cfg.eval, seed=run.seed))
    print(out.table)           # out.result.metrics, out.path (results.json)
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ssl_skel.core.checkpoint import encoder_from_payload, read_checkpoint
from ssl_skel.core.config import MAX_SEED, Config, ConfigError, apply_overrides, config_from_tree, load_config
from ssl_skel.core.io import output_folder
from ssl_skel.evaluation.outputs import EvalResult, write_outputs
from ssl_skel.evaluation.protocol import EvalData, FeatureCache
from ssl_skel.evaluation.results import format_table

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ssl_skel.models.frozen import FrozenEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRequest:
    """What to evaluate and where: the typed form of the evaluation commands' common options.

    config: a preset or YAML for the data (None: the checkpoint's stored config), changed by `overrides`
    (key=value); data_root / benchmark: evaluate on another dataset folder or split (transfer);
    out: output folder (None: <checkpoint dir>/eval/<protocol>_<benchmark>[_random]); device: None = cuda when
    available; seed / num_workers: None = the config's; random_init: the same architecture untrained (the
    baseline); cache_dir: feature cache (None: <out>/features, none for a random encoder).
    """

    checkpoint: str | Path
    config: str | None = None
    data_root: str | None = None
    benchmark: str | None = None
    out: str | Path | None = None
    device: str | None = None
    seed: int | None = None
    num_workers: int | None = None
    random_init: bool = False
    plots: bool = True
    cache_dir: str | Path | None = None
    overrides: Sequence[str] = ()


def resolve_config(request: EvalRequest, stored: dict | None) -> Config:
    """The run's Config: the request's config if given, else the checkpoint's `stored` one; then the data overrides."""
    if request.config:
        cfg = load_config(request.config, list(request.overrides))
    else:
        if not isinstance(stored, dict) or "data" not in stored:
            raise ConfigError(f"{request.checkpoint}: checkpoint stores no run config; pass --config")
        tree = apply_overrides(stored, list(request.overrides))
        cfg = config_from_tree(tree, source=f"{request.checkpoint} (stored config)")
    data = cfg.data
    if request.data_root:
        data = dataclasses.replace(data, root=str(request.data_root), make_command="")
    if request.benchmark:
        data = dataclasses.replace(data, benchmark=request.benchmark)
    return dataclasses.replace(cfg, data=data)


@dataclass
class EvalRun:
    """A checkpoint read once: its config, its encoder (kept untouched on the CPU) and the data to evaluate on.

    Protocols take copies of the encoder (`frozen_encoder` for features, `trainable_encoder` for
    fine-tuning), so several protocols can run on one EvalRun.
    """

    request: EvalRequest
    cfg: Config
    checkpoint: Path
    encoder: nn.Module
    seed: int
    device: str  # where frozen features are computed
    data: EvalData
    rng_after_build: torch.Tensor = field(repr=False)  # torch's generator right after the seeded encoder build
    _frozen: FrozenEncoder | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, request: EvalRequest) -> EvalRun:
        """Read the checkpoint (once), resolve the config, seed, and rebuild the encoder."""
        import torch

        checkpoint = Path(request.checkpoint)
        payload = read_checkpoint(checkpoint)
        cfg = resolve_config(request, payload.get("config"))
        seed = cfg.seed if request.seed is None else request.seed
        if not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"--seed {seed}: must be in 0..{MAX_SEED}")
        torch.manual_seed(seed)  # a random-init encoder is the same on every run
        encoder = encoder_from_payload(payload, checkpoint, load_weights=not request.random_init)
        rng = torch.get_rng_state()
        del payload  # the weights live in the encoder now; the rest (optimizer state...) can go
        if cfg.data.clip_length != encoder.spec.clip_length:
            log.warning(
                "data clip_length %d differs from the encoder's %d; using the encoder's",
                cfg.data.clip_length,
                encoder.spec.clip_length,
            )
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, clip_length=encoder.spec.clip_length))
        workers = cfg.data.num_workers if request.num_workers is None else request.num_workers
        data = EvalData(cfg.data, seed, workers, cfg.eval.feature_batch_size, keep_freed_memory=True)
        device = request.device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(request, cfg, checkpoint, encoder, seed, device, data, rng)

    @property
    def random_init(self) -> bool:
        return self.request.random_init

    @property
    def plots(self) -> bool:
        return self.request.plots

    def frozen_encoder(self) -> FrozenEncoder:
        """A frozen copy of the encoder on the run's device (made on first use, then shared)."""
        if self._frozen is None:
            from ssl_skel.models.frozen import FrozenEncoder

            copied = copy.deepcopy(self.encoder)
            self._frozen = FrozenEncoder(copied, source=str(self.checkpoint)).to(self.device)
        return self._frozen

    def trainable_encoder(self) -> nn.Module:
        """A fresh copy of the encoder to train; torch's generator is put back where the seeded build left it,
        so a head built next starts from the same weights on every run with one seed."""
        import torch

        torch.set_rng_state(self.rng_after_build)
        return copy.deepcopy(self.encoder)

    def out_dir(self, tag: str) -> Path:
        """The request's out, else <checkpoint dir>/eval/<tag>_<benchmark>[_random]."""
        if self.request.out:
            return Path(self.request.out)
        suffix = "_random" if self.random_init else ""
        return self.checkpoint.parent / "eval" / f"{tag}_{self.cfg.data.benchmark}{suffix}"

    def feature_cache(self, out_dir: Path) -> FeatureCache | None:
        """The request's cache folder, else <out>/features (none for a random encoder: nothing to reuse)."""
        if self.request.cache_dir:
            return FeatureCache(Path(self.request.cache_dir), self.checkpoint)
        return None if self.random_init else FeatureCache(Path(out_dir) / "features", self.checkpoint)

    @property
    def dataset_info(self) -> dict:
        """results.json "dataset": what was evaluated on."""
        return {
            "root": self.cfg.data.root,
            "benchmark": self.cfg.data.benchmark,
            "layout": self.encoder.spec.layout,
            "clip_length": self.cfg.data.clip_length,
        }

    @property
    def encoder_info(self) -> dict:
        """results.json "encoder": which encoder was evaluated."""
        return {
            "random_init": self.random_init,
            "dim": int(self.encoder.dim),
            "modalities": list(self.encoder.modalities),
        }


class ProtocolSettings(Protocol):
    """What `run_protocol` needs of a protocol's settings (LinearSettings, KnnSettings, FinetuneSettings...)."""

    @property
    def tag(self) -> str: ...

    def evaluate(self, run: EvalRun, out_dir: Path) -> EvalResult | None: ...


@dataclass
class Written:
    """A protocol's result and where it went: `path` is results.json, `table` the printed summary."""

    result: EvalResult
    path: Path
    table: str


def run_protocol(run: EvalRun, settings: ProtocolSettings, *, out: str | Path | None = None) -> Written | None:
    """Evaluate one protocol on the run and write its outputs (results.json, scores, scalars, PNGs).

    out: this protocol's folder (default: `run.out_dir(settings.tag)`). Returns None on DDP ranks other than 0.
    """
    out_dir = Path(out) if out is not None else run.out_dir(settings.tag)
    output_folder(out_dir, "--out folder")  # one line now if it cannot be written, not at the first result file
    result = settings.evaluate(run, out_dir)
    if result is None:
        return None
    path = write_outputs(
        result,
        out_dir,
        checkpoint=str(run.checkpoint),
        dataset=run.dataset_info,
        encoder=run.encoder_info,
        plots=run.plots,
        seed=run.seed,
    )
    return Written(result, path, format_table(result.title, result.metrics))
