"""SkeletonCLR: InfoNCE against hand/numpy values, FIFO queue, momentum EMA, DDP gathering."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from ssl_skel.core.config import ConfigError
from ssl_skel.data.modalities import bone
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder
from ssl_skel.objectives import build_method
from ssl_skel.objectives.skeletonclr import SkeletonCLR, SkeletonCLRParams, embed_std

SPEC = InputSpec("ntu25", 3, 2, 6)


class LinearEncoder(SkeletonEncoder):
    """Deterministic toy encoder (no BN, no dropout): mean coordinates -> linear map."""

    def __init__(self, spec: InputSpec = SPEC, dim: int = 4) -> None:
        super().__init__(spec)
        self.dim = dim
        self.modalities = ("joint", "bone")
        self.proj = nn.Linear(spec.in_channels, dim)

    def forward_modalities(self, x, modalities):
        self.check_modalities(modalities)
        self.check_input(x)
        streams = {"joint": x, "bone": bone(x, self.layout)}
        return {m: self.proj(streams[m].mean(dim=(2, 3, 4))) for m in modalities}


def views(n: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "views": [torch.randn(n, 3, 6, 25, 2, generator=g) for _ in range(2)],
        "label": torch.zeros(n, dtype=torch.long),
        "index": torch.arange(n),
    }


def make(seed: int = 0, **params) -> SkeletonCLR:
    torch.manual_seed(seed)
    defaults = {"queue_size": 8, "proj_dim": 3, "temperature": 0.2, "momentum": 0.9}
    return build_method("skeletonclr", {**defaults, **params}, LinearEncoder())


def numpy_infonce(q: np.ndarray, k: np.ndarray, queue: np.ndarray, tau: float) -> float:
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    k = k / np.linalg.norm(k, axis=1, keepdims=True)
    logits = np.concatenate([(q * k).sum(1, keepdims=True), q @ queue.T], axis=1) / tau
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_z - logits[:, 0]))


def query_and_key(method: SkeletonCLR, batch: dict) -> tuple[np.ndarray, np.ndarray]:
    b = method.branch
    with torch.no_grad():
        q = b.projector(method.encoder(batch["views"][0], b.modality))
        k = b.momentum_projector(b.momentum_backbone(batch["views"][1], b.modality))
    return q.double().numpy(), k.double().numpy()


# --------------------------------------------------------------------------- loss
def test_infonce_on_a_two_dimensional_hand_example():
    method = make(queue_size=2, proj_dim=2, temperature=1.0)
    crit = method.branch.criterion
    crit.memory_bank.bank.copy_(torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))
    q = torch.tensor([[2.0, 0.0]], requires_grad=True)  # normalised to (1, 0)
    k = torch.tensor([[1.0, 0.0]])
    # logits: q.k = 1, q.Q = (0, -1)  ->  -log(e / (e + 1 + 1/e))
    expected = math.log(math.e + 1 + 1 / math.e) - 1
    assert crit(q, k).item() == pytest.approx(expected, rel=1e-6)


def test_loss_matches_numpy_infonce_and_queue_is_fifo():
    method = make()
    assert method.branch.queue.shape == (8, 3)
    for step, ptr_after in enumerate([4, 0, 4]):
        batch = views(4, seed=step)
        queue_before = method.branch.queue.clone().double().numpy()
        q, k = query_and_key(method, batch)
        out = method(batch)
        assert out["loss"].item() == pytest.approx(numpy_infonce(q, k, queue_before, 0.2), rel=1e-5)
        assert out["loss/infonce"].item() == pytest.approx(out["loss"].item())
        # the batch's normalised keys replace the oldest entries
        k_norm = k / np.linalg.norm(k, axis=1, keepdims=True)
        start = (step * 4) % 8
        np.testing.assert_allclose(method.branch.queue[start : start + 4].numpy(), k_norm, rtol=1e-5, atol=1e-6)
        untouched = [i for i in range(8) if not start <= i < start + 4]
        np.testing.assert_array_equal(method.branch.queue[untouched].double().numpy(), queue_before[untouched])
        assert method.branch.queue_ptr == ptr_after


def test_no_enqueue_without_gradients():
    method = make()
    before = method.branch.queue.clone()
    with torch.no_grad():
        method(views())
    assert method.branch.queue_ptr == 0
    torch.testing.assert_close(method.branch.queue, before)


def test_queue_lives_in_the_state_dict():
    method = make(seed=0)
    method(views(4, seed=5))
    state = method.state_dict()
    assert {"branch.criterion.memory_bank.bank", "branch.criterion.memory_bank.bank_ptr"} <= set(state)
    fresh = make(seed=1)
    assert not torch.equal(fresh.branch.queue, method.branch.queue)
    fresh.load_state_dict(state)  # strict
    torch.testing.assert_close(fresh.branch.queue, method.branch.queue)
    assert fresh.branch.queue_ptr == 4


def test_encoder_prefix_holds_only_the_online_encoder():
    method = make()
    assert method.encoder is not method.branch.momentum_backbone
    enc_keys = {k for k in method.state_dict() if k.startswith("encoder.")}
    assert enc_keys == {f"encoder.{k}" for k in method.encoder.state_dict()}
    assert "branch.momentum_backbone.proj.weight" in method.state_dict()


def test_embed_std_hand_values():
    # columns (1, 0) and (0, 1): each has sample std sqrt(1/2)
    assert embed_std(torch.tensor([[3.0, 0.0], [0.0, 2.0]])).item() == pytest.approx(math.sqrt(0.5))
    assert embed_std(torch.ones(5, 4)).item() == 0.0
    out = make()(views())
    assert 0 <= out["stat/embed_std"].item() <= 1


def test_loss_is_fp32_under_autocast():
    method = make()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = method(views())
    assert out["loss"].dtype == torch.float32
    assert method.branch.queue.dtype == torch.float32 and method.branch.queue_ptr == 4


# --------------------------------------------------------------------------- momentum
def test_momentum_encoder_moves_by_the_ema_formula_and_gets_no_gradients():
    method = make(momentum=0.9)
    b = method.branch
    online = list(method.encoder.parameters()) + list(b.projector.parameters())
    momentum = list(b.momentum_backbone.parameters()) + list(b.momentum_projector.parameters())
    for p, pm in zip(online, momentum):
        torch.testing.assert_close(p, pm)  # starts as a copy
        assert not pm.requires_grad
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.5)
    method(views())["loss"].backward()
    assert all(pm.grad is None for pm in momentum)
    assert all(p.grad is not None for p in online)
    before = [pm.clone() for pm in momentum]
    opt.step()
    method.on_step_end(0, 10)
    moved = False
    for p, pm, old in zip(online, momentum, before):
        torch.testing.assert_close(pm, 0.9 * old + 0.1 * p)
        moved = moved or not torch.allclose(pm, old)
    assert moved


def test_momentum_schedules():
    constant = make(momentum=0.99).branch
    assert constant.momentum_at(0, 100) == constant.momentum_at(99, 100) == 0.99
    cosine = make(momentum=0.9, momentum_schedule="cosine").branch
    assert cosine.momentum_at(0, 10) == pytest.approx(0.9)
    # lightly's cosine_schedule reaches the end value at step max_steps - 1
    assert cosine.momentum_at(5, 10) == pytest.approx(0.9 + 0.1 * (1 - math.cos(math.pi * 5 / 9)) / 2)
    assert cosine.momentum_at(9, 10) == pytest.approx(1.0)
    assert cosine.momentum_at(10, 10) == pytest.approx(1.0)


# --------------------------------------------------------------------------- modality and errors
def test_modality_selects_the_encoder_output():
    method = make(modality="bone")
    assert method.branch.modality == "bone"
    batch = views()
    q, k = query_and_key(method, batch)
    with torch.no_grad():
        q_bone = method.branch.projector(method.encoder(batch["views"][0], "bone")).double().numpy()
    np.testing.assert_allclose(q, q_bone)
    queue = method.branch.queue.clone().double().numpy()
    assert method(batch)["loss"].item() == pytest.approx(numpy_infonce(q, k, queue, 0.2), rel=1e-5)
    assert make().branch.modality == "joint"  # the encoder's default


def test_bad_modality_and_too_few_views():
    with pytest.raises(ConfigError, match="objective.params.modality: 'motion'"):
        make(modality="motion")
    batch = views()
    batch["views"] = batch["views"][:1]
    with pytest.raises(ValueError, match="needs 2 views.*num_views"):
        make()(batch)


def test_params_defaults_are_skeletonclr():
    p = SkeletonCLRParams()
    assert (p.queue_size, p.momentum, p.temperature, p.proj_dim) == (32768, 0.999, 0.07, 128)


def test_trains_on_a_real_backbone():
    """A few SGD steps on a tiny ST-GCN: finite loss, gradients reach the backbone."""
    from ssl_skel.models.encoders import build_encoder

    torch.manual_seed(0)
    enc = build_encoder("stgcn", {"base_channels": 4, "out_channels": 8, "num_layers": 3}, SPEC)
    method = build_method("skeletonclr", {"queue_size": 16, "proj_dim": 4}, enc)
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1)
    for step in range(3):
        out = method(views(4, seed=step))
        opt.zero_grad()
        out["loss"].backward()
        assert all(p.grad is not None for p in enc.parameters())
        opt.step()
        method.on_step_end(step, 3)
        assert torch.isfinite(out["loss"])
    assert method.branch.queue_ptr == 12


# --------------------------------------------------------------------------- DDP
def _ddp_worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        method = make(seed=0)  # same weights and queue on both ranks
        batch = views(2, seed=10 + rank)  # different data per rank
        _, k = query_and_key(method, batch)
        method(batch)
        torch.save(
            {"queue": method.branch.queue.clone(), "ptr": method.branch.queue_ptr, "keys": torch.from_numpy(k)},
            f"{out_dir}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes: ~30 s on 2 busy cores
def test_ddp_queue_holds_the_keys_of_every_rank(tmp_path):
    mp.spawn(_ddp_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    torch.testing.assert_close(r0["queue"], r1["queue"])  # ranks keep identical queues
    assert r0["ptr"] == r1["ptr"] == 4  # 2 ranks x 2 keys
    keys = torch.cat([r0["keys"], r1["keys"]]).float()
    torch.testing.assert_close(r0["queue"][:4], torch.nn.functional.normalize(keys, dim=1))
