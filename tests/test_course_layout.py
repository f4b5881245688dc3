"""The course's files: notebook sources, their conversion, and the test command's bookkeeping."""

import importlib.util
import re
import sys
from pathlib import Path

import nbformat

from course_utils.bench import convert, notebook_sources
from course_utils.runtime import REPO_ROOT


def _course_script():
    spec = importlib.util.spec_from_file_location("course_script", REPO_ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_is_named_and_set_up_consistently():
    sources = notebook_sources()
    assert sources and sources[0].stem == "00_start_here"
    for src in sources:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", src.stem), src.name
        text = src.read_text()
        assert f'setup("{src.stem}")' in text, f"{src.name} must call setup({src.stem!r}) so its results are filed under it"
        assert "\nassert " in text or "\n    assert " in text, f"{src.name} has no assert cell"
        assert "name: python3" in text, f"{src.name} must keep its kernelspec"


def test_convert_keeps_kernelspec_tags_and_hidden_solutions(tmp_path):
    src = tmp_path / "07_demo.py"
    src.write_text('# %% [markdown]\n# Demo\n\n# %% tags=["solution"] jupyter={"source_hidden": true}\nassert 1 + 1 == 2\n')
    nb = nbformat.read(convert(src, tmp_path / "out"), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[1].metadata["tags"] == ["solution"] and nb.cells[1].metadata["jupyter"]["source_hidden"] is True


def test_junit_counting(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="00_start_here.ipynb" name="Cell 0"/>'
        '<testcase classname="00_start_here.ipynb" name="Cell 1"><failure message="x"/></testcase>'
        '<testcase classname="t" name="s"><skipped/></testcase>'
        '</testsuite></testsuites>'
    )
    passed, failed, skipped, names = _course_script()._count_junit(xml)
    assert (passed, failed, skipped) == (1, 1, 1) and any("00_start_here.ipynb" in n for n in names)
    assert _course_script()._count_junit(tmp_path / "absent.xml") == (0, 0, 0, [])


def test_sources_are_what_jupytext_writes_back():
    """JupyterLab refuses to open a paired notebook whose .ipynb and .py disagree, so each source must
    be exactly what jupytext writes from its own notebook (e.g. cell metadata keys in sorted order:
    `# %% jupyter={"source_hidden": true} tags=["solution"]`)."""
    import jupytext

    for src in notebook_sources():
        text = src.read_text()
        again = jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="py:percent")
        assert again == text, f"{src.name} changes when jupytext writes it back: run `jupytext --to py:percent {src.name}`"
