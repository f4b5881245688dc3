"""The leaderboard: which presets join which board, likelihood kinds and options, rows of tiny models, errors."""

from dataclasses import dataclass

import pytest
import torch

from course_utils.base import GenerativeModel, LogProbKind
from course_utils.evaluation.leaderboard import (
    BOARDS,
    KIND_BOUND,
    KIND_ENUMERATED,
    KIND_EXACT,
    KIND_NONE,
    board_presets,
    default_n,
    draw,
    evaluate_model,
    floor_at,
    format_table,
    held_out_row,
    leaderboard,
    likelihood_kind,
    likelihood_options,
    sample_scores,
    model_nll as nll_of,
)
from course_utils.evaluation.likelihood import mean_nll
from course_utils.evaluation.protocol import fd_floor
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.models.presets import PRESETS
from course_utils.models.vae import VAE, VAEConfig
from course_utils.runtime import setup


@dataclass
class TinyConfig:
    shape: tuple = (1, 8, 8)
    num_classes: int = 0


class SamplesOnly(GenerativeModel):
    """A generator without a likelihood (like a GAN): uniform 17-level noise."""

    family = "samples-only"
    log_prob_kind = LogProbKind.NONE

    def __init__(self, cfg):
        super().__init__(cfg)
        self.register_buffer("anchor", torch.zeros(()))
        self.seen_y = []

    def sample(self, n, generator=None, y=None):
        y = self.labels(y, n)
        self.seen_y.append(None if y is None else y.tolist())
        return torch.randint(0, 17, (n, *self.cfg.shape), generator=generator).float() / 16


class Energy(SamplesOnly):
    family = "energy"
    log_prob_kind = LogProbKind.UNNORMALISED


class EnumeratedRBM(SamplesOnly):
    family = "rbm"
    log_prob_kind = LogProbKind.EXACT


@pytest.fixture(scope="module")
def indep(digits):
    return IndependentPixels(IndependentConfig((1, 8, 8), 17)).fit_closed_form(digits.train.x)


def test_every_preset_joins_the_board_of_its_data_set():
    for budget in ("smoke", "laptop", "full"):
        joined = {name for b in BOARDS for name in board_presets(b, budget)}
        expected = {name for name, p in PRESETS.items() if any(p.dataset(budget) in b.datasets for b in BOARDS.values())}
        assert joined == expected
    assert "vae-digits" in board_presets("digits8x8", "smoke") and "made" in board_presets("mnist5k-binarized", "full")
    assert "made" not in board_presets("digits8x8", "laptop")
    with pytest.raises(ValueError, match="Unknown board 'cifar10'; choose one of digits8x8"):
        board_presets("cifar10", "smoke")
    assert default_n("digits8x8", "laptop") == 350 and default_n("mnist5k", "full") == 500 and default_n("digits8x8", "smoke") == 64


def test_likelihood_kinds_and_the_options_chosen(indep):
    vae = VAE(VAEConfig(shape=(1, 8, 8), num_levels=17, latent_dim=2, hidden=8, depth=1))
    cfg = TinyConfig()
    assert likelihood_kind(indep) == (KIND_EXACT, "")
    assert likelihood_kind(vae) == (KIND_BOUND, "")
    assert likelihood_kind(EnumeratedRBM(cfg))[0] == KIND_ENUMERATED
    kind, reason = likelihood_kind(SamplesOnly(cfg))
    assert kind == KIND_NONE and "no density" in reason
    kind, reason = likelihood_kind(Energy(cfg))
    assert kind == KIND_NONE and "log Z" in reason
    options, note = likelihood_options(vae, "laptop", seed=3)
    assert options["k"] == 100 and isinstance(options["generator"], torch.Generator) and note == "IW bound, k = 100"
    assert likelihood_options(vae, "smoke")[0]["k"] == 10 and likelihood_options(indep, "full") == ({}, "exact")


def test_nll_matches_mean_nll_and_refuses_what_has_none(digits, indep):
    nll, kind, note = nll_of(indep, digits.test.x, budget="smoke")
    assert nll == pytest.approx(mean_nll(indep, digits.test.loader(100, shuffle=False))) and kind == KIND_EXACT
    assert nll_of(SamplesOnly(TinyConfig()), digits.test.x, budget="smoke") == (None, KIND_NONE, "no density: the model only draws samples")
    vae = VAE(VAEConfig(shape=(1, 8, 8), num_levels=17, latent_dim=2, hidden=8, depth=1))
    a, _, note = nll_of(vae, digits.test.x[:20], budget="smoke", options={"k": 5})
    b, _, _ = nll_of(vae, digits.test.x[:20], budget="smoke", options={"k": 5})
    assert note == "IW bound, k = 5" and a != pytest.approx(b)  # no generator given: two different estimates
    with pytest.raises(ValueError, match="takes no option.*steps.*it takes k, generator"):
        nll_of(vae, digits.test.x, budget="smoke", options={"steps": 3})
    with pytest.raises(ValueError, match="it takes none"):
        nll_of(indep, digits.test.x, budget="smoke", options={"k": 3})


