import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from course_utils.base import GenerativeModel, LogProbKind
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.checkpoints import config_hash
from course_utils.models.made import MADE, MADEConfig
from course_utils.models.vae import VAE, VAEConfig
from course_utils.train import (EMA, CheckpointError, NonFiniteLossError, TrainConfig, fit, fit_or_load, load_checkpoint, lr_factor,
                                save_checkpoint)


def _loaders(n=64):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 1, 4, 4, generator=g) < 0.3).float()
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=16)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:16]), batch_size=16)
    return train, val


def _model():
    return IndependentPixels(IndependentConfig((1, 4, 4), 2))


def test_fit_lowers_the_loss_and_keeps_history():
    train, val = _loaders()
    model = _model()
    history = fit(model, train, val, TrainConfig(epochs=5, lr=0.1, progress=False))
    assert len(history.train_loss) == 20 and history.epoch == [1, 2, 3, 4, 5] and len(history.val_loss) == 5
    assert history.val_loss[-1] < 16 * math.log(2) - 0.5 and history.seconds > 0, "better than the uniform model it starts as"
    assert "grad_norm" in history.extra and not model.training


def test_max_steps_stops_early():
    train, val = _loaders()
    history = fit(_model(), train, val, TrainConfig(epochs=5, max_steps=6, progress=False))
    assert history.step[-1] == 6


@dataclass
class _Cfg:
    nan_at: int = 3


class _Exploding(GenerativeModel):
    family = "exploding"
    log_prob_kind = LogProbKind.NONE

    def __init__(self, cfg):
        super().__init__(cfg)
        self.w = nn.Parameter(torch.ones(()))
        self.calls = 0

    def loss(self, x, y=None):
        self.calls += 1
        return self.w * (float("nan") if self.calls == self.cfg.nan_at else 1.0)


def test_nan_loss_stops_with_the_step_named():
    train, _ = _loaders()
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 3 \\(epoch 1\\) of exploding"):
        fit(_Exploding(_Cfg()), train, None, TrainConfig(epochs=2, progress=False))


def test_early_stopping_restores_the_best_weights():
    train, val = _loaders()
    model = IndependentPixels(IndependentConfig((1, 4, 4), 2))
    # an absurd learning rate makes validation loss bounce; patience=1 stops at the first worsening
    history = fit(model, train, val, TrainConfig(epochs=30, lr=50.0, patience=1, clip_grad_norm=None, progress=False))
    assert history.stopped_early
    from course_utils.train import evaluate_loss

    assert evaluate_loss(model, val) == pytest.approx(history.best_val_loss, rel=1e-5)


def test_checkpoint_round_trip_is_plain_and_atomic(tmp_path):
    train, val = _loaders()
    model = _model()
    history = fit(model, train, val, TrainConfig(epochs=2, lr=0.1, progress=False))
    path = save_checkpoint(tmp_path / "m.pt", model, history)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"], "no temporary file left behind"
    payload = torch.load(path, weights_only=True)
    assert payload["family"] == "independent" and payload["config"] == {"shape": [1, 4, 4], "num_levels": 2}
    assert payload["version"] == 2 and set(payload["state_dict"]) == {"logits"}
    fresh = _model()
    loaded_history = load_checkpoint(path, fresh)
    assert torch.equal(fresh.logits, model.logits) and loaded_history.val_loss == history.val_loss


def test_corrupt_and_mismatched_checkpoints_are_clear_errors(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _model())
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "absent.pt", _model())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or not a course checkpoint"):
        load_checkpoint(tmp_path / "junk.pt", _model())
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated, _model())
    with pytest.raises(CheckpointError, match="another configuration"):
        load_checkpoint(path, IndependentPixels(IndependentConfig((1, 4, 4), 3)))
    with pytest.raises(CheckpointError, match="holds a 'independent' model"):
        load_checkpoint(path, _Exploding(_Cfg()))
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a course checkpoint"):
        load_checkpoint(tmp_path / "other.pt", _model())


