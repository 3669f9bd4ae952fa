"""What the benchmark needs to know of each real dataset, and which of its folds to run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ssl_skel.commands import UserError

MODALITIES = ("fused", "joint", "bone", "motion")


@dataclass(frozen=True)
class RealDataset:
    """One real dataset of the benchmark."""

    title: str
    config: str  # preset
    val_by: str  # how the validation split is carved from the training split
    markers: tuple[str, str]  # the BENCHMARKS.md section
    sizes_note: str
    folds: tuple[str, ...] = ()  # benchmarks of a cross-validation protocol, averaged; () = the preset's one


DATASETS: dict[str, RealDataset] = {
    "nw_ucla": RealDataset(
        title="NW-UCLA (cross-view, real data)",
        config="nwucla_cpu",
        val_by="view",
        markers=("<!-- nwucla:begin -->", "<!-- nwucla:end -->"),
        sizes_note="train views 1+2, test view 3, 10 classes, 20 Kinect v1 joints",
    ),
    "penn_action": RealDataset(
        title="Penn Action (official split, 2D, real data)",
        config="penn_action_cpu",
        val_by="class",
        markers=("<!-- penn_action:begin -->", "<!-- penn_action:end -->"),
        sizes_note="official train/test flag, 15 classes, 13 annotated 2D joints (x, y), one person",
    ),
    "sbu": RealDataset(
        title="SBU Kinect Interaction (5-fold cross-validation by set, real data)",
        config="sbu_cpu",
        val_by="set",
        markers=("<!-- sbu:begin -->", "<!-- sbu:end -->"),
        sizes_note="clean version, 8 two-person interactions, 15 Kinect joints x 2 persons, 21 actor-pair sets",
        folds=tuple(f"fold{k}" for k in range(1, 6)),
    ),
}


def chosen_folds(name: str, ds: RealDataset, requested: Sequence[str] | None) -> list[str]:
    """The folds to run: all of a cross-validation's by default, or the `--folds` subset (in the protocol's order)."""
    if requested is None:
        return list(ds.folds)
    if not ds.folds:
        raise UserError(f"--folds: {name} has one official split, no folds (only a cross-validation has folds)")
    unknown = [f for f in requested if f not in ds.folds]
    if unknown:
        raise UserError(f"--folds: {name} has no fold {', '.join(unknown)}; its folds are {', '.join(ds.folds)}")
    if len(set(requested)) != len(requested):
        raise UserError(f"--folds: a fold is named twice in {' '.join(requested)}")
    return [f for f in ds.folds if f in requested]
