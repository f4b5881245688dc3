"""Execute notebooks under a budget and print one table: how long, how much memory, what they found.

    python -m course_utils.tooling.bench --budget laptop 01 03      # notebooks whose names start so
    python -m course_utils.tooling.bench --budget smoke --html      # every notebook, plus HTML pages

(``python course.py bench ...`` and ``make bench`` call this inside the course's environment.)

Each notebook runs in its own process, one after another, so the wall time and peak memory
(the kernel's maximum resident set) are its own. The figures it records with ``rt.record`` are
read back from ``results.jsonl`` and printed with their thresholds; a claim made for the budget
that ran is checked, and the command exits non-zero if any notebook failed or any claim missed.
``--html`` writes each executed notebook as a self-contained HTML page with every figure: the
read-only course.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..results import claim_status, figure_line, read_results
from ..runtime import BUDGETS, get_run_dir
from .notebooks import EDITIONS, NOTEBOOK_DIR, convert, notebook_sources

def _execute_one(source: Path, out_dir: Path, timeout: int, edition: str = "instructor") -> dict:
    """Run in a child process: execute one notebook, report wall time and the kernel's peak memory."""
    import nbclient
    import nbformat

    path = convert(source, out_dir, which=edition)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    error = ""
    try:
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(out_dir)}}).execute()
    except Exception as err:  # a failing cell: report it, keep the partial notebook
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"[:300]
    wall = time.perf_counter() - start
    nbformat.write(nb, path)
    return {"notebook": source.stem, "wall_s": wall, "peak_mib": children_peak_mib(), "error": error, "executed": str(path)}


def cell_times(executed: Path) -> list[tuple[float, str]]:
    """Every code cell of an executed notebook, in order, as (seconds, "[execution count] first line of
    code"), from the timing nbclient records in each cell's metadata (NaN seconds where there is none);
    [] if the notebook cannot be read."""
    import nbformat
    from datetime import datetime

    def stamp(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return []
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        timing = cell.get("metadata", {}).get("execution", {})
        seconds = float("nan")
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            seconds = (stamp(timing["shell.execute_reply"]) - stamp(timing["iopub.execute_input"])).total_seconds()
        first = next((line.strip() for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
        cells.append((seconds, f"[{cell.get('execution_count')}] " + first[:60] + ("…" if len(first) > 60 else "")))
    return cells


def slowest_cells(executed: Path, n: int = 3) -> list[tuple[float, str]]:
    """The ``n`` code cells of an executed notebook that took longest, as in :func:`cell_times`."""
    timed = [cell for cell in cell_times(executed) if not math.isnan(cell[0])]
    return sorted(timed, key=lambda c: -c[0])[:n]


def children_peak_mib() -> float:
    """Peak resident memory (MiB) of the largest finished child process (the kernel), or NaN where
    the ``resource`` module does not exist (Windows). ``ru_maxrss`` is in KiB on Linux, bytes on macOS."""
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def write_html(executed: Path, html_dir: Path) -> Path:
    """Write an executed notebook as a standalone HTML page (figures embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    html_dir.mkdir(parents=True, exist_ok=True)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(executed, as_version=4))
    target = html_dir / (executed.stem + ".html")
    target.write_text(body, encoding="utf-8")
    return target


def format_figures(entries: list[dict]) -> tuple[list[str], bool]:
    lines = [figure_line(e) for e in entries]
    return lines, all(claim_status(e)[0] is not False for e in entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes, e.g. 00 03 (default: all)")
    parser.add_argument("--budget", default=os.environ.get("COURSE_BUDGET", "laptop"), choices=BUDGETS)
    parser.add_argument("--html", action="store_true", help="also write each executed notebook as HTML")
    parser.add_argument("--edition", choices=EDITIONS, default="instructor", help="instructor (with solutions, the default) or student")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    parser.add_argument("--dir", type=Path, default=NOTEBOOK_DIR, help="folder of the notebook sources")
    parser.add_argument("--execute-one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.execute_one:  # child mode
        print(json.dumps(_execute_one(args.execute_one, args.out, args.timeout, args.edition)))
        return 0

    rows, out_dir = run_notebooks(notebook_sources(args.notebooks, args.dir), args.budget, edition=args.edition, html=args.html,
                                  timeout=args.timeout)
    print()
    print_table(rows, args.budget)
    print(f"\nexecuted notebooks: {out_dir}")
    if args.html:
        print(f"HTML pages: {out_dir / 'html'}")
    return 0 if all(row["ok"] for row in rows) else 1


def run_notebooks(sources: list[Path], budget: str, *, edition: str = "instructor", html: bool = False, timeout: int = 1800,
                  on_done: Callable[[dict], None] | None = None) -> tuple[list[dict], Path]:
    """Execute each notebook in its own process, one after another; return one row per notebook
    (wall seconds, peak MiB, error, the figures it recorded and whether its claims held) and the output folder.
    ``on_done(row)`` is called as each notebook finishes, before the next starts."""
    run_dir = get_run_dir()
    run_id = uuid.uuid4().hex[:10]
    out_dir = run_dir / "bench" / f"{budget}-{edition}-{time.strftime('%Y%m%d-%H%M%S')}"
    env = dict(os.environ, COURSE_BUDGET=budget, COURSE_RUN_ID=run_id, COURSE_RUN_DIR=str(run_dir))
    rows = []
    for source in sources:
        print(f"running {source.stem} at budget {budget} ...", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "course_utils.tooling.bench", "--execute-one", str(source), "--out", str(out_dir), "--timeout", str(timeout),
             "--edition", edition],
            env=env, capture_output=True, text=True,
        )
        try:
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            row = {"notebook": source.stem, "wall_s": float("nan"), "peak_mib": float("nan"), "error": (proc.stderr.strip().splitlines() or ["crashed"])[-1][:300], "executed": ""}
        entries = [e for e in read_results(run_dir, run_id) if e["notebook"] == source.stem]
        row["figures"], figures_ok = format_figures(entries)
        row["ok"] = not row["error"] and figures_ok
        if html and row["executed"]:
            row["html"] = str(write_html(Path(row["executed"]), out_dir / "html"))
        if on_done is not None:
            on_done(row)
        rows.append(row)
    return rows, out_dir


def print_table(rows: list[dict], budget: str) -> None:
    print(f"{'notebook':<28} {'budget':<7} {'wall s':>8} {'peak MiB':>9}  status  figures")
    for row in rows:
        status = "ok" if row["ok"] else "FAILED"
        figures = row["figures"] or ["-"]
        print(f"{row['notebook']:<28} {budget:<7} {row['wall_s']:>8.1f} {row['peak_mib']:>9.0f}  {status:<6}  {figures[0]}")
        for extra in figures[1:]:
            print(f"{'':<64}{extra}")
        if row["error"]:
            print(f"{'':<64}error: {row['error']}")


if __name__ == "__main__":
    sys.exit(main())
