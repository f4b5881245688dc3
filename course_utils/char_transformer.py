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
88 KB); the last 10% of each file is held out, so held-out NLL measures generalisation, not recall.

| here       | paper (Vaswani et al. 2017; Radford et al. 2019) |
|------------|------------------------------------------|
| ``n_embd`` | d_model                                  |
| ``n_head`` | h                                        |
| ``block_size`` | context length                       |
| ``cache``  | the per-layer keys and values of earlier positions |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import GenerativeModel, LogProbKind
from .sampling import categorical


# --------------------------------------------------------------------------- the text
@dataclass(frozen=True)
class CharText:
    """A character corpus split into ``train`` and ``held_out`` text, with its vocabulary."""

    train: str
    held_out: str
    vocab: str  # the sorted characters; id = position in this string

    def encode(self, text: str) -> Tensor:
        """int64 ids, shape (len(text),); unknown characters raise ``ValueError``."""
        index = {c: i for i, c in enumerate(self.vocab)}
        missing = sorted(set(text) - index.keys())
        if missing:
            raise ValueError(f"characters outside the vocabulary: {missing[:10]!r}.")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids: Tensor) -> str:
        return "".join(self.vocab[i] for i in ids.tolist())


def load_sklearn_text(held_out_fraction: float = 0.1) -> CharText:
    """scikit-learn's dataset descriptions (``*.rst``), sorted by name; the tail of each file is held out.

    Runs of whitespace inside a line are kept; non-ASCII characters are replaced by ``?`` so the
    vocabulary stays small (about 90 characters).
    """
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1); got {held_out_fraction}.")
    spec = find_spec("sklearn")  # locates the package without importing it (importing sklearn takes seconds)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-learn is not installed: `pip install scikit-learn`.")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "descr"
    files = sorted(folder.glob("*.rst"))
    if not files:
        raise FileNotFoundError("scikit-learn ships no dataset descriptions here: reinstall scikit-learn.")
    train, held = [], []
    for f in files:
        text = "".join(c if ord(c) < 128 else "?" for c in f.read_text(encoding="utf-8"))
        cut = int(len(text) * (1 - held_out_fraction))
        train.append(text[:cut])
        held.append(text[cut:])
    train_text, held_text = "\n".join(train), "\n".join(held)
    return CharText(train_text, held_text, "".join(sorted(set(train_text) | set(held_text))))


def windows(ids: Tensor, block_size: int, stride: int | None = None) -> Tensor:
    """Overlapping windows of a 1-D id tensor: shape (N, block_size), starts every ``stride``."""
    stride = stride or block_size
    if ids.ndim != 1 or len(ids) < block_size:
        raise ValueError(f"need a 1-D tensor of at least block_size={block_size} ids; got shape {tuple(ids.shape)}.")
    return ids.unfold(0, block_size, stride).contiguous()


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


class KVCache:
    """Keys and values of the earlier positions, one ``(B, nh, T, hs)`` pair per layer."""

    def __init__(self, n_layer: int) -> None:
        self.k: list[Tensor | None] = [None] * n_layer
        self.v: list[Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.k[0] is None else self.k[0].shape[2]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: CharTransformerConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

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
        # query at position past + t may look at keys 0 .. past + t
        allowed = torch.arange(past + T, device=x.device).unsqueeze(0) <= (past + torch.arange(T, device=x.device)).unsqueeze(1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: CharTransformerConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class CharTransformer(GenerativeModel):
    """Decoder-only Transformer; data are id sequences ``(B, T)`` (int64, ``T <= block_size``)."""

    family = "char_transformer"
    log_prob_kind = LogProbKind.EXACT

    def __init__(self, cfg: CharTransformerConfig) -> None:
        super().__init__(cfg)
        self.bos = cfg.vocab_size  # the extra token that starts every sequence
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
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

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x_1..x_T) in nats, shape (B,)."""
        self._check(x)
        inp = torch.cat([torch.full_like(x[:, :1], self.bos), x[:, :-1]], dim=1)  # BOS, x_1 .. x_{T-1}
        logp = F.log_softmax(self(inp), dim=-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(1)

    def loss(self, x: Tensor) -> Tensor:
        """Mean NLL in nats per character."""
        return -self.log_prob(x).mean() / x.shape[1]

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
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
        was_training = self.training
        self.eval()
        try:
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
        finally:
            self.train(was_training)
        return torch.cat(out, dim=1)


# --------------------------------------------------------------------------- widget
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
    with torch.no_grad():
        model.eval()
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
