"""mc.viz for the visualisation lecture: CAM, guided backprop, occlusion, class models and
CNN codes, each against the same computation written in PyTorch (or a closed form), and
the pictures' promises: which model and weights, colour bars, dead units, titles that fit.
"""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import nn, viz
from tests.test_viz import _twin_nets

pytest.importorskip("matplotlib", reason="mc.viz draws with matplotlib, a minicnn dependency")
torch = pytest.importorskip("torch", reason="the pictures' numbers are checked against torch")


def title_of(fig):
    return fig._suptitle.get_text()


def title_words(fig):
    return " ".join(title_of(fig).split())


def pictures(fig):
    """The arrays of the figure's images, panel by panel (colour bars left out)."""
    return [[np.asarray(im.get_array()) for im in ax.images]
            for ax in fig.axes if ax.get_label() != "<colorbar>"]


def colour_bars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


# ----- CAM --------------------------------------------------------------------------------
def test_cam_is_the_classifiers_weights_over_the_pooled_maps_as_torch_computes_it():
    mine, theirs, x = _twin_nets()
    kept = {}
    theirs[3].register_forward_hook(lambda m, i, out: kept.update(a=out))   # the last ReLU
    scores = theirs(torch.tensor(x[None]))[0].detach().numpy()
    a = kept["a"][0].detach().numpy()                                        # (5, 6, 7)
    w, b = theirs[6].weight.detach().numpy(), theirs[6].bias.detach().numpy()
    for target in range(3):
        found = viz.cam(mine, x, target)
        np.testing.assert_allclose(found.map, np.tensordot(w[target], a, axes=1), rtol=1e-10)
        assert (found.layer, found.classifier, found.target) == ("3", "6", target)
        # the map's mean plus the bias is the class score
        np.testing.assert_allclose(found.map.mean() + b[target], scores[target], rtol=1e-10)
    assert viz.cam(mine, x).target == int(scores.argmax())
    # with global average pooling, Grad-CAM of that layer is relu(CAM) / (h * w)
    np.testing.assert_allclose(viz.grad_cam(mine, x, "3", target=1),
                               np.maximum(viz.cam(mine, x, 1).map, 0) / 42, rtol=1e-10, atol=1e-15)


def test_cam_refuses_a_model_without_global_average_pooling():
    mc.manual_seed(0)
    flat = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    with pytest.raises(ValueError, match="not the global average.*use viz.grad_cam"):
        viz.cam(flat, np.ones((1, 6, 6)))
    with pytest.raises(ValueError, match="no Linear layer"):
        viz.cam(nn.Sequential(nn.Conv2d(1, 2, 3)), np.ones((1, 6, 6)))


def test_cam_finds_the_pooled_layer_of_a_real_model():
    model = mc.models.resnet18(num_classes=4).eval()
    found = viz.cam(model, np.random.default_rng(0).random((3, 64, 64)), target=2)
    assert (found.layer, found.classifier, found.map.shape) == ("layer4", "fc", (2, 2))


def test_cam_through_a_functional_relu_before_the_pool():
    """DenseNet pools F.relu(features): the maps are relu of the last module's output."""
    mine, theirs, x = _twin_nets()
    kept = {}
    theirs[3].register_forward_hook(lambda m, i, out: kept.update(a=out))
    theirs(torch.tensor(x[None]))
    w = theirs[6].weight.detach().numpy()
    found = viz.cam(FunctionalReLUs(mine), x, target=0)
    assert (found.layer, found.classifier) == ("relu(conv2)", "fc")
    np.testing.assert_allclose(found.map, np.tensordot(w[0], kept["a"][0].detach().numpy(), 1),
                               rtol=1e-10)


# ----- guided backprop -----------------------------------------------------------------------
def torch_guided(theirs, x, target):
    """Guided backprop in torch, the usual way: a backward hook on each ReLU module that
    keeps only the positive part of the gradient it passes on."""
    handles = [m.register_full_backward_hook(lambda m, gi, go: (gi[0].clamp(min=0),))
               for m in theirs.modules() if isinstance(m, torch.nn.ReLU)]
    t = torch.tensor(x[None], requires_grad=True)
    theirs(t)[0, target].backward()
    for h in handles:
        h.remove()
    return t.grad[0].numpy()


