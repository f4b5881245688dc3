import math

import pytest
import torch

from course_utils.base import LogProbKind
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.evaluation.likelihood import (bpd_to_nats, dequantization_offset, discrete_nll_bound, mean_nll,
                                                nats_to_bpd, uniform_nll)


def test_bits_per_dim_by_hand():
    assert nats_to_bpd(784 * math.log(2), 784) == pytest.approx(1.0)
    assert nats_to_bpd(100.0, 64) == pytest.approx(100 / (64 * 0.6931471805599453))  # 2.2543...
    assert nats_to_bpd(100.0, 64) == pytest.approx(2.254211, abs=1e-6)
    assert bpd_to_nats(nats_to_bpd(123.4, 784), 784) == pytest.approx(123.4)
    with pytest.raises(ValueError):
        nats_to_bpd(1.0, 0)


def test_dequantisation_offset():
    # 8-bit data scaled to [0, 1]: a density on the unit cube is off by 8 bits per dimension
    assert nats_to_bpd(dequantization_offset(784, 256), 784) == pytest.approx(8.0)
    assert dequantization_offset(64, 17) == pytest.approx(64 * math.log(17))  # 181.3 nats
    # a uniform density on [0, 1]^D has continuous NLL 0, so its discrete bound is the uniform NLL
    assert discrete_nll_bound(0.0, 64, 17) == pytest.approx(uniform_nll(64, 17))
    with pytest.raises(ValueError):
        dequantization_offset(10, 1)


def test_mean_nll_matches_manual_sum(digits):
    model = IndependentPixels(IndependentConfig((1, 8, 8), 17)).fit_closed_form(digits.train.x)
    manual = -model.log_prob(digits.test.x).double().mean().item()
    assert mean_nll(model, digits.test.loader(100, shuffle=False)) == pytest.approx(manual, rel=1e-6)
    assert manual == pytest.approx(106.4, abs=0.5), "the add-1/2 independent model of REFERENCES.md"


def test_mean_nll_refuses_models_without_a_likelihood(digits):
    model = IndependentPixels(IndependentConfig((1, 8, 8), 17))
    model.log_prob_kind = LogProbKind.UNNORMALISED
    with pytest.raises(ValueError, match="gives no NLL"):
        mean_nll(model, digits.test.loader(100))


def test_mean_nll_passes_the_labels_of_an_xy_loader(digits):
    from course_utils.models.vae import VAE, VAEConfig

    torch.manual_seed(0)
    cvae = VAE(VAEConfig((1, 8, 8), num_levels=17, latent_dim=2, hidden=16, num_classes=10))
    x, y = digits.test.x[:40], digits.test.y[:40]
    loader = digits.test.loader(20, shuffle=False, labels=True)
    torch.manual_seed(1)
    via_loader = mean_nll(cvae, [(x[:20], y[:20]), (x[20:], y[20:])], k=50, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(0)
    by_hand = -torch.cat([cvae.log_prob(x[:20], y=y[:20], k=50, generator=g), cvae.log_prob(x[20:], y=y[20:], k=50, generator=g)]).double().mean()
    assert via_loader == pytest.approx(by_hand.item(), rel=1e-6)
    assert loader.dataset.tensors[1].dtype == torch.int64
    with pytest.raises(ValueError, match="conditional: pass y="):
        mean_nll(cvae, digits.test.loader(20, shuffle=False))
