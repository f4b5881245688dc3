"""Self-attention and the Transformer block (Vaswani et al. 2017; the layout of GPT-2 / nanoGPT).

Used by the character Transformer of notebook 03 (``causal=True``) and available to any family
that attends over positions (a diffusion U-Net's middle block, ``causal=False``).

| here       | paper                                  |
|------------|----------------------------------------|
| ``n_embd`` | d_model                                |
| ``n_head`` | h                                      |
| ``cache``  | the per-layer keys and values of earlier positions (KV cache) |
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KVCache:
    """Keys and values of the earlier positions, one ``(B, nh, T, hs)`` pair per layer."""

    def __init__(self, n_layer: int) -> None:
        self.k: list[Tensor | None] = [None] * n_layer
        self.v: list[Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.k[0] is None else self.k[0].shape[2]


class SelfAttention(nn.Module):
    """Multi-head self-attention over ``(B, T, C)``; ``causal=True`` lets position ``t`` see only ``<= t``.

    With a :class:`KVCache` the keys and values of earlier calls are kept, so a causal model can
    feed one new token per call.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, causal: bool = True) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a multiple of n_head ({n_head}).")
        self.n_head, self.causal, self.dropout = n_head, causal, dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        past = 0
        if cache is not None:
            if cache.k[layer] is not None:
                past = cache.k[layer].shape[2]
                k = torch.cat([cache.k[layer], k], dim=2)
                v = torch.cat([cache.v[layer], v], dim=2)
            cache.k[layer], cache.v[layer] = k, v
        allowed = None
        if self.causal:  # query at position past + t may look at keys 0 .. past + t
            allowed = torch.arange(past + T, device=x.device).unsqueeze(0) <= (past + torch.arange(T, device=x.device)).unsqueeze(1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class TransformerBlock(nn.Module):
    """Pre-norm Transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))`` (GPT-2's layout)."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, causal: bool = True) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head, dropout, causal)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))
