import gzip
import struct

import numpy as np
import pytest
import torch

from course_utils import data
from course_utils.data import DatasetUnavailable, binarize, load_fashion_mnist, load_mnist, read_idx, stratified_split, toy_2d


def test_digits_split_and_levels(digits):
    assert [len(s) for _, s in digits.splits()] == [1000, 350, 447]
    assert digits.shape == (1, 8, 8) and digits.num_levels == 17 and digits.num_dims == 64
    for _, split in digits.splits():
        assert split.x.dtype == torch.float32 and 0 <= split.x.min() and split.x.max() <= 1
        assert torch.equal(split.x, split.levels.float() / 16)
    from sklearn.datasets import load_digits

    raw = load_digits()
    assert np.array_equal(digits.val.levels[:, 0].numpy(), raw.images[1000:1350]), "sequential split [1000:1350]"


def test_mnist5k_split_is_stratified_disjoint_and_binary(mnist):
    assert [len(s) for _, s in mnist.splits()] == [4000, 500, 500]
    assert torch.equal(mnist.train.y.bincount(), torch.full((10,), 400))
    assert torch.equal(mnist.test.y.bincount(), torch.full((10,), 50))
    assert set(mnist.train.x.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(mnist.train.y[:100].sort().values, mnist.train.y[:100]), "a split is shuffled, not sorted by class"
    idx = stratified_split(np.repeat(np.arange(10), 500), (0.8, 0.1, 0.1), data.SPLIT_SEED)
    assert sum(map(len, idx)) == 5000 and len(np.unique(np.concatenate(idx))) == 5000


def test_static_binarisation_is_a_seeded_bernoulli_draw():
    grey = data.load_mnist5k(binarized=False)
    again = data.load_mnist5k(binarized=True)
    assert torch.equal(again.train.x, data.load_mnist5k(binarized=True).train.x), "same images on every load"
    intensities = grey.train.levels.numpy()
    a, b = binarize(intensities), binarize(intensities, seed=1)
    assert not np.array_equal(a, b), "another seed gives another draw"
    assert abs(a.mean() - intensities.mean() / 255) < 0.002, "on-fraction matches the mean intensity"
    assert set(np.unique(a[intensities == 0])) == {0} and set(np.unique(a[intensities == 255])) == {1}
    half = (intensities > 100) & (intensities < 155)
    assert 0.0 < a[half].mean() < 1.0, "mid-grey pixels are sometimes on, sometimes off: not a threshold"


def test_loader_yields_x_or_x_and_y(mnist):
    (x,) = next(iter(mnist.train.loader(8)))
    assert x.shape == (8, 1, 28, 28)
    x, y = next(iter(mnist.train.loader(8, labels=True)))
    assert y.shape == (8,) and y.dtype == torch.int64
    first = [b[0] for b in mnist.val.loader(100, seed=3)]
    again = [b[0] for b in mnist.val.loader(100, seed=3)]
    assert all(torch.equal(p, q) for p, q in zip(first, again)), "shuffling is seeded"


@pytest.mark.parametrize("name", data.TOY_2D)
def test_toy_sets(name):
    pts = toy_2d(name, 500, seed=1)
    assert pts.shape == (500, 2) and pts.dtype == torch.float32 and torch.isfinite(pts).all()
    assert torch.equal(pts, toy_2d(name, 500, seed=1)) and not torch.equal(pts, toy_2d(name, 500, seed=2))


def test_checkerboard_lives_on_dark_squares():
    pts = toy_2d("checkerboard", 4000)
    col, row = torch.floor(pts[:, 0] / 2) + 2, torch.floor(pts[:, 1] / 2) + 2
    assert torch.all((col + row) % 2 == 0)


def test_unknown_toy_set():
    with pytest.raises(ValueError, match="Unknown toy set"):
        toy_2d("donut", 10)


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip_and_truncation(tmp_path):
    arr = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "bad").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(DatasetUnavailable, match="truncated"):
        read_idx(tmp_path / "bad")


def test_fashion_mnist_from_a_folder_of_idx_files(tmp_path, monkeypatch):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 55010), ("t10k", 7)):
        _write_idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    fm = load_fashion_mnist()
    assert [len(s) for _, s in fm.splits()] == [55000, 10, 7] and fm.num_levels == 256
    assert fm.classes[9] == "Ankle boot"


def test_missing_datasets_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message and "\n" not in message
    assert info.value._render_traceback_() == [f"DatasetUnavailable: {message}"], "IPython shows one sentence"
    with pytest.raises(DatasetUnavailable, match="load_mnist5k"):
        load_mnist()
