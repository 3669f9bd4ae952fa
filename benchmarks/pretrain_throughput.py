"""Training-step throughput of UmURL pretraining (unified encoder + umurl objective).

Why: the unified encoder's promise is one forward for all modalities at about the cost of
one single-stream model; this measures what a full training step (both views forward,
loss, backward, AdamW step) achieves on this machine, at the NTU-60 preset's shapes.

    python benchmarks/pretrain_throughput.py [--batch 128] [--steps 3] [--device cpu|cuda]

Prints parameters, FLOPs per clip per training step (counted with FlopCounterMode over a
whole step: forward + backward matrix products), clips/s, achieved GFLOP/s, the fraction
of `--peak-gflops` (default 200: fp32 matmul peak of 2 CPU cores), and peak memory.

Wall-clock timings on a shared machine are noisy: re-measure on a quiet one before
quoting. On CPU the process's CPU time per clip is also printed (with `--threads 1` it
does not count time spent waiting for other processes), next to a matrix-product probe run
in the same process (`probe_gflops_per_thread`), so efficiency can be judged even when the
machine is busy. `--baseline` times the same model the way the authors' code runs it
(torch.nn.TransformerEncoderLayer, each stream through the transformer separately,
lightly's masked covariance loss, PyTorch's default AdamW) for an A/B comparison under the same conditions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import time

import torch

from ssl_skel.models.encoders import InputSpec, build_encoder
from ssl_skel.models.encoders.flops import count_flops
from ssl_skel.objectives import build_method


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=128, help="clips per step (NTU-60 preset: 128)")
    p.add_argument("--steps", type=int, default=3, help="timed steps")
    p.add_argument(
        "--warmup", type=int, default=2, help="untimed steps first (2 needed: the second step is still slow on CPU)"
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--amp", default="auto", choices=["auto", "on", "off"], help="auto: bf16 on CUDA, off on CPU")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    p.add_argument("--peak-gflops", type=float, default=200.0, help="the device's fp32 matmul peak, GFLOP/s")
    p.add_argument("--compile", action="store_true", help="torch.compile the method (experimental)")
    p.add_argument("--layout", default="ntu25")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--persons", type=int, default=2)
    p.add_argument("--clip-length", type=int, default=64)
    p.add_argument("--views", type=int, default=4, choices=[2, 4], help="NTU-60 preset: 4 (same FLOPs as 2)")
    p.add_argument("--encoder-params", default="{}", help="JSON overrides of the unified encoder's params")
    p.add_argument(
        "--optimizer",
        default="fused",
        choices=["fused", "default"],
        help="AdamW implementation: fused kernel or PyTorch's default",
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="ablation: streams one at a time, lightly's covariance loss, default AdamW",
    )
    p.add_argument("--method-params", default="{}", help="JSON overrides of the umurl objective's params")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    return p.parse_args(argv)


def make_batch(args: argparse.Namespace, n: int, device: torch.device) -> dict:
    spec_v = InputSpec(args.layout, args.channels, args.persons, args.clip_length).skeleton.num_joints
    g = torch.Generator().manual_seed(0)
    shape = (n, args.channels, args.clip_length, spec_v, args.persons)
    views = [torch.randn(shape, generator=g).to(device) for _ in range(args.views)]
    return {"views": views, "label": torch.zeros(n, dtype=torch.int64), "index": torch.arange(n)}


def matmul_probe(device: torch.device, size: int = 1024, rows: int = 4096) -> float:
    """Best-of-5 fp32 GFLOP/s of a (rows, size) @ (size, size) product, per thread on CPU."""
    a = torch.randn(rows, size, device=device)
    w = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(6):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ w
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    return 2 * rows * size * size / best / 1e9 / threads


def use_baseline_execution(method: torch.nn.Module) -> None:
    """Run the model as the authors' code does: torch.nn.TransformerEncoderLayer, one transformer
    call per stream, lightly's masked covariance (same parameter count and FLOPs)."""
    from lightly.loss.vicreg_loss import covariance_loss

    import ssl_skel.objectives.umurl as umurl

    encoder = method.encoder
    for stack in (encoder.temporal, encoder.spatial):  # torch's post-norm layer, same sizes
        for i, layer in enumerate(stack.layers):
            stack.layers[i] = torch.nn.TransformerEncoderLayer(
                layer.qkv.in_features, layer.heads, layer.ff1.out_features, dropout=layer.dropout, batch_first=True
            )
    batched = encoder.forward_streams
    encoder.forward_streams = lambda streams: [f for s in streams for f in batched([s])]
    umurl.covariance_term = covariance_loss


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    use_amp = args.amp == "on" or (args.amp == "auto" and device.type == "cuda")
    amp_dtype = torch.bfloat16

    torch.manual_seed(0)
    spec = InputSpec(args.layout, args.channels, args.persons, args.clip_length)
    encoder = build_encoder("unified", json.loads(args.encoder_params), spec)
    method = build_method("umurl", json.loads(args.method_params), encoder).to(device).train()
    if args.baseline:
        use_baseline_execution(method)
    fused = args.optimizer == "fused" and not args.baseline
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-4, weight_decay=1e-5, fused=fused or None)
    params = sum(p.numel() for p in method.parameters())

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype) if use_amp else contextlib.nullcontext()

    step_fn = torch.compile(method) if args.compile else method

    def step(batch: dict) -> float:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = step_fn(batch)["loss"]
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    # FLOPs scale linearly with the batch (the covariance too), so count a small one
    count_n = 4
    small = make_batch(args, count_n, device)

    def counted() -> None:
        with autocast():
            loss = method(small)["loss"]
        loss.backward()

    flops_per_clip = count_flops(counted) / count_n
    method.zero_grad(set_to_none=True)

    batch = make_batch(args, args.batch, device)
    for _ in range(args.warmup):
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times = [], []
    for _ in range(args.steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    probe = matmul_probe(device)

    seconds = statistics.median(times)
    clips_s = args.batch / seconds
    gflops = flops_per_clip * clips_s / 1e9
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    figures = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "amp": str(amp_dtype).replace("torch.", "") if use_amp else "off (fp32)",
        "execution": "baseline (torch layers, per-stream, masked cov, default AdamW)"
        if args.baseline
        else f"batched streams, {args.optimizer} AdamW",
        "batch": args.batch,
        "views": args.views,
        "params_M": round(params / 1e6, 2),
        "gflop_per_clip_step": round(flops_per_clip / 1e9, 2),
        "step_s_median": round(seconds, 3),
        "step_s_all": [round(t, 3) for t in times],
        "clips_per_s": round(clips_s, 2),
        "achieved_gflops": round(gflops, 1),
        "fraction_of_peak": round(gflops / args.peak_gflops, 3),
        "peak_rss_gib": round(rss_gib, 2),
        "probe_gflops_per_thread": round(probe, 1),
        "last_loss": round(loss, 4),
    }
    if device.type == "cpu":
        cpu_s = min(cpu_times)
        figures["cpu_s_per_clip"] = round(cpu_s / args.batch, 4)
        figures["gflop_per_cpu_s"] = round(flops_per_clip * args.batch / cpu_s / 1e9, 1)
        figures["cpu_s_fraction_of_probe"] = round(flops_per_clip * args.batch / cpu_s / 1e9 / probe, 3)
    if device.type == "cuda":
        figures["cuda_max_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
