"""Deployable graphs of an encoder's feature function: TorchScript and ONNX.

What is exported is `FeatureFunction`: `x: (N, C, T, V, M)` float32 joints -> `(N, dim)` features of
the encoder's default modality ("fused" for unified and multi-stream encoders, the stream of a
single-stream GCN), the function `load_encoder(path).embed(x)` computes. C, T, V and M are fixed to
the checkpoint's input spec; the batch axis N is dynamic.

Both forms are traced (`torch.jit.trace`; ONNX through torch's TorchScript-based exporter,
`dynamo=False`, opset 17): it needs no extra package (the torch.export-based exporter needs
onnxscript) and follows the encoders' Python-level branches (the unified encoder chooses its
attention and fusion algebra by batch size: exact rewrites of one function) at the traced size.
Because a trace can silently bake in a shape, each writer runs the graph it produced on a batch of
another size and compares it with the eager encoder before handing back the bytes; a mismatch is an
error, so a graph that does not generalise is never written.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ssl_skel.core.checkpoint import CheckpointError
from ssl_skel.models.encoders.base import SkeletonEncoder
from ssl_skel.models.frozen import freeze

log = logging.getLogger(__name__)

ONNX_OPSET = 17  # LayerNormalization is a native op from 17 on; onnxruntime >= 1.12 runs it
INPUT_NAME, OUTPUT_NAME = "joints", "features"
TRACE_BATCH, CHECK_BATCH = 2, 3  # traced batch size, and the other size the written graph is checked on
RTOL = ATOL = 1e-4  # fp32: the graph and the eager encoder may round differently, not more


class ExportError(CheckpointError):
    """The export cannot be written (bad target, missing package, a graph that disagrees with the
    encoder); one line naming the file. A CheckpointError, so the CLI reports it with exit status 2."""


class FeatureFunction(nn.Module):
    """x: (N, C, T, V, M) joints -> (N, dim) features of `modality`: what gets traced and exported.

    modality: None or "fused" picks the encoder's default, as `FrozenEncoder.embed` does.
    eval_view: how evaluation prepared clips (`FrozenEncoder.eval_view`), recorded in the description
    with the data's normalisation (`spec.preprocess`), so a deployment can prepare its clips the same way.
    """

    def __init__(self, encoder: SkeletonEncoder, modality: str | None = "fused", eval_view: dict | None = None) -> None:
        super().__init__()
        self.encoder = freeze(encoder)
        self.eval_view = dict(eval_view or {})
        mods = tuple(encoder.modalities)
        self.modality = mods[0] if modality is None or (modality == "fused" and "fused" not in mods) else modality
        encoder.check_modalities([self.modality])

    def train(self, mode: bool = True) -> FeatureFunction:  # noqa: ARG002 - always eval, as FrozenEncoder
        super().train(False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward_modalities(x.float(), (self.modality,))[self.modality].float()

    def example(self, batch: int, seed: int = 0) -> torch.Tensor:
        """A random (batch, C, T, V, M) input of the encoder's spec (tracing reads shapes, not values)."""
        s = self.encoder.spec
        shape = (batch, s.in_channels, s.clip_length, self.encoder.layout.num_joints, s.num_persons)
        return torch.randn(shape, generator=torch.Generator().manual_seed(seed))

    def description_json(self) -> str:
        return json.dumps(self.description(), default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))

    def description(self) -> dict:
        """What a deployment needs to feed the graph: input/output names and shapes, modality, encoder."""
        s = self.encoder.spec
        return {
            "encoder": type(self.encoder).registered_name,
            "modality": self.modality,
            "input": {
                "name": INPUT_NAME,
                "shape": ["N", s.in_channels, s.clip_length, self.encoder.layout.num_joints, s.num_persons],
            },
            "output": {"name": OUTPUT_NAME, "shape": ["N", int(self.encoder.dim)]},
            "layout": s.layout,
            "eval_view": self.eval_view,
            "preprocess": s.preprocess,
        }


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Tracing warns at every Python-level shape check and branch (the encoders' input checks); the
    written graph is checked instead (`_check`), so those warnings say nothing to the user. torch
    (2.9 on) also marks TorchScript and its ONNX exporter deprecated at each call: said once in the
    docs (README "Export"), not at every export."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated.*", category=FutureWarning)
        yield


def _check(kind: str, run: Callable[[torch.Tensor], Any], function: FeatureFunction) -> None:
    """Compare `run(x)` (the written graph) with the eager function on a batch of another size."""
    x = function.example(CHECK_BATCH, seed=1)
    with torch.no_grad():
        expected = function(x)
    got = torch.as_tensor(run(x))
    if got.shape != expected.shape or not torch.allclose(got, expected, rtol=RTOL, atol=ATOL):
        diff = (got - expected).abs().max().item() if got.shape == expected.shape else f"shape {tuple(got.shape)}"
        raise ExportError(
            f"the {kind} graph disagrees with the encoder on a batch of {CHECK_BATCH} clips "
            f"(max difference {diff}, expected shape {tuple(expected.shape)}); not written"
        )


def torchscript_bytes(function: FeatureFunction) -> bytes:
    """A TorchScript archive (`torch.jit.load(path)(x)`) of `function`, checked; its description
    is stored in the archive as the extra file "ssl_skel.json"."""
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(function, (function.example(TRACE_BATCH),), check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"ssl_skel.json": function.description_json()})
        data = buffer.getvalue()
        _check("TorchScript", torch.jit.load(io.BytesIO(data), map_location="cpu"), function)
    return data


@contextlib.contextmanager
def _onnx_addmv() -> Iterator[None]:
    """ONNX for `torch.addmv` (beta * bias + alpha * mat @ vec), which torch's exporter lacks; the unified
    encoder's folded one-head attention uses it. Registered for the length of one export only."""
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "v", "v", "f", "f")
    def addmv(g, bias, mat, vec, beta, alpha):  # noqa: ANN001, ANN202 - torch's symbolic signature
        def scaled(value, factor):  # noqa: ANN001, ANN202
            return value if factor == 1 else g.op("Mul", value, g.op("Constant", value_t=torch.tensor(factor)))

        return g.op("Add", scaled(bias, beta), scaled(g.op("MatMul", mat, vec), alpha))

    torch.onnx.register_custom_op_symbolic("aten::addmv", addmv, ONNX_OPSET)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::addmv", ONNX_OPSET)


def onnx_bytes(function: FeatureFunction) -> bytes:
    """An ONNX model (input "joints" (N, C, T, V, M) float32, output "features" (N, dim)) of
    `function`, checked with onnxruntime; its description is in the model's metadata ("ssl_skel")."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ExportError(
            f"ONNX export needs the onnx and onnxruntime packages ({exc.name} is missing): "
            "pip install 'ssl-skel[export]'"
        ) from None
    buffer = io.BytesIO()
    with _quiet_tracing(), _onnx_addmv(), torch.no_grad():
        torch.onnx.export(
            function,
            (function.example(TRACE_BATCH),),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
            opset_version=ONNX_OPSET,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, {"ssl_skel": function.description_json()})
    data = model.SerializeToString()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    _check("ONNX", lambda x: session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0], function)
    return data
