"""minicnn.io.checkpoint: pickle-free, atomic training checkpoints."""
import collections
import copy
import math
import os
import stat

import numpy as np
import pytest

import minicnn as mc
from minicnn import optim
from minicnn.io import checkpoint, files, load_checkpoint, save_checkpoint
from minicnn.optim import lr_scheduler


def trained_optimizer(params, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    opt = optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.01}],
                     lr=0.1, amsgrad=True, betas=(0.8, 0.9))
    for _ in range(steps):
        for p in params:
            p.grad = mc.Tensor(rng.standard_normal(p.shape).astype(p.dtype))
        opt.step()
    return opt


def make_params():
    rng = np.random.default_rng(1)
    return [mc.Tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True),
            mc.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)]


def test_round_trip_keeps_values_dtypes_and_structure(tmp_path):
    params = make_params()
    opt = trained_optimizer(params)
    sched = lr_scheduler.ReduceLROnPlateau(opt)      # holds best = inf
    model_state = collections.OrderedDict([("conv.weight", params[0]), ("fc.bias", params[1]),
                                           ("bn.num_batches_tracked", np.array(7))])
    extra = {"scheduler": sched.state_dict(), "history": [0.5, 0.25, float("nan")],
             "best": np.float64(0.75), "name": "run-1", "shape": (3, 2), "nothing": None,
             "nested": {0: {"a": np.arange(3, dtype=np.int16)}, "k": [True, False]}}
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model_state, opt, epoch=4, **extra)
    loaded = load_checkpoint(path)

    assert loaded["epoch"] == 4
    assert list(loaded["model"]) == list(model_state)
    for key, value in model_state.items():
        expected = value.numpy() if isinstance(value, mc.Tensor) else value
        assert loaded["model"][key].dtype == expected.dtype
        np.testing.assert_array_equal(loaded["model"][key], expected)
    state = opt.state_dict()
    assert loaded["optimizer"]["param_groups"] == state["param_groups"]   # tuples included
    assert set(loaded["optimizer"]["state"]) == {0, 1}                   # int keys kept
    for i in (0, 1):
        for k, v in state["state"][i].items():
            np.testing.assert_array_equal(loaded["optimizer"]["state"][i][k], v)
    assert loaded["scheduler"]["best"] == math.inf
    assert loaded["history"][:2] == [0.5, 0.25] and math.isnan(loaded["history"][2])
    assert loaded["best"] == 0.75 and type(loaded["best"]) is float
    assert loaded["shape"] == (3, 2) and loaded["name"] == "run-1" and loaded["nothing"] is None
    np.testing.assert_array_equal(loaded["nested"][0]["a"], np.arange(3, dtype=np.int16))
    assert loaded["nested"][0]["a"].dtype == np.int16 and loaded["nested"]["k"] == [True, False]


def test_resuming_from_a_checkpoint_continues_identically(tmp_path):
    params = make_params()
    opt = trained_optimizer(params, steps=3)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    sched.step()
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": params[0], "b": params[1]}, opt, epoch=1,
                    scheduler=sched.state_dict())

    # A new process would rebuild everything, then load.
    loaded = load_checkpoint(path)
    resumed = [mc.Tensor(loaded["model"]["w"].copy(), requires_grad=True),
               mc.Tensor(loaded["model"]["b"].copy(), requires_grad=True)]
    opt2 = optim.Adam([{"params": resumed[:1]}, {"params": resumed[1:]}], lr=0.1, amsgrad=True)
    sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    opt2.load_state_dict(loaded["optimizer"])
    sched2.load_state_dict(loaded["scheduler"])
    assert opt2.param_groups[0]["betas"] == (0.8, 0.9)

    rng = np.random.default_rng(9)
    for _ in range(4):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        for group in (params, resumed):
            for p, g in zip(group, grads):
                p.grad = mc.Tensor(g.copy())
        opt.step()
        opt2.step()
        sched.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_accepts_objects_with_state_dict(tmp_path):
    params = make_params()
    opt = trained_optimizer(params)
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": params[0]}, opt, epoch=0,
                    scheduler=lr_scheduler.StepLR(opt, 3))
    loaded = load_checkpoint(path)
    assert loaded["scheduler"]["step_size"] == 3
    assert loaded["optimizer"]["param_groups"][1]["lr"] == 0.01


