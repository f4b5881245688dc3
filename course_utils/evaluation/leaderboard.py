"""One leaderboard for every model of the course: likelihood, FD with its floor, precision/recall,
density/coverage and what each model costs.

A **board** is one data set and its fixed test split. Every preset of
:mod:`course_utils.models.presets` whose data set belongs to the board joins it, so a family added
by a later notebook appears with no change here; models fitted in a notebook (closed-form
baselines) join through ``extra``. Each model gives one :class:`Row`:

| column | what it is |
|---|---|
| ``kind`` | ``exact``, ``bound`` (an upper bound on the NLL), ``exact (Z enumerated)`` (an energy model whose partition function was summed exactly) or ``none`` (no normalised likelihood: ``nll_note`` says why) |
| ``nll``, ``bpd`` | mean NLL on the test split, nats per image and bits per dimension (``None`` for kind ``none``) |
| ``nll_note`` | what the number is (``IW bound, k = 100``, ``ELBO``, ...) or why there is none |
| ``fd``, ``floor`` | FD (course features) of N samples against the test split, and the real-vs-real floor at the same N |
| ``precision``, ``recall`` | Kynkäänniemi et al. (2019), k = 3, samples against the test split |
| ``density``, ``coverage`` | Naeem et al. (2020), k = 5 |
| ``sample_seconds`` | wall seconds to draw 64 samples |
| ``parameters``, ``train_seconds`` | size, and training time (from the checkpoint's history for a preset) |

N is the protocol's (the validation split: 350 digits, 500 MNIST images) except where a smaller N is
asked for (64 at the ``smoke`` budget): the floor is then the mean FD of N random validation images
against the same test split, over several draws, with its spread (``floor_std``). At the protocol's
N the floor uses the whole validation split, so it has no spread of its own (``floor_std = 0``).

A preset's row is computed once per set of weights and kept under ``runs/scores/`` (keyed by a hash
of every tensor of its state, the board, N and the seed; :func:`score_key`), so that after ``make
prepare`` the boards appear at once in class; a retrained model is scored again.

Likelihood options (:func:`likelihood_options`): a lower-bound family whose ``log_prob`` takes a
number of draws (``k``, ``num_samples``, ``draws``...) gets ``by_budget(10, 100, 1000)`` of them and a
seeded generator; exact families get their defaults (e.g. MADE's first ordering, the one it samples
from), so that the likelihood and the samples belong to one model. Families without a normalised
likelihood get "—" and the reason, never a number. An energy model whose ``log_prob`` is exact
because its partition function is enumerated says so with a class attribute
``partition_function = "enumerated"`` (or is of family ``rbm`` with ``log_prob_kind`` exact).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from functools import lru_cache
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import Tensor

from ..base import GenerativeModel, LogProbKind, Support, eval_mode
from ..checkpoints import atomic_save
from ..runtime import Budget, by_budget, synchronize
from .features import check_sample_images, extract_features, load_feature_net
from .likelihood import mean_nll, nats_to_bpd
from .protocol import PROTOCOLS, reference_features
from .sample_quality import density_coverage, frechet_distance, precision_recall

KIND_EXACT = "exact"
KIND_BOUND = "bound"
KIND_ENUMERATED = "exact (Z enumerated)"
KIND_NONE = "none"
COUNT_OPTIONS = ("k", "num_samples", "n_samples", "samples", "draws", "num_draws")  # names of "how many draws" options
SAMPLE_TIME_N = 64


@dataclass(frozen=True)
class Board:
    """One leaderboard: the FD protocol's data set and the preset data sets whose models join it."""

    name: str
    fd_dataset: str  # a key of protocol.PROTOCOLS
    datasets: tuple[str, ...]  # course_utils.data dataset names (the full-budget variants included)
    title: str


BOARDS: dict[str, Board] = {
    "digits8x8": Board("digits8x8", "digits8x8", ("digits8x8",), "8x8 digits, 17 grey levels (1000 / 350 / 447)"),
    "mnist5k-binarized": Board("mnist5k-binarized", "mnist5k-binarized", ("mnist5k-binarized", "mnist-binarized"),
                               "binarised MNIST, 5k offline split (4000 / 500 / 500), static binarisation"),
    "mnist5k": Board("mnist5k", "mnist5k", ("mnist5k", "mnist"), "grey MNIST, 5k offline split (4000 / 500 / 500), 256 levels"),
}


