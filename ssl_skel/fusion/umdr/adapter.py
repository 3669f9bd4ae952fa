"""The UMDR fusion adapter: two stages (unimodal, fusion) over the decoupled networks and CFCer."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, embed_std, soft_cross_entropy
from ssl_skel.fusion.umdr.cfcer import CFCer
from ssl_skel.fusion.umdr.decoupled import DecoupledNet, rcm_distillation
from ssl_skel.fusion.umdr.mixing import mix_batch
from ssl_skel.fusion.umdr.params import UMDRParams


@ADAPTERS.register("umdr", params=UMDRParams)
class UMDR(FusionAdapter):
    streams = ("fused", "rgb", "depth", "pose")
    stages = ("all", "unimodal", "fusion")
    needs = ("rgb", "depth")

    @classmethod
    def encoder_used(cls, params: UMDRParams) -> bool:
        return params.use_skeleton

    def __init__(self, encoder, params: UMDRParams, num_classes: int, rgbd, **kwargs) -> None:
        self.uses_encoder = self.encoder_used(params)
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        if not (rgbd.use_rgb and rgbd.use_depth):
            raise ValueError("umdr fuses RGB and depth: set both data.rgb and data.depth")
        self.params = params
        self.streams = ("fused", "rgb", "depth") + (("pose",) if params.use_skeleton else ())
        f = rgbd.num_frames
        self.nets = nn.ModuleDict(
            {"rgb": DecoupledNet(3, f, num_classes, params), "depth": DecoupledNet(1, f, num_classes, params)}
        )
        self.cfcer = CFCer(f, num_classes, params)
        if params.use_skeleton:
            self.pose_head = Classifier(encoder.dim, num_classes)
        self.progress = 0.0  # share of the current stage's optimiser steps done
        self._rng = np.random.default_rng(0)

    def stage_modules(self, stage: str) -> Iterable[nn.Module]:
        if stage == "unimodal":
            return [self.nets] + ([self.encoder, self.pose_head] if self.params.use_skeleton else [])
        if stage == "fusion":
            return [self.cfcer]
        return [self]

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.progress = min(step / max(total_steps, 1), 1.0)

    def temperature(self) -> float:
        p = self.params
        share = min(self.progress / p.temp_warmup, 1.0) if p.temp_warmup > 0 else 1.0
        return p.temp_start + (p.temp_end - p.temp_start) * share

    def _unimodal(self, videos: dict[str, torch.Tensor]) -> dict[str, dict]:
        rng = self._rng if self.training else None
        t = self.temperature()
        if self.stage == "fusion":  # CFCer learns on fixed features, as the release's FeatureCapter
            with torch.no_grad():
                return {k: self.nets[k](v, t, rng) for k, v in videos.items()}
        return {k: self.nets[k](v, t, rng) for k, v in videos.items()}

    def _fuse(self, uni: dict[str, dict]):
        r, d = uni["rgb"], uni["depth"]
        return self.cfcer(r["tokens"], d["tokens"], r["temporal"], d["temporal"])

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        uni = self._unimodal({k: self.video(batch, k) for k in ("rgb", "depth")})
        out_m, out_k, _ = self._fuse(uni)
        out = {"rgb": uni["rgb"]["logits"], "depth": uni["depth"]["logits"]}
        scores = [out["rgb"], out["depth"], out_m, out_k]
        if self.params.use_skeleton:
            out["pose"] = self.pose_head(self.skeleton_features(batch))
            scores.append(out["pose"])
        out["fused"] = torch.stack(scores).mean(0)
        return out

    def extra_stats(self, batch: dict) -> dict[str, torch.Tensor]:
        """Per clip: CFCer's mean gates, and the logit spread over classes of each of the four
        averaged scores (the unimodal ones are divided by the temperature)."""
        uni = self._unimodal({k: self.video(batch, k) for k in ("rgb", "depth")})
        out_m, out_k, stats = self._fuse(uni)
        n = batch["label"].shape[0]
        out = {k: v.detach().expand(n) for k, v in stats.items()}
        out.update({"rgb_logit_std": uni["rgb"]["logits"].std(1), "depth_logit_std": uni["depth"]["logits"].std(1)})
        out.update({"cfcer_rgb_logit_std": out_m.std(1), "cfcer_depth_logit_std": out_k.std(1)})
        return out

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        p, label = self.params, batch["label"]
        videos, targets, logs = {}, {}, {}
        for key in ("rgb", "depth"):  # independent draws per modality, one partner (the reversed batch)
            videos[key], targets[key], lam, used = mix_batch(
                self.video(batch, key), label, self.num_classes, p, self._rng
            )
            logs[f"stat/lambda_{key}"] = torch.tensor(lam)
            logs[f"stat/shufflemix_{key}"] = torch.tensor(float(used))
        uni = self._unimodal(videos)
        loss = torch.zeros(())
        if self.stage in ("unimodal", "all"):
            distill_on = self.progress >= p.distill_warmup
            for key, out in uni.items():
                ce = soft_cross_entropy(out["logits"], targets[key])
                branches = sum(soft_cross_entropy(b, targets[key]) for b in out["branch_logits"])
                logs[f"loss/ce_{key}"], logs[f"loss/ce_{key}_branches"] = ce, branches
                logs[f"loss/distill_{key}"] = rcm_distillation(out["distill"], out["cls"], p.distill_temperature)
                loss = loss + ce + p.branch_weight * branches
                if distill_on:
                    loss = loss + p.distill_weight * logs[f"loss/distill_{key}"]
            if p.use_skeleton:
                logs["loss/ce_pose"] = F.cross_entropy(self.pose_head(self.skeleton_features(batch)), label)
                loss = loss + logs["loss/ce_pose"]
        if self.stage in ("fusion", "all"):
            out_m, out_k, stats = self._fuse(uni)
            logs["loss/ce_cfcer_rgb"] = soft_cross_entropy(out_m, targets["rgb"])
            logs["loss/ce_cfcer_depth"] = soft_cross_entropy(out_k, targets["depth"])
            loss = loss + logs["loss/ce_cfcer_rgb"] + logs["loss/ce_cfcer_depth"]
            logs.update({f"stat/{k}": v.detach() for k, v in stats.items()})
        logs["loss"] = loss
        logs["stat/temperature"] = torch.tensor(self.temperature())
        logs["stat/embed_std"] = embed_std(torch.cat([uni["rgb"]["temporal"], uni["depth"]["temporal"]], 1))
        return logs
