"""minicnn: train, evaluate, fine-tune and inspect CNNs built from scratch.

Run a subcommand with --help for its options.  With no options,
`python -m minicnn train` trains a small CNN on the handwritten digits that ship
with minicnn (no download) to about 99% test accuracy in a minute or two on a CPU.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

EPILOG = """\
examples:
  python -m minicnn train                                   # the main job: small CNN on the digits
  python -m minicnn train --epochs 20 --optimizer adam --schedule plateau --augment
  python -m minicnn train --model resnet18 --dataset cifar10:~/data --image-size 32 --device cuda
  python -m minicnn train --resume runs/small_cnn-digits-20250101-120000/checkpoint.npz --epochs 20
  python -m minicnn evaluate runs/small_cnn-digits-20250101-120000/checkpoint.npz
  python -m minicnn finetune --model resnet18 --weights resnet18-f37072fd.pth \\
         --dataset folder:~/data/flowers --freeze-body --head-lr 0.01
  python -m minicnn summary vgg16 --input 3,224,224
  python -m minicnn gradcheck resnet18                      # compare with PyTorch (needs torch)
  python -m minicnn bench

Each training run writes checkpoint.npz, metrics.jsonl and curves.png to --out.
Guides: docs/training.md and docs/transfer-learning.md.
"""

DATASET_HELP = ("digits (embedded, the default), mnist:PATH, fashion-mnist:PATH, cifar10:PATH, "
                "cifar100:PATH or folder:PATH (PATH/train and PATH/val class folders, or one "
                "folder of class folders that is split 80/20)")
OPTIMIZERS = {  # name: (default lr, default momentum, default weight decay)
    "sgd": (0.05, 0.9, 5e-4), "rmsprop": (0.01, 0.0, 0.0), "adam": (1e-3, None, 0.0),
    "adamw": (1e-3, None, 1e-2)}
TRAIN_DEFAULTS = dict(model="small_cnn", dataset="digits", epochs=10, batch_size=32,
                      optimizer="sgd", lr=None, momentum=None, weight_decay=None,
                      schedule="cosine", warmup=0, label_smoothing=0.0, augment=False,
                      image_size=None, val_split=0.0, limit=None, device="cpu", seed=0,
                      prefetch=2, aux_weight=None, weights=None, freeze_body=False,
                      head_lr=None, body_lr=None, normalize="none")


# ----- data -----------------------------------------------------------------------------
class GrayToRGB:
    """(1, H, W) -> (3, H, W): feed grey images to networks built for colour."""

    def __call__(self, img):
        return np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img

    def __repr__(self):
        return "GrayToRGB()"


def parse_dataset(spec):
    """'digits' -> ('digits', None); 'cifar10:~/data' -> ('cifar10', '/home/.../data')."""
    kind, _, path = spec.partition(":")
    kinds = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder")
    if kind not in kinds:
        raise SystemExit(f"minicnn: unknown dataset {spec!r}; expected {DATASET_HELP}")
    if kind != "digits" and not path:
        raise SystemExit(f"minicnn: dataset {kind} needs a path: --dataset {kind}:PATH "
                         "(minicnn never downloads; fetch the files yourself)")
    return kind, os.path.expanduser(path) if path else None


def native_image_size(kind):
    return {"digits": 8, "mnist": 28, "fashion-mnist": 28, "cifar10": 32, "cifar100": 32,
            "folder": 224}[kind]


def make_transforms(cfg, kind, train, rgb):
    """The transform pipeline of one split: augmentation (training only), resizing,
    ToTensor, grey-to-colour for 3-channel models, normalisation."""
    from minicnn.data import transforms as T
    size, seed = cfg["image_size"] or native_image_size(kind), cfg["seed"]
    steps = []
    if kind == "folder":                    # files of any size: the ImageNet recipe
        steps += ([T.RandomResizedCrop(size, seed=seed + 1), T.RandomHorizontalFlip(seed=seed + 2)]
                  if train and cfg["augment"] else [T.Resize(size), T.CenterCrop(size)])
    else:
        if kind not in ("digits",) and size != native_image_size(kind):
            steps.append(T.Resize((size, size)))     # digits are resized once, when loaded
        if train and cfg["augment"]:
            steps.append(T.RandomCrop(size, padding=max(1, size // 8), seed=seed + 1))
            if kind.startswith("cifar"):    # mirrored digits are different symbols
                steps.append(T.RandomHorizontalFlip(seed=seed + 2))
    steps.append(T.ToTensor())
    if rgb:
        steps.append(GrayToRGB())
    if cfg["normalize"] == "imagenet":      # what torchvision's pretrained weights expect
        steps.append(T.Normalize(T.IMAGENET_MEAN, T.IMAGENET_STD))
    return T.Compose(steps)


def load_split(cfg, kind, path, split, transform):
    from minicnn import data
    train = split == "train"
    if kind == "digits":
        size = cfg["image_size"] if cfg["image_size"] not in (None, 8) else None
        return data.load_digits(split, size=size, transform=transform)
    if kind == "folder":
        sub = [os.path.join(path, s) for s in (("train",) if train else ("val", "test"))]
        sub = [s for s in sub if os.path.isdir(s)]
        if sub:
            return data.ImageFolder(sub[0], transform=transform)
        whole = data.ImageFolder(path, transform=transform)       # no split on disk: 80/20
        first, second = data.random_split(whole, [0.8, 0.2], seed=12345)
        return first if train else second
    cls = {"mnist": data.MNIST, "fashion-mnist": data.FashionMNIST, "cifar10": data.CIFAR10,
           "cifar100": data.CIFAR100}[kind]
    return cls(path, train=train, transform=transform)


def num_classes_of(dataset):
    from minicnn.data import Subset
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return len(dataset.classes)


def make_datasets(cfg, rgb):
    """(train, val, test) datasets; val is None when validating on the test split."""
    from minicnn.data import Subset
    kind, path = parse_dataset(cfg["dataset"])
    train = load_split(cfg, kind, path, "train", make_transforms(cfg, kind, True, rgb))
    test = load_split(cfg, kind, path, "test", make_transforms(cfg, kind, False, rgb))
    val = None
    if cfg["val_split"]:
        # Hold out part of the training images, seen without augmentation.
        plain = load_split(cfg, kind, path, "train", make_transforms(cfg, kind, False, rgb))
        order = np.random.default_rng(cfg["seed"]).permutation(len(train))
        n_val = int(round(cfg["val_split"] * len(train)))
        train, val = Subset(train, order[n_val:].tolist()), Subset(plain, order[:n_val].tolist())
    if cfg["limit"]:
        train = Subset(train, list(range(min(cfg["limit"], len(train)))))
        test = Subset(test, list(range(min(cfg["limit"], len(test)))))
        val = val if val is None else Subset(val, list(range(min(cfg["limit"], len(val)))))
    return train, val, test


def make_loaders(cfg, train, val, test):
    from minicnn.data import DataLoader
    device = cfg["device"] if cfg["device"] != "cpu" else None
    common = dict(batch_size=cfg["batch_size"], prefetch=cfg["prefetch"], device=device)
    # drop_last: a batch of one or two images makes batch-norm statistics meaningless
    train_loader = DataLoader(train, shuffle=True, drop_last=len(train) > cfg["batch_size"],
                              seed=cfg["seed"], **common)
    return (train_loader, DataLoader(val, **common) if val is not None else None,
            DataLoader(test, **common))


# ----- models, optimizers, schedules ----------------------------------------------------
def model_names():
    from minicnn import models
    return [n for n in models.__all__ if n[0].islower()]


def build_model(name, num_classes, in_channels=3, weights=None):
    """A model from minicnn.models by name, with ``weights`` (a .pth path or state dict)."""
    from minicnn import models
    if name not in model_names():
        raise SystemExit(f"minicnn: unknown model {name!r}; choose one of "
                         f"{', '.join(model_names())}")
    if name == "small_cnn":
        return models.small_cnn(weights, num_classes=num_classes, in_channels=in_channels)
    return getattr(models, name)(weights, num_classes=num_classes)


def num_classes_in(state):
    """The number of outputs of the classifier stored in a state dict."""
    if "fc.weight" in state:
        return int(np.shape(state["fc.weight"])[0])
    classifier = [k for k in state if k.startswith("classifier.") and k.endswith(".weight")]
    if classifier:
        last = max(classifier, key=lambda k: int(k.split(".")[1]))
        return int(np.shape(state[last])[0])
    raise SystemExit("minicnn: cannot tell the number of classes of these weights (no fc.weight "
                     "or classifier.N.weight)")


def read_weights(path):
    """A state dict from a PyTorch .pth file or a minicnn checkpoint (.npz), plus the
    checkpoint's training config (None for .pth)."""
    from minicnn.io import load_checkpoint, load_pth
    if path.endswith(".npz"):
        ckpt = load_checkpoint(path)
        return ckpt["model"], ckpt.get("config")
    return load_pth(path), None


