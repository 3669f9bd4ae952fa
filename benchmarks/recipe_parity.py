#!/usr/bin/env python
"""CTR-GCN's NW-UCLA recipe side by side: the authors' code and ssl_skel (issue 22).

    python benchmarks/recipe_parity.py --ctrgcn /path/to/CTR-GCN --ucla /path/to/nw_ucla \
        [--data DIR] [--seed 0] [--threads 1] [--epochs 65 --steps 50 --warm-up 5] [--stop-after N] \
        [--authors-json FILE] [--ours-json FILE] [--run-dir DIR] [--out FILE]

The authors' side is benchmarks/recipe_parity_authors.py (their model, feeder and loop from the
local checkout PATH; nothing is downloaded or copied). `--authors-json` reuses a finished run of
it instead of training again; our side then stops after as many epochs as theirs reached
(unless `--stop-after` says otherwise).

Our side is what a user runs: `ssl-skel supervised --config nwucla_ctrgcn` (the library call
`run_supervised`) on the converted data (`--data`, made from `--ucla` with the converter if
missing), with the recipe's schedule and the same seed, one loader process (the authors' side
replays their workers in one process too), `--threads` torch threads. Its per-epoch figures come
from the run's results.json (`fit_curve`): test and clean training top-1 after every epoch and
the training pass's CPU seconds. `--ours-json` reads a finished run's results.json instead.

Rows per epoch: lr, test accuracy and clean training accuracy (the test-time preprocessing of
the 1020 training clips, eval mode) for each side, and CPU seconds of each side's training pass.
Then: the preprocessed tensors' max difference for the same clip (their feeder against our
pipeline driven by their draws: test clips, and training clips for the draws of a fixed seed),
our `ctrgcn` graph against theirs, and forward parity of our encoder on their mapped weights;
with `--step-bench N`, the CPU seconds of N training steps of each side measured alternately in
one process (the per-epoch figures come from runs at different moments of a shared machine). The
printed markdown is what BENCHMARKS.md holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipe_parity_authors as authors_side  # noqa: E402

PRESET = "nwucla_ctrgcn"


# =========================================================================== our side
def our_overrides(data: Path, recipe: authors_side.AuthorsRecipe, seed: int) -> list[str]:
    """The preset with the recipe's schedule (as given on the command line), on `data`, one loader process."""
    return [
        f"data.root={data}",
        "data.num_workers=0",
        f"data.clip_length={recipe.window_size}",
        f"train.epochs={recipe.num_epoch}",
        f"train.batch_size={recipe.batch_size}",
        f"train.lr={recipe.base_lr}",
        f"train.lr_gamma={recipe.lr_decay_rate}",
        f"train.lr_milestones={list(recipe.step)}",
        f"train.warmup_epochs={recipe.warm_up_epoch}",
        f"train.weight_decay={recipe.weight_decay}",
        f"train.momentum={recipe.momentum}",
        f"train.nesterov={str(recipe.nesterov).lower()}",
        f"train.save_every={recipe.num_epoch}",
        f"supervised.repeat={recipe.repeat}",
        f"eval.feature_batch_size={recipe.test_batch_size}",
        f"seed={seed}",
    ]


def rows_of(results: dict, recipe: authors_side.AuthorsRecipe) -> list[dict]:
    """Our results.json `fit_curve` -> rows with the authors' keys (accuracies as fractions)."""
    return [
        {
            "epoch": r["epoch"],
            "lr": recipe.lr(r["epoch"] - 1),
            "train_loss": r.get("loss"),
            "test_acc": r["test_top1"] / 100,
            "clean_train_acc": r["clean_train_top1"] / 100,
            "train_cpu_s": r.get("train_cpu_s"),
        }
        for r in results["fit_curve"]
    ]


def run_ours(
    data: Path,
    recipe: authors_side.AuthorsRecipe,
    *,
    seed: int,
    threads: int,
    stop_after: int | None,
    run_dir: Path,
) -> tuple[list[dict], dict]:
    """ssl_skel's `nwucla_ctrgcn` preset on `data` with the recipe's schedule -> (rows per epoch, results.json).

    A finished or interrupted run in `run_dir` is continued (the engine's resume), not redone."""
    import torch

    from ssl_skel.evaluation.supervised import SupervisedRequest, run_supervised

    torch.set_num_threads(threads)
    request = SupervisedRequest(
        PRESET,
        overrides=tuple(our_overrides(data, recipe, seed)),
        out=run_dir,
        device="cpu",
        num_workers=0,
        plots=False,
        stop_after_epoch=stop_after,
    )
    written = run_supervised(request)
    results = json.loads(written.path.read_text())
    return rows_of(results, recipe), results


