"""A run folder has one owner: two `train` runs into the same --out never both write."""
import json
import os
import subprocess
import sys

import pytest

import minicnn as mc
from minicnn.__main__ import main
from minicnn.cli import train as cli_train
from tests.cli.test_cli import assert_one_line_error, failing_cli

QUICK = ["--epochs", "1", "--limit", "50", "--no-progress"]
fcntl = pytest.importorskip("fcntl")


def test_a_folder_another_run_is_writing_into_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    # another process (a run in progress) holds the folder
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = failing_cli(capsys, "train", "--out", str(out), *QUICK)
        assert_one_line_error(code, err)
        assert "is in use: another run is writing into it" in err
        assert os.listdir(out) == []
        code, _, err = failing_cli(capsys, "train", "--out", str(out), "--overwrite", *QUICK)
        assert_one_line_error(code, err)
    finally:
        holder.communicate("")                     # it ends, and the system frees the folder
    assert main(["train", "--out", str(out), *QUICK]) == 0


def test_a_folder_filled_after_the_first_check_is_refused(tmp_path, capsys, monkeypatch):
    """Two runs started at once both found the folder empty; the one that gets it second
    finds the other's files (the check is made again once the folder is its own)."""
    out = tmp_path / "run"
    make_loaders = cli_train.make_loaders

    def other_run_finishes_meanwhile(*args, **kwargs):
        out.mkdir(exist_ok=True)
        (out / "checkpoint.npz").write_bytes(b"the other run's")
        return make_loaders(*args, **kwargs)
    monkeypatch.setattr(cli_train, "make_loaders", other_run_finishes_meanwhile)
    code, _, err = failing_cli(capsys, "train", "--out", str(out), *QUICK)
    assert_one_line_error(code, err)
    assert "already holds files" in err
    assert (out / "checkpoint.npz").read_bytes() == b"the other run's"


def test_the_claim_ends_with_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *QUICK]) == 0
    fd = os.open(out, os.O_RDONLY)                 # free again: this process may lock it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert main(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "2",
                 "--no-progress"]) == 0


# ----- extending and changing a resumed run --------------------------------------------------
def test_extending_epochs_after_the_cosine_reached_zero_keeps_it_there(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "2", "--limit", "50",
                 "--no-progress"]) == 0
    assert main(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "5",
                 "--no-progress"]) == 0
    lrs = [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lrs[0] == 0.05 and lrs[2:] == [0.0, 0.0, 0.0], lrs    # never back up to 0.05


def test_resuming_with_another_augmentation_is_allowed(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *QUICK]) == 0
    capsys.readouterr()
    code, stdout, err = failing_cli(capsys, "train", "--resume", str(out / "checkpoint.npz"),
                                    "--epochs", "2", "--augment", "--no-progress")
    assert code == 0, err
    assert "random transforms differ" in stdout
    assert mc.io.load_checkpoint(out / "checkpoint.npz")["config"]["augment"] is True


def test_resuming_as_another_model_is_refused_naming_both(tmp_path, capsys):
    """It failed with every missing weight of the other model listed on the one line."""
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *QUICK]) == 0
    capsys.readouterr()
    code, _, err = failing_cli(capsys, "train", "--resume", str(out / "checkpoint.npz"),
                               "--epochs", "2", "--model", "resnet18", "--no-progress")
    assert_one_line_error(code, err)
    assert "--model resnet18 differs from the resumed run's small_cnn" in err
    assert len(err) < 300
