"""A trained model's encoder and decoder as ONNX graphs, to run outside Python (onnxruntime, a
browser, a phone). Each graph is the model's own `encode` / `decode` in eval mode, so what it
computes is what `aelab` computes: the encoder gives the code (AE, DAE, WAE), the posterior mean
and log-variance (the VAE family) or the quantised code (VQ-VAE); the decoder gives images in the
data's range, the output activation applied. The batch dimension is dynamic.

torch.onnx's exporter (torch.export underneath, onnxscript to write the graph) and onnxruntime,
which checks the written graphs against PyTorch, are the optional extra `aelab[onnx]`.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aelab.errors import AelabError
from aelab.models.autoencoder import Autoencoder

OPSET = 18  # the ONNX opset of the graphs: onnxruntime >= 1.14 runs it; torch.onnx's dynamo exporter starts there
NEEDED = ("onnx", "onnxscript", "onnxruntime")  # the extra aelab[onnx]
CHECK_IMAGES = 16  # seeded random inputs each written graph is compared on against PyTorch
TRACE_BATCH = 3  # inputs the graphs are traced with: not CHECK_IMAGES, so a fixed batch size shows
TOLERANCE = 1e-4  # largest |ONNX - PyTorch| accepted, per value


def check_installed() -> None:
    """One line saying what to install when the onnx extra is missing."""
    missing = []
    for name in NEEDED:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise AelabError(f"aelab export --format onnx needs {', '.join(missing)}: pip install \"aelab[onnx]\"")


class EncoderGraph(nn.Module):
    """images (B, C, H, W) in [0, 1] [, labels (B, K) class weights] -> the encoder's outputs."""

    def __init__(self, model: Autoencoder):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        mean, logvar = self.model.encode(images) if labels is None else self.model.encode(images, labels=labels)
        return mean if logvar is None else (mean, logvar)  # (B, latent_dim) each


class DecoderGraph(nn.Module):
    """codes (B, latent_dim) [, labels (B, K)] -> images (B, C, H, W) in the data's range."""

    def __init__(self, model: Autoencoder):
        super().__init__()
        self.model = model

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None):
        return self.model.decode(codes) if labels is None else self.model.decode(codes, labels=labels)


@dataclass
class Graph:
    name: str  # "encoder" or "decoder"
    onnx: bytes  # the serialised ModelProto
    inputs: dict[str, list]  # name -> shape, "batch" for the dynamic dimension
    outputs: dict[str, list]
    max_difference: float  # largest |onnxruntime - PyTorch| on CHECK_IMAGES seeded inputs


def describe_outputs(model: Autoencoder) -> dict[str, str]:
    """What each output of the encoder means: its `encode` gives a posterior (the VAE family:
    mean, log-variance) or a code (AE, DAE, WAE; a VQ-VAE's is quantised)."""
    c, h, w = model.input_shape
    labels = None if not model.needs_labels else torch.eye(model.options.n_classes)[:1]
    was_training = model.training
    with torch.no_grad():
        posterior = not isinstance(EncoderGraph(model.eval())(torch.zeros(1, c, h, w), labels), torch.Tensor)
    model.train(was_training)
    if posterior:
        return {"mean": "the posterior mean of q(z|x): the code aelab uses (transform, the latent maps)",
                "logvar": "the posterior log-variance of q(z|x); sample z = mean + exp(logvar / 2) * N(0, I)"}
    if hasattr(model, "quantise"):
        return {"code": "the quantised code: each position's nearest codebook entry, what the decoder reads"}
    return {"code": "the code the decoder reads"}


def export_onnx(model: Autoencoder, seed: int = 0) -> list[Graph]:
    """The encoder and decoder graphs of `model` (moved to the CPU, eval mode), each checked with
    onnxruntime against PyTorch on seeded random inputs; AelabError in one line when the model
    cannot be exported."""
    check_installed()
    model = model.cpu().eval()
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand((CHECK_IMAGES, *model.input_shape), generator=generator)
    codes = torch.randn((CHECK_IMAGES, model.config.latent_dim), generator=generator)
    labels = {}
    if model.needs_labels:  # one-hot class weights, the form a graph can take without a lookup
        k = model.options.n_classes
        labels["labels"] = torch.eye(k)[torch.randint(k, (CHECK_IMAGES,), generator=generator)]
    encoder = _export("encoder", EncoderGraph(model), {"images": images, **labels}, list(describe_outputs(model)), model)
    decoder = _export("decoder", DecoderGraph(model), {"codes": codes, **labels}, ["images"], model)
    return [encoder, decoder]


def _export(name: str, module: nn.Module, inputs: dict[str, torch.Tensor], output_names: list[str],
            model: Autoencoder) -> Graph:
    """Traced on the first TRACE_BATCH inputs, checked on all of them: a graph whose batch size
    was fixed in tracing (code that turned it into a Python number) fails the check."""
    batch = torch.export.Dim("batch", min=1)
    traced = tuple(v[:TRACE_BATCH] for v in inputs.values())
    problem = f"a '{model.config.type}' {name} cannot be exported to ONNX"
    try:
        with _quiet():
            program = torch.onnx.export(module, traced, None, input_names=list(inputs), output_names=output_names,
                                        dynamic_shapes=tuple({0: batch} for _ in traced), opset_version=OPSET,
                                        dynamo=True, external_data=False, verbose=False)
        onnx = program.model_proto.SerializeToString()
    except Exception as e:  # the exporter's own exception types change between torch versions
        raise AelabError(f"{problem}: {_first_line(e)}") from None
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    try:
        got = session.run(output_names, {k: v.numpy() for k, v in inputs.items()})
    except Exception as e:  # onnxruntime's errors are its own C++ exception types
        raise AelabError(f"{problem} with a dynamic batch dimension (traced on {TRACE_BATCH} images, the graph "
                         f"fails on {CHECK_IMAGES}): {_first_line(e)}") from None
    with torch.no_grad():
        want = module(*inputs.values())
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    difference = max(float(np.abs(g - t.numpy()).max()) for g, t in zip(got, want))
    if not difference <= TOLERANCE:
        raise AelabError(f"the ONNX {name} of this '{model.config.type}' differs from PyTorch by {difference:.3g} "
                         f"(more than {TOLERANCE:g}) on {CHECK_IMAGES} random inputs; it was not written")
    shapes = lambda named: {n: ["batch", *list(v.shape[1:])] for n, v in named}
    return Graph(name, onnx, shapes(inputs.items()), shapes(zip(output_names, want)), difference)


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"


@contextlib.contextmanager
def _quiet():
    """torch.onnx logs and warns on every export (torchvision missing, deprecations): not the user's business."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
