"""Every place where two lists of classes must agree: the training and validation (test)
splits of an image folder, a resumed run and its data, a model and the data it is
evaluated on.  A label is a class's position in the list, so a difference is refused
(one line, naming the classes) instead of shifting every label."""
import json

import numpy as np

import minicnn as mc
from minicnn.__main__ import main
from minicnn.cli.options import TRAIN_DEFAULTS
from tests.cli.test_cli import assert_one_line_error, failing_cli

COLOURS = ["blue", "green", "red"]
CHANNEL = {"red": 0, "green": 1, "blue": 2, "pink": 0}


def colour_folder(root, splits=(("train", COLOURS, 8), ("val", COLOURS, 4))):
    """Images that are all one colour per class: any model learns them in one epoch."""
    for split, classes, n in splits:
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for k in range(n):
                img = np.zeros((8, 8, 3), np.uint8)
                img[..., CHANNEL[c]] = 255
                np.save(root / split / c / f"{k}.npy", img)
    return root


def train(root, out, *extra):
    return ["train", "--dataset", f"folder:{root}", "--image-size", "8", "--epochs", "2",
            "--batch-size", "8", "--lr", "0.1", "--no-progress", "--out", str(out), *extra]


def test_an_empty_hidden_folder_in_val_shifts_no_label(tmp_path, capsys):
    root = colour_folder(tmp_path / "data")
    (root / "val" / ".ipynb_checkpoints").mkdir()          # what Jupyter leaves behind
    code, out, err = failing_cli(capsys, *train(root, tmp_path / "run"))
    assert code == 0, err
    config = mc.io.load_checkpoint(tmp_path / "run" / "checkpoint.npz")["config"]
    assert config["num_classes"] == 3 and config["classes"] == COLOURS
    # (shifted labels scored 0.00%: every image was called the class before its own)
    assert json.loads((tmp_path / "run" / "test.json").read_text())["acc1"] > 0.5


def test_a_val_folder_missing_a_class_is_refused_naming_it(tmp_path, capsys):
    root = colour_folder(tmp_path / "data", (("train", COLOURS, 2), ("val", ["blue", "red"], 2)))
    code, _, err = failing_cli(capsys, *train(root, tmp_path / "run"))
    assert_one_line_error(code, err)
    assert "lacks 'green'" in err and str(root / "val") in err
    assert not (tmp_path / "run").exists()


def test_a_val_folder_with_an_extra_class_is_refused_naming_it(tmp_path, capsys):
    root = colour_folder(tmp_path / "data", (("train", ["blue", "red"], 2), ("val", COLOURS, 2)))
    code, _, err = failing_cli(capsys, *train(root, tmp_path / "run"))
    assert_one_line_error(code, err)
    assert "has 'green', which" in err


def test_an_empty_class_folder_is_refused_naming_it(tmp_path, capsys):
    root = colour_folder(tmp_path / "data")
    (root / "val" / "grey").mkdir()
    code, _, err = failing_cli(capsys, *train(root, tmp_path / "run"))
    assert_one_line_error(code, err)
    assert "class folder grey" in err


def test_evaluate_and_resume_check_the_classes_of_the_model(tmp_path, capsys):
    root = colour_folder(tmp_path / "data")
    assert main(train(root, tmp_path / "run", "--epochs", "1")) == 0
    other = colour_folder(tmp_path / "other", (("train", ["blue", "green", "pink"], 2),
                                               ("val", ["blue", "green", "pink"], 2)))
    capsys.readouterr()
    checkpoint = str(tmp_path / "run" / "checkpoint.npz")
    code, _, err = failing_cli(capsys, "evaluate", checkpoint, "--dataset", f"folder:{other}",
                               "--no-progress")
    assert_one_line_error(code, err)
    assert "lacks 'red'" in err and "has 'pink'" in err
    code, _, err = failing_cli(capsys, "train", "--resume", checkpoint, "--epochs", "2",
                               "--dataset", f"folder:{other}", "--no-progress")
    assert_one_line_error(code, err)
    assert "lacks 'red'" in err


def test_viz_checks_the_classes_of_the_model(tmp_path, capsys):
    root = colour_folder(tmp_path / "data")
    assert main(train(root, tmp_path / "run", "--epochs", "1")) == 0
    other = colour_folder(tmp_path / "other", (("train", ["blue", "pink"], 2),
                                               ("val", ["blue", "pink"], 2)))
    capsys.readouterr()
    code, _, err = failing_cli(capsys, "viz", "graph", "--weights",
                               str(tmp_path / "run" / "checkpoint.npz"), "--dataset",
                               f"folder:{other}", "--out", str(tmp_path / "g.dot"))
    assert_one_line_error(code, err)
    assert "lacks 'green', 'red'" in err


def test_a_model_without_class_names_must_have_an_output_per_class(tmp_path, capsys):
    """A checkpoint that records no class names (older runs) with 2 outputs, shown the 10
    digit classes: labels 2-9 would point past its outputs."""
    config = {**TRAIN_DEFAULTS, "num_classes": 2, "in_channels": 1, "rgb": False}
    path = tmp_path / "two.npz"
    mc.io.save_checkpoint(path, mc.models.small_cnn(num_classes=2), None, epoch=1,
                          config=config)
    for argv in (["evaluate", str(path), "--limit", "8", "--no-progress"],
                 ["viz", "graph", "--weights", str(path), "--out", str(tmp_path / "g.dot")]):
        code, _, err = failing_cli(capsys, *argv)
        assert_one_line_error(code, err)
        assert "has 10 classes, but the model" in err and "has 2 outputs" in err
