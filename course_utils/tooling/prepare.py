"""Ready for class: train and save every notebook's models ahead of time, at a budget.

    python -m course_utils.tooling.prepare --budget laptop        # (make prepare BUDGET=laptop)

Runs every notebook once at the budget, in its own process (the benchmark's runner), in the run
folder the notebooks use in class (``runs/`` or ``COURSE_RUN_DIR``). Every model a notebook trains
goes through ``fit_or_load`` (presets through ``load_model``), so its checkpoint is saved there and
the next run of the same cell, at the same budget, loads it instead of training. The command
prints what each notebook trained (its new checkpoints, with their training seconds) and how long
each notebook took; ``--check`` runs every notebook a second time and prints how much faster it
got, which cells got faster (those that loaded instead of training), which notebooks neither
saved nor loaded a model (a second run repeats the first there) and which cells the second run
still spends its time on.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from ..checkpoints import read_checkpoint
from ..runtime import BUDGETS, get_run_dir
from .bench import cell_times, print_table, run_notebooks, slowest_cells
from .notebooks import notebook_sources


def _checkpoints(folder: Path) -> set[Path]:
    return {p for p in folder.glob("*.pt") if not p.name.endswith(".partial.pt")}


def _trained_seconds(path: Path) -> float:
    try:
        history = read_checkpoint(path).get("history") or {}
    except Exception:  # a file another version wrote: report it without its time
        return float("nan")
    return float(history.get("seconds", float("nan")))


def faster_cells(first: dict, second: dict, margin: float = 1.0) -> tuple[int, float, float]:
    """The cells the second run finished at least ``margin`` seconds sooner than the first (the ones
    that loaded what the first run trained): how many, and their total seconds in each run."""
    a = cell_times(Path(first["executed"])) if first.get("executed") else []
    b = cell_times(Path(second["executed"])) if second.get("executed") else []
    if len(a) != len(b):  # a run stopped early: nothing to pair
        return 0, float("nan"), float("nan")
    pairs = [(x, y) for (x, _), (y, _) in zip(a, b) if x - y >= margin]
    return len(pairs), sum(x for x, _ in pairs), sum(y for _, y in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes (default: all)")
    parser.add_argument("--budget", default=os.environ.get("COURSE_BUDGET", "laptop"), choices=BUDGETS)
    parser.add_argument("--check", action="store_true", help="run every notebook a second time and compare the wall times")
    args = parser.parse_args(argv)

    sources = notebook_sources(args.notebooks)
    folder = get_run_dir() / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    before = _checkpoints(folder)
    seen = set(before)

    def attribute(row: dict) -> None:  # notebooks run one at a time, so what appeared since the last one is this one's
        nonlocal seen
        now = _checkpoints(folder)
        row["saved"] = {path: _trained_seconds(path) for path in sorted(now - seen)}
        row["trained_s"] = sum(t for t in row["saved"].values() if math.isfinite(t))
        seen = now

    start = time.perf_counter()
    print(f"preparing the course at the {args.budget} budget; checkpoints go to {folder}", flush=True)
    first, _ = run_notebooks(sources, args.budget, on_done=attribute)
    new = sorted(_checkpoints(folder) - before)
    print()
    print_table(first, args.budget)
    print(f"\ntrained and saved {len(new)} model(s) in {time.perf_counter() - start:.0f} s of running the notebooks:")
    for row in first:
        if row["saved"]:
            print(f"  {row['notebook']}: {len(row['saved'])} model(s), {row['trained_s']:.1f} s of training")
            for path, seconds in row["saved"].items():
                print(f"    {path.name:<64} {seconds:7.1f} s")
    if not new:
        print("  nothing: every model was already prepared at this budget")
    ok = all(row["ok"] for row in first)
    if args.check and ok:
        print("\nsecond run, which should load every model:", flush=True)
        second, _ = run_notebooks(sources, args.budget)
        print(f"\n{'notebook':<32} {'first s':>8} {'trained s':>10} {'second s':>9} {'faster':>7}   cells that got faster")
        idle = []  # saved no model and no cell got faster: nothing of their own or another's was loaded
        for a, b in zip(first, second):
            n, before_s, after_s = faster_cells(a, b)
            if not a["saved"] and not n:
                idle.append(a["notebook"])
            cells = f"{n}: {before_s:.1f} -> {after_s:.1f} s" if n else "none"
            print(f"{a['notebook']:<32} {a['wall_s']:>8.1f} {a['trained_s']:>10.1f} {b['wall_s']:>9.1f} {a['wall_s'] / b['wall_s']:>6.1f}x   {cells}")
        total_a, total_b = sum(r["wall_s"] for r in first), sum(r["wall_s"] for r in second)
        print(f"{'all notebooks':<32} {total_a:>8.1f} {sum(r['trained_s'] for r in first):>10.1f} {total_b:>9.1f} {total_a / total_b:>6.1f}x")
        print("(trained s: the training seconds recorded in the checkpoints each notebook saved in the first run;\n"
              " cells that got faster: those the second run finished at least 1 s sooner, with their seconds in each run)")
        if new and idle:
            print(f"saved no model and no cell got faster, so their second run repeats the first: {', '.join(idle)}")
        print("\nwhere the second run still spends its time (its slowest cells):")
        for row in second:
            cells = slowest_cells(Path(row["executed"])) if row.get("executed") else []
            print(f"  {row['notebook']:<32} " + ("; ".join(f"{sec:.1f} s {line}" for sec, line in cells) or "-"))
        again = sorted(_checkpoints(folder) - before - set(new))
        if again:
            print(f"the second run trained {len(again)} more model(s), which a notebook does not cache: {', '.join(p.name for p in again)}")
        ok = all(row["ok"] for row in second) and not again
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
