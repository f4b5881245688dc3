"""The course's files: notebook sources, their conversion, and the test command's bookkeeping."""

import importlib.util
import re

import nbformat

from course_utils.tooling.notebooks import (CONFIG_FILE, KERNELSPEC, canonical_text, convert, edition, jupytext_config,
                                            notebook_sources, read_source)
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


def test_every_notebook_has_an_exercise_the_student_implements():
    """Rule 6: a stub that raises NotImplementedError, a hidden solution, and a checker after both."""
    for src in notebook_sources():
        cells = read_source(src).cells
        tags = [c.metadata.get("tags", []) for c in cells]
        stubs = [i for i, t in enumerate(tags) if "exercise" in t and "NotImplementedError" in cells[i].source]
        assert stubs, f"{src.name} has no exercise: a cell tagged 'exercise' whose stub raises NotImplementedError"
        for i in stubs:
            solution = next((j for j in range(i + 1, len(cells)) if "solution" in tags[j]), None)
            assert solution is not None and cells[solution].metadata.get("jupyter", {}).get("source_hidden"), (
                f"{src.name}: the exercise in cell {i} has no hidden 'solution' cell after it")
            assert any("check(" in c.source for c in cells[solution + 1:]), (
                f"{src.name}: the exercise in cell {i} has no checker (check(...)) after its solution")


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


def test_jupyterlab_opens_every_notebook_and_saving_it_changes_no_tracked_byte(tmp_path, monkeypatch):
    """What a student does after `make lab`, in-process: jupytext's contents manager, configured by the
    repository's jupytext.toml, opens each generated notebook (newer than its source, so the server
    checks that the pair agrees), then saves it as JupyterLab does (the running kernel's spec, its
    language_info); the source must come back byte for byte. New notebooks are covered unchanged."""
    import os
    import shutil

    from jupyter_client.kernelspec import KernelSpecManager
    from jupytext import TextFileContentsManager

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))  # the notary's secret goes here
    folder = tmp_path / "notebooks"
    folder.mkdir()
    config = tmp_path / CONFIG_FILE.relative_to(REPO_ROOT)  # where the repository keeps it
    config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG_FILE, config)
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.display_name == KERNELSPEC["display_name"], f"the python3 kernel is {spec.display_name!r}: update KERNELSPEC"
    cm = TextFileContentsManager(root_dir=str(tmp_path))
    sources = notebook_sources()
    assert len(sources) >= 5
    for src in sources:
        original = src.read_bytes()
        copy = folder / src.name
        copy.write_bytes(original)
        ipynb = convert(copy, folder)  # what `make lab` writes
        later = copy.stat().st_mtime + 10
        os.utime(ipynb, (later, later))  # the generated notebook is newer than its source
        try:
            model = cm.get(f"notebooks/{ipynb.name}", content=True, type="notebook")
        except Exception as err:  # tornado's HTTPError: the server would answer 400
            raise AssertionError(f"JupyterLab cannot open {ipynb.name}; run `python course.py format`.\n{err}") from None
        nb = model["content"]
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        nb["metadata"]["kernelspec"] = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
        nb["metadata"]["language_info"] = {"name": "python", "version": "3.11", "mimetype": "text/x-python"}
        cm.save({"type": "notebook", "content": nb}, f"notebooks/{ipynb.name}")
        assert copy.read_bytes() == original, f"saving {ipynb.name} from JupyterLab rewrites {src.name}; run `python course.py format`"

    # a student's copy (make lab's default) is a plain notebook: saving it writes no paired .py anywhere
    student = tmp_path / "student"
    ipynb = convert(sources[0], student, which="student")
    nb = cm.get(f"student/{ipynb.name}", content=True, type="notebook")["content"]
    cm.save({"type": "notebook", "content": nb}, f"student/{ipynb.name}")
    assert sorted(p.name for p in student.iterdir() if not p.name.startswith(".")) == [ipynb.name]


def test_every_source_is_in_the_servers_form():
    config = jupytext_config()
    for src in notebook_sources():
        text = src.read_text(encoding="utf-8")
        assert canonical_text(text, config) == text, f"{src.name} is not what JupyterLab writes back: run `python course.py format`"


def test_the_student_edition_drops_exactly_the_solutions(tmp_path):
    src = tmp_path / "07_demo.py"
    src.write_text(
        '# %% [markdown]\n# Exercise\n\n# %% tags=["exercise"]\ndef f():\n    raise NotImplementedError\n\n'
        '# %% jupyter={"source_hidden": true} tags=["solution"]\ndef f():\n    return 1\n\n# %%\nprint(f)\n'
    )
    instructor = read_source(src)
    student = edition(read_source(src), "student")
    assert len(instructor.cells) == 4 and len(student.cells) == 3
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    assert [c.source for c in student.cells] == [c.source for c in instructor.cells if "solution" not in c.metadata.get("tags", [])]


def test_the_package_tree_in_the_docstring_names_every_module():
    """course_utils/__init__.py draws the package tree: each module and group is on it, and nothing more."""
    import course_utils

    root = REPO_ROOT / "course_utils"
    doc = course_utils.__doc__.split("Setup\n-----")[0]
    for path in sorted(root.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        name = path.relative_to(root).with_suffix("")
        assert re.search(rf"\b{name.stem}\b", doc), f"the package tree in course_utils/__init__.py does not name {name}"
    for group in [p for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()]:
        assert f"{group.name}/" in doc, f"the package tree does not show the group {group.name}/"
    for listed in re.findall(r"\b([a-z_]+)\.py\b", doc):
        assert list(root.rglob(f"{listed}.py")), f"the package tree names {listed}.py, which does not exist"
