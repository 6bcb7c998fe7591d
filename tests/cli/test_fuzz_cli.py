"""The command line under random bad option values: every one must end with exit status
1 or 2, one message line on stderr, no traceback, and no file written outside --out.

Each example fails before any training (a usage error, a missing file, an unknown name),
so it runs in a few milliseconds; commands run in-process through ``minicnn.cli.main``,
and two run as real processes, for the exit status and stderr a shell sees.
"""
import os
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
