"""`python -m minicnn viz PICTURE` and the `demo` walk-through.

The pictures are checked for being written (a file that is not empty), never for pixels;
the DOT text and the printed numbers are checked for what they say.
"""
import re

import numpy as np
import pytest

import minicnn as mc
from minicnn import viz
from minicnn.cli.options import TRAIN_DEFAULTS
from minicnn.functional import pool
from tests.cli.test_cli import assert_one_line_error, failing_cli, run_cli

pytest.importorskip("matplotlib", reason="mc.viz draws with matplotlib, a minicnn dependency")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A minicnn checkpoint of an untrained small_cnn, as `train` writes it."""
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.npz"
    config = {**TRAIN_DEFAULTS, "num_classes": 10, "in_channels": 1, "rgb": False}
    mc.io.save_checkpoint(path, mc.models.small_cnn(), None, epoch=1, config=config)
    return str(path)


def written(path):
    return path.is_file() and path.stat().st_size > 0


def test_help_lists_viz_and_its_pictures(capsys):
    for argv in (["--help"], ["viz", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(capsys, *argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "viz" in text and "receptive field" in text
    for picture in ("graph", "filters", "features", "rf", "saliency", "gradcam", "cam", "guided",
                    "occlusion", "adversarial", "classmodel", "neighbours", "embedding"):
        assert re.search(rf"^    {picture}\s", text, flags=re.M), picture


# ----- viz graph -------------------------------------------------------------------------
def test_graph_dot_names_the_models_ops_and_parameters(tmp_path, capsys):
    out = tmp_path / "graph.dot"
    code, text = run_cli(capsys, "viz", "graph", "--out", str(out))
    assert code == 0 and str(out) in text
    labels = re.findall(r'label="([^"\\]*)\\n', out.read_text())
    for op in ("Conv2dBackward", "BatchNormBackward", "ReLUBackward", "MaxPoolBackward",
               "AvgPoolBackward", "LinearBackward", "CrossEntropyBackward"):
        assert op in labels, op
    assert labels.count("Conv2dBackward") == 3                   # small_cnn's three convs
    names = [name for name, _ in mc.models.small_cnn().named_parameters()]
    assert sorted(l for l in labels if "Backward" not in l) == sorted(names)


def test_graph_without_graphviz_writes_the_dot_and_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda program: None)
    out = tmp_path / "sub" / "graph.svg"
    out.parent.mkdir()                     # (viz makes no folders: test_cli_files)
    code, text, err = failing_cli(capsys, "viz", "graph", "--out", str(out), "--index", "3")
    assert code == 0 and not out.exists()
    assert written(tmp_path / "sub" / "graph.dot")
    assert "Graphviz" in err and len(err.strip().splitlines()) == 1


def test_graph_of_a_checkpoint(tmp_path, capsys, checkpoint):
    out = tmp_path / "graph.gv"
    code, text = run_cli(capsys, "viz", "graph", "--weights", checkpoint, "--out", str(out))
    assert code == 0 and "small_cnn" in text and "fc.weight" in out.read_text()


# ----- viz filters and features ----------------------------------------------------------
@pytest.mark.parametrize("argv", [
    [],                                                          # the first Conv2d
    ["--layer", "features.1.0", "--channel", "2", "--scale", "layer", "--max-filters", "5"],
])
def test_filters_writes_a_picture(tmp_path, capsys, argv):
    out = tmp_path / "filters.svg"
    code, text = run_cli(capsys, "viz", "filters", *argv, "--out", str(out))
    layer = argv[1] if argv else "features.0.0"
    assert code == 0 and written(out) and f"filters of {layer}" in text


def test_features_of_a_test_image_and_of_an_image_file(tmp_path, capsys, checkpoint):
    out = tmp_path / "maps.png"
    code, text = run_cli(capsys, "viz", "features", "--layer", "features.0.2", "--index", "7",
                         "--scale", "layer", "--max-maps", "8", "--out", str(out))
    assert code == 0 and written(out) and "test image 7" in text
    image = tmp_path / "digit.npy"                               # a 16x16 RGB picture
    np.save(image, np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    out.unlink()
    code, text = run_cli(capsys, "viz", "features", "--layer", "features.3.2", "--image",
                         str(image), "--weights", checkpoint, "--out", str(out))
    assert code == 0 and written(out) and str(image) in text


# ----- viz rf ----------------------------------------------------------------------------
@pytest.mark.parametrize("layer, position, expected", [
    ("features.0.0", (3, 3), "rows 2-4, cols 2-4, size 3x3 (nominal 3x3"),
    ("features.0.0", (0, 0), "rows 0-1, cols 0-1, size 2x2 (nominal 3x3"),   # border
    ("features.3.0", (1, 2), "rows 0-7, cols 0-7, size 8x8 (nominal 10x10"),
])
def test_rf_prints_the_field_and_writes_a_picture(tmp_path, capsys, layer, position, expected):
    out = tmp_path / "rf.pdf"
    code, text = run_cli(capsys, "viz", "rf", "--layer", layer, "--position",
                         *map(str, position), "--out", str(out))
    assert code == 0 and written(out) and expected in text
    field = viz.receptive_field_of(mc.models.small_cnn().eval(), (1, 8, 8), layer, position)
    assert f"rows {field.rows[0]}-{field.rows[1]}, cols {field.cols[0]}-{field.cols[1]}" in text


def test_rf_input_size_and_channel(tmp_path, capsys):
    out = tmp_path / "rf.png"
    code, text = run_cli(capsys, "viz", "rf", "--layer", "features.1.0", "--position", "5",
                         "6", "--channel", "31", "--input-size", "1", "12", "12", "--out",
                         str(out))
    assert code == 0 and written(out)
    assert "(channel 31, row 5, col 6) of a 1x12x12 input: rows 3-7, cols 4-8, size 5x5" in text


# ----- the visualisation lecture's pictures ---------------------------------------------------
@pytest.mark.parametrize("argv, says", [
    (["saliency", "--index", "4"], "saliency of test image 4 (label"),
    (["gradcam", "--layer", "features.1.2", "--target", "3"], "gradcam of test image 0"),
    (["guided", "--image", "{tmp}/digit.npy"], "guided of {tmp}/digit.npy"),
    (["occlusion", "--size", "3", "--stride", "2"], "occlusion of test image 0"),
    (["adversarial", "--epsilon", "0.1"], "adversarial of test image 0"),
    (["classmodel", "--target", "2", "7", "--steps", "3"], "class models of classes 2 7"),
    (["classmodel", "--steps", "2"], "class models of classes 0 1 2 3 4 5 6 7 8 9"),
    (["neighbours", "--count", "40", "-k", "3", "--queries", "5", "7"],
     "3 nearest neighbours of test images 5 7 among 40"),
    (["embedding", "--count", "40"], "pca of the CNN codes of 40 test images"),
])
def test_lecture_pictures_are_written_and_say_the_weights(tmp_path, capsys, argv, says):
    np.save(tmp_path / "digit.npy", np.random.default_rng(0).integers(0, 256, (8, 8),
                                                                       dtype=np.uint8))
    out = tmp_path / "picture.png"
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, text = run_cli(capsys, "viz", *argv, "--out", str(out))
    assert code == 0 and written(out) and says.format(tmp=tmp_path) in text


def test_embedding_by_tsne_without_scikit_learn_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sklearn", None)      # as if not installed
    code, _, err = failing_cli(capsys, "viz", "embedding", "--method", "tsne", "--out",
                               str(tmp_path / "e.png"))
    assert_one_line_error(code, err, (1,))
    assert "needs scikit-learn (pip install scikit-learn)" in err
    assert not (tmp_path / "e.png").exists()


def test_titles_name_the_weights_file_or_say_untrained(tmp_path, capsys, checkpoint, monkeypatch):
    titles = []
    save = mc.cli.viz.save_figure
    monkeypatch.setattr(mc.cli.viz, "save_figure",
                        lambda fig, out: (titles.append(fig._suptitle.get_text()), save(fig, out)))
    out = str(tmp_path / "f.png")
    run_cli(capsys, "viz", "filters", "--out", out)
    run_cli(capsys, "viz", "saliency", "--weights", checkpoint, "--out", out)
    assert "small_cnn, untrained (random weights)" in " ".join(titles[0].split())
    assert "small_cnn, checkpoint.npz" in " ".join(titles[1].split())
    assert "untrained" not in titles[1]


def test_imagenet_models_default_to_a_photo_and_small_images_get_a_warning(tmp_path, capsys):
    out = tmp_path / "gradcam.png"
    code, text = run_cli(capsys, "viz", "gradcam", "--model", "squeezenet1_1", "--out", str(out))
    assert code == 0 and written(out) and "gradcam of photo cat (squeezenet1_1, untrained" in text
    assert capsys.readouterr().err == ""
    code, text, err = failing_cli(capsys, "viz", "features", "--model", "squeezenet1_1",
                                  "--layer", "features.0", "--index", "3", "--image-size", "64",
                                  "--out", str(out))
    assert code == 0 and "test image 3" in text
    assert "warning: the image is 64x64, far below squeezenet1_1's input size 224x224" in err
    code, text = run_cli(capsys, "viz", "classmodel", "--model", "squeezenet1_1", "--steps", "1",
                         "--out", str(out))       # one class by default at 224x224
    assert code == 0 and "the class model of class 0 (squeezenet1_1" in text
    code, text, err = failing_cli(capsys, "viz", "saliency", "--photo", "coffee", "--out", str(out))
    assert code == 1 and "--photo is RGB but the model takes 1-channel images" in err


def test_torchvision_weights_are_named_and_get_the_photo(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    path = tmp_path / "squeezenet1_1-demo.pth"
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    out = tmp_path / "saliency.png"
    code, text = run_cli(capsys, "viz", "saliency", "--model", "squeezenet1_1", "--weights",
                         str(path), "--photo", "coffee", "--out", str(out))
    assert code == 0 and written(out)
    assert "saliency of photo coffee (squeezenet1_1, squeezenet1_1-demo.pth)" in text


@pytest.fixture(scope="module")
def half_dead(tmp_path_factory):
    """A small_cnn checkpoint whose first block's channel 0 never fires (batch-norm bias
    -100 before the ReLU) and channel 1 always does (+100)."""
    model = mc.models.small_cnn()
    model.features[0][1].bias.data[:2] = [-100.0, 100.0]
    path = tmp_path_factory.mktemp("ckpt") / "half_dead.npz"
    config = {**TRAIN_DEFAULTS, "num_classes": 10, "in_channels": 1, "rgb": False}
    mc.io.save_checkpoint(path, model, None, epoch=1, config=config)
    return str(path)


def test_rf_says_when_the_unit_is_dead_for_the_image(tmp_path, capsys, half_dead):
    out = str(tmp_path / "rf.png")
    base = ["viz", "rf", "--weights", half_dead, "--layer", "features.0.2", "--position", "3",
            "3", "--index", "5", "--out", out]
    code, text = run_cli(capsys, *base, "--channel", "0")
    assert code == 0 and "the unit is DEAD for test image 5" in text
    alive = re.search(r"channels whose output here is not 0: ([\d, .()a-z]+) \(--channel\)", text)
    assert alive and "1" in alive.group(1).replace(",", " ").split()
    assert "0" not in alive.group(1).replace(",", " ").split()
    code, text = run_cli(capsys, *base, "--channel", "1")
    assert code == 0 and "DEAD" not in text


# ----- mistakes: one line, exit status 1 or 2 ----------------------------------------------
@pytest.mark.parametrize("argv, status, message", [
    (["viz"], 2, "required: PICTURE"),
    (["viz", "graph", "--out", "graph.txt"], 1, "--out must end in .svg, .png, .pdf, .dot"),
    (["viz", "filters", "--out", "{tmp}"], 1, "--out must end in .png"),
    (["viz", "filters", "--out", "{tmp}/folder.png"], 1, "is a folder"),
    (["viz", "filters", "--layer", "fc"], 1, "'fc' is a Linear, not a Conv2d"),
    (["viz", "filters", "--layer", "conv9"], 1, "has no layer 'conv9'"),
    (["viz", "filters", "--channel", "1"], 1, "channel 1 out of range for 1 input channels"),
    (["viz", "filters", "--max-filters", "0"], 2, "--max-filters: expected a whole number >= 1"),
    (["viz", "filters", "--scale", "map"], 2, "invalid choice: 'map'"),
    (["viz", "features"], 2, "required: --layer"),
    (["viz", "features", "--layer", "fc"], 1, "not feature maps"),
    (["viz", "features", "--layer", "features.0.2", "--index", "355"], 1,
     "--index 355 is out of range: the test split has 355 images"),
    (["viz", "features", "--layer", "features.0.2", "--index", "1", "--image", "x.png"], 2,
     "not allowed with argument --index"),
    (["viz", "features", "--layer", "features.0.2", "--image", "{tmp}/none.png"], 1,
     "--image {tmp}/none.png: no such file"),
    (["viz", "features", "--layer", "features.0.2", "--max-maps", "-2"], 2,
     "--max-maps: expected a whole number >= 1"),
    (["viz", "rf", "--layer", "features.0.0", "--position", "1"], 2,
     "--position: expected 2 arguments"),
    (["viz", "rf", "--layer", "features.0.0", "--position", "8", "0"], 1,
     "is outside the output of 'features.0.0'"),
    (["viz", "rf", "--layer", "features.0.0", "--position", "0", "-1"], 2,
     "--position: expected a whole number >= 0"),
    (["viz", "rf", "--layer", "fc", "--position", "0", "0"], 1, "needs feature maps"),
    (["viz", "rf", "--layer", "features.0.0", "--position", "0", "0", "--input-size", "1", "0",
      "8"], 2, "--input-size: expected a whole number >= 1"),
    (["viz", "rf", "--layer", "features.0.0", "--position", "0", "0", "--input-size", "3", "8",
      "8"], 1, "expected input with 1 channels"),
    (["viz", "rf", "--layer", "features.0.0", "--position", "0", "0", "--input-size", "1", "8",
      "8", "--index", "2"], 1, "--input-size draws on noise"),
    (["viz", "cam"], 1, "CAM does not apply"),
    (["viz", "gradcam", "--layer", "fc"], 1, "Grad-CAM needs feature maps"),
    (["viz", "occlusion", "--size", "9"], 1, "larger than the image"),
    (["viz", "saliency", "--target", "10"], 1, "class 10 is outside the model's 10 outputs"),
    (["viz", "neighbours", "--count", "10", "--queries", "10"], 1, "not among the 10 images"),
    (["viz", "neighbours", "--count", "3", "-k", "3", "--queries", "0"], 1, "-k 3 needs more than 3 images"),
    (["viz", "classmodel", "--steps", "0"], 2, "--steps: expected a whole number >= 1"),
    (["viz", "adversarial", "--epsilon", "0"], 2, "--epsilon: expected a finite number > 0"),
    (["viz", "embedding", "--method", "umap"], 2, "invalid choice: 'umap'"),
    (["viz", "graph", "--model", "lenet"], 1, "unknown model 'lenet'"),
    (["viz", "graph", "--weights", "{tmp}/missing.npz"], 1, "no such file"),
    (["viz", "graph", "--dataset", "mnist"], 1, "needs a path"),
    (["viz", "graph", "--image-size", "0"], 2, "--image-size: expected a whole number >= 1"),
    (["demo", "--index", "400"], 1, "--index 400 is out of range"),
    (["demo", "--out", "{tmp}/file.txt"], 1, "is a file, not a folder"),
])
def test_a_mistake_gets_one_line(tmp_path, capsys, monkeypatch, argv, status, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, out, err = failing_cli(capsys, *argv)
    assert_one_line_error(code, err, (status,))
    assert message.format(tmp=tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder.png"]


# ----- demo ------------------------------------------------------------------------------
def test_demo_writes_the_pictures(tmp_path, capsys, monkeypatch):
    titles = []
    save = mc.cli.demo.save_figure
    monkeypatch.setattr(mc.cli.demo, "save_figure",
                        lambda fig, out: (titles.append(fig._suptitle.get_text()), save(fig, out)))
    code, out = run_cli(capsys, "demo", "--seed", "1", "--index", "12", "--out",
                        str(tmp_path / "demo"))
    assert len(titles) == 2 and all("untrained (random weights)" in " ".join(t.split())
                                    for t in titles)
    assert code == 0 and out.rstrip().endswith("all checks passed")
    for name in ("graph.dot", "filters.png", "features.png"):
        assert written(tmp_path / "demo" / name), name
    dot = (tmp_path / "demo" / "graph.dot").read_text()
    for label in ("conv.weight", "bn.bias", "fc.weight", "Conv2dBackward", "MaxPoolBackward"):
        assert label in dot


def test_demo_catches_a_wrong_gradient(capsys, monkeypatch):
    """Max pooling's backward, off by 0.1%: every parameter before the pooling fails."""
    right = pool.MaxPool.backward
    monkeypatch.setattr(pool.MaxPool, "backward", lambda self, g: right(self, g) * 1.001)
    code, out, err = failing_cli(capsys, "demo")
    assert code == 1 and out.rstrip().endswith("FAILED: gradients")
    verdicts = dict(re.findall(r"^(\w+\.\w+) .* (ok|FAIL)$", out, flags=re.M))
    assert verdicts == {"conv.weight": "FAIL", "conv.bias": "ok", "bn.weight": "FAIL",
                        "bn.bias": "FAIL", "fc.weight": "ok", "fc.bias": "ok"}
