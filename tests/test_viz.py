"""mc.viz: the autograd graph as DOT, filter grids, feature maps and receptive fields.

The tests check what the pictures say (which ops, how many tiles, which box), never pixels.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import nn, viz

pytest.importorskip("matplotlib", reason="mc.viz draws with matplotlib, a minicnn dependency")


def small_net():
    mc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.Flatten(), nn.Linear(24, 5))


def images(n=2, c=3, size=8, seed=0):
    return mc.tensor(np.random.default_rng(seed).random((n, c, size, size), dtype=np.float32))


def ops_behind(t):
    """Every Function reachable from t, found with a plain recursion (not viz's walk)."""
    found = {}

    def visit(fn):
        if isinstance(fn, mc.Function) and id(fn) not in found:
            found[id(fn)] = fn
            for parent in fn.parents:       # None, a leaf Tensor or a Function
                visit(parent)
    visit(t.grad_fn)
    return list(found.values())


def dot_nodes(dot):
    """node id -> label, and the edges, of the DOT text viz.graph writes."""
    nodes = dict(re.findall(r'^\s*(n\d+) \[label="([^"]*)"', dot, flags=re.M))
    edges = re.findall(r"^\s*(n\d+) -> (n\d+);", dot, flags=re.M)
    return nodes, edges


# ----- graph ---------------------------------------------------------------------------
def test_graph_names_every_op_and_parameter():
    model = small_net()
    loss = F.cross_entropy(model(images()), mc.tensor(np.array([1, 3])))
    dot = viz.graph(loss, params=dict(model.named_parameters()))
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    nodes, edges = dot_nodes(dot)
    labels = list(nodes.values())
    ops = ops_behind(loss)
    op_labels = [l for l in labels if "Backward" in l]
    assert len(op_labels) == len(ops)                          # one node per op ...
    for fn in ops:                                             # ... with its name
        assert sum(l.startswith(fn.name() + "\\n") for l in op_labels) == \
            sum(f.name() == fn.name() for f in ops)
    for name in ("Conv2dBackward", "BatchNormBackward", "ReLUBackward", "MaxPoolBackward",
                 "LinearBackward", "CrossEntropyBackward"):
        assert any(l.startswith(name) for l in op_labels), name
    assert "Conv2dBackward\\n(2, 4, 8, 8)" in labels           # output shapes
    assert "MaxPoolBackward\\n(2, 4, 4, 4)" in labels
    for name, p in model.named_parameters():                   # every parameter, by name
        assert f"{name}\\n{p.shape}" in labels, name
    assert all(a in nodes and b in nodes for a, b in edges)
    # the parameters feed the right ops: 0.weight -> the first convolution
    node_of = {label: node for node, label in nodes.items()}
    first_conv = node_of["Conv2dBackward\\n(2, 4, 8, 8)"]
    assert (node_of["0.weight\\n(4, 3, 3, 3)"], first_conv) in edges
    assert (node_of["4.weight\\n(6, 4, 3, 3)"], node_of["Conv2dBackward\\n(2, 6, 2, 2)"]) in edges


def test_graph_draws_branches_and_leaves_without_names():
    x = mc.tensor(np.ones((2, 3)), requires_grad=True)
    h = x.relu()
    y = (h * h + h.exp()).sum()                 # h feeds two ops, which meet in the add
    nodes, edges = dot_nodes(viz.graph(y))
    node_of = {label: node for node, label in nodes.items()}
    assert "tensor\\n(2, 3)" in node_of         # an unnamed leaf: its shape
    relu = node_of["ReLUBackward\\n(2, 3)"]
    assert sum(a == relu for a, _ in edges) == 3           # twice into mul, once into exp
    add = node_of["AddBackward\\n(2, 3)"]
    assert {node_of["MulBackward\\n(2, 3)"], node_of["ExpBackward\\n(2, 3)"]} == \
        {a for a, b in edges if b == add}


def test_graph_needs_a_graph():
    model = small_net()
    with mc.no_grad():
        y = model(images())
    with pytest.raises(ValueError, match="grad_fn"):
        viz.graph(y)


def test_render_without_graphviz_writes_the_dot_and_says_how_to_view_it(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    dot = viz.graph(small_net()(images()).sum())
    with pytest.raises(viz.GraphvizNotFound, match="install Graphviz") as error:
        viz.render(dot, tmp_path / "graph.svg")
    assert "online viewer" in str(error.value)
    assert (tmp_path / "graph.dot").read_text() == dot
    assert not (tmp_path / "graph.svg").exists()
    assert viz.render(dot, tmp_path / "g.dot") == str(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == dot
    with pytest.raises(ValueError, match=".svg, .png"):
        viz.render(dot, tmp_path / "graph.jpeg")


def test_render_runs_dot_with_the_format_of_the_file_name(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dot"            # a stand-in for Graphviz: records its call
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$1 $2" > "$3"\ncat >> "$3"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent) + os.pathsep + os.environ["PATH"])
    dot = viz.graph(small_net()(images()).sum())
    viz.render(dot, tmp_path / "graph.png")
    written = (tmp_path / "graph.png").read_text()
    assert written == "-Tpng -o\n" + dot


def test_render_that_fails_half_way_leaves_no_half_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dot"            # writes half a picture, then fails
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "half" > "$3"\necho "dot: out of memory" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent) + os.pathsep + os.environ["PATH"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "graph.png").write_text("the picture of the last run")
    with pytest.raises(RuntimeError, match="`dot` failed on .*graph.png: dot: out of memory"):
        viz.render(viz.graph(small_net()(images()).sum()), out / "graph.png")
    assert sorted(p.name for p in out.iterdir()) == ["graph.png"]
    assert (out / "graph.png").read_text() == "the picture of the last run"


# ----- filters and feature maps ---------------------------------------------------------
def tiles(fig):
    """The image of every tile, in order."""
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert all(len(ax.images) == 1 for ax in axes)
    return [np.asarray(ax.images[0].get_array()) for ax in axes]


def test_filters_rgb_one_colour_tile_per_filter():
    w = np.random.default_rng(0).standard_normal((5, 3, 4, 4))
    shown = tiles(viz.filters(w, scale="filter"))
    assert len(shown) == 5
    for tile, filt in zip(shown, w):
        assert tile.shape == (4, 4, 3)
        assert tile.min() == 0 and tile.max() == 1              # stretched to the full range
        expected = (filt - filt.min()) / (filt.max() - filt.min())
        np.testing.assert_allclose(tile, expected.transpose(1, 2, 0))


def test_filters_grey_and_per_channel():
    layer = nn.Conv2d(1, 7, 3)
    assert [t.shape for t in tiles(viz.filters(layer))] == [(3, 3)] * 7    # a layer works too
    w = np.random.default_rng(1).standard_normal((4, 5, 3, 3))
    fig = viz.filters(w)                      # one row per filter, one tile per channel
    assert len(tiles(fig)) == 20
    assert fig.axes[0].get_subplotspec().get_geometry()[:2] == (4, 5)
    assert len(tiles(viz.filters(w, max_channels=2))) == 8
    assert len(tiles(viz.filters(w, channel=2))) == 4
    np.testing.assert_allclose(tiles(viz.filters(w, channel=2, scale="filter"))[1],
                               (w[1, 2] - w[1, 2].min()) / np.ptp(w[1, 2]))
    assert len(tiles(viz.filters(w, max_filters=3))) == 15
    layer_wide = tiles(viz.filters(w, scale="layer"))
    assert min(t.min() for t in layer_wide) == 0 and max(t.max() for t in layer_wide) == 1
    assert sum(t.max() == 1 for t in layer_wide) == 1        # one range for the whole layer
    with pytest.raises(ValueError, match="'layer'.*'filter'"):
        viz.filters(w, scale="each")
    with pytest.raises(ValueError, match="channel 5 out of range"):
        viz.filters(w, channel=5)
    with pytest.raises(ValueError, match=r"\(C_out, C_in, kh, kw\)"):
        viz.filters(np.zeros((3, 3)))


def test_feature_maps_one_tile_per_channel():
    model = small_net()
    model.train()
    x = images(1, seed=3)
    shown = tiles(viz.feature_maps(model, x[0], "2", scale="map"))
    assert len(shown) == 4
    assert model.training                              # the mode is restored
    model.eval()
    with mc.no_grad():
        maps = model[2](model[1](model[0](x))).numpy()[0]      # the ReLU's output, by hand
    for tile, m in zip(shown, maps):
        np.testing.assert_allclose(tile, (m - m.min()) / np.ptp(m), atol=1e-6)
    assert len(tiles(viz.feature_maps(model, x, "4", max_maps=5))) == 5
    with pytest.raises(ValueError, match="no layer 'conv9'.*'0'"):
        viz.feature_maps(model, x, "conv9")
    with pytest.raises(ValueError, match="one image"):
        viz.feature_maps(model, images(2), "2")
    with pytest.raises(ValueError, match="not feature maps"):
        viz.feature_maps(model, x, "6")
    with pytest.raises(ValueError, match="max_maps must be a positive int, got 0"):
        viz.feature_maps(model, x, "2", max_maps=0)
    with pytest.raises(ValueError, match="max_filters must be a positive int, got 0"):
        viz.filters(model[0], max_filters=0)


# ----- receptive fields -----------------------------------------------------------------
def positive(model):
    """All weights positive: with a positive input every ReLU passes and every path from
    an input pixel to a unit carries gradient, so the gradient is nonzero exactly on the
    receptive field."""
    for p in model.parameters():
        p.data[...] = np.abs(p.data) + 0.1
    return model


class Residual(nn.Module):
    """x + conv(conv(x)), then a concatenation with a pooled copy: paths of different
    widths join."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 3, padding=1)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.out = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        y = x + self.b(F.relu(self.a(x)))
        return self.out(F.cat([y, self.pool(x)], 1))


@pytest.mark.parametrize("net, input_size, layer, positions, nominal", [
    # conv 3x3 pad 1 -> avg pool 2 -> conv 3x3 stride 2 pad 1: 3 + 1*1 + 2*2 = 8
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                           nn.Conv2d(2, 2, 3, stride=2, padding=1)),
     (1, 12, 12), "3", [(0, 0), (1, 2), (2, 2)], (8, 8)),
    # three stacked 3x3 convs see 7x7, like one 7x7
    (lambda: nn.Sequential(*[nn.Conv2d(1 if i == 0 else 2, 2, 3) for i in range(3)]),
     (1, 9, 9), "2", [(0, 0), (1, 2), (2, 2)], (7, 7)),
    # a 5x3 kernel with stride (1, 2)
    (lambda: nn.Sequential(nn.Conv2d(1, 2, (5, 3), stride=(1, 2), padding=(2, 0))),
     (1, 6, 9), "0", [(0, 0), (3, 2), (5, 3)], (5, 3)),
    (Residual, (2, 7, 7), "", [(0, 0), (3, 3), (6, 2)], (5, 5)),
])
def test_receptive_field_is_where_the_gradient_is_nonzero(net, input_size, layer, positions,
                                                          nominal):
    mc.manual_seed(0)
    model = positive(net().double())
    for position in positions:
        field = viz.receptive_field_of(model, input_size, layer, position, channel=1)
        np.testing.assert_array_equal(field.gradient > 0, field.mask, err_msg=str(position))
        assert field.nominal == nominal                    # the summary's arithmetic
        assert field.size[0] <= nominal[0] and field.size[1] <= nominal[1]


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_receptive_field_numbers_at_centre_and_corner(algorithm, monkeypatch):
    from minicnn.functional import conv_algorithm
    monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", algorithm)   # the same field either way
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])
    centre = viz.receptive_field_of(model, (1, 11, 11), "2", (5, 5))
    assert (centre.rows, centre.cols, centre.size) == ((2, 8), (2, 8), (7, 7))
    assert centre.nominal == (7, 7)
    corner = viz.receptive_field_of(model, (1, 11, 11), "2", (0, 10))
    assert (corner.rows, corner.cols, corner.size) == ((0, 3), (7, 10), (4, 4))  # half is padding


def test_receptive_field_with_max_pooling_and_relu_contains_the_gradient():
    model = small_net()                      # random weights: some paths are switched off
    for position in [(0, 0), (1, 1)]:
        field = viz.receptive_field_of(model, (3, 8, 8), "4", position, channel=2)
        nonzero = field.gradient > 0
        assert nonzero.any() and not (nonzero & ~field.mask).any()
    assert viz.receptive_field_of(model, (3, 8, 8), "4", (1, 1)).rows == (1, 7)
    assert all(p.grad is None for p in model.parameters())     # the model is left alone
    with pytest.raises(ValueError, match="outside the output"):
        viz.receptive_field_of(model, (3, 8, 8), "4", (2, 0))
    with pytest.raises(ValueError, match="feature maps"):
        viz.receptive_field_of(model, (3, 8, 8), "6", (0, 0))


def test_receptive_field_figure_draws_the_field_on_the_gradient():
    from matplotlib.patches import Rectangle
    model = positive(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, stride=2)))
    fig = viz.receptive_field(model, (1, 9, 9), "1", (0, 3))
    ax, bar = fig.axes
    assert bar.get_label() == "<colorbar>"
    shown = np.asarray(ax.images[0].get_array())
    nonzero = np.argwhere(shown > 0)
    (r0, c0), (r1, c1) = nonzero.min(axis=0), nonzero.max(axis=0)
    box, = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert (box.get_x(), box.get_y()) == (c0 - 0.5, r0 - 0.5)
    assert (box.get_width(), box.get_height()) == (c1 - c0 + 1, r1 - r0 + 1)
    assert (r0, r1, c0, c1) == (0, 3, 5, 8)
    title = fig._suptitle.get_text()
    assert "nominal 5x5" in title and "DEAD" not in title


def test_import_minicnn_does_not_import_matplotlib():
    code = ("import sys, minicnn; "
            "assert not [m for m in sys.modules if m.startswith('matplotlib')], 'matplotlib'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----- saliency, Grad-CAM and adversarial examples, against the same computations in torch --------
def _twin_nets():
    import torch
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.Conv2d(4, 5, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                 torch.nn.Linear(5, 3)).double()
    mine = mc.nn.Sequential(mc.nn.Conv2d(3, 4, 3, padding=1), mc.nn.ReLU(),
                            mc.nn.Conv2d(4, 5, 3, padding=1), mc.nn.ReLU(),
                            mc.nn.AdaptiveAvgPool2d(1), mc.nn.Flatten(), mc.nn.Linear(5, 3)).to(np.float64)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((3, 6, 7))
    return mine, theirs, x


def test_saliency_is_the_class_scores_input_gradient_as_torch_computes_it():
    import torch
    mine, theirs, x = _twin_nets()
    t = torch.tensor(x[None], requires_grad=True)
    theirs(t)[0, 2].backward()
    expected = t.grad[0].abs().amax(dim=0).numpy()
    np.testing.assert_allclose(viz.saliency(mine, x, target=2), expected, rtol=1e-10)
    assert all(p.grad is None for p in mine.parameters())            # the model's grads untouched


def test_grad_cam_weights_the_layers_maps_by_their_mean_gradient_as_torch_computes_it():
    import torch
    mine, theirs, x = _twin_nets()
    kept = {}
    def keep(module, inputs, output):
        output.retain_grad()
        kept["a"] = output
    theirs[2].register_forward_hook(keep)
    scores = theirs(torch.tensor(x[None]))
    predicted = int(scores.argmax())
    scores[0, predicted].backward()
    a, g = kept["a"][0].detach().numpy(), kept["a"].grad[0].numpy()
    expected = np.maximum(np.tensordot(g.mean(axis=(1, 2)), a, axes=1), 0)
    cam = viz.grad_cam(mine, x, layer="2")
    assert cam.shape == (6, 7) and expected.max() > 0
    np.testing.assert_allclose(cam, expected, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="Grad-CAM needs feature maps"):
        viz.grad_cam(mine, x, layer="6")
    with pytest.raises(ValueError, match="has no layer 'conv9'"):
        viz.grad_cam(mine, x, layer="conv9")


def test_adversarial_step_is_the_sign_of_the_loss_gradient_as_torch_computes_it():
    import torch
    mine, theirs, x = _twin_nets()
    t = torch.tensor(x[None], requires_grad=True)
    torch.nn.functional.cross_entropy(theirs(t), torch.tensor([1])).backward()
    expected = x + 0.05 * np.sign(t.grad[0].numpy())
    moved, before, after = viz.adversarial(mine, x, target=1, epsilon=0.05)
    np.testing.assert_allclose(moved, expected, rtol=1e-12)
    assert before == int(theirs(torch.tensor(x[None])).argmax())
    assert after == int(theirs(torch.tensor(moved[None])).argmax())
