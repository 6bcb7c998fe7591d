"""minicnn.optim.lr_scheduler against torch.optim.lr_scheduler: the same lr sequences.

Both run the same recursive (chainable) formulas, so the learning rates must be
equal to the last bit; we still allow 1e-15 relative for harmless reassociation.
"""
import copy
import warnings

import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.optim as optim
from minicnn.optim import lr_scheduler as ours_sched

LRS = (0.1, 0.05)          # two parameter groups with different learning rates
STEPS = 30


def make_optimizers():
    ours = optim.SGD([{"params": [mc.Tensor(np.ones(2), requires_grad=True)], "lr": LRS[0]},
                      {"params": [mc.Tensor(np.ones(2), requires_grad=True)], "lr": LRS[1]}],
                     lr=1.0, momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.ones(2, requires_grad=True)], "lr": LRS[0]},
                              {"params": [torch.ones(2, requires_grad=True)], "lr": LRS[1]}],
                             lr=1.0, momentum=0.9)
    return ours, theirs


def assert_lrs_equal(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=0, err_msg=what)


def check_sequence(make, steps=STEPS, step_arg=None):
    """``make(module, optimizer)`` builds the scheduler from ``module`` (ours or torch's);
    step both ``steps`` times (passing ``step_arg(k)`` if given) and compare each lr."""
    opt, topt = make_optimizers()
    sched = make(ours_sched, opt)
    tsched = make(torch.optim.lr_scheduler, topt)
    assert_lrs_equal(sched.get_last_lr(), tsched.get_last_lr(), "after construction")
    for k in range(steps):
        topt.step()           # no gradients: a no-op that keeps torch's order check quiet
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                 # step(epoch) is deprecated
            args = () if step_arg is None else (step_arg(k),)
            sched.step(*args)
            tsched.step(*args)
        assert_lrs_equal(sched.get_last_lr(), tsched.get_last_lr(), f"step {k + 1}")
        assert_lrs_equal([g["lr"] for g in opt.param_groups],
                         [g["lr"] for g in topt.param_groups], f"group lr, step {k + 1}")
    return sched, tsched


SCHEDULES = {
    "StepLR(3, 0.5)": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "StepLR(1, 0.9)": lambda m, o: m.StepLR(o, step_size=1, gamma=0.9),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[11, 2, 5, 5], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.87),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=4),
    "LinearLR warm-up": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=5),
    "LinearLR default": lambda m, o: m.LinearLR(o),
    "LinearLR decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2,
                                              total_iters=10),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "CosineAnnealingLR odd": lambda m, o: m.CosineAnnealingLR(o, T_max=7),
    "SequentialLR warm-up+cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20)],
        milestones=[5]),
    "SequentialLR three phases": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=3), m.ExponentialLR(o, gamma=0.9),
            m.StepLR(o, step_size=4, gamma=0.5)], milestones=[3, 10]),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_lr_sequence_matches_torch(name):
    check_sequence(SCHEDULES[name])


CLOSED_FORM = ["StepLR(3, 0.5)", "MultiStepLR", "ExponentialLR", "ConstantLR",
               "LinearLR warm-up", "CosineAnnealingLR"]


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_step_with_epoch_uses_the_closed_form_like_torch(name):
    jumps = [0, 3, 4, 9, 2, 15, 16, 25, 7, 30]
    check_sequence(SCHEDULES[name], steps=len(jumps), step_arg=lambda k: jumps[k])


def test_linear_warmup_reaches_the_base_lr():
    # Independent of torch: the closed form of a warm-up from 0.1 * lr over 5 epochs.
    opt, _ = make_optimizers()
    sched = ours_sched.LinearLR(opt, start_factor=0.1, total_iters=5)
    seen = [sched.get_last_lr()[0]]
    for _ in range(7):
        sched.step()
        seen.append(sched.get_last_lr()[0])
    expected = [0.1 * (0.1 + 0.9 * min(t, 5) / 5) for t in range(8)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)


def test_cosine_matches_its_closed_form_over_one_period():
    opt, _ = make_optimizers()
    sched = ours_sched.CosineAnnealingLR(opt, T_max=12, eta_min=0.002)
    for t in range(1, 13):
        sched.step()
        expected = 0.002 + (0.1 - 0.002) * (1 + np.cos(np.pi * t / 12)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(expected, rel=1e-12)


PLATEAU_OPTIONS = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(patience=1, threshold=0.05, threshold_mode="abs", cooldown=2),
    dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs", min_lr=0.01),
    dict(patience=1, factor=0.2, min_lr=[0.004, 0.0], cooldown=1),
    dict(patience=0, factor=0.9, eps=1e-3),
]


@pytest.mark.parametrize("options", PLATEAU_OPTIONS, ids=str)
def test_reduce_lr_on_plateau_matches_torch(options):
    rng = np.random.default_rng(0)
    # A loss that improves, plateaus, improves a little, plateaus...
    metrics = np.concatenate([np.linspace(1.0, 0.5, 6), np.full(7, 0.5) + 0.01 * rng.random(7),
                              np.linspace(0.5, 0.45, 5), np.full(12, 0.45)])
    opt, topt = make_optimizers()
    sched = ours_sched.ReduceLROnPlateau(opt, **options)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **options)
    for k, m in enumerate(metrics):
        sched.step(m)
        tsched.step(m)
        assert_lrs_equal(sched.get_last_lr(), tsched.get_last_lr(), f"epoch {k + 1}")
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == (
            tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best)
    assert sched.get_last_lr() != list(LRS)          # the schedule did reduce the lr