def files_in(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("failure", ["during the write", "at fsync", "at the rename"])
def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, failure):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones(3)}, None, epoch=1)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")                 # some bytes land in the file ...
        raise OSError("disk full")                         # ... then the write fails
    if failure == "during the write":
        monkeypatch.setattr(checkpoint.np, "savez", broken_savez)
    elif failure == "at fsync":
        monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: (_ for _ in ()).throw(
            OSError("I/O error")))
    else:
        monkeypatch.setattr(checkpoint.os, "replace", lambda a, b: (_ for _ in ()).throw(
            OSError("rename failed")))
    with pytest.raises(OSError):
        save_checkpoint(path, {"w": np.zeros(3)}, None, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert files_in(tmp_path) == ["ckpt.npz"]               # no temporary file left behind


def test_an_interrupted_save_never_exposes_a_partial_file(tmp_path, monkeypatch):
    # While the new checkpoint is being written, the target name still holds the old one.
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones(2)}, None, epoch=1)
    seen = []
    real_savez = np.savez

    def spying_savez(f, **arrays):
        real_savez(f, **arrays)
        seen.append(load_checkpoint(path)["epoch"])        # what a reader sees meanwhile
        seen.append(files_in(tmp_path))                    # temp file in the same folder
    monkeypatch.setattr(checkpoint.np, "savez", spying_savez)
    save_checkpoint(path, {"w": np.ones(2)}, None, epoch=2)
    assert seen[0] == 1
    assert seen[1][1] == "ckpt.npz" and len(seen[1]) == 2
    assert seen[1][0].startswith(".ckpt.npz.") and seen[1][0].endswith(".tmp")
    assert files_in(tmp_path) == ["ckpt.npz"]
    assert load_checkpoint(path)["epoch"] == 2