def get_board(board: str | Board) -> Board:
    """The :class:`Board` named ``board`` (a ``ValueError`` naming the boards otherwise)."""
    if isinstance(board, Board):
        return board
    if board not in BOARDS:
        raise ValueError(f"Unknown board {board!r}; choose one of {', '.join(BOARDS)}.")
    return BOARDS[board]


def board_presets(board: str | Board, budget: Budget) -> list[str]:
    """Names of the presets whose data set at ``budget`` belongs to ``board``, in registration order."""
    from ..models.presets import PRESETS

    b = get_board(board)
    return [name for name, p in PRESETS.items() if p.dataset(budget) in b.datasets]


def boards_with_presets(budget: Budget) -> list[str]:
    """The boards that at least one preset joins at ``budget``."""
    return [name for name in BOARDS if board_presets(name, budget)]


def default_n(board: str | Board, budget: Budget) -> int:
    """Samples per model: the protocol's N (the validation split), or 64 at the ``smoke`` budget
    (the 64 whose drawing time the board reports: sequential samplers are the cost)."""
    n = PROTOCOLS[get_board(board).fd_dataset].n
    return by_budget(budget, smoke=min(SAMPLE_TIME_N, n), laptop=n, full=n)


# --------------------------------------------------------------------------- what a row holds
@dataclass
class Row:
    """One model on a board (see the module docstring for the columns)."""

    name: str
    family: str
    origin: str  # "checkpoint", "trained now", "fitted here", "held-out data", "quoted"
    kind: str
    nll: float | None
    bpd: float | None
    nll_note: str
    fd: float
    floor: float
    floor_std: float
    n: int
    precision: float
    recall: float
    density: float
    coverage: float
    sample_seconds: float
    parameters: int | None
    train_seconds: float | None
    data: str
    samples: Tensor = field(repr=False, default=None)  # (n, 1, S, S) on the CPU
    features: Tensor = field(repr=False, default=None)  # (n, d) course features

    @property
    def has_likelihood(self) -> bool:
        return self.nll is not None


# --------------------------------------------------------------------------- likelihood
def likelihood_kind(model: GenerativeModel) -> tuple[str, str]:
    """``(kind, reason)``: the leaderboard's likelihood kind of ``model`` and, for kind ``none``, why."""
    kind = model.log_prob_kind
    if model.support is not Support.DISCRETE:
        return KIND_NONE, "a density of continuous points, not a probability of the discrete images"
    if kind is LogProbKind.EXACT:
        enumerated = getattr(model, "partition_function", None) == "enumerated" or model.family == "rbm"
        return (KIND_ENUMERATED if enumerated else KIND_EXACT), ""
    if kind is LogProbKind.LOWER_BOUND:
        return KIND_BOUND, ""
    if kind is LogProbKind.UNNORMALISED:
        return KIND_NONE, "unnormalised: -E(x) is known only up to log Z"
    return KIND_NONE, "no density: the model only draws samples"


def likelihood_options(model: GenerativeModel, budget: Budget, seed: int = 0) -> tuple[dict[str, Any], str]:
    """The ``log_prob`` keyword options the leaderboard uses for ``model``, and a note saying what the number is.

    A lower-bound family that takes a number of draws gets ``by_budget(10, 100, 1000)`` of them
    (``k`` of an importance-weighted bound: ``k = 1`` is the ELBO); any family that takes a
    ``generator`` gets one seeded with ``seed``. Exact families keep their defaults.
    """
    params = inspect.signature(model.log_prob).parameters
    options: dict[str, Any] = {}
    kind, _ = likelihood_kind(model)
    note = {KIND_EXACT: "exact", KIND_ENUMERATED: "exact, log Z by enumeration", KIND_BOUND: "bound"}.get(kind, "")
    if kind == KIND_BOUND:
        for name in COUNT_OPTIONS:
            if name in params:
                options[name] = by_budget(budget, smoke=10, laptop=100, full=1000)
                note = f"IW bound, {name} = {options[name]}" if name == "k" else f"bound, {name} = {options[name]}"
                break
        else:
            note = "bound (the family's default estimator)"
    if "generator" in params:
        options["generator"] = torch.Generator().manual_seed(seed)
    return options, note


