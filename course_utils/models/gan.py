"""Generative adversarial networks: the minimax game, its non-saturating and Wasserstein forms, DCGAN, cGAN.

Goodfellow et al. (2014), *Generative Adversarial Nets* (the game, the optimal discriminator, the
non-saturating generator loss); Radford, Metz & Chintala (2016), *DCGAN* (convolutional networks,
batch normalisation in the generator); Arjovsky, Chintala & Bottou (2017), *Wasserstein GAN*;
Gulrajani et al. (2017), *Improved Training of Wasserstein GANs* (the gradient penalty, ``n_critic``);
Miyato et al. (2018), *Spectral Normalization for GANs*; Mirza & Osindero (2014), *Conditional GANs*,
with the label fed to the discriminator by projection (Miyato & Koyama 2018).

A GAN has **no likelihood** (``log_prob_kind = NONE``): the generator pushes a latent
``z ~ N(0, I)`` forward, ``x = G(z)``, and nothing gives ``log p(x)``; with ``latent_dim`` below
the data's dimension the samples even lie on a surface of that dimension, where no density
exists. ``mean_nll`` refuses it; compare GANs by their samples (FD (course features)).

Two families share everything but their networks:

| family   | class    | data                                   | networks                                    |
|----------|----------|----------------------------------------|---------------------------------------------|
| ``gan``  | ``MLPGAN`` | points in R^d (``Support.CONTINUOUS``) | MLPs (LeakyReLU)                            |
| ``dcgan``| ``DCGAN``  | images ``(C, H, W)`` in [0, 1] (``Support.DISCRETE``) | DCGAN: transposed convolutions + batch norm in G; strided convolutions in D |

**The losses** (``cfg.loss``), written with D's logit ``l(x)`` and ``D(x) = sigmoid(l(x))``, or the
critic ``f(x)`` of the Wasserstein form:

| ``loss``            | D minimises                                   | G minimises                  |
|---------------------|-----------------------------------------------|------------------------------|
| ``minimax``         | ``-E log D(x) - E log(1 - D(G(z)))``          | ``E log(1 - D(G(z)))`` (saturates) |
| ``non-saturating``  | the same                                      | ``-E log D(G(z))``            |
| ``wasserstein``     | ``E f(G(z)) - E f(x) + gp_weight * GP``       | ``-E f(G(z))``                |

``GP = E[(||grad f(x_hat)|| - 1)^2]`` at ``x_hat = eps x + (1 - eps) G(z)``, ``eps ~ U[0, 1]`` per
example (:func:`gradient_penalty`, through ``torch.autograd.grad``). ``spectral_norm=True`` wraps
every layer of D with torch's ``torch.nn.utils.parametrizations.spectral_norm``. The Wasserstein
loss needs one of the two (a critic that is not Lipschitz has no maximum).

**Training.** ``configure_optimizers`` gives two Adams, D's first, each with its own learning rate
and betas (``lr_d``/``betas_d``, ``lr_g``/``betas_g``; ``None`` takes ``TrainConfig.lr``/``betas``).
``train_step`` (called by ``fit`` with the global step) updates D on every batch and then G on
steps 1, ``1 + n_critic``, ``1 + 2 n_critic``, ... (``(step - 1) % n_critic == 0``): one G update
per ``n_critic`` D updates, and both optimisers step on step 1, as a learning-rate schedule expects.
It returns ``loss`` (= ``loss_d``), ``loss_d``, ``loss_g`` (G's loss on this step's fakes: from G's update when there is one, else evaluated on the
discriminator step's fakes), ``d_real``/``d_fake`` (mean ``D`` of real and fake for the classifier
losses, mean critic value for the Wasserstein one), ``gp`` (Wasserstein) and ``d_wins``: 1 when
D's loss on this step is below ``d_win_loss`` nats (an evenly matched game sits at ``2 ln 2 = 1.39``),
else 0 (never for the Wasserstein loss, whose critic has no such scale). The discriminator **wins
outright** when that holds for ``d_win_steps`` steps in a row (a single early step below the line is
common and harmless): the first such run raises a :class:`DiscriminatorWonWarning`, and
:func:`training_report` says it in a sentence. A NaN or infinite loss raises
:class:`~course_utils.train.NonFiniteLossError` naming the step and the network (D or G), and any
network whose weights are no longer finite.

**Snapshots.** With ``snapshot_steps`` (global steps) and ``snapshot_size`` (m), the model records,
right after each of those steps, G's output on m fixed latents (labels ``arange(m) % num_classes``
for a conditional model): images as integer levels (uint8), points as floats, plus, for points,
D's output on a ``snapshot_resolution``-square grid over ``[-snapshot_extent, snapshot_extent]^2``
(``D(x)`` for the classifier losses, ``f(x)`` for the critic). They are buffers, so checkpoints
keep them (the notebook plots the course of training from a loaded model). Because the weight
average of ``fit`` would average them too, ``ema_decay`` is refused with snapshots, and early
stopping (``patience``) is refused always: D's validation loss does not measure sample quality.

| here          | math                                 | shape            |
|---------------|--------------------------------------|------------------|
| ``z``         | latent, N(0, I)                      | (B, latent_dim)  |
| ``generate``  | G(z [, y]): continuous               | (B, *event_shape) |
| ``discriminate`` | l(x [, y]) (logit) or f(x [, y]) (critic) | (B,)       |
| ``d_real``, ``d_fake`` | l or f on real and fake batches | (B,)       |
| ``gp_weight`` | lambda                               | scalar           |
| ``n_critic``  | D steps per G step                   | int              |

``sample(n)`` returns images on the data's grid of ``num_levels`` levels (rounded, at most half a
level away from G's continuous output, which ``generate`` returns), so samples are shaped and
valued like the data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ..base import GenerativeModel, LogProbKind, Support, check_images, check_points, eval_mode
from ..draws import normal, uniform
from ..train import NonFiniteLossError

LOSSES = ("minimax", "non-saturating", "wasserstein")


class DiscriminatorWonWarning(UserWarning):
    """The discriminator separated real from fake outright: its loss fell below ``d_win_loss``."""


# --------------------------------------------------------------------------- the losses
def _update(loss: Tensor, opt: torch.optim.Optimizer, net: nn.Module, clip_grad_norm: float | None, name: str) -> dict[str, Tensor]:
    """One optimiser step of ``net`` on ``loss`` (gradients zeroed first, clipped if asked); returns the
    gradient norm under ``name`` when clipping."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    out = {name: nn.utils.clip_grad_norm_(net.parameters(), clip_grad_norm)} if clip_grad_norm is not None else {}
    opt.step()
    return out