# =========================================================================== the same clip, both pipelines
class ScriptedDraws:
    """Stands in for a numpy Generator: returns the authors' draws to our transforms (angles, then frames)."""

    def __init__(self, angles: list[int], frames: np.ndarray) -> None:
        self.angles, self.frames = angles, np.asarray(frames)

    def integers(self, low: int, high: int, size: int | None = None) -> np.ndarray:
        assert size == len(self.angles) and all(low <= a < high for a in self.angles)
        return np.asarray(self.angles)

    def choice(self, slots: int, size: int, replace: bool = False) -> np.ndarray:
        assert size == len(self.frames) and self.frames.max() < slots
        return self.frames


def ours_tensor(clip: np.ndarray, draws: dict, train: bool) -> np.ndarray:
    """Our `nwucla_ctrgcn` pipeline on `clip` (3, T, 20, 1) with the authors' draws -> (3, 52, 20, 1) float64.

    Training: the preset's supervised augmentation (rotation about y then x, min-max, sorted random frames)
    with their angles (agy, agx) and frames; test: the evaluation view (min-max, linspace frames)."""
    from ssl_skel.core.config import load_config
    from ssl_skel.data.layouts import get_layout
    from ssl_skel.data.transforms import build_eval_transform, build_transforms

    cfg = load_config(PRESET)
    length = cfg.data.clip_length
    x = np.asarray(clip, dtype=np.float32)
    if not train:
        view = build_eval_transform(length, normalize=cfg.data.normalize, frames=cfg.data.eval_frames)
        return view(x, None).astype(np.float64)
    layout = get_layout("kinect20")
    pipeline = build_transforms(cfg.supervised.augment, layout, length, normalize=cfg.data.normalize)
    return pipeline(x, ScriptedDraws([draws["agy"], draws["agx"]], draws["frames"])).astype(np.float64)


def our_clips(data: Path | None, feeders: dict) -> dict:
    """Our converted clips of the same split positions (names checked), or their json clips in our layout."""
    if data is None:
        return {
            part: (lambda i, f=feeders[part]: np.asarray(f.data[i], dtype=np.float64).transpose(2, 0, 1)[..., None])
            for part in ("train", "test")
        }
    from ssl_skel.core.config import load_config
    from ssl_skel.data.datasets import build_dataset

    cfg = load_config(PRESET, [f"data.root={data}"])
    out = {}
    for part in ("train", "test"):
        ds = build_dataset(cfg.data, part, train=False, seed=0)
        names = [ds.arrays.names[int(r)] for r in ds.arrays.indices]
        theirs = [item["file_name"] for item in feeders[part].data_dict]
        if names != theirs:
            raise SystemExit(f"{data}: the {part} split is not their list in their order")
        out[part] = ds.valid_frames
    return out


def preprocessing_row(feeders: dict, data: Path | None, seeds=(0, 1, 2), clips=(0, 1, 2, 300, 463)) -> dict:
    """Max |theirs - ours| per split over some clips (and, for training clips, the draws of some seeds)."""
    ours = our_clips(data, feeders)
    worst = {}
    for part, train in (("train", True), ("test", False)):
        feeder, diff = feeders[part], 0.0
        for index in clips:
            index %= len(feeder.data)
            for seed in seeds if train else seeds[:1]:
                theirs = authors_side.authors_tensor(feeder, index, seed)
                draws = authors_side.authors_draws(len(feeder.data[index]), seed, train)
                diff = max(diff, float(np.abs(theirs - ours_tensor(ours[part](index), draws, train)).max()))
        worst[part] = diff
    return {"train_max_abs": worst["train"], "test_max_abs": worst["test"], "source": str(data or "their json")}


def graph_row(authors) -> float:
    """Max |their Graph().A - our ctrgcn partition| (as the learnable topology starts)."""
    import torch

    from ssl_skel.models.encoders import InputSpec, build_encoder

    theirs = authors.Graph(labeling_mode="spatial").A
    ours = build_encoder("ctrgcn", {"partition": "ctrgcn"}, InputSpec("kinect20", 3, 1, 52))
    with torch.no_grad():
        return float(np.abs(ours.blocks[0].gcn.topology.numpy() - theirs).max())