def test_fit_or_load_trains_once_then_reuses(tmp_path):
    train, val = _loaders()
    cfg = TrainConfig(epochs=2, lr=0.1, progress=False)
    first = _model()
    h1 = fit_or_load(first, train, val, cfg, checkpoint_dir=tmp_path, budget="smoke")
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and files[0].name.startswith("independent-smoke-") and not h1.from_checkpoint
    second = _model()
    h2 = fit_or_load(second, train, val, cfg, checkpoint_dir=tmp_path, budget="smoke")
    assert torch.equal(first.logits, second.logits) and h1.val_loss == h2.val_loss and h2.from_checkpoint
    fit_or_load(_model(), train, val, TrainConfig(epochs=1, progress=False), checkpoint_dir=tmp_path, budget="smoke")
    assert len(list(tmp_path.glob("*.pt"))) == 2, "another training config is another checkpoint"
    assert config_hash(first.cfg, cfg) != config_hash(first.cfg, TrainConfig(epochs=1))


def test_fit_rejects_non_models():
    with pytest.raises(TypeError, match="GenerativeModel"):
        fit(nn.Linear(2, 2), [], None)


# --------------------------------------------------------------------------- the contract of the loop
class _Interrupt(Exception):
    pass


def _vae_loaders(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 17, (96, 1, 4, 4), generator=g).float() / 16
    y = torch.randint(0, 3, (96,), generator=g)
    data = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(1))
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:32], y[:32]), batch_size=16)
    return train, val


def _stochastic_model():
    """A conditional VAE with dropout and a KL warm-up: data order, dropout masks, the reparameterisation
    noise and the step all change the weights, so only an exact resume reproduces them."""
    torch.manual_seed(3)
    return VAE(VAEConfig((1, 4, 4), num_levels=17, latent_dim=3, hidden=16, num_classes=3, dropout=0.2, kl_warmup_steps=10))


@pytest.mark.parametrize("crash_at", [9, 14])  # mid-epoch (6 steps per epoch) and again later
def test_a_killed_run_resumes_to_the_same_weights(tmp_path, crash_at):
    cfg = TrainConfig(epochs=4, lr=3e-3, warmup_steps=4, schedule="cosine", ema_decay=0.9, patience=3, checkpoint_seconds=0.0, progress=False)
    train, val = _vae_loaders()
    torch.manual_seed(11)
    reference = _stochastic_model()
    h_ref = fit(reference, train, val, cfg)

    train, val = _vae_loaders()
    torch.manual_seed(11)
    crashing = _stochastic_model()
    original_step = crashing.train_step

    def step_then_crash(x, y, optimizers, *, step, clip_grad_norm):
        if step == crash_at:
            raise _Interrupt
        return original_step(x, y, optimizers, step=step, clip_grad_norm=clip_grad_norm)

    crashing.train_step = step_then_crash
    state = tmp_path / "run.partial.pt"
    with pytest.raises(_Interrupt):
        fit(crashing, train, val, cfg, state_path=state)
    assert state.is_file(), "the run left its state behind"

    torch.manual_seed(999)  # a new process would start from another random state
    train, val = _vae_loaders()
    resumed = _stochastic_model()
    h = fit(resumed, train, val, cfg, state_path=state)
    assert h.resumed_at_step == crash_at - 1 and h.step == h_ref.step
    for k, v in reference.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), f"{k} differs after resuming"
    assert h.val_loss == h_ref.val_loss


def test_fit_passes_labels_and_the_global_step():
    seen = []
    model = VAE(VAEConfig((1, 4, 4), num_levels=17, latent_dim=2, hidden=8, num_classes=3))
    original = model.training_loss

    def spy(x, y=None, *, step):
        seen.append((step, None if y is None else y.shape))
        return original(x, y, step=step)

    model.training_loss = spy
    train, val = _vae_loaders()
    h = fit(model, train, val, TrainConfig(epochs=2, progress=False))
    assert [s for s, _ in seen] == list(range(1, 13)) and all(shape == (16,) for _, shape in seen)
    assert len(h.val_loss) == 2 and math.isfinite(h.val_loss[0]), "the validation loss used the labels too"


