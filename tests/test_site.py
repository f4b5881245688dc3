"""The site's pages: its table of contents lists every notebook in course order; widgets become static."""

from course_utils.tooling.notebooks import notebook_sources
from course_utils.tooling.site import WIDGET_MIME, collapse_solutions, static_widgets, toc_markdown


def test_the_table_of_contents_lists_every_notebook_in_order():
    stems = [s.stem for s in notebook_sources()]
    for edition in ("student", "instructor"):
        toc = toc_markdown(stems, {s: s for s in stems}, edition)
        tree = toc.split("```{toctree}")[1].split("```")[0]
        listed = [line.strip() for line in tree.splitlines() if line.strip() and not line.startswith(":")]
        assert listed == stems, f"the {edition} site must list every notebook, in order"
        assert "other" not in toc and ("student edition" in toc or "instructor edition" in toc)


def test_widgets_keep_their_figure_and_say_where_the_live_version_is():
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {WIDGET_MIME: {"model_id": "x"}, "text/plain": "HBox()"}},
        {"output_type": "display_data", "data": {"image/png": "iVBOR..."}},
    ]}], "metadata": {"widgets": {"state": {}}}}
    assert static_widgets(nb) == 1
    outs = nb["cells"][0]["outputs"]
    assert "JupyterLab" in outs[0]["data"]["text/html"] and outs[1]["data"]["image/png"] == "iVBOR..."
    assert "widgets" not in nb["metadata"]


def test_solutions_are_collapsed_on_the_instructor_site():
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["solution"], "jupyter": {"source_hidden": True}}, "source": "x = 1"},
                    {"cell_type": "code", "metadata": {"tags": ["exercise"]}, "source": "raise NotImplementedError"}]}
    assert collapse_solutions(nb) == 1 and collapse_solutions(nb) == 0
    assert nb["cells"][0]["metadata"]["tags"] == ["solution", "hide-input"] and nb["cells"][1]["metadata"]["tags"] == ["exercise"]


def test_a_failed_notebook_stops_the_build_and_says_why(tmp_path, monkeypatch, capsys):
    from course_utils.tooling import site

    def run_notebooks(sources, budget, *, edition, **_):
        return [{"notebook": s.stem, "error": "AssertionError: a claim missed" if s.stem.startswith("05") else "",
                 "executed": str(tmp_path / f"{s.stem}.ipynb")} for s in sources], tmp_path

    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(site, "mathjax_script", lambda: tmp_path / "tex-svg.js")  # the site extra is not needed to fail
    monkeypatch.setattr(site, "run_notebooks", run_notebooks)
    assert site.main(["04", "05", "--budget", "smoke"]) == 1
    out = capsys.readouterr().out
    assert "05_normalizing_flows: AssertionError: a claim missed" in out and "04_vae:" not in out
    assert not (tmp_path / "site").exists()


def test_math_spanning_lines_survives_markdown_block_parsing():
    """JupyterLab lifts math out before it parses Markdown; MyST parses blocks first. So a line inside
    $...$ or $$...$$ that starts like a list item, quote, heading or rule ("+ x", "- x", "# x", "===")
    becomes that block on the site and garbles the rest of the paragraph: put the operator at the
    end of the line before instead."""
    import re

    from course_utils.tooling.notebooks import read_source

    starts_a_block = re.compile(r"^\s*(?:[-+*>#|]|\d+[.)])(?:\s|$)|^\s*(?:=+|-+)\s*$")
    found = []
    for source in notebook_sources():
        for cell in read_source(source).cells:
            if cell.cell_type != "markdown":
                continue
            display = re.findall(r"\$\$.+?\$\$", cell.source, re.S)
            inline = re.findall(r"(?<!\\)\$.+?(?<!\\)\$", re.sub(r"\$\$.+?\$\$", "", cell.source, flags=re.S), re.S)
            found += [f"{source.name}: {line.strip()[:60]}" for math in display + inline
                      for line in math.split("\n")[1:] if starts_a_block.match(line)]
    assert not found, "math lines that Markdown reads as blocks:\n" + "\n".join(found)
