"""`minicnn gradcheck`: a whole model against torchvision's, outputs and every parameter
gradient, in float64; a model torchvision lacks (the CIFAR nets, FractalNet, NiN, LeNet-5,
ZFNet, ...) against finite differences of its own loss."""
import numpy as np

import minicnn as mc
from minicnn import nn
from minicnn.utils import as_numpy, to_torch
from .factories import GREY_MODELS, model_names
from .options import add_command, nonnegative_int, positive_float, positive_int

IMAGE_SIZE = {"alexnet": 63, "inception_v3": 299,      # smallest inputs that work; others 32
              "mobilenet_v2": 64,      # at 32 its last batch norms see 2 values a channel
              # the same for these at 32 (1x1 maps in layer4): a 2-value batch norm's
              # rounding, amplified, made wide_resnet50_2 differ by 2.5e-4; 1e-12 at 64
              **dict.fromkeys(("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
                               "wide_resnet50_2", "wide_resnet101_2"), 64),
              "alexnet_2012": 227, "googlenet_2014": 224, "zfnet": 224,     # fixed sizes
              "small_cnn": 8, "lenet5": 32}                                  # the digits
GRAD_FLOOR = 1e-6   # a gradient's scale is at least this fraction of the model's largest


def add_parser(subparsers):
    p = add_command(subparsers, "gradcheck", run, description=run.__doc__ +
                    " Builds the torchvision model, copies its weights into minicnn's, runs "
                    "both on the same random batch and compares the outputs (aux heads "
                    "included) and all parameter gradients. Needs torch and torchvision.")
    p.add_argument("model", help="a minicnn.models name, e.g. resnet18, googlenet (against "
                   "torchvision), resnet20, fractalnet20 (against finite differences)")
    p.add_argument("--size", type=positive_int,
                   help="image size (default 32; 63 for alexnet, 299 for inception_v3, 64 "
                   "for mobilenet_v2, ResNeXt and Wide ResNet, 224 for zfnet and "
                   "googlenet_2014, 227 for alexnet_2012)")
    p.add_argument("--batch", type=positive_int, default=2)
    p.add_argument("--num-classes", type=positive_int, default=10)
    p.add_argument("--tol", type=positive_float, default=1e-6,
                   help="largest relative error accepted")
    p.add_argument("--show", type=nonnegative_int, default=8,
                   help="how many of the worst rows to print")
    p.add_argument("--seed", type=nonnegative_int, default=0)


def relative_error(ours, theirs, floor=0.0):
    """max |ours - theirs| / max |theirs| (or ``floor`` if larger): one number per tensor,
    comparable between tensors of very different scales (unlike utils.assert_close's
    per-element test)."""
    a, b = as_numpy(ours), as_numpy(theirs)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), floor, 1e-30))


def run(args):
    """Compare a model's logits and every parameter gradient with torchvision's, in float64."""
    try:
        import torch
        import torchvision
    except ImportError:
        print("minicnn gradcheck needs PyTorch and torchvision, used only as the reference: "
              "pip install torch torchvision  (or pip install -e \".[test]\")")
        return 2
    name = args.model
    if name not in model_names():
        raise SystemExit(f"minicnn: unknown model {name!r}; choose one of "
                         f"{', '.join(model_names())}")
    if not hasattr(torchvision.models, name):
        return finite_differences(args)
    size = args.size or IMAGE_SIZE.get(name, 32)
    torch.manual_seed(args.seed)
    with_aux = name in ("googlenet", "inception_v3")
    extra = {"aux_logits": True, "init_weights": True} if with_aux else {}
    reference = getattr(torchvision.models, name)(weights=None, num_classes=args.num_classes,
                                                  **extra).double().train()
    model = getattr(mc.models, name)(num_classes=args.num_classes).double().train()
    model.load_state_dict({k: as_numpy(v) for k, v in reference.state_dict().items()})
    for m in reference.modules():          # dropout draws differ between the engines: off
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0

    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, 3, size, size))
    print(f"{name}: batch {args.batch} x 3 x {size} x {size}, float64, training mode "
          "(batch-norm batch statistics, dropout off), random upstream gradients")
    ours = model(mc.tensor(x))
    theirs = reference(to_torch(x))
    ours = list(ours) if isinstance(ours, tuple) else [ours]
    theirs = list(theirs) if isinstance(theirs, tuple) else [theirs]
    grads = [rng.standard_normal(tuple(o.shape)) for o in ours]
    # backward of sum_i <output_i, g_i>: every output gets its own random upstream gradient
    sum(((o * mc.tensor(g)).sum() for o, g in zip(ours[1:], grads[1:])),
        (ours[0] * mc.tensor(grads[0])).sum()).backward()
    sum((t * to_torch(g)).sum() for t, g in zip(theirs, grads)).backward()

    rows = [(f"output {i}", relative_error(o, t)) for i, (o, t) in enumerate(zip(ours, theirs))]
    ref_params = dict(reference.named_parameters())
    # A gradient that is 0 in exact arithmetic is rounding noise in both engines (a batch
    # norm's bias whose output reaches the loss only through a 1x1 conv and another batch
    # norm in training mode, as in MobileNet v2's linear bottlenecks): its scale is floored.
    floor = GRAD_FLOOR * max(float(np.abs(as_numpy(p.grad)).max()) for p in ref_params.values())
    for pname, p in model.named_parameters():
        rows.append((pname + ".grad", relative_error(p.grad, ref_params[pname].grad, floor)))
    worst = sorted(rows, key=lambda r: -r[1])
    ok = worst[0][1] < args.tol
    print(f"compared {len(ours)} output(s) and {len(rows) - len(ours)} parameter gradients; "
          f"largest relative errors (max |ours - torch| / max |torch|, for a gradient at "
          f"least {GRAD_FLOOR:g} x the largest gradient):")
    for label, err in worst[:args.show]:
        print(f"  {err:10.2e}  {label}")
    print(f"{'PASS' if ok else 'FAIL'}: worst {worst[0][1]:.2e} {'<' if ok else '>='} "
          f"tolerance {args.tol:g}")
    return 0 if ok else 1


