"""The FD protocol: samples against the test split, floor = validation split against the test split, at one N."""

import pytest
import torch

from course_utils.data import DatasetUnavailable, load_digits8x8, load_mnist5k
from course_utils.evaluation.protocol import PROTOCOLS, fd_bias_curve, fd_floor, fd_with_floor
from conftest import DEVICES


@pytest.mark.parametrize("device", DEVICES)
def test_the_validation_split_scores_exactly_the_floor_and_noise_scores_far_above(device):
    val = load_mnist5k(binarized=False).val.x.to(device)
    result = fd_with_floor(val, "mnist5k")
    assert result.fd == pytest.approx(result.floor, rel=1e-6) and result.n == 500 and result.n_reference == 500
    assert result.floor == pytest.approx(fd_floor("mnist5k"), rel=1e-3)  # the same on any device, up to float32 round-off
    noise = fd_with_floor(torch.rand(500, 1, 28, 28, device=device), "mnist5k")
    assert noise.fd > 20 * noise.floor and noise.floor == result.floor
    assert "FD (course features, mnist28) at N = 500" in str(noise) and "floor" in str(noise) and "FID" not in str(noise)


def test_each_dataset_has_its_protocol():
    digits = load_digits8x8()
    result = fd_with_floor(digits.val.x, "digits8x8")
    assert (result.n, result.n_reference, result.feature_net) == (350, 447, "digits8") and result.fd == pytest.approx(result.floor, rel=1e-6)
    binary = fd_with_floor(load_mnist5k().val.x, "mnist5k-binarized")
    assert binary.fd == pytest.approx(binary.floor, rel=1e-6)
    assert set(PROTOCOLS) == {"mnist5k", "mnist5k-binarized", "digits8x8"}


def test_protocol_errors_name_what_to_pass():
    with pytest.raises(ValueError, match=r"exactly N = 500.*model.sample\(500\)"):
        fd_with_floor(torch.rand(100, 1, 28, 28), "mnist5k")
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        fd_with_floor(torch.rand(350, 1, 28, 28), "digits8x8")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fd_with_floor(torch.rand(350, 1, 8, 8) * 16, "digits8x8")
    with pytest.raises(ValueError, match="Unknown dataset"):
        fd_with_floor(torch.rand(500, 1, 28, 28), "cifar10")


def test_real_vs_real_fd_falls_with_n():
    curve = fd_bias_curve("digits8x8", (25, 100, 350), seeds=3)
    means = [p.mean for p in curve]
    assert means[0] > 3 * means[2] and means[0] > means[1] > means[2] > 0, means
    assert all(len(p.values) == 3 and p.std >= 0 for p in curve)
    with pytest.raises(ValueError, match=r"\[2, 350\]"):
        fd_bias_curve("digits8x8", (500,))


def test_fashion_bias_curve_where_installed():
    try:
        curve = fd_bias_curve("fashion-mnist", (100, 1000), seeds=2)
    except DatasetUnavailable:
        pytest.skip("Fashion-MNIST is not installed here")
    assert curve[0].mean > curve[1].mean > 0
