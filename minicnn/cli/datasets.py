"""Dataset recipes of the command line: which files to read for --dataset, the transform
pipeline of each split, the train / validation / test split and the data loaders."""
import os

import numpy as np

from minicnn import data
from minicnn.data import transforms as T

DATASET_HELP = ("digits (embedded, the default), mnist:PATH, fashion-mnist:PATH, cifar10:PATH, "
                "cifar100:PATH or folder:PATH (PATH/train and PATH/val class folders, or one "
                "folder of class folders that is split 80/20); with --download, mnist, "
                "fashion-mnist, cifar10 and cifar100 are fetched into PATH (default "
                "$MINICNN_DATA or ~/.cache/minicnn/datasets)")
NATIVE_IMAGE_SIZE = {"digits": 8, "mnist": 28, "fashion-mnist": 28, "cifar10": 32,
                     "cifar100": 32, "folder": 224}   # (folder: what ImageNet networks take)


class GrayToRGB:
    """(1, H, W) -> (3, H, W): feed grey images to networks built for colour."""

    def __call__(self, img):
        return np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img

    def __repr__(self):
        return "GrayToRGB()"


DOWNLOADABLE = {"mnist": data.MNIST, "fashion-mnist": data.FashionMNIST,
                "cifar10": data.CIFAR10, "cifar100": data.CIFAR100}


def default_data_root():
    """Where --download puts a dataset given without a path: ``$MINICNN_DATA``, else
    ``$XDG_CACHE_HOME/minicnn/datasets`` (``~/.cache/minicnn/datasets``)."""
    cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    return os.path.expanduser(os.environ.get("MINICNN_DATA",
                                             os.path.join(cache, "minicnn", "datasets")))


def parse_dataset(spec):
    """'digits' -> ('digits', None); 'cifar10:~/data' -> ('cifar10', '/home/.../data')."""
    kind, _, path = spec.partition(":")
    if kind not in NATIVE_IMAGE_SIZE:
        raise SystemExit(f"minicnn: unknown dataset {spec!r}; expected {DATASET_HELP}")
    if kind != "digits" and not path:
        fetch = (f", or add --download to fetch it into {default_data_root()}"
                 if kind in DOWNLOADABLE else "")
        raise SystemExit(f"minicnn: dataset {kind} needs a path: --dataset {kind}:PATH{fetch}")
    return kind, os.path.expanduser(path) if path else None


def with_download_root(spec):
    """--download: 'cifar10' -> 'cifar10:<default_data_root()>' (the run's config then
    names the folder, so evaluating or resuming it finds the files); refused for the
    datasets nothing can be downloaded for."""
    kind, _, path = spec.partition(":")
    if kind not in DOWNLOADABLE:
        raise SystemExit(f"minicnn: --download fetches {', '.join(DOWNLOADABLE)}; "
                         f"{kind} is {'embedded in minicnn' if kind == 'digits' else 'yours'}")
    return spec if path else f"{kind}:{default_data_root()}"


def download_dataset(spec, progress=True):
    """Fetch the files of --dataset ``spec`` that are missing (verified; see
    minicnn.data.datasets)."""
    kind, path = parse_dataset(spec)
    DOWNLOADABLE[kind].download(path, progress)


class StackCrops:
    """[crop, ...] (what TenCrop returns) -> (K, C, H, W): ``transform`` applied to each
    crop, stacked; ``train.evaluate`` averages the model's softmax over the K crops."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, crops):
        return np.stack([self.transform(c) for c in crops])

    def __repr__(self):
        return f"StackCrops({self.transform!r})"


def eval_resize(size):
    """The shorter side images of folder datasets are resized to before a central (or
    random, or ten-crop) crop of ``size``: ImageNet's 256 for 224."""
    return round(size * 256 / 224)


