import json

import matplotlib.pyplot as plt
import pytest

from course_utils.results import claim_status, read_results
from course_utils.runtime import setup
from course_utils.widgets import Panel, make_control, present


def render(level: float = 0.5, label: str = "a", show: bool = True, n: int = 3):
    fig, ax = plt.subplots()
    ax.plot([0, n], [0, level])
    ax.set_title(f"{label} {show}")
    return fig


def test_render_functions_run_without_a_browser():
    assert render(0.2, "b", False, 5).axes[0].get_title() == "b False"


def test_present_shows_the_default_and_redraws(capsys):
    panel = present(render, level=(0.0, 1.0), label=["a", "b"], show=True, n=(1, 9))
    assert isinstance(panel, Panel)
    assert panel.values == {"level": 0.5, "label": "a", "show": True, "n": 3}
    assert type(panel.controls["n"]).__name__ == "IntSlider" and type(panel.controls["level"]).__name__ == "FloatSlider"
    assert type(panel.controls["label"]).__name__ == "Dropdown" and type(panel.controls["show"]).__name__ == "Checkbox"
    panel.controls["label"].value = "b"  # what a click does: the observer redraws
    assert panel.values["label"] == "b"
    assert plt.get_fignums() == [], "rendered figures are closed, not leaked"


def test_controls_reject_unknown_specs():
    with pytest.raises(ValueError, match="Control 'x'"):
        make_control("x", {"a": 1}, None)
    with pytest.raises(ValueError, match="no parameter 'missing'"):
        present(render, missing=(0, 1))


@pytest.fixture
def rt(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    return setup("99_results", quiet=True)


def test_record_writes_a_line_and_checks_claims_at_their_budget(rt):
    assert rt.record("nll", 100.0, "nats") == 100.0
    rt.record("laptop_claim", 120.0, "nats", at_most=110.0, budget="laptop")  # recorded, not checked at smoke
    with pytest.raises(AssertionError, match="misses its smoke-budget claim"):
        rt.record("smoke_claim", 120.0, "nats", at_most=110.0, budget="smoke")
    entries = read_results(rt.run_dir)
    assert [e["name"] for e in entries] == ["nll", "laptop_claim", "smoke_claim"]
    assert claim_status(entries[0]) == (None, "")
    assert claim_status(entries[1]) == (None, "<= 110 at laptop (not checked at smoke)")
    assert claim_status(entries[2]) == (False, "<= 110")
    with pytest.raises(ValueError, match="needs the budget"):
        rt.record("x", 1.0, at_least=0.0)
    json.dumps(entries)


def test_a_cell_ending_with_record_shows_the_figure_line_not_a_bare_number(rt, capsys):
    r = rt.record("nll", 100.0, "nats")
    assert isinstance(r, float) and r == 100.0 and r + 1 == 101.0  # still the value
    r._ipython_display_()  # what IPython calls instead of showing Out[n]: 100.0
    claimed = rt.record("nll_claimed", 96.1234, "nats", at_most=110.0, budget="smoke")
    claimed._ipython_display_()
    rt.record("later", 120.0, "nats", at_most=110.0, budget="laptop")._ipython_display_()
    assert capsys.readouterr().out.splitlines() == ["recorded: nll = 100 nats", "recorded: nll_claimed = 96.12 nats  [ok <= 110]",
                                                    "recorded: later = 120 nats  [<= 110 at laptop (not checked at smoke)]"]
