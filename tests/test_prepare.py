"""``course prepare``'s report: which notebook trained what, and which had nothing to prepare.

The notebooks are not executed here: ``run_notebooks`` is replaced by a stand-in that writes the
checkpoints a notebook would, so the report can be checked against a known plan.
"""

import nbformat
import pytest
import torch

from course_utils.checkpoints import CHECKPOINT_VERSION, atomic_save
from course_utils.tooling import prepare

PLAN = {"00_start_here": {}, "03_autoregressive": {"made-a.pt": 2.5, "made-b.pt": 4.0}, "09_evaluation": {}}
WALL = {"first": {"00_start_here": 7.0, "03_autoregressive": 20.0, "09_evaluation": 30.0},
        "second": {"00_start_here": 7.0, "03_autoregressive": 5.0, "09_evaluation": 6.0}}
CELLS = {"09_evaluation": {"first": [2.0, 25.0], "second": [2.0, 1.0]}}  # saves nothing, loads what others saved


def executed(folder, name, seconds):
    """An executed notebook whose code cells took ``seconds``, as nbclient records it."""
    cells = [nbformat.v4.new_markdown_cell("# title")]
    for i, sec in enumerate(seconds):
        cell = nbformat.v4.new_code_cell(f"cell_{i}()", execution_count=i + 1)
        cell.metadata["execution"] = {"iopub.execute_input": "2026-12-01T10:00:00Z", "shell.execute_reply": f"2026-12-01T10:00:{sec:06.3f}Z"}
        cells.append(cell)
    path = folder / f"{name}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return str(path)


def fake_runner(folder, retrain=False):
    calls = []

    def run_notebooks(sources, budget, *, on_done=None, **_):
        which = "first" if not calls else "second"
        calls.append(which)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for source in sources:
            if which == "first" or retrain:
                for name, seconds in PLAN[source.stem].items():
                    payload = {"family": "made", "config": {}, "state_dict": {"w": torch.zeros(1)}, "version": CHECKPOINT_VERSION,
                               "history": {"seconds": seconds}}
                    atomic_save(payload, folder / (name if which == "first" else "again-" + name))
            cells = CELLS.get(source.stem, {}).get(which)
            row = {"notebook": source.stem, "wall_s": WALL[which][source.stem], "peak_mib": 1.0, "error": "", "figures": [], "ok": True,
                   "executed": executed(folder.parent, f"{source.stem}-{which}", cells) if cells else ""}
            if on_done is not None:
                on_done(row)
            rows.append(row)
        return rows, folder

    return run_notebooks


def test_report_names_what_each_notebook_trained_and_what_it_cannot_save(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(prepare, "run_notebooks", fake_runner(tmp_path / "checkpoints"))
    assert prepare.main(["00", "03", "09", "--budget", "smoke", "--check"]) == 0
    out = capsys.readouterr().out
    assert "03_autoregressive: 2 model(s), 6.5 s of training" in out
    assert "00_start_here:" not in out  # it saved nothing, so it has no entry in the list of what was trained
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("00_", "03_", "09_"))}
    assert rows["00_start_here"] == ["7.0", "0.0", "7.0", "1.0x", "none"]  # no executed notebooks here: no cells to pair
    assert rows["03_autoregressive"][:4] == ["20.0", "6.5", "5.0", "4.0x"]
    assert rows["09_evaluation"] == ["30.0", "0.0", "6.0", "5.0x", "1:", "25.0", "->", "1.0", "s"]
    assert "their second run repeats the first: 00_start_here\n" in out  # not 09, whose cells loaded what 03 saved


def test_a_second_run_that_trains_again_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(prepare, "run_notebooks", fake_runner(tmp_path / "checkpoints", retrain=True))
    assert prepare.main(["00", "03", "--budget", "smoke", "--check"]) == 1
    assert "the second run trained 2 more model(s)" in capsys.readouterr().out


def test_nothing_new_is_said_plainly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(prepare, "run_notebooks", fake_runner(tmp_path / "checkpoints"))
    assert prepare.main(["00", "--budget", "smoke", "--check"]) == 0
    out = capsys.readouterr().out
    assert "nothing: every model was already prepared at this budget" in out
    assert "repeats the first" not in out  # with nothing trained at all, the sentence would say nothing


def test_faster_cells_pairs_the_two_runs_cell_by_cell(tmp_path):
    first = {"executed": executed(tmp_path, "first", [2.0, 30.0, 5.0, 1.5])}  # imports, training, a live sampler, a 1.5 s model
    second = {"executed": executed(tmp_path, "second", [2.2, 0.5, 5.1, 0.4])}
    assert prepare.faster_cells(first, second) == (2, 31.5, pytest.approx(0.9))
    assert prepare.faster_cells(first, {"executed": executed(tmp_path, "short", [2.0])})[0] == 0  # a run that stopped early pairs nothing
    assert prepare.faster_cells(first, {"executed": ""})[0] == 0
