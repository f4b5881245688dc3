"""Notebook 09's demonstrations: normalised mixtures and copycats, corruptions, a baseline fitted by counting."""

import math

import pytest
import torch

from course_utils.evaluation.features import extract_features
from course_utils.evaluation.likelihood import all_images
from course_utils.lessons.evaluation_views import (
    Copycat,
    CopycatConfig,
    MixtureOfTwoConfig,
    TwoModelMixture,
    UniformConfig,
    UniformImages,
    corrupt,
    mix_in,
    random_feature_net,
    spearman,
)
from course_utils.models.independent import IndependentConfig, IndependentPixels


def total(model, shape, k=2):
    return torch.logsumexp(model.log_prob(all_images(shape, k)).double(), 0).exp().item()


def test_the_mixture_and_the_copycat_are_normalised_and_the_copycat_is_zero_off_its_images():
    train = all_images((1, 2, 2))[[0, 5, 5, 9]]  # 3 distinct images, one twice
    exact = Copycat(CopycatConfig((1, 2, 2), 2), train)
    lp = exact.log_prob(all_images((1, 2, 2)))
    assert lp[5].item() == pytest.approx(math.log(0.5)) and lp[0].item() == pytest.approx(math.log(0.25))
    assert torch.isinf(lp[1]) and int(torch.isfinite(lp).sum()) == 3 and total(exact, (1, 2, 2)) == pytest.approx(1.0)
    smooth = Copycat(CopycatConfig((1, 2, 2), 2, flip=0.1), train)
    assert torch.isfinite(smooth.log_prob(all_images((1, 2, 2)))).all() and total(smooth, (1, 2, 2)) == pytest.approx(1.0)
    three_levels = Copycat(CopycatConfig((1, 1, 3), 3, flip=0.2), all_images((1, 1, 3), 3)[[4, 20]])
    assert total(three_levels, (1, 1, 3), 3) == pytest.approx(1.0)
    ind = IndependentPixels(IndependentConfig((1, 2, 2), 2))
    mixed = TwoModelMixture(MixtureOfTwoConfig(weight=0.3), ind, smooth)
    assert total(mixed, (1, 2, 2)) == pytest.approx(1.0) and mixed.log_prob_kind.value == "exact"
    x = all_images((1, 2, 2))
    assert torch.allclose(mixed.log_prob(x), torch.log(0.3 * ind.log_prob(x).exp() + 0.7 * smooth.log_prob(x).exp()), atol=1e-6)
    assert total(UniformImages(UniformConfig((1, 2, 2), 2)), (1, 2, 2)) == pytest.approx(1.0)


def test_copies_and_mixture_samples(digits):
    copycat = Copycat(CopycatConfig((1, 8, 8), 17), digits.train.x)
    s = copycat.sample(50, torch.Generator().manual_seed(0))
    assert (torch.cdist(s.flatten(1), digits.train.x.flatten(1)).min(1).values == 0).all()
    noise = UniformImages(UniformConfig((1, 8, 8), 17))
    mixed = TwoModelMixture(MixtureOfTwoConfig(weight=0.01), copycat, noise)
    x = mixed.sample(2000, torch.Generator().manual_seed(1))
    assert x.shape == (2000, 1, 8, 8) and 0.97 < 1 - mixed.last_from_a.double().mean().item() < 1
    lp_good, lp_mix = copycat.log_prob(digits.train.x[:20]), mixed.log_prob(digits.train.x[:20])
    assert ((lp_good - lp_mix) <= math.log(100) + 1e-5).all() and ((lp_good - lp_mix) >= 0).all()
    with pytest.raises(ValueError, match="both parts need a likelihood"):
        from course_utils.models.vae import Autoencoder, VAEConfig

        TwoModelMixture(MixtureOfTwoConfig(), copycat, Autoencoder(VAEConfig()))


def test_corruptions(mnist):
    x, y = mnist.val.x[:200], mnist.val.y[:200]
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    for kind in ("noise", "blur", "drop a class"):
        c = corrupt(x, y, kind, generator=g())
        assert c.shape == x.shape and set(c.unique().tolist()) <= {0.0, 1.0}
    dropped = corrupt(x, y, "drop a class", dropped=3, generator=g())
    d_sets = torch.cdist(dropped[y == 3].flatten(1), x[y != 3].flatten(1)).min(1).values
    assert (d_sets == 0).all() and torch.equal(dropped[y != 3], x[y != 3])  # every 3 replaced by another digit
    half, most = mix_in(x, dropped, 0.5, g()), mix_in(x, dropped, 0.9, g())
    changed_half, changed_most = (half != x).flatten(1).any(1), (most != x).flatten(1).any(1)
    assert (changed_half <= changed_most).all()  # nested: the same draws decide at every strength
    grey17 = corrupt(mnist.val.x[:5] * 0 + 0.5, y[:5], "blur", num_levels=17)
    assert torch.allclose(grey17 * 16, (grey17 * 16).round())
    with pytest.raises(ValueError, match="Unknown corruption"):
        corrupt(x, y, "rotate")


def test_independent_pixels_fit_256_levels_by_counting(mnist):
    x = mnist.train.x[:50] * 0 + torch.arange(28).view(1, 1, 1, 28) / 255  # levels 0..27 on the 8-bit grid
    grey = IndependentPixels(IndependentConfig((1, 28, 28), 256)).fit_closed_form(x)
    p = torch.softmax(grey.logits, 0)
    assert torch.allclose(p[5, 0, 0, 5], torch.tensor(50.5 / (50 + 128))) and torch.allclose(p[6, 0, 0, 5], torch.tensor(0.5 / 178))


def test_random_features_and_spearman(digits):
    a, b = random_feature_net("digits8", seed=1), random_feature_net("digits8", seed=1)
    fa, fb = extract_features(a, digits.val.x[:20]), extract_features(b, digits.val.x[:20])
    assert torch.equal(fa, fb) and not torch.equal(fa, extract_features(random_feature_net("digits8", seed=2), digits.val.x[:20]))
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0) and spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="Unknown feature network"):
        random_feature_net("inception")
