"""The command line with weights and datasets by name, served by a local HTTP server
(tests/local_server.py): `predict`, `finetune --weights DEFAULT`, `train --data cifar10
--download`."""
import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest

import minicnn as mc
from minicnn.__main__ import main
from minicnn.data import CIFAR10
from tests.cli.test_cli import assert_one_line_error, failing_cli
from tests.data.test_datasets import make_cifar10
from tests.local_server import local_server, serve_torchvision_weights  # noqa: F401

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("torchvision.models")


def test_predict_prints_torchvisions_top5(local_server, monkeypatch, tmp_path, capsys):
    reference, _ = serve_torchvision_weights(local_server, monkeypatch)
    image = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    np.save(tmp_path / "img.npy", image)
    code = main(["predict", str(tmp_path / "img.npy"), "--model", "squeezenet1_1",
                 "--weights", "DEFAULT", "--no-progress"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 6
    # torchvision's preprocessing of the same image (without antialiasing, as minicnn)
    preset = tvm.SqueezeNet1_1_Weights.DEFAULT.transforms(antialias=False)
    x = preset(torch.from_numpy(image).permute(2, 0, 1))[None]
    with torch.no_grad():
        p = torch.softmax(reference(x), 1)[0].double().numpy()
    top = np.argsort(-p)[:5]
    categories = tvm.SqueezeNet1_1_Weights.DEFAULT.meta["categories"]
    printed = [line.split(None, 1) for line in out[1:]]
    assert [name for _, name in printed] == [categories[i] for i in top]
    # (minicnn's resize rounds a few pixels to the next uint8 level)
    np.testing.assert_allclose([float(pct[:-1]) for pct, _ in printed], 100 * p[top], atol=0.02)


def test_finetune_weights_default(local_server, monkeypatch, tmp_path, capsys):
    serve_torchvision_weights(local_server, monkeypatch, "resnet18")
    out = tmp_path / "run"
    code = main(["finetune", "--weights", "DEFAULT",            # (resnet18 by default)
                 "--image-size", "32", "--limit", "8", "--epochs", "1", "--batch-size", "4",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    assert len(local_server.requests) == 1
    config = mc.io.load_checkpoint(str(out / "checkpoint.npz"))["config"]
    assert config["weights"] == "DEFAULT" and config["normalize"] == "imagenet"


def test_finetune_unknown_weights_name(capsys):
    code, _, err = failing_cli(capsys, "finetune", "--model", "resnet18", "--weights",
                               "IMAGENET1K_V9", "--limit", "8", "--epochs", "1")
    assert_one_line_error(code, err)
    assert "unknown weights 'IMAGENET1K_V9'" in err and "'IMAGENET1K_V1'" in err


def test_train_data_cifar10_download(local_server, monkeypatch, tmp_path, capsys):
    make_cifar10(str(tmp_path / "src" / "cifar-10-batches-py"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10, "archive_md5", hashlib.md5(buf.getvalue()).hexdigest())
    local_server.serve("/~kriz/cifar-10-python.tar.gz", buf.getvalue())
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "datasets"))
    out = tmp_path / "run"
    code = main(["train", "--data", "cifar10", "--download", "--limit", "8", "--epochs", "1",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    assert (tmp_path / "datasets" / "cifar-10-batches-py" / "data_batch_5").is_file()
    config = mc.io.load_checkpoint(str(out / "checkpoint.npz"))["config"]
    assert config["dataset"] == f"cifar10:{tmp_path / 'datasets'}"     # evaluate finds it
    code = main(["evaluate", str(out / "checkpoint.npz"), "--no-progress"])
    assert code == 0 and local_server.requests == ["/~kriz/cifar-10-python.tar.gz"]


def test_dataset_without_path_suggests_download(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "d"))
    code, _, err = failing_cli(capsys, "train", "--dataset", "mnist")
    assert_one_line_error(code, err)
    assert "--dataset mnist:PATH, or add --download" in err and str(tmp_path / "d") in err
    code, _, err = failing_cli(capsys, "train", "--download")
    assert_one_line_error(code, err)
    assert "digits is embedded in minicnn" in err
