"""Where and how the course runs: device, seed, threads, budget and the run directory.

Every notebook's setup cell makes one call, ``rt = setup("03_autoregressive")``, and reads
everything it needs from the returned :class:`Runtime`. Nothing here is global state: the
environment variables below are read when a function is called, and the values are returned.

| variable         | values                      | default                               |
|------------------|-----------------------------|---------------------------------------|
| ``COURSE_BUDGET``  | ``smoke`` / ``laptop`` / ``full`` | ``laptop``                      |
| ``COURSE_DEVICE``  | ``cuda``, ``cuda:1``, ``mps``, ``cpu`` | best available: cuda > mps > cpu |
| ``COURSE_THREADS`` | a positive integer          | 1 under ``smoke``; else up to 4 cores  |
| ``COURSE_RUN_DIR`` | a directory                 | ``runs/`` at the repository root       |
"""

from __future__ import annotations

import os
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, TypeVar

import numpy as np
import torch
from threadpoolctl import threadpool_limits

Budget = Literal["smoke", "laptop", "full"]
BUDGETS: tuple[Budget, ...] = ("smoke", "laptop", "full")
T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- budget
def get_budget(value: str | None = None) -> Budget:
    """The budget named by ``value`` or by ``COURSE_BUDGET`` (default ``laptop``).

    ``smoke``: CI, every notebook in about a minute on 2 CPU cores; results only need to be
    sane. ``laptop``: a student's CPU, a few minutes per notebook, results worth looking at.
    ``full``: a GPU, paper-scale runs.
    """
    name = (value if value is not None else os.environ.get("COURSE_BUDGET", "laptop")).strip().lower()
    if name not in BUDGETS:
        raise ValueError(f"COURSE_BUDGET must be one of {', '.join(BUDGETS)}; got {name!r}.")
    return name  # type: ignore[return-value]


def by_budget(budget: Budget, *, smoke: T, laptop: T, full: T) -> T:
    """Pick the value for ``budget``: ``by_budget(rt.budget, smoke=2, laptop=30, full=300)``."""
    return {"smoke": smoke, "laptop": laptop, "full": full}[get_budget(budget)]


# --------------------------------------------------------------------------- device
def get_device(override: str | None = None) -> torch.device:
    """The device to compute on: ``override``, else ``COURSE_DEVICE``, else cuda > mps > cpu.

    A device that was asked for but is not present raises ``ValueError`` instead of silently
    falling back, so a run on the wrong hardware is noticed.
    """
    name = override if override is not None else os.environ.get("COURSE_DEVICE", "")
    name = name.strip().lower()
    if not name:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"COURSE_DEVICE={name!r} is not a device name (try cpu, cuda or mps).") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {name!r} was asked for, but this PyTorch sees no CUDA GPU; unset COURSE_DEVICE to use the CPU.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"Device {name!r} was asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are present.")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"Device {name!r} was asked for, but MPS is not available here; unset COURSE_DEVICE to use the CPU.")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"COURSE_DEVICE={name!r}: the course supports cpu, cuda and mps.")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def synchronize(device: torch.device | None = None) -> None:
    """Wait for the work queued on ``device`` (default: the GPU in use, CUDA or MPS): their calls
    return before their kernels finish, so a timer must wait for them. Nothing to wait for on a CPU."""
    kind = None if device is None else torch.device(device).type
    if kind in (None, "cuda") and torch.cuda.is_available():
        torch.cuda.synchronize(device)
    if kind in (None, "mps") and _mps_available():
        torch.mps.synchronize()


# --------------------------------------------------------------------------- threads
def choose_threads(budget: Budget, override: str | int | None = None) -> int:
    """How many CPU threads one notebook's PyTorch may use.

    Small models on these machines run fastest with *one* thread, and two kernels that each take
    every core slow each other down many times over (see ``shared/REFERENCES.md``). The test
    command runs two notebooks side by side, so ``smoke`` uses one thread; a student running one
    notebook gets up to four cores. ``COURSE_THREADS`` overrides both.
    """
    value = override if override is not None else os.environ.get("COURSE_THREADS")
    if value not in (None, ""):
        try:
            n = int(value)  # type: ignore[arg-type]
        except ValueError as err:
            raise ValueError(f"COURSE_THREADS must be a positive integer; got {value!r}.") from err
        if n < 1:
            raise ValueError(f"COURSE_THREADS must be a positive integer; got {value!r}.")
        return n
    if get_budget(budget) == "smoke":
        return 1
    return max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------- seed