def model_nll(model: GenerativeModel, x: Tensor, y: Tensor | None = None, *, budget: Budget, seed: int = 0,
             options: Mapping[str, Any] | None = None) -> tuple[float | None, str, str]:
    """``(nll, kind, note)``: the mean NLL (nats per image) of ``model`` on images ``x``, or ``None``
    with the reason in ``note`` when the model has no normalised likelihood.

    ``options`` replace :func:`likelihood_options`' choice (the note then lists them).
    """
    kind, reason = likelihood_kind(model)
    if kind == KIND_NONE:
        return None, kind, reason
    chosen, note = likelihood_options(model, budget, seed)
    if options is not None:
        accepted = [p for p in inspect.signature(model.log_prob).parameters if p not in ("x", "y", "options")]
        unknown = set(options) - set(accepted)
        if unknown:
            raise ValueError(f"{type(model).__name__}.log_prob takes no option(s) {', '.join(sorted(unknown))}; "
                             + (f"it takes {', '.join(accepted)}." if accepted else "it takes none: pass options=None."))
        chosen = dict(options)
        shown = {k: v for k, v in chosen.items() if k != "generator"}
        note = f"{note.split(',')[0]}, " + ", ".join(f"{k} = {v}" for k, v in shown.items()) if shown else note
    from torch.utils.data import DataLoader, TensorDataset

    tensors = (x, y) if (y is not None and model.num_classes > 0) else (x,)
    loader = DataLoader(TensorDataset(*tensors), batch_size=len(x), shuffle=False)  # one batch: an enumerated log Z is computed once
    nll = mean_nll(model, loader, **chosen)
    if model.num_classes > 0:
        note += "; conditional: -log p(x | y)"
    return nll, kind, note


# --------------------------------------------------------------------------- samples
def draw(model: GenerativeModel, n: int, *, seed: int = 0, time_n: int = SAMPLE_TIME_N) -> tuple[Tensor, float]:
    """``n`` samples of ``model`` on the CPU and the wall seconds its first ``time_n`` took.

    The first ``time_n`` are drawn (and timed) in one call, the rest in a second call with the same
    generator, so no draw is wasted. A conditional model gets balanced labels ``0, 1, ..., C - 1, 0, ...``.
    """
    if n < 1:
        raise ValueError(f"n must be positive; got {n}.")
    generator = torch.Generator().manual_seed(seed)
    first = min(n, time_n)
    parts, seconds = [], float("nan")
    for i, size in enumerate((first, n - first)):
        if size == 0:
            continue
        y = None
        if model.num_classes > 0:
            y = (torch.arange(size) + (first if i else 0)) % model.num_classes
        with eval_mode(model):
            start = time.perf_counter()
            x = model.sample(size, generator=generator) if y is None else model.sample(size, generator=generator, y=y.to(model.device))
            synchronize(x.device)
            if i == 0:
                seconds = time.perf_counter() - start
        parts.append(x.detach().float().cpu())
    return torch.cat(parts), seconds


@lru_cache(maxsize=8)
def _feature_net(name: str, device: str) -> torch.nn.Module:
    return load_feature_net(name, device)


def floor_at(board: str | Board, n: int, *, seeds: int = 5, device: torch.device | str = "cpu") -> tuple[float, float]:
    """Real-vs-real FD at N = ``n``: ``(mean, std)`` over ``seeds`` draws of ``n`` validation images
    against the whole test split; at the protocol's N, the whole validation split (std 0). Cached."""
    return _floor_at(get_board(board).name, n, seeds, str(torch.device(device)))


@lru_cache(maxsize=32)
def _floor_at(board: str, n: int, seeds: int, device: str) -> tuple[float, float]:
    feats = reference_features(BOARDS[board].fd_dataset, device)
    val, test = feats["val"], feats["test"]
    if not 2 <= n <= len(val):
        raise ValueError(f"N must lie in [2, {len(val)}] for the {board} board (its validation split); got {n}.")
    if n == len(val):
        return frechet_distance(val, test), 0.0
    values = [frechet_distance(val[np.random.default_rng(s).permutation(len(val))[:n]], test) for s in range(seeds)]
    return float(np.mean(values)), float(np.std(values, ddof=1))


