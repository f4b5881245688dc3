"""A tiny causal Transformer over characters (a decoder-only language model, after nanoGPT / minGPT).

Text is a sequence of characters ``x_1 .. x_T``; the chain rule gives the exact log-likelihood

    log p(x) = sum_t log softmax(logits_t(BOS, x_1, ..., x_{t-1}))[x_t],

where causal self-attention lets position ``t`` look only at positions ``<= t`` of its input (a
beginning-of-sequence token ``BOS`` starts every sequence, so ``x_1`` is modelled too). Training
computes all ``T`` conditionals in one pass; sampling is sequential.

**KV cache.** At sampling step ``t`` only the newest token is new. Its query attends to the keys
and values of all earlier positions, which do not change, so each layer stores them (the cache)
and a step costs one token's work instead of re-running the whole prefix: ``O(T)`` instead of
``O(T^2)`` token-passes for a sequence of length ``T``.

**Sampling controls** (:func:`filter_logits`): temperature divides the logits (``T < 1`` sharpens,
``T > 1`` flattens); top-k keeps the ``k`` most likely characters; top-p (nucleus, Holtzman et al.
2020) keeps the smallest set whose probability reaches ``p``.

Text: the dataset descriptions shipped with scikit-learn (``sklearn/datasets/descr/*.rst``, about
43 KB); the last 10% of each file is held out, so held-out NLL measures generalisation, not recall.

| here       | paper (Vaswani et al. 2017; Radford et al. 2019) |
|------------|------------------------------------------|
| ``n_embd`` | d_model                                  |
| ``n_head`` | h                                        |
| ``block_size`` | context length                       |
| ``cache``  | the per-layer keys and values of earlier positions |
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import GenerativeModel, LogProbKind, eval_mode
from ..draws import categorical
from ..nn.attention import KVCache, TransformerBlock


# --------------------------------------------------------------------------- sampling controls
def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Logits ``(..., V)`` divided by ``temperature``, with everything outside top-k / top-p set to -inf.

    ``top_k=None`` (or 0) and ``top_p=None`` (or 1) keep everything. Top-p keeps the most likely
    characters until their probability reaches ``top_p`` (always at least one).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive; got {temperature} (use top_k=1 for greedy decoding).")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1]; got {top_p}.")
    out = logits / temperature
    if top_k:
        kth = torch.topk(out, min(top_k, out.shape[-1]), dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, idx = torch.sort(out, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(-1) - probs  # probability of the characters ranked above
        drop_sorted = before >= top_p  # already reached p without this one
        drop = torch.zeros_like(drop_sorted).scatter(-1, idx, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


# --------------------------------------------------------------------------- the model
@dataclass
class CharTransformerConfig:
    vocab_size: int = 96  # characters (the BOS token is one more embedding)
    block_size: int = 128  # longest input, BOS included
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head}).")
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head) < 1:
            raise ValueError("vocab_size, block_size, n_layer and n_head must be positive.")


class CharTransformer(GenerativeModel):
    """Decoder-only Transformer; data are id sequences ``(B, T)`` (int64, ``T <= block_size``)."""

    family = "char_transformer"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: CharTransformerConfig) -> None:
        super().__init__(cfg)
        self.bos = cfg.vocab_size  # the extra token that starts every sequence
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(TransformerBlock(cfg.n_embd, cfg.n_head, cfg.dropout) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size)

    def forward(self, idx: Tensor, cache: KVCache | None = None) -> Tensor:
        """Logits of the next character at every position: ``(B, T) -> (B, T, vocab_size)``."""
        past = 0 if cache is None else cache.length
        T = idx.shape[1]
        if past + T > self.cfg.block_size:
            raise ValueError(f"sequence of {past + T} tokens exceeds block_size={self.cfg.block_size}.")
        pos = torch.arange(past, past + T, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        return self.head(self.ln_f(x))

    def _check(self, x: Tensor) -> None:
        if x.dtype != torch.long or x.ndim != 2:
            raise ValueError(f"x must be int64 ids shaped (B, T); got {x.dtype} {tuple(x.shape)}.")
        if x.shape[1] > self.cfg.block_size:
            raise ValueError(f"T={x.shape[1]} exceeds block_size={self.cfg.block_size}.")
        if x.numel() and (x.min() < 0 or x.max() >= self.cfg.vocab_size):
            raise ValueError(f"ids must lie in 0..{self.cfg.vocab_size - 1}.")

    @property
    def event_shape(self) -> tuple[int, ...]:
        """One example is a sequence of at most ``block_size`` character ids."""
        return (self.cfg.block_size,)

    def log_prob(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Exact log p(x_1..x_T) in nats, shape (B,)."""
        self.labels(y, x.shape[0])
        self._check(x)
        inp = torch.cat([torch.full_like(x[:, :1], self.bos), x[:, :-1]], dim=1)  # BOS, x_1 .. x_{T-1}
        logp = F.log_softmax(self(inp), dim=-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(1)

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Mean NLL in nats per character."""
        return -self.log_prob(x, y).mean() / x.shape[1]

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        y: Tensor | None = None,
        length: int | None = None,
        prompt: Tensor | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """``n`` sequences of ``length`` new ids (default: fill the context), shape (n, length).

        ``prompt`` (1-D ids) is fed first and not returned. ``use_cache=False`` re-runs the whole
        prefix at every step (the same tokens, slower).
        """
        prompt = torch.zeros(0, dtype=torch.long) if prompt is None else prompt
        room = self.cfg.block_size - 1 - len(prompt)
        length = room + 1 if length is None else length
        if length < 1 or length > room + 1:
            raise ValueError(f"length must be in 1..{room + 1} (block_size - prompt); got {length}.")
        self.labels(y, n)
        with eval_mode(self):
            seq = torch.cat([torch.tensor([self.bos]), prompt.cpu()]).to(self.device).expand(n, -1).contiguous()
            cache = KVCache(self.cfg.n_layer) if use_cache else None
            new = seq
            out = []
            for _ in range(length):
                logits = self(new, cache)[:, -1] if use_cache else self(seq)[:, -1]
                nxt = categorical(filter_logits(logits, temperature, top_k, top_p), generator).unsqueeze(1)  # (n, 1)
                out.append(nxt)
                seq = torch.cat([seq, nxt], dim=1)
                new = nxt
        return torch.cat(out, dim=1)
