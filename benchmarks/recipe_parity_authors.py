#!/usr/bin/env python
"""The authors' side of the CTR-GCN NW-UCLA recipe parity (issue 22): their model, feeder and loop.

    python benchmarks/recipe_parity_authors.py --ctrgcn /path/to/CTR-GCN --ucla /path/to/nw_ucla \
        --seed 0 --threads 1 --out authors.json [--budget-min 60] [--epochs 65 --steps 50 --warm-up 5]

PATH is a local checkout of Uason-Chen/CTR-GCN (nothing is downloaded, none of their code is
copied): their `model.ctrgcn.Model`, `graph.ucla.Graph` and `feeders.feeder_ucla.Feeder` are
imported from it. Their feeder reads `data/NW-UCLA/all_sqe/<name>.json` relative to the working
directory and carries the split lists in its source, so the data is staged in a temporary folder
in that layout: from the raw json folder (`--ucla`, links to the files) or from a folder written
by `ssl-skel gendata ucla` (`--converted`, json rewritten from the arrays). Either way the staged
names, labels and lengths are checked against the lists in their feeder.

The loop is `main.py`'s `Processor.train`/`eval` with the settings of `config/ucla/default.yaml`
(see benchmarks/ctrgcn_recipe.md for each step), run on CPU in this process:
- `init_seed(seed)` first (torch, numpy, Python), then the model is built, then the loaders;
- SGD, momentum 0.9, Nesterov, weight decay on every parameter; lr set once per epoch:
  base * (e + 1) / warm_up for e < warm_up, else base * decay ** #{steps <= e};
- their training loader (shuffle, drop_last, 32 workers, `worker_init_fn=init_seed`) restarts
  the Python RNG of worker w at seed w every epoch and hands it batches w, w + 32, ...; the
  augmentation draws come from those streams. `WorkerStreams` replays exactly that in one
  process (`--workers 0` is their loader without workers: one stream seeded by `--seed`);
  `--check` compares it with a real multi-worker DataLoader batch for batch;
- each epoch: the training pass (their mean loss and running accuracy on augmented clips), the
  test pass (view 3, their top-1), and, not in their code, a clean pass: their test-time
  preprocessing over the 1020 training clips once (no repeat), eval mode, which shows how well
  the model fits its own training data. The clean pass draws nothing from any RNG, so the
  training trajectory is theirs.
CPU seconds (time.process_time) and wall seconds are recorded per pass. The JSON is rewritten
after every epoch, so a run stopped by `--budget-min` or by hand keeps what it measured.

`authors_tensor(feeder, index, seed)` is their preprocessed clip for one seed (the row
"preprocessed tensors' max difference"); `authors_draws` replays the random draws of that call
and `reference_tensor` rebuilds the clip from them with the formulas of the notes (checked
against their feeder by `--check`). `authors_to_ours` maps their weights onto ssl_skel's
`ctrgcn` encoder (the only function here that imports ssl_skel).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


# =========================================================================== the recipe
@dataclass(frozen=True)
class AuthorsRecipe:
    """config/ucla/default.yaml plus main.py's defaults that it does not override."""

    num_epoch: int = 65
    batch_size: int = 16
    test_batch_size: int = 64
    base_lr: float = 0.1
    lr_decay_rate: float = 0.1
    step: tuple[int, ...] = (50,)
    warm_up_epoch: int = 5
    weight_decay: float = 1e-4
    momentum: float = 0.9  # hard-coded in load_optimizer
    nesterov: bool = True
    repeat: int = 5  # train_feeder_args.repeat
    window_size: int = 52  # the feeder uses its own time_steps = 52 regardless
    num_worker: int = 32  # main.py default (the ucla config does not set it)
    seed: int = 1  # main.py default
    model_args: dict = field(
        default_factory=lambda: {
            "num_class": 10,
            "num_point": 20,
            "num_person": 1,
            "graph": "graph.ucla.Graph",
            "graph_args": {"labeling_mode": "spatial"},
        }
    )

    def lr(self, epoch: int) -> float:
        """Processor.adjust_learning_rate: one value for the whole of 0-based `epoch`."""
        if epoch < self.warm_up_epoch:
            return self.base_lr * (epoch + 1) / self.warm_up_epoch
        return self.base_lr * self.lr_decay_rate ** sum(1 for s in self.step if epoch >= s)


