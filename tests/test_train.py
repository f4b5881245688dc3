import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from course_utils.base import GenerativeModel, LogProbKind
from course_utils.models.independent import IndependentConfig, IndependentPixels
from course_utils.train import (CheckpointError, NonFiniteLossError, TrainConfig, config_hash, fit, fit_or_load,
                                load_checkpoint, save_checkpoint)


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

    def loss(self, x):
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
    assert payload["version"] == 1 and set(payload["state_dict"]) == {"logits"}
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
    assert len(files) == 1 and files[0].name.startswith("independent-smoke-")
    second = _model()
    h2 = fit_or_load(second, train, val, cfg, checkpoint_dir=tmp_path, budget="smoke")
    assert torch.equal(first.logits, second.logits) and h1.val_loss == h2.val_loss
    fit_or_load(_model(), train, val, TrainConfig(epochs=1, progress=False), checkpoint_dir=tmp_path, budget="smoke")
    assert len(list(tmp_path.glob("*.pt"))) == 2, "another training config is another checkpoint"
    assert config_hash(first.cfg, cfg) != config_hash(first.cfg, TrainConfig(epochs=1))


def test_fit_rejects_non_models():
    with pytest.raises(TypeError, match="GenerativeModel"):
        fit(nn.Linear(2, 2), [], None)