def sample_scores(samples: Tensor, board: str | Board, *, device: torch.device | str = "cpu") -> dict[str, Any]:
    """FD with its floor, precision/recall (k = 3) and density/coverage (k = 5) of ``samples``
    against the board's test split, in the course features; and the features themselves.

    ``samples``: (N, 1, S, S) floating point in [0, 1], N at least 6 (the k-NN radii need k + 1).
    """
    b = get_board(board)
    spec = PROTOCOLS[b.fd_dataset]
    check_sample_images(samples, spec.image_size, "samples")
    if samples.shape[0] < 6:
        raise ValueError(f"sample_scores needs at least 6 samples (density/coverage use 5-NN radii); got {samples.shape[0]}: pass more.")
    dev = str(torch.device(device))
    feats = extract_features(_feature_net(spec.feature_net, dev), samples.to(dev))
    test = reference_features(b.fd_dataset, dev)["test"]
    floor, floor_std = floor_at(b, samples.shape[0], device=dev)
    precision, recall = precision_recall(test, feats, k=3)
    density, coverage = density_coverage(test, feats, k=5)
    return dict(fd=frechet_distance(feats, test), floor=floor, floor_std=floor_std, precision=precision, recall=recall,
                density=density, coverage=coverage, features=feats, n=samples.shape[0])


# --------------------------------------------------------------------------- one row, one board
def count_parameters(model: torch.nn.Module) -> int:
    """``model.num_parameters()`` where a family defines it (tables count free probabilities), else
    the number of entries of its parameters."""
    if hasattr(model, "num_parameters"):
        return int(model.num_parameters())
    return sum(p.numel() for p in model.parameters())


def evaluate_model(model: GenerativeModel, board: str | Board, *, name: str, test_x: Tensor, test_y: Tensor | None = None,
                   budget: Budget, n: int | None = None, origin: str = "fitted here", train_seconds: float | None = None,
                   data: str | None = None, seed: int = 0, nll_options: Mapping[str, Any] | None = None) -> Row:
    """Score one model on ``board``: its test NLL on ``test_x`` (the test split of the data it was
    trained on), and ``n`` samples' FD, floor, precision/recall and density/coverage."""
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"{name}: pass a GenerativeModel; got {type(model).__name__}.")
    b = get_board(board)
    n = default_n(b, budget) if n is None else n
    nll, kind, note = model_nll(model, test_x.to(model.device), None if test_y is None else test_y.to(model.device),
                               budget=budget, seed=seed, options=nll_options)
    if data is not None and data != b.fd_dataset and nll is not None:
        note += f"; on the {data} test split"
    samples, seconds = draw(model, n, seed=seed)
    size = PROTOCOLS[b.fd_dataset].image_size
    try:
        check_sample_images(samples, size, f"{name}.sample({n})")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{err} The {b.name} board needs samples shaped (N, 1, {size}, {size}) in [0, 1], like its images.") from err
    scores = sample_scores(samples, b, device=model.device)
    return Row(name=name, family=model.family, origin=origin, kind=kind, nll=nll,
               bpd=None if nll is None else float(nats_to_bpd(nll, int(math.prod(test_x.shape[1:])))), nll_note=note,
               fd=scores["fd"], floor=scores["floor"], floor_std=scores["floor_std"], n=n, precision=scores["precision"],
               recall=scores["recall"], density=scores["density"], coverage=scores["coverage"], sample_seconds=seconds,
               parameters=count_parameters(model), train_seconds=train_seconds, data=data or b.name,
               samples=samples, features=scores["features"])


def held_out_row(board: str | Board, budget: Budget, *, n: int | None = None, seed: int = 0) -> Row:
    """The reference row: ``n`` held-out real images (the validation split) scored like a model's
    samples. Its FD is the floor; its precision and recall are what real data reach at this N."""
    from ..data import load_dataset

    b = get_board(board)
    n = default_n(b, budget) if n is None else n
    val = load_dataset(b.fd_dataset).val.x
    samples = val if n == len(val) else val[torch.from_numpy(np.random.default_rng(seed).permutation(len(val))[:n])]
    s = sample_scores(samples, b)
    return Row(name="held-out real images", family="data", origin="held-out data", kind=KIND_NONE, nll=None, bpd=None,
               nll_note="real data: no model", fd=s["fd"], floor=s["floor"], floor_std=s["floor_std"], n=n, precision=s["precision"],
               recall=s["recall"], density=s["density"], coverage=s["coverage"], sample_seconds=float("nan"), parameters=None,
               train_seconds=None, data=b.name, samples=samples, features=s["features"])


