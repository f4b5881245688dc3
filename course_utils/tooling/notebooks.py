"""The notebooks' text form and their two editions: one jupytext configuration, applied everywhere.

The committed ``notebooks/NN_name.py`` files are jupytext percent scripts, the **instructor
edition**: every exercise with its solution (hidden cells tagged ``solution``). JupyterLab opens
them through jupytext's contents manager, which reads ``notebooks/jupytext.toml`` and, when the
paired ``.ipynb`` is newer than its ``.py``, refuses to open the pair unless the ``.py`` is exactly
what it would write from the notebook. So every tool of the course that reads or writes a source
goes through this module, with that same configuration:

- :func:`jupytext_config` loads ``notebooks/jupytext.toml`` (it lives there so that it pairs only
  the sources, not the students' copies);
- :func:`read_source` / :func:`canonical_text` read and re-write a source as the server does;
- :func:`convert` writes the ``.ipynb`` of a source in either edition;
- ``python -m course_utils.tooling.notebooks --fix`` rewrites every source in that form.

The **student edition** is the same notebook without the ``solution`` cells: each exercise keeps
its stub (which raises ``NotImplementedError``) and its checker, which then reports "not
implemented yet". ``make lab`` writes it into ``student/`` (git-ignored) once, never overwriting a
student's work, and opens it there: a ``git pull`` never conflicts with what a student wrote.

The kernelspec written into a source is that of the kernel the notebooks run on
(:data:`KERNELSPEC`, ipykernel's ``python3``), because JupyterLab stores the running kernel's
spec when it saves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..runtime import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
STUDENT_DIR = REPO_ROOT / "student"
CONFIG_FILE = NOTEBOOK_DIR / "jupytext.toml"
EDITIONS = ("instructor", "student")
SOLUTION_TAG = "solution"
TEXT_FORMAT = "py:percent"
# What ipykernel (>= 6) installs as the "python3" kernel, and so what JupyterLab saves.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def notebook_sources(patterns: list[str] | None = None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The ``NN_name.py`` sources, all or those whose names start with one of ``patterns``."""
    sources = sorted(p for p in folder.glob("[0-9][0-9]_*.py"))
    if patterns:
        chosen = [p for p in sources if any(p.stem.startswith(pat) or p.name == pat for pat in patterns)]
        missing = [pat for pat in patterns if not any(p.stem.startswith(pat) or p.name == pat for p in sources)]
        if missing:
            raise SystemExit(f"No notebook in {folder} starts with {', '.join(missing)}.")
        return chosen
    return sources


def jupytext_config(path: Path = CONFIG_FILE) -> Any:
    """The repository's jupytext configuration, as jupytext's contents manager loads it."""
    from jupytext.config import load_jupytext_configuration_file

    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the notebooks' pairing and metadata filters live there.")
    return load_jupytext_configuration_file(str(path))


def read_source(source: Path, config: Any = None) -> Any:
    """A source as a notebook object, read the way the Jupyter server reads it."""
    import jupytext

    nb = jupytext.reads(Path(source).read_text(encoding="utf-8"), fmt=TEXT_FORMAT, config=config or jupytext_config())
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def canonical_text(text: str, config: Any = None) -> str:
    """``text`` as the Jupyter server writes it back when JupyterLab saves the notebook.

    The notebook makes the trip a saved one makes: to ``.ipynb`` JSON (which sorts every
    metadata key, e.g. ``jupyter`` before ``tags`` in a cell header), back, and to text.
    """
    import jupytext
    import nbformat

    config = config or jupytext_config()
    nb = jupytext.reads(text, fmt=TEXT_FORMAT, config=config)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    return jupytext.writes(nb, fmt=TEXT_FORMAT, config=config)


def edition(nb: Any, which: str) -> Any:
    """The notebook ``nb`` in the ``instructor`` edition (as it is) or the ``student`` one (no solutions)."""
    if which not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}; got {which!r}.")
    if which == "student":
        nb.cells = [c for c in nb.cells if SOLUTION_TAG not in c.metadata.get("tags", [])]
        nb.metadata["course_edition"] = "student"
    return nb


def convert(source: Path, out_dir: Path, config: Any = None, *, which: str = "instructor") -> Path:
    """Write the ``.ipynb`` of a percent ``.py`` source, in edition ``which``, into ``out_dir``; return its path."""
    import jupytext

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (Path(source).stem + ".ipynb")
    jupytext.write(edition(read_source(source, config), which), target, fmt="ipynb")
    return target


def write_missing(which: str, out_dir: Path | None = None) -> list[Path]:
    """Write the ``.ipynb`` of every source that has none yet in ``out_dir`` (default: beside the
    sources for the instructor edition, ``student/`` for the student one); never overwrite one."""
    out_dir = out_dir or (NOTEBOOK_DIR if which == "instructor" else STUDENT_DIR)
    config = jupytext_config()
    written = []
    for src in notebook_sources():
        if not (out_dir / f"{src.stem}.ipynb").exists():
            written.append(convert(src, out_dir, config, which=which))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.tooling.notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="rewrite every source in the server's form")
    parser.add_argument("--write-missing", choices=EDITIONS, help="write the .ipynb files of this edition that do not exist yet")
    parser.add_argument("--out", type=Path, help="with --write-missing: the folder (default: notebooks/ or student/)")
    args = parser.parse_args(argv)
    if args.write_missing:
        written = write_missing(args.write_missing, args.out)
        print(f"wrote {len(written)} {args.write_missing} notebook(s)" + (f": {', '.join(p.stem for p in written)}" if written else ""))
        return 0
    config = jupytext_config()
    changed = []
    for src in notebook_sources():
        text = src.read_text(encoding="utf-8")
        canonical = canonical_text(text, config)
        if canonical != text:
            changed.append(src.name)
            if args.fix:
                src.write_text(canonical, encoding="utf-8")
    verb = "rewrote" if args.fix else "would rewrite (run with --fix)"
    print(f"{verb}: {', '.join(changed)}" if changed else "every notebook source is in the server's form")
    return 0 if args.fix or not changed else 1


if __name__ == "__main__":
    sys.exit(main())
