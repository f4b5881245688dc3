"""course_utils: the package the notebooks of *Generative Models, Executable* share.

Setup
-----
Every notebook starts with ``rt = setup("NN_name")``: it reads the budget (``COURSE_BUDGET``:
smoke / laptop / full), picks the device (cuda > mps > cpu, or ``COURSE_DEVICE``), sets a
deliberate thread count, seeds python, numpy and torch, applies the plot style and prints a
one-line banner. ``rt.pick(smoke=..., laptop=..., full=...)`` chooses sizes by budget; everything
the notebook writes goes under ``rt.run_dir`` (``runs/`` by default, git-ignored).

The model interface
-------------------
Every model is a :class:`GenerativeModel` (an ``nn.Module``) with

- ``cfg``: a dataclass of its configuration; ``family``: a short name;
- ``loss(x, *cond) -> Tensor``: a scalar to minimise on one batch;
- ``sample(n, generator=None) -> Tensor``: ``n`` samples shaped like the data, values in the
  data's range ([0, 1] for images), computed without gradients, on the model's device;
- ``log_prob(x, **options) -> Tensor``: one value per example, shape ``(B,)``, in nats of the
  discrete data; ``log_prob_kind`` says whether it is ``exact``, a ``lower bound``,
  ``unnormalised`` or ``none``; options (e.g. ``k`` importance samples) are keyword arguments;
- ``device``: where its parameters live.

Random draws take an optional ``torch.Generator`` and work on any device: the noise is drawn
where the generator lives, then moved (:mod:`course_utils.sampling`). Package code never calls
``.cuda()`` and never reads a notebook's globals; new tensors take the device of an input or a
buffer.

Training, checkpoints, units
----------------------------
``fit(model, train_loader, val_loader, TrainConfig(...))`` trains any such model (progress bar,
validation loss, history, gradient clipping, early stopping, NaN/Inf detection); GANs override
``configure_optimizers`` and ``train_step``. Checkpoints are plain dicts
``{family, config, state_dict, version, ...}`` written atomically and loaded with
``torch.load(weights_only=True)``; ``fit_or_load`` reuses a finished one. NLLs are in nats per
example; :mod:`course_utils.metrics` converts to bits per dimension and adds the dequantisation
offset for continuous models.

Modules
-------
Core: runtime (setup, device, seed, threads, budgets), data (datasets and splits), base (the
interface), sampling (generator-aware draws), train (fit, checkpoints), metrics (units),
plotting (figures), widgets (render function + controls), results (recorded figures and
claims), bench (the benchmark command), layers (masked layers shared by several families).

Model families and notebook helpers, one module each: independent (the factorised baseline),
tables and curse (notebook 01), classifiers and spam (notebook 02), made, pixelcnn and
char_transformer (notebook 03), vae and linear_gaussian (notebook 04).
"""

from .base import GenerativeModel, LogProbKind
from .data import DatasetUnavailable, load_digits8x8, load_fashion_mnist, load_mnist, load_mnist5k, toy_2d
from .runtime import Runtime, Stopwatch, by_budget, get_budget, get_device, seed_everything, setup
from .train import CheckpointError, History, NonFiniteLossError, TrainConfig, fit, fit_or_load, load_checkpoint, save_checkpoint
from .widgets import present

__all__ = [
    "CheckpointError", "DatasetUnavailable", "GenerativeModel", "History", "LogProbKind",
    "NonFiniteLossError", "Runtime", "Stopwatch", "TrainConfig", "by_budget", "fit", "fit_or_load",
    "get_budget", "get_device", "load_checkpoint", "load_digits8x8", "load_fashion_mnist", "load_mnist",
    "load_mnist5k", "present", "save_checkpoint", "seed_everything", "setup", "toy_2d",
]
__version__ = "0.1.0"
