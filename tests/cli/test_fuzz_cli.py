"""The command line under random bad option values: every one must end with exit status
1 or 2, one message line on stderr, no traceback, and no file written outside --out.

Each example fails before any training (a usage error, a missing file, an unknown name),
so it runs in a few milliseconds; commands run in-process through ``minicnn.cli.main``,
and two run as real processes, for the exit status and stderr a shell sees.
"""
import os
import shutil
import string
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minicnn as mc
from minicnn.cli.options import TRAIN_DEFAULTS
from tests.cli.test_cli import assert_one_line_error, failing_cli

# ----- bad values, by what the option expects ---------------------------------------------
# Letters, digits and punctuation that never spell a number ("nan", "inf", "1e3"): junk
# for every numeric option.
junk = st.text(alphabet="abcdgxyz!@#%&*,;:/ ", max_size=6)


def numbers_below(bound, inclusive):
    """Numbers (as command-line text) < bound, or <= bound when ``inclusive``."""
    floats = st.floats(max_value=bound, exclude_max=not inclusive, allow_nan=False)
    return floats.map(repr) | st.sampled_from(["nan", "-inf"])


below_one = st.integers(max_value=0).map(str) | junk | st.sampled_from(["1.5", "2e3", "nan"])
negative = st.integers(max_value=-1).map(str) | junk | st.sampled_from(["0.5", "inf"])
not_positive = numbers_below(0.0, inclusive=True) | st.just("inf") | junk
negative_float = numbers_below(0.0, inclusive=False) | st.just("inf") | junk
not_a_fraction = (st.floats(min_value=1.0).map(repr) | numbers_below(0.0, inclusive=False)
                  | junk)
not_a_probability = (st.floats(min_value=1.0, exclude_min=True).map(repr)
                     | numbers_below(0.0, inclusive=False) | junk)
name = st.text(alphabet=string.ascii_lowercase + "_0123456789", min_size=1, max_size=10)


def not_one_of(*choices):
    return name.filter(lambda text: text not in choices)


# missing files and folders, junk files, a folder where a file is expected (see `paths`)
bad_path = st.sampled_from(["{missing}", "{folder}", "{junk_file}"])
bad_dataset = (not_one_of("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder")
               | st.sampled_from(["mnist:{missing}", "cifar10:{missing}", "folder:{missing}",
                                  "folder:{empty_folder}", "mnist", "cifar100:"]))

TRAINING_OPTIONS = {
    "--epochs": below_one, "--batch-size": below_one, "--image-size": below_one,
    "--limit": below_one, "--warmup": negative, "--prefetch": negative, "--seed": negative,
    "--lr": not_positive, "--momentum": negative_float, "--weight-decay": negative_float,
    "--aux-weight": negative_float, "--label-smoothing": not_a_probability,
    "--val-split": not_a_fraction, "--optimizer": not_one_of("sgd", "adam", "adamw", "rmsprop"),
    "--schedule": not_one_of("none", "step", "exponential", "multistep", "plateau", "cosine"),
    "--recipe": not_one_of("alexnet", "vgg", "resnet", "inception_v3"),
    "--plateau-metric": not_one_of("val_loss", "val_acc1"), "--plateau-patience": negative,
    "--lr-gamma": not_a_fraction | st.just("0") | numbers_below(0.0, inclusive=True),
    "--lr-step-epochs": below_one, "--rmsprop-alpha": not_a_fraction,
    "--rmsprop-eps": not_positive, "--clip-grad-norm": not_positive,
    "--lighting": negative_float, "--scale-jitter": below_one,
    "--device": not_one_of("cpu", "cuda"), "--normalize": not_one_of("none", "imagenet"),
    "--dataset": bad_dataset, "--model": not_one_of(*mc.models.__all__), "--resume": bad_path,
    "--out": st.just("{junk_file}"),
}
# `viz PICTURE`: the options of every picture, and a --layer name of small_cnn that gives
# no feature maps (small_cnn's layers with feature maps are "features" and "avgpool", or
# are named with dots, which `name` never spells)
beyond_the_digits = st.integers(min_value=355).map(str)      # the test split has 355 images
VIZ_OPTIONS = {"--model": not_one_of(*mc.models.__all__), "--weights": bad_path,
               "--dataset": bad_dataset, "--out": bad_path | st.just("{out}/picture.txt")}