def interleaved_steps(authors, feeders: dict, data: Path, recipe: authors_side.AuthorsRecipe, steps: int) -> dict:
    """CPU seconds per training step of each side, measured alternately in this process (same load, same
    moment): their model, feeder and SGD; our preset's encoder, head, dataset and optimiser. Batches of
    `recipe.batch_size` from each side's own pipeline; one warm-up step each first."""
    import time

    import torch
    from torch.utils.data import DataLoader

    from ssl_skel.core.config import load_config
    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.engine.optimizer import build_optimizer
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.objectives import build_method

    authors_side.init_seed(0)
    theirs = authors.Model(**recipe.model_args)
    their_opt = torch.optim.SGD(
        theirs.parameters(),
        lr=0.02,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )
    their_batches = iter(DataLoader(feeders["train"], batch_size=recipe.batch_size, shuffle=True, drop_last=True))
    cfg = load_config(PRESET, our_overrides(data, recipe, 0))
    train_set = build_dataset(cfg.supervised.data_config(cfg.data), "train", train=True, seed=0)
    encoder = build_encoder(cfg.model.name, cfg.model.params, train_set.spec)
    ours = build_method("supervised", {"head_init": cfg.supervised.head_init}, encoder, num_classes=10)
    our_opt = build_optimizer(ours, cfg.train, 0.02)
    our_batches = iter(DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True, drop_last=True))

    def their_step() -> None:
        x, y, _ = next(their_batches)
        loss = torch.nn.functional.cross_entropy(theirs(x.float()), y.long())
        their_opt.zero_grad()
        loss.backward()
        their_opt.step()

    def our_step() -> None:
        loss = ours(next(our_batches))["loss"]
        our_opt.zero_grad(set_to_none=True)
        loss.backward()
        our_opt.step()

    theirs.train(), ours.train()
    cpu = {"authors": 0.0, "ssl_skel": 0.0}
    for i in range(steps + 1):
        for name, step in (("authors", their_step), ("ssl_skel", our_step)):
            start = time.process_time()
            step()
            if i:  # the first step of each warms up
                cpu[name] += time.process_time() - start
    return {f"{name}_cpu_s_per_step": value / max(steps, 1) for name, value in cpu.items()} | {"steps": steps}


