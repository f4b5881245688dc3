"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu, ICML 2016): an autoregressive model of images
built from masked convolutions.

Pixels are generated in raster order. A first convolution of **type A** sees only the pixels
strictly before the centre; the layers after it are **type B** (the centre too, which by then
holds only information from before it). Stacking them keeps output ``(i, j)`` a function of the
pixels before ``(i, j)``, so one pass over an image gives all ``H W`` conditionals and the exact
log-likelihood

    log p(x) = sum_{i,j} log Cat(level_{ij} | softmax(logits_{ij}(x_{<ij}))).

The receptive field of stacked masked ``k x k`` convolutions has a **blind spot**: pixels above and
to the right of the current one that are before it in raster order but never reach it (the mask
cuts the upper-right diagonal at every layer). The gated PixelCNN (van den Oord et al., NeurIPS
2016) removes it with two stacks, a vertical one that sees every row above and a horizontal one
for the current row: ``PixelCNNConfig(two_stack=True)`` builds that variant (without the gates).

| here          | paper                                        |
|---------------|----------------------------------------------|
| ``MaskedConv2d(..., "A")`` | mask A (first layer)            |
| ``MaskedConv2d(..., "B")`` | mask B (later layers)           |
| ``v``, ``h``  | the vertical and horizontal stacks (two-stack variant) |
| ``logits``    | the 256-way (here ``num_levels``-way) softmax of each pixel |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, check_images, eval_mode
from ..data import from_levels, to_levels
from ..nn.masked import MaskedConv2d
from ..draws import uniform


@dataclass
class PixelCNNConfig:
    shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W); one channel only
    num_levels: int = 2  # K grey levels per pixel: 2 for binarised images
    channels: int = 16  # feature maps per layer
    num_layers: int = 5  # masked convolutions: one of type A, then num_layers - 1 of type B
    kernel_size: int = 7  # of the first (type A) layer
    kernel_size_b: int = 3  # of the later layers
    two_stack: bool = False  # vertical + horizontal stacks: no blind spot

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        if len(self.shape) != 3 or self.shape[0] != 1:
            raise ValueError(f"PixelCNN here models one-channel images: shape must be (1, H, W); got {self.shape}.")
        if self.num_levels < 2:
            raise ValueError(f"num_levels must be at least 2; got {self.num_levels}.")
        if self.num_layers < 1 or self.channels < 1:
            raise ValueError(f"num_layers and channels must be positive; got {self.num_layers}, {self.channels}.")
        for k in (self.kernel_size, self.kernel_size_b):
            if k < 1 or k % 2 == 0:
                raise ValueError(f"kernel sizes must be positive odd numbers; got {k}.")

    @property
    def num_dims(self) -> int:
        return math.prod(self.shape)


