"""Activation checkpointing (mc.utils.checkpoint): exact gradients, replayed dropout, less memory."""
import tracemalloc
import warnings

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import nn


def small_cnn():
    mc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout(0.3),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 5)).to(np.float64)


def gradients(model, x, run):
    """Input and parameter gradients of one step; dropout draws from seed 7."""
    for p in model.parameters():
        p.grad = None
    x = mc.tensor(x, requires_grad=True)
    mc.manual_seed(7)
    out = run(model, x)
    F.cross_entropy(out, mc.tensor([0, 1, 2, 3])).backward()
    return [x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()], out.numpy()


@pytest.mark.parametrize("run", [
    lambda model, x: mc.utils.checkpoint(model, x),
    lambda model, x: mc.utils.checkpoint_sequential(model, 3, x),
    lambda model, x: model[5:](mc.utils.checkpoint(model[:5], x)),
], ids=["whole", "sequential-3", "first-half"])
def test_gradients_equal_the_plain_run_bit_for_bit_with_dropout_replayed(run):
    model = small_cnn()
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 8))
    plain, plain_out = gradients(model, x, lambda m, t: m(t))
    checked, checked_out = gradients(model, x, run)
    np.testing.assert_array_equal(checked_out, plain_out)
    assert len(plain) == len(checked)
    for a, b in zip(checked, plain):
        np.testing.assert_array_equal(a, b)       # exactly: the same operations, in the same order


def test_the_random_stream_goes_on_as_if_the_block_ran_once():
    model = small_cnn()
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 8))
    gradients(model, x, lambda m, t: m(t))
    after_plain = mc.random.generator().random(3)
    gradients(model, x, lambda m, t: mc.utils.checkpoint(m, t))
    np.testing.assert_array_equal(mc.random.generator().random(3), after_plain)


def test_a_checkpointed_stack_keeps_only_the_segments_inputs():
    """16 Linear+ReLU pairs of 2 MB activations: a plain forward keeps every ReLU's output
    for backward; in 4 segments only the segments' inputs and the last segment's own stay."""
    layers = [m for _ in range(16) for m in (nn.Linear(512, 512), nn.ReLU())]
    model = nn.Sequential(*layers)
    x = mc.tensor(np.ones((1024, 512), np.float32), requires_grad=True)

    def held_after_forward(run):
        tracemalloc.start()
        try:
            out = run(x)
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        out.sum().backward()
        return held

    plain = held_after_forward(model)
    checked = held_after_forward(lambda t: mc.utils.checkpoint_sequential(model, 4, t))
    activation = 1024 * 512 * 4
    assert plain > 15 * activation
    assert checked < 8 * activation, (plain / activation, checked / activation)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="checkpoint: expected the function's inputs as Tensors"):
        mc.utils.checkpoint(lambda t: t, np.ones(3))
    with pytest.raises(TypeError, match="checkpoint: the function must return one Tensor, got tuple"):
        mc.utils.checkpoint(lambda t: (t, t), mc.tensor([1.0], requires_grad=True))
    with pytest.raises(ValueError, match="segments must be an int from 1 to the number of layers"):
        mc.utils.checkpoint_sequential(nn.Sequential(nn.ReLU()), 2, mc.tensor([1.0]))


def test_a_block_that_sees_only_data_still_trains_its_parameters():
    """A network's first block sees images that need no gradient: its Module's parameters
    are inputs of the checkpoint, so they get the plain run's gradients."""
    mc.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 1)).to(np.float64)
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 2, 5, 5)))
    (block(x) ** 2).sum().backward()
    plain = [p.grad.numpy().copy() for p in block.parameters()]
    block.zero_grad()
    (mc.utils.checkpoint(block, x) ** 2).sum().backward()
    assert all(np.array_equal(a, p.grad.numpy()) for a, p in zip(plain, block.parameters()))
    block.zero_grad()
    (mc.utils.checkpoint_sequential(block, 2, x) ** 2).sum().backward()
    assert all(np.array_equal(a, p.grad.numpy()) for a, p in zip(plain, block.parameters()))


def test_a_checkpoint_that_can_record_nothing_warns():
    """A plain function of inputs that need no gradient: nothing is recorded, and weights it
    closes over would silently get no gradient (as with PyTorch's reentrant checkpoint)."""
    layer = mc.nn.Linear(3, 2)
    x = mc.tensor(np.ones((4, 3), np.float32))
    with pytest.warns(UserWarning, match="none of the inputs has requires_grad=True"):
        y = mc.utils.checkpoint(lambda t: layer(t), x)
    assert not y.requires_grad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with mc.no_grad():                          # evaluation: nothing to say
            mc.utils.checkpoint(lambda t: layer(t), x)
        assert mc.utils.checkpoint(layer, x).requires_grad     # a Module names its weights
