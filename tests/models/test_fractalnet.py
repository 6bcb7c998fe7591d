"""FractalNet (Larsson et al. 2016) against a PyTorch definition written here from the
paper's *recursive* rule, f_{C+1}(z) = join(f_C(f_C(z)), conv(z)), while minicnn walks
the block column by column (a join schedule): two formulations that must agree.

Parity (float64, relative error < 1e-8, test_models.py's comparison): logits, input
gradient, every parameter's gradient and the BatchNorm buffers, in training mode with
drop-path on -- minicnn draws the decisions (local and global steps both occur), the
PyTorch model replays them from ``last_kept`` / ``last_global_column`` -- and in eval
mode.  Dropout is off for parity (its masks come from different generators).  The
drop-path draws themselves (rates, at least one kept, 50/50 global/local, column
uniform, the seed replays them) are tested on their own.  Widths are reduced to keep the
float64 runs small; the full network's parameter count is checked separately.
"""
import numpy as np
import pytest
import torch
import torch.nn as tnn

import minicnn as mc
from minicnn.models import fractalnet as fn

from tests.models.test_models import (NUM_CLASSES, assert_all_close, check_structure, prepare,
                                      run_step)

torch.set_num_threads(2)
SMALL = (4, 8, 8, 16, 16)


# ----- the PyTorch reference ---------------------------------------------------------------
def torch_conv_unit(cin, cout, dropout):
    return tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1, bias=False), tnn.Dropout(dropout),
                          tnn.BatchNorm2d(cout), tnn.ReLU(inplace=True))


class FractalJoin(tnn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, inputs, kept):
        return torch.stack([inputs[i] for i in kept]).mean(0)

    def extra_repr(self):
        return f"p={self.p}"


class FractalBlock(tnn.Module):
    """Column c (0 = shortest) has 2^c convs; the forward is the recursive definition."""

    def __init__(self, cin, cout, columns, dropout, p):
        super().__init__()
        self.columns = columns
        for c in range(columns):
            for i in range(2 ** c):
                self.add_module(f"column{c + 1}_{i + 1}",
                                torch_conv_unit(cin if i == 0 else cout, cout, dropout))
        self.join = FractalJoin(p)
        self.pool = tnn.MaxPool2d(2, 2)

    def forward(self, x, kept=None, column=None):
        if column is not None:                     # global drop-path: the column's chain
            for i in range(2 ** column):
                x = getattr(self, f"column{column + 1}_{i + 1}")(x)
            return self.pool(x)
        used = [0] * self.columns
        kept = iter(kept) if kept is not None else None

        def join(paths):
            if len(paths) == 1:                    # one column ends here: nothing to join
                return paths[0]
            which = next(kept) if kept is not None else range(len(paths))
            return self.join(paths, list(which))

        def paths(z, first):
            """The outputs, shortest column first, of the fractal made of columns
            first .. C-1, before its final join."""
            used[first] += 1
            conv = getattr(self, f"column{first + 1}_{used[first]}")
            if first == self.columns - 1:
                return [conv(z)]
            shallow = conv(z)
            middle = join(paths(z, first + 1))
            return [shallow] + paths(middle, first + 1)

        # the last join of the block comes after pooling each column
        return join([self.pool(p) for p in paths(x, 0)])


class FractalNet(tnn.Module):
    def __init__(self, num_classes, columns, channels, dropout=fn.CIFAR_DROPOUT, p_local=0.15):
        super().__init__()
        widths = (3, *channels)
        for b in range(len(channels)):
            self.add_module(f"block{b + 1}", FractalBlock(widths[b], widths[b + 1], columns,
                                                          dropout[b], p_local))
        self.fc = tnn.Linear(channels[-1], num_classes)
        self.blocks = [getattr(self, f"block{b + 1}") for b in range(len(channels))]
        self.plan = None       # (global column or None, [kept lists of block b, ...])

    def forward(self, x):
        column, kept = self.plan if self.training else (None, [None] * len(self.blocks))
        for b, block in enumerate(self.blocks):
            x = block(x, kept[b], column)
        return self.fc(torch.flatten(x, 1))