class FunctionalReLUs(nn.Module):
    """The twin net with its ReLUs called as F.relu in forward (as GoogLeNet's are)."""

    def __init__(self, seq):
        super().__init__()
        self.conv1, self.conv2, self.fc = seq[0], seq[2], seq[6]

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_guided_backprop_is_torchs_with_relu_hooks_for_module_and_functional_relus():
    mine, theirs, x = _twin_nets()
    expected = torch_guided(theirs, x, 2)
    np.testing.assert_allclose(viz.guided_backprop(mine, x, 2), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(viz.guided_backprop(FunctionalReLUs(mine), x, 2), expected,
                               rtol=1e-10, atol=1e-14)
    plain = torch.tensor(x[None], requires_grad=True)
    theirs(plain)[0, 2].backward()
    assert not np.allclose(expected, plain.grad[0].numpy())      # guiding changed something
    # and afterwards ReLU's backward is plain again
    np.testing.assert_allclose(viz.saliency(mine, x, 2), np.abs(plain.grad[0].numpy()).max(0),
                               rtol=1e-10)
    assert all(p.grad is None for p in mine.parameters())


# ----- occlusion ------------------------------------------------------------------------------
def test_occlusion_is_the_class_probability_with_the_patch_at_each_place_as_in_torch():
    mine, theirs, x = _twin_nets()                        # x: (3, 6, 7)
    found = viz.occlusion(mine, x, target=1, size=3, stride=2, value=0.5, batch_size=4)
    expected = np.zeros((2, 3))                           # tops 0, 2; lefts 0, 2, 4
    for i, top in enumerate((0, 2)):
        for j, left in enumerate((0, 2, 4)):
            covered = x.copy()
            covered[:, top:top + 3, left:left + 3] = 0.5
            expected[i, j] = torch.softmax(theirs(torch.tensor(covered[None])), 1)[0, 1].item()
    np.testing.assert_allclose(found.probability, expected, rtol=1e-10)
    baseline = torch.softmax(theirs(torch.tensor(x[None])), 1)[0, 1].item()
    assert found.baseline == pytest.approx(baseline, rel=1e-10)
    assert (found.target, found.size, found.stride) == (1, 3, 2)
    assert viz.occlusion(mine, x).probability.shape == (6, 7)     # size 1 (6 // 4), stride 1
    with pytest.raises(ValueError, match="larger than the image"):
        viz.occlusion(mine, x, size=7)


# ----- class-model visualisation -----------------------------------------------------------------
def test_class_model_of_a_linear_model_follows_the_closed_form():
    """S = w . I + b: gradient ascent on S - l2 |I|^2 from 0 gives
    I_t = w / (2 l2) * (1 - (1 - 2 l2 lr)^t), tending to the optimum w / (2 l2)."""
    mc.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).to(np.float64)
    w = model[1].weight.numpy()[2].reshape(1, 3, 4)
    for steps, lr, l2 in [(1, 1.0, 0.1), (7, 0.5, 0.05), (400, 1.0, 0.1)]:
        image = viz.class_model(model, 2, (1, 3, 4), steps=steps, lr=lr, l2=l2)
        np.testing.assert_allclose(image, w / (2 * l2) * (1 - (1 - 2 * l2 * lr) ** steps),
                                   rtol=1e-10)
    np.testing.assert_allclose(image, w / 0.2, rtol=1e-8)


def test_class_model_steps_are_torchs_gradient_ascent():
    mine, theirs, _ = _twin_nets()
    t = torch.zeros((1, 3, 6, 7), dtype=torch.float64)
    for _ in range(3):
        t.requires_grad_(True)
        theirs(t)[0, 0].backward()
        t = (t + 0.5 * (t.grad - 2 * 0.1 * t)).detach()
    image = viz.class_model(mine, 0, (3, 6, 7), steps=3, lr=0.5, l2=0.1)
    np.testing.assert_allclose(image, t[0].numpy(), rtol=1e-10, atol=1e-14)
    assert all(p.grad is None for p in mine.parameters()) and mine.training


