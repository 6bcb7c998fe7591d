"""SqueezeNet and DenseNet against torchvision: structure and parameter counts of every
constructor, float64 parity (logits, input and parameter gradients, BatchNorm buffers,
train and eval mode; float32 as good as PyTorch's own) on squeezenet1_1 and on small
DenseNets built by the same classes, a forward-only check of the full densenet121, and
loading a checkpoint with the old dense-layer keys of torchvision's released DenseNet
weights.

The parity machinery is tests/models/test_models.py's (see its docstring)."""
import collections

import numpy as np
import pytest
import torch
import torchvision

import minicnn as mc
from minicnn.models.densenet import rename_old_densenet_keys
from minicnn.utils import assert_close

from tests.models import test_models
from tests.models.test_models import (Case, NUM_CLASSES, assert_all_close,
                                      assert_float32_as_good_as_torchs, check_structure,
                                      max_rel_error, run_both, tv)

torch.set_num_threads(2)

# torchvision 0.29's parameter counts with 1000 classes (its weights' "num_params")
PARAM_COUNTS = {"squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496,
                "densenet121": 7_978_856, "densenet161": 28_681_000,
                "densenet169": 14_149_480, "densenet201": 20_013_928}


@pytest.mark.parametrize("name", list(PARAM_COUNTS))
def test_structure_and_parameter_count_equal_torchvisions(name):
    torch.manual_seed(0)
    mc.manual_seed(0)
    theirs = getattr(torchvision.models, name)()
    mine = getattr(mc.models, name)()
    check_structure(mine, theirs)        # keys, order, shapes, dtypes, printout
    n_mine = sum(p.numel() for p in mine.parameters())
    assert n_mine == sum(p.numel() for p in theirs.parameters()) == PARAM_COUNTS[name]


SMALL_DENSENET = dict(growth_rate=8, block_config=(2, 2), num_init_features=16)
PARITY_CASES = {c.name: c for c in [
    Case("squeezenet1_1", tv("squeezenet1_1"), 64),
    Case("densenet_small", torchvision.models.DenseNet, 32, kwargs=SMALL_DENSENET,
         constructor="DenseNet"),
    # three blocks, bn_size 2, and checkpointed bottlenecks (recomputed in backward)
    Case("densenet_small_memory_efficient", torchvision.models.DenseNet, 32,
         kwargs=dict(growth_rate=4, block_config=(2, 1, 2), num_init_features=8, bn_size=2,
                     memory_efficient=True), constructor="DenseNet"),
]}
FLOAT32_TOO = {"squeezenet1_1", "densenet_small"}


@pytest.mark.parametrize("case_name", list(PARITY_CASES))
def test_parity_with_torchvision(case_name):
    case = PARITY_CASES[case_name]
    torch_model, mc_model, state = test_models.build_pair(case)
    results = run_both(case, torch_model, mc_model, state, np.float64, ("train", "eval"))
    assert_all_close(case_name, results, rtol=1e-8, floor_fraction=1e-6)
    if case_name in FLOAT32_TOO:      # as test_models.py: measured against PyTorch's float64
        results32 = run_both(case, torch_model, mc_model, state, np.float32, ("eval",))
        assert_float32_as_good_as_torchs(case_name, results32, results)


@pytest.mark.gpu
@pytest.mark.parametrize("name, size, kwargs", [("squeezenet1_1", 64, {}),
                                                ("DenseNet", 32, SMALL_DENSENET)])
def test_on_gpu_matches_cpu(name, size, kwargs):
    """test_models.py's check: the same float64 training step on CuPy and on NumPy."""
    test_models.test_model_on_gpu_matches_cpu(name, size, kwargs)


def test_densenet121_logits_equal_torchvisions():
    """The full network, forward only (train mode, then eval with the updated running
    statistics), at 64x64: the last block sees 2x2 maps."""
    case = Case("densenet121", tv("densenet121"), 64)
    torch.manual_seed(0)
    torch_model = case.torch_model(num_classes=NUM_CLASSES)
    mc_model = mc.models.densenet121(num_classes=NUM_CLASSES)
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    results = run_both(case, torch_model, mc_model, state, np.float64, ())
    for mode, (mine, theirs) in results.items():       # logits and BatchNorm buffers
        assert list(mine) == list(theirs) and "output 0" in theirs
        for key, expected in theirs.items():
            err = max_rel_error(mine[key], expected)
            assert err < 1e-8, f"densenet121 {mode}: {key}: relative error {err:.2e}"


