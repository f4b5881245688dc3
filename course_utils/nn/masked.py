"""Masked layers shared by the autoregressive models (MADE, PixelCNN).

A masked layer keeps an ordinary weight and a 0/1 **mask buffer** of the same shape and multiplies
them in the forward pass, ``F.linear(x, self.mask * self.weight, self.bias)``. The mask is never
written into the weights: the optimiser may change a masked weight as it likes (its gradient is
zero anyway), a new mask can be set at any time (MADE's order-agnostic training), and ``.to(device)``
moves the mask with the module because it is a buffer.

| layer            | mask                                                    | paper |
|------------------|---------------------------------------------------------|-------|
| ``MaskedLinear`` | any (out, in) 0/1 matrix, set by ``set_mask``           | Germain et al. 2015 (MADE) |
| ``MaskedConv2d`` | type ``A``: only pixels strictly before the centre in raster order; type ``B``: the centre too | van den Oord et al. 2016 (PixelCNN) |

Both layers here mask space only: the course's images have one channel, so the channel masks of
colour PixelCNNs (R before G before B) are not needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskedLinear(nn.Linear):
    """``y = x (mask * W)^T + b``: a linear layer whose connections are switched by a mask buffer.

    ``mask`` has the weight's shape ``(out_features, in_features)``; ``mask[j, i] = 1`` lets input
    ``i`` reach output ``j``. It starts as all ones (an ordinary linear layer).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features), persistent=False)

    def set_mask(self, mask: Tensor) -> None:
        """Copy a 0/1 ``mask`` of shape ``(out_features, in_features)`` into the buffer."""
        if tuple(mask.shape) != tuple(self.weight.shape):
            raise ValueError(f"mask must have the weight's shape {tuple(self.weight.shape)}; got {tuple(mask.shape)}.")
        self.mask.copy_(mask.to(self.mask.dtype))

    def forward(self, x: Tensor) -> Tensor:  # (B, in) -> (B, out)
        return F.linear(x, self.mask * self.weight, self.bias)


def conv_mask(kernel_size: int, mask_type: str) -> Tensor:
    """The (k, k) spatial mask of a PixelCNN convolution.

    Rows above the centre are open; on the centre row, the pixels left of the centre are open, and
    the centre itself only for type ``B``. Everything below and to the right is closed.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' (first layer: excludes the centre) or 'B' (later layers); got {mask_type!r}.")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number; got {kernel_size}.")
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:c, :] = 1
    mask[c, : c + (mask_type == "B")] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded convolution that only sees pixels before the centre (type ``A``) or up to it (``B``).

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``. The mask is a buffer of shape
    ``(1, 1, k, k)`` broadcast over the channels and multiplied into the weight in ``forward``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, bias: bool = True) -> None:
        mask = conv_mask(kernel_size, mask_type)  # validates the arguments first
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", mask.view(1, 1, kernel_size, kernel_size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.mask * self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


# --------------------------------------------------------------------------- MADE's degrees and masks
def made_degrees(num_dims: int, hidden: tuple[int, ...], generator: torch.Generator, order_agnostic: bool) -> list[Tensor]:
    """Degrees of the inputs and of each hidden layer: ``[m^0 (D,), m^1 (H1,), ...]``.

    ``m^0`` is the ordering (a random permutation if ``order_agnostic``, else ``0..D-1``); hidden
    degrees are uniform integers in ``[min(m^{l-1}), D - 2]``.
    """
    order = torch.randperm(num_dims, generator=generator) if order_agnostic else torch.arange(num_dims)
    degrees = [order]
    for h in hidden:
        low = int(degrees[-1].min())
        high = max(low + 1, num_dims - 1)  # exclusive; D = 1 has no valid hidden degree but stays masked
        degrees.append(torch.randint(low, high, (h,), generator=generator))
    return degrees


def made_masks(degrees: list[Tensor]) -> list[Tensor]:
    """The (out, in) masks from the degrees: ``<=`` between hidden layers, ``<`` into the outputs."""
    masks = [(d_in.unsqueeze(0) <= d_out.unsqueeze(1)).float() for d_in, d_out in zip(degrees[:-1], degrees[1:])]
    masks.append((degrees[-1].unsqueeze(0) < degrees[0].unsqueeze(1)).float())  # output d sees degree < m^0(d)
    return masks