def table(theirs: list[dict], ours: list[dict] | None) -> str:
    """Markdown, one row per epoch: lr, then test top-1, clean training top-1 and the training pass's CPU
    seconds, the authors' code beside ssl_skel's."""

    def cell(rows: list[dict] | None, i: int, key: str, fmt: str) -> str:
        value = rows[i].get(key) if rows is not None and i < len(rows) else None
        return "-" if value is None else format(value, fmt)

    def pct(rows, i, key):
        value = rows[i].get(key) if rows is not None and i < len(rows) else None
        return "-" if value is None else f"{100 * value:.1f}"

    lines = [
        "| epoch | lr | test % (authors) | test % (ssl_skel) | clean train % (authors) | clean train % (ssl_skel) "
        "| train CPU-s (authors) | train CPU-s (ssl_skel) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i in range(max(len(theirs), len(ours or []))):
        lr = theirs[i]["lr"] if i < len(theirs) else ours[i]["lr"]
        lines.append(
            f"| {i + 1} | {lr:.3g} | {pct(theirs, i, 'test_acc')} | {pct(ours, i, 'test_acc')} "
            f"| {pct(theirs, i, 'clean_train_acc')} | {pct(ours, i, 'clean_train_acc')} "
            f"| {cell(theirs, i, 'train_cpu_s', '.0f')} | {cell(ours, i, 'train_cpu_s', '.0f')} |"
        )
    return "\n".join(lines)


def summary(
    theirs: list[dict], ours: list[dict] | None, prep: dict, graph: float, parity: dict, steps: dict | None = None
) -> str:
    """The lines under the table: headline figures, CPU per step, preprocessing, graph and forward parity."""
    out = []
    for name, rows in (("authors", theirs), ("ssl_skel", ours)):
        if rows:
            last, best = rows[-1], max(r["test_acc"] for r in rows)
            cpu = [r["train_cpu_s"] for r in rows if r.get("train_cpu_s") is not None]
            out.append(
                f"- {name}: after epoch {last['epoch']} test {100 * last['test_acc']:.1f} %, clean train "
                f"{100 * last['clean_train_acc']:.1f} % (best test epoch {100 * best:.1f} %); "
                f"training pass {np.mean(cpu):.0f} CPU-s per epoch (1 thread)"
            )
    if steps:
        a, b = steps["authors_cpu_s_per_step"], steps["ssl_skel_cpu_s_per_step"]
        out.append(
            f"- training step (batch 16, forward, backward, SGD), {steps['steps']} steps each, measured alternately "
            f"in one process: authors {a:.2f} CPU-s, ssl_skel {b:.2f} CPU-s ({100 * (b / a - 1):+.0f} %)"
        )
    out.append(
        f"- preprocessed tensors, max |authors - ssl_skel| on the same clips ({prep['source']}): test "
        f"{prep['test_max_abs']:.1e}, training (their draws of seeds 0-2 fed to our transforms) "
        f"{prep['train_max_abs']:.1e}"
    )
    out.append(f"- graph: our `partition: ctrgcn` against their `graph.ucla.Graph().A`: max |diff| {graph:.1e}")
    out.append(
        f"- forward parity on their mapped weights ({parity['dtype']}, eval mode): features max |diff| "
        f"{parity['feature_max_abs_diff']:.1e} (magnitude {parity['feature_max_abs']:.1e}), logits "
        f"{parity['logit_max_abs_diff']:.1e} (magnitude {parity['logit_max_abs']:.1e})"
    )
    return "\n".join(out)


def ensure_converted(raw: Path, data: Path) -> Path:
    """`data` as `ssl-skel gendata ucla --raw RAW --out DATA` writes it (converted now if missing)."""
    if not (data / "manifest.json").is_file():
        from ssl_skel.data.formats.registry import CONVERTERS

        print(f"converting {raw} -> {data}", flush=True)
        CONVERTERS["ucla"].convert(raw, data)
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ctrgcn", type=Path, required=True, help="local checkout of Uason-Chen/CTR-GCN")
    p.add_argument("--ucla", type=Path, required=True, help="raw NW-UCLA: all_sqe/ + the two split lists")
    p.add_argument("--data", type=Path, help="our converted copy (default: a temporary conversion of --ucla)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=authors_side.AuthorsRecipe.num_epoch)
    p.add_argument("--steps", type=int, nargs="*", default=list(authors_side.AuthorsRecipe.step))
    p.add_argument("--warm-up", type=int, default=authors_side.AuthorsRecipe.warm_up_epoch)
    p.add_argument("--stop-after", type=int, help="stop both sides after this many epochs")
    p.add_argument("--authors-json", type=Path, help="a finished recipe_parity_authors.py run to reuse")
    p.add_argument("--ours-json", type=Path, help="a finished run's results.json to reuse (ours)")
    p.add_argument("--run-dir", type=Path, help="our run folder (default: a temporary one)")
    p.add_argument("--out", type=Path, help="JSON with both sides")
    p.add_argument("--step-bench", type=int, default=0, help="also time N training steps of each side alternately")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    recipe = authors_side.AuthorsRecipe(num_epoch=args.epochs, step=tuple(args.steps), warm_up_epoch=args.warm_up)
    authors = authors_side.import_authors(args.ctrgcn)
    with tempfile.TemporaryDirectory(prefix="ctrgcn_ucla_") as tmp:
        staged = authors_side.stage_ucla(Path(tmp), raw=args.ucla)
        feeders = authors_side.build_feeders(authors, Path(tmp), recipe)
        authors_side.check_lists(staged, [feeders["train"], feeders["test"]])
        data = ensure_converted(args.ucla, args.data or Path(tmp) / "converted")
        stop_after = args.stop_after
        if args.authors_json:
            theirs = json.loads(args.authors_json.read_text())["epochs"]
            stop_after = stop_after or len(theirs)
        else:
            theirs = authors_side.run_authors(authors, feeders, recipe, seed=args.seed, stop_after=stop_after)
        if args.ours_json:
            results = json.loads(args.ours_json.read_text())
        else:
            run_dir = args.run_dir or Path(tmp) / "ours"
            _, results = run_ours(
                data, recipe, seed=args.seed, threads=args.threads, stop_after=stop_after, run_dir=run_dir
            )
        ours = rows_of(results, recipe)
        prep = preprocessing_row(feeders, data)
        steps = interleaved_steps(authors, feeders, data, recipe, args.step_bench) if args.step_bench else None
    graph = graph_row(authors)
    parity = authors_side.forward_parity(authors)
    print(table(theirs, ours))
    print()
    print(summary(theirs, ours, prep, graph, parity, steps))
    if args.out:
        payload = {
            "seed": args.seed,
            "threads": args.threads,
            "recipe": {"epochs": recipe.num_epoch, "steps": list(recipe.step), "warm_up": recipe.warm_up_epoch},
            "authors": theirs,
            "ours": ours,
            "ours_results": {k: results.get(k) for k in ("metrics", "clean_train_top1", "underfitting", "selection")},
            "preprocessing": prep,
            "graph_max_abs": graph,
            "forward_parity": parity,
            "interleaved_steps": steps,
        }
        args.out.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
