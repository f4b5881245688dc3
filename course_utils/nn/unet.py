"""Denoising networks: a small U-Net for images and a residual MLP for flattened small images.

Both map a noisy (or masked) input and, optionally, a condition (time and/or label, through
:class:`~course_utils.nn.embeddings.ConditionEmbedding`) to an output of the same spatial size:
predicted noise, a velocity, or logits over the levels of each pixel. The U-Net follows Ronneberger
et al. (2015) as used by Ho et al. (2020), much smaller: residual blocks (GroupNorm, SiLU, 3x3
convolutions) whose features get the condition vector added, average pooling down, nearest-neighbour
upsampling up, and skip connections between the two paths. The residual MLP is the same idea
without space: on 8x8 images an MLP is as good and several times cheaper on a CPU.

| here            | meaning                                              | shape                       |
|-----------------|------------------------------------------------------|-----------------------------|
| ``x``           | input image(s)                                       | (B, C_in, H, W) or (B, D_in) |
| ``t``           | continuous time in [0, 1] (or None for a time-free net) | (B,)                     |
| ``y``           | labels, ``num_classes`` = the null label             | (B,) int64                  |
| ``channels``    | feature channels at each resolution, finest first    | tuple                       |
| ``emb_dim``     | size of the condition vector                         | int                         |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .embeddings import ConditionEmbedding


def _groups(channels: int, wanted: int = 8) -> int:
    """The largest divisor of ``channels`` that is at most ``wanted`` (GroupNorm needs one)."""
    return max(g for g in range(1, min(wanted, channels) + 1) if channels % g == 0)


class ResBlock(nn.Module):
    """``x + conv(SiLU(GN(conv(SiLU(GN(x))) + W e)))``, with a 1x1 convolution on the skip when channels change."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int | None, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out) if emb_dim else None
        self.norm2, self.conv2 = nn.GroupNorm(_groups(c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity (on its skip path)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, e: Tensor | None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.emb is not None:
            h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class UNet(nn.Module):
    """A small U-Net: ``len(channels)`` resolutions, ``blocks`` residual blocks at each, on both paths.

    ``forward(x, t=None, y=None)``: (B, in_channels, H, W) -> (B, out_channels, H, W). ``time=False``
    makes a network that takes no ``t`` (masked diffusion needs none); ``num_classes > 0`` adds labels.
    H and W need not be powers of two (28 -> 14 -> 7 works; odd sizes are rounded up on the way back).
    """

    def __init__(self, in_channels: int, out_channels: int, channels: tuple[int, ...] = (32, 64), *, blocks: int = 1,
                 time: bool = True, num_classes: int = 0, emb_dim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        if not channels or blocks < 1:
            raise ValueError(f"channels must be non-empty and blocks positive; got {channels}, {blocks}.")
        conditioned = time or num_classes > 0
        emb_dim = (emb_dim or 4 * channels[0]) if conditioned else None
        self.cond = ConditionEmbedding(emb_dim, num_classes, time=time) if conditioned else None
        self.inp = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        c, skips = channels[0], []
        for level, width in enumerate(channels):
            stage = nn.ModuleList()
            for _ in range(blocks):
                stage.append(ResBlock(c, width, emb_dim, dropout))
                c = width
            self.down.append(stage)
            skips.append(c)
        self.middle = ResBlock(c, c, emb_dim, dropout)
        self.up = nn.ModuleList()
        for width, skip in zip(reversed(channels), reversed(skips)):
            stage = nn.ModuleList()
            for b in range(blocks):
                stage.append(ResBlock(c + (skip if b == 0 else 0), width, emb_dim, dropout))
                c = width
            self.up.append(stage)
        self.out = nn.Sequential(nn.GroupNorm(_groups(c), c), nn.SiLU(), nn.Conv2d(c, out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def null_label(self) -> int:
        if self.cond is None:
            raise ValueError("This U-Net takes no labels.")
        return self.cond.null_label

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        e = self.cond(t, y) if self.cond is not None else None
        if self.cond is None and (t is not None or y is not None):
            raise ValueError("This U-Net is conditioned on nothing; call it without t and y.")
        h = self.inp(x)
        skips = []
        for level, stage in enumerate(self.down):
            if level > 0:
                h = F.avg_pool2d(h, 2, ceil_mode=True)
            for block in stage:
                h = block(h, e)
            skips.append(h)
        h = self.middle(h, e)
        for stage in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = torch.cat([h, skip], 1)
            for block in stage:
                h = block(h, e)
        return self.out(h)


class ResidualMLP(nn.Module):
    """A residual MLP denoiser for flattened inputs: Linear in, ``depth`` residual blocks that each add
    the condition vector, LayerNorm-SiLU-Linear out.

    ``forward(x, t=None, y=None)``: (B, in_dim) -> (B, out_dim). Block:
    ``h + W2 Dropout(SiLU(W1 SiLU(LN(h)) + U e))``, with ``W2`` zero at the start.
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 256, depth: int = 3, *, dropout: float = 0.0, time: bool = True,
                 num_classes: int = 0) -> None:
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be positive; got {width}, {depth}.")
        self.cond = ConditionEmbedding(width, num_classes, time=time) if (time or num_classes) else None
        self.inp = nn.Linear(in_dim, width)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(depth))
        self.lin1 = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.embs = nn.ModuleList(nn.Linear(width, width) for _ in range(depth)) if self.cond is not None else None
        self.lin2 = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        for lin in self.lin2:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, out_dim))

    @property
    def null_label(self) -> int:
        if self.cond is None:
            raise ValueError("This network takes no labels.")
        return self.cond.null_label

    def forward(self, x: Tensor, t: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        e = self.cond(t, y) if self.cond is not None else None
        if self.cond is None and (t is not None or y is not None):
            raise ValueError("This network is conditioned on nothing; call it without t and y.")
        h = self.inp(x)
        for i in range(len(self.lin1)):
            r = self.lin1[i](F.silu(self.norms[i](h)))
            if e is not None:
                r = r + self.embs[i](e)
            h = h + self.lin2[i](self.drop(F.silu(r)))
        return self.out(h)
