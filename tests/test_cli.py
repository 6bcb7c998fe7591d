"""The command line: `python -m minicnn ...` / the `minicnn` console script."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.__main__ import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One quick training run shared by the tests below: 1 epoch on 300 digits."""
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--epochs", "1", "--limit", "300", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


def test_help_teaches_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("train", "finetune", "evaluate", "summary", "gradcheck", "bench", "demo"):
        assert command in text
    assert "examples:" in text and "python -m minicnn train" in text


def test_train_writes_checkpoint_metrics_and_curves(trained):
    files = set(os.listdir(trained))
    assert {"checkpoint.npz", "metrics.jsonl", "curves.png", "test.json"} <= files
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["epoch"] == 1
    ckpt = mc.io.load_checkpoint(trained / "checkpoint.npz")
    assert ckpt["epoch"] == 1 and ckpt["config"]["model"] == "small_cnn"
    assert (trained / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_train_prints_the_final_test_accuracy(tmp_path, capsys):
    code, out = run_cli(capsys, "train", "--epochs", "1", "--limit", "100", "--out",
                        str(tmp_path), "--no-progress", "--optimizer", "adam",
                        "--schedule", "plateau", "--augment", "--label-smoothing", "0.1")
    assert code == 0
    last = out.strip().splitlines()[-1]
    test = json.loads((tmp_path / "test.json").read_text())
    assert last.startswith(f"test accuracy {test['acc1']:.2%}") and "time" in last
    config = mc.io.load_checkpoint(tmp_path / "checkpoint.npz")["config"]
    assert (config["optimizer"], config["schedule"], config["augment"]) == ("adam", "plateau", True)


def test_resume_continues_the_run(trained, tmp_path, capsys):
    shutil.copytree(trained, tmp_path / "run")
    code, out = run_cli(capsys, "train", "--resume", str(tmp_path / "run" / "checkpoint.npz"),
                        "--epochs", "2", "--no-progress")
    assert code == 0 and "resumed" in out
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in records] == [1, 2]


def test_evaluate_reports_the_accuracy_of_a_checkpoint(trained, capsys):
    test = json.loads((trained / "test.json").read_text())
    code, out = run_cli(capsys, "evaluate", str(trained / "checkpoint.npz"), "--limit", "300",
                        "--no-progress")
    assert code == 0 and f"accuracy {test['acc1']:.2%}" in out


def test_finetune_with_frozen_body_changes_only_the_head(trained, tmp_path, capsys):
    code, _ = run_cli(capsys, "finetune", "--weights", str(trained / "checkpoint.npz"),
                      "--freeze-body", "--epochs", "1", "--limit", "100", "--out", str(tmp_path),
                      "--no-progress")
    assert code == 0
    before = mc.io.load_checkpoint(trained / "checkpoint.npz")["model"]
    after = mc.io.load_checkpoint(tmp_path / "checkpoint.npz")["model"]
    model = mc.models.small_cnn()
    for name, _ in model.named_parameters():          # parameters only: BN statistics move
        same = np.array_equal(before[name], after[name])
        assert same == (not name.startswith("fc.")), name


def test_finetune_from_a_torchvision_file(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=20).state_dict(), tmp_path / "r18.pth")
    code, out = run_cli(capsys, "finetune", "--weights", str(tmp_path / "r18.pth"),
                        "--image-size", "16", "--limit", "16", "--batch-size", "16",
                        "--freeze-body", "--epochs", "1", "--out", str(tmp_path / "run"),
                        "--no-progress")
    assert code == 0 and "fine-tuning resnet18" in out
    config = mc.io.load_checkpoint(tmp_path / "run" / "checkpoint.npz")["config"]
    assert config["normalize"] == "imagenet" and config["num_classes"] == 10


def test_summary_prints_the_table(capsys):
    code, out = run_cli(capsys, "summary", "small_cnn")
    n_params = sum(p.numel() for p in mc.models.small_cnn(num_classes=1000).parameters())
    assert code == 0 and "total" in out and f"{n_params:,}" in out
    code, out = run_cli(capsys, "summary", "resnet18", "--input", "3,64,64", "--depth", "1")
    assert code == 0 and "layer4" in out and "layer4.0" not in out


def test_gradcheck_compares_with_torchvision(capsys):
    pytest.importorskip("torchvision")
    code, out = run_cli(capsys, "gradcheck", "resnet18", "--size", "16")
    assert code == 0 and "PASS" in out and "62 parameter gradients" in out


def test_gradcheck_explains_when_torch_is_missing(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)           # makes `import torch` fail
    code, out = run_cli(capsys, "gradcheck", "resnet18")
    assert code == 2 and "needs PyTorch" in out and "pip install" in out


def test_bench_runs(capsys):
    code, out = run_cli(capsys, "bench", "--repeats", "1", "--batch", "1")
    assert code == 0 and "conv2d" in out and "small_cnn training step" in out


def test_demo_still_runs(capsys):
    code, out = run_cli(capsys, "demo")
    assert code == 0 and "tiny MLP" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "--dataset", "mnist"], "needs a path"),
    (["train", "--model", "lenet"], "unknown model 'lenet'"),
    (["train", "--schedule", "plateau", "--warmup", "2"], "cannot be combined"),
    (["summary", "resnet18", "--input", "224,224"], "C,H,W"),
    (["finetune", "--epochs", "1"], "needs --weights"),
])
def test_clear_errors(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_python_dash_m_and_the_console_script(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minicnn", "train", "--help"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "--label-smoothing" in result.stdout
    script = shutil.which("minicnn", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the minicnn console script is not installed next to this Python")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "finetune" in result.stdout
