"""Notebook 03's demonstrations: the wrong MADE ensemble, PixelCNN's receptive field (and its widget),
training curves per epoch, the text widget."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import check_images, eval_mode
from ..data import CharText
from ..models.char_transformer import CharTransformer, filter_logits
from ..models.made import MADE
from ..models.pixelcnn import PixelCNN, PixelCNNConfig
from ..train import History


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


def epoch_means(history: History) -> list[float]:
    """The training loss averaged over each epoch's steps, one value per entry of ``history.epoch_step``."""
    if not history.epoch_step:
        raise ValueError("the history has no finished epoch.")
    steps, losses = torch.tensor(history.step), torch.tensor(history.train_loss, dtype=torch.float64)
    starts = [0, *history.epoch_step[:-1]]
    return [losses[(steps > a) & (steps <= b)].mean().item() for a, b in zip(starts, history.epoch_step)]


def render_receptive_field(row: int = 7, col: int = 5, num_layers: int = 4, two_stack: bool = False, side: int = 11):
    """Which pixels reach pixel ``(row, col)``'s conditional in an untrained PixelCNN of ``num_layers``
    3x3 layers (masked convolutions, or the two-stack variant): dark = nonzero input gradient."""
    import matplotlib.pyplot as plt

    if not (0 <= row < side and 0 <= col < side):
        raise ValueError(f"pixel must lie in the {side}x{side} image; got {(row, col)}.")
    with torch.random.fork_rng(devices=[]):  # fixed random weights; the caller's random stream is left alone
        torch.manual_seed(0)
        net = PixelCNN(PixelCNNConfig(shape=(1, side, side), channels=16, num_layers=num_layers, kernel_size=3, two_stack=two_stack))
    field = (input_gradient(net, (row, col)) > 0).float()
    later = (torch.arange(side * side).view(side, side) >= row * side + col).float()
    earlier_missed = int(((1 - field) * (1 - later)).sum())
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.imshow((field + 0.35 * later).numpy(), cmap="gray_r", vmin=0, vmax=1.4)
    ax.plot(col, row, "s", color="#D55E00", ms=9)
    ax.set(xlabel="column", ylabel="row",
           title=f"{num_layers} layer(s), {'two stacks' if two_stack else 'masked convolutions'}:\n"
                 f"{int(field.sum())} earlier pixels seen, {earlier_missed} not")
    ax.grid(False)
    return fig


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
