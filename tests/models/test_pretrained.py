"""Weights by name: minicnn's table equals torchvision's (no network), and a weights file
served by a local HTTP server (tests/local_server.py) loads through the constructors as
users call them: ``weights="DEFAULT"``, names, the legacy ``pretrained=True``."""
import inspect
import os
import warnings

import numpy as np
import pytest

import minicnn as mc
from minicnn.io import download
from minicnn.models import _weights
from minicnn.models.weights_table import WEIGHTS
from tests.local_server import local_server, serve_torchvision_weights  # noqa: F401

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("torchvision.models")


def torchvision_legacy(name):
    """The weights torchvision's ``pretrained=True`` stands for (its decorator's default)."""
    builder = getattr(tvm, name)
    while not inspect.getclosurevars(builder).nonlocals.get("weights"):
        builder = builder.__wrapped__
    return inspect.getclosurevars(builder).nonlocals["weights"]["weights"][1]


def test_table_covers_every_shared_model():
    shared = {n for n in mc.models.__all__ if n in set(tvm.list_models(module=tvm))}
    assert set(WEIGHTS) == shared and len(shared) == 28


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_table_equals_torchvision(name):
    theirs = tvm.get_model_weights(name)
    ours = mc.models.get_model_weights(name)
    assert set(ours) == {w.name for w in theirs} | {"DEFAULT"}
    assert ours["DEFAULT"].name == theirs.DEFAULT.name
    assert WEIGHTS[name]["enum"] == theirs.__name__
    assert WEIGHTS[name]["pretrained"] == torchvision_legacy(name).name
    for w in theirs:
        mine = ours[w.name]
        assert repr(mine) == str(w)
        assert mine.url == w.url
        assert mine.meta["num_params"] == w.meta["num_params"]
        assert mine.meta["categories"] == w.meta["categories"]
        preset = w.transforms()
        assert [mine.meta["crop"]] == preset.crop_size
        assert [mine.meta["resize"]] == preset.resize_size
        assert mine.meta["mean"] == tuple(preset.mean) and mine.meta["std"] == tuple(preset.std)
        assert preset.interpolation.value == "bilinear"
        assert download.hash_prefix(download.file_name(mine.url)) is not None


def test_shipped_categories_equal_torchvisions():
    assert list(mc.models.imagenet_categories()) == tvm.ResNet50_Weights.DEFAULT.meta["categories"]


def test_names_resolve_without_download():
    expected = mc.models.get_model_weights("resnet50")["IMAGENET1K_V2"]
    for spelling in ("DEFAULT", "IMAGENET1K_V2", "ResNet50_Weights.IMAGENET1K_V2",
                     "ResNet50_Weights.DEFAULT", tvm.ResNet50_Weights.IMAGENET1K_V2,
                     mc.models.get_weight("ResNet50_Weights.DEFAULT")):
        assert _weights.resolve_weights("resnet50", spelling, {}) == expected
    with pytest.warns(UserWarning) as caught:
        legacy = _weights.resolve_weights("resnet50", None, {"pretrained": True})
    assert "`weights=ResNet50_Weights.IMAGENET1K_V1`" in str(caught[-1].message)  # not DEFAULT
    assert legacy == mc.models.get_model_weights("resnet50")["IMAGENET1K_V1"]
    with pytest.raises(ValueError, match="resnet50: unknown weights 'IMAGENET1K_V7'.*"
                                         "'IMAGENET1K_V1', 'IMAGENET1K_V2', 'DEFAULT'"):
        mc.models.resnet50(weights="IMAGENET1K_V7")
    with pytest.raises(ValueError, match="vgg16_c: unknown weights 'DEFAULT'.*no weights"):
        mc.models.vgg16_c(weights="DEFAULT")
    with pytest.raises(ValueError, match="resnet18: the weights ResNet50_Weights.IMAGENET1K_V2 "
                                         "are resnet50's"):
        mc.models.resnet18(weights=expected)
    with pytest.raises(ValueError, match="vgg16_c: no weights available"):
        mc.models.vgg16_c(pretrained=True)
    with pytest.raises(ValueError, match="1000 classes, got num_classes=10"):
        mc.models.squeezenet1_1(weights="DEFAULT", num_classes=10)


