"""course_utils: the package the notebooks of *Generative Models, Executable* share.

The package, grouped by kind (one level deep, flat inside each group)::

    course_utils/
      __init__.py      the core, re-exported: what a notebook's setup cell imports
      runtime.py       setup(): budget, device, threads, seed, run folder; Runtime.fit_or_load
      data.py          datasets and fixed splits; the pixel scale (to_levels, dequantize); the char corpus
      base.py          GenerativeModel, LogProbKind, Support; eval_mode, frozen; input checks
      draws.py         random draws that take a torch.Generator on any device
      train.py         fit (resumable), TrainConfig, History, EMA, fit_or_load
      checkpoints.py   atomic checkpoints loaded with weights_only=True
      plotting.py      the course's figures;  widgets.py  present(render_fn, ...);  results.py  rt.record
      exercises.py     check(): compares a student's function with the reference and says what differs
      nn/              building blocks of several families: masked.py (MADE/PixelCNN masks),
                       attention.py (self-attention, causal switch), blocks.py (MLPs),
                       invertible.py (flow layers: coupling, ActNorm, LU linear, MAF/IAF),
                       unet.py and embeddings.py (denoisers: U-Net, residual MLP; time and label embeddings)
      models/          one family per file (independent, tables, made, pixelcnn, char_transformer,
                       vae, gaussian_mixture, flows, rbm, ebm, score, gan, diffusion, flow_matching,
                       masked_diffusion), the registry (build_model) and presets.py (load_model)
      samplers/        samplers shared by families: langevin.py (ULA, MALA); diffusion.py (noise
                       schedule; DDPM, DDIM and Euler schedulers)
      evaluation/      likelihood.py (units, mean_nll, normalisation checks); features.py (the course's
                       feature networks, checked by SHA-256); sample_quality.py (FD, KID, IS, precision/
                       recall, density/coverage, nearest neighbours, classifier two-sample test);
                       protocol.py (FD (course features) with its real-vs-real floor); mmd.py (kernel
                       two-sample test); leaderboard.py (every preset and baseline of a data set on one table)
      lessons/         code one notebook uses: curse (01), naive_bayes and spam (02),
                       autoregressive_views (03), linear_gaussian and vae_views (04), flow_views (05),
                       gan_views (06), energy_views (07), diffusion_views (08), evaluation_views (09)
      tooling/         not teaching code: notebooks.py (the notebooks' text form and editions), bench.py
                       (run notebooks, check recorded claims), prepare.py (train ahead of class),
                       browser.py (the browser test), site.py (the static site), train_features.py
                       (trains the feature networks), nbval_kernel.py (make test's kernels: stderr
                       kept, one that does not come up retried)

Setup
-----
Every notebook starts with ``rt = setup("NN_name")``: it reads the budget (``COURSE_BUDGET``:
smoke / laptop / full), picks the device (cuda > mps > cpu, or ``COURSE_DEVICE``), sets a
deliberate thread count, seeds python, numpy and torch, applies the plot style and prints a
one-line banner. ``rt.pick(smoke=..., laptop=..., full=...)`` chooses sizes by budget; everything
the notebook writes goes under ``rt.run_dir`` (``runs/`` by default, git-ignored).

The contract every model keeps (details in :mod:`course_utils.base`)
---------------------------------------------------------------------
1. A model is a ``GenerativeModel``: ``cfg`` (a dataclass), ``family``, ``device``.
2. ``loss(x, y=None)``: a scalar to minimise; ``training_loss(x, y, step=)`` when training changes with the step.
3. ``sample(n, generator=None, y=None)``: ``n`` examples shaped and ranged like the data, no gradient.
4. ``log_prob(x, y=None, **options)``: ``(B,)``; ``log_prob_kind`` = exact / lower bound / unnormalised / none.
5. ``support``: ``discrete`` (nats of the discrete data, sums to 1) or ``continuous`` (a log-density,
   integrates to 1), with ``event_shape`` ``(C, H, W)`` or ``(d,)``.
6. Conditioning is the one keyword ``y=`` (labels ``0..num_classes-1``), checked by ``model.labels``.
7. Images are stored as ``level / (K - 1)``; ``to_levels`` and ``dequantize`` are the only maps to
   levels and to continuous data, and ``D ln K`` is the matching offset.
8. ``fit`` calls ``train_step(x, y, optimizers, step=, clip_grad_norm=)`` with the global step;
   ``configure_optimizers(train_cfg)`` owns optimiser settings; warm-up, schedule and EMA are in ``TrainConfig``.
9. Runs are resumable (partial checkpoints) and reused by key (model, training config, data, budget).
10. Random draws take an optional ``torch.Generator``; package code never calls ``.cuda()``: new
    tensors take the device of an input or a buffer.

Units: NLLs are in nats per example; :mod:`course_utils.evaluation.likelihood` converts to bits
per dimension and adds the dequantisation offset for continuous models of images.
"""

from .base import GenerativeModel, LogProbKind, Support, eval_mode, frozen
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import (DatasetUnavailable, dequantize, load_dataset, load_digits8x8, load_fashion_mnist, load_mnist, load_mnist5k,
                   to_levels, toy_2d)
from .models.presets import load_model
from .runtime import Runtime, Stopwatch, by_budget, get_budget, get_device, seed_everything, setup
from .train import EMA, History, NonFiniteLossError, TrainConfig, fit, fit_or_load
from .widgets import present

__all__ = [
    "EMA", "CheckpointError", "DatasetUnavailable", "GenerativeModel", "History", "LogProbKind", "NonFiniteLossError",
    "Runtime", "Stopwatch", "Support", "TrainConfig", "by_budget", "dequantize", "eval_mode", "fit", "fit_or_load", "frozen",
    "get_budget", "get_device", "load_checkpoint", "load_dataset", "load_digits8x8", "load_fashion_mnist", "load_mnist",
    "load_mnist5k", "load_model", "present", "save_checkpoint", "seed_everything", "setup", "to_levels", "toy_2d",
]
__version__ = "0.2.0"
