"""Shared fixtures: every test runs on the CPU, with one thread, in its own run directory."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import os

import pytest
import torch
from threadpoolctl import threadpool_limits

# Small tensors run fastest on one thread, and the test command runs beside other processes.
torch.set_num_threads(int(os.environ.get("COURSE_THREADS", "1")))
threadpool_limits(int(os.environ.get("COURSE_THREADS", "1")))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUN_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    torch.manual_seed(0)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def mnist():
    from course_utils.data import load_mnist5k

    return load_mnist5k()


@pytest.fixture(scope="session")
def digits():
    from course_utils.data import load_digits8x8

    return load_digits8x8()
