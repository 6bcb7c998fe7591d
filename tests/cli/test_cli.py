"""The command line: `python -m minicnn ...` / the `minicnn` console script."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minicnn as mc
from minicnn.__main__ import main
from minicnn.cli import evaluate as cli_evaluate, train as cli_train


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, out


def failing_cli(capsys, *argv):
    """Run a command that should fail: (exit status, stdout, stderr) as a shell sees them
    (a ``SystemExit("message")`` prints its message and exits with status 1)."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, status=(1, 2)):
    assert code in status, (code, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("minicnn"), err
    assert "Traceback" not in err


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


@pytest.fixture
def evaluated(monkeypatch):
    """Spies on the run: the datasets `train` builds, and each dataset `evaluate` scores."""
    seen = {"evaluated": []}
    real_evaluate, real_make_loaders = cli_train.training.evaluate, cli_train.make_loaders

    def evaluate(model, loader, **kwargs):
        seen["evaluated"].append(loader.dataset)
        return real_evaluate(model, loader, **kwargs)

    def make_loaders(cfg, train, val, test, *args):
        seen.update(train=train, val=val, test=test)
        return real_make_loaders(cfg, train, val, test, *args)
    monkeypatch.setattr(cli_train.training, "evaluate", evaluate)   # (fit calls it too)
    monkeypatch.setattr(cli_train, "make_loaders", make_loaders)
    return seen


def test_validation_is_held_out_of_the_training_images_and_the_test_set_used_once(
        tmp_path, capsys, evaluated):
    code, out = run_cli(capsys, "train", "--epochs", "2", "--limit", "64", "--out",
                        str(tmp_path), "--no-progress", "--schedule", "plateau")
    assert code == 0
    train, val, test = evaluated["train"], evaluated["val"], evaluated["test"]
    # the validation images are training images that are never trained on
    assert val.dataset.targets.shape == train.dataset.targets.shape == (1442,)
    assert not set(val.indices) & set(train.indices) and len(val.indices) == 64
    # the schedule watched validation after each epoch; the test split was scored once, last
    assert [d is val for d in evaluated["evaluated"]] == [True, True, False]
    assert evaluated["evaluated"][-1] is test
    assert ("64 training, 64 validation (held out from the training images), 64 test images "
            "(used once, at the end)") in out
    test_result = json.loads((tmp_path / "test.json").read_text())
    assert out.strip().splitlines()[-1].startswith(f"test accuracy {test_result['acc1']:.2%}")


def test_val_split_0_validates_on_the_test_set_and_says_so(tmp_path, capsys, evaluated):
    code, out = run_cli(capsys, "train", "--epochs", "1", "--limit", "32", "--val-split", "0",
                        "--out", str(tmp_path), "--no-progress")
    assert code == 0 and evaluated["val"] is None
    assert evaluated["evaluated"] == [evaluated["test"]]       # measured once, reused
    assert ("32 training and 32 test images, the test images also validating every epoch "
            "(--val-split 0: the schedule and the curves see the test set)") in out


def test_the_validation_images_do_not_change_with_the_seed():
    from minicnn.cli.datasets import split_indices
    cfg = dict(val_split=0.1, limit=None, seed=0)
    train, val = split_indices(cfg, 1442)
    assert len(val) == 144 and sorted(train + val) == list(range(1442))
    assert split_indices(dict(cfg, seed=7), 1442) == (train, val)
    assert len(split_indices(dict(cfg, val_split=0.1), 4)[1]) == 1   # at least one image


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
    # the model the main job trains: 10 digit classes
    n_params = sum(p.numel() for p in mc.models.small_cnn(num_classes=10).parameters())
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


def test_demo_walks_through_a_cnn(capsys):
    code, out = run_cli(capsys, "demo")
    assert code == 0 and out.rstrip().endswith("all checks passed")
    sections = re.findall(r"^(\d)\. (.*)$", out, flags=re.M)
    assert [n for n, _ in sections] == ["1", "2", "3", "4", "5"]
    assert "test image 0, a 5" in sections[0][1]                 # the digit, printed 8x8 ...
    assert re.search(r"^(\s+\d+){8}\n(\s+\d+){8}$", out, flags=re.M)
    for layer in (r"conv \(Conv2d\) +4x8x8 +3x3/1 +40 ", r"bn \(BatchNorm2d\) +4x8x8 +8 ",
                  r"pool \(MaxPool2d\) +4x4x4 +2x2/2 +0 ", r"fc \(Linear\) +10 +650 "):
        assert re.search("^" + layer, out, flags=re.M), layer   # ... the layer table ...
    assert "col is 9x64" in out and len(re.findall(r"^  tap \(\d,\d\)", out, flags=re.M)) == 36
    assert re.search(r"Conv2d layer's output: \S+  ok", out)      # ... conv = W @ col + b ...
    assert re.search(r"^softmax( +0\.\d{3}){10}$", out, flags=re.M)
    assert re.search(r"loss (\S+) = -log softmax\[5\] = \1  ok", out)
    assert "698 elements" in out                                 # ... every parameter checked
    verdicts = re.findall(r"^(\w+\.\w+) .* (ok|FAIL)$", out, flags=re.M)
    assert verdicts == [(name, "ok") for name in ("conv.weight", "conv.bias", "bn.weight",
                                                  "bn.bias", "fc.weight", "fc.bias")]


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


def test_train_help_lists_the_recipes_and_each_lecture_augmentation(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--recipe {alexnet,vgg,resnet,googlenet,inception_v3}" in text
    for option in ("--random-crop", "--random-resized-crop", "--flip", "--scale-jitter MIN MAX",
                   "--lighting", "--subtract-mean", "--ten-crop", "--clip-grad-norm",
                   "--plateau-metric", "--rmsprop-alpha", "--print-config", "--no-sync-bn"):
        assert option in text, option


def test_python_dash_m_and_the_console_script(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minicnn", "train", "--help"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "--label-smoothing" in result.stdout
    script = shutil.which("minicnn", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the minicnn console script is not installed next to this Python")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and "finetune" in result.stdout


# ----- mistakes on the command line: one line on stderr, exit status 2 or 1 ----------------
@pytest.mark.parametrize("argv, status, message", [
    (["train", "--batch-size", "0"], 2, "--batch-size: expected a whole number >= 1, got '0'"),
    (["train", "--lr", "nan"], 2, "--lr: expected a finite number > 0, got 'nan'"),
    (["train", "--epochs", "-1"], 2, "--epochs: expected a whole number >= 1"),
    (["train", "--val-split", "1.5"], 2, "--val-split: expected a number from 0 up to"),
    (["train", "--limit", "0"], 2, "--limit: expected a whole number >= 1"),
    (["train", "--limit", "-1"], 2, "--limit: expected a whole number >= 1"),
    (["train", "--image-size", "0"], 2, "--image-size: expected a whole number >= 1"),
    (["bench", "--repeats", "0"], 2, "--repeats: expected a whole number >= 1"),
    (["demo", "--seed", "-1"], 2, "--seed: expected a whole number >= 0"),
    (["summary", "small_cnn", "--input", "1,-8,8"], 1, "three whole numbers >= 1"),
    (["train", "--dataset", "mnist:{tmp}/missing"], 1, "MNIST: cannot find"),
    (["train", "--resume", "{tmp}/missing.npz"], 1, "no such file {tmp}/missing.npz"),
    (["evaluate", "{tmp}"], 1, "{tmp} is a directory"),
])
def test_a_user_mistake_gets_one_line_and_no_traceback(tmp_path, capsys, argv, status, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "out"), "--no-progress"]
    code, out, err = failing_cli(capsys, *argv)
    assert_one_line_error(code, err, (status,))
    assert message.format(tmp=tmp_path) in err
    assert "epoch" not in out                            # found before any training


@pytest.mark.skipif(mc.backend.cuda_available(), reason="this machine has a CUDA GPU")
def test_device_cuda_without_a_gpu(tmp_path, capsys):
    code, out, err = failing_cli(capsys, "train", "--device", "cuda", "--out", str(tmp_path))
    assert_one_line_error(code, err, (1,))
    assert "needs CuPy and a CUDA GPU" in err and out == ""


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="no such file"):
        main(["train", "--resume", missing, "--debug"])
    monkeypatch.setenv("MINICNN_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="no such file"):
        main(["train", "--resume", missing])


def test_a_diverging_run_stops_and_never_reports_100_percent(tmp_path, capsys):
    """Once: "test accuracy 100.00% ... loss nan" (NaN logits counted as correct)."""
    code, out, err = failing_cli(capsys, "train", "--lr", "1e10", "--limit", "64", "--epochs",
                                 "2", "--out", str(tmp_path), "--no-progress")
    assert_one_line_error(code, err, (1,))
    assert "training diverged" in err and "in epoch 1" in err and "learning rate" in err
    assert "100.00%" not in out and not (tmp_path / "test.json").exists()


def test_evaluate_scores_a_nan_model_at_zero(trained, tmp_path, capsys):
    ckpt = mc.io.load_checkpoint(trained / "checkpoint.npz")
    nan_model = {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v
                 for k, v in ckpt["model"].items()}
    mc.io.save_checkpoint(tmp_path / "nan.npz", nan_model, None, epoch=1, config=ckpt["config"])
    code, out = run_cli(capsys, "evaluate", str(tmp_path / "nan.npz"), "--limit", "50",
                        "--no-progress")
    assert code == 0 and "accuracy 0.00%, top-5 0.00%, loss nan" in out


# ----- the run folder ---------------------------------------------------------------------
def test_a_folder_holding_files_is_refused_without_overwrite(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = {name: (run / name).read_bytes() for name in os.listdir(run)}
    code, out, err = failing_cli(capsys, "train", "--epochs", "1", "--limit", "50", "--out",
                                 str(run), "--no-progress")
    assert_one_line_error(code, err, (1,))
    assert "already holds files" in err and "--overwrite" in err and "--resume" in err
    assert {name: (run / name).read_bytes() for name in os.listdir(run)} == before


def test_overwrite_replaces_the_earlier_run_without_mixing_the_two(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "notes.txt").write_text("mine")
    # a new run that diverges at once: none of the earlier run's files may remain
    code, out, err = failing_cli(capsys, "train", "--lr", "1e10", "--limit", "64", "--out",
                                 str(run), "--overwrite", "--no-progress")
    assert code == 1 and "no checkpoint was written" in err
    assert sorted(os.listdir(run)) == ["notes.txt"]


def test_the_default_run_folder_is_unique_within_a_second(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_train.time, "strftime", lambda fmt: "20250101-120000")
    for _ in range(2):
        code, _ = run_cli(capsys, "train", "--epochs", "1", "--limit", "32", "--no-progress")
        assert code == 0
    assert sorted(os.listdir(tmp_path / "runs")) == ["small_cnn-digits-20250101-120000",
                                                     "small_cnn-digits-20250101-120000-2"]


def test_new_run_folder_never_hands_out_a_folder_twice(tmp_path):
    base = str(tmp_path / "runs" / "m-d-t")
    assert [cli_train.new_run_folder(base) for _ in range(3)] == [base, base + "-2", base + "-3"]


def test_an_unwritable_out_folder_is_found_before_training(tmp_path, capsys, monkeypatch):
    out = tmp_path / "readonly"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(cli_train.os, "access", lambda path, mode: (
        False if os.fspath(path) == str(out) else real_access(path, mode)))  # as chmod 555
    code, stdout, err = failing_cli(capsys, "train", "--out", str(out), "--no-progress")
    assert_one_line_error(code, err, (1,))
    assert f"cannot write to {out}" in err and stdout == ""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_out_folder(tmp_path, capsys):
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    code, stdout, err = failing_cli(capsys, "train", "--out", str(out), "--no-progress")
    assert_one_line_error(code, err, (1,))
    assert "cannot write" in err and stdout == ""


# ----- resuming -----------------------------------------------------------------------------
@pytest.mark.parametrize("option, message", [
    (["--optimizer", "adam"], "--optimizer adam differs from the resumed run's sgd"),
    (["--lr", "0.01"], "--lr 0.01 differs from the resumed run's 0.05"),
    (["--warmup", "1"], "saved by CosineAnnealingLR, not SequentialLR"),   # was a KeyError
    (["--schedule", "step"], "saved by CosineAnnealingLR, not StepLR"),
    (["--epochs", "1"], "has already trained 1 epoch; give --epochs N with N > 1"),
])
def test_resume_refuses_what_it_would_silently_ignore(trained, tmp_path, capsys, option,
                                                     message):
    shutil.copytree(trained, tmp_path / "run")     # (were it not refused, it would train on)
    argv = ["train", "--resume", str(tmp_path / "run" / "checkpoint.npz"), "--epochs", "2",
            *option, "--no-progress"]
    code, out, err = failing_cli(capsys, *argv)
    assert_one_line_error(code, err, (1,))
    assert message in err


def test_ctrl_c_ends_with_one_line_naming_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "minicnn", "train", "--epochs", "100000", "--limit", "64",
         "--out", str(out), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=tmp_path,
        # a shell's background job inherits SIGINT ignored, and so would the child: undo that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(1200):                         # until the first checkpoint is written
            if (out / "checkpoint.npz").exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    checkpoint = out / "checkpoint.npz"
    assert process.returncode == 130, stderr
    assert stderr.strip() == (f"minicnn: interrupted; the last checkpoint is {checkpoint} "
                              f"(continue with --resume {checkpoint})")
    assert mc.io.load_checkpoint(checkpoint)["epoch"] >= 1


def test_evaluate_and_predict_fold_batch_norms_and_report_what_the_unfolded_model_does(
        trained, tmp_path, capsys, monkeypatch):
    """By default the loaded model's batch norms are folded into their convolutions (one
    pass less per activation): the accuracy, loss and probabilities printed are those of the
    model as trained; --no-fuse-bn keeps them apart."""
    seen = []
    real_evaluate = cli_evaluate.training.evaluate

    def spy(model, loader, **kwargs):
        seen.append(sum(isinstance(m, mc.nn.BatchNorm2d) for m in model.modules()))
        return real_evaluate(model, loader, **kwargs)
    monkeypatch.setattr(cli_evaluate.training, "evaluate", spy)
    outs = []
    for extra in ([], ["--no-fuse-bn"]):
        code, out = run_cli(capsys, "evaluate", str(trained / "checkpoint.npz"), "--limit", "200",
                            "--no-progress", *extra)
        assert code == 0
        outs.append(out.strip().splitlines()[-1])
    assert outs[0] == outs[1] and seen[0] == 0 < seen[1]
    image = mc.data.datasets.load_digits("test", transform=None)[0][0]   # an (8, 8, 1) digit
    np.save(tmp_path / "digit.npy", np.asarray(image))
    printed = []
    for extra in ([], ["--no-fuse-bn"]):
        code, out = run_cli(capsys, "predict", str(tmp_path / "digit.npy"), "--weights",
                            str(trained / "checkpoint.npz"), *extra)
        assert code == 0
        printed.append(out)
    assert printed[0] == printed[1] and "(small_cnn, weights" in printed[0]
    assert len(re.findall(r"%  \d", printed[0])) == 5                # the top 5 of 10 digits