not_a_map_layer = not_one_of("features", "avgpool")

COMMANDS = {   # command: (arguments every run gets, {option: bad values})
    "train": (["--limit", "16", "--epochs", "1", "--out", "{out}", "--no-progress"],
              TRAINING_OPTIONS),
    "finetune": (["--weights", "{checkpoint}", "--limit", "16", "--epochs", "1", "--out",
                  "{out}", "--no-progress"],
                 {**TRAINING_OPTIONS, "--weights": bad_path, "--head-lr": not_positive,
                  "--body-lr": negative_float}),
    "evaluate": (["{checkpoint}", "--limit", "16", "--no-progress"],
                 {"": bad_path, "--batch-size": below_one, "--image-size": below_one,
                  "--limit": below_one, "--split": not_one_of("train", "test"),
                  "--device": not_one_of("cpu", "cuda"), "--dataset": bad_dataset}),
    "summary": (["small_cnn"], {"--input": st.sampled_from(["1,-8,8", "0,8,8", "8,8", "a,b,c",
                                                            "1,8,8,8", "", "1.5,8,8"]),
                                "--depth": negative, "--num-classes": below_one}),
    "export": (["small_cnn", "-o", "{out}/model.onnx"],
               {"": not_one_of(*mc.models.__all__), "--weights": bad_path,
                "--input": st.sampled_from(["1,-8,8", "0,8,8", "8,8", "a,b,c", "1,8,8,8", "",
                                            "1,2,2"]),
                "--batch-size": below_one, "--num-classes": below_one, "--opset": below_one}),
    "bench": ([], {"--batch": below_one, "--repeats": below_one}),
    "demo": ([], {"--seed": negative, "--index": negative | beyond_the_digits,
                  "--out": st.just("{junk_file}")}),
    "viz graph": (["--out", "{out}/graph.dot"],
                  {**VIZ_OPTIONS, "--image-size": below_one,
                   "--index": negative | beyond_the_digits}),
    "viz filters": (["--out", "{out}/filters.png"],
                    {**VIZ_OPTIONS, "--layer": name, "--max-filters": below_one,
                     "--channel": negative | st.integers(min_value=1).map(str),
                     "--scale": not_one_of("filter", "layer")}),
    "viz features": (["--layer", "features.0.2", "--out", "{out}/features.png"],
                     {**VIZ_OPTIONS, "--layer": not_a_map_layer, "--image": bad_path,
                      "--index": negative | beyond_the_digits, "--image-size": below_one,
                      "--max-maps": below_one, "--scale": not_one_of("map", "layer")}),
    "viz rf": (["--layer", "features.3.0", "--position", "1", "1", "--out", "{out}/rf.png"],
               {**VIZ_OPTIONS, "--layer": not_a_map_layer, "--position": negative,
                "--channel": negative | st.integers(min_value=64).map(str),
                "--input-size": below_one}),
    "viz occlusion": (["--size", "4", "--out", "{out}/occlusion.png"],
                      {**VIZ_OPTIONS, "--index": negative | beyond_the_digits,
                       "--size": below_one | st.integers(min_value=9).map(str),
                       "--stride": below_one, "--value": st.sampled_from(["nan", "inf", "x"]),
                       "--target": negative | st.integers(min_value=10).map(str)}),
    "viz classmodel": (["--steps", "1", "--target", "1", "--out", "{out}/classmodel.png"],
                       {**VIZ_OPTIONS, "--steps": below_one, "--lr": not_positive,
                        "--l2": negative_float,
                        "--target": negative | st.integers(min_value=10).map(str)}),
    "viz neighbours": (["--count", "20", "--out", "{out}/neighbours.png"],
                       {**VIZ_OPTIONS, "--count": below_one, "-k": below_one,
                        "--queries": negative | st.integers(min_value=20).map(str)}),
    "gradcheck": (["resnet18"], {"--size": below_one, "--batch": below_one,
                                 "--num-classes": below_one, "--tol": not_positive,
                                 "--show": negative, "--seed": negative}),
}


