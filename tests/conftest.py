"""Shared fixtures: every test runs on the CPU, with one thread, in its own run directory."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

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
