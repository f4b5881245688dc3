"""``make test-browser``: every notebook as an instructor presents it, in JupyterLab in a real browser.

The unit tests call the widgets' render functions and ``make test`` executes the notebooks without a
front end; neither shows that a notebook opens in JupyterLab, that its widgets appear, or that moving
a control redraws the figure. This command does, end to end:

1. it starts the README's lab command (``course.py lab --here``) headless, on 127.0.0.1, with a random
   token and a fresh run directory under ``runs/``; the kernels inherit ``COURSE_BUDGET=smoke`` and
   one thread, so no checkpoint from an earlier run is reused; autosave is off, so nothing is written
   back to the notebooks;
2. for every notebook that ``make lab`` opens (``course.py``'s :func:`lab_notebooks`, passed in with
   ``--notebooks``), two at a time, it opens the notebook in headless Chromium (Selenium with the
   system's ``chromedriver``; nothing is downloaded), waits for the kernel, runs all cells from the
   Run menu's command and waits until every cell has finished (a cell running longer than
   ``--cell-timeout`` fails the notebook, naming the cell);
3. it checks: no cell has an error output (a traceback; other stderr text is fine); every widget
   output is rendered (no "Loading widget..." left, no "Error displaying widget"); the browser's
   console has no error; and for every control panel made by ``present`` it moves the first
   control as a user would (drags a slider's handle, picks another option, ticks a box) and waits
   until the figure below it is redrawn with different bytes;
4. it saves screenshots of each panel before and after, and of each notebook's end, under
   ``runs/browser-*/screenshots/``, prints what it checked per notebook and a last line
   ``summary: N passed, M failed`` (one per notebook), and exits non-zero unless every notebook passed.

``--self-test`` opens notebooks broken on purpose instead (:data:`SELF_TEST`): each must fail for
its own reason and one must pass, so the checks are seen to be able to fail.

Without Chromium and its driver it says how to install them and exits with status 2.
Everything that needs no browser (the classification of outputs and console messages, the
commands and URLs) is a plain function, unit-tested in ``tests/test_browser_tool.py``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..runtime import REPO_ROOT

INSTALL_HINT = """\
The browser test needs Chromium and its WebDriver, installed from your system's packages
(the test downloads no browser):
  Debian / Ubuntu (apt):  sudo apt-get install chromium chromium-driver
                          (Ubuntu's chromium is a snap: sudo snap install chromium, then
                           COURSE_CHROMEDRIVER=/snap/bin/chromium.chromedriver)
  Fedora:                 sudo dnf install chromium chromedriver
  macOS (Homebrew):       brew install --cask chromium && brew install --cask chromedriver