def down_shift(x: Tensor) -> Tensor:
    """Move every row one down (the top row becomes 0): ``out[..., i, :] = x[..., i - 1, :]``."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class ShiftedConv2d(nn.Module):
    """A causal convolution by padding and cropping (the two stacks of the gated PixelCNN).

    ``"down"`` (vertical stack): a ``(k//2 + 1, k)`` kernel; output ``(i, j)`` sees rows
    ``i - k//2 .. i`` and columns ``j - k//2 .. j + k//2`` (its own row included: the vertical
    stack only reaches the output through :func:`down_shift`, so it never sees the current
    row there). ``"right"`` (horizontal stack): a ``(1, k//2 + 1)`` kernel over the current row,
    the pixels left of the output and, if ``include_centre``, the pixel itself.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, direction: str, include_centre: bool = True) -> None:
        super().__init__()
        if direction not in ("down", "right"):
            raise ValueError(f"direction must be 'down' or 'right'; got {direction!r}.")
        self.direction, self.include_centre, k = direction, include_centre, kernel_size
        shape = (k // 2 + 1, k) if direction == "down" else (1, k // 2 + 1)
        self.conv = nn.Conv2d(in_channels, out_channels, shape)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C', H, W)
        kh, kw = self.conv.kernel_size
        if self.direction == "down":
            return self.conv(F.pad(x, (kw // 2, kw // 2, kh - 1, 0)))  # output row i sees rows i-kh+1..i
        y = self.conv(F.pad(x, (kw - 1, 0, 0, 0)))  # output column j sees columns j-kw+1..j
        return y if self.include_centre else F.pad(y, (1, 0, 0, 0))[:, :, :, :-1]


class PixelCNN(GenerativeModel):
    """PixelCNN over images ``(B, 1, H, W)`` in [0, 1] with ``num_levels`` levels."""

    family = "pixelcnn"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: PixelCNNConfig) -> None:
        super().__init__(cfg)
        c = cfg.channels
        if cfg.two_stack:
            self.v_in = ShiftedConv2d(1, c, cfg.kernel_size, "down")
            self.h_in = ShiftedConv2d(1, c, cfg.kernel_size, "right", include_centre=False)
            self.v_layers = nn.ModuleList(ShiftedConv2d(c, c, cfg.kernel_size_b, "down") for _ in range(cfg.num_layers - 1))
            self.h_layers = nn.ModuleList(ShiftedConv2d(c, c, cfg.kernel_size_b, "right") for _ in range(cfg.num_layers - 1))
            self.v_to_h = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(cfg.num_layers - 1))
        else:
            self.conv_in = MaskedConv2d(1, c, cfg.kernel_size, "A")
            self.convs = nn.ModuleList(MaskedConv2d(c, c, cfg.kernel_size_b, "B") for _ in range(cfg.num_layers - 1))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, cfg.num_levels, 1))

    def logits(self, x: Tensor) -> Tensor:
        """Logits of every pixel's conditional: ``(B, 1, H, W) -> (B, K, H, W)``."""
        x = 2 * x - 1  # centre the input
        if self.cfg.two_stack:
            v = self.v_in(x)  # (B, c, H, W): rows <= i, any column within reach
            h = self.h_in(x) + down_shift(v)  # pixels left on the row + every row above
            for v_conv, h_conv, link in zip(self.v_layers, self.h_layers, self.v_to_h):
                v = v + v_conv(F.relu(v))
                h = h + h_conv(F.relu(h)) + link(down_shift(F.relu(v)))  # shifted: rows < i only
            return self.head(h)
        h = self.conv_in(x)
        for conv in self.convs:
            h = h + conv(F.relu(h))  # residual type-B layers
        return self.head(h)

    def rows_above(self) -> int:
        """How many rows above a pixel its receptive field can reach (an upper bound)."""
        cfg = self.cfg
        return cfg.kernel_size // 2 + (cfg.num_layers - 1) * (cfg.kernel_size_b // 2) + int(cfg.two_stack)

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log p(x) in nats, shape (B,)."""
        self.labels(y, x.shape[0])
        check_images(x, self.cfg.shape)
        lv = to_levels(x, self.cfg.num_levels)
        return -F.cross_entropy(self.logits(x), lv[:, 0], reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | None = None) -> Tensor:
        """``n`` images ``(n, 1, H, W)`` in [0, 1]: one network pass per pixel, in raster order."""
        self.labels(y, n)
        x = torch.zeros(n, *self.cfg.shape, device=self.device)
        return self.complete(x, torch.zeros(self.cfg.shape, dtype=torch.bool), generator)

    @torch.no_grad()
    def complete(self, x: Tensor, known: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Sample the pixels where ``known`` (bool, (1, H, W)) is False, given the known ones.

        The known pixels must come first in raster order (e.g. the top rows), so that the
        conditionals the model computes are the exact ``p(rest | known)``.
        """
        check_images(x, self.cfg.shape)
        if tuple(known.shape) != self.cfg.shape:
            raise ValueError(f"known must be a bool mask of shape {self.cfg.shape}; got {tuple(known.shape)}.")
        flat = known.flatten().cpu()
        n_known = int(flat.sum())
        if not bool(flat[:n_known].all()):
            raise ValueError("complete() conditions exactly only when the known pixels come first in raster order.")
        with eval_mode(self):
            out = x.clone()
            k = self.cfg.num_levels
            _, _, w = self.cfg.shape
            u = uniform((x.shape[0], self.cfg.num_dims), generator, x.device)
            reach = self.rows_above()
            for d in range(n_known, self.cfg.num_dims):  # one pass per pixel
                i, j = divmod(d, w)
                top = max(0, i - reach)  # rows above the receptive field cannot change row i: skip them
                cdf = torch.softmax(self.logits(out[:, :, top : i + 1])[:, :, -1, j], dim=1).cumsum(1)  # (n, K)
                level = (cdf < u[:, d : d + 1] * cdf[:, -1:]).sum(1).clamp(max=k - 1)
                out[:, 0, i, j] = from_levels(level, k)
        return out


