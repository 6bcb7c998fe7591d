"""`minicnn predict IMAGE`: the most likely classes of one image, as a pretrained model
sees it (by default torchvision's ResNet-50 weights, downloaded once into PyTorch's cache)."""
import numpy as np

import minicnn as mc
from minicnn.data import load_image, transforms as T
from minicnn.models import imagenet_categories
from minicnn.models._weights import Weights, resolve_weights
from .datasets import GrayToRGB, make_transforms, NATIVE_IMAGE_SIZE, parse_dataset
from .factories import build_model, fold_batch_norms, num_classes_in, read_weights
from .options import TRAIN_DEFAULTS, add_command, positive_int


def add_parser(subparsers):
    p = add_command(subparsers, "predict", run)
    p.add_argument("image", help="an image file (PNG, JPEG, ... need Pillow; or .npy)")
    p.add_argument("--model", default="resnet50", help="a minicnn.models name (default "
                   "resnet50; read from a minicnn checkpoint)")
    p.add_argument("--weights", default="DEFAULT", help="DEFAULT (the default) or another "
                   "weights name of the model (IMAGENET1K_V1, ...), a torchvision .pth file or "
                   "a minicnn checkpoint.npz")
    p.add_argument("--top", type=positive_int, default=5, help="classes shown (default 5)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--no-fuse-bn", action="store_true", help="keep batch norms apart (by "
                   "default each is folded into the convolution before it)")
    p.add_argument("--no-progress", action="store_true", help="no download progress bar")


def model_and_preprocessing(args):
    """(model, transform, class names, whether the model takes RGB) for --model/--weights."""
    named = resolve_weights(args.model, args.weights, {})
    if isinstance(named, Weights):            # torchvision's file, with its metadata
        model = getattr(mc.models, args.model)(weights=named, progress=not args.no_progress)
        classes = named.meta["categories"] or [str(i) for i in range(1000)]
        return model, named.transforms(), classes, True
    state, saved = read_weights(args.weights)
    outputs = num_classes_in(state)
    if saved:                                 # a minicnn run: its model, classes, pipeline
        cfg = dict(TRAIN_DEFAULTS, **{k: v for k, v in saved.items() if k in TRAIN_DEFAULTS})
        kind, _ = parse_dataset(cfg["dataset"])
        cfg["image_size"] = cfg["image_size"] or NATIVE_IMAGE_SIZE[kind]
        rgb = saved.get("rgb", cfg["model"] != "small_cnn")
        args.model = cfg["model"]             # the run's model, not --model's default
        model = build_model(cfg["model"], outputs, saved.get("in_channels", 3), weights=state)
        classes = saved.get("classes") or [str(i) for i in range(outputs)]
        return model, make_transforms(cfg, "folder", False, rgb), classes, rgb
    # a .pth file: ImageNet's evaluation preprocessing
    model = build_model(args.model, outputs, weights=state)
    transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), GrayToRGB(),
                           T.Normalize(T.IMAGENET_MEAN, T.IMAGENET_STD)])
    classes = list(imagenet_categories()) if outputs == 1000 else [str(i) for i in range(outputs)]
    return model, transform, classes, True


def run(args):
    """Print the top classes of one image with their probabilities (a pretrained model)."""
    model, transform, classes, rgb = model_and_preprocessing(args)
    image = load_image(args.image)
    if rgb and (image.ndim == 3 and image.shape[2] == 1 or image.ndim == 2):   # a grey photo
        image = np.repeat(image.reshape(image.shape[:2] + (1,)), 3, axis=2)
    x = transform(image)[None]                                      # (1, C, H, W)
    model = fold_batch_norms(model, mc.tensor(x), not args.no_fuse_bn).to(args.device)
    with mc.no_grad():
        logits = model(mc.tensor(x, device=args.device))
    probabilities = mc.functional.softmax(logits, dim=1).numpy()[0].astype(np.float64)
    print(f"{args.image} ({args.model}, weights {args.weights}):")
    for i in np.argsort(-probabilities, kind="stable")[:args.top]:
        print(f"  {probabilities[i]:7.2%}  {classes[i]}")
    return 0
