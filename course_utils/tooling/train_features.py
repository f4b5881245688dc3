"""Train the course's feature networks and write their weights: ``python -m course_utils.tooling.train_features``.

Each network trains from a fixed seed on its dataset's *training split only* (the validation and
test splits stay unseen, so the protocol's real-vs-real floor uses images the network never saw),
for a fixed number of epochs (no model selection). Augmentation: a random shift of up to
``max_shift`` pixels, and for a fraction ``p_binarize`` of each batch a fresh Bernoulli draw of
the grey image, so the network reads grey and binary digits alike.

The run is deterministic on one machine and thread count (one thread by default): a rerun writes
the same bytes. It prints each network's accuracies and SHA-256 as lines to paste into
``FEATURE_NETS`` in ``course_utils/evaluation/features.py``. Files are written atomically.

    python -m course_utils.tooling.train_features                 # both, into the package
    python -m course_utils.tooling.train_features --only digits8 --out /tmp/check
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checkpoints import atomic_write
from ..evaluation.features import (
    FEATURE_NETS,
    WEIGHTS_DIR,
    DigitClassifier,
    accuracy,
    checkpoint_bytes,
    classifier_test_sets,
)


@dataclass
class TrainSettings:
    seed: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    p_binarize: float
    max_shift: int


SETTINGS = {
    "mnist28": TrainSettings(seed=28, epochs=30, batch_size=64, lr=2e-3, weight_decay=1e-4, p_binarize=0.5, max_shift=2),
    "digits8": TrainSettings(seed=8, epochs=80, batch_size=32, lr=2e-3, weight_decay=1e-4, p_binarize=0.5, max_shift=1),
}


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Shift each image of (B, 1, H, W) by up to ``max_shift`` pixels each way, filling with zeros."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
    return padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)


def augment(x: Tensor, s: TrainSettings, generator: torch.Generator) -> Tensor:
    x = random_shift(x, s.max_shift, generator)
    binary = (torch.rand(x.shape, generator=generator) < x).float()  # a fresh Bernoulli draw
    chosen = (torch.rand(x.shape[0], generator=generator) < s.p_binarize).view(-1, 1, 1, 1)
    return torch.where(chosen, binary, x)


def train_split(name: str) -> tuple[Tensor, Tensor]:
    from ..data import load_digits8x8, load_mnist5k

    split = load_mnist5k(binarized=False).train if name == "mnist28" else load_digits8x8().train
    return split.x, split.y


def train(name: str, s: TrainSettings) -> DigitClassifier:
    """Train one feature network from ``s.seed`` on its training split."""
    x, y = train_split(name)
    torch.manual_seed(s.seed)
    generator = torch.Generator().manual_seed(s.seed + 1)
    net = DigitClassifier(FEATURE_NETS[name].config)
    steps = s.epochs * ((len(x) + s.batch_size - 1) // s.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=steps, pct_start=0.15)
    net.train()
    for _ in range(s.epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), s.batch_size):
            idx = order[i : i + s.batch_size]
            loss = F.cross_entropy(net(augment(x[idx], s, generator)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SETTINGS), action="append", help="train only this network (repeatable)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help=f"folder for the .pt files (default {WEIGHTS_DIR})")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: bytes reproduce only at a fixed count)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    lines = []
    for name in args.only or sorted(SETTINGS, reverse=True):
        s = SETTINGS[name]
        start = time.perf_counter()
        net = train(name, s)
        seconds = time.perf_counter() - start
        acc = {kind: round(accuracy(net, x, y), 2) for kind, (x, y) in classifier_test_sets(name).items()}
        data = checkpoint_bytes(name, net, {"test_grey": acc["grey"], "test_binarized": acc["binarized"]}, asdict(s))
        path = args.out / FEATURE_NETS[name].file
        atomic_write(path, lambda f: f.write(data))
        digest = hashlib.sha256(data).hexdigest()
        params = sum(p.numel() for p in net.parameters())
        print(f"{name}: {params:,} parameters, trained in {seconds:.1f} s on {args.threads} thread(s); "
              f"test accuracy grey {acc['grey']:.2f}%, binarised {acc['binarized']:.2f}%; "
              f"{path} ({len(data) / 1e6:.2f} MB) sha256 {digest}")
        lines.append(f'    "{name}": sha256="{digest}", test_accuracy_grey={acc["grey"]}, test_accuracy_binarized={acc["binarized"]}')
    print("Paste into FEATURE_NETS (course_utils/evaluation/features.py):")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