def test_draw_times_the_first_64_and_is_reproducible():
    model = SamplesOnly(TinyConfig())
    x, seconds = draw(model, 70, seed=1)
    again, _ = draw(model, 70, seed=1)
    assert x.shape == (70, 1, 8, 8) and seconds >= 0 and torch.equal(x, again)
    conditional = SamplesOnly(TinyConfig(num_classes=3))
    draw(conditional, 70, seed=0)
    assert conditional.seen_y[0] == [i % 3 for i in range(64)] and conditional.seen_y[1] == [(64 + i) % 3 for i in range(6)]
    with pytest.raises(ValueError, match="positive"):
        draw(model, 0)


def test_a_row_of_a_tiny_model_and_of_a_model_without_likelihood(digits, indep):
    row = evaluate_model(indep, "digits8x8", name="independent", test_x=digits.test.x, budget="smoke", n=40, train_seconds=0.1)
    assert row.kind == KIND_EXACT and row.nll == pytest.approx(106.4, abs=0.1)  # REFERENCES.md: add-1/2 smoothing, 106.4 test
    assert row.bpd == pytest.approx(row.nll / (64 * 0.6931471805599453)) and row.parameters == 17 * 64
    assert row.fd > row.floor > 0 and row.floor_std > 0 and row.n == 40 and row.samples.shape == (40, 1, 8, 8)
    assert 0 <= row.precision <= 1 and 0 <= row.recall <= 1 and 0 <= row.coverage <= 1 and row.features.shape == (40, 64)
    gan = evaluate_model(SamplesOnly(TinyConfig()), "digits8x8", name="noise", test_x=digits.test.x, budget="smoke", n=40)
    assert gan.nll is None and gan.bpd is None and gan.kind == KIND_NONE and gan.fd > row.fd
    text = format_table([row, gan])
    assert "—" in text and "no density" in text and "FD (course features)" in text and "FID" not in text


def test_the_held_out_row_is_the_floor():
    row = held_out_row("digits8x8", "laptop")
    assert row.n == 350 and row.floor_std == 0 and row.fd == pytest.approx(row.floor, rel=1e-6)
    assert row.floor == pytest.approx(fd_floor("digits8x8"), rel=1e-4)
    mean, std = floor_at("digits8x8", 100, seeds=3)
    assert mean > row.floor and std > 0  # the floor rises as N falls


def test_bad_input_names_what_to_pass(digits, mnist, indep):
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\) in \[0, 1\]"):  # a 28x28 model on the digits board
        evaluate_model(IndependentPixels(IndependentConfig()), "digits8x8", name="mnist model", test_x=mnist.test.x[:10], budget="smoke", n=10)
    with pytest.raises(ValueError, match="at least 6 samples"):
        sample_scores(digits.val.x[:5], "digits8x8")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sample_scores(digits.val.levels.float()[:10], "digits8x8")
    with pytest.raises(ValueError, match=r"N must lie in \[2, 350\]"):
        floor_at("digits8x8", 400)
    with pytest.raises(TypeError, match="GenerativeModel"):
        evaluate_model(torch.nn.Linear(2, 2), "digits8x8", name="x", test_x=digits.test.x, budget="smoke")


def test_leaderboard_puts_the_held_out_row_first_and_checks_preset_names(digits, indep):
    rt = setup("09_test", quiet=True)
    rows = leaderboard(rt, "digits8x8", extra={"independent": (indep, 0.0)}, presets=[], n=30)
    assert [r.name for r in rows] == ["held-out real images", "independent"] and rows[1].origin == "fitted here"
    with pytest.raises(ValueError, match="No preset 'nope'"):
        leaderboard(rt, "digits8x8", presets=["nope"], n=30)


def test_a_presets_row_is_scored_once_and_rescored_when_its_weights_change(monkeypatch, tmp_path):
    """make prepare scores the presets ahead of class: a second leaderboard reads the rows it saved
    (same numbers, same samples), and a model whose weights differ gets a new row, never a stale one."""
    import course_utils.evaluation.leaderboard as lb
    from course_utils.models.presets import load_model

    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    rt = setup("09_test", quiet=True)
    first = leaderboard(rt, "mnist5k-binarized", presets=["fvsbn"], n=30, quiet=True)[1]
    scored = []
    monkeypatch.setattr(lb, "evaluate_model", lambda *a, **k: scored.append(k["name"]) or evaluate_model(*a, **k))
    again = leaderboard(rt, "mnist5k-binarized", presets=["fvsbn"], n=30, quiet=True)[1]
    assert scored == [] and again.origin == "checkpoint" and first.origin == "trained now"
    assert (again.nll, again.fd, again.precision) == (first.nll, first.fd, first.precision) and torch.equal(again.samples, first.samples)
    model, _ = load_model("fvsbn", rt, quiet=True)
    key = lb.score_key(model, "mnist5k-binarized", 30, rt.seed)
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert lb.score_key(model, "mnist5k-binarized", 30, rt.seed) != key
    (next((tmp_path / "scores").glob("fvsbn-*.pt"))).write_bytes(b"half a file")
    leaderboard(rt, "mnist5k-binarized", presets=["fvsbn"], n=30, quiet=True)
    assert scored == ["fvsbn"], "an unreadable row is scored again"
