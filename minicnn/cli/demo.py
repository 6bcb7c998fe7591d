"""`minicnn demo`: mc.gradcheck on a tiny network, to see what a gradient check reports."""
import numpy as np

import minicnn as mc
import minicnn.functional as F
from .options import add_command, nonnegative_int


def add_parser(subparsers):
    p = add_command(subparsers, "demo", run)
    p.add_argument("--seed", type=nonnegative_int, default=0)


def run(args):
    """Finite-difference check of a tiny network, printing gradcheck's report."""
    rng = np.random.default_rng(args.seed)
    x = mc.tensor(rng.standard_normal((4, 6)))
    targets = mc.tensor(rng.integers(0, 3, 4))
    w1 = mc.tensor(rng.standard_normal((8, 6)) * 0.5, requires_grad=True)
    w2 = mc.tensor(rng.standard_normal((3, 8)) * 0.5, requires_grad=True)

    def net(w1, w2):
        return F.cross_entropy(F.linear(F.tanh(F.linear(x, w1)), w2), targets, label_smoothing=0.1)

    print("tiny MLP: cross_entropy(linear(tanh(linear(x, w1)), w2)), float64")
    report = mc.gradcheck(net, w1, w2, raise_exception=False)
    print(report)
    return 0 if report else 1