def old_style(state):
    """A state dict as torchvision's released DenseNet checkpoints store it: dense-layer
    keys "norm.1", "conv.2", ... and (saved before PyTorch 0.4.1) no num_batches_tracked."""
    out = collections.OrderedDict()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        parts = key.split(".")
        if len(parts) > 2 and parts[-3].startswith("denselayer"):
            parts[-2] = parts[-2][:-1] + "." + parts[-2][-1]      # norm1 -> norm.1
        out[".".join(parts)] = value
    return out


def test_rename_old_densenet_keys():
    state = {"features.denseblock1.denselayer1.norm.1.weight": 1,
             "features.denseblock1.denselayer1.norm.1.running_var": 2,
             "features.denseblock3.denselayer12.conv.2.weight": 3,
             "features.denseblock1.denselayer2.norm1.weight": 4,          # already new
             "features.transition1.norm.weight": 5,                       # not a dense layer
             "features.denseblock1.denselayer1.norm.1.num_batches_tracked": 6,   # not renamed,
             "classifier.bias": 7}                                        # as torchvision
    assert list(rename_old_densenet_keys(state).items()) == [
        ("features.denseblock1.denselayer1.norm1.weight", 1),
        ("features.denseblock1.denselayer1.norm1.running_var", 2),
        ("features.denseblock3.denselayer12.conv2.weight", 3),
        ("features.denseblock1.denselayer2.norm1.weight", 4),
        ("features.transition1.norm.weight", 5),
        ("features.denseblock1.denselayer1.norm.1.num_batches_tracked", 6),
        ("classifier.bias", 7)]


def test_densenet_loads_an_old_style_checkpoint(tmp_path):
    """A .pth file with the released checkpoints' old keys loads through
    ``densenet121(weights=path)`` (and as a state dict) and gives torchvision's logits."""
    torch.manual_seed(0)
    theirs = torchvision.models.densenet121(num_classes=5)
    theirs.train()(torch.randn(4, 3, 32, 32))            # non-trivial running statistics
    old = old_style(theirs.state_dict())
    assert "features.denseblock2.denselayer3.conv.2.weight" in old
    assert "features.denseblock2.denselayer3.conv2.weight" not in old
    path = tmp_path / "densenet121-old.pth"
    torch.save(old, path)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    expected = theirs.eval()(torch.tensor(x)).detach().numpy()
    for weights in (str(path), {k: v.numpy() for k, v in old.items()}):
        mine = mc.models.densenet121(weights=weights, num_classes=5).eval()
        assert_close(mine(mc.tensor(x)), expected, rtol=1e-4, atol=1e-5)
    # the plain model refuses the old keys: the renaming is what makes them load
    with pytest.raises(RuntimeError, match="denselayer1.norm.1.weight"):
        mc.models.densenet121(num_classes=5).load_state_dict(
            {k: v.numpy() for k, v in old.items()})


def test_squeezenet_initialisation_follows_torchvisions():
    mc.manual_seed(0)
    model = mc.models.squeezenet1_0(num_classes=100)
    final = model.classifier[1].weight.numpy()                      # N(0, 0.01^2)
    assert final.std() == pytest.approx(0.01, rel=0.05)
    w = model.features[4].expand3x3.weight.numpy()   # kaiming uniform: bound sqrt(6 / fan_in)
    bound = np.sqrt(6 / (16 * 9))
    assert np.abs(w).max() <= bound and w.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)
    assert all(np.all(m.bias.numpy() == 0) for m in model.modules()
               if isinstance(m, mc.nn.Conv2d))


@pytest.mark.parametrize("name", ["squeezenet1_0", "densenet121"])
def test_cli_summary_prints_the_parameter_total(capsys, name):
    from minicnn.__main__ import main
    code = main(["summary", name, "--input", "3,64,64", "--depth", "1"])
    out = capsys.readouterr().out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert code == 0 and f"{PARAM_COUNTS[name]:,}" in total.split()


def test_densenet_head_for_transfer_learning_and_the_cli():
    """DenseNet's head is one Linear named ``classifier``: transfer.replace_head swaps it,
    and the command line reads the class count from ``classifier.weight`` (finetune,
    evaluate); SqueezeNet's from its 1x1 conv ``classifier.1.weight``."""
    from minicnn import transfer
    from minicnn.cli.factories import num_classes_in
    model = mc.models.DenseNet(num_classes=9, **SMALL_DENSENET)
    assert num_classes_in(model.state_dict()) == 9
    transfer.freeze(model)
    assert transfer.head_names(model) == ["classifier"]
    transfer.replace_head(model, 4)
    assert model.classifier.out_features == 4 and model.classifier.weight.requires_grad
    assert model(mc.tensor(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 4)
    assert num_classes_in(mc.models.squeezenet1_1(num_classes=6).state_dict()) == 6