def discriminator_loss(d_real: Tensor, d_fake: Tensor, loss: str) -> Tensor:
    """D's loss (a scalar) from its outputs on a real and a fake batch (``(B,)`` each), without the penalty.

    Classifier losses: ``-E log sigmoid(l(x)) - E log(1 - sigmoid(l(G(z))))`` (written with softplus,
    which is exact and stable: ``-log sigmoid(l) = softplus(-l)``, ``-log(1 - sigmoid(l)) = softplus(l)``).
    Wasserstein: ``E f(G(z)) - E f(x)``.
    """
    _check_loss(loss)
    if loss == "wasserstein":
        return d_fake.mean() - d_real.mean()
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def generator_loss(d_fake: Tensor, loss: str) -> Tensor:
    """G's loss (a scalar) from D's output on fakes ``(B,)``: see the table in the module docstring."""
    _check_loss(loss)
    if loss == "minimax":
        return -F.softplus(d_fake).mean()  # E log(1 - D(G(z))): flat where D is sure the fakes are fake
    if loss == "non-saturating":
        return F.softplus(-d_fake).mean()  # -E log D(G(z))
    return -d_fake.mean()


def interpolates(real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """``eps * real + (1 - eps) * fake`` with one ``eps`` per example (``eps``: ``(B,)``)."""
    eps = eps.reshape(-1, *([1] * (real.ndim - 1)))
    return eps * real + (1 - eps) * fake


def gradient_penalty(critic: Any, real: Tensor, fake: Tensor, eps: Tensor | None = None, *,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP's penalty ``E[(||grad_x f(x_hat)||_2 - 1)^2]`` at ``x_hat = eps real + (1 - eps) fake``.

    ``critic`` maps a batch to ``(B,)``; ``eps`` (``(B,)``, default ``U[0, 1)`` drawn with ``generator``)
    picks one point per example on the segment from fake to real. The gradient is taken with
    ``torch.autograd.grad(..., create_graph=True)``, so the penalty can be back-propagated to the
    critic's weights; the norm is over every dimension of one example.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have one shape; got {tuple(real.shape)} and {tuple(fake.shape)}.")
    if eps is None:
        eps = uniform((real.shape[0],), generator, real.device)
    x_hat = interpolates(real.detach(), fake.detach(), eps).requires_grad_(True)
    with torch.enable_grad():  # also inside a no_grad block (validation)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}.")


# --------------------------------------------------------------------------- configuration
@dataclass
class GANConfig:
    """What every GAN shares: the game, the optimisers, the labels, the snapshots (module docstring)."""

    latent_dim: int = 2
    loss: str = "non-saturating"  # "minimax", "non-saturating" or "wasserstein"
    gp_weight: float = 0.0  # lambda of the gradient penalty (WGAN-GP: 10)
    spectral_norm: bool = False  # spectral normalisation of every layer of D
    n_critic: int = 1  # D steps per G step
    lr_d: float | None = None  # None: TrainConfig.lr
    lr_g: float | None = None
    betas_d: tuple[float, float] | None = None  # None: TrainConfig.betas
    betas_g: tuple[float, float] | None = None
    num_classes: int = 0  # > 0: a conditional GAN, G(z, y) and D(x, y)
    d_win_loss: float = 0.05  # nats: D's loss below this on a step sets the step's d_wins flag (classifier losses)
    d_win_steps: int = 20  # that many flagged steps in a row: D has won outright (warned, reported)
    snapshot_steps: tuple[int, ...] = ()  # global steps after which G's samples are recorded
    snapshot_size: int = 0  # m: fixed latents per snapshot
    seed: int = 0  # seeds the snapshots' fixed latents

    def __post_init__(self) -> None:
        _check_loss(self.loss)
        self.snapshot_steps = tuple(int(s) for s in self.snapshot_steps)  # a JSON round trip gives a list
        for name in ("betas_d", "betas_g"):
            betas = getattr(self, name)
            if betas is not None:
                betas = tuple(float(b) for b in betas)
                if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
                    raise ValueError(f"{name} must be two numbers in [0, 1) or None; got {betas}.")
                setattr(self, name, betas)
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive; got {self.latent_dim}.")
        if self.gp_weight < 0:
            raise ValueError(f"gp_weight must be non-negative; got {self.gp_weight}.")
        if self.loss == "wasserstein" and self.gp_weight == 0 and not self.spectral_norm:
            raise ValueError("The Wasserstein loss needs a Lipschitz critic: set gp_weight > 0 (WGAN-GP, e.g. 10) or spectral_norm=True.")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be at least 1; got {self.n_critic}.")
        for name in ("lr_d", "lr_g"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive or None; got {getattr(self, name)}.")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be non-negative; got {self.num_classes}.")
        if self.d_win_loss <= 0 or self.d_win_steps < 1:
            raise ValueError("d_win_loss must be positive and d_win_steps at least 1.")
        if any(s < 1 for s in self.snapshot_steps) or len(set(self.snapshot_steps)) != len(self.snapshot_steps):
            raise ValueError(f"snapshot_steps must be distinct steps >= 1; got {self.snapshot_steps}.")
        if self.snapshot_steps and self.snapshot_size < 1:
            raise ValueError("snapshot_steps needs snapshot_size >= 1 (the number of fixed latents each snapshot keeps).")


@dataclass
class MLPGANConfig(GANConfig):
    """A GAN of points in R^dim with MLP networks (the 2-D toys, the 1-D Gaussians)."""

    dim: int = 2
    hidden: int = 128
    depth: int = 3  # hidden layers in G and in D
    snapshot_extent: float = 3.0  # D is recorded on [-extent, extent]^2 (2-D data only)
    snapshot_resolution: int = 48

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 1 or self.hidden < 1 or self.depth < 1:
            raise ValueError("dim, hidden and depth must be positive.")


@dataclass
class DCGANConfig(GANConfig):
    """A DCGAN of images ``shape`` = (C, H, W) (H and W multiples of 4) with ``num_levels`` grey levels."""

    shape: tuple[int, int, int] = (1, 28, 28)
    num_levels: int = 256
    latent_dim: int = 64
    channels: int = 32  # c: G runs 2c -> c -> C channels, D runs C -> c -> 2c
    betas_d: tuple[float, float] | None = (0.5, 0.999)  # DCGAN's Adam: beta1 = 0.5
    betas_g: tuple[float, float] | None = (0.5, 0.999)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.shape = tuple(int(s) for s in self.shape)
        if len(self.shape) != 3 or self.shape[1] % 4 or self.shape[2] % 4 or min(self.shape) < 1:
            raise ValueError(f"shape must be (C, H, W) with H and W multiples of 4; got {self.shape}.")
        if not 2 <= self.num_levels <= 256:
            raise ValueError(f"num_levels must be in 2..256 (snapshots store levels as uint8); got {self.num_levels}.")
        if self.channels < 1:
            raise ValueError(f"channels must be positive; got {self.channels}.")


# --------------------------------------------------------------------------- networks
def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return _spectral_norm(layer) if on else layer


class Projection(nn.Module):
    """The label term of a projection discriminator: ``<embed(y), phi(x)>`` (Miyato & Koyama 2018)."""

    def __init__(self, num_classes: int, features: int, sn: bool) -> None:
        super().__init__()
        self.embed = _sn(nn.Embedding(num_classes, features), sn)
        nn.init.normal_(self.embed.weight if not sn else self.embed.parametrizations.weight.original, 0.0, 0.02)

    def forward(self, phi: Tensor, y: Tensor) -> Tensor:
        return (self.embed(y) * phi).sum(1)


class MLPGenerator(nn.Module):
    """G(z [, y]): an MLP from ``latent_dim`` (+ one-hot label) to ``dim``, LeakyReLU(0.2) between layers."""

    def __init__(self, cfg: MLPGANConfig) -> None:
        super().__init__()
        sizes = [cfg.latent_dim + cfg.num_classes] + [cfg.hidden] * cfg.depth
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], cfg.dim))
        self.num_classes = cfg.num_classes

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if y is not None:
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """D(x [, y]) -> (B,): an MLP (LeakyReLU(0.2)); a projection term for the label."""

    def __init__(self, cfg: MLPGANConfig) -> None:
        super().__init__()
        sizes = [cfg.dim] + [cfg.hidden] * cfg.depth
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [_sn(nn.Linear(a, b), cfg.spectral_norm), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = _sn(nn.Linear(cfg.hidden, 1), cfg.spectral_norm)
        self.project = Projection(cfg.num_classes, cfg.hidden, cfg.spectral_norm) if cfg.num_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        phi = self.features(x)
        out = self.head(phi).squeeze(1)
        return out if self.project is None else out + self.project(phi, y)


class DCGenerator(nn.Module):
    """G(z [, y]) -> (B, C, H, W) in (0, 1): linear to (2c, H/4, W/4), then two transposed 4x4
    convolutions of stride 2 (batch norm and ReLU after the first), then a sigmoid. A conditional G
    reads y as a one-hot vector next to z and as constant one-hot maps next to each convolution's input."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        c, (C, H, W) = cfg.channels, cfg.shape
        K = self.num_classes = cfg.num_classes
        self.start = (2 * c, H // 4, W // 4)
        self.fc = nn.Sequential(nn.Linear(cfg.latent_dim + K, 2 * c * (H // 4) * (W // 4), bias=False),
                                nn.BatchNorm1d(2 * c * (H // 4) * (W // 4)), nn.ReLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * c + K, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())  # (c, H/2, W/2)
        self.up2 = nn.ConvTranspose2d(c + K, C, 4, 2, 1)  # (C, H, W)

    def _with_labels(self, h: Tensor, y1: Tensor | None) -> Tensor:
        if y1 is None:
            return h
        return torch.cat([h, y1[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)  # (B, channels + K, h, w)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        y1 = F.one_hot(y, self.num_classes).to(z.dtype) if y is not None else None
        h = self.fc(z if y1 is None else torch.cat([z, y1], 1)).view(-1, *self.start)  # (B, 2c, H/4, W/4)
        h = self.up1(self._with_labels(h, y1))  # (B, c, H/2, W/2)
        return torch.sigmoid(self.up2(self._with_labels(h, y1)))


class DCDiscriminator(nn.Module):
    """D(x [, y]) -> (B,): two strided 4x4 convolutions (C -> c -> 2c, LeakyReLU 0.2, no batch norm:
    the gradient penalty is per example), a linear head, and a projection term for the label."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        c, (C, H, W) = cfg.channels, cfg.shape
        sn = cfg.spectral_norm
        self.features = nn.Sequential(
            _sn(nn.Conv2d(C, c, 4, 2, 1), sn), nn.LeakyReLU(0.2),  # (c, H/2, W/2)
            _sn(nn.Conv2d(c, 2 * c, 4, 2, 1), sn), nn.LeakyReLU(0.2),  # (2c, H/4, W/4)
            nn.Flatten(),
        )
        feats = 2 * c * (H // 4) * (W // 4)
        self.head = _sn(nn.Linear(feats, 1), sn)
        self.project = Projection(cfg.num_classes, feats, sn) if cfg.num_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        phi = self.features(2 * x - 1)  # inputs centred: [0, 1] -> [-1, 1]
        out = self.head(phi).squeeze(1)
        return out if self.project is None else out + self.project(phi, y)


# --------------------------------------------------------------------------- the model
class GAN(GenerativeModel):
    """A generator and a discriminator playing one of the games of the module docstring."""

    log_prob_kind = LogProbKind.NONE

    def __init__(self, cfg: GANConfig) -> None:
        super().__init__(cfg)
        self.generator, self.discriminator = self._networks(cfg)
        m, S = cfg.snapshot_size if cfg.snapshot_steps else 0, len(cfg.snapshot_steps)
        g = torch.Generator().manual_seed(cfg.seed)
        self.register_buffer("snapshot_z", torch.randn(m, cfg.latent_dim, generator=g))
        self.register_buffer("snapshot_y", torch.arange(m) % max(1, cfg.num_classes))
        self.register_buffer("snapshot_step", torch.full((S,), -1, dtype=torch.long))  # -1: not taken yet
        self.register_buffer("snapshot_x", self._snapshot_storage(S, m))
        self._win_run, self._warned = 0, False  # consecutive flagged steps (a diagnostic, not part of the state)

    # -- what subclasses define -----------------------------------------------------------
    def _networks(self, cfg: GANConfig) -> tuple[nn.Module, nn.Module]:
        raise NotImplementedError

    def _snapshot_storage(self, S: int, m: int) -> Tensor:
        raise NotImplementedError

    def _check(self, x: Tensor, name: str = "x") -> None:
        raise NotImplementedError

    # -- the two networks -----------------------------------------------------------------
    def latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` latents ``z ~ N(0, I)``, shape (n, latent_dim), on the model's device."""
        return normal((n, self.cfg.latent_dim), generator, self.device)

    def generate(self, z: Tensor, y: Tensor | int | None = None) -> Tensor:
        """G(z [, y]): continuous, differentiable, shape (B, *event_shape)."""
        if z.ndim != 2 or z.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"z must have shape (B, {self.cfg.latent_dim}); got {tuple(z.shape)}.")
        return self.generator(z, self.labels(y, z.shape[0]))

    def discriminate(self, x: Tensor, y: Tensor | int | None = None) -> Tensor:
        """D's logit ``l(x)`` (classifier losses) or the critic ``f(x)`` (Wasserstein): shape (B,)."""
        return self.discriminator(x, self.labels(y, x.shape[0]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: Tensor | int | None = None) -> Tensor:
        """``n`` samples shaped and ranged like the data (images on the data's grid), no gradient."""
        y = self.labels(y, n)
        with eval_mode(self):
            return self._as_data(self.generator(self.latent(n, generator), y))

    def _as_data(self, x: Tensor) -> Tensor:
        return x

    def log_prob(self, x: Tensor, y: Tensor | None = None, **options: Any) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no log_prob: a GAN defines p(x) only implicitly, as the push-forward of p(z) "
            "through G, and gives no likelihood. Compare its samples instead (FD (course features))."
        )

    # -- the game -------------------------------------------------------------------------
    def losses(self, x: Tensor, y: Tensor | None = None, *, z: Tensor | None = None,
               eps: Tensor | None = None) -> dict[str, Tensor]:
        """Both players' losses on the real batch ``x`` and fakes ``G(z)`` (``z`` drawn if not given),
        with the same D: ``loss_d`` (with the penalty), ``loss_g``, ``gp``, ``d_real``, ``d_fake``."""
        self._check(x)
        y = self.labels(y, x.shape[0])
        z = self.latent(x.shape[0]) if z is None else z
        fake = self.generator(z, y)
        d_real, d_fake = self.discriminator(x, y), self.discriminator(fake, y)
        gp = self._penalty(x, fake, y, eps)
        return {"loss_d": discriminator_loss(d_real, d_fake, self.cfg.loss) + self.cfg.gp_weight * gp,
                "loss_g": generator_loss(d_fake, self.cfg.loss), "gp": gp, "d_real": d_real, "d_fake": d_fake}

    def _penalty(self, x: Tensor, fake: Tensor, y: Tensor | None, eps: Tensor | None = None) -> Tensor:
        if self.cfg.gp_weight == 0:
            return x.new_zeros(())
        return gradient_penalty(lambda h: self.discriminator(h, y), x, fake, eps)

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """D's loss (with the penalty) on the real batch ``x`` against as many fresh fakes: the value of
        the game from D's side, which ``fit`` reports on validation data. It does not measure sample
        quality (a GAN has no likelihood); use FD (course features) for that."""
        self._check(x)
        y = self.labels(y, x.shape[0])
        fake = self.generator(self.latent(x.shape[0]), y)
        loss = discriminator_loss(self.discriminator(x, y), self.discriminator(fake, y), self.cfg.loss)
        return loss + self.cfg.gp_weight * self._penalty(x, fake, y)

    # -- training -------------------------------------------------------------------------
    def configure_optimizers(self, cfg: Any) -> list[torch.optim.Optimizer]:
        """Two Adams, ``[D's, G's]``, with ``lr_d``/``betas_d`` and ``lr_g``/``betas_g`` (``None``: the TrainConfig's)."""
        if getattr(cfg, "patience", None) is not None:
            raise ValueError("Early stopping (patience) on a GAN stops on D's validation loss, which says nothing about the samples: "
                             "set patience=None and fix the number of steps (judge the samples with FD (course features)).")
        if getattr(cfg, "ema_decay", None) and self.snapshot_x.is_floating_point() and self.cfg.snapshot_steps:
            raise ValueError("ema_decay would average the recorded snapshots too: train with snapshot_steps=() or ema_decay=None.")
        c = self.cfg
        d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_d or cfg.lr, betas=c.betas_d or cfg.betas,
                             weight_decay=cfg.weight_decay)
        g = torch.optim.Adam(self.generator.parameters(), lr=c.lr_g or cfg.lr, betas=c.betas_g or cfg.betas,
                             weight_decay=cfg.weight_decay)
        return [d, g]

    def train_step(self, x: Tensor, y: Tensor | None, optimizers: list[torch.optim.Optimizer], *, step: int,
                   clip_grad_norm: float | None) -> dict[str, Tensor]:
        """One step of the game: D on every step, G on steps 1, 1 + n_critic, ...; returns named scalars."""
        opt_d, opt_g = optimizers
        self._check(x)
        y = self.labels(y, x.shape[0])
        B, out = x.shape[0], {}
        # D: push l(x) up and l(G(z)) down (or the critic's difference), fakes held fixed
        with torch.no_grad():
            fake = self.generator(self.latent(B), y)
        d_real, d_fake = self.discriminator(x, y), self.discriminator(fake, y)
        gp = self._penalty(x, fake, y)
        loss_d = discriminator_loss(d_real, d_fake, self.cfg.loss) + self.cfg.gp_weight * gp
        self._finite(loss_d, "loss_d", "the discriminator (D)", step)
        out.update(_update(loss_d, opt_d, self.discriminator, clip_grad_norm, "grad_norm_d"))
        # G: on steps 1, 1 + n_critic, ..., against the updated D
        if (step - 1) % self.cfg.n_critic == 0:
            d_fake_g = self.discriminator(self.generator(self.latent(B), y), y)
            loss_g = generator_loss(d_fake_g, self.cfg.loss)
            self._finite(loss_g, "loss_g", "the generator (G)", step)
            out.update(_update(loss_g, opt_g, self.generator, clip_grad_norm, "grad_norm_g"))
            opt_d.zero_grad(set_to_none=True)  # G's backward reached D's weights; D steps on its own loss only
        else:
            loss_g = generator_loss(d_fake.detach(), self.cfg.loss)
        wasserstein = self.cfg.loss == "wasserstein"
        won = (not wasserstein) and loss_d.item() < self.cfg.d_win_loss
        out = {"loss": loss_d.detach(), "loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
               "d_real": (d_real if wasserstein else torch.sigmoid(d_real)).detach().mean(),
               "d_fake": (d_fake if wasserstein else torch.sigmoid(d_fake)).detach().mean(),
               **({"gp": gp.detach()} if self.cfg.gp_weight else {}), "d_wins": torch.tensor(float(won)), **out}
        self._win_run = self._win_run + 1 if won else 0
        if self._win_run == self.cfg.d_win_steps and not self._warned:
            self._warned = True
            warnings.warn(f"{self.family}: the discriminator has won outright: its loss stayed below {self.cfg.d_win_loss:g} nats "
                          f"for {self._win_run} steps in a row, up to step {step} (an even game sits at 2 ln 2 = 1.39). It tells "
                          "real from fake almost surely; with the minimax loss G's gradient all but vanishes.",
                          DiscriminatorWonWarning, stacklevel=2)
        if step in self.cfg.snapshot_steps:
            self.take_snapshot(self.cfg.snapshot_steps.index(step), step)
        return out

    def _finite(self, loss: Tensor, name: str, network: str, step: int) -> None:
        if bool(torch.isfinite(loss)):
            return
        broken = [label for label, net in (("D (discriminator)", self.discriminator), ("G (generator)", self.generator))
                  if not all(bool(torch.isfinite(p).all()) for p in net.parameters())]
        where = f"; non-finite weights in {' and '.join(broken)}" if broken else ""
        raise NonFiniteLossError(f"{name}, the loss of {network}, became {loss.item()} at step {step} of {self.family}{where}: "
                                 "lower that network's learning rate (lr_d / lr_g) or check the data.")

    # -- snapshots ------------------------------------------------------------------------
    @torch.no_grad()
    def take_snapshot(self, index: int, step: int) -> None:
        """Record G's output on the fixed latents (and, for 2-D points, D on the grid) as snapshot ``index``."""
        with eval_mode(self):
            y = self.snapshot_y if self.num_classes else None
            self.snapshot_x[index] = self._store(self.generator(self.snapshot_z, y))
            self._record_extra(index)
        self.snapshot_step[index] = step

    def _store(self, x: Tensor) -> Tensor:
        return x

    def _record_extra(self, index: int) -> None:
        pass

    def snapshots(self) -> tuple[list[int], Tensor]:
        """The steps of the snapshots taken so far and their samples, ``(S, m, *event_shape)`` on the data's scale."""
        taken = (self.snapshot_step >= 0).nonzero().flatten()
        return [int(self.snapshot_step[i]) for i in taken], self._load(self.snapshot_x[taken])

    def _load(self, stored: Tensor) -> Tensor:
        return stored


def training_report(history: Any, model: GAN | None = None) -> str:
    """One sentence on how the game went: steps, final losses, and whether D won outright (and when)."""
    extra = history.extra
    n = len(history.step)
    if not n:
        return "No training steps were recorded."
    tail = max(1, n // 10)
    mean = lambda key: sum(extra[key][-tail:]) / tail if key in extra else float("nan")  # noqa: E731
    text = f"{n} steps; over the last {tail}: D's loss {mean('loss_d'):.3f}, G's loss {mean('loss_g'):.3f}"
    wins = extra.get("d_wins", [])
    line = f"{model.cfg.d_win_loss:g} nats" if model is not None else "d_win_loss"
    needed = model.cfg.d_win_steps if model is not None else GANConfig.d_win_steps
    longest, start, run = 0, 0, 0
    for i, w in enumerate(wins):
        run = run + 1 if w else 0
        if run > longest:
            longest, start = run, i - run + 1
    if longest >= needed:
        text += (f". The discriminator WON OUTRIGHT: its loss stayed below {line} for {longest} steps in a row (steps "
                 f"{history.step[start]}-{history.step[start + longest - 1]}; below it on {sum(wins) / n:.0%} of all steps), "
                 "telling real from fake almost surely.")
    elif any(wins):
        text += (f". D's loss dipped below {line} on {sum(wins) / n:.1%} of the steps, never for {needed} steps in a row: "
                 "it never won outright.")
    else:
        text += ". The discriminator never won outright."
    return text


class MLPGAN(GAN):
    """A GAN of points in R^dim (``Support.CONTINUOUS``) with MLP networks."""

    family = "gan"
    support = Support.CONTINUOUS

    def __init__(self, cfg: MLPGANConfig) -> None:
        super().__init__(cfg)
        if cfg.dim == 2 and cfg.snapshot_steps:
            r, e = cfg.snapshot_resolution, cfg.snapshot_extent
            ticks = torch.linspace(-e, e, r)
            gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
            self.register_buffer("snapshot_grid", torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))  # (r*r, 2), row-major in y
            self.register_buffer("snapshot_d", torch.zeros(len(cfg.snapshot_steps), r, r))
        else:
            self.register_buffer("snapshot_grid", torch.zeros(0, 2))
            self.register_buffer("snapshot_d", torch.zeros(0))

    def _networks(self, cfg: MLPGANConfig) -> tuple[nn.Module, nn.Module]:
        return MLPGenerator(cfg), MLPDiscriminator(cfg)

    def _snapshot_storage(self, S: int, m: int) -> Tensor:
        return torch.zeros(S, m, self.cfg.dim)

    def _check(self, x: Tensor, name: str = "x") -> None:
        check_points(x, self.cfg.dim, name)

    def _record_extra(self, index: int) -> None:
        if self.snapshot_grid.numel():
            r = self.cfg.snapshot_resolution
            out = self.discriminator(self.snapshot_grid, None if not self.num_classes else self.snapshot_y[:1].expand(r * r))
            self.snapshot_d[index] = (out if self.cfg.loss == "wasserstein" else torch.sigmoid(out)).reshape(r, r)

    def decision_surfaces(self) -> tuple[Tensor, Tensor]:
        """The grid ``(r*r, 2)`` and D on it at every snapshot taken, ``(S, r, r)``: ``D(x)`` or the critic ``f(x)``."""
        taken = (self.snapshot_step >= 0).nonzero().flatten()
        return self.snapshot_grid, self.snapshot_d[taken]


class DCGAN(GAN):
    """A DCGAN of images in [0, 1] on a grid of ``num_levels`` levels (``Support.DISCRETE``)."""

    family = "dcgan"
    support = Support.DISCRETE

    def _networks(self, cfg: DCGANConfig) -> tuple[nn.Module, nn.Module]:
        return DCGenerator(cfg), DCDiscriminator(cfg)

    def _snapshot_storage(self, S: int, m: int) -> Tensor:
        return torch.zeros(S, m, *self.cfg.shape, dtype=torch.uint8)

    def _check(self, x: Tensor, name: str = "x") -> None:
        check_images(x, self.cfg.shape, name)

    def _as_data(self, x: Tensor) -> Tensor:
        K = self.cfg.num_levels
        return torch.round(x * (K - 1)) / (K - 1)  # on the data's grid, level / (K - 1)

    def _store(self, x: Tensor) -> Tensor:
        return torch.round(x * (self.cfg.num_levels - 1)).to(torch.uint8)

    def _load(self, stored: Tensor) -> Tensor:
        return stored.float() / (self.cfg.num_levels - 1)


__all__ = [
    "DCGAN", "DCGANConfig", "DiscriminatorWonWarning", "GAN", "GANConfig", "LOSSES", "MLPGAN", "MLPGANConfig",
    "discriminator_loss", "generator_loss", "gradient_penalty", "interpolates", "training_report",
]