def plan_of(mc_model):
    """What minicnn's last training step dropped, in the reference's terms: the global
    column (or None) and, per block, each join step's kept input indices."""
    return (mc_model.last_global_column, [block.last_kept for block in mc_model.blocks])


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ----- parity -------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", [3, 4])
def test_parity_with_drop_path_replayed(columns):
    torch.manual_seed(0)
    mc.manual_seed(3)
    torch_model = FractalNet(NUM_CLASSES, columns, SMALL)
    mc_model = mc.models.fractalnet_cifar(columns=columns, channels=SMALL,
                                          num_classes=NUM_CLASSES)
    check_structure(mc_model, torch_model)
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    prepare(torch_model, state, np.float64)
    prepare(mc_model, state, np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32))
    upstream = list(np.random.default_rng(1).standard_normal((1, 4, NUM_CLASSES)))
    for join in (m for m in mc_model.modules() if isinstance(m, fn.FractalJoin)):
        join.p = 0.5                      # drop often enough that every step drops something
    plans = []
    for step, global_ratio in enumerate([0.0, 0.0, 1.0, 1.0]):   # two local, two global
        mc_model.global_ratio = global_ratio
        mine = run_step(mc_model, x, upstream, True, True)
        torch_model.plan = plan_of(mc_model)
        plans.append(torch_model.plan)
        theirs = run_step(torch_model, x, upstream, True, True)
        assert list(mine) == list(theirs)
        # global steps: the other columns did not run, no gradient in either
        assert [k for k, v in mine.items() if v is None] == [
            k for k, v in theirs.items() if v is None]
        assert_all_close(f"fractalnet C={columns} train step {step}",
                         {"train": (mine, theirs)}, rtol=1e-8, floor_fraction=1e-6)
    assert [column is None for column, _ in plans] == [True, True, False, False]
    n_inputs = [len(s) for s in mc_model.blocks[0].schedule if len(s) > 1]
    assert any(len(k) < n for _, kept in plans[:2] for block in kept
               for k, n in zip(block, n_inputs))          # local steps did drop inputs
    results = {"train": (mine, theirs), "eval": tuple(run_step(m, x, upstream, False, True)
                                                      for m in (mc_model, torch_model))}
    assert_all_close(f"fractalnet C={columns} eval", results, rtol=1e-8, floor_fraction=1e-6)


def test_parameter_counts_and_the_papers():
    # conv weights of C = 3: 3 columns read the block input, 4 convs read out_channels,
    # per block (64, 128, 256, 512, 512): 33,698,880; + batch norm 20,608 + fc 5,130.
    assert n_params(mc.models.fractalnet20()) == 33_724_618
    # C = 4: 15 convs per block: 76,057,344 + batch norm 44,160 + fc 5,130
    assert n_params(mc.models.fractalnet40()) == 76_106_634
    # the paper's Table 1 says 38.6M and 22.9M: minicnn does not reproduce those figures
    assert round(33_724_618 / 1e6, 1) != 38.6


def test_join_schedule_is_the_fractal():
    assert fn.join_schedule(1) == [[0]]
    assert fn.join_schedule(3) == [[2], [1, 2], [2], [0, 1, 2]]
    assert [n for n, _ in mc.models.fractalnet_cifar(columns=3).block1.named_children()] == [
        "column1_1", "column2_1", "column2_2", "column3_1", "column3_2", "column3_3",
        "column3_4", "join", "pool"]
    sched = fn.join_schedule(4)
    assert len(sched) == 8 and sched[-1] == [0, 1, 2, 3] and sched[3] == [1, 2, 3]
    # column c has 2^c convs: it ends 2^c times
    assert [sum(c in s for s in sched) for c in range(4)] == [1, 2, 4, 8]


# ----- drop-path ----------------------------------------------------------------------------
def test_local_drop_path_rates_and_at_least_one_kept():
    mc.manual_seed(0)
    draws = [fn.sample_local_drop_path(3, 0.15) for _ in range(4000)]
    assert all(d and d == sorted(set(d)) for d in draws)
    dropped = 1 - sum(len(d) for d in draws) / (3 * 4000)
    # P(input dropped) = 0.15 minus the rescue when all three were dropped (0.15^3 / 3)
    assert abs(dropped - (0.15 - 0.15 ** 3 / 3)) < 0.015
    mc.manual_seed(0)
    everything = [fn.sample_local_drop_path(4, 1.0) for _ in range(2000)]
    assert all(len(d) == 1 for d in everything)             # all dropped: one rescued
    counts = np.bincount([d[0] for d in everything], minlength=4)
    assert counts.min() > 400                                # chosen uniformly
    mc.manual_seed(0)
    first = [fn.sample_local_drop_path(3, 0.5) for _ in range(50)]
    mc.manual_seed(0)
    assert [fn.sample_local_drop_path(3, 0.5) for _ in range(50)] == first