# =========================================================================== their code
class _NumpyWithInt(types.ModuleType):
    """numpy as their feeder sees it: `np.int` (removed in numpy 1.24) is the builtin int again."""

    int = int

    def __getattr__(self, name: str):
        return getattr(np, name)


def import_authors(path: str | Path) -> types.SimpleNamespace:
    """Their Model, Feeder and Graph from checkout `path` (its root goes first on sys.path)."""
    root = Path(path).resolve()
    if not (root / "feeders" / "feeder_ucla.py").is_file() or not (root / "model" / "ctrgcn.py").is_file():
        raise SystemExit(f"{root}: not a CTR-GCN checkout (no feeders/feeder_ucla.py or model/ctrgcn.py)")
    sys.path.insert(0, str(root))
    import feeders.feeder_ucla as feeder_ucla
    import graph.ucla as graph_ucla
    import model.ctrgcn as ctrgcn

    for mod in (feeder_ucla, graph_ucla, ctrgcn):
        if not Path(mod.__file__).resolve().is_relative_to(root):
            raise SystemExit(f"{mod.__name__} was imported from {mod.__file__}, not from {root}: rename the clash")
    if not hasattr(np, "int"):
        feeder_ucla.np = _NumpyWithInt("numpy")  # the only numpy 2 incompatibility on the NW-UCLA path
    return types.SimpleNamespace(root=root, Feeder=feeder_ucla.Feeder, Model=ctrgcn.Model, Graph=graph_ucla.Graph)


def checkout_state(root: Path) -> dict:
    """Commit and local changes of their checkout (so a figure names the code that made it)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {"path": str(root), "commit": git("rev-parse", "HEAD"), "local_changes": git("diff", "--stat")}


def init_seed(seed: int) -> None:
    """main.py's init_seed minus the CUDA calls: torch, numpy and Python RNGs."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


# =========================================================================== data in their layout
def _link_raw(raw: Path, dest: Path) -> list[dict]:
    lists = [json.loads((raw / f).read_text()) for f in ("train_split.json", "val_split.json")]
    for item in lists[0] + lists[1]:
        src = raw / "all_sqe" / f"{item['file_name']}.json"
        if not src.is_file():
            raise SystemExit(f"{src}: missing (listed in the split files)")
        (dest / src.name).symlink_to(src.resolve())
    return lists[0] + lists[1]


def _write_converted(converted: Path, dest: Path) -> list[dict]:
    """json per clip from `ssl-skel gendata ucla` output: data.npy (N, 3, T, 20, 1), names, labels 0-based."""
    data = np.load(converted / "data.npy", mmap_mode="r")
    names = (converted / "names.txt").read_text().splitlines()
    labels = np.load(converted / "labels.npy")
    lengths = np.load(converted / "num_frames.npy")
    items = []
    for row, name in enumerate(names):
        t = int(lengths[row])
        clip = np.asarray(data[row, :, :t, :, 0], dtype=np.float64).transpose(1, 2, 0)  # (T, 20, 3)
        label = int(labels[row]) + 1
        (dest / f"{name}.json").write_text(json.dumps({"file_name": name, "skeletons": clip.tolist(), "label": label}))
        items.append({"file_name": name, "length": t, "label": label})
    return items