def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch (all devices); optionally ask for deterministic kernels.

    Returns a CPU ``torch.Generator`` seeded with ``seed``, for code that takes one explicitly.
    Deterministic mode uses ``warn_only=True``: an op without a deterministic kernel warns
    instead of failing, and the warning names it.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- run directory
def get_run_dir(override: str | os.PathLike | None = None) -> Path:
    """The one directory the course writes to (checkpoints, figures, results); created if missing.

    ``COURSE_RUN_DIR`` overrides the default ``runs/`` at the repository root (git-ignored). The
    test command points it at a fresh directory, so CI never reuses a checkpoint.
    """
    raw = override if override is not None else os.environ.get("COURSE_RUN_DIR")
    path = Path(raw) if raw else REPO_ROOT / "runs"
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- the setup call
@dataclass
class Runtime:
    """What a notebook's setup cell returns: where to compute and what the budget allows."""

    notebook: str
    device: torch.device
    budget: Budget
    seed: int
    threads: int
    run_dir: Path
    generator: torch.Generator = field(repr=False)

    def pick(self, *, smoke: T, laptop: T, full: T) -> T:
        """The value for this runtime's budget: ``rt.pick(smoke=2, laptop=30, full=300)``."""
        return by_budget(self.budget, smoke=smoke, laptop=laptop, full=full)

    @property
    def figure_dir(self) -> Path:
        path = self.run_dir / "figures" / self.notebook
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def checkpoint_dir(self) -> Path:
        path = self.run_dir / "checkpoints"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def record(self, name: str, value: float, unit: str = "", **target: Any) -> float:
        """Record one of the notebook's key figures; see :func:`course_utils.results.record`."""
        from .results import record

        return record(self, name, value, unit, **target)

    def fit_or_load(self, model: Any, train_loader: Any, val_loader: Any, cfg: Any, *, name: str = "", data_key: str | None = None) -> Any:
        """:func:`course_utils.train.fit_or_load` with this runtime's checkpoint folder and budget:
        load the finished run of this model, training config and data, or train (resuming) and save it."""
        from .train import fit_or_load

        return fit_or_load(model, train_loader, val_loader, cfg, checkpoint_dir=self.checkpoint_dir, budget=self.budget, name=name,
                           data_key=data_key)

    def save_figure(self, fig: Any, name: str) -> None:
        """Write ``fig`` as ``<run_dir>/figures/<notebook>/<name>.png`` (returns nothing, so a cell
        that ends with it shows only the figure)."""
        fig.savefig(self.figure_dir / f"{name}.png", dpi=110, bbox_inches="tight")

    def banner(self) -> str:
        gpu = ""
        if self.device.type == "cuda":
            gpu = f" ({torch.cuda.get_device_name(self.device)})"
        return (
            f"device: {self.device}{gpu} | budget: {self.budget} | torch {torch.__version__} | "
            f"threads: {self.threads} | seed: {self.seed} | outputs: {self.run_dir}"
        )


def setup(notebook: str, seed: int = 0, *, quiet: bool = False) -> Runtime:
    """Prepare a notebook: budget, device, threads, seeds, plot style; print a one-line banner.

    ``notebook`` names the notebook (``"00_start_here"``); figures and recorded results are filed
    under it.
    """
    budget = get_budget()
    threads = choose_threads(budget)
    torch.set_num_threads(threads)
    threadpool_limits(threads)  # numpy / scipy / scikit-learn BLAS too, not only torch
    generator = seed_everything(seed)
    from .plotting import use_course_style

    use_course_style()
    rt = Runtime(
        notebook=notebook,
        device=get_device(),
        budget=budget,
        seed=seed,
        threads=threads,
        run_dir=get_run_dir(),
        generator=generator,
    )
    if not quiet:
        print(rt.banner())
    return rt


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``: wall time of a block."""

    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def fastest_seconds(fn: Callable[[], object], repeats: int = 5, threads: int | None = 1) -> float:
    """The fastest wall time of ``fn()`` over ``repeats`` calls, after one warm-up call.

    Other processes only ever slow a run down, so the fastest run is the best estimate of what the
    computation itself costs (the convention of Python's ``timeit``). The calls run on ``threads``
    CPU threads (``None``: as many as the notebook uses). One thread, the default, times the work
    itself: how well an operation splits across cores does not enter, and neither do other
    programs holding a core, which can stall a multi-threaded operation many times over. On a GPU
    each call is timed to the end of its kernels."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        fn()
        synchronize()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            synchronize()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return float(min(times))


def environment_summary() -> dict[str, str]:
    """Versions worth quoting in a bug report."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cuda": str(torch.cuda.is_available()),
    }
