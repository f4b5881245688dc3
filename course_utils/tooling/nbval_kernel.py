"""A pytest plugin for the notebook runs of ``make test``: nbval's kernel start, kept visible and retried.

nbval starts one kernel per notebook and throws the kernel's stderr away (``/dev/null``). ``make test``
runs two notebooks at a time; once in CI a kernel was started but never answered its first request
within nbval's 60 s, and every cell of that notebook then failed with "Kernel didn't respond in 60
seconds", with nothing saying why. Loaded with ``-p course_utils.tooling.nbval_kernel``, this plugin

- keeps each kernel's stderr in ``<run directory>/kernels/kernel-<pid>-<n>.stderr``;
- when a kernel does not come up, warns with the end of that file and starts a fresh one (a new process
  on new ports), :data:`ATTEMPTS` times in all. A notebook whose kernel never comes up still fails,
  with nbval's error; a cell that fails is never retried.
"""

from __future__ import annotations

import itertools
import os
import time
import warnings
from pathlib import Path
from typing import Callable

ATTEMPTS = 3
_counter = itertools.count(1)


def stderr_log(run_dir: Path) -> Path:
    """A fresh file under ``run_dir/kernels/`` for one kernel's stderr."""
    folder = Path(run_dir) / "kernels"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"kernel-{os.getpid()}-{next(_counter)}.stderr"


def tail(path: Path | None, lines: int = 15) -> str:
    """The last ``lines`` lines of ``path`` (or a note that it is empty or missing)."""
    try:
        text = Path(path).read_text(errors="replace").strip() if path else ""
    except OSError:
        text = ""
    return "\n".join(text.splitlines()[-lines:]) if text else "(the kernel wrote nothing to stderr)"


def with_retries(start: Callable[[], object], attempts: int = ATTEMPTS, *,
                 on_failure: Callable[[int, RuntimeError], None] = lambda attempt, err: None,
                 pause: float = 1.0):
    """Call ``start()`` until it returns, at most ``attempts`` times; a ``RuntimeError`` (what
    jupyter_client and nbval raise when a kernel does not come up) is reported to ``on_failure`` and
    retried; the last one is raised. Other exceptions are not retried."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except RuntimeError as err:
            on_failure(attempt, err)
            if attempt == attempts:
                raise
            time.sleep(pause)


def _shutdown(running) -> None:
    """Stop whatever part of a half-started nbval ``RunningKernel`` exists."""
    kc, km = getattr(running, "kc", None), getattr(running, "km", None)
    try:
        if kc is not None:
            kc.stop_channels()
        if km is not None and km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - best effort on a kernel that is already broken
        pass


def pytest_configure(config) -> None:
    from nbval import kernel as nbval_kernel

    if getattr(nbval_kernel, "_course_patched", False):
        return
    run_dir = Path(os.environ.get("COURSE_RUN_DIR") or "runs")
    original_start, original_init = nbval_kernel.start_new_kernel, nbval_kernel.RunningKernel.__init__
    logs: list[Path] = []

    def start_new_kernel(startup_timeout=60, kernel_name="python", **kwargs):
        log = stderr_log(run_dir)
        logs.append(log)
        devnull = kwargs.pop("stderr", None)
        if devnull is not None:
            devnull.close()
        with open(log, "w") as stderr:  # the kernel process keeps its own copy of the file descriptor
            return original_start(startup_timeout=startup_timeout, kernel_name=kernel_name, stderr=stderr, **kwargs)

    def init(self, kernel_name, cwd=None, startup_timeout=60):
        def once():
            try:
                original_init(self, kernel_name, cwd=cwd, startup_timeout=startup_timeout)
            except RuntimeError:
                _shutdown(self)
                raise

        def report(attempt: int, err: RuntimeError) -> None:
            again = "starting a fresh one" if attempt < ATTEMPTS else "giving up"
            warnings.warn(f"kernel in {cwd} did not come up (attempt {attempt} of {ATTEMPTS}: {err}); {again}. "
                          f"Its stderr ({logs[-1] if logs else 'no log'}) ends:\n{tail(logs[-1] if logs else None)}",
                          RuntimeWarning, stacklevel=2)

        with_retries(once, on_failure=report)

    nbval_kernel.start_new_kernel = start_new_kernel
    nbval_kernel.RunningKernel.__init__ = init
    nbval_kernel._course_patched = True