def leaderboard(rt: Any, board: str | Board, *, extra: Mapping[str, tuple[GenerativeModel, float | None]] | None = None,
                presets: Iterable[str] | None = None, n: int | None = None, quiet: bool = False) -> list[Row]:
    """Every model of ``board``: the held-out reference row, the ``extra`` models fitted in the
    notebook (``{name: (model, train_seconds)}``), then every preset of the board (``presets``
    overrides the list), each loaded with :func:`~course_utils.models.presets.load_model`, which
    trains a missing checkpoint at ``rt.budget`` and says how long that took.

    ``rt``: the notebook's runtime (budget, device, seed, checkpoint folder).
    """
    from ..data import load_dataset
    from ..models.presets import PRESETS, load_model, preset_data

    b = get_board(board)
    data = load_dataset(b.fd_dataset)
    rows = [held_out_row(b, rt.budget, n=n, seed=rt.seed)]
    for name, (model, seconds) in (extra or {}).items():
        rows.append(evaluate_model(model.to(rt.device), b, name=name, test_x=data.test.x, test_y=data.test.y, budget=rt.budget, n=n,
                                   origin="fitted here", train_seconds=seconds, seed=rt.seed))
    for name in board_presets(b, rt.budget) if presets is None else presets:
        if name not in PRESETS:
            raise ValueError(f"No preset {name!r}; the presets are {', '.join(sorted(PRESETS))}.")
        model, history = load_model(name, rt, quiet=quiet)
        own = preset_data(PRESETS[name], rt.budget, quiet=True)
        origin = "checkpoint" if history.from_checkpoint else "trained now"
        cache = Path(rt.run_dir) / "scores" / f"{name}-{b.name}-{rt.budget}-{score_key(model, b.name, n, rt.seed)}.pt"
        row = load_row(cache)
        if row is None:
            row = evaluate_model(model, b, name=name, test_x=own.test.x, test_y=own.test.y, budget=rt.budget, n=n,
                                 origin=origin, train_seconds=history.seconds, data=own.name, seed=rt.seed)
            atomic_save(asdict(row), cache)
        row.origin, row.train_seconds = origin, history.seconds
        rows.append(row)
    return rows


SCORE_VERSION = 1  # bump when evaluate_model computes anything differently: every cached row is then recomputed


def score_key(model: GenerativeModel, board: str, n: int | None, seed: int) -> str:
    """What a preset's row depends on: its weights (every tensor of its state), the board, N, the
    seed and :data:`SCORE_VERSION`. A retrained or changed model gets a new key, never a stale row."""
    digest = hashlib.sha256(f"{SCORE_VERSION}|{board}|{n}|{seed}|{model.family}".encode())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_row(path: Path) -> Row | None:
    """A row scored earlier (``make prepare`` writes them), or None when there is none or it is unreadable."""
    if not path.exists():
        return None
    try:
        return Row(**torch.load(path, map_location="cpu", weights_only=True))
    except Exception:  # a half-written or old file: score again (and overwrite it)
        return None


# --------------------------------------------------------------------------- showing it
def _num(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, fmt)


def format_table(rows: list[Row], *, reasons: bool = True) -> str:
    """The rows as a fixed-width text table (NLL "—" for models without one, with the reason below)."""
    head = (f"{'model':<28} {'family':<18} {'kind':<20} {'NLL nats':>9} {'bits/dim':>8} {'FD':>8} {'floor':>11} {'prec':>5} {'rec':>5} "
            f"{'dens':>5} {'cov':>5} {'s/64':>6} {'params':>10} {'train s':>8}  NLL is")
    lines = [head, "-" * len(head)]
    for r in rows:
        floor = f"{r.floor:.2f}" + (f"±{r.floor_std:.1f}" if r.floor_std > 0 else "")
        lines.append(
            f"{r.name[:28]:<28} {r.family[:18]:<18} {r.kind:<20} {_num(r.nll, '9.2f'):>9} {_num(r.bpd, '8.4f'):>8} {r.fd:8.2f} {floor:>11} "
            f"{r.precision:5.2f} {r.recall:5.2f} {r.density:5.2f} {r.coverage:5.2f} {_num(r.sample_seconds, '6.2f'):>6} "
            f"{_num(r.parameters, ',d'):>10} {_num(r.train_seconds, '8.1f'):>8}  {r.nll_note if reasons else ''}")
    if rows:
        lines.append(f"N = {rows[0].n} samples per model against the test split; FD (course features) with the real-vs-real floor at the same N.")
    return "\n".join(lines)
