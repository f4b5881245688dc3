"""The benchmark command end to end, on a tiny notebook (starts a real kernel: a few seconds)."""

from course_utils.tooling.bench import format_figures, main

HEADER = "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n\n"
CELL = """# %%
from course_utils import setup
rt = setup("{name}")
rt.record("answer", {value}, "nats", at_most=42.0, budget="smoke")
import matplotlib.pyplot as plt
plt.plot([0, 1], [0, 1]);
"""


def test_bench_runs_notebooks_prints_the_table_and_checks_claims(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "nbs"
    folder.mkdir()
    (folder / "10_holds.py").write_text(HEADER + CELL.format(name="10_holds", value=41.5))
    monkeypatch.setenv("COURSE_THREADS", "1")

    assert main(["10", "--dir", str(folder), "--budget", "smoke", "--html"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("10_holds"))
    assert " smoke " in row and " ok " in row and "answer = 41.5 nats  [ok <= 42]" in row
    html = list((tmp_path / "runs" / "bench").glob("smoke-*/html/10_holds.html"))
    assert html and "data:image/png" in html[0].read_text(), "the HTML page embeds the figure"



def test_a_missed_claim_fails_the_table():
    entry = {"name": "answer", "value": 43.0, "unit": "nats", "at_most": 42.0, "at_least": None, "budget": "smoke", "claim_budget": "smoke"}
    lines, ok = format_figures([entry])
    assert not ok and lines == ["answer = 43 nats  [MISSED <= 42]"]
    lines, ok = format_figures([dict(entry, budget="smoke", claim_budget="laptop")])
    assert ok and lines == ["answer = 43 nats  [<= 42 at laptop (not checked at smoke)]"]


def test_slowest_cells_reads_the_timing_nbclient_records(tmp_path):
    import nbformat

    from course_utils.tooling.bench import slowest_cells

    def timed(source, start, end):
        cell = nbformat.v4.new_code_cell(source, execution_count=int(start[:2]) + 1)
        cell.metadata["execution"] = {"iopub.execute_input": f"2026-12-01T10:00:{start}Z", "shell.execute_reply": f"2026-12-01T10:00:{end}Z"}
        return cell

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"), timed("import torch", "00.000", "02.500"),
                                         timed("# AIS\nais = rbm.ais_log_partition()", "03.000", "10.000"), nbformat.v4.new_code_cell("x = 1"),
                                         timed("print(1)", "10.000", "10.100")])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert slowest_cells(path, 2) == [(7.0, "[4] ais = rbm.ais_log_partition()"), (2.5, "[1] import torch")]
    assert slowest_cells(tmp_path / "missing.ipynb") == []
