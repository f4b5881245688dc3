"""The course as a static site, built offline: every notebook executed at a budget, in both editions.

    python -m course_utils.tooling.site --budget laptop        # (make site; BUDGET=smoke for a quick one)

Why Sphinx with MyST-NB (and the sphinx-book-theme): it renders executed notebooks with every
figure, builds its search index locally (a JavaScript index, no service), ships its theme's CSS,
JavaScript and icons inside the pip packages, and lets the MathJax it loads be a local file. The
MathJax here is ``es5/tex-svg.js`` from the ``django-static-mathjax`` package (MathJax 3.2, the
upstream files repackaged, no dependencies): one script that draws formulas as SVG, with no font
files to fetch, so math renders with no network at build time and when the pages are read, even
from ``file://`` (where browsers refuse web fonts, which MathJax 2's HTML-CSS output needs).
(Jupyter Book 2 downloads its theme at build time; nbconvert's and mkdocs-jupyter's templates
load MathJax from a CDN.)

What it does:

1. executes every notebook at the budget, in the instructor and the student edition (the
   benchmark's runner; models load from ``runs/`` if ``make prepare`` trained them);
2. replaces each widget's live controls with a sentence (the static figure of the widget, which
   ``present`` always displays, stays): the live version is in JupyterLab;
3. writes a Sphinx project per edition (a table of contents in course order, a landing page,
   local MathJax) and builds it into ``runs/site/<edition>/``, next to an ``index.html`` that
   links both editions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..runtime import BUDGETS, get_run_dir
from .bench import run_notebooks
from .notebooks import EDITIONS, notebook_sources

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<p><em>Interactive widget: this is its default figure. Move its controls in JupyterLab "
               "(<code>make lab</code>) to redraw it live.</em></p>")
TITLE = "Generative Models, Executable"


def notebook_title(nb: dict, fallback: str) -> str:
    """The text of the notebook's first Markdown heading."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def toc_markdown(stems: list[str], titles: dict[str, str], edition: str) -> str:
    """The landing page of one edition: the course in order, as a Sphinx toctree."""
    other = "student" if edition == "instructor" else "instructor"
    what = ("every exercise with its solution (in collapsed cells)" if edition == "instructor"
            else "exercises to implement, without their solutions")
    lines = [
        f"# {TITLE}", "",
        f'The {edition} edition: {what}. The <a href="../{other}/index.html">{other} edition</a> is built from the same notebooks.',
        "Every notebook here was executed for this site; the figures are its outputs. To run them and move the",
        "widgets, open the course in JupyterLab (`make lab`).", "",
        "```{toctree}", ":maxdepth: 1", ":caption: The course", "",
    ]
    lines += [stem for stem in stems]
    lines += ["```", "", "| notebook | title |", "|---|---|"]
    lines += [f"| [{stem[:2]}]({stem}.ipynb) | {titles.get(stem, stem)} |" for stem in stems]
    return "\n".join(lines) + "\n"


def static_widgets(nb: dict) -> int:
    """Replace each widget-view output by a sentence; the figure after it stays. Returns how many."""
    count = 0
    for cell in nb.get("cells", []):
        outputs = []
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                out = {"output_type": "display_data", "metadata": {}, "data": {"text/html": WIDGET_NOTE, "text/plain": "(widget)"}}
                count += 1
            outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs
    nb.get("metadata", {}).pop("widgets", None)
    return count


def collapse_solutions(nb: dict) -> int:
    """Tag each hidden solution cell ``hide-input``, so that MyST-NB shows it collapsed behind a
    "show" button, as JupyterLab does (the student edition has none). Returns how many."""
    count = 0
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if "solution" in tags and "hide-input" not in tags:
            cell["metadata"]["tags"] = [*tags, "hide-input"]
            count += 1
    return count


def mathjax_script() -> Path:
    """MathJax 3's ``tex-svg.js`` as ``django-static-mathjax`` installs it; a clear error when it is missing."""
    try:
        import mathjax
    except ImportError as err:
        raise SystemExit("The site needs its extra: pip install -e '.[site]' (python course.py site installs it).") from err
    script = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    if not script.is_file():
        raise SystemExit(f"{script} is missing: reinstall django-static-mathjax.")
    return script


CONF = '''# Generated by course_utils/tooling/site.py; edit that file, not this one.
project = {title!r}
author = "the course's authors"
extensions = ["myst_nb"]
nb_execution_mode = "off"  # executed by the course's runner at the budget of the build
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as Jupyter allows
html_theme = "sphinx_book_theme"
html_title = {title!r} + " ({edition} edition)"
html_static_path = ["_static"]
html_theme_options = {{"show_toc_level": 2, "use_download_button": False, "use_fullscreen_button": False,
                      "navbar_persistent": []}}  # the sidebar has the search; without this, pydata-sphinx-theme 0.20 adds a 2nd bar on top
mathjax_path = "mathjax/tex-svg.js"  # the local copy (MathJax 3, SVG output): no CDN, no font files
exclude_patterns = ["_build"]
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]
'''


def build_edition(executed: dict[str, Path], edition: str, out: Path) -> Path:
    """Write the Sphinx project of one edition under ``out/src`` and build it into ``out``; return the index page."""
    src = out.parent / f"{edition}-src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "_static" / "mathjax").mkdir(parents=True)
    shutil.copy(mathjax_script(), src / "_static" / "mathjax" / "tex-svg.js")
    titles = {}
    for stem, path in executed.items():
        nb = json.loads(path.read_text(encoding="utf-8"))
        static_widgets(nb)
        collapse_solutions(nb)
        titles[stem] = notebook_title(nb, stem)
        (src / f"{stem}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (src / "index.md").write_text(toc_markdown(list(executed), titles, edition), encoding="utf-8")
    (src / "conf.py").write_text(CONF.format(title=TITLE, edition=edition), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(out)], check=True)
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course site", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes (default: all)")
    parser.add_argument("--budget", default=os.environ.get("COURSE_BUDGET", "laptop"), choices=BUDGETS)
    parser.add_argument("--executed", type=Path, nargs=2, metavar=("INSTRUCTOR_DIR", "STUDENT_DIR"),
                        help="use notebooks executed earlier (folders of .ipynb) instead of running them")
    args = parser.parse_args(argv)
    mathjax_script()  # fail early, before running anything
    sources = notebook_sources(args.notebooks)
    site = get_run_dir() / "site"
    pages = {}
    for i, edition in enumerate(EDITIONS):
        if args.executed:
            executed = {s.stem: args.executed[i] / f"{s.stem}.ipynb" for s in sources}
        else:
            rows, _ = run_notebooks(sources, args.budget, edition=edition)
            failed = [r for r in rows if r["error"]]
            if failed:
                print(f"these notebooks failed at the {args.budget} budget ({edition} edition), so the site is not built:")
                for r in failed:
                    print(f"  {r['notebook']}: {r['error']}" + (f" (executed notebook: {r['executed']})" if r["executed"] else ""))
                return 1
            executed = {r["notebook"]: Path(r["executed"]) for r in rows}
        pages[edition] = build_edition(executed, edition, site / edition)
    (site / "index.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>{TITLE}</title><h1>{TITLE}</h1>"
        "<p>Built from the notebooks executed at the " + args.budget + " budget.</p><ul>"
        "<li><a href='student/index.html'>Student edition</a>: exercises to implement, no solutions</li>"
        "<li><a href='instructor/index.html'>Instructor edition</a>: every solution</li></ul>", encoding="utf-8")
    print(f"site: {site / 'index.html'} ({', '.join(f'{e}: {p}' for e, p in pages.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