def command_line(command, option, value):
    base, _ = COMMANDS[command]
    command = command.split()         # "viz graph": a command and its subcommand
    if option == "":                  # the positional argument: replaces the good one
        return [*command, value, *base[1:]]
    return [*command, *base, option, value]


@pytest.fixture
def paths(tmp_path, monkeypatch):
    """A working folder holding a checkpoint, a junk file and an empty folder; the
    commands run in it and may write only into ``out``."""
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    (fixtures / "empty").mkdir()
    model = mc.models.small_cnn()
    config = {**TRAIN_DEFAULTS, "num_classes": 10, "in_channels": 1, "rgb": False}
    mc.io.save_checkpoint(fixtures / "checkpoint.npz", model, None, epoch=1, config=config)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()                     # (viz writes into an existing folder)
    return {"out": str(tmp_path / "out"), "checkpoint": str(fixtures / "checkpoint.npz"),
            "missing": str(tmp_path / "missing" / "file.npz"), "folder": str(fixtures),
            "junk_file": str(fixtures / "junk.npz"), "empty_folder": str(fixtures / "empty"),
            "root": tmp_path}


def files_outside(root, out):
    found = set()
    for folder, _, names in os.walk(root):
        if not (folder + os.sep).startswith(out + os.sep):
            found.update(os.path.join(folder, n) for n in names)
            found.add(folder)
    return found


@pytest.mark.parametrize("command, option", [(c, o) for c in COMMANDS for o in COMMANDS[c][1]])
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_bad_value_of_any_option_gets_one_line(paths, capsys, command, option, data):
    value = data.draw(COMMANDS[command][1][option], label="value")
    argv = [a.format(**paths) for a in command_line(command, option, value)]
    before = files_outside(str(paths["root"]), paths["out"])
    code, out, err = failing_cli(capsys, *argv)
    assert_one_line_error(code, err)
    assert files_outside(str(paths["root"]), paths["out"]) == before


@pytest.mark.parametrize("argv, status", [
    (["train", "--batch-size", "-3", "--no-progress"], 2),
    (["evaluate", "{missing}"], 1),
])
def test_a_real_process_exits_with_the_status_and_no_traceback(paths, argv, status):
    argv = [a.format(**paths) for a in argv]
    result = subprocess.run([sys.executable, "-m", "minicnn", *argv], capture_output=True,
                            text=True, cwd=paths["root"], timeout=300)
    assert result.returncode == status, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""


# ----- damaged files of every kind, wherever a command reads one ---------------------------
# Each kind: a good file, written by ``make``, and where the commands read it.  A damaged
# copy (cut short, or a run of bytes overwritten, at a place hypothesis picks) and the
# crafted ones below (a pickle that would run code, bombs) must end with exit status 0 (the
# damage missed what is read) or one line, never a traceback: whatever a file, a pickle,
# an image or memory can raise.
def write_pth(path):
    torch = pytest.importorskip("torch")
    torch.save({k: torch.from_numpy(np.array(v.numpy())) for k, v in
                mc.models.small_cnn(in_channels=3).state_dict().items()}, path)


def write_png(path, size=(64, 64)):
    from PIL import Image
    noise = np.random.default_rng(0).integers(0, 256, size + (3,), dtype=np.uint8)
    Image.fromarray(noise).save(path)