def test_global_or_local_per_batch_half_and_half_and_replayable():
    model = mc.models.fractalnet_cifar(columns=4, channels=SMALL)
    mc.manual_seed(1)
    picks = [model.sample_global_column() for _ in range(4000)]
    glob = [c for c in picks if c is not None]
    assert abs(len(glob) / 4000 - 0.5) < 0.03
    assert np.bincount(glob, minlength=4).min() > 0.2 * len(glob)
    mc.manual_seed(1)
    assert [model.sample_global_column() for _ in range(4000)] == picks
    model.global_ratio = 0.0
    assert all(model.sample_global_column() is None for _ in range(100))


def test_join_means_the_kept_inputs_and_eval_keeps_all():
    rng = np.random.default_rng(0)
    a, b, c = (mc.tensor(rng.standard_normal((2, 3))) for _ in range(3))
    join = fn.FractalJoin(p=0.5)
    np.testing.assert_allclose(join([a, b, c], kept=[0, 2]).numpy(), (a.numpy() + c.numpy()) / 2)
    assert join.last_kept == [0, 2]
    np.testing.assert_array_equal(join([a, b, c], kept=[1]).numpy(), b.numpy())
    join.eval()
    np.testing.assert_allclose(join([a, b, c]).numpy(), (a.numpy() + b.numpy() + c.numpy()) / 3)
    assert join.last_kept == [0, 1, 2]
    with pytest.raises(ValueError, match="FractalJoin: kept"):
        join([a, b], kept=[])
    with pytest.raises(ValueError, match="FractalJoin: drop-path probability"):
        fn.FractalJoin(p=1.5)


def test_join_gradient_finite_differences():
    rng = np.random.default_rng(0)
    inputs = [mc.tensor(rng.standard_normal((2, 3)), requires_grad=True) for _ in range(3)]
    join = fn.FractalJoin(p=0.15)
    mc.gradcheck(lambda *xs: join(list(xs), kept=[0, 2]), *inputs)
    mc.gradcheck(lambda *xs: join(list(xs), kept=[0, 1, 2]), *inputs)


def test_eval_is_deterministic_and_a_column_alone_is_its_chain():
    mc.manual_seed(0)
    model = mc.models.fractalnet_cifar(columns=3, channels=SMALL).to(np.float64).eval()
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)))
    with mc.no_grad():
        first, second = model(x).numpy(), model(x).numpy()
        np.testing.assert_array_equal(first, second)
        assert model.last_global_column is None
        # the paper's "deepest column alone": each block is its longest chain of convs
        deepest = model(x, column=2).numpy()
        y = x
        for block in model.blocks:
            for i in range(4):
                y = block.unit(2, i)(y)
            y = block.pool(y)
        np.testing.assert_allclose(deepest, model.fc(mc.functional.flatten(y, 1)).numpy(), rtol=1e-12)
        assert not np.allclose(deepest, first)


def test_training_draws_replay_with_the_seed():
    model = mc.models.fractalnet_cifar(columns=3, channels=SMALL, dropout=(0.0,) * 5)
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    runs = []
    for _ in range(2):
        mc.manual_seed(7)
        with mc.no_grad():
            runs.append([(model(x).numpy(), plan_of(model)) for _ in range(3)])
    for (out1, plan1), (out2, plan2) in zip(*runs):
        assert plan1 == plan2
        np.testing.assert_array_equal(out1, out2)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="FractalNet: the last block must end at 1x1"):
        mc.models.fractalnet_cifar(channels=SMALL).eval()(
            mc.tensor(np.zeros((1, 3, 64, 64), np.float32)))
    with pytest.raises(ValueError, match="FractalNet: need columns >= 1"):
        mc.models.fractalnet_cifar(channels=SMALL, dropout=(0.1,))


def test_summary_prints_the_total():
    model = mc.models.fractalnet_cifar(columns=3, channels=SMALL)
    s = mc.summary(model, (3, 32, 32))
    assert s.total.params == n_params(model) and f"{n_params(model):,}" in str(s)
    assert not s.not_run                      # every module runs in eval: no "aux heads"
    # every conv ran: 7 per block, 5 blocks; the blocks' output shapes
    assert sum(s[f"block{b}.column{c}_{i}.0"].ran for b in range(1, 6) for c in range(1, 4)
               for i in range(1, 2 ** (c - 1) + 1)) == 35
    assert [s[f"block{b}"].output_shape for b in range(1, 6)] == [
        (4, 16, 16), (8, 8, 8), (8, 4, 4), (16, 2, 2), (16, 1, 1)]
