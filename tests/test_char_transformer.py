"""The character Transformer: causality, normalisation, KV cache, sampling controls, the text."""

import itertools

import matplotlib.pyplot as plt
import pytest
import torch

from conftest import DEVICES
from course_utils.base import LogProbKind
from course_utils.models.char_transformer import CharTransformer, CharTransformerConfig, filter_logits
from course_utils.nn.attention import KVCache
from course_utils.data import load_sklearn_text, windows
from course_utils.lessons.autoregressive_views import render_samples


def tiny(vocab=3, block=8):
    torch.manual_seed(0)
    return CharTransformer(CharTransformerConfig(vocab_size=vocab, block_size=block, n_layer=2, n_head=2, n_embd=16)).eval()


def test_causal_through_gradients():
    model = tiny(vocab=5)
    emb = model.tok_emb(torch.randint(0, 5, (1, 6))).detach().requires_grad_(True)
    x = emb + model.pos_emb(torch.arange(6))
    for block in model.blocks:
        x = block(x)
    for t in range(6):
        (g,) = torch.autograd.grad(x[0, t].sum(), emb, retain_graph=True)
        assert torch.all(g[0, t + 1 :] == 0) and torch.all(g[0, : t + 1].abs().sum(1) > 0)


def test_log_prob_normalised_on_a_tiny_space():
    model = tiny(vocab=3)
    grid = torch.tensor(list(itertools.product(range(3), repeat=4)))
    assert model.log_prob_kind is LogProbKind.EXACT
    assert torch.logsumexp(model.log_prob(grid), 0).item() == pytest.approx(0.0, abs=1e-5)


def test_cache_gives_the_same_logits_and_tokens():
    model = tiny(vocab=4, block=12)
    seq = torch.randint(0, 4, (2, 10))
    full = model(seq)
    cache = KVCache(2)
    steps = torch.cat([model(seq[:, :3], cache)] + [model(seq[:, t : t + 1], cache) for t in range(3, 10)], dim=1)
    assert torch.allclose(full, steps, atol=1e-5)
    a = model.sample(3, torch.Generator().manual_seed(1), length=11, use_cache=True)
    b = model.sample(3, torch.Generator().manual_seed(1), length=11, use_cache=False)
    assert a.shape == (3, 11) and torch.equal(a, b)
    with pytest.raises(ValueError, match="length"):
        model.sample(1, length=13)


def test_filter_logits():
    logits = torch.tensor([2.0, 1.0, 0.5])
    assert torch.allclose(torch.softmax(filter_logits(logits), -1), torch.tensor([0.6285, 0.2312, 0.1402]), atol=1e-3)
    assert torch.allclose(torch.softmax(filter_logits(logits, 0.5), -1), torch.tensor([0.8438, 0.1142, 0.0420]), atol=1e-3)
    assert torch.isinf(filter_logits(logits, top_k=2)[2]) and torch.isfinite(filter_logits(logits, top_k=2)[:2]).all()
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))
    assert kept.tolist() == [True, True, False]  # 0.63 < 0.7, so the second is needed
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).sum() == 1
    with pytest.raises(ValueError, match="temperature"):
        filter_logits(logits, 0.0)


@pytest.mark.parametrize("device", DEVICES)
def test_interface(device):
    model = tiny(vocab=4).to(device).train()
    x = torch.randint(0, 4, (5, 8), device=device)
    loss = model.loss(x)
    assert loss.shape == () and torch.isfinite(loss) and loss.requires_grad
    s = model.sample(2, torch.Generator().manual_seed(0), length=5, top_k=2, top_p=0.9, temperature=0.7)
    assert s.shape == (2, 5) and s.dtype == torch.long and s.device.type == device and 0 <= s.min() and s.max() < 4
    assert model.training
    with pytest.raises(ValueError, match="int64"):
        model.log_prob(x.float())


def test_text_split_and_windows():
    text = load_sklearn_text()
    assert len(text.train) > 30_000 and len(text.held_out) > 3_000
    assert text.decode(text.encode("iris")) == "iris"
    w = windows(text.encode(text.held_out), 64, 32)
    assert w.shape[1] == 64 and torch.equal(w[1, :32], w[0, 32:])


def test_render_samples():
    text = load_sklearn_text()
    model = CharTransformer(CharTransformerConfig(vocab_size=len(text.vocab), block_size=32, n_layer=1, n_head=2, n_embd=16)).train()
    fig = render_samples(model, text, prompt="The ", temperature=0.5, top_k=5, top_p=0.9, n=2, length=10)
    assert len(fig.axes) == 2
    assert model.training, "drawing the widget leaves a model that is training in training mode"
    plt.close(fig)