def write_image_folder(root, image="0.png"):
    """root/train and root/val with classes a and b; returns the file to damage."""
    for split in ("train", "val"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            np.save(root / split / c / "0.npy", np.zeros((8, 8, 3), np.uint8))
    target = root / "val" / "a" / image
    (write_png if image.endswith(".png") else
     lambda p: np.save(p, np.zeros((8, 8, 3), np.uint8)))(target)
    return target


def pickled(obj):
    import pickle
    return pickle.dumps(obj, protocol=2)


def write_cifar(root, batch=None):
    import io
    import tarfile
    good = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3]}
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            raw = batch if batch is not None and name == "test_batch" else pickled(good)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return root / "cifar-10-python.tar.gz"


def write_mnist(root, extra_zeros=0):
    import gzip
    for prefix, n in (("train", 4), ("t10k", 4)):
        with gzip.open(root / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + np.array([n, 28, 28], ">u4").tobytes())
            f.write(bytes(n * 784))
            for _ in range(extra_zeros):                    # a gzip bomb: MiBs of zeros
                f.write(bytes(1 << 20))
        with gzip.open(root / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes() + bytes(range(n)))
    return root / "train-images-idx3-ubyte.gz"


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this should never run",))


def write_evil_pth(path):
    import zipfile
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickled({"w": Evil()}))


def write_bomb_png(path):
    from PIL import Image
    Image.new("1", (20000, 20000)).save(path)            # 400 megapixels, 50 KB of file


def checkpoint_file(folder):
    model = mc.models.small_cnn()
    config = {**TRAIN_DEFAULTS, "num_classes": 10, "in_channels": 1, "rgb": False}
    mc.io.save_checkpoint(folder / "checkpoint.npz", model, None, epoch=1, config=config)
    return folder / "checkpoint.npz"


QUICK_RUN = ["--epochs", "1", "--limit", "8", "--image-size", "8", "--no-progress",
             "--out", "{out}"]
DAMAGEABLE = {   # kind: (write the good file into a folder -> the path, command lines)
    "checkpoint": (checkpoint_file, [
        ["evaluate", "{file}", "--limit", "8", "--no-progress"],
        ["train", "--resume", "{file}", "--epochs", "2", "--no-progress", "--out", "{out}"],
        ["finetune", "--weights", "{file}", *QUICK_RUN],
        ["viz", "filters", "--weights", "{file}", "--out", "{out}/f.png"]]),
    "pth": (lambda d: (write_pth(d / "w.pth"), d / "w.pth")[1], [
        ["evaluate", "{file}", "--model", "small_cnn", "--limit", "8", "--image-size", "8",
         "--no-progress"],
        ["finetune", "--weights", "{file}", "--model", "small_cnn", *QUICK_RUN]]),
    "png": (write_image_folder, [
        ["train", "--dataset", "folder:{data}", *QUICK_RUN],
        ["viz", "features", "--layer", "features.0.2", "--image", "{file}", "--out",
         "{out}/m.png"]]),
    "npy": (lambda d: write_image_folder(d, "0.npy"), [
        ["train", "--dataset", "folder:{data}", *QUICK_RUN]]),
    "cifar": (write_cifar, [["train", "--dataset", "cifar10:{data}", *QUICK_RUN]]),
    "mnist": (write_mnist, [["train", "--dataset", "mnist:{data}", *QUICK_RUN]]),
}
CRAFTED = {   # name: (kind whose commands read it, write it into a folder -> the path)
    "a .pth whose pickle would run code": ("pth", lambda d: (write_evil_pth(d / "e.pth"),
                                                             d / "e.pth")[1]),
    "a CIFAR batch whose pickle would run code": ("cifar", lambda d: write_cifar(
        d, pickled({b"data": Evil()}))),
    "a PNG decompression bomb": ("png", lambda d: (write_image_folder(d),
                                                   write_bomb_png(d / "val" / "a" / "0.png"),
                                                   d / "val" / "a" / "0.png")[2]),
    "an MNIST gzip bomb": ("mnist", lambda d: write_mnist(d, extra_zeros=64)),
    "a CIFAR archive cut short": ("cifar", lambda d: cut(write_cifar(d), 2 / 3)),
    "a PNG cut short": ("png", lambda d: cut(write_image_folder(d), 0.9)),
    "a .pth with a changed byte (bad CRC)": ("pth", lambda d: changed((write_pth(d / "w.pth"),
                                                                        d / "w.pth")[1])),
}


