"""Dataset recipes of the command line: which files to read for --dataset, the transform
pipeline of each split, the train / validation / test split and the data loaders."""
import os

import numpy as np

from minicnn import data
from minicnn.data import transforms as T

DATASET_HELP = ("digits (embedded, the default), mnist:PATH, fashion-mnist:PATH, cifar10:PATH, "
                "cifar100:PATH or folder:PATH (PATH/train and PATH/val class folders, or one "
                "folder of class folders that is split 80/20)")
NATIVE_IMAGE_SIZE = {"digits": 8, "mnist": 28, "fashion-mnist": 28, "cifar10": 32,
                     "cifar100": 32, "folder": 224}   # (folder: what ImageNet networks take)


class GrayToRGB:
    """(1, H, W) -> (3, H, W): feed grey images to networks built for colour."""

    def __call__(self, img):
        return np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img

    def __repr__(self):
        return "GrayToRGB()"


def parse_dataset(spec):
    """'digits' -> ('digits', None); 'cifar10:~/data' -> ('cifar10', '/home/.../data')."""
    kind, _, path = spec.partition(":")
    if kind not in NATIVE_IMAGE_SIZE:
        raise SystemExit(f"minicnn: unknown dataset {spec!r}; expected {DATASET_HELP}")
    if kind != "digits" and not path:
        raise SystemExit(f"minicnn: dataset {kind} needs a path: --dataset {kind}:PATH "
                         "(minicnn never downloads; fetch the files yourself)")
    return kind, os.path.expanduser(path) if path else None


def make_transforms(cfg, kind, train, rgb):
    """The transform pipeline of one split: augmentation (training only), resizing,
    ToTensor, grey-to-colour for 3-channel models, normalisation."""
    size, seed = cfg["image_size"] or NATIVE_IMAGE_SIZE[kind], cfg["seed"]
    steps = []
    if kind == "folder":                    # files of any size: the ImageNet recipe
        steps += ([T.RandomResizedCrop(size, seed=seed + 1), T.RandomHorizontalFlip(seed=seed + 2)]
                  if train and cfg["augment"] else [T.Resize(size), T.CenterCrop(size)])
    else:
        if kind not in ("digits",) and size != NATIVE_IMAGE_SIZE[kind]:
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


def first_images(dataset, limit):
    """The first ``limit`` images of ``dataset`` (all of them when ``limit`` is None or 0)."""
    return data.Subset(dataset, list(range(min(limit, len(dataset))))) if limit else dataset


def num_classes_of(dataset):
    while isinstance(dataset, data.Subset):
        dataset = dataset.dataset
    return len(dataset.classes)


def make_datasets(cfg, rgb):
    """(train, val, test) datasets; val is None when validating on the test split."""
    kind, path = parse_dataset(cfg["dataset"])
    train = load_split(cfg, kind, path, "train", make_transforms(cfg, kind, True, rgb))
    test = load_split(cfg, kind, path, "test", make_transforms(cfg, kind, False, rgb))
    val = None
    if cfg["val_split"]:
        # Hold out part of the training images, seen without augmentation.
        plain = load_split(cfg, kind, path, "train", make_transforms(cfg, kind, False, rgb))
        order = np.random.default_rng(cfg["seed"]).permutation(len(train))
        n_val = int(round(cfg["val_split"] * len(train)))
        train = data.Subset(train, order[n_val:].tolist())
        val = data.Subset(plain, order[:n_val].tolist())
    train, test = first_images(train, cfg["limit"]), first_images(test, cfg["limit"])
    val = val if val is None else first_images(val, cfg["limit"])
    if val is not None and (len(train) == 0 or len(val) == 0):
        raise ValueError(f"minicnn: --val-split {cfg['val_split']} leaves "
                         f"{len(train)} training and {0 if val is None else len(val)} "
                         "validation images; both need at least one")
    return train, val, test


def make_loaders(cfg, train, val, test):
    device = cfg["device"] if cfg["device"] != "cpu" else None
    common = dict(batch_size=cfg["batch_size"], prefetch=cfg["prefetch"], device=device)
    # drop_last: a batch of one or two images makes batch-norm statistics meaningless
    train_loader = data.DataLoader(train, shuffle=True, drop_last=len(train) > cfg["batch_size"],
                                   seed=cfg["seed"], **common)
    return (train_loader, data.DataLoader(val, **common) if val is not None else None,
            data.DataLoader(test, **common))