# ----- CNN codes, nearest neighbours, PCA ------------------------------------------------------------
def test_cnn_codes_are_the_classifiers_input_as_torch_computes_it():
    mine, theirs, _ = _twin_nets()
    images = np.random.default_rng(5).standard_normal((5, 3, 6, 7))
    expected = theirs[:6](torch.tensor(images)).detach().numpy()           # (5, 5)
    np.testing.assert_allclose(viz.cnn_codes(mine, images, batch_size=2), expected, rtol=1e-10)
    maps = theirs[:4](torch.tensor(images)).detach().numpy().reshape(5, -1)
    np.testing.assert_allclose(viz.cnn_codes(mine, images, layer="3"), maps, rtol=1e-10)
    # with two Linear layers the code is the input of the last one that runs
    mc.manual_seed(1)
    head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 7, 4), nn.ReLU(), nn.Linear(4, 2))
    with mc.no_grad():
        hidden = head[2](head[1](head[0](mc.tensor(images.astype(np.float32))))).numpy()
    np.testing.assert_allclose(viz.cnn_codes(head, images), hidden, rtol=1e-6)


def test_nearest_neighbours_by_euclidean_distance():
    codes = np.array([[0.0, 0], [1, 0], [3, 0], [0, 2], [10, 10]])
    np.testing.assert_array_equal(viz.nearest_neighbours(codes, codes[[0, 2]], k=3),
                                  [[0, 1, 3], [2, 1, 0]])       # 2: 1 at distance 2, 0 at 3
    np.testing.assert_array_equal(viz.nearest_neighbours(codes, [2.9, 1.0], k=1), [[2]])
    with pytest.raises(ValueError, match="only 5 codes"):
        viz.nearest_neighbours(codes, codes[0], k=6)


def test_pca_projects_on_the_covariances_top_eigenvectors():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((40, 6)) @ np.diag([5.0, 3, 1, 0.5, 0.2, 0.1]) + 7
    xy, explained = viz.pca(codes)
    values, vectors = np.linalg.eigh(np.cov(codes.T))              # ascending
    top = vectors[:, ::-1][:, :2]
    centred = codes - codes.mean(0)
    np.testing.assert_allclose(np.abs(xy), np.abs(centred @ top), rtol=1e-8)
    np.testing.assert_allclose(explained, values[::-1][:2] / values.sum(), rtol=1e-8)
    assert explained[0] > 0.6
    np.testing.assert_allclose(viz.embedding(codes), xy)
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        viz.embedding(codes, "umap")


def test_tsne_needs_scikit_learn_and_keeps_the_clusters(monkeypatch):
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.standard_normal((15, 5)), rng.standard_normal((15, 5)) + 20])
    with monkeypatch.context() as m:
        m.setitem(__import__("sys").modules, "sklearn", None)       # as if not installed
        with pytest.raises(ImportError, match="pip install scikit-learn"):
            viz.embedding(codes, "tsne")
    pytest.importorskip("sklearn", reason="t-SNE is optional: pip install scikit-learn")
    xy = viz.embedding(codes, "tsne")
    centre = xy[:15].mean(0), xy[15:].mean(0)        # two far clusters stay apart
    spread = max(np.linalg.norm(xy[:15] - centre[0], axis=1).max(),
                 np.linalg.norm(xy[15:] - centre[1], axis=1).max())
    assert np.linalg.norm(centre[0] - centre[1]) > spread