def cut(path, fraction):
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * fraction)])
    return path


def changed(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF                                   # inside the weights
    path.write_bytes(bytes(raw))
    return path


def run_on(paths, capsys, argv, file, folder):
    argv = [a.format(file=file, data=folder, **paths) for a in argv]
    before = files_outside(str(paths["root"]), paths["out"])
    code, out, err = failing_cli(capsys, *argv)
    if code != 0:
        assert_one_line_error(code, err)
    assert "Traceback" not in err and "should never run" not in out
    assert files_outside(str(paths["root"]), paths["out"]) == before
    return code, err


@pytest.mark.parametrize("kind", list(DAMAGEABLE))
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_file_of_any_kind_gets_one_line(paths, capsys, kind, data):
    write, commands = DAMAGEABLE[kind]
    base = paths["root"] / "data"
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(paths["out"])
    os.mkdir(paths["out"])
    base.mkdir()
    file = write(base)
    raw = file.read_bytes()
    where = data.draw(st.integers(0, len(raw) - 1), label="where")
    damage = data.draw(st.sampled_from(["cut", "overwrite", "zero"]), label="damage")
    if damage == "cut":
        raw = raw[:where]
    else:
        n = data.draw(st.integers(1, 64), label="bytes")
        junk = (bytes(n) if damage == "zero" else
                data.draw(st.binary(min_size=n, max_size=n), label="junk"))
        raw = raw[:where] + junk + raw[where + n:]
    file.write_bytes(raw)
    argv = data.draw(st.sampled_from(commands), label="command")
    run_on(paths, capsys, argv, file, base)


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_file_is_refused_on_one_line(paths, capsys, name):
    kind, write = CRAFTED[name]
    base = paths["root"] / "data"
    base.mkdir()
    file = write(base)
    for argv in DAMAGEABLE[kind][1]:
        shutil.rmtree(paths["out"])
        os.mkdir(paths["out"])
        code, err = run_on(paths, capsys, argv, file, base)
        assert code == 1, (argv, err)
        assert str(file) in err, err                               # it names the file


# ----- memory -------------------------------------------------------------------------------
def test_running_out_of_memory_gets_one_line(paths, capsys, monkeypatch):
    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 12.9 TiB for an array with shape (100000, "
                          "100000, 355, 1) and data type float32")
    monkeypatch.setattr(mc.train, "evaluate", too_big)
    code, _, err = failing_cli(capsys, "evaluate", paths["checkpoint"], "--limit", "8",
                               "--no-progress")
    assert_one_line_error(code, err)
    assert "out of memory" in err and "12.9 TiB" in err


def test_summary_refuses_an_input_whose_forward_pass_cannot_fit(capsys, monkeypatch):
    """Measured at a smaller size and scaled: (1, 2000, 2000) needs about 160 MB; with 10 MB
    available it is refused before the forward pass (which, far larger, took all of a
    machine's memory until the system killed it); with enough memory it runs."""
    from minicnn.cli import summary as cli_summary
    monkeypatch.setattr(cli_summary, "available_memory", lambda: 10_000_000)
    code, out, err = failing_cli(capsys, "summary", "small_cnn", "--input", "1,2000,2000")
    assert_one_line_error(code, err)
    assert "needs about" in err and "choose a smaller --input" in err and out == ""
    monkeypatch.setattr(cli_summary, "available_memory", lambda: 10_000_000_000)
    code, out, err = failing_cli(capsys, "summary", "small_cnn", "--input", "1,2000,2000")
    assert code == 0 and "total" in out
