"""Evaluation as a typed library API: one function per protocol, one loop that writes every protocol's outputs.

    from ssl_skel.evaluation import EvalRequest, EvalRun, KnnSettings, run_protocol
    run = EvalRun.open(EvalRequest("runs/synthetic/last.pt"))         # reads the checkpoint once
    written = run_protocol(run, KnnSettings(k=1))                     # results.json, scores, PNGs
    print(written.table)

Without files: `evaluate_linear(encoder, data, settings)` / `evaluate_knn(...)` take a FrozenEncoder
(`load_encoder`) and an `EvalData` and return an `EvalResult`; `evaluate_finetune` trains an encoder.
Names are imported on first use, so `import ssl_skel.evaluation` stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "EvalRequest": "ssl_skel.evaluation.run",
    "EvalRun": "ssl_skel.evaluation.run",
    "Written": "ssl_skel.evaluation.run",
    "run_protocol": "ssl_skel.evaluation.run",
    "resolve_config": "ssl_skel.evaluation.run",
    "EvalData": "ssl_skel.evaluation.protocol",
    "FeatureCache": "ssl_skel.evaluation.protocol",
    "EvalResult": "ssl_skel.evaluation.outputs",
    "format_table": "ssl_skel.evaluation.results",
    "write_outputs": "ssl_skel.evaluation.outputs",
    "LinearProtocol": "ssl_skel.evaluation.linear",
    "LinearSettings": "ssl_skel.evaluation.linear",
    "evaluate_linear": "ssl_skel.evaluation.linear",
    "KnnSettings": "ssl_skel.evaluation.knn",
    "evaluate_knn": "ssl_skel.evaluation.knn",
    "FinetuneSettings": "ssl_skel.evaluation.finetune",
    "evaluate_finetune": "ssl_skel.evaluation.finetune",
    "LabelFraction": "ssl_skel.evaluation.semi",
    "EnsembleSettings": "ssl_skel.evaluation.ensemble",
    "EnsembleResult": "ssl_skel.evaluation.ensemble",
    "run_ensemble": "ssl_skel.evaluation.ensemble",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ssl_skel.evaluation' has no attribute {name!r}")