# ----- a real download through the constructors ----------------------------------------
@pytest.fixture
def squeezenet_file(local_server, monkeypatch):
    return serve_torchvision_weights(local_server, monkeypatch)


def logits_equal(model, reference):
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    got = model.eval()(mc.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_weights_default_downloads_once(squeezenet_file, local_server):
    reference, name = squeezenet_file
    model = mc.models.squeezenet1_1(weights="DEFAULT", progress=False)
    logits_equal(model, reference)
    assert _weights.weights_origin(model) == "SqueezeNet1_1_Weights.IMAGENET1K_V1"
    assert os.path.isfile(os.path.join(download.checkpoints_dir(), name))
    asked = len(local_server.requests)
    mc.models.squeezenet1_1(weights="IMAGENET1K_V1", progress=False)    # from the cache
    assert len(local_server.requests) == asked == 1


def test_pretrained_true_warns_as_torchvision(squeezenet_file, monkeypatch):
    reference, _ = squeezenet_file
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        model = mc.models.squeezenet1_1(pretrained=True, progress=False)
    logits_equal(model, reference)

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop
    monkeypatch.setattr(tvm.SqueezeNet1_1_Weights, "get_state_dict", stop)
    with warnings.catch_warnings(record=True) as theirs, pytest.raises(Stop):
        warnings.simplefilter("always")
        tvm.squeezenet1_1(pretrained=True)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert [w.category for w in ours] == [w.category for w in theirs]
    assert len(ours) == 2

    with warnings.catch_warnings(record=True) as ours:        # the positional form
        warnings.simplefilter("always")
        mc.models.squeezenet1_1(True, progress=False)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs][1:]


def test_pretrained_false_builds_random(local_server):
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        model = mc.models.squeezenet1_1(pretrained=False)
    assert "`weights=None`" in str(ours[-1].message)
    assert local_server.requests == [] and isinstance(model, mc.models.SqueezeNet)


def test_wrong_file_under_real_name_leaves_nothing(local_server):
    local_server.serve("/models/squeezenet1_1-b8a52dc0.pth", b"not torchvision's file")
    with pytest.raises(download.DownloadError, match="b8a52dc0") as e:
        mc.models.squeezenet1_1(weights="DEFAULT", progress=False)
    assert "squeezenet1_1-b8a52dc0.pth" in str(e.value)
    assert os.listdir(download.checkpoints_dir()) == []


def test_weights_transforms_preprocess_like_torchvision():
    w = mc.models.get_weight("ResNet50_Weights.IMAGENET1K_V1")
    image = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    ours = w.transforms()(image)
    preset = tvm.ResNet50_Weights.IMAGENET1K_V1.transforms(antialias=False)
    theirs = preset(torch.from_numpy(image).permute(2, 0, 1)).numpy()
    assert ours.shape == theirs.shape == (3, 224, 224)
    # bilinear without antialiasing on both sides; a few resized pixels round to the next
    # uint8 level (1/255 / std after normalising)
    np.testing.assert_allclose(ours, theirs, atol=1 / 255 / min(w.meta["std"]) + 1e-6)
    assert np.mean(np.abs(ours - theirs) < 1e-6) > 0.99


def test_googlenet_and_densenet_by_name_as_torchvision(local_server, monkeypatch):
    """GoogLeNet's named weights switch transform_input on and the untrained aux heads
    off, as torchvision's; DenseNet's go through its key renaming."""
    reference, _ = serve_torchvision_weights(local_server, monkeypatch, "googlenet")
    model = mc.models.googlenet(weights="DEFAULT", progress=False)
    assert model.transform_input and not model.aux_logits
    np.testing.assert_array_equal(model.conv1.conv.weight.numpy(),
                                  reference.conv1.conv.weight.detach().numpy())
    reference, _ = serve_torchvision_weights(local_server, monkeypatch, "densenet121")
    model = mc.models.densenet121(weights="IMAGENET1K_V1", progress=False)
    assert _weights.weights_origin(model) == "DenseNet121_Weights.IMAGENET1K_V1"
    np.testing.assert_array_equal(model.classifier.weight.numpy(),
                                  reference.classifier.weight.detach().numpy())
