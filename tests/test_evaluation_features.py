"""The course's feature networks: committed weights (hash, size, accuracy), extraction, errors, training."""

import shutil

import pytest
import torch

from course_utils.evaluation.features import (
    FEATURE_NETS,
    WEIGHTS_DIR,
    FeatureWeightsError,
    accuracy,
    check_sample_images,
    class_probabilities,
    extract_features,
    load_feature_net,
    sha256_of,
    classifier_test_sets,
)
from conftest import DEVICES


@pytest.mark.parametrize("name", sorted(FEATURE_NETS))
def test_committed_weights_match_their_hash_and_reach_their_recorded_accuracy(name):
    spec = FEATURE_NETS[name]
    path = WEIGHTS_DIR / spec.file
    assert path.stat().st_size < 2_000_000
    assert sha256_of(path) == spec.sha256
    net = load_feature_net(name, "cpu")
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    found = {kind: accuracy(net, x, y) for kind, (x, y) in classifier_test_sets(name).items()}
    assert found["grey"] == pytest.approx(spec.test_accuracy_grey, abs=0.5), found
    assert found["binarized"] == pytest.approx(spec.test_accuracy_binarized, abs=0.5), found
    x = classifier_test_sets(name)["grey"][0]
    feats = extract_features(net, x)
    assert feats.shape == (len(x), spec.config.feature_dim) and feats.dtype == torch.float32 and feats.device.type == "cpu"


def test_missing_or_altered_weights_say_how_to_regenerate(tmp_path):
    with pytest.raises(FeatureWeightsError, match="missing.*train_features"):
        load_feature_net("digits8", "cpu", weights_path=tmp_path / "absent.pt")
    copy = tmp_path / "digits8.pt"
    shutil.copy(WEIGHTS_DIR / "digits8.pt", copy)
    data = bytearray(copy.read_bytes())
    data[-100] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(FeatureWeightsError, match="SHA-256.*train_features"):
        load_feature_net("digits8", "cpu", weights_path=copy)
    with pytest.raises(ValueError, match="Unknown feature network"):
        load_feature_net("cifar", "cpu")


@pytest.mark.parametrize("device", DEVICES)
def test_extraction_is_batched_without_gradients_and_restores_the_mode(device):
    net = load_feature_net("digits8", device)
    x = torch.rand(37, 1, 8, 8, device=device)
    net.train()
    whole = extract_features(net, x)
    assert net.training  # the mode it had is restored
    net.eval()
    assert torch.allclose(extract_features(net, x, batch_size=5), whole, atol=1e-5)
    assert torch.allclose(whole, net.features(x).cpu(), atol=1e-5)  # eval mode and no_grad change nothing else
    probs = class_probabilities(net, x)
    assert probs.shape == (37, 10) and torch.allclose(probs.sum(1), torch.ones(37, dtype=torch.float64))


def test_bad_images_get_a_sentence():
    net = load_feature_net("mnist28", "cpu")
    with pytest.raises(TypeError, match="divide 8-bit images by 255"):
        extract_features(net, torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        extract_features(net, torch.rand(2, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        extract_features(net, torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\].*clamp"):
        extract_features(net, torch.rand(2, 1, 28, 28) * 2 - 1)
    bad = torch.rand(2, 1, 28, 28)
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        check_sample_images(bad, 28)


def test_training_is_deterministic_and_binarisation_augments():
    from course_utils.tooling import train_features as tf
    from course_utils.evaluation.features import checkpoint_bytes
    from dataclasses import replace

    settings = replace(tf.SETTINGS["digits8"], epochs=1)
    a, b = tf.train("digits8", settings), tf.train("digits8", settings)
    assert checkpoint_bytes("digits8", a, {}, {}) == checkpoint_bytes("digits8", b, {}, {})
    x = torch.rand(64, 1, 8, 8)
    out = tf.augment(x, replace(settings, p_binarize=1.0, max_shift=0), torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) <= {0.0, 1.0} and (out.mean() - x.mean()).abs() < 0.02
    shifted = tf.random_shift(torch.ones(5, 1, 8, 8), 1, torch.Generator().manual_seed(0))
    assert shifted.shape == (5, 1, 8, 8) and ((shifted == 0).sum((1, 2, 3)) <= 15).all()  # at most a row and a column fall off


def test_inception_path_needs_your_weights_and_matches_torchvision(tmp_path):
    from torchvision.models import inception_v3

    with pytest.raises(FeatureWeightsError, match="never downloads"):
        load_feature_net("inception", "cpu")
    with pytest.raises(FeatureWeightsError, match="No Inception-v3 weights"):
        load_feature_net("inception", "cpu", weights_path=tmp_path / "none.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(FeatureWeightsError, match="not a state dict"):
        load_feature_net("inception", "cpu", weights_path=tmp_path / "junk.pth")
    torch.manual_seed(0)
    reference = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True).eval()
    torch.save(reference.state_dict(), tmp_path / "inception.pth")
    net = load_feature_net("inception", "cpu", weights_path=tmp_path / "inception.pth")
    x = torch.rand(2, 1, 28, 28)
    assert extract_features(net, x).shape == (2, 2048)
    # torchvision's own preprocessing for its ImageNet weights: ImageNet-normalised input, transform_input=True
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    resized = torch.nn.functional.interpolate(x.expand(-1, 3, -1, -1), size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(net(x), reference((resized - mean) / std), atol=1e-4)
