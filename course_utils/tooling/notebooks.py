"""The notebooks' text form: one jupytext configuration, applied the same way everywhere.

The committed ``notebooks/NN_name.py`` files are jupytext percent scripts. JupyterLab opens them
through jupytext's contents manager, which reads the repository's ``jupytext.toml`` and, when the
paired ``.ipynb`` is newer than its ``.py``, refuses to open the pair unless the ``.py`` is exactly
what it would write from the notebook. So every tool of the course that reads or writes a source
goes through this module, with that same configuration:

- :func:`jupytext_config` loads ``jupytext.toml``;
- :func:`read_source` / :func:`canonical_text` read and re-write a source as the server does;
- :func:`convert` writes the ``.ipynb`` of a source (what ``make lab`` and the tests execute);
- ``python -m course_utils.tooling.notebooks --fix`` rewrites every source in that form.

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
CONFIG_FILE = REPO_ROOT / "jupytext.toml"
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


def convert(source: Path, out_dir: Path, config: Any = None) -> Path:
    """Write the ``.ipynb`` of a percent ``.py`` source into ``out_dir``; return its path."""
    import jupytext

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (Path(source).stem + ".ipynb")
    jupytext.write(read_source(source, config), target, fmt="ipynb")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.tooling.notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="rewrite every source in the server's form")
    args = parser.parse_args(argv)
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