# ----- pictures a learner can trust ---------------------------------------------------------------
def test_the_title_says_untrained_loaded_or_changed(tmp_path):
    model = mc.models.small_cnn()
    assert viz.weights_origin(model) == "untrained (random weights)"
    assert "SmallCNN, untrained (random weights)" in title_of(
        viz.filters(model.features[0][0], about=viz.describe(model)))
    fig = viz.filters(model, layer="features.1.0")
    assert "features.1.0 of SmallCNN, untrained (random weights)" in title_words(fig)
    np.testing.assert_allclose(pictures(fig)[1][0], pictures(viz.filters(model.features[1][0]))[1][0])
    x = np.random.default_rng(0).random((1, 8, 8))
    assert "untrained" in title_of(viz.feature_maps(model, x, "features.0.2"))
    path = tmp_path / "my-digits.pth"
    torch.save({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()}, path)
    loaded = mc.models.small_cnn(str(path))
    assert viz.weights_origin(loaded) == "my-digits.pth"
    assert "my-digits.pth" in title_of(viz.saliency_figure(loaded, x))
    opt = mc.optim.SGD(loaded.parameters(), lr=0.1)
    F.cross_entropy(loaded(mc.tensor(x[None].astype(np.float32))), mc.tensor(np.array([3]))).backward()
    opt.step()
    assert viz.weights_origin(loaded) == "my-digits.pth, changed since (trained?)"
    assert viz.weights_origin(nn.Linear(2, 2)) == "weights of unrecorded origin"


def test_filters_and_maps_share_one_scale_with_a_colour_bar_unless_asked():
    w = np.random.default_rng(1).standard_normal((4, 1, 3, 3))
    fig = viz.filters(w)
    bar, = colour_bars(fig)
    assert bar.get_ylim() == pytest.approx((w.min(), w.max()))
    shown = np.array([p[0] for p in pictures(fig)])
    np.testing.assert_allclose(shown, (w[:, 0] - w.min()) / np.ptp(w))   # one range
    assert not colour_bars(viz.filters(w, scale="filter"))
    assert "each filter stretched" in title_words(viz.filters(w, scale="filter"))


def test_feature_maps_count_the_maps_that_are_off():
    model = nn.Sequential(nn.Conv2d(1, 3, 1), nn.ReLU())
    model[0].weight.data[...] = np.array([1.0, -1.0, 2.0]).reshape(3, 1, 1, 1)
    model[0].bias.data[...] = 0
    fig = viz.feature_maps(model, np.ones((1, 4, 4)), "1")
    assert "1 of 3 all <= 0" in title_of(fig)
    bar, = colour_bars(fig)
    assert bar.get_ylim() == pytest.approx((0, 2))


def test_receptive_field_says_when_the_unit_is_dead():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    model[0].weight.data[...] = 1.0
    model[0].bias.data[...] = np.array([-100.0, 0.0])          # channel 0 never fires
    x = np.ones((1, 5, 5))
    dead = viz.receptive_field_of(model, (1, 5, 5), "1", (1, 1), channel=0, x=x)
    alive = viz.receptive_field_of(model, (1, 5, 5), "1", (1, 1), channel=1, x=x)
    assert dead.dead and dead.value == 0 and not alive.dead and alive.value == 9
    assert "DEAD for this input" in title_of(viz.receptive_field(model, (1, 5, 5), "1", (1, 1), 0, x))
    assert "DEAD" not in title_of(viz.receptive_field(model, (1, 5, 5), "1", (1, 1), 1, x))


def test_long_titles_are_wrapped_to_the_figure():
    fig = viz.filters(np.ones((2, 1, 3, 3)), title="a very long title " * 10, about="x")
    width = fig.get_figwidth() * 9
    assert all(len(line) <= width for line in title_of(fig).splitlines())
    assert title_of(fig).count("\n") >= 2