def stage_ucla(dest: Path, *, raw: Path | None = None, converted: Path | None = None) -> list[dict]:
    """dest/data/NW-UCLA/all_sqe/*.json from raw json (linked) or converted arrays (rewritten)."""
    clips = dest / "data" / "NW-UCLA" / "all_sqe"
    clips.mkdir(parents=True)
    if (raw is None) == (converted is None):
        raise SystemExit("give exactly one of --ucla (raw json folder) and --converted (ssl-skel gendata ucla output)")
    return _link_raw(raw, clips) if raw is not None else _write_converted(converted, clips)


def check_lists(staged: list[dict], feeders: list) -> None:
    """Every clip their feeders list is staged with the same label and length."""
    by_name = {item["file_name"]: item for item in staged}
    for feeder in feeders:
        for item in feeder.data_dict:
            ours = by_name.get(item["file_name"])
            if ours is None:
                raise SystemExit(f"{item['file_name']}: in their {feeder.train_val} list, not in the staged data")
            if int(ours["label"]) != int(item["label"]) or int(ours["length"]) != int(item["length"]):
                raise SystemExit(f"{item['file_name']}: staged {ours}, their list {item}")


def build_feeders(authors: types.SimpleNamespace, staged_root: Path, recipe: AuthorsRecipe) -> dict:
    """Their train (augmented, repeated), test (view 3) and clean (training list, test-time branch) feeders."""
    with contextlib.chdir(staged_root):  # their feeder opens data/NW-UCLA/all_sqe/ relative to the cwd
        train = authors.Feeder(
            data_path="joint",
            label_path="train",
            repeat=recipe.repeat,
            random_choose=True,
            random_shift=False,
            random_move=False,
            window_size=recipe.window_size,
            normalization=False,
            debug=False,
        )
        test = authors.Feeder(data_path="joint", label_path="val", debug=False)
        clean = authors.Feeder(data_path="joint", label_path="train", debug=False)
    clean.train_val = "val"  # their deterministic branch (centre, min-max, linspace) on the training clips
    return {"train": train, "test": test, "clean": clean}


# =========================================================================== their loader, one process
class WorkerStreams(Dataset):
    """Their training feeder as their DataLoader's workers would run it, without processes.

    With `workers` > 0, batch b (0-based, in loader order) is made by worker b % workers, whose
    Python RNG starts each epoch at `random.seed(worker_id)` (torch seeds it, then their
    worker_init_fn=init_seed(worker_id) reseeds it) and carries on from one of its batches to the
    next. Call `new_epoch()` before iterating. `workers=0`: the process's own Python RNG.
    """

    def __init__(self, feeder: Dataset, batch_size: int, workers: int) -> None:
        self.feeder, self.batch_size, self.workers = feeder, batch_size, workers
        self.served, self.current, self.states = 0, None, []

    def new_epoch(self) -> None:
        self.served, self.current = 0, None
        self.states = []
        for w in range(self.workers):
            random.seed(w)
            self.states.append(random.getstate())

    def __len__(self) -> int:
        return len(self.feeder)

    def __getitem__(self, index: int):
        if self.workers:
            batch, position = divmod(self.served, self.batch_size)
            if position == 0:
                if self.current is not None:
                    self.states[self.current] = random.getstate()
                self.current = batch % self.workers
                random.setstate(self.states[self.current])
        self.served += 1
        return self.feeder[index]


