"""The nbval plugin of ``make test``: a kernel that does not come up is retried, with its stderr kept."""

import warnings

import pytest
from nbval import kernel as nbval_kernel

from course_utils.tooling import nbval_kernel as plugin


def test_with_retries_returns_the_first_success_and_reports_each_failure():
    calls, failures = [], []

    def start():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(f"Kernel didn't respond (try {len(calls)})")
        return "kernel"

    assert plugin.with_retries(start, 3, on_failure=lambda a, e: failures.append((a, str(e))), pause=0) == "kernel"
    assert len(calls) == 3 and [a for a, _ in failures] == [1, 2] and "try 2" in failures[1][1]


def test_with_retries_raises_the_last_error_and_does_not_retry_other_errors():
    with pytest.raises(RuntimeError, match="try 2"):
        n = iter(range(1, 10))
        plugin.with_retries(lambda: (_ for _ in ()).throw(RuntimeError(f"try {next(n)}")), 2, pause=0)
    calls = []
    with pytest.raises(KeyError):
        plugin.with_retries(lambda: calls.append(1) or {}["missing"], 3, pause=0)
    assert calls == [1]
    with pytest.raises(ValueError, match="attempts"):
        plugin.with_retries(lambda: None, 0)


def test_tail_keeps_the_last_lines_and_says_when_there_is_nothing(tmp_path):
    log = tmp_path / "k.stderr"
    log.write_text("\n".join(f"line {i}" for i in range(40)))
    assert plugin.tail(log, 2) == "line 38\nline 39"
    assert "nothing" in plugin.tail(tmp_path / "missing") and "nothing" in plugin.tail(None)


def test_plugin_keeps_stderr_and_starts_a_fresh_kernel(monkeypatch, tmp_path):
    """With nbval's pieces faked: the first kernel never answers, the second does."""
    seen = {"starts": 0, "stderr": []}

    def fake_start(startup_timeout=60, kernel_name="python", **kwargs):
        seen["starts"] += 1
        kwargs["stderr"].write(f"start {seen['starts']}: address already in use\n")
        seen["stderr"].append(kwargs["stderr"].name)
        if seen["starts"] == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        return "km", "kc"

    class FakeRunningKernel:
        def __init__(self, kernel_name, cwd=None, startup_timeout=60):
            self.km, self.kc = nbval_kernel.start_new_kernel(startup_timeout=startup_timeout, kernel_name=kernel_name,
                                                             stderr=open("/dev/null", "w"), cwd=cwd)

    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(nbval_kernel, "start_new_kernel", fake_start)
    monkeypatch.setattr(nbval_kernel, "RunningKernel", FakeRunningKernel)
    monkeypatch.setattr(nbval_kernel, "_course_patched", False, raising=False)
    monkeypatch.setattr(plugin.time, "sleep", lambda s: None)
    plugin.pytest_configure(None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        running = nbval_kernel.RunningKernel("python3", cwd=str(tmp_path))
    assert running.km == "km" and seen["starts"] == 2
    assert all(path.startswith(str(tmp_path / "kernels")) for path in seen["stderr"])
    [warning] = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert "attempt 1 of 3" in str(warning.message) and "start 1: address already in use" in str(warning.message)