@pytest.mark.parametrize("draw", ["saliency", "grad_cam", "cam", "occlusion"])
def test_map_figures_draw_the_functions_numbers_with_a_colour_bar(draw):
    mine, _, x = _twin_nets()
    if draw == "saliency":
        fig, heat = viz.saliency_figure(mine, x, 1), viz.saliency(mine, x, 1)
    elif draw == "grad_cam":
        fig, heat = viz.grad_cam_figure(mine, x, "2", 1), viz.grad_cam(mine, x, "2", 1)
    elif draw == "cam":
        fig, heat = viz.cam_figure(mine, x, 1), viz.cam(mine, x, 1).map
    else:
        fig, heat = viz.occlusion_figure(mine, x, 1, size=2), viz.occlusion(mine, x, 1, 2).probability
    np.testing.assert_allclose(pictures(fig)[1][1], heat)
    bar, = colour_bars(fig)
    if draw == "cam":                                   # signed: symmetric about 0
        assert bar.get_ylim() == pytest.approx((-np.abs(heat).max(), np.abs(heat).max()))
    else:
        assert bar.get_ylim() == pytest.approx((heat.min(), heat.max()))
    assert "class 1" in title_of(fig) and "weights of unrecorded origin" in title_of(fig)


def test_the_other_figures_say_what_they_show():
    mine, theirs, x = _twin_nets()
    fig = viz.adversarial_figure(mine, x, 1, 0.05)
    moved, before, after = viz.adversarial(mine, x, 1, 0.05)
    assert f"predicted {before} -> {after}" in title_of(fig)
    g = viz.guided_backprop(mine, x, 1)
    shown = pictures(viz.guided_backprop_figure(mine, x, 1))[1][0]
    np.testing.assert_allclose(shown, 0.5 + 0.5 * g.transpose(1, 2, 0) / np.abs(g).max())
    fig = viz.class_model_figure(mine, [0, 2], (3, 6, 7), steps=2, lr=0.5, l2=0.1)
    shown, top = pictures(fig), max(np.abs(viz.class_model(mine, t, (3, 6, 7), 2, 0.5, 0.1)).max()
                                    for t in (0, 2))
    np.testing.assert_allclose(shown[1][0], 0.5 + 0.5 * viz.class_model(
        mine, 2, (3, 6, 7), 2, 0.5, 0.1).transpose(1, 2, 0) / top)     # one scale for both
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["class 0", "class 2"]
    images = np.random.default_rng(5).standard_normal((6, 3, 6, 7))
    fig = viz.neighbours_figure(mine, images, [0, 3], k=2, labels=[0, 1, 2, 0, 1, 2])
    assert len(pictures(fig)) == 6 and "5-d" in title_of(fig)
    codes = viz.cnn_codes(mine, images)
    near = viz.nearest_neighbours(codes, codes[[3]], 3)[0]
    assert [ax.get_title().split()[0] for ax in fig.axes[3:6]] == [f"#{i}" for i in near]
    fig = viz.embedding_figure(mine, images, labels=[0, 1, 2, 0, 1, 2])
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), viz.pca(codes)[0])


@pytest.mark.parametrize("name", ["cam", "occlusion", "guided_backprop", "class_model",
                                  "cnn_codes", "nearest_neighbours", "pca"])
def test_docstring_examples_run(name):
    """The >>> examples of mc.viz's numeric functions print what their docstrings say."""
    import doctest
    function = getattr(viz, name)
    assert "Args:" in function.__doc__ and "Example::" in function.__doc__
    tests = doctest.DocTestFinder().find(function, name, globs={"mc": mc, "nn": nn, "np": np})
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_occlusion_figure_puts_each_probability_at_its_patchs_centre():
    mine, _, x = _twin_nets()                                  # x: (3, 6, 7)
    for size, stride in [(3, 2), (2, 1), (4, 3)]:
        found = viz.occlusion(mine, x, 1, size, stride)
        fig = viz.occlusion_figure(mine, x, 1, size, stride)
        heat = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"][1].images[1]
        left, right, bottom, top = heat.get_extent()
        rows, cols = found.probability.shape
        for j in range(cols):        # the centre of drawn column j: patch j's centre column
            assert left + (j + 0.5) * (right - left) / cols == pytest.approx(j * stride + (size - 1) / 2)
        for i in range(rows):
            assert top + (i + 0.5) * (bottom - top) / rows == pytest.approx(i * stride + (size - 1) / 2)