def make_transforms(cfg, kind, train, rgb, ten_crop=False):
    """The transform pipeline of one split: geometry (with augmentation, training only),
    ToTensor, grey-to-colour for 3-channel models, colour noise (training), mean
    subtraction and normalisation.  ``ten_crop`` (evaluation): each image becomes a stack
    of ten crops instead of one central image.

    Folder datasets (files of any size) are resized to ``eval_resize(size)`` and cut to
    ``size`` in the middle, or at random (--random-crop, after --scale-jitter), or by a
    random resized crop.  The small datasets (digits, MNIST, CIFAR) are used whole; their
    random crops and ten crops are windows of the image padded by 1/8 of its size."""
    size, seed = cfg["image_size"] or NATIVE_IMAGE_SIZE[kind], cfg["seed"]
    folder = kind == "folder"
    augment = train and cfg["augment"]      # the dataset's usual augmentation, as flags:
    random_crop = train and (cfg["random_crop"] or (augment and not folder))
    resized_crop = train and not random_crop and (cfg["random_resized_crop"] or
                                                  (augment and folder))
    flip = train and (cfg["flip"] or (augment and (folder or kind.startswith("cifar"))))
    padding = max(1, size // 8)
    steps = []
    if not folder and kind != "digits" and size != NATIVE_IMAGE_SIZE[kind]:
        steps.append(T.Resize((size, size)))     # digits are resized once, when loaded
    if resized_crop:
        steps.append(T.RandomResizedCrop(size, seed=seed + 1))
    elif random_crop and cfg["scale_jitter"]:
        steps += [T.RandomShorterSide(*cfg["scale_jitter"], seed=seed + 3),
                  T.RandomCrop(size, seed=seed + 1)]
    elif random_crop:
        steps += ([T.Resize(eval_resize(size)), T.RandomCrop(size, seed=seed + 1)] if folder
                  else [T.RandomCrop(size, padding=padding, seed=seed + 1)])
    elif folder:
        steps.append(T.Resize(eval_resize(size)))
        if not ten_crop:
            steps.append(T.CenterCrop(size))
    elif ten_crop:
        steps.append(T.Pad(padding))
    if flip:
        steps.append(T.RandomHorizontalFlip(seed=seed + 2))

    per_image = [T.ToTensor()] + ([GrayToRGB()] if rgb else [])
    if train and cfg["lighting"]:
        per_image.append(T.Lighting(cfg["lighting"], seed=seed + 4))
    if cfg["subtract_mean"] and cfg["channel_mean"] is not None:
        per_image.append(T.SubtractMean(cfg["channel_mean"]))
    if cfg["normalize"] == "imagenet":      # what torchvision's pretrained weights expect
        per_image.append(T.Normalize(T.IMAGENET_MEAN, T.IMAGENET_STD))
    if ten_crop:
        return T.Compose(steps + [T.TenCrop(size), StackCrops(T.Compose(per_image))])
    return T.Compose(steps + per_image)


def check_augmentation(cfg):
    """Settings of the pipeline that cannot work together: refused before anything loads."""
    kind, _ = parse_dataset(cfg["dataset"])
    size = cfg["image_size"] or NATIVE_IMAGE_SIZE[kind]
    if cfg["random_crop"] and cfg["random_resized_crop"]:
        raise SystemExit("minicnn: --random-crop and --random-resized-crop are two ways to crop "
                         "the training images; choose one")
    if cfg["scale_jitter"]:
        low, high = cfg["scale_jitter"]
        if not (cfg["random_crop"] or (cfg["augment"] and kind != "folder")) or \
                cfg["random_resized_crop"]:
            raise SystemExit("minicnn: --scale-jitter resizes the images before a random crop "
                             "of the image size: add --random-crop")
        if not size <= low <= high:
            raise SystemExit(f"minicnn: --scale-jitter {low} {high}: expected image size "
                             f"({size}) <= MIN <= MAX, so that the crop fits in the image")
    if cfg["subtract_mean"] and cfg["normalize"] == "imagenet":
        raise SystemExit("minicnn: --subtract-mean and --normalize imagenet both centre the "
                         "input; choose one")


def measure_channel_mean(cfg, kind, path, rgb, limit=1000):
    """The per-channel mean of up to ``limit`` training images (evenly spaced over those
    the run trains on), as the network sees them without augmentation."""
    plain = dict(cfg, subtract_mean=False, normalize="none")
    images = load_split(plain, kind, path, "train", make_transforms(plain, kind, False, rgb))
    used = split_indices(cfg, len(images))[0]
    picked = np.unique(np.linspace(0, len(used) - 1, min(limit, len(used))).round().astype(int))
    sums = sum(np.asarray(images[used[i]][0], dtype=np.float64).mean(axis=(1, 2)) for i in picked)
    return [float(m) for m in sums / len(picked)]


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
    return DOWNLOADABLE[kind](path, train=train, transform=transform)


def first_images(dataset, limit):
    """The first ``limit`` images of ``dataset`` (all of them when ``limit`` is None or 0)."""
    return data.Subset(dataset, list(range(min(limit, len(dataset))))) if limit else dataset


def unwrapped(dataset):
    while isinstance(dataset, data.Subset):
        dataset = dataset.dataset
    return dataset


def classes_of(dataset):
    """The class names of ``dataset`` (label i is the i-th)."""
    return list(unwrapped(dataset).classes)


def num_classes_of(dataset):
    return len(classes_of(dataset))


def where(dataset, fallback):
    """The folder of an image-folder dataset, else ``fallback``."""
    return getattr(unwrapped(dataset), "root", None) or fallback


def check_same_classes(expected, found, expected_from, found_from):
    """Labels are positions in the class list: two splits (or a model and a split) with
    different lists would pair every image with another class's label.  Refused, naming
    the classes one has and the other lacks."""
    expected, found = list(expected), list(found)
    if expected == found:
        return
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    detail = "; ".join(part for part in (
        f"{found_from} lacks {', '.join(map(repr, missing))}" if missing else "",
        f"{found_from} has {', '.join(map(repr, extra))}, which {expected_from} lacks"
        if extra else "") if part) or "the same names in another order"
    raise ValueError(f"minicnn: the classes of {found_from} ({len(found)}) differ from those "
                     f"of {expected_from} ({len(expected)}): {detail}; a label is a class's "
                     "position in the list, so both need the same classes")


VALIDATION_SPLIT_SEED = 20141   # the held-out images do not change with --seed


def split_indices(cfg, n):
    """(training, validation) indices of a training split of ``n`` images: --val-split of
    them (at least one) held out for validation, drawn with a fixed seed, so that runs with
    different --seed are compared on the same images (validation None with --val-split 0);
    each at most --limit."""
    if not cfg["val_split"]:
        return list(range(n))[:cfg["limit"] or None], None
    order = np.random.default_rng(VALIDATION_SPLIT_SEED).permutation(n)
    n_val = max(1, int(round(cfg["val_split"] * n)))
    return (order[n_val:][:cfg["limit"] or None].tolist(),
            order[:n_val][:cfg["limit"] or None].tolist())


def check_model_classes(saved, outputs, dataset, model_from, data_from):
    """A saved model and the data it is shown: the same class list when the checkpoint
    records it, and in any case no label beyond the model's outputs."""
    if (saved or {}).get("classes") is not None:
        check_same_classes(saved["classes"], classes_of(dataset), model_from,
                           where(dataset, data_from))
    elif num_classes_of(dataset) > outputs:
        raise ValueError(f"minicnn: {data_from} has {num_classes_of(dataset)} classes, but the "
                         f"model ({model_from}) has {outputs} outputs: its labels would point "
                         "past them")


def make_datasets(cfg, rgb):
    """(train, val, test) datasets; val is None when validating on the test split.
    With --subtract-mean, the training images' mean is measured first (once: it is kept
    in ``cfg``, and so in the run's config)."""
    kind, path = parse_dataset(cfg["dataset"])
    if cfg["subtract_mean"] and cfg["channel_mean"] is None:
        cfg["channel_mean"] = measure_channel_mean(cfg, kind, path, rgb)
    ten_crop = cfg["ten_crop"]
    train = load_split(cfg, kind, path, "train", make_transforms(cfg, kind, True, rgb))
    test = load_split(cfg, kind, path, "test", make_transforms(cfg, kind, False, rgb, ten_crop))
    train_idx, val_idx = split_indices(cfg, len(train))
    val = None
    if val_idx is not None:
        # Hold out part of the training images, seen without augmentation.
        val = data.Subset(load_split(cfg, kind, path, "train",
                                     make_transforms(cfg, kind, False, rgb, ten_crop)), val_idx)
        if len(train_idx) == 0 or len(val_idx) == 0:
            raise ValueError(f"minicnn: --val-split {cfg['val_split']} leaves "
                             f"{len(train_idx)} training and {len(val_idx)} "
                             "validation images; both need at least one")
    check_same_classes(classes_of(train), classes_of(test), where(train, "the training split"),
                       where(test, "the test split"))
    train = data.Subset(train, train_idx) if len(train_idx) < len(train) else train
    return train, val, first_images(test, cfg["limit"])


def make_loaders(cfg, train, val, test, rank=0, world=1):
    """The loaders of process ``rank`` of ``world`` (one process: rank 0 of 1).  Training:
    this process's share of a new shuffle every epoch (``DistributedSampler``; with one
    process, all of it), --batch-size images per step and process.  Validation and test:
    every world-th image from the rank-th; ``train.evaluate`` adds up the shares."""
    # Batches are moved to the GPU in the loader's thread, whose current GPU is the first:
    # with several processes (a GPU each) the training loop moves them instead.
    device = cfg["device"] if cfg["device"] != "cpu" and world == 1 else None
    common = dict(batch_size=cfg["batch_size"], prefetch=cfg["prefetch"], device=device)
    sampler = data.DistributedSampler(train, world, rank, shuffle=True, seed=cfg["seed"])
    # drop_last: a batch of one or two images makes batch-norm statistics meaningless
    train_loader = data.DataLoader(train, sampler=sampler,
                                   drop_last=len(sampler) > cfg["batch_size"], **common)

    def share(split):
        return split if world == 1 else data.Subset(split, range(rank, len(split), world))
    return (train_loader, data.DataLoader(share(val), **common) if val is not None else None,
            data.DataLoader(share(test), **common))