def test_made_cycles_its_masks_by_the_global_step():
    model = MADE(MADEConfig((1, 2, 2), hidden=(8,), num_masks=3, order_agnostic=True))
    x = (torch.rand(4, 1, 2, 2) < 0.5).float()
    for step, expected in ((1, 0), (2, 1), (3, 2), (4, 0), (8, 1)):
        model.training_loss(x, step=step)
        assert model.mask_index == expected


def test_learning_rate_warmup_and_cosine_schedule():
    f = lr_factor(TrainConfig(warmup_steps=4, schedule="cosine"), total_steps=14)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(9) == pytest.approx(0.5) and f(14) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(TrainConfig(), 10)(7) == 1.0


def test_ema_averages_and_is_what_the_model_keeps():
    model = _model()
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.logits.fill_(1.0)
    ema.update(model, step=100)  # decay min(0.5, 101/110) = 0.5: halfway from 0 to 1
    assert torch.allclose(ema.shadow["logits"], torch.full_like(model.logits, 0.5))
    with ema.applied(model):
        assert torch.allclose(model.logits, torch.full_like(model.logits, 0.5))
    assert torch.allclose(model.logits, torch.ones_like(model.logits)), "the model's own weights come back"
    train, val = _loaders()
    trained = _model()
    fit(trained, train, val, TrainConfig(epochs=2, lr=0.1, ema_decay=0.99, progress=False))
    assert trained.logits.abs().sum() > 0, "the averaged weights were loaded at the end"


def test_checkpoint_key_covers_data_and_ignores_cosmetic_flags(tmp_path):
    train, val = _loaders()
    fit_or_load(_model(), train, val, TrainConfig(epochs=1, progress=False), checkpoint_dir=tmp_path, budget="smoke")
    fit_or_load(_model(), train, val, TrainConfig(epochs=1, progress=True, checkpoint_seconds=5), checkpoint_dir=tmp_path, budget="smoke")
    assert len(list(tmp_path.glob("*.pt"))) == 1, "progress and checkpoint_seconds change nothing that is computed"
    other_train, _ = _loaders(n=48)
    fit_or_load(_model(), other_train, val, TrainConfig(epochs=1, progress=False), checkpoint_dir=tmp_path, budget="smoke")
    assert len(list(tmp_path.glob("*.pt"))) == 2, "other data, another checkpoint"
    with pytest.raises(TypeError, match="data_key"):
        fit_or_load(_model(), [(torch.zeros(2, 1, 4, 4),)], None, TrainConfig(epochs=1, progress=False), checkpoint_dir=tmp_path, budget="smoke")


def test_weight_decay_only_on_weight_matrices():
    from course_utils.base import parameter_groups

    model = VAE(VAEConfig((1, 4, 4), num_levels=2, latent_dim=2, hidden=8))
    decay, rest = parameter_groups(model, 1e-3)
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in rest["params"])
    assert decay["weight_decay"] == 1e-3 and rest["weight_decay"] == 0.0


@pytest.mark.parametrize("seconds, saves", [(0.0, 4 * 5 + 5), (1e9, 1)])
def test_partial_checkpoints_are_written_every_checkpoint_seconds_and_at_the_end(monkeypatch, tmp_path, seconds, saves):
    """0 s: after every step and every epoch; a long interval: only once, when the run ends (nothing lost on a crash
    but the last interval, and no checkpoint every few steps when epochs are short)."""
    import course_utils.train as train_module

    written = []
    monkeypatch.setattr(train_module, "atomic_save", lambda payload, path: written.append(payload["step"]))
    train, val = _loaders()
    fit(_model(), train, val, TrainConfig(epochs=5, lr=0.1, checkpoint_seconds=seconds, progress=False), state_path=tmp_path / "run.pt")
    assert len(written) == saves and written[-1] == 20