def _clean_batches(feeder: Dataset, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Deterministic batches without a DataLoader (which would draw a seed from torch's RNG)."""
    for start in range(0, len(feeder), batch_size):
        items = [feeder[i] for i in range(start, min(start + batch_size, len(feeder)))]
        yield torch.from_numpy(np.stack([x for x, _, _ in items])).float(), torch.tensor([y for _, y, _ in items])


# =========================================================================== one epoch
@dataclass
class Clock:
    cpu: float = 0.0
    wall: float = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        c, w = time.process_time(), time.perf_counter()
        yield
        self.cpu += time.process_time() - c
        self.wall += time.perf_counter() - w


def train_epoch(model, optimizer, loader, streams: WorkerStreams, lr: float) -> dict:
    """Processor.train: lr for the epoch, then CE + SGD over the augmented, repeated training set."""
    model.train()
    for group in optimizer.param_groups:
        group["lr"] = lr
    streams.new_epoch()
    losses, accs = [], []
    for data, label, _ in loader:
        data, label = data.float(), label.long()
        output = model(data)
        loss = torch.nn.functional.cross_entropy(output, label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        accs.append((output.detach().argmax(1) == label).float().mean().item())
    return {"lr": lr, "train_loss": float(np.mean(losses)), "train_acc_augmented": float(np.mean(accs))}


@torch.no_grad()
def evaluate(model, batches) -> dict:
    """Top-1 and mean batch loss (their eval) in eval mode."""
    model.eval()
    correct, total, losses = 0, 0, []
    for data, label, *_ in batches:
        output = model(data.float())
        losses.append(torch.nn.functional.cross_entropy(output, label.long()).item())
        correct += int((output.argmax(1) == label).sum())
        total += len(label)
    return {"acc": correct / total, "loss": float(np.mean(losses)), "clips": total}


# =========================================================================== the run
def run_authors(
    authors: types.SimpleNamespace,
    feeders: dict,
    recipe: AuthorsRecipe,
    *,
    seed: int,
    stop_after: int | None = None,
    budget_min: float | None = None,
    on_epoch=None,
) -> list[dict]:
    """Their training from `init_seed(seed)` for recipe.num_epoch epochs (or fewer: stop_after, budget)."""
    init_seed(seed)
    model = authors.Model(**recipe.model_args)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.base_lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )
    streams = WorkerStreams(feeders["train"], recipe.batch_size, recipe.num_worker)
    train_loader = DataLoader(streams, batch_size=recipe.batch_size, shuffle=True, num_workers=0, drop_last=True)
    test_loader = DataLoader(feeders["test"], batch_size=recipe.test_batch_size, shuffle=False, num_workers=0)
    epochs: list[dict] = []
    started = time.perf_counter()
    last = recipe.num_epoch if stop_after is None else min(recipe.num_epoch, stop_after)
    for epoch in range(last):
        clocks = {name: Clock() for name in ("train", "test", "clean")}
        with clocks["train"].measure():
            row = train_epoch(model, optimizer, train_loader, streams, recipe.lr(epoch))
        with clocks["test"].measure():
            test = evaluate(model, test_loader)  # a DataLoader, as theirs: it draws one seed from torch's RNG
        with clocks["clean"].measure():
            clean = evaluate(model, _clean_batches(feeders["clean"], recipe.test_batch_size))
        row = {
            "epoch": epoch + 1,
            **row,
            "test_acc": test["acc"],
            "test_loss": test["loss"],
            "clean_train_acc": clean["acc"],
            "clean_train_loss": clean["loss"],
            "steps": len(train_loader),
            **{f"{k}_cpu_s": round(c.cpu, 2) for k, c in clocks.items()},
            **{f"{k}_wall_s": round(c.wall, 2) for k, c in clocks.items()},
            "load_avg_1min": round(os.getloadavg()[0], 2),
        }
        epochs.append(row)
        if on_epoch is not None:
            on_epoch(epochs)
        elapsed = time.perf_counter() - started
        if budget_min is not None and elapsed + elapsed / len(epochs) > 60 * budget_min:
            break
    return epochs


# =========================================================================== single clips
def authors_tensor(feeder, clip: int | str, seed: int) -> np.ndarray:
    """Their preprocessed clip (3, 52, 20, 1) float64, Python RNG seeded with `seed` first.

    clip: a position in the feeder's list or a file name such as "a01_s01_e01_v03".
    """
    if isinstance(clip, str):
        names = [item["file_name"] for item in feeder.data_dict]
        if clip not in names:
            raise KeyError(f"{clip}: not in their {feeder.train_val} list")
        clip = names.index(clip)
    random.seed(seed)
    return feeder[clip][0]


def authors_draws(length: int, seed: int, train: bool, frames: int = 52) -> dict:
    """The draws their `__getitem__` makes for a clip of `length` frames after random.seed(seed)."""
    rng = random.Random(seed)
    rng.random()  # their unused first draw
    if not train:
        return {"agx": 0, "agy": 0, "scale": 1.0, "frames": np.linspace(0, length - 1, frames).astype(int)}
    agx, agy = rng.randint(-60, 60), rng.randint(-60, 60)
    scale = rng.uniform(0.5, 1.5)
    # sample() of the list arange(length) * 100 depends only on its size; position p holds frame p % length
    picks = sorted(p % length for p in rng.sample(range(100 * length), frames))
    return {"agx": agx, "agy": agy, "scale": scale, "frames": np.asarray(picks)}


def reference_tensor(clip: np.ndarray, draws: dict) -> np.ndarray:
    """The notes' formulas, naively: clip (T, 20, 3) metres -> (3, 52, 20, 1).

    y = s * Rx(agx) * Ry(agy) * (x - x[0, spine]) per joint (column vectors, right-handed
    rotations), per-axis min-max over all frames and joints to [-1, 1], then the drawn frames.
    """
    ax, ay = math.radians(draws["agx"]), math.radians(draws["agy"])
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    x = clip.astype(np.float64) - clip[0, 1]
    y = np.einsum("ij,tvj->tvi", draws["scale"] * rx @ ry, x)
    lo, hi = y.min(axis=(0, 1)), y.max(axis=(0, 1))
    y = (y - lo) / (hi - lo) * 2 - 1
    return y[draws["frames"]].transpose(2, 0, 1)[..., None]


def check_preprocessing(feeders: dict, seeds=(0, 1, 7), clips=(0, 1, 2, 500, 1019)) -> float:
    """Max |their feeder - reference_tensor| over some clips, seeds, train and test branches."""
    worst = 0.0
    for part, train in (("train", True), ("test", False), ("clean", False)):
        feeder = feeders[part]
        for index in clips:
            index = index % len(feeder.data)
            for seed in seeds:
                theirs = authors_tensor(feeder, index, seed)
                draws = authors_draws(len(feeder.data[index]), seed, train)
                worst = max(worst, float(np.abs(theirs - reference_tensor(feeder.data[index], draws)).max()))
    return worst


def _worker_init(worker_id: int) -> None:
    init_seed(worker_id)  # what their worker_init_fn=init_seed does


def check_worker_streams(feeders: dict, seed: int = 0, workers: int = 4, batch_size: int = 16) -> bool:
    """`WorkerStreams` against a real DataLoader with `workers` processes and their worker_init_fn:
    the same indices and bit-identical batches over 2.75 cycles of workers."""

    def first(loader, n: int) -> list:
        out = []
        for x, _, index in loader:
            out.append((x, index))
            if len(out) == n:
                return out
        return out

    n = workers * 11 // 4
    torch.manual_seed(seed)
    real = DataLoader(
        feeders["train"],
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        worker_init_fn=_worker_init,
    )
    real = first(real, n)
    torch.manual_seed(seed)
    streams = WorkerStreams(feeders["train"], batch_size, workers)
    streams.new_epoch()
    mine = first(DataLoader(streams, batch_size=batch_size, shuffle=True, num_workers=0, drop_last=True), n)
    return len(real) == len(mine) == n and all(
        torch.equal(a[1], b[1]) and torch.equal(a[0], b[0]) for a, b in zip(real, mine)
    )


# =========================================================================== their weights -> ours
def authors_to_ours(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Their Model state -> (ssl_skel `ctrgcn` encoder state, classifier {weight, bias}).

    Names: l{i+1}.gcn1 -> blocks.{i}.gcn (PA -> topology, convs.k.conv1..4 -> convs.k.phi/psi/xi/lift),
    l{i+1}.tcn1 -> blocks.{i}.tcn (branches.{0,1}.3.{conv,bn} -> .3.{0,1}), l{i+1}.residual.{conv,bn}
    -> blocks.{i}.residual.{0,1}. Their convolutions directly before a batch norm carry a bias that
    ours lack; it is folded into that norm's running mean (exact in eval mode; in training mode
    batch norm removes it anyway).
    """
    renames = [
        (".gcn1.PA", ".gcn.topology"),
        (".gcn1.", ".gcn."),
        (".tcn1.", ".tcn."),
        (".conv1.", ".phi."),
        (".conv2.", ".psi."),
        (".conv3.", ".xi."),
        (".conv4.", ".lift."),
        (".3.conv.", ".3.0."),
        (".3.bn.", ".3.1."),
        (".residual.conv.", ".residual.0."),
        (".residual.bn.", ".residual.1."),
    ]
    ours, head = {}, {}
    for key, value in state.items():
        if key.startswith("fc."):
            head[key[3:]] = value.clone()
            continue
        name = key
        if name.startswith("l"):
            layer, rest = name.split(".", 1)
            name = f"blocks.{int(layer[1:]) - 1}.{rest}"
        for old, new in renames:
            name = name.replace(old, new)
        ours[name] = value.clone()
    for name in [k for k in ours if k.endswith(".bias")]:
        prefix = name[: -len(".bias")]
        if prefix.endswith(".0") and f"{prefix[:-2]}.1.running_mean" in ours and f"{prefix}.weight" in ours:
            if ours[f"{prefix}.weight"].ndim == 4:  # a convolution feeding a batch norm
                ours[f"{prefix[:-2]}.1.running_mean"] -= ours.pop(name)
    return ours, head


def forward_parity(
    authors: types.SimpleNamespace, seed: int = 0, clips: int = 4, dtype: torch.dtype = torch.float64
) -> dict:
    """Their Model (random weights and BN statistics) vs ssl_skel's ctrgcn on the mapped weights, eval mode.

    float64 by default: 10 blocks with random statistics amplify float32 rounding (1e-7 per block)
    to about 1e-4 relative, which would hide a small real mismatch.
    """
    from ssl_skel.models.encoders import InputSpec, build_encoder

    torch.manual_seed(seed)
    theirs = authors.Model(**AuthorsRecipe().model_args)
    with torch.no_grad():  # away from the initial values, so that every mapped tensor matters
        for module in theirs.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.0)
                module.bias.normal_(0, 0.1)
            if isinstance(module, torch.nn.Conv2d) and module.bias is not None:
                module.bias.normal_(0, 0.1)
        for name, p in theirs.named_parameters():
            if name.endswith("alpha"):
                p.fill_(0.1)
    theirs = theirs.to(dtype).eval()  # before mapping: the bias folding is then done in `dtype` too
    ours = build_encoder("ctrgcn", {}, InputSpec("kinect20", 3, 1, 52)).to(dtype).eval()
    state, head = authors_to_ours(theirs.state_dict())
    ours.load_state_dict(state, strict=True)
    features = {}

    def keep_input(module, inputs, output) -> None:  # returns None: the output is left alone
        features["x"] = inputs[0]

    theirs.fc.register_forward_hook(keep_input)
    x = torch.randn(clips, 3, 52, 20, 1, dtype=dtype)
    with torch.no_grad():
        logits = theirs(x)
        mine = ours(x)
        my_logits = mine @ head["weight"].T + head["bias"]
    return {
        "dtype": str(dtype),
        "feature_max_abs": float(features["x"].abs().max()),
        "feature_max_abs_diff": float((mine - features["x"]).abs().max()),
        "logit_max_abs": float(logits.abs().max()),
        "logit_max_abs_diff": float((my_logits - logits).abs().max()),
        "their_parameters": sum(p.numel() for p in theirs.parameters()),
        "our_parameters_plus_head": ours.num_parameters() + sum(v.numel() for v in head.values()),
    }


# =========================================================================== command line
def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ctrgcn", type=Path, required=True, help="local checkout of Uason-Chen/CTR-GCN")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ucla", type=Path, help="raw NW-UCLA: all_sqe/*.json + train_split.json + val_split.json")
    src.add_argument("--converted", type=Path, help="a folder written by `ssl-skel gendata ucla`")
    p.add_argument("--seed", type=int, default=AuthorsRecipe.seed, help="their --seed (main.py default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (intra- and inter-op)")
    p.add_argument("--epochs", type=int, default=AuthorsRecipe.num_epoch, help="schedule length (their num_epoch)")
    p.add_argument("--steps", type=int, nargs="*", default=list(AuthorsRecipe.step), help="epochs where lr *= 0.1")
    p.add_argument("--warm-up", type=int, default=AuthorsRecipe.warm_up_epoch, help="warm-up epochs")
    p.add_argument("--repeat", type=int, default=AuthorsRecipe.repeat, help="training set repeats per epoch")
    p.add_argument("--workers", type=int, default=AuthorsRecipe.num_worker, help="their num_worker (RNG streams)")
    p.add_argument("--stop-after", type=int, help="stop after this many epochs (the schedule stays --epochs long)")
    p.add_argument("--budget-min", type=float, help="stop when the next epoch would end after this many minutes")
    p.add_argument("--out", type=Path, help="per-epoch JSON (rewritten after every epoch)")
    p.add_argument("--check", action="store_true", help="only check preprocessing and forward parity, then exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    recipe = AuthorsRecipe(
        num_epoch=args.epochs,
        step=tuple(args.steps),
        warm_up_epoch=args.warm_up,
        repeat=args.repeat,
        num_worker=args.workers,
        seed=args.seed,
    )
    authors = import_authors(args.ctrgcn)
    with tempfile.TemporaryDirectory(prefix="ctrgcn_ucla_") as tmp:
        staged = stage_ucla(Path(tmp), raw=args.ucla, converted=args.converted)
        feeders = build_feeders(authors, Path(tmp), recipe)
    check_lists(staged, [feeders["train"], feeders["test"]])
    preprocessing = check_preprocessing(feeders)
    print(f"their feeder vs the notes' formulas: max |diff| {preprocessing:.2e}", flush=True)
    if args.check:
        print("one-process worker streams == a real 4-worker DataLoader:", check_worker_streams(feeders), flush=True)
        print("forward parity:", json.dumps(forward_parity(authors)), flush=True)
        return 0
    meta = {
        "what": "the authors' CTR-GCN NW-UCLA recipe: their Model, Feeder and loop logic on CPU",
        "checkout": checkout_state(authors.root),
        "data": str(args.ucla or args.converted),
        "recipe": asdict(recipe),
        "seed": args.seed,
        "threads": args.threads,
        "stop_after": args.stop_after,
        "budget_min": args.budget_min,
        "train_clips": len(feeders["train"].data),
        "train_items_per_epoch": len(feeders["train"]),
        "test_clips": len(feeders["test"]),
        "preprocessing_vs_formulas_max_abs": preprocessing,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "command": " ".join(sys.argv),
    }

    def report(epochs: list[dict]) -> None:
        e = epochs[-1]
        print(
            f"epoch {e['epoch']:3d} lr {e['lr']:.4f} loss {e['train_loss']:.4f}"
            f" aug-train {e['train_acc_augmented']:.4f}"
            f" test {e['test_acc']:.4f} clean-train {e['clean_train_acc']:.4f} | train {e['train_cpu_s']:.0f} cpu-s"
            f" {e['train_wall_s']:.0f} wall-s, test {e['test_cpu_s']:.0f}, clean {e['clean_cpu_s']:.0f} cpu-s",
            flush=True,
        )
        if args.out:
            _write_json(args.out, {"meta": meta, "epochs": epochs})

    run_authors(
        authors,
        feeders,
        recipe,
        seed=args.seed,
        stop_after=args.stop_after,
        budget_min=args.budget_min,
        on_epoch=report,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