def test_reduce_lr_on_plateau_accepts_a_tensor_metric():
    opt, _ = make_optimizers()
    sched = ours_sched.ReduceLROnPlateau(opt, patience=0)
    sched.step(mc.tensor(1.0))
    sched.step(mc.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.005])


@pytest.mark.parametrize("name", ["StepLR(3, 0.5)", "MultiStepLR", "CosineAnnealingLR",
                                  "LinearLR warm-up", "SequentialLR warm-up+cosine"])
def test_state_dict_round_trip_continues_identically(name):
    make = SCHEDULES[name]
    opt, topt = make_optimizers()
    sched, tsched = make(ours_sched, opt), make(torch.optim.lr_scheduler, topt)
    for _ in range(8):
        topt.step()
        sched.step()
        tsched.step()
    saved_opt, saved = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    # A new run: build as usual, then load the optimizer and scheduler states.
    opt2, _ = make_optimizers()
    sched2 = make(ours_sched, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    for k in range(15):
        topt.step()
        sched2.step()
        tsched.step()
        assert_lrs_equal(sched2.get_last_lr(), tsched.get_last_lr(), f"resumed step {k + 1}")
        assert_lrs_equal([g["lr"] for g in opt2.param_groups], tsched.get_last_lr(), "group lr")


def test_resuming_with_last_epoch_matches_torch():
    def make(m, o):
        for group in o.param_groups:
            group["initial_lr"] = group["lr"]
        return m.StepLR(o, step_size=3, gamma=0.5, last_epoch=4)
    check_sequence(make, steps=10)


def test_plateau_state_dict_round_trip():
    opt, _ = make_optimizers()
    sched = ours_sched.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for m in [1.0, 0.9, 0.95, 0.95]:
        sched.step(m)
    saved = copy.deepcopy(sched.state_dict())
    assert "optimizer" not in saved
    opt2, _ = make_optimizers()
    opt2.load_state_dict(opt.state_dict())
    sched2 = ours_sched.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(saved)
    for m in [0.96, 0.97, 0.98, 0.99]:
        sched.step(m)
        sched2.step(m)
        assert sched.get_last_lr() == sched2.get_last_lr()


def test_a_state_loaded_into_another_kind_of_scheduler_is_refused():
    """A cosine state in a StepLR would set only the attributes they share; a single
    schedule's state in a SequentialLR (warm-up added on resume) has no inner states."""
    opt, _ = make_optimizers()
    cosine = ours_sched.CosineAnnealingLR(opt, T_max=4)
    cosine.step()
    with pytest.raises(ValueError, match="StepLR.load_state_dict: the state was saved by "
                                         "CosineAnnealingLR, not StepLR"):
        ours_sched.StepLR(opt, step_size=2).load_state_dict(cosine.state_dict())
    warm_then_cosine = SCHEDULES["SequentialLR warm-up+cosine"](ours_sched, opt)
    with pytest.raises(ValueError, match="saved by CosineAnnealingLR, not SequentialLR"):
        warm_then_cosine.load_state_dict(cosine.state_dict())
    untyped = {k: v for k, v in cosine.state_dict().items() if k != "type"}   # older files
    with pytest.raises(ValueError, match="saved by a single schedule, not SequentialLR"):
        warm_then_cosine.load_state_dict(untyped)
    again = ours_sched.CosineAnnealingLR(opt, T_max=4)
    again.load_state_dict(untyped)                    # the same kind, saved without its type
    assert again.last_epoch == 1


def test_bad_arguments_raise_clear_errors():
    opt, _ = make_optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        ours_sched.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        ours_sched.StepLR(opt, step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="start_factor must be in"):
        ours_sched.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        ours_sched.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        ours_sched.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        ours_sched.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        ours_sched.SequentialLR(opt, [ours_sched.StepLR(opt, 2)], milestones=[3])
    other, _ = make_optimizers()
    with pytest.raises(ValueError, match="different optimizer"):
        ours_sched.SequentialLR(opt, [ours_sched.StepLR(opt, 2), ours_sched.StepLR(other, 2)],
                                milestones=[3])


def test_cosine_hold_at_end_stays_at_eta_min_past_t_max():
    """hold_at_end=True: a run extended past T_max keeps eta_min (PyTorch's cosine, the
    default, rises back towards the initial lr), stepped or jumped to, and after a
    resume from a state saved at the end."""
    opt, _ = make_optimizers()
    sched = ours_sched.CosineAnnealingLR(opt, T_max=4, eta_min=0.001, hold_at_end=True)
    plain_opt, _ = make_optimizers()
    plain = ours_sched.CosineAnnealingLR(plain_opt, T_max=4, eta_min=0.001)
    lrs, plain_lrs = [], []
    for _ in range(8):
        sched.step()
        plain.step()
        lrs.append(sched.get_last_lr()[0])
        plain_lrs.append(plain.get_last_lr()[0])
    assert lrs[:4] == plain_lrs[:4]                      # the same cosine up to T_max
    assert lrs[3:] == [0.001] * 5 and plain_lrs[-1] > 0.05
    sched.step(6)                                        # the closed form agrees
    assert sched.get_last_lr() == [0.001, 0.001]
    state = sched.state_dict()
    opt2, _ = make_optimizers()
    resumed = ours_sched.CosineAnnealingLR(opt2, T_max=4, eta_min=0.001, hold_at_end=True)
    resumed.load_state_dict(state)
    resumed.step()
    assert resumed.get_last_lr() == [0.001, 0.001]