def build_optimizer(cfg, params):
    from minicnn import optim
    name = cfg["optimizer"]
    lr, momentum, wd = OPTIMIZERS[name]
    lr = cfg["lr"] if cfg["lr"] is not None else lr
    wd = cfg["weight_decay"] if cfg["weight_decay"] is not None else wd
    momentum = cfg["momentum"] if cfg["momentum"] is not None else momentum
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd)
    return (optim.Adam if name == "adam" else optim.AdamW)(params, lr=lr, weight_decay=wd)


def build_scheduler(cfg, optimizer):
    """The per-epoch schedule, after ``warmup`` epochs of linear warm-up from lr/10."""
    from minicnn.optim import lr_scheduler as S
    epochs, warmup, kind = cfg["epochs"], cfg["warmup"], cfg["schedule"]
    rest = max(1, epochs - warmup)
    if kind == "plateau":
        if warmup:
            raise SystemExit("minicnn: --warmup cannot be combined with --schedule plateau")
        return S.ReduceLROnPlateau(optimizer, factor=0.1, patience=2)
    main = {"none": lambda: None,
            "step": lambda: S.StepLR(optimizer, step_size=max(1, rest // 3), gamma=0.1),
            "multistep": lambda: S.MultiStepLR(optimizer, [rest // 2, rest * 3 // 4], gamma=0.1),
            "cosine": lambda: S.CosineAnnealingLR(optimizer, T_max=rest)}[kind]()
    if not warmup:
        return main
    warm = S.LinearLR(optimizer, start_factor=0.1, total_iters=warmup)
    return warm if main is None else S.SequentialLR(optimizer, [warm, main], milestones=[warmup])


def resolve(args, defaults, saved=None):
    """Settings: the defaults, overridden by a resumed run's saved config, overridden by
    the options given on this command line (those not None)."""
    cfg = dict(defaults)
    cfg.update({k: v for k, v in (saved or {}).items() if k in defaults})
    cfg.update({k: v for k, v in vars(args).items() if k in defaults and v is not None})
    return cfg


# ----- train / finetune ----------------------------------------------------------------
def plural(n, word):
    return f"{n} {word}{'s' if n != 1 else ''}"


def build_finetune_model(cfg, state, num_classes, in_channels):
    """The pretrained model with new head(s) for ``num_classes``, its body frozen if asked,
    and the optimizer's two parameter groups (body lr, head lr)."""
    from minicnn import transfer
    model = build_model(cfg["model"], num_classes_in(state), in_channels, weights=state)
    transfer.replace_head(model, num_classes)
    if cfg["freeze_body"]:
        transfer.freeze(model)
        for name in transfer.head_names(model):
            transfer.unfreeze(model.get_submodule(name))
    head_lr = cfg["head_lr"] or cfg["lr"] or OPTIMIZERS[cfg["optimizer"]][0]
    body_lr = cfg["body_lr"] if cfg["body_lr"] is not None else head_lr / 10
    cfg["lr"] = head_lr
    return model, transfer.finetune_param_groups(model, head_lr=head_lr, body_lr=body_lr)


def cmd_train(args):
    """Train a model (by default a small CNN on the embedded digits) and report test accuracy."""
    import minicnn as mc
    from minicnn import train as T
    saved = None
    if args.resume:
        saved = mc.io.load_checkpoint(args.resume).get("config")
    finetune = args.command == "finetune" or bool(saved and saved.get("weights"))
    cfg = resolve(args, TRAIN_DEFAULTS, saved)
    if finetune and not cfg["weights"]:
        raise SystemExit("minicnn: finetune needs --weights PATH (.pth or minicnn checkpoint)")
    mc.manual_seed(cfg["seed"])

    state, base_cfg = read_weights(cfg["weights"]) if finetune else (None, None)
    if finetune and args.model is None and not saved:
        # fine-tuning a minicnn checkpoint: by default the model it was trained as
        cfg["model"] = base_cfg["model"] if base_cfg else "resnet18"
    if finetune and args.normalize is None and not (saved and "normalize" in saved):
        # torchvision's weights expect ImageNet-normalised input; a minicnn checkpoint
        # expects what its own training used
        cfg["normalize"] = base_cfg.get("normalize", "none") if base_cfg else "imagenet"
    rgb = cfg["model"] != "small_cnn" or (base_cfg or {}).get("rgb", False)
    train_set, val_set, test_set = make_datasets(cfg, rgb)
    num_classes = num_classes_of(test_set)
    in_channels = int(np.shape(test_set[0][0])[0])    # (the test split draws no random numbers)
    if finetune:
        model, params = build_finetune_model(cfg, state, num_classes, in_channels)
    else:
        model = build_model(cfg["model"], num_classes, in_channels)
        params = model.parameters()
    model.to(cfg["device"])
    optimizer = build_optimizer(cfg, params)
    scheduler = build_scheduler(cfg, optimizer)
    loaders = make_loaders(cfg, train_set, val_set, test_set)

    dataset_name = parse_dataset(cfg["dataset"])[0]
    out = args.out or (os.path.dirname(os.path.abspath(args.resume)) if args.resume else
                       os.path.join("runs", f"{cfg['model']}-{dataset_name}-"
                                            f"{time.strftime('%Y%m%d-%H%M%S')}"))
    n_params = sum(p.numel() for p in model.parameters())
    validation = (f"{len(val_set)} validation" if val_set is not None else
                  f"{len(test_set)} validation (= test)")
    print(f"{'fine-tuning' if finetune else 'training'} {cfg['model']} ({n_params:,} parameters) "
          f"on {cfg['dataset']}: {len(train_set)} training, {validation} images; "
          f"{plural(cfg['epochs'], 'epoch')}, {cfg['optimizer']} lr "
          f"{cfg['lr'] or OPTIMIZERS[cfg['optimizer']][0]}, {cfg['schedule']} schedule; "
          f"device {cfg['device']}; writing to {out}")
    config = {**cfg, "command": "finetune" if finetune else "train", "num_classes": num_classes,
              "in_channels": in_channels, "rgb": bool(rgb)}
    start = time.perf_counter()
    train_loader, val_loader, test_loader = loaders
    history = T.fit(model, train_loader, val_loader if val_loader is not None else test_loader,
                    optimizer, cfg["epochs"], scheduler, label_smoothing=cfg["label_smoothing"],
                    aux_weight=cfg["aux_weight"], device=cfg["device"], out_dir=out,
                    resume=args.resume, config=config, title=f"{cfg['model']} on {cfg['dataset']}",
                    progress=not args.no_progress)
    if val_loader is None and history:        # validated on the test split: already measured
        test = {key: history[-1][f"val_{key}"] for key in ("loss", "acc1", "acc5")}
    else:
        test = T.evaluate(model, test_loader, device=cfg["device"])
    seconds = time.perf_counter() - start
    with open(os.path.join(out, "test.json"), "w", encoding="utf-8") as f:
        json.dump({**test, "images": len(test_set), "epochs": len(history)}, f)
    print(f"test accuracy {test['acc1']:.2%} (top-5 {test['acc5']:.2%}, loss {test['loss']:.4f}) "
          f"on {len(test_set)} images after {plural(len(history), 'epoch')}; time {seconds:.1f}s; "
          f"wrote {os.path.join(out, T.CHECKPOINT)}, {T.METRICS}, {T.CURVES}")
    return 0


def cmd_evaluate(args):
    """Evaluate a saved model (minicnn checkpoint, or a .pth with --model) on a dataset."""
    import minicnn as mc
    from minicnn import train as T
    state, saved = read_weights(args.checkpoint)
    saved = saved or {}
    if saved.get("model") is None and args.model is None:
        raise SystemExit("minicnn: evaluate: a .pth file needs --model NAME")
    cfg = resolve(args, TRAIN_DEFAULTS, saved)
    cfg["limit"] = args.limit                 # the whole split, unless asked otherwise
    if not saved:
        cfg["normalize"] = args.normalize or "imagenet"
    rgb = saved.get("rgb", cfg["model"] != "small_cnn")
    cfg["augment"], cfg["val_split"] = False, 0.0
    kind, path = parse_dataset(cfg["dataset"])
    dataset = load_split(cfg, kind, path, args.split, make_transforms(cfg, kind, False, rgb))
    if cfg["limit"]:
        dataset = mc.data.Subset(dataset, list(range(min(cfg["limit"], len(dataset)))))
    model = build_model(cfg["model"], num_classes_in(state), saved.get("in_channels", 3),
                        weights=state)
    model.to(cfg["device"])
    loader = mc.data.DataLoader(dataset, batch_size=cfg["batch_size"], prefetch=cfg["prefetch"])
    result = T.evaluate(model, loader, device=cfg["device"], progress=not args.no_progress)
    print(f"{cfg['model']} on {cfg['dataset']} ({args.split}, {len(dataset)} images): "
          f"accuracy {result['acc1']:.2%}, top-5 {result['acc5']:.2%}, loss {result['loss']:.4f}")
    return 0


# ----- inspection --------------------------------------------------------------------
def parse_shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise SystemExit(f"minicnn: --input must be C,H,W (e.g. 3,224,224), got {text!r}")
    return shape


def cmd_summary(args):
    """Print the per-layer table of a model: shapes, parameters, mult-adds, receptive field."""
    import minicnn as mc
    default = "1,8,8" if args.model == "small_cnn" else (
        "3,299,299" if args.model == "inception_v3" else "3,224,224")
    shape = parse_shape(args.input or default)
    model = build_model(args.model, args.num_classes, shape[0]).eval()
    print(mc.summary(model, shape, depth=args.depth))
    return 0


GRADCHECK_SIZES = {"alexnet": 63, "inception_v3": 299}     # smallest inputs that work


def cmd_gradcheck(args):
    """Compare a model's logits and every parameter gradient with torchvision's, in float64."""
    try:
        import torch
        import torchvision
    except ImportError:
        print("minicnn gradcheck needs PyTorch and torchvision, used only as the reference: "
              "pip install torch torchvision  (or pip install -e \".[test]\")")
        return 2
    import minicnn as mc
    from minicnn import nn
    name = args.model
    if not hasattr(torchvision.models, name) or name not in model_names():
        raise SystemExit(f"minicnn: gradcheck compares with torchvision, which has no {name!r}; "
                         "choose one of: " + ", ".join(n for n in model_names()
                                                       if hasattr(torchvision.models, n)))
    size = args.size or GRADCHECK_SIZES.get(name, 32)
    torch.manual_seed(args.seed)
    with_aux = name in ("googlenet", "inception_v3")
    extra = {"aux_logits": True, "init_weights": True} if with_aux else {}
    reference = getattr(torchvision.models, name)(weights=None, num_classes=args.num_classes,
                                                  **extra).double().train()
    model = getattr(mc.models, name)(num_classes=args.num_classes).double().train()
    model.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
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
    theirs = reference(torch.from_numpy(x))
    ours = list(ours) if isinstance(ours, tuple) else [ours]
    theirs = list(theirs) if isinstance(theirs, tuple) else [theirs]
    grads = [rng.standard_normal(tuple(o.shape)) for o in ours]
    # backward of sum_i <output_i, g_i>: every output gets its own random upstream gradient
    sum(((o * mc.tensor(g)).sum() for o, g in zip(ours[1:], grads[1:])),
        (ours[0] * mc.tensor(grads[0])).sum()).backward()
    sum((t * torch.from_numpy(g)).sum() for t, g in zip(theirs, grads)).backward()

    def rel_error(a, b):
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))

    rows = [(f"output {i}", rel_error(o.numpy(), t.detach().numpy()))
            for i, (o, t) in enumerate(zip(ours, theirs))]
    ref_params = dict(reference.named_parameters())
    for pname, p in model.named_parameters():
        rows.append((pname + ".grad", rel_error(p.grad.numpy(), ref_params[pname].grad.numpy())))
    worst = sorted(rows, key=lambda r: -r[1])
    ok = worst[0][1] < args.tol
    print(f"compared {len(ours)} output(s) and {len(rows) - len(ours)} parameter gradients; "
          f"largest relative errors (max |ours - torch| / max |torch|):")
    for label, err in worst[:args.show]:
        print(f"  {err:10.2e}  {label}")
    print(f"{'PASS' if ok else 'FAIL'}: worst {worst[0][1]:.2e} {'<' if ok else '>='} "
          f"tolerance {args.tol:g}")
    return 0 if ok else 1


def cmd_bench(args):
    """Time minicnn's main ops (forward + backward) and one training step, next to PyTorch's
    when it is installed.  The full benchmark is benchmarks/ops.py in the repository."""
    import minicnn as mc
    import minicnn.functional as F
    try:
        import torch
        import torch.nn.functional as TF
        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    n = args.batch
    cases = [  # name, input shapes, minicnn function, torch function
        ("conv2d 64->64 3x3 @28", [(n, 64, 28, 28), (64, 64, 3, 3)],
         lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1)),
        ("max_pool2d 3x3/2 @56", [(n, 64, 56, 56)],
         lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: TF.max_pool2d(x, 3, 2, 1)),
        ("batch_norm 64 @56", [(n, 64, 56, 56), (64,), (64,)],
         lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True)),
        ("linear 4096->1000", [(n, 4096), (1000, 4096)],
         lambda x, w: F.linear(x, w), lambda x, w: TF.linear(x, w)),
    ]

    def timed(fn, repeats):
        fn()                                            # warm-up (Numba compiles here)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    print(f"batch {n}, median of {args.repeats} runs of forward + backward "
          f"({'with' if torch else 'without'} PyTorch for comparison)")
    print(f"{'op':28s} {'minicnn':>10s} {'torch':>10s} {'ratio':>7s}")
    for name, shapes, ours, theirs in cases:
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]

        def run_ours():
            inputs = [mc.tensor(a, requires_grad=True) for a in arrays]
            y = ours(*inputs)
            y.backward(np.ones(y.shape, np.float32))

        t_ours = timed(run_ours, args.repeats)
        line = f"{name:28s} {t_ours * 1e3:8.2f}ms"
        if torch is not None:
            def run_theirs():
                inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
                y = theirs(*inputs)
                y.backward(torch.ones_like(y))
            t_theirs = timed(run_theirs, args.repeats)
            line += f" {t_theirs * 1e3:8.2f}ms {t_ours / t_theirs:7.1f}x"
        print(line)

    model = mc.models.small_cnn()
    opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = mc.tensor(rng.random((32, 1, 8, 8)).astype(np.float32))
    labels = mc.tensor(rng.integers(0, 10, 32))

    def step():
        loss = F.cross_entropy(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    print(f"small_cnn training step, batch 32 of 1x8x8: {timed(step, args.repeats) * 1e3:.2f}ms")
    print("For every op at the shapes of AlexNet, VGG, GoogLeNet, ResNet and Inception: "
          "python benchmarks/ops.py (in the repository)")
    return 0


def cmd_demo(args):
    """Finite-difference check of a tiny network, printing gradcheck's report."""
    import minicnn as mc
    import minicnn.functional as F
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


# ----- the parser -------------------------------------------------------------------
def add_training_options(p, finetune=False):
    d = TRAIN_DEFAULTS
    default_model = "resnet18, or the checkpoint's model" if finetune else d["model"]
    p.add_argument("--model", help=f"a minicnn.models name (default {default_model}): "
                   "small_cnn, alexnet, vgg11..vgg19[_bn], googlenet, resnet18..resnet152, "
                   "inception_v3, ...")
    p.add_argument("--dataset", help=f"{DATASET_HELP}")
    p.add_argument("--epochs", type=int, help=f"total number of epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"images per step (default {d['batch_size']})")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default sgd")
    p.add_argument("--lr", type=float, help="learning rate (default sgd 0.05, rmsprop 0.01, "
                   "adam/adamw 0.001)")
    p.add_argument("--momentum", type=float, help="sgd/rmsprop momentum (default sgd 0.9)")
    p.add_argument("--weight-decay", type=float, help="L2 penalty (default sgd 5e-4, adamw 0.01)")
    p.add_argument("--schedule", choices=["none", "step", "multistep", "plateau", "cosine"],
                   help="learning-rate schedule per epoch (default cosine); plateau divides the "
                   "lr by 10 when the validation loss stalls for 2 epochs")
    p.add_argument("--warmup", type=int, help="epochs of linear warm-up from lr/10 (default 0)")
    p.add_argument("--label-smoothing", type=float, help="target = (1-eps) one-hot + eps/classes")
    p.add_argument("--aux-weight", type=float, help="loss weight of auxiliary heads (default "
                   "0.3 for GoogLeNet, 0.4 for Inception v3)")
    p.add_argument("--augment", action="store_true", default=None,
                   help="random crops after padding (and mirroring for CIFAR); random resized "
                   "crops and mirroring for folder datasets")
    p.add_argument("--image-size", type=int, help="resize images to this size (e.g. 32 to feed "
                   "digits to resnet18, 224 for ImageNet-sized networks)")
    p.add_argument("--val-split", type=float, help="hold out this fraction of the training "
                   "images for validation (default 0: validate on the test split, as the "
                   "torchvision reference scripts validate on ImageNet's validation set)")
    p.add_argument("--limit", type=int, help="use at most this many images of each split "
                   "(a quick try)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default cpu")
    p.add_argument("--prefetch", type=int, help="batches prepared ahead by a background thread "
                   "(default 2)")
    p.add_argument("--normalize", choices=["none", "imagenet"], help="input normalisation "
                   "(default none; imagenet when fine-tuning torchvision weights)")
    p.add_argument("--out", help="output folder (default runs/<model>-<dataset>-<time>)")
    p.add_argument("--resume", help="continue from a checkpoint.npz of an earlier run (its "
                   "settings are reused; options given here override them)")
    p.add_argument("--seed", type=int, help="seed of initialisation, shuffling, augmentation "
                   "and dropout (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser():
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__, epilog=EPILOG,
                                     formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__ +
                       "\n\nWith no options: small_cnn on the embedded digits, 10 epochs of SGD "
                       "(momentum 0.9, lr 0.05, cosine schedule), about 99% test accuracy.",
                       formatter_class=fmt, epilog=EPILOG)
    add_training_options(p)
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("finetune", formatter_class=fmt, epilog=EPILOG,
                       help="Fine-tune pretrained weights (.pth or minicnn checkpoint) on a new "
                       "dataset: new classifier head, optionally frozen body",
                       description="Load pretrained weights, replace the classifier head(s) with "
                       "new ones for the dataset's classes, and train: the head with --head-lr, "
                       "the body with --body-lr (default head-lr / 10) or not at all "
                       "(--freeze-body). See docs/transfer-learning.md.")
    add_training_options(p, finetune=True)
    p.add_argument("--weights", help="torchvision .pth file or minicnn checkpoint.npz")
    p.add_argument("--freeze-body", action="store_true", default=None,
                   help="train only the new head(s)")
    p.add_argument("--head-lr", type=float, help="learning rate of the new head(s)")
    p.add_argument("--body-lr", type=float, help="learning rate of the pretrained body")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__,
                       formatter_class=fmt)
    p.add_argument("checkpoint", help="checkpoint.npz of a run, or a .pth file (with --model)")
    p.add_argument("--model", help="model name (read from a minicnn checkpoint)")
    p.add_argument("--dataset", help=f"default: the run's dataset; {DATASET_HELP}")
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--image-size", type=int)
    p.add_argument("--limit", type=int)
    p.add_argument("--normalize", choices=["none", "imagenet"])
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("summary", help=cmd_summary.__doc__, description=cmd_summary.__doc__,
                       formatter_class=fmt)
    p.add_argument("model", help="a minicnn.models name, e.g. alexnet, vgg16, resnet50")
    p.add_argument("--input", help="C,H,W of one image (default 3,224,224; 3,299,299 for "
                   "inception_v3; 1,8,8 for small_cnn)")
    p.add_argument("--depth", type=int, help="show modules down to this depth, with "
                   "everything below added up (default: every layer)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.set_defaults(run=cmd_summary)

    p = sub.add_parser("gradcheck", help=cmd_gradcheck.__doc__, formatter_class=fmt,
                       description=cmd_gradcheck.__doc__ + " Builds the torchvision model, "
                       "copies its weights into minicnn's, runs both on the same random batch "
                       "and compares the outputs (aux heads included) and all parameter "
                       "gradients. Needs torch and torchvision.")
    p.add_argument("model", help="a torchvision model name, e.g. resnet18, googlenet")
    p.add_argument("--size", type=int, help="image size (default 32; 63 for alexnet, 299 for "
                   "inception_v3)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--tol", type=float, default=1e-6, help="largest relative error accepted")
    p.add_argument("--show", type=int, default=8, help="how many of the worst rows to print")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_gradcheck)

    p = sub.add_parser("bench", help=cmd_bench.__doc__, description=cmd_bench.__doc__,
                       formatter_class=fmt)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:          # `minicnn summary vgg16 | head`: the reader left early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
