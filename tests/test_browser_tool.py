"""`make test-browser` without a browser: what it opens, how it starts the server, how it reads outputs
and the console, and that a missing Chromium fails loudly. (The browser run itself is `make test-browser`.)"""

import base64
import importlib.util
import json

import pytest

from course_utils.runtime import REPO_ROOT
from course_utils.tooling import browser
from course_utils.tooling.notebooks import notebook_sources


def _course_script():
    spec = importlib.util.spec_from_file_location("course_script", REPO_ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_browser_opens_what_make_lab_opens(monkeypatch):
    course = _course_script()
    expected = [f"student/{src.stem}.ipynb" for src in notebook_sources()]  # the student edition
    assert course.lab_notebooks() == expected and browser.lab_notebooks_of(REPO_ROOT) == expected
    assert course.lab_notebooks("instructor") == [f"notebooks/{src.stem}.ipynb" for src in notebook_sources()]
    calls, runs = [], []
    monkeypatch.setattr(course.subprocess, "call", lambda cmd, **kw: calls.append(cmd) or 0)
    monkeypatch.setattr(course.subprocess, "run", lambda cmd, **kw: runs.append(cmd))
    monkeypatch.setattr(course, "generate_notebooks", lambda py, edition: None)
    course.cmd_lab("py", ["--no-browser"])
    assert f"--LabApp.default_url=/lab/tree/{expected[0]}" in calls[0]  # the lab starts at the first
    course.cmd_test_browser("py", ["00"])
    assert calls[1][:3] == ["py", "-m", "course_utils.tooling.browser"] and "00" in calls[1]
    fresh = [f"runs/browser-notebooks/{src.stem}.ipynb" for src in notebook_sources()]  # written fresh from the sources
    assert calls[1][calls[1].index("--notebooks") + 1:] == fresh and "student" in runs[0]


def test_install_stamp_records_extras_and_keeps_them(tmp_path):
    course = _course_script()
    stamp = tmp_path / "stamp"
    assert course._installed_extras(stamp, "abc") == (set(), False)
    stamp.write_text("abc")  # a stamp written before extras were recorded: the default install
    assert course._installed_extras(stamp, "abc") == ({"lab", "test"}, True)
    stamp.write_text("abc browser,lab,test\n")
    assert course._installed_extras(stamp, "abc") == ({"browser", "lab", "test"}, True)
    assert course._installed_extras(stamp, "def") == ({"browser", "lab", "test"}, False)


def test_missing_chromium_says_how_to_install_and_fails(tmp_path, monkeypatch, capsys):
    nothing = lambda name: None  # noqa: E731
    with pytest.raises(browser.BrowserMissing, match="apt-get install chromium chromium-driver") as err:
        browser.find_browser({}, which=nothing)
    assert "Chromium" in str(err.value) and "chromedriver" in str(err.value)
    with pytest.raises(browser.BrowserMissing, match="COURSE_CHROMEDRIVER=/nowhere does not exist"):
        browser.find_browser({"COURSE_CHROMIUM": __file__, "COURSE_CHROMEDRIVER": "/nowhere"}, which=nothing)
    assert browser.find_browser({"COURSE_CHROMIUM": __file__, "COURSE_CHROMEDRIVER": __file__}, which=nothing) == (__file__, __file__)

    monkeypatch.delenv("COURSE_CHROMIUM", raising=False)
    monkeypatch.delenv("COURSE_CHROMEDRIVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium anywhere
    assert browser.main(["--notebooks", "notebooks/00_start_here.ipynb"]) == 2
    assert "apt-get install chromium chromium-driver" in capsys.readouterr().err


def test_select_notebooks_by_prefix():
    paths = ["notebooks/00_start_here.ipynb", "notebooks/03_autoregressive.ipynb", "student/04_vae.ipynb"]
    assert browser.select_notebooks(paths) == paths
    assert browser.select_notebooks(paths, ["03", "04"]) == paths[1:]
    with pytest.raises(SystemExit, match="starts with 07"):
        browser.select_notebooks(paths, ["00", "07"])


def test_server_is_the_lab_command_headless_on_localhost_with_a_token(tmp_path):
    cmd = browser.server_command("python", REPO_ROOT / "course.py", 8123, "t0ken")
    assert cmd[1:4] == [str(REPO_ROOT / "course.py"), "lab", "--here"] and "--no-browser" in cmd
    assert {"--ServerApp.ip=127.0.0.1", "--ServerApp.port=8123", "--ServerApp.port_retries=0", "--IdentityProvider.token=t0ken"} <= set(cmd)
    env = browser.server_environment({"MPLBACKEND": "Agg", "HOME": "/h", "COURSE_BUDGET": "laptop"}, tmp_path / "run")
    assert env["COURSE_BUDGET"] == "smoke" and env["COURSE_THREADS"] == "1" and env["COURSE_RUN_DIR"] == str(tmp_path / "run")
    assert "MPLBACKEND" not in env and env["HOME"] == "/h"
    browser.write_lab_settings(tmp_path / "settings")
    autosave = tmp_path / "settings" / "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
    assert json.loads(autosave.read_text()) == {"autosave": False}  # running never writes back to a notebook
    url = browser.notebook_url("http://127.0.0.1:8123", "notebooks/03 auto.ipynb", "t0ken")
    assert url == "http://127.0.0.1:8123/lab/workspaces/browser-test-03-auto/tree/notebooks/03%20auto.ipynb?reset&token=t0ken"


def test_errors_are_tracebacks_not_any_stderr():
    outputs = [
        {"output_type": "stream", "name": "stderr", "text": "UserWarning: careful\n"},
        {"output_type": "stream", "name": "stdout", "text": "Traceback (most recent call last): printed on purpose"},
        {"output_type": "display_data", "data": {"image/png": "..."}},
    ]
    assert browser.output_errors(outputs) == []
    outputs += [
        {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": []},
        {"output_type": "stream", "name": "stderr", "text": ["Traceback (most recent call last):\n", '  File "x"\n', "KeyError: 3\n"]},
    ]
    assert browser.output_errors(outputs) == ["ZeroDivisionError: division by zero", "traceback on stderr: KeyError: 3"]


def test_console_errors_and_widget_warnings_fail_other_warnings_are_reported():
    entries = [
        {"level": "DEBUG", "message": "Starting WebSocket"},
        {"level": "INFO", "message": "jupytext is activating"},
        {"level": "WARNING", "message": "Some font could not load"},
        {"level": "WARNING", "message": "Widget model not found: abc"},
        {"level": "SEVERE", "message": "Uncaught TypeError: x is undefined"},
    ]
    errors, warnings = browser.console_problems(entries)
    assert errors == ["Widget model not found: abc", "Uncaught TypeError: x is undefined"]
    assert warnings == ["Some font could not load"]


def test_figure_bytes_and_cell_labels():
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    assert browser.data_uri_bytes("data:image/png;base64," + base64.b64encode(png).decode()) == png
    assert browser.data_uri_bytes("<pre>text</pre>") == b"<pre>text</pre>"
    assert browser.cell_label(4, "\n\npresent(render, a=(0, 1))\nmore") == "cell 5 (`present(render, a=(0, 1))`)"
    assert browser.cell_label(0, "x = " + "1" * 100).endswith("…`)")


def test_result_lines_name_each_move_and_failure():
    move = browser.Move("cell 8 (`present(f)`)", "slider 'n'", "8", "240", (100, 120), True, 1.2, ("a.png", "b.png"))
    result = browser.Result("notebooks/01_x.ipynb", passed=False, failures=["cell 3 (`1/0`): ZeroDivisionError"],
                            cells_run=3, code_cells=4, seconds={"run all": 2.0}, widgets=1, panels=1, moves=[move])
    text = "\n".join(result.lines())
    assert text.startswith("FAIL 01_x: 3/4 code cells ran") and "slider 'n': 8 -> 240; figure 100 -> 120 bytes, changed" in text
    assert "FAILED: cell 3 (`1/0`): ZeroDivisionError" in text


def test_self_test_notebooks_and_verdicts(tmp_path):
    import nbformat

    expected = browser.write_self_test(tmp_path)
    assert expected["st_passes"] is None and sum(want is not None for want in expected.values()) >= 8
    for name in expected:
        path = tmp_path / f"{name}.ipynb"
        if name == "st_unreadable":
            with pytest.raises(Exception):
                nbformat.read(path, as_version=4)
        else:
            nbformat.validate(nbformat.read(path, as_version=4))
    results = [browser.Result("x/st_error.ipynb", passed=False, failures=["cell 3 (`1 / 0`): ZeroDivisionError: division by zero"]),
               browser.Result("x/st_no_panel.ipynb", passed=False, failures=["cell 2: something else"]),
               browser.Result("x/st_stuck_cell.ipynb", passed=True),
               browser.Result("x/st_passes.ipynb", passed=True)]
    assert [ok for _, ok, _ in browser.self_test_verdicts(results, expected)] == [True, False, False, True]
