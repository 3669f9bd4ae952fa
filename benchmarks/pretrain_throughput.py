"""Training-step throughput of UmURL pretraining, side by side with the authors' code.

    python benchmarks/pretrain_throughput.py --reference /path/to/UmURL [--batch 128] [--steps 2] [--rounds 2]
    python benchmarks/pretrain_throughput.py                      # ours only (+ the matmul probe)

Why side by side: on a shared machine a figure from another run (another day, another
load) says nothing about a speed-up. With `--reference PATH` (a local checkout of
HuiGuanLab/UmURL; nothing is downloaded, none of its code is copied) the authors' `umurl.UmURL`
and their loss (`pretrain.vc_reg` and the MSE terms of their `train()`, fp32 as on a CPU,
their Adam) run in a worker process next to ours (unified encoder + umurl objective + fused
AdamW, as the trainer builds them), on the same random batch shapes (4 views of
(N, 3, 64, 25, 2)). Rounds alternate between the two workers and a 4096^2 fp32 matmul probe,
so all three see the same load. Printed: clips/s and CPU-s per clip per round, the ratio, FLOPs
per clip per step (counted with FlopCounterMode over a whole step, forward + backward, on a
small batch where our attention runs unfolded: the model's FLOPs, the same maths on both sides),
achieved GFLOP/s as a fraction of the probe, and each worker's peak RSS.
The pretraining loaders are timed side by side by `benchmarks/feeder_speed.py` (the one loader
measurement: same arrays, same clip order, collation as each trainer consumes the batches).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import side_by_side as sbs  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", default=None, help="local checkout of HuiGuanLab/UmURL: run it side by side")
    p.add_argument("--batch", type=int, default=128, help="clips per step (NTU-60 preset: 128)")
    p.add_argument("--steps", type=int, default=2, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (with --reference)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (the second CPU step is still slow)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--amp", default="auto", choices=["auto", "on", "off"], help="auto: bf16 on CUDA, off on CPU")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the method (experimental)")
    p.add_argument("--layout", default="ntu25")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--persons", type=int, default=2)
    p.add_argument("--clip-length", type=int, default=64)
    p.add_argument("--views", type=int, default=4, choices=[2, 4], help="NTU-60 preset: 4 (same FLOPs as 2)")
    p.add_argument("--encoder-params", default="{}", help="JSON overrides of the unified encoder's params")
    p.add_argument("--method-params", default="{}", help="JSON overrides of the umurl objective's params")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="ablation of ours: streams one at a time, torch layers, lightly's covariance loss, default AdamW",
    )
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument("--worker", default=None, choices=["ours", "reference"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def random_views(args: argparse.Namespace, n: int, joints: int = 25) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shape = (n, args.channels, args.clip_length, joints, args.persons)
    return [torch.randn(shape, generator=g) for _ in range(args.views)]


# --------------------------------------------------------------------------- ours
def use_baseline_execution(method: torch.nn.Module) -> None:
    """Ablation: torch.nn.TransformerEncoderLayer, one transformer call per stream, lightly's
    masked covariance (same parameter count and FLOPs)."""
    from lightly.loss.vicreg_loss import covariance_loss

    import ssl_skel.objectives.umurl as umurl

    encoder = method.encoder
    for stack in (encoder.temporal, encoder.spatial):
        for i, layer in enumerate(stack.layers):
            stack.layers[i] = torch.nn.TransformerEncoderLayer(
                layer.qkv.in_features, layer.heads, layer.ff1.out_features, dropout=layer.dropout, batch_first=True
            )
    batched = encoder.forward_streams
    encoder.forward_streams = lambda streams: [f for s in streams for f in batched([s])]
    umurl.covariance_term = covariance_loss


class Ours:
    """Our training step as the trainer runs it: method(batch)["loss"], backward, fused AdamW."""

    def __init__(self, args: argparse.Namespace) -> None:
        from ssl_skel.models.encoders import InputSpec, build_encoder
        from ssl_skel.objectives import build_method

        self.device = torch.device(args.device)
        use_amp = args.amp == "on" or (args.amp == "auto" and self.device.type == "cuda")
        self.autocast = (
            (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext
        )
        self.amp = "bf16" if use_amp else "off (fp32)"
        torch.manual_seed(0)
        spec = InputSpec(args.layout, args.channels, args.persons, args.clip_length)
        encoder = build_encoder("unified", json.loads(args.encoder_params), spec)
        self.method = build_method("umurl", json.loads(args.method_params), encoder).to(self.device).train()
        if args.baseline:
            use_baseline_execution(self.method)
        fused = not args.baseline
        self.optimizer = torch.optim.AdamW(self.method.parameters(), lr=1e-4, weight_decay=1e-5, fused=fused or None)
        self.params = sum(p.numel() for p in self.method.parameters())
        self.step_fn = torch.compile(self.method) if args.compile else self.method
        joints = spec.skeleton.num_joints
        self.execution = (
            "baseline (torch layers, per-stream, masked cov, default AdamW)" if args.baseline else "ssl_skel"
        )

        def batch(n: int) -> dict:
            views = [v.to(self.device) for v in random_views(args, n, joints)]
            return {"views": views, "label": torch.zeros(n, dtype=torch.int64), "index": torch.arange(n)}

        small = batch(4)  # FLOPs scale linearly with the batch (the covariance too): count a small one

        def counted() -> None:
            with self.autocast():
                loss = self.method(small)["loss"]
            loss.backward()

        from ssl_skel.models.encoders.flops import count_flops

        self.flops_per_clip = count_flops(counted) / 4
        self.method.zero_grad(set_to_none=True)
        self.batch = batch(args.batch)

    def step(self) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.step_fn(self.batch)["loss"]
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


# --------------------------------------------------------------------------- the authors'
class Reference:
    """The authors' step: `umurl.UmURL` forward on 4 views, their loss, their Adam (pretrain.py)."""

    def __init__(self, args: argparse.Namespace) -> None:
        sys.path.insert(0, str(Path(args.reference).resolve()))
        import pretrain  # their module: argparse parser built, not parsed; gives vc_reg
        from umurl import UmURL

        if (args.layout, args.views) != ("ntu25", 4):
            raise SystemExit("--reference: the authors' model is fixed to NTU-25 joints and 4 views")
        enc = json.loads(args.encoder_params)
        hidden = enc.get("hidden_size", 1024)
        c, t, m = args.channels, args.clip_length, args.persons
        torch.manual_seed(0)
        self.model = UmURL(
            t_input_size=m * 25 * c,
            s_input_size=t * c,
            hidden_size=hidden,
            num_head=enc.get("num_heads", 1),
            num_layer=enc.get("num_layers", 1),
            num_class=128,
        ).train()
        if json.loads(args.method_params).get("proj_output_dim", 4096) != 4096:
            raise SystemExit("--reference: the authors' projectors are fixed to 4096 outputs")
        self.vc_reg = pretrain.vc_reg
        self.mse = torch.nn.MSELoss()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=5e-4, weight_decay=1e-5)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.amp = "off (fp32)"
        self.execution = f"authors' code ({Path(args.reference).name})"
        from torch.utils.flop_counter import FlopCounterMode

        small = random_views(args, 4)
        with FlopCounterMode(display=False) as counter:
            self.loss(small).backward()
        self.flops_per_clip = counter.get_total_flops() / 4
        self.model.zero_grad(set_to_none=True)
        self.batch = random_views(args, args.batch)

    def loss(self, views: list[torch.Tensor]) -> torch.Tensor:
        # their train(): 5 * (intra + inter) + sum of vc_reg over the six embeddings (pretrain.py)
        z_j, z_b, z_m, z_uj, z_ub, z_um = self.model(*views)
        mse = self.mse
        intra = mse(z_j, z_uj) + mse(z_b, z_ub) + mse(z_m, z_um)
        centre = (z_j + z_b + z_m) / 3
        inter = mse(z_j, centre) + mse(z_b, centre) + mse(z_m, centre)
        reg = sum(self.vc_reg(z) for z in (z_j, z_b, z_m, z_uj, z_ub, z_um))
        return 5 * (intra + inter) + reg

    def step(self) -> float:
        self.optimizer.zero_grad()
        loss = self.loss(self.batch)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


