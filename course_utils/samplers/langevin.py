"""Langevin dynamics: sampling from a density known up to its normalising constant, by its gradient.

The unadjusted Langevin algorithm (ULA; Roberts & Tweedie 1996) takes steps of size ``eps``

    x <- x + (eps / 2) * grad log p(x) + sqrt(eps) * xi,    xi ~ N(0, I),

which needs only the *score* ``grad log p``: the partition function Z drops out of the gradient.
For small ``eps`` and many steps the chain's distribution approaches p, with a bias of order eps.
The Metropolis-adjusted version (MALA; Besag 1994) accepts each proposal with probability
``min(1, p(x') q(x | x') / (p(x) q(x' | x)))`` and has no bias. With ``noise=False`` the update
is gradient ascent on ``log p``: the chain runs to the nearest mode. ``clamp=(lo, hi)`` keeps every
state inside a box (images in [0, 1]: the chain then targets p restricted to the box only
approximately), and ``callback(t, x)`` sees the states after every step (to measure convergence).

The sampler works whatever its caller's mode: it enables gradients with respect to ``x`` inside
(also under ``torch.no_grad()``), puts ``model`` (if given) in evaluation mode with its parameters'
gradients off, and restores both afterwards (:func:`course_utils.base.frozen`).

| here          | math                              |
|---------------|-----------------------------------|
| ``step_size`` | eps                               |
| ``log_prob``  | log p(x) + const (e.g. -E(x))     |
| ``score``     | grad_x log p(x)                   |
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from ..base import frozen
from ..draws import normal, uniform


@dataclass
class LangevinResult:
    """The final states ``x`` (like the start), and MALA's acceptance rate (1.0 for ULA)."""

    x: Tensor
    acceptance: float


def _grad_log_prob(log_prob: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    x = x.detach().requires_grad_(True)
    lp = log_prob(x)
    if lp.shape != x.shape[:1]:
        raise ValueError(f"log_prob must return one value per example, shape ({x.shape[0]},); got {tuple(lp.shape)}.")
    (grad,) = torch.autograd.grad(lp.sum(), x)
    return lp.detach(), grad.detach()


def langevin(
    x: Tensor,
    *,
    step_size: float,
    steps: int,
    log_prob: Callable[[Tensor], Tensor] | None = None,
    score: Callable[[Tensor], Tensor] | None = None,
    noise: bool = True,
    metropolis: bool = False,
    generator: torch.Generator | None = None,
    model: nn.Module | None = None,
    clamp: tuple[float, float] | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
) -> LangevinResult:
    """Run ``steps`` Langevin updates from ``x`` (any shape ``(B, ...)``) and return the end states.

    Give ``log_prob`` (an unnormalised log-density, e.g. ``lambda x: -energy(x)``) or ``score``
    (its gradient). ``metropolis=True`` (MALA) needs ``log_prob``. A chain that produces NaN or
    infinite values raises ``FloatingPointError`` naming the step and the step size. ``clamp=(lo, hi)``
    clips the states after every step (not with MALA, whose acceptance ratio would no longer hold);
    ``callback(t, x)`` is called after step t = 1..steps with the (detached) states.
    """
    if (log_prob is None) == (score is None):
        raise ValueError("Give exactly one of log_prob= (an unnormalised log-density) or score= (its gradient).")
    if metropolis and log_prob is None:
        raise ValueError("MALA's accept/reject step needs log_prob=, not only the score.")
    if not step_size > 0 or steps < 0:
        raise ValueError(f"step_size must be positive and steps non-negative; got {step_size}, {steps}.")
    if clamp is not None and (metropolis or not clamp[0] < clamp[1]):
        raise ValueError(f"clamp must be (lo, hi) with lo < hi, and cannot be combined with MALA; got {clamp}, metropolis={metropolis}.")
    accepted, proposed = 0, 0
    with frozen(model) if model is not None else nullcontext(), torch.enable_grad():
        x = x.detach().clone()
        if log_prob is not None:
            lp, grad = _grad_log_prob(log_prob, x)
        for t in range(1, steps + 1):
            if score is not None:
                grad = score(x).detach()
            drift = x + 0.5 * step_size * grad
            x_new = drift + math.sqrt(step_size) * normal(tuple(x.shape), generator, x.device) if noise else drift
            if metropolis:
                lp_new, grad_new = _grad_log_prob(log_prob, x_new)
                back = x_new + 0.5 * step_size * grad_new
                dims = tuple(range(1, x.ndim))
                log_q_fwd = -((x_new - drift) ** 2).sum(dims) / (2 * step_size)  # log q(x' | x) + const
                log_q_back = -((x - back) ** 2).sum(dims) / (2 * step_size)  # log q(x | x') + const
                log_alpha = lp_new - lp + log_q_back - log_q_fwd
                accept = torch.log(uniform(tuple(lp.shape), generator, x.device)) < log_alpha
                shape = (-1,) + (1,) * (x.ndim - 1)
                x = torch.where(accept.view(shape), x_new, x)
                lp, grad = torch.where(accept, lp_new, lp), torch.where(accept.view(shape), grad_new, grad)
                accepted, proposed = accepted + int(accept.sum()), proposed + accept.numel()
            else:
                x = x_new if clamp is None else x_new.clamp(*clamp)
                if log_prob is not None:
                    lp, grad = _grad_log_prob(log_prob, x)
            if not bool(torch.isfinite(x).all()) or (log_prob is not None and not bool(torch.isfinite(grad).all())):
                raise FloatingPointError(
                    f"the Langevin chain diverged (NaN or infinite values) at step {t} with step_size={step_size:g}: "
                    "lower the step size."
                )
            if callback is not None:
                callback(t, x.detach())
    return LangevinResult(x.detach(), accepted / proposed if proposed else 1.0)
