"""Notebook 03's demonstrations: the wrong MADE ensemble, PixelCNN's receptive field, the text widget."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import check_images, eval_mode
from ..data import CharText
from ..models.char_transformer import CharTransformer, filter_logits
from ..models.made import MADE
from ..models.pixelcnn import PixelCNN


def logit_average_log_prob(model: MADE, x: Tensor, ensemble: int) -> Tensor:
    """**The wrong ensemble**, for comparison: average the logits of ``ensemble`` masks, then score.

    Each mask's conditionals are normalised, but the averaged "conditionals" of different
    orderings do not belong to any one ordering, so ``sum_x exp(result)`` is not 1. Shape (B,).
    """
    check_images(x, model.cfg.shape, binary=True)
    mean_logits = model.per_mask(model.logits, x, ensemble).mean(0)
    return -F.binary_cross_entropy_with_logits(mean_logits, x.flatten(1), reduction="none").sum(1)


def input_gradient(model: PixelCNN, pixel: tuple[int, int], x: Tensor | None = None) -> Tensor:
    """``|d logits(pixel) / d x|`` summed over levels, shape (H, W), on the CPU: which inputs a pixel's conditional uses.

    Nonzero entries are the receptive field; an autoregressive model must have zeros at the pixel
    and everywhere after it in raster order. ``x`` defaults to a fixed random binary image.
    The model's training mode is restored afterwards.
    """
    _, h, w = model.cfg.shape
    i, j = pixel
    if not (0 <= i < h and 0 <= j < w):
        raise ValueError(f"pixel must lie in the {h}x{w} image; got {pixel}.")
    if x is None:
        x = (torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    x = x.to(model.device).clone().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        (grad,) = torch.autograd.grad(model.logits(x)[:, :, i, j].sum(), x)
    return grad.abs().sum(0)[0].cpu()


def render_samples(
    model: CharTransformer,
    text: CharText,
    prompt: str = "The ",
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    n: int = 3,
    length: int = 90,
    seed: int = 0,
):
    """Next-character distribution after ``prompt`` under the controls, and ``n`` sampled continuations."""
    import matplotlib.pyplot as plt

    ids = text.encode(prompt)
    with torch.no_grad(), eval_mode(model):  # the model's train/eval mode is restored afterwards
        inp = torch.cat([torch.tensor([model.bos]), ids]).unsqueeze(0).to(model.device)
        logits = model(inp)[0, -1]
        probs = torch.softmax(filter_logits(logits, temperature, top_k or None, top_p), -1).cpu()
    length = min(length, model.cfg.block_size - 1 - len(ids))
    out = model.sample(n, torch.Generator().manual_seed(seed), length=length, prompt=ids,
                       temperature=temperature, top_k=top_k or None, top_p=top_p)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.0), gridspec_kw={"width_ratios": [1, 1.6]})
    top = torch.topk(probs, 12)
    shown = {" ": "space", "\n": "\\n", "\t": "\\t"}
    labels = [shown.get(text.vocab[i], text.vocab[i]) for i in top.indices.tolist()]
    ax1.bar(range(12), top.values.numpy())
    ax1.set_xticks(range(12), labels, rotation=60)
    ax1.set_xlabel("next character")
    ax1.set_ylabel("probability")
    ax1.set_title(f"after {prompt!r}: T={temperature:g}, top-k={top_k or 'all'}, top-p={top_p:g}")
    ax2.set_axis_off()
    ax2.grid(False)
    lines = [f"{i + 1}. " + (prompt + text.decode(row)).replace("\n", "\u21b5") for i, row in enumerate(out.cpu())]  # newline shown as an arrow
    wrapped = "\n\n".join(line[:70] for line in lines)
    ax2.text(0, 0.95, wrapped, family="monospace", fontsize=10, va="top", ha="left", transform=ax2.transAxes)
    ax2.set_title("samples (same seed): low T is predictable, high T chaotic")
    return fig
