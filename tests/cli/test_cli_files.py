"""What the command line writes: file modes, atomic writes, a full disk, --out paths that
cannot be, and single-process commands under mpiexec."""
import errno
import json
import os
import stat

import pytest

import minicnn as mc
from minicnn.__main__ import main
from minicnn.io.files import atomic_path, default_file_mode
from tests.cli.test_cli import assert_one_line_error, failing_cli
from tests.cli.test_distributed_cli import mpiexec
from tests.test_distributed import needs_mpiexec

QUICK = ["--limit", "50", "--no-progress"]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_run_file_gets_the_mode_a_new_file_gets(tmp_path):
    """checkpoint.npz came from mkstemp (0600) while the other run files were 0644."""
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "1", *QUICK]) == 0
    names = sorted(os.listdir(out))
    assert names == ["checkpoint.npz", "curves.png", "metrics.jsonl", "test.json"]
    assert {name: mode(out / name) for name in names} == dict.fromkeys(names,
                                                                       default_file_mode())


def test_atomic_path_replaces_in_one_step_or_not_at_all(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            assert tmp.endswith(".json") and os.path.dirname(tmp) == str(tmp_path)
            with open(tmp, "w") as f:
                f.write("half of the new")
            raise RuntimeError("the writer failed")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["result.json"]
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write("new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["result.json"]
    assert mode(path) == default_file_mode()


def test_out_under_a_regular_file_says_so(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("a file")
    code, _, err = failing_cli(capsys, "train", "--out", str(tmp_path / "notes.txt" / "run"),
                               *QUICK)
    assert_one_line_error(code, err)
    assert "notes.txt is a file, not a folder" in err and "permission" not in err


def disk_full_at(monkeypatch, function, epoch):
    """``mc.train.<function>`` raises ENOSPC from ``epoch`` on."""
    real = getattr(mc.train, function)

    def writer(*args, **kwargs):
        epochs = [a for a in args if isinstance(a, list) and a and isinstance(a[0], dict)]
        current = args[4] if function == "save_training_state" else len(epochs[0])
        if current >= epoch:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)
    monkeypatch.setattr(mc.train, function, writer)


def test_a_full_disk_names_the_epoch_the_checkpoint_holds(tmp_path, capsys, monkeypatch):
    """The screen and metrics.jsonl showed epoch 2 while the checkpoint held epoch 1, and
    the only message was "No space left on device"."""
    out = tmp_path / "run"
    disk_full_at(monkeypatch, "save_training_state", epoch=2)
    code, stdout, err = failing_cli(capsys, "train", "--out", str(out), "--epochs", "3", *QUICK)
    assert_one_line_error(code, err)
    assert "epoch 2 was trained but could not be saved" in err
    assert "No space left on device" in err
    assert f"the last checkpoint is {out / 'checkpoint.npz'}" in err
    assert "epoch   1/3" in stdout and "epoch   2/3" not in stdout
    assert mc.io.load_checkpoint(out / "checkpoint.npz")["epoch"] == 1
    records = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in records] == [1]


def test_a_full_disk_after_the_checkpoint_says_it_holds_the_epoch(tmp_path, capsys,
                                                                   monkeypatch):
    out = tmp_path / "run"
    disk_full_at(monkeypatch, "write_metrics", epoch=2)
    code, _, err = failing_cli(capsys, "train", "--out", str(out), "--epochs", "2", *QUICK)
    assert_one_line_error(code, err)
    assert f"the checkpoint {out / 'checkpoint.npz'} holds it" in err
    assert mc.io.load_checkpoint(out / "checkpoint.npz")["epoch"] == 2


def test_viz_out_in_a_missing_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "typo" / "filters.png"
    code, _, err = failing_cli(capsys, "viz", "filters", "--out", str(out))
    assert_one_line_error(code, err)
    assert "does not exist" in err and not (tmp_path / "typo").exists()
    code, _, err = failing_cli(capsys, "viz", "filters", "--out", str(tmp_path / "f.png"))
    assert code == 0 and mode(tmp_path / "f.png") == default_file_mode()
    assert os.listdir(tmp_path) == ["f.png"]


@pytest.mark.parametrize("argv", [["evaluate", "{checkpoint}", "--limit", "8", "--no-progress"],
                                  ["viz", "filters", "--out", "{out}"],
                                  ["demo", "--out", "{folder}"]])
def test_single_process_commands_run_on_rank_0_alone(tmp_path, capsys, monkeypatch, argv):
    """Under mpiexec each process ran the command: the same work N times, the same files
    written N times at once.  Ranks other than 0 now return at once."""
    out = tmp_path / "rank1"
    assert main(["train", "--out", str(out), "--epochs", "1", *QUICK]) == 0
    capsys.readouterr()
    argv = [a.format(checkpoint=out / "checkpoint.npz", out=tmp_path / "f.png",
                     folder=tmp_path / "demo") for a in argv]
    monkeypatch.setenv("PMI_RANK", "1")
    code, stdout, err = failing_cli(capsys, *argv)
    assert (code, stdout, err) == (0, "", "")
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "demo").exists()
    monkeypatch.setenv("PMI_RANK", "0")
    code, stdout, err = failing_cli(capsys, *argv)
    assert code == 0 and stdout and "rank 0 alone runs it" in err


@needs_mpiexec
def test_viz_under_mpiexec_writes_once(tmp_path):
    result = mpiexec(tmp_path, "filters", "--out", "f.png", python=("-m", "minicnn", "viz"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("wrote") == 1 and os.listdir(tmp_path) == ["f.png"]


@pytest.mark.parametrize("argv, written", [
    (["viz", "filters", "--out", "{tmp}/f.png"], "f.png"),
    (["demo", "--out", "{tmp}/demo"], "demo/filters.png")])
def test_a_picture_that_fails_half_way_leaves_no_half_file(tmp_path, capsys, monkeypatch,
                                                           argv, written):
    from matplotlib.figure import Figure

    def half_then_fail(self, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(Figure, "savefig", half_then_fail)
    code, _, err = failing_cli(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert_one_line_error(code, err)
    assert not (tmp_path / written).exists()
    assert not [n for n in os.listdir((tmp_path / written).parent) if n.endswith(".png")]