Elsewhere point COURSE_CHROMIUM at a Chromium or Chrome binary and COURSE_CHROMEDRIVER at the
chromedriver of the same version."""

# What Chromium's console reports at this level fails a notebook; warnings fail it only when they
# come from the widget manager (its messages name widgets or their models).
WIDGET_WORDS = re.compile(r"widget|jupyter-widgets|ipywidgets|comm", re.IGNORECASE)
TRACEBACK = "Traceback (most recent call last)"
LOADING = "Loading widget..."
WIDGET_ERROR = "Error displaying widget"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# The controls the check knows how to move, as ipywidgets 8 marks them in the DOM.
CONTROL_SELECTOR = ", ".join(
    f".jupyter-widgets.widget-{kind}"
    for kind in ("slider", "dropdown", "checkbox", "select", "select-multiple", "toggle-buttons", "toggle-button", "radio")
)


class BrowserMissing(RuntimeError):
    """Chromium or chromedriver is not installed (the message says how to install them)."""


class CheckFailed(RuntimeError):
    """A notebook failed a check; the message names the notebook and, where there is one, the cell."""


# ----------------------------------------------------------------------------------------------
# Plain functions (no browser, no server): unit-tested.


def find_browser(env: Mapping[str, str] = os.environ, which=shutil.which) -> tuple[str, str]:
    """``(chromium, chromedriver)`` paths, from ``COURSE_CHROMIUM``/``COURSE_CHROMEDRIVER`` or PATH.

    Raises :class:`BrowserMissing` with the install instructions when either is missing.
    """
    chromium = env.get("COURSE_CHROMIUM") or which("chromium") or which("chromium-browser")
    driver = env.get("COURSE_CHROMEDRIVER") or which("chromedriver")
    missing = []
    if not chromium or not Path(chromium).exists():
        missing.append(f"Chromium ({'COURSE_CHROMIUM=' + env['COURSE_CHROMIUM'] + ' does not exist' if env.get('COURSE_CHROMIUM') else 'no chromium on PATH'})")
    if not driver or not Path(driver).exists():
        missing.append(f"chromedriver ({'COURSE_CHROMEDRIVER=' + env['COURSE_CHROMEDRIVER'] + ' does not exist' if env.get('COURSE_CHROMEDRIVER') else 'no chromedriver on PATH'})")
    if missing:
        raise BrowserMissing(f"Not found: {'; '.join(missing)}.\n{INSTALL_HINT}")
    return str(chromium), str(driver)


def select_notebooks(paths: Iterable[str], patterns: Iterable[str] = ()) -> list[str]:
    """The notebook paths whose file name starts with one of ``patterns`` (all when none)."""
    paths, patterns = list(paths), list(patterns)
    if not patterns:
        return paths
    chosen = [p for p in paths if any(Path(p).name.startswith(pat) for pat in patterns)]
    unknown = [pat for pat in patterns if not any(Path(p).name.startswith(pat) for p in paths)]
    if unknown:
        raise SystemExit(f"No notebook to open starts with {', '.join(unknown)} (the notebooks: {', '.join(Path(p).name for p in paths)}).")
    return chosen


def lab_notebooks_of(repo: Path) -> list[str]:
    """``course.py``'s :func:`lab_notebooks` (the one list of what ``make lab`` opens)."""
    spec = importlib.util.spec_from_file_location("course_script", Path(repo) / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lab_notebooks()


def server_command(python: str, course_py: Path, port: int, token: str) -> list[str]:
    """The README's lab command, headless on 127.0.0.1:port with ``token``, the app exposed to scripts."""
    return [
        python, str(course_py), "lab", "--here", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read cell models
    ]


def server_environment(base: Mapping[str, str], run_dir: Path) -> dict[str, str]:
    """The server's (and so every kernel's) environment: smoke budget, one thread, a fresh run
    directory, and JupyterLab settings of its own (no autosave, every cell in the DOM, no news)."""
    env = dict(base)
    env.pop("MPLBACKEND", None)  # the kernels use the inline backend
    env.update(
        COURSE_BUDGET="smoke", COURSE_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
        COURSE_RUN_DIR=str(run_dir), PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1",
        JUPYTERLAB_SETTINGS_DIR=str(run_dir / "server" / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(run_dir / "server" / "workspaces"),
    )
    return env


LAB_SETTINGS = {
    # Running all cells must not write outputs back into the student's notebook (or its .py pair).
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # Every cell in the DOM, so each output can be found and checked without scrolling.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Offline: no news feed, no update check.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def write_lab_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def notebook_url(base: str, path: str, token: str) -> str:
    """The URL of ``path`` in a workspace of its own (so two tabs never share a layout), reset."""
    workspace = "browser-test-" + re.sub(r"[^A-Za-z0-9_-]", "-", Path(path).stem)
    return f"{base}/lab/workspaces/{workspace}/tree/{urllib.parse.quote(path)}?reset&token={token}"


def output_errors(outputs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The errors among a cell's outputs (nbformat dicts): error outputs, and stderr text that holds
    a traceback. Other stderr text (warnings, progress) is not an error."""
    found = []
    for out in outputs:
        if out.get("output_type") == "error":
            found.append(f"{out.get('ename', '?')}: {out.get('evalue', '')}".strip())
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if TRACEBACK in text:
                last = [line for line in text.strip().splitlines() if line.strip()][-1]
                found.append(f"traceback on stderr: {last.strip()}")
    return found


def console_problems(entries: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` from Chromium's console log entries (``{"level", "message"}``).

    Errors: every SEVERE entry (console.error, uncaught exceptions, failed requests), and warnings
    from the widget manager. Warnings: the other WARNING entries, reported but not failing.
    """
    errors, warnings = [], []
    for entry in entries:
        level, message = entry.get("level", ""), str(entry.get("message", ""))
        if level == "SEVERE":
            errors.append(message)
        elif level == "WARNING":
            (errors if WIDGET_WORDS.search(message) else warnings).append(message)
    return errors, warnings


def data_uri_bytes(uri: str) -> bytes:
    """The bytes of a ``data:...;base64,`` URI (an ``<img>``'s source); other strings as UTF-8."""
    if uri.startswith("data:") and ";base64," in uri:
        return base64.b64decode(uri.split(";base64,", 1)[1])
    return uri.encode("utf-8")


def cell_label(index: int, source: str) -> str:
    """How a message names a cell: its number in the notebook and its first line of code."""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return f"cell {index + 1} (`{first[:70]}{'…' if len(first) > 70 else ''}`)"


# ----------------------------------------------------------------------------------------------
# Results


@dataclass
class Move:
    cell: str
    control: str
    before: str
    after: str
    figure_bytes: tuple[int, int]
    changed: bool
    seconds: float
    screenshots: tuple[str, str]


@dataclass
class Result:
    notebook: str
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    cells_run: int = 0
    code_cells: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    widgets: int = 0
    panels: int = 0
    moves: list[Move] = field(default_factory=list)
    console_warnings: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        name = Path(self.notebook).stem
        secs = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        out = [f"{'PASS' if self.passed else 'FAIL'} {name}: {self.cells_run}/{self.code_cells} code cells ran; "
               f"{self.widgets} widget output(s) rendered, {self.panels} control panel(s); {secs}"]
        for m in self.moves:
            out.append(f"     {m.cell}: moved {m.control}: {m.before} -> {m.after}; figure {m.figure_bytes[0]} -> "
                       f"{m.figure_bytes[1]} bytes, {'changed' if m.changed else 'UNCHANGED'} after {m.seconds:.1f} s")
        for w in self.console_warnings[:5]:
            out.append(f"     console warning (not failing): {w[:200]}")
        for f in self.failures:
            out.append(f"     FAILED: {f}")
        return out


# ----------------------------------------------------------------------------------------------
# The page's side. Each snippet runs in the JupyterLab page (window.jupyterapp, exposed by the
# server flag above); `window.__bt` holds this test's state.

JS_FIND_PANEL = """
const path = arguments[0];
const app = window.jupyterapp;
const dialog = document.querySelector('.jp-Dialog');
if (dialog) return {phase: 'dialog', text: dialog.innerText.trim().replace(/\\s+/g, ' ').slice(0, 300)};
if (!app || !app.shell) return {phase: 'JupyterLab to start'};
const panel = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path);
if (!panel) return {phase: 'the notebook to open'};
if (!panel.context.isReady) return {phase: 'the notebook to load'};
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
if (!kernel) return {phase: 'a kernel to start'};
if (!window.__bt) {
  window.__bt = {panel: panel, iopub: [], updates: 0, done: false};
  panel.sessionContext.iopubMessage.connect((_, msg) => {
    const t = msg.header.msg_type, c = msg.content;
    if (t === 'update_display_data') window.__bt.updates += 1;
    else if (t === 'error') window.__bt.iopub.push(c.ename + ': ' + c.evalue);
    else if (t === 'stream' && c.name === 'stderr' && c.text.includes('Traceback (most recent call last)'))
      window.__bt.iopub.push('traceback on stderr: ' + c.text.trim().split('\\n').pop());
  });
}
if (kernel.status !== 'idle') return {phase: 'the kernel to be idle (it is ' + kernel.status + ')'};
return {phase: 'ready', cells: panel.content.widgets.length};
"""

JS_RUN_ALL = """
const bt = window.__bt;
bt.app = window.jupyterapp;
bt.app.shell.activateById(bt.panel.id);
bt.panel.content.activate();
bt.done = false;
bt.app.commands.execute('notebook:run-all-cells').then(
  ok => { bt.done = true; bt.ok = ok; },
  err => { bt.done = true; bt.ok = false; bt.err = String(err); });
"""

JS_PROGRESS = """
const bt = window.__bt, panel = bt.panel;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
let running = null, queued = 0;
panel.content.widgets.forEach((cell, i) => {
  if (cell.model.type !== 'code') return;
  const prompt = cell.node.querySelector('.jp-InputPrompt');
  if (cell.model.executionState === 'running' || (prompt && prompt.textContent.includes('*'))) {
    queued += 1;
    if (running === null) running = {index: i, source: cell.model.sharedModel.getSource()};
  }
});
return {done: bt.done, ok: bt.ok === undefined ? null : bt.ok, err: bt.err || null,
        status: kernel ? kernel.status : 'no kernel', running: running, queued: queued,
        iopub: bt.iopub.length};
"""

JS_CELLS = """
const panel = window.__bt.panel;
return panel.content.widgets.map((cell, i) => {
  if (cell.model.type !== 'code') return null;
  const outputs = cell.model.outputs.toJSON().map(o => ({
    output_type: o.output_type, name: o.name, ename: o.ename, evalue: o.evalue,
    text: o.output_type === 'stream' && o.name === 'stderr' ? [].concat(o.text).join('') : undefined,
    mimes: Object.keys(o.data || {})}));
  return {index: i, count: cell.model.executionCount, source: cell.model.sharedModel.getSource(), outputs: outputs};
}).filter(c => c !== null);
"""

# Every widget output of the notebook: where it is, whether it is rendered, and for the control
# panels of `present` (a widget holding controls) the output that follows it, the figure.
JS_WIDGETS = """
const panel = window.__bt.panel, controls = arguments[0], mime = arguments[1];
const found = [];
panel.content.widgets.forEach((cell, i) => {
  if (cell.model.type !== 'code') return;
  const outputs = cell.model.outputs.toJSON();
  outputs.forEach((o, j) => {
    if (!o.data || !o.data[mime]) return;
    const child = cell.outputArea.widgets[j];
    const node = child ? child.node.querySelector('.jp-OutputArea-output') || child.node : null;
    const text = node ? node.textContent.trim() : '';
    let figure = null;
    for (let k = j + 1; k < outputs.length; k++) {
      if (outputs[k].output_type === 'display_data' && !(outputs[k].data || {})[mime]) { figure = k; break; }
    }
    found.push({cell: i, output: j, source: cell.model.sharedModel.getSource(), text: text.slice(0, 120),
                rendered: !!node && !!node.querySelector('.jupyter-widgets'),
                loading: text.startsWith('Loading widget'), broken: text.includes('Error displaying widget'),
                controls: node ? node.querySelectorAll(controls).length : 0, figure: figure});
  });
});
return found;
"""

JS_NODES = """
const cell = window.__bt.panel.content.widgets[arguments[0]];
const out = cell.outputArea.widgets[arguments[1]];
const fig = arguments[2] === null ? null : cell.outputArea.widgets[arguments[2]];
const img = fig ? fig.node.querySelector('img') : null;
return {cell: cell.node, area: cell.outputArea.node,
        control: out ? out.node.querySelector(arguments[3]) : null,
        figure: img ? img.getAttribute('src') : (fig ? fig.node.innerHTML : null)};
"""

JS_FIGURE = """
const cell = window.__bt.panel.content.widgets[arguments[0]];
const fig = cell.outputArea.widgets[arguments[1]];
if (!fig) return null;
const img = fig.node.querySelector('img');
const kernel = window.__bt.panel.sessionContext.session.kernel;
return {figure: img ? img.getAttribute('src') : fig.node.innerHTML, status: kernel.status, iopub: window.__bt.iopub,
        updates: window.__bt.updates};
"""

JS_SHUTDOWN = """
const done = arguments[arguments.length - 1];
try { window.__bt.panel.sessionContext.shutdown().then(() => done(true), e => done(String(e))); }
catch (e) { done(String(e)); }
"""


# ----------------------------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """The README's lab command, headless, with a token; stopped through its REST API."""

    def __init__(self, repo: Path, run_dir: Path, python: str = sys.executable, timeout: float = 120.0):
        self.repo, self.run_dir, self.python, self.timeout = Path(repo), Path(run_dir), python, timeout
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.run_dir / "server" / "server.log"
        self.proc: subprocess.Popen | None = None

    def _get(self, path: str, method: str = "GET", timeout: float = 5) -> int:
        req = urllib.request.Request(self.base + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status

    def log_tail(self, n: int = 25) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "\n".join(lines[-n:])

    def start(self) -> None:
        write_lab_settings(self.run_dir / "server" / "settings")
        (self.run_dir / "server" / "workspaces").mkdir(parents=True, exist_ok=True)
        cmd = server_command(self.python, self.repo / "course.py", self.port, self.token)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, cwd=self.repo, env=server_environment(os.environ, self.run_dir),
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CheckFailed(f"the lab command exited ({self.proc.returncode}) before serving; its log ends:\n{self.log_tail()}")
            try:
                if self._get("/api/status") == 200:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.25)
        raise CheckFailed(f"JupyterLab did not answer on {self.base} within {self.timeout:.0f} s; its log ends:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self._get("/api/shutdown", method="POST")
            self.proc.wait(timeout=30)
        except Exception:
            if not hasattr(os, "killpg"):  # Windows
                self.proc.kill()
            for sig in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)) if hasattr(os, "killpg") else ():
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(timeout=10)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        self._log.close()


# ----------------------------------------------------------------------------------------------
# One notebook in one browser


class NotebookCheck:
    def __init__(self, path: str, server: LabServer, browser: tuple[str, str], shots: Path, timeouts: Mapping[str, float]):
        self.path, self.server, self.browser, self.shots, self.t = path, server, browser, shots, timeouts
        self.name = Path(path).stem
        self.result = Result(notebook=path)
        self.console: list[Mapping[str, Any]] = []
        self.driver = None

    # -- helpers
    def fail(self, message: str) -> None:
        self.result.failures.append(message)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, what: str, poll, timeout: float, interval: float = 0.25):
        """Call ``poll()`` until it returns something true; CheckFailed naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = poll()
            if value:
                return value
            if time.monotonic() > deadline:
                raise CheckFailed(f"{self.name}: timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")
            time.sleep(interval)

    def read_console(self) -> None:
        try:
            self.console.extend(self.driver.get_log("browser"))
        except Exception:  # a driver without the log endpoint: nothing to add
            pass

    def screenshot(self, label: str, element=None) -> str:
        path = self.shots / f"{self.name}-{label}.png"
        try:
            if element is not None:
                self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
                element.screenshot(str(path))
            else:
                self.driver.save_screenshot(str(path))
        except Exception as err:  # a screenshot is evidence, not a check
            return f"(no screenshot {path.name}: {err})"
        self.result.screenshots.append(str(path))
        return str(path)

    def start_browser(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, driver = self.browser
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1200",
                    "--force-device-scale-factor=1", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # An explicit driver path: Selenium Manager is not consulted and downloads nothing.
        self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        self.driver.set_script_timeout(60)

    # -- the stages
    def open(self) -> None:
        start = time.monotonic()
        self.driver.get(notebook_url(self.server.base, self.path, self.server.token))
        state = {"phase": "the page to load"}

        def poll():
            state.update(self.js(JS_FIND_PANEL, self.path) or {})
            if state.get("phase") == "dialog":  # JupyterLab asks something or reports an error: no one will answer
                raise CheckFailed(f"{self.name}: JupyterLab shows a dialog while opening {self.path}: {state['text']}")
            return state.get("phase") == "ready"

        self.wait(lambda: f"{state['phase']} (opening {self.path})", poll, self.t["open"])
        self.result.seconds["open"] = time.monotonic() - start

    def run_all(self) -> None:
        start = time.monotonic()
        self.js(JS_RUN_ALL)
        cell_timeout, total_timeout = self.t["cell"], self.t["notebook"]
        current, since = None, time.monotonic()
        while True:
            p = self.js(JS_PROGRESS)
            if p["status"] in ("dead", "unknown", "no kernel") or (p["status"] == "restarting"):
                where = cell_label(p["running"]["index"], p["running"]["source"]) if p["running"] else "no cell"
                raise CheckFailed(f"{self.name}: the kernel is {p['status']} while running {where}")
            if p["done"] and p["queued"] == 0:
                break
            key = p["running"]["index"] if p["running"] else None
            if key != current:
                current, since = key, time.monotonic()
            now = time.monotonic()
            if p["running"] and now - since > cell_timeout:
                raise CheckFailed(f"{self.name}: {cell_label(key, p['running']['source'])} still running after {cell_timeout:.0f} s")
            if now - start > total_timeout:
                where = cell_label(key, p["running"]["source"]) if p["running"] else "between cells"
                raise CheckFailed(f"{self.name}: Run All not finished after {total_timeout:.0f} s (at {where})")
            time.sleep(0.25)
        self.result.seconds["run all"] = time.monotonic() - start
        if p["err"]:
            self.fail(f"Run All raised in the page: {p['err']}")
        cells = self.js(JS_CELLS)
        self.result.code_cells = len(cells)
        self.result.cells_run = sum(1 for c in cells if c["count"] is not None)
        for c in cells:
            for err in output_errors(c["outputs"]):
                self.fail(f"{cell_label(c['index'], c['source'])}: {err}")
        not_run = [c for c in cells if c["count"] is None and c["source"].strip()]
        if not_run:
            self.fail(f"{len(not_run)} code cell(s) did not run, the first {cell_label(not_run[0]['index'], not_run[0]['source'])}")
        if p["ok"] is False and not self.result.failures:
            self.fail("Run All reported a failed cell, but no cell shows an error")

    def check_widgets(self) -> list[dict]:
        start = time.monotonic()
        found: list[dict] = []

        def settled():
            found[:] = self.js(JS_WIDGETS, CONTROL_SELECTOR, WIDGET_MIME)
            return all(not w["loading"] for w in found)

        try:
            self.wait("every widget to render", settled, self.t["widget"])
        except CheckFailed:
            pass  # the loading ones are reported below, with their cells
        self.result.seconds["widgets"] = time.monotonic() - start
        self.result.widgets = sum(1 for w in found if w["rendered"] and not w["broken"])
        for w in found:
            where = cell_label(w["cell"], w["source"])
            if w["loading"]:
                self.fail(f"{where}: a widget still shows '{LOADING}' after {self.t['widget']:.0f} s")
            elif w["broken"]:
                self.fail(f"{where}: {w['text']}")
            elif not w["rendered"]:
                self.fail(f"{where}: a widget output has no widget view (it shows {w['text']!r})")
        panels = [w for w in found if w["controls"] and w["rendered"]]
        self.result.panels = len(panels)
        if not panels:
            self.fail("no control panel rendered: every notebook shows at least one widget made with present() (README, Contributing)")
        for w in panels:
            if w["figure"] is None:
                self.fail(f"{cell_label(w['cell'], w['source'])}: a control panel with no figure output after it")
        return [w for w in panels if w["figure"] is not None]

    def move_control(self, control) -> tuple[str, str, str]:
        """Move ``control`` as a user would; return (description, value before, value after)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.support.ui import Select

        kind = next((k for k in ("slider", "dropdown", "checkbox", "select-multiple", "select", "toggle-buttons", "toggle-button", "radio")
                     if f"widget-{k}" in (control.get_attribute("class") or "").split()), "control")
        labels = control.find_elements("css selector", ".widget-label")
        name = f"{kind} '{labels[0].text.strip()}'" if labels and labels[0].text.strip() else kind
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", control)
        if kind == "slider":
            handle = control.find_element("css selector", ".noUi-handle")
            track = control.find_element("css selector", ".noUi-base")
            readout = control.find_elements("css selector", ".widget-readout")
            value = lambda: readout[0].text.strip() if readout else handle.get_attribute("aria-valuenow")  # noqa: E731
            before = value()
            hx, tx, tw = handle.rect["x"] + handle.rect["width"] / 2, track.rect["x"], track.rect["width"]
            dx = int(tw * (0.3 if (hx - tx) < tw / 2 else -0.3))  # a third of the track, away from the nearer end
            ActionChains(self.driver).click_and_hold(handle).move_by_offset(dx // 2, 0).move_by_offset(dx - dx // 2, 0).release().perform()
            after = self.wait(f"the {name} readout to change from {before}", lambda: value() != before and value(), 10)
            return name, before, after
        if kind == "checkbox":
            box = control.find_element("css selector", "input[type=checkbox]")
            before = str(box.is_selected())
            box.click()
            return name, before, str(box.is_selected())
        if kind in ("dropdown", "select", "select-multiple"):
            select = Select(control.find_element("css selector", "select"))
            chosen = lambda: [o.text for o in select.options if o.is_selected()]  # noqa: E731
            before = chosen()
            index = next((i for i, o in enumerate(select.options) if not o.is_selected()), None)
            if index is None:
                raise CheckFailed(f"{self.name}: the {name} has no option left to pick")
            select.select_by_index(index)
            return name, ", ".join(before) or "(none)", ", ".join(chosen()) or "(none)"
        if kind == "toggle-button":  # one button of a set (widgets.toggles): pressing it adds or removes its option
            pressed = lambda: "mod-active" in (control.get_attribute("class") or "")  # noqa: E731
            before = pressed()
            control.click()
            self.wait(f"the toggle '{control.text}' to change", lambda: pressed() != before, 10)
            return f"toggle '{control.text}'", *(("pressed", "released") if before else ("released", "pressed"))
        if kind in ("toggle-buttons", "radio"):
            options = control.find_elements("css selector", "button, input[type=radio]")
            target = next((o for o in options if "mod-active" not in (o.get_attribute("class") or "") and not o.is_selected()), None)
            if target is None:
                raise CheckFailed(f"{self.name}: the {name} has no other option")
            before = next((o.text or o.get_attribute("value") for o in options if o.is_selected() or "mod-active" in (o.get_attribute("class") or "")), "?")
            target.click()
            return name, before, target.text or target.get_attribute("value") or "?"
        raise CheckFailed(f"{self.name}: do not know how to move a control of class {control.get_attribute('class')}")

    def check_panel(self, k: int, w: dict) -> None:
        where = cell_label(w["cell"], w["source"])
        nodes = self.js(JS_NODES, w["cell"], w["output"], w["figure"], CONTROL_SELECTOR)
        if nodes["control"] is None or nodes["figure"] is None:
            self.fail(f"{where}: the panel's control or its figure is missing from the page")
            return
        before_shot = self.screenshot(f"panel{k}-before", nodes["area"])
        figure_before = nodes["figure"]
        counts = self.js("return [window.__bt.iopub.length, window.__bt.updates]")
        start = time.monotonic()
        name, v0, v1 = self.move_control(nodes["control"])
        state: dict = {}
        updated_at: list[float] = []

        def redrawn():
            state.update(self.js(JS_FIGURE, w["cell"], w["figure"]) or {})
            new_errors = state.get("iopub", [])[counts[0]:]
            if new_errors:
                raise CheckFailed(f"{self.name}: {where}: moving the {name} raised in the kernel: {new_errors[0]}")
            idle = state.get("status") == "idle"
            if state.get("figure") and state["figure"] != figure_before and idle:
                return True
            if state.get("updates", 0) > counts[1] and idle:  # the kernel redrew; give the page a moment to show it
                updated_at.append(time.monotonic())
                if updated_at[-1] - updated_at[0] > 5:
                    raise CheckFailed(f"{self.name}: {where}: moving the {name} ({v0} -> {v1}) redrew the figure with the same bytes")
            return False

        try:
            self.wait(f"the figure of {where} to change after moving the {name} ({v0} -> {v1})", redrawn, self.t["redraw"])
        except CheckFailed as err:
            self.fail(str(err).removeprefix(f"{self.name}: "))
        seconds = time.monotonic() - start
        b0, b1 = data_uri_bytes(figure_before), data_uri_bytes(state.get("figure") or figure_before)
        changed = hashlib.sha256(b0).digest() != hashlib.sha256(b1).digest()
        area = self.js("return window.__bt.panel.content.widgets[arguments[0]].outputArea.node", w["cell"])
        after_shot = self.screenshot(f"panel{k}-after", area)
        self.result.moves.append(Move(where, name, v0, v1, (len(b0), len(b1)), changed, seconds, (before_shot, after_shot)))

    def shutdown_kernel(self) -> None:
        try:
            self.driver.execute_async_script(JS_SHUTDOWN)
        except Exception:
            pass  # the server's shutdown stops it anyway

    def run(self) -> Result:
        start = time.monotonic()
        try:
            self.start_browser()
            self.open()
            self.run_all()
            for k, w in enumerate(self.check_widgets(), 1):
                self.check_panel(k, w)
            self.driver.execute_script("const n = window.__bt.panel.content; n.scrollToItem ? n.scrollToItem(n.widgets.length - 1) : null;")
            self.screenshot("end")
        except CheckFailed as err:
            self.fail(str(err).removeprefix(f"{self.name}: "))
            if self.driver is not None:
                self.screenshot("failure")
        except Exception as err:  # the driver or the page broke: report it, with where
            self.fail(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''} ({traceback.format_exc(limit=-1).splitlines()[-2].strip()})")
            if self.driver is not None:
                self.screenshot("failure")
        finally:
            if self.driver is not None:
                self.read_console()
                self.shutdown_kernel()
                try:
                    self.driver.quit()
                except Exception:
                    pass
        errors, warnings = console_problems(self.console)
        for e in errors:
            self.fail(f"browser console: {e[:300]}")
        self.result.console_warnings = warnings
        self.result.seconds["total"] = time.monotonic() - start
        self.result.passed = not self.result.failures
        return self.result


# ----------------------------------------------------------------------------------------------
# The self-test: notebooks broken on purpose, each of which must fail for its own reason (and one
# that must pass), so the checks above are seen to be able to fail in this JupyterLab and Chromium.

_PANEL = """import matplotlib.pyplot as plt
from course_utils.widgets import present

def render(a: int = 0):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title(f"a = {a}")
    return fig
"""
_BAD_WIDGET = ("from IPython.display import display\n"
               "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'no-such-model', 'version_major': 2, "
               "'version_minor': 0}, 'text/plain': 'a widget'}, raw=True)")
SELF_TEST: dict[str, tuple[list[str], str | None]] = {
    # name: (code cells, a text the failures must contain; None: the notebook must pass)
    "st_error": ([_PANEL, "present(render, a=(0, 10));", "1 / 0", "print('never')"], "ZeroDivisionError: division by zero"),
    "st_callback_raises": ([_PANEL + "\ndef bad(a: int = 0):\n    if a:\n        raise ValueError(f'render broke at a={a}')\n    return render(a)\n",
                            "present(bad, a=(0, 10));"], "raised in the kernel: ValueError: render broke"),
    "st_figure_unchanged": ([_PANEL + "\ndef same(a: int = 0):\n    return render(0)\n", "present(same, a=(0, 10));"],
                            "redrew the figure with the same bytes"),
    "st_stuck_cell": ([_PANEL, "present(render, a=(0, 10));", "import time\ntime.sleep(600)"], "(`import time`) still running after"),
    "st_widget_not_found": ([_PANEL, "present(render, a=(0, 10));", _BAD_WIDGET], "Error displaying widget: model not found"),
    "st_traceback_on_stderr": ([_PANEL, "present(render, a=(0, 10));",
                                "import sys\nprint('Traceback (most recent call last):\\n  File \"x\"\\nKeyError: 3', file=sys.stderr)"],
                               "traceback on stderr: KeyError: 3"),
    "st_no_panel": ([_PANEL, "render(1);"], "no control panel rendered"),
    "st_passes": ([_PANEL + "\ndef two(flag: bool = False, kind: str = 'x', a: int = 0):\n    return render(a + 2 * flag + 4 * (kind == 'y'))\n",
                   "import sys, warnings\nprint('a warning on stderr is not an error', file=sys.stderr)\nwarnings.warn('neither is this')",
                   "present(two, flag=False, kind=['x', 'y']);", "present(two, kind=['x', 'y'], flag=False);", "present(two, a=(0, 5));"], None),
}


def write_self_test(folder: Path) -> dict[str, str | None]:
    """Write the self-test notebooks into ``folder``; return {notebook stem: expected failure text}."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    for name, (cells, _) in SELF_TEST.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
        nbformat.write(nb, folder / f"{name}.ipynb")
    (folder / "st_unreadable.ipynb").write_text("{ this is not a notebook")
    expected = {name: want for name, (_, want) in SELF_TEST.items()}
    expected["st_unreadable"] = "JupyterLab shows a dialog while opening"
    return expected


def self_test_verdicts(results: Iterable[Result], expected: Mapping[str, str | None]) -> list[tuple[str, bool, str]]:
    """(notebook, behaved as expected, why) for each self-test result."""
    verdicts = []
    for r in results:
        name, want, failures = Path(r.notebook).stem, expected[Path(r.notebook).stem], "\n".join(r.failures)
        if want is None:
            verdicts.append((name, r.passed, "passed" if r.passed else f"should pass, failed: {failures}"))
        elif r.passed:
            verdicts.append((name, False, f"should fail with {want!r}, passed"))
        else:
            ok = want in failures
            verdicts.append((name, ok, f"failed with {want!r}" if ok else f"should fail with {want!r}, failed with: {failures}"))
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python course.py test-browser", description=__doc__.split("\n\n")[0])
    parser.add_argument("patterns", nargs="*", help="only the notebooks whose file name starts with one of these (e.g. 00 03)")
    parser.add_argument("--notebooks", nargs="+", help="paths relative to the server root (default: course.py's lab_notebooks())")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout whose course.py starts JupyterLab")
    parser.add_argument("--run-dir", type=Path, help="default: a fresh runs/browser-<time>-<pid>/")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("COURSE_BROWSER_WORKERS", "2")), help="notebooks at a time (default 2)")
    # A smoke-budget notebook runs in well under a minute on one thread; these only stop a hang.
    parser.add_argument("--cell-timeout", type=float, default=120.0, help="seconds one cell may run (default 120)")
    parser.add_argument("--notebook-timeout", type=float, default=300.0, help="seconds Run All may take (default 300)")
    parser.add_argument("--self-test", action="store_true", help="open notebooks broken on purpose instead: each must fail for its reason")
    args = parser.parse_intermixed_args(argv)

    start = time.monotonic()
    try:
        browser = find_browser()
    except BrowserMissing as err:
        print(f"[browser] {err}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("selenium") is None:
        print("[browser] Selenium is missing: `python course.py test-browser` installs it (pip install -e '.[browser]').", file=sys.stderr)
        return 2

    repo = args.repo.resolve()
    run_dir = (args.run_dir or repo / "runs" / f"browser-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}").resolve()
    expected: dict[str, str | None] = {}
    if args.self_test and not run_dir.is_relative_to(repo):
        raise SystemExit(f"--self-test writes its notebooks into the run directory, which must be inside {repo} (the server's root).")
    if args.self_test:  # inside the server's root, which is the repository
        expected = write_self_test(run_dir / "self-test")
        paths = [(run_dir / "self-test" / f"{name}.ipynb").relative_to(repo).as_posix() for name in expected]
        args.cell_timeout = min(args.cell_timeout, 15.0)
    else:
        paths = select_notebooks(args.notebooks or lab_notebooks_of(repo), args.patterns)
    missing = [p for p in paths if not (repo / p).is_file()]
    if missing:
        print(f"[browser] not found under {repo}: {', '.join(missing)} (`python course.py notebooks` writes them)", file=sys.stderr)
        return 1
    shots = run_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    timeouts = {"open": 120.0, "cell": args.cell_timeout, "notebook": args.notebook_timeout, "widget": 60.0, "redraw": 60.0}
    print(f"[browser] run directory: {run_dir} (budget smoke, one thread per kernel, {args.workers} notebook(s) at a time)", flush=True)

    server = LabServer(repo, run_dir)
    results: list[Result] = []
    lock = threading.Lock()

    def one(path: str) -> Result:
        result = NotebookCheck(path, server, browser, shots, timeouts).run()
        with lock:
            print("\n".join(f"[browser] {line}" for line in result.lines()), flush=True)
        return result

    try:
        server.start()
        print(f"[browser] JupyterLab serves {repo} at {server.base} (log: {server.log_path})", flush=True)
        with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
            results = list(pool.map(one, paths))
    except CheckFailed as err:
        print(f"[browser] {err}", file=sys.stderr)
    finally:
        server.stop()

    report = {"run_dir": str(run_dir), "seconds": time.monotonic() - start, "results": [asdict(r) for r in results]}
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    if args.self_test:
        verdicts = self_test_verdicts(results, expected)
        for name, ok, why in verdicts:
            print(f"[browser] self-test {name}: {'as expected' if ok else 'NOT AS EXPECTED'}: {why[:400]}")
        passed = sum(ok for _, ok, _ in verdicts)
        print(f"[browser] self-test: {passed} of {len(paths)} notebook(s) behaved as expected in {report['seconds']:.0f} s")
        print(f"summary: {passed} passed, {len(paths) - passed} failed")
        return 0 if passed == len(paths) else 1
    passed = sum(r.passed for r in results)
    failed = len(paths) - passed
    print(f"[browser] {passed} of {len(paths)} notebook(s) passed in {report['seconds']:.0f} s; screenshots in {shots}")
    print(f"summary: {passed} passed, {failed} failed")
    return 0 if paths and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
