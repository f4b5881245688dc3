"""Implement-and-check exercises: a stub the student fills in, a checker that says what is wrong.

The pattern in a notebook (the student edition drops the hidden ``solution`` cell)::

    # %% tags=["exercise"]
    def my_log_det(s: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("replace this line with your code")

    # %% jupyter={"source_hidden": true} tags=["solution"]
    def my_log_det(s: torch.Tensor) -> torch.Tensor:
        return s.sum(1)

    # %%
    check("log-det of a coupling layer", my_log_det, coupling.log_abs_det_jacobian, cases=[(s,)])

:func:`check` calls the student's function and the reference on each case and prints one line:
``not implemented yet``, ``correct``, or what differs (the output's type, shape or dtype, the first
wrong entry and the size of the error). It never stops a student's Run All. The test command sets
``COURSE_EXERCISES``: ``strict`` (the instructor edition: every checker must pass on its solution)
or ``todo`` (the student edition: every checker must report "not implemented yet").
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

MODES = ("", "strict", "todo")


@dataclass
class CheckResult:
    """What :func:`check` found: ``status`` is ``"correct"``, ``"todo"`` or ``"wrong"``."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """A cell that ends with ``check(...)`` shows the verdict it printed and no ``Out[ ]`` after it
        (an empty ``_repr_pretty_`` still made an empty output box, in JupyterLab and on the site)."""


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def compare(got: Any, want: Any, *, atol: float = 1e-5, rtol: float = 1e-4, where: str = "the result") -> str | None:
    """``None`` if ``got`` matches ``want`` (tensors, numbers, tuples/lists/dicts of them), else one sentence."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"{where} should be a sequence of {len(want)} items; got {_describe(got)}" + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        for i, (g, w) in enumerate(zip(got, want)):
            msg = compare(g, w, atol=atol, rtol=rtol, where=f"item {i} of {where}")
            if msg:
                return msg
        return None
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return f"{where} should be a dict with keys {sorted(want)}; got {sorted(got) if isinstance(got, dict) else _describe(got)}"
        for k in want:
            msg = compare(got[k], want[k], atol=atol, rtol=rtol, where=f"{where}[{k!r}]")
            if msg:
                return msg
        return None
    if isinstance(want, Tensor):
        if not isinstance(got, Tensor):
            return f"{where} should be {_describe(want)}; got {_describe(got)}"
        if tuple(got.shape) != tuple(want.shape):
            return f"{where} has shape {tuple(got.shape)}; expected {tuple(want.shape)}"
        if got.is_floating_point() != want.is_floating_point():
            return f"{where} has dtype {got.dtype}; expected {want.dtype}"
        g, w = got.detach().double().cpu(), want.detach().double().cpu()
        if not bool(torch.isfinite(g).all()) and bool(torch.isfinite(w).all()):
            return f"{where} holds NaN or infinite values"
        bad = ~torch.isclose(g, w, atol=atol, rtol=rtol, equal_nan=True)
        if bool(bad.any()):
            idx = tuple(int(i) for i in torch.nonzero(bad)[0])
            err = (g - w).abs()[bad].max().item()
            return (f"{where} differs at index {idx}: got {g[idx].item():.6g}, expected {w[idx].item():.6g} "
                    f"({int(bad.sum())} of {bad.numel()} entries wrong, largest error {err:.3g})")
        return None
    if isinstance(want, (int, float)):
        if isinstance(got, Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)):
            return f"{where} should be a number; got {_describe(got)}"
        if not math.isclose(got, want, rel_tol=rtol, abs_tol=atol):
            return f"{where} is {got:.6g}; expected {want:.6g} (error {abs(got - want):.3g})"
        return None
    return None if got == want else f"{where} is {got!r}; expected {want!r}"


def check(name: str, answer: Callable[..., Any], reference: Callable[..., Any], cases: Sequence[tuple], *,
          atol: float = 1e-5, rtol: float = 1e-4) -> CheckResult:
    """Compare ``answer(*case)`` with ``reference(*case)`` for every case; print and return the verdict.

    Under ``COURSE_EXERCISES=strict`` a verdict other than "correct" raises ``AssertionError``; under
    ``COURSE_EXERCISES=todo`` a verdict other than "not implemented yet" does. Otherwise it never raises.
    """
    mode = os.environ.get("COURSE_EXERCISES", "")
    if mode not in MODES:
        raise ValueError(f"COURSE_EXERCISES must be one of {MODES}; got {mode!r}.")
    result = CheckResult(name, "correct", "correct")
    for i, case in enumerate(cases):
        try:
            got = answer(*case)
        except NotImplementedError:
            result = CheckResult(name, "todo", "not implemented yet: fill in the function above, then run this cell again")
            break
        except Exception as err:  # a student's bug: say what it was, do not stop Run All
            result = CheckResult(name, "wrong", f"raised {type(err).__name__}: {err} (case {i + 1})")
            break
        msg = compare(got, reference(*case), atol=atol, rtol=rtol)
        if msg:
            result = CheckResult(name, "wrong", f"{msg} (case {i + 1} of {len(cases)})")
            break
    mark = {"correct": "\u2714", "todo": "\u2026", "wrong": "\u2718"}[result.status]
    print(f"{mark} {name}: {result.message}")
    if mode == "strict" and result.status != "correct":
        raise AssertionError(f"exercise {name!r} does not pass on its solution: {result.message}")
    if mode == "todo" and result.status != "todo":
        raise AssertionError(f"exercise {name!r} should report 'not implemented yet' in the student edition; it says: {result.message}")
    return result
