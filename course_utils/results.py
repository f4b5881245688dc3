"""Key figures a notebook reports (a test NLL, an FID, a wall time), and the claims they back.

``rt.record("test_nll_made", 97.3, "nats")`` appends one JSON line to ``<run_dir>/results.jsonl``.
A claim that needs more training than the smoke budget gives is stated with its threshold and
the budget at which it must hold::

    rt.record("test_nll_made", nll, "nats", at_most=105.0, budget="laptop")

It is recorded at every budget; at the budget it names it is also *checked*: the cell fails if
the figure misses the threshold. The benchmark command (``python course.py bench``) prints every
figure with its threshold and whether it held, so nothing is silently skipped by budget: at smoke
the table says "not checked (laptop claim)".
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"


class Recorded(float):
    """A recorded figure: the value itself (a float), shown in a notebook as the line the benchmark
    prints for it (its name, value, unit and claim) instead of a bare number in an ``Out`` box."""

    def __new__(cls, value: float, line: str) -> "Recorded":
        obj = super().__new__(cls, value)
        obj.line = line
        return obj

    def _ipython_display_(self) -> None:
        print("recorded: " + self.line)


def figure_line(entry: dict[str, Any]) -> str:
    """One recorded entry as a line: ``name = value unit  [ok <= 42]`` (the claim, if any, and its status)."""
    held, text = claim_status(entry)
    mark = f"  [{ {True: 'ok ', False: 'MISSED ', None: ''}[held]}{text}]" if text else ""
    return f"{entry['name']} = {entry['value']:.4g} {entry['unit']}".rstrip() + mark


def record(rt: Any, name: str, value: float, unit: str = "", *, at_most: float | None = None, at_least: float | None = None,
           budget: str | None = None) -> Recorded:
    """Record ``value`` under ``name`` for ``rt.notebook``; check it when ``rt.budget == budget``.

    ``budget`` is required with a threshold (``at_most`` / ``at_least``) and names the budget the
    claim is made for. Returns the value as a :class:`Recorded` float, which a notebook shows as
    the figure's line, so a cell that ends with ``rt.record(...)`` says what it recorded.
    """
    value = float(value)
    if (at_most is not None or at_least is not None) and budget is None:
        raise ValueError("A threshold needs the budget it is claimed for, e.g. budget='laptop'.")
    if budget is not None and budget not in ("smoke", "laptop", "full"):
        raise ValueError(f"budget must be smoke, laptop or full; got {budget!r}.")
    entry = {
        "notebook": rt.notebook,
        "budget": rt.budget,
        "name": name,
        "value": value,
        "unit": unit,
        "at_most": at_most,
        "at_least": at_least,
        "claim_budget": budget,
        "run_id": os.environ.get("COURSE_RUN_ID", ""),
        "time": time.time(),
    }
    path = Path(rt.run_dir) / RESULTS_FILE
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    if budget == rt.budget:
        held, text = claim_status(entry)
        if not held:
            raise AssertionError(f"{rt.notebook}: {name} = {value:.4g} {unit} misses its {budget}-budget claim ({text}).")
    return Recorded(value, figure_line(entry))


def claim_status(entry: dict[str, Any]) -> tuple[bool | None, str]:
    """``(held, text)`` for a recorded entry: ``held`` is None when there is nothing to check."""
    bits = []
    if entry.get("at_most") is not None:
        bits.append(f"<= {entry['at_most']:g}")
    if entry.get("at_least") is not None:
        bits.append(f">= {entry['at_least']:g}")
    if not bits:
        return None, ""
    text = " and ".join(bits)
    if entry.get("claim_budget") != entry.get("budget"):
        return None, f"{text} at {entry.get('claim_budget')} (not checked at {entry.get('budget')})"
    v = entry["value"]
    held = math.isfinite(v) and (entry.get("at_most") is None or v <= entry["at_most"]) and (entry.get("at_least") is None or v >= entry["at_least"])
    return held, text


def read_results(run_dir: str | os.PathLike, run_id: str | None = None) -> list[dict[str, Any]]:
    """Every recorded entry (of one ``run_id`` if given), oldest first."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            if run_id is None or entry.get("run_id") == run_id:
                entries.append(entry)
    return entries
