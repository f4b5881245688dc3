import random

import numpy as np
import pytest
import torch

from course_utils import runtime
from course_utils.runtime import by_budget, choose_threads, fastest_seconds, get_budget, get_device, get_run_dir, seed_everything, setup, synchronize


def test_budget_default_is_laptop(monkeypatch):
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    assert get_budget() == "laptop"


@pytest.mark.parametrize("name", ["smoke", "laptop", "full", " SMOKE "])
def test_budget_from_environment(monkeypatch, name):
    monkeypatch.setenv("COURSE_BUDGET", name)
    assert get_budget() == name.strip().lower()


def test_bad_budget_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "huge")
    with pytest.raises(ValueError, match="COURSE_BUDGET must be one of smoke, laptop, full"):
        get_budget()


def test_by_budget_picks_one_value():
    assert [by_budget(b, smoke=1, laptop=2, full=3) for b in ("smoke", "laptop", "full")] == [1, 2, 3]


def test_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)
    assert get_device() == torch.device("cpu")


def test_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)
    assert get_device() == torch.device("mps")


def test_device_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_missing_device_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        get_device("cuda")
    with pytest.raises(ValueError, match="not a device name"):
        get_device("gpu-please")


def test_synchronize_waits_for_the_gpu_that_is_present(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *device: waited.append("cuda"))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waited.append("mps"))
    for cuda, mps in ((False, False), (True, False), (False, True)):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(runtime, "_mps_available", lambda: mps)
        synchronize()
    assert waited == ["cuda", "mps"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    synchronize(torch.device("cpu"))  # a CPU tensor has nothing queued, whatever GPUs are present
    assert waited == ["cuda", "mps"]


def test_threads(monkeypatch):
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    assert choose_threads("smoke") == 1
    assert 1 <= choose_threads("laptop") <= 4
    monkeypatch.setenv("COURSE_THREADS", "3")
    assert choose_threads("smoke") == 3
    monkeypatch.setenv("COURSE_THREADS", "zero")
    with pytest.raises(ValueError, match="positive integer"):
        choose_threads("laptop")


def test_seeding_is_deterministic():
    draws = []
    for _ in range(2):
        gen = seed_everything(123)
        draws.append((random.random(), np.random.rand(), torch.rand(3).tolist(), torch.rand(2, generator=gen).tolist()))
    assert draws[0] == draws[1]
    seed_everything(124)
    assert torch.rand(3).tolist() != draws[0][2]
    assert torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_run_dir_override(tmp_path):
    path = get_run_dir(tmp_path / "elsewhere")
    assert path.is_dir() and path == (tmp_path / "elsewhere").resolve()


def test_setup_banner_and_runtime(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    rt = setup("99_test")
    line = capsys.readouterr().out.strip()
    assert "device: cpu" in line and "budget: smoke" in line and f"torch {torch.__version__}" in line
    assert rt.threads == 1 and torch.get_num_threads() == 1
    assert rt.pick(smoke="s", laptop="l", full="f") == "s"
    assert rt.figure_dir.is_dir() and rt.figure_dir.parent.parent == rt.run_dir


def test_setup_limits_blas_threads_too(monkeypatch):
    from threadpoolctl import threadpool_info

    monkeypatch.setenv("COURSE_THREADS", "1")
    setup("99_test", quiet=True)
    assert all(pool["num_threads"] == 1 for pool in threadpool_info()), "numpy's BLAS follows the course's thread count"


def test_fastest_seconds_times_one_thread_to_the_end_of_the_device_work(monkeypatch):
    """05's sampler race is timed on one thread (a second, busy core cannot stall it), the notebook's
    thread count comes back, even after an error, and every call is waited for on a GPU."""
    waits, seen = [], []
    monkeypatch.setattr(runtime, "synchronize", lambda: waits.append(1))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seconds = fastest_seconds(lambda: seen.append(torch.get_num_threads()), repeats=3)
        assert seconds >= 0 and seen == [1] * 4 and len(waits) == 4  # a warm-up call, then 3 timed
        assert torch.get_num_threads() == 2
        seen.clear()
        fastest_seconds(lambda: seen.append(torch.get_num_threads()), repeats=2, threads=None)
        assert seen == [2] * 3
        with pytest.raises(ZeroDivisionError):
            fastest_seconds(lambda: 1 / 0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