def finite_differences(args):
    """A model torchvision lacks: its backward against central differences of its own
    loss L = sum(g * model(x)) (g random), in float64, training mode (dropout off; the
    random draws of stochastic depth and drop-path replayed by reseeding before every
    forward pass).  Along random unit directions d, over the input and over all
    parameters together: (L(w + eps d) - L(w - eps d)) / (2 eps) against <dL/dw, d>.
    The error is measured against ||dL/dw|| (the largest <dL/dw, d> can be), so a
    direction nearly orthogonal to the gradient does not make rounding noise look large.

    Each direction is tried with four steps, 1e-5 to 1e-8, and the closest is kept: a
    step too large moves ReLU and max-pool inputs across their kinks (deep networks:
    errors of 1e-4 to 1e-2 at 1e-5), one too small drowns a small gradient in rounding
    (AlexNet-2012's input gradient at 1e-6: 1.2e-6).  Both depend on the step; a wrong
    backward is wrong at every step."""
    name, n_directions, steps = args.model, 3, (1e-5, 1e-6, 1e-7, 1e-8)
    grey = name in GREY_MODELS
    size = args.size or IMAGE_SIZE.get(name, 32)
    mc.manual_seed(args.seed)
    model = getattr(mc.models, name)(num_classes=args.num_classes).double().train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    rng = np.random.default_rng(args.seed)
    x = mc.tensor(rng.standard_normal((args.batch, 1 if grey else 3, size, size)),
                  requires_grad=True)

    def loss(upstream):
        mc.manual_seed(args.seed)           # the same drop decisions in every pass
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        return out if upstream is None else (out * mc.tensor(upstream)).sum()

    print(f"{name}: batch {args.batch} x {x.shape[1]} x {size} x {size}, float64, training "
          "mode (batch-norm batch statistics, dropout off); torchvision has no "
          f"{name}: checked against finite differences along {n_directions} random "
          "directions of the input and of all parameters together")
    upstream = rng.standard_normal(tuple(loss(None).shape))
    model.zero_grad()
    loss(upstream).backward()
    rows = []
    for what, tensors in (("input", [x]), ("all parameters", list(model.parameters()))):
        grads = [as_numpy(t.grad) if t.grad is not None else np.zeros(t.shape) for t in tensors]
        grad_norm = np.sqrt(sum(float((g * g).sum()) for g in grads))
        originals = [t.data for t in tensors]
        for d in range(n_directions):
            directions = [rng.standard_normal(t.shape) for t in tensors]
            norm = np.sqrt(sum(float((v * v).sum()) for v in directions))
            directions = [v / norm for v in directions]
            analytic = sum(float((g * v).sum()) for g, v in zip(grads, directions))
            tries = []
            for eps in steps:
                values = []
                for sign in (1, -1):
                    for t, v, o in zip(tensors, directions, originals):
                        t.data = o + sign * eps * v
                    with mc.no_grad():
                        values.append(loss(upstream).item())
                numeric = (values[0] - values[1]) / (2 * eps)
                tries.append((abs(analytic - numeric) / max(grad_norm, 1e-30), numeric, eps))
            for t, o in zip(tensors, originals):
                t.data = o
            err, numeric, eps = min(tries)
            rows.append((f"{what}, direction {d} (step {eps:g})", analytic, numeric, err))
    worst = max(err for *_, err in rows)
    ok = worst < args.tol
    print("  |analytic - numeric| / ||grad||   analytic <grad, d>   numeric")
    for label, analytic, numeric, err in rows:
        print(f"  {err:10.2e}  {analytic:20.10g}  {numeric:20.10g}  {label}")
    print(f"{'PASS' if ok else 'FAIL'}: worst {worst:.2e} {'<' if ok else '>='} tolerance "
          f"{args.tol:g}")
    return 0 if ok else 1