# --------------------------------------------------------------------------- worker and driver
def worker(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    side = Ours(args) if args.worker == "ours" else Reference(args)
    for _ in range(args.warmup):
        side.step()

    def steps(n: int) -> dict:
        times, cpu = [], []
        loss = float("nan")
        for _ in range(n):
            t, c = time.perf_counter(), time.process_time()
            loss = side.step()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return {"times": times, "cpu": cpu, "loss": loss}

    ready = {
        "execution": side.execution,
        "params": side.params,
        "flops_per_clip": side.flops_per_clip,
        "amp": side.amp,
        "threads": torch.get_num_threads(),
    }
    return sbs.serve({"steps": steps}, ready)


def _argv_for_worker(argv: list[str], name: str) -> list[str]:
    return [str(Path(__file__).resolve()), *argv, "--worker", name]


def side_by_side(args: argparse.Namespace, argv: list[str]) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    workers = [
        sbs.Worker(_argv_for_worker(argv, "ours"), "ours"),
        sbs.Worker(_argv_for_worker(argv, "reference"), "reference", extra_path=str(Path(args.reference).resolve())),
    ]
    run = sbs.alternate(workers, args.rounds, "steps", n=args.steps)
    final = {w.name: w.close() for w in workers}
    probe = sbs.median(run["probe_gflops"])
    out = {
        "command": "python benchmarks/pretrain_throughput.py " + " ".join(argv),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": sbs.describe_machine(torch.get_num_threads()),
        "batch": args.batch,
        "probe_gflops": [round(p, 1) for p in run["probe_gflops"]],
        "sides": {},
    }
    for w in workers:
        r = run["rounds"][w.name]
        clips = [args.batch / sbs.median(x["times"]) for x in r]
        cpu = [min(x["cpu"]) / args.batch for x in r]
        rate = sbs.median([args.batch / t for x in r for t in x["times"]])
        flops = w.ready["flops_per_clip"]
        out["sides"][w.name] = {
            "execution": w.ready["execution"],
            "params_M": round(w.ready["params"] / 1e6, 2),
            "gflop_per_clip_step": round(flops / 1e9, 2),
            "clips_per_s_rounds": [round(c, 2) for c in clips],
            "clips_per_s": round(rate, 2),
            "cpu_s_per_clip_rounds": [round(c, 4) for c in cpu],
            "fraction_of_probe": round(flops * rate / 1e9 / probe, 3),
            "peak_rss_gib": round(final[w.name]["peak_rss_gib"], 2),
            "last_loss": round(r[-1]["loss"], 4),
        }
    ours, ref = out["sides"]["ours"], out["sides"]["reference"]
    out["ratio_clips_per_s"] = round(ours["clips_per_s"] / ref["clips_per_s"], 3)
    out["ratio_cpu_s_per_clip"] = round(
        sbs.median(ref["cpu_s_per_clip_rounds"]) / sbs.median(ours["cpu_s_per_clip_rounds"]), 3
    )
    return out


def print_side_by_side(out: dict) -> None:
    print(f"{out['command']}\n{out['date']}; {out['machine']}; batch {out['batch']}, fp32")
    print(f"4096^2 fp32 matmul probe, GFLOP/s per round: {out['probe_gflops']}")
    print(
        "| side | clips/s per round | CPU-s per clip per round | model GFLOP per clip-step | fraction of probe "
        "| peak RSS GiB"
    )
    print("|---|---|---|---:|---:|---:")
    for s in out["sides"].values():
        print(
            f"| {s['execution']} | {', '.join(map(str, s['clips_per_s_rounds']))} | "
            f"{', '.join(map(str, s['cpu_s_per_clip_rounds']))} | {s['gflop_per_clip_step']} | "
            f"{s['fraction_of_probe']} | {s['peak_rss_gib']}"
        )
    print(f"ratio ours / authors': clips/s {out['ratio_clips_per_s']}x, CPU-s per clip {out['ratio_cpu_s_per_clip']}x")


def ours_only(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    side = Ours(args)
    for _ in range(args.warmup):
        side.step()
    times, cpu = [], []
    loss = float("nan")
    for _ in range(args.steps):
        t, c = time.perf_counter(), time.process_time()
        loss = side.step()
        if side.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    probe = sbs.matmul_probe() if side.device.type == "cpu" else float("nan")
    rate = args.batch / sbs.median(times)
    figures = {
        "execution": side.execution,
        "amp": side.amp,
        "batch": args.batch,
        "views": args.views,
        "threads": torch.get_num_threads(),
        "params_M": round(side.params / 1e6, 2),
        "gflop_per_clip_step": round(side.flops_per_clip / 1e9, 2),
        "step_s_all": [round(t, 3) for t in times],
        "clips_per_s": round(rate, 2),
        "cpu_s_per_clip": round(min(cpu) / args.batch, 4),
        "probe_gflops": round(probe, 1),
        "fraction_of_probe": round(side.flops_per_clip * rate / 1e9 / probe, 3),
        "peak_rss_gib": round(sbs.peak_rss_gib(), 2),
        "last_loss": round(loss, 4),
    }
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    return figures


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.reference:
        if not (Path(args.reference) / "umurl.py").exists():
            raise SystemExit(f"--reference {args.reference}: no umurl.py (expected a checkout of HuiGuanLab/UmURL)")
        out = side_by_side(args, argv)
        print_side_by_side(out)
    else:
        out = ours_only(args)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