def test_files_hold_no_pickle_and_pickles_are_not_loaded(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.ones(2)}, None, epoch=0)
    with np.load(path, allow_pickle=False) as f:            # every entry is a plain array
        assert all(f[name].dtype != object for name in f.files)
    evil = tmp_path / "evil.npz"
    np.savez(evil, __meta__=np.frombuffer(b'{"format": "minicnn-checkpoint", "version": 1, '
                                          b'"content": {"__array__": "a0"}}', np.uint8),
             a0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a minicnn checkpoint .*allow_pickle"):
        load_checkpoint(evil)


def test_bad_input_errors(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        save_checkpoint(tmp_path / "a.npz", {"w": {1, 2}}, None)
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        save_checkpoint(tmp_path / "a.npz", {(1, 2): np.ones(1)}, None)
    with pytest.raises(ValueError, match="clashes"):
        save_checkpoint(tmp_path / "a.npz", {}, None, epoch=1, model=3)
    assert files_in(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_checkpoint(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz is not a minicnn checkpoint"):
        load_checkpoint(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="no __meta__ entry"):
        load_checkpoint(tmp_path / "plain.npz")


def test_checkpoint_does_not_alias_the_live_optimizer_state(tmp_path):
    params = make_params()
    opt = trained_optimizer(params)
    path = tmp_path / "c.npz"
    save_checkpoint(path, {}, opt, epoch=0)
    saved = copy.deepcopy(load_checkpoint(path)["optimizer"])
    trained_optimizer(params, steps=1)                      # unrelated later training
    opt2 = optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    opt2.load_state_dict(saved)
    buf = opt2.state[id(params[0])]["exp_avg"]
    assert buf.dtype == np.float32 and buf is not saved["state"][0]["exp_avg"]


def test_the_next_save_removes_temporary_files_of_killed_saves(tmp_path):
    """A process killed mid-write leaves its temporary file (a whole checkpoint) behind;
    the next save to the same path deletes it, and nothing that belongs to others."""
    path = tmp_path / "ckpt.npz"
    orphans = [".ckpt.npz.k1l2d3x4.tmp", ".ckpt.npz.a9b8c7d6.tmp"]
    others = [".other.npz.k1l2d3x4.tmp", "ckpt.npz.tmp", "notes.txt"]
    for name in orphans + others:
        (tmp_path / name).write_bytes(b"PK\x03\x04 half a zip")
    save_checkpoint(path, {"w": np.ones(2)}, None, epoch=3)
    assert files_in(tmp_path) == sorted(["ckpt.npz"] + others)
    assert load_checkpoint(path)["epoch"] == 3


def test_the_rename_is_made_durable_by_fsyncing_the_folder(tmp_path, monkeypatch):
    """fsync(file) before the rename, fsync(folder) after it: without the second a power
    cut can forget the rename, and the old checkpoint comes back."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def spying_fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def spying_replace(src, dst):
        events.append("rename")
        real_replace(src, dst)
    monkeypatch.setattr(checkpoint.os, "fsync", spying_fsync)
    monkeypatch.setattr(checkpoint.os, "replace", spying_replace)
    save_checkpoint(tmp_path / "ckpt.npz", {"w": np.ones(2)}, None, epoch=1)
    assert events == ["fsync file", "rename", "fsync folder"]


def test_a_zip_with_a_renamed_entry_is_not_a_minicnn_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones(2)}, None, epoch=1)
    with np.load(path) as archive:
        entries = {("b0" if name == "a0" else name): archive[name] for name in archive.files}
    np.savez(path, **entries)                    # a valid zip whose meta names a missing a0
    with pytest.raises(ValueError, match="ckpt.npz is not a minicnn checkpoint .*KeyError"):
        load_checkpoint(path)


READERS = {"load_checkpoint": load_checkpoint, "load_pth": mc.io.load_pth}


@pytest.mark.parametrize("reader", READERS)
def test_a_directory_or_an_unreadable_file_is_named_as_such(tmp_path, monkeypatch, reader):
    with pytest.raises(IsADirectoryError, match=f"minicnn: {reader}: {tmp_path} is a directory"):
        READERS[reader](tmp_path)
    path = tmp_path / "secret.npz"
    path.write_bytes(b"PK\x03\x04")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(files, "open", denied, raising=False)    # as chmod 000 would
    with pytest.raises(PermissionError, match=f"minicnn: {reader}: cannot read {path}: "
                                              "permission denied"):
        READERS[reader](path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_a_file_without_read_permission(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones(2)}, None, epoch=1)
    path.chmod(0)
    with pytest.raises(PermissionError, match="cannot read .*ckpt.npz: permission denied"):
        load_checkpoint(path)


def test_an_archive_that_unpacks_beyond_memory_is_refused_before_reading(tmp_path,
                                                                          monkeypatch):
    """A checkpoint whose entry is deflated zeros claiming 64 MiB (a few KB of file): with
    less memory available than that, refused from the zip directory, before np.load
    allocates anything."""
    import zipfile
    from minicnn.io import checkpoint as ckpt_module
    path = tmp_path / "bomb.npz"
    save_checkpoint(path, {"w": np.zeros(4, np.float32)}, epoch=1)
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    entries["a9.npy"] = bytes(64 << 20)                       # 64 MiB of zeros, deflated
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, raw in entries.items():
            z.writestr(name, raw)
    assert os.path.getsize(path) < 1_000_000
    monkeypatch.setattr(ckpt_module, "available_memory", lambda: 32 << 20)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load was called"))
    with pytest.raises(ValueError, match=r"bomb.npz unpacks to \d+ bytes, more than the "
                                         r"33554432 bytes of memory available"):
        load_checkpoint(path)


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX file modes")
def test_a_checkpoint_gets_the_mode_a_new_file_gets(tmp_path):
    """mkstemp makes 0600 files: checkpoints were private while every other file of a run
    was 0644."""
    save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(2)}, epoch=1)
    assert stat.S_IMODE(os.stat(tmp_path / "c.npz").st_mode) == files.default_file_mode()
    old = os.umask(0o077)
    try:
        save_checkpoint(tmp_path / "private.npz", {"w": np.zeros(2)}, epoch=1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "private.npz").st_mode) == 0o600   # umask obeyed
