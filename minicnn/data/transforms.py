"""Image transforms for data augmentation and preprocessing, in plain NumPy.

Two kinds of image flow through a pipeline, as in torchvision:

* **before** ``ToTensor``: an image is a NumPy array ``(H, W, C)`` or ``(H, W)``,
  ``uint8`` in [0, 255] (as decoded from a file) or float.  The geometric
  transforms (``Resize``, ``RandomShorterSide``, ``Pad``, the crops,
  ``RandomHorizontalFlip``, ``TenCrop``) work here.
* **after** ``ToTensor``: a float32 array ``(C, H, W)``.  ``Normalize``,
  ``SubtractMean`` and ``Lighting`` work here.

A typical ImageNet training pipeline (the ResNet recipe)::

    Compose([RandomResizedCrop(224), RandomHorizontalFlip(), ToTensor(),
             Lighting(0.1), Normalize(IMAGENET_MEAN, IMAGENET_STD)])

Transforms never modify their input in place (crops may return views of it).
Random transforms take ``seed=`` and draw from their own
``numpy.random.Generator`` (``self.rng``), so a pipeline is reproducible.
"""
import math
import numbers

import numpy as np

from ..geometry import pair

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Principal components of ImageNet's RGB pixel covariance (pixels in [0, 1]), as
# used for AlexNet's "PCA colour augmentation" (values from fb.resnet.torch).
# Column j of IMAGENET_EIGVEC is the eigenvector with eigenvalue IMAGENET_EIGVAL[j].
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))


def _check_hwc(img, name):
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
        shape = getattr(img, "shape", type(img).__name__)
        raise TypeError(f"minicnn: {name}: expected an image array (H, W) or (H, W, C) "
                        f"(apply it before ToTensor), got {shape}")


def _check_chw(img, name):
    if not isinstance(img, np.ndarray) or img.ndim != 3:
        shape = getattr(img, "shape", type(img).__name__)
        raise TypeError(f"minicnn: {name}: expected a float array (C, H, W) "
                        f"(apply it after ToTensor), got {shape}")


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t!r},\n" for t in self.transforms) + ")"


class Lambda:
    """Wrap a function as a transform (e.g. to stack the crops of ``TenCrop``)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, img):
        return self.fn(img)


class ToTensor:
    """``(H, W, C)`` or ``(H, W)`` image -> float32 ``(C, H, W)``.

    ``uint8`` images are scaled from [0, 255] to [0, 1]; float images keep their
    values (as torchvision does).  The result is a NumPy array: the DataLoader
    turns whole batches into minicnn Tensors.
    """

    def __call__(self, img):
        _check_hwc(img, "ToTensor")
        if img.ndim == 2:
            img = img[:, :, None]
        chw = img.transpose(2, 0, 1)
        if img.dtype == np.uint8:
            return chw.astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(chw, dtype=np.float32)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel ``c`` of a ``(C, H, W)`` array."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
        if (self.std == 0).any():
            raise ValueError(f"minicnn: Normalize: std must be non-zero, got {std}")

    def __call__(self, img):
        _check_chw(img, "Normalize")
        if len(self.mean) not in (1, img.shape[0]):
            raise ValueError(f"minicnn: Normalize: {len(self.mean)} channel means for an image "
                             f"with {img.shape[0]} channels {img.shape}")
        return ((img - self.mean) / self.std).astype(img.dtype, copy=False)

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class SubtractMean(Normalize):
    """Subtract a per-channel mean (the AlexNet/VGG preprocessing); std stays 1."""

    def __init__(self, mean):
        super().__init__(mean, np.ones(len(np.atleast_1d(mean))))

    def __repr__(self):
        return f"SubtractMean({[round(float(m), 4) for m in self.mean.ravel()]})"


def bilinear_resize(img, height, width):
    """Resize the first two axes of ``img`` with bilinear interpolation.

    Pixel centres are aligned (``align_corners=False``, as
    ``torch.nn.functional.interpolate`` and OpenCV): output pixel ``i`` samples
    the input at ``(i + 0.5) * in / out - 0.5``, clamped at 0.  There is no
    anti-aliasing, so large reductions drop detail rather than averaging it.
    ``uint8`` images are computed in float32 and rounded back.
    """
    dtype = img.dtype
    x = img.astype(np.float64 if dtype == np.float64 else np.float32)

    def weights(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(src.astype(np.int64), n_in - 1)   # floor, as src >= 0
        i1 = np.minimum(i0 + 1, n_in - 1)
        frac = (src - i0).astype(x.dtype)
        return i0, i1, frac

    r0, r1, fr = weights(img.shape[0], height)
    c0, c1, fc = weights(img.shape[1], width)
    extra = (1,) * (img.ndim - 2)                           # broadcast over channels
    fr, fc = fr.reshape((-1, 1) + extra), fc.reshape((1, -1) + extra)
    rows = x[r0] * (1 - fr) + x[r1] * fr                    # (height, W, ...)
    out = rows[:, c0] * (1 - fc) + rows[:, c1] * fc         # (height, width, ...)
    if dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(dtype, copy=False)


class Resize:
    """Resize to ``(height, width)``, or, for an int, make the *shorter* side that
    long and keep the aspect ratio (torchvision's rule: ``Resize(256)`` then
    ``CenterCrop(224)`` is the standard ImageNet evaluation)."""

    def __init__(self, size):
        if isinstance(size, numbers.Integral) and size < 1:
            # 0 divided by zero later (the aspect ratio), and -1 gave an empty image
            raise ValueError(f"minicnn: Resize: size must be at least 1, got {size}")
        self.size = size if isinstance(size, numbers.Integral) else pair(size, "size", "Resize", minimum=1)

    def output_size(self, h, w):
        if isinstance(self.size, tuple):
            return self.size
        if h <= w:
            return self.size, int(self.size * w / h)
        return int(self.size * h / w), self.size

    def __call__(self, img):
        _check_hwc(img, "Resize")
        oh, ow = self.output_size(*img.shape[:2])
        if (oh, ow) == img.shape[:2]:
            return img
        return bilinear_resize(img, oh, ow)

    def __repr__(self):
        return f"Resize({self.size})"


class RandomShorterSide:
    """Resize so that the shorter side is a random whole number of pixels from
    ``min_size`` to ``max_size`` (both included), keeping the aspect ratio: the "scale
    jittering" of VGG (shorter side in [256, 512]) and ResNet ([256, 480]), applied before
    a fixed-size ``RandomCrop``, so that the crop covers a varying share of the object.

    (torchvision.transforms.v2.RandomResize draws from ``[min_size, max_size)``, the
    largest size excluded; this transform includes it, as the papers state their ranges.)
    """

    def __init__(self, min_size, max_size, seed=None):
        if not (isinstance(min_size, numbers.Integral) and isinstance(max_size, numbers.Integral)
                and 1 <= min_size <= max_size):
            raise ValueError(f"minicnn: RandomShorterSide: expected whole numbers 1 <= min_size "
                             f"<= max_size, got min_size={min_size!r}, max_size={max_size!r}")
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.rng = np.random.default_rng(seed)

    def __call__(self, img):
        _check_hwc(img, "RandomShorterSide")
        return Resize(int(self.rng.integers(self.min_size, self.max_size + 1)))(img)

    def __repr__(self):
        return f"RandomShorterSide({self.min_size}, {self.max_size})"


def _pad(img, top, bottom, left, right, fill=0, mode="constant"):
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
    if mode == "constant":
        return np.pad(img, widths, mode="constant", constant_values=fill)
    return np.pad(img, widths, mode=mode)


def _padding_ltrb(padding):
    """torchvision's padding argument -> (left, top, right, bottom): one number for every
    side, (left/right, top/bottom), or all four."""
    if isinstance(padding, numbers.Integral):
        return (padding,) * 4
    padding = tuple(padding)
    if len(padding) not in (2, 4):
        raise ValueError(f"minicnn: padding must be an int or a sequence of 2 or 4 ints, got "
                         f"{padding}")
    return padding * (4 // len(padding))


class Pad:
    """Pad the borders: ``padding`` pixels on every side, (left/right, top/bottom), or
    (left, top, right, bottom), torchvision's order; ``padding_mode`` "constant" (with
    ``fill``), "edge" or "reflect"."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        if padding_mode not in ("constant", "edge", "reflect"):
            raise ValueError(f"minicnn: Pad: padding_mode must be 'constant', 'edge' or "
                             f"'reflect', got {padding_mode!r}")
        self.padding, self.fill, self.padding_mode = _padding_ltrb(padding), fill, padding_mode

    def __call__(self, img):
        _check_hwc(img, "Pad")
        left, top, right, bottom = self.padding
        return _pad(img, top, bottom, left, right, self.fill, self.padding_mode)

    def __repr__(self):
        return f"Pad({self.padding})"


class CenterCrop:
    """Cut the central ``(height, width)`` region (zero-padding a smaller image first)."""

    def __init__(self, size):
        self.size = pair(size, "size", "CenterCrop", minimum=1)

    def __call__(self, img):
        _check_hwc(img, "CenterCrop")
        th, tw = self.size
        h, w = img.shape[:2]
        if th > h or tw > w:
            ph, pw = max(th - h, 0), max(tw - w, 0)
            img = _pad(img, ph // 2, (ph + 1) // 2, pw // 2, (pw + 1) // 2)
            h, w = img.shape[:2]
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return img[top:top + th, left:left + tw]

    def __repr__(self):
        return f"CenterCrop({self.size})"


class RandomCrop:
    """Cut a random ``(height, width)`` window, after optional padding.

    ``RandomCrop(32, padding=4)`` is the classic CIFAR augmentation: pad 4 pixels
    on every side, then crop back to 32x32 at a random position.
    ``padding_mode`` is ``"constant"`` (with ``fill``), ``"edge"`` or ``"reflect"``.
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0,
                 padding_mode="constant", seed=None):
        self.size = pair(size, "size", "RandomCrop", minimum=1)
        self.padding = padding
        self.pad_if_needed, self.fill, self.padding_mode = pad_if_needed, fill, padding_mode
        if padding_mode not in ("constant", "edge", "reflect"):
            raise ValueError(f"minicnn: RandomCrop: padding_mode must be 'constant', 'edge' or "
                             f"'reflect', got {padding_mode!r}")
        self.pad = Pad(padding, fill, padding_mode) if padding else None
        self.rng = np.random.default_rng(seed)

    def __call__(self, img):
        _check_hwc(img, "RandomCrop")
        th, tw = self.size
        if self.pad is not None:
            img = self.pad(img)
        h, w = img.shape[:2]
        if self.pad_if_needed and (h < th or w < tw):
            ph, pw = max(th - h, 0), max(tw - w, 0)
            img = _pad(img, ph, ph, pw, pw, self.fill, self.padding_mode)
            h, w = img.shape[:2]
        if h < th or w < tw:
            raise ValueError(f"minicnn: RandomCrop: crop size {self.size} is larger than the "
                             f"(padded) image {img.shape[:2]}")
        top = int(self.rng.integers(0, h - th + 1))
        left = int(self.rng.integers(0, w - tw + 1))
        return img[top:top + th, left:left + tw]

    def __repr__(self):
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomResizedCrop:
    """Crop a random region of random area and aspect ratio, then resize it to ``size``
    (the "Inception" augmentation, torchvision's algorithm).

    The region covers ``scale`` (default 8%-100%) of the image area with aspect
    ratio (width / height) drawn log-uniformly from ``ratio``; after 10 failed
    attempts to fit such a region, a central crop is used instead.
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), seed=None):
        self.size = pair(size, "size", "RandomResizedCrop", minimum=1)
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"minicnn: RandomResizedCrop: scale and ratio must be (min, max), "
                             f"got scale={scale}, ratio={ratio}")
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.rng = np.random.default_rng(seed)

    def get_params(self, h, w):
        """(top, left, height, width) of the region to crop."""
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * self.rng.uniform(*self.scale)
            aspect = math.exp(self.rng.uniform(*log_ratio))
            cw = int(round(math.sqrt(target_area * aspect)))
            ch = int(round(math.sqrt(target_area / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(self.rng.integers(0, h - ch + 1))
                left = int(self.rng.integers(0, w - cw + 1))
                return top, left, ch, cw
        # Fallback: the largest central crop whose aspect ratio is within range.
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            cw, ch = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            ch, cw = h, int(round(h * self.ratio[1]))
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, img):
        _check_hwc(img, "RandomResizedCrop")
        top, left, ch, cw = self.get_params(*img.shape[:2])
        return bilinear_resize(img[top:top + ch, left:left + cw], *self.size)

    def __repr__(self):
        return f"RandomResizedCrop({self.size}, scale={self.scale}, ratio={self.ratio})"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability ``p``."""

    def __init__(self, p=0.5, seed=None):
        self.p = p
        self.rng = np.random.default_rng(seed)

    def __call__(self, img):
        _check_hwc(img, "RandomHorizontalFlip")
        return img[:, ::-1] if self.rng.random() < self.p else img

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Lighting:
    """AlexNet's PCA colour augmentation on a ``(3, H, W)`` float image.

    Adds to every pixel the same RGB offset ``eigvec @ (alpha * eigval)`` with
    ``alpha ~ N(0, alphastd)`` drawn once per image: the image's colours shift
    along the principal components of natural-image colour, so the network
    learns to ignore illumination intensity and colour.  The ImageNet defaults
    are for pixels in [0, 1]; apply after ``ToTensor`` and before ``Normalize``.
    """

    def __init__(self, alphastd=0.1, eigval=IMAGENET_EIGVAL, eigvec=IMAGENET_EIGVEC, seed=None):
        self.alphastd = alphastd
        self.eigval = np.asarray(eigval, dtype=np.float64)
        self.eigvec = np.asarray(eigvec, dtype=np.float64)
        if self.eigvec.shape != (len(self.eigval), len(self.eigval)):
            raise ValueError(f"minicnn: Lighting: eigvec must be square with one column per "
                             f"eigenvalue, got {self.eigvec.shape} for {len(self.eigval)} values")
        self.rng = np.random.default_rng(seed)

    def __call__(self, img):
        _check_chw(img, "Lighting")
        if img.shape[0] != len(self.eigval):
            raise ValueError(f"minicnn: Lighting: expected {len(self.eigval)} channels, got an "
                             f"image of shape {img.shape}")
        if self.alphastd == 0:
            return img
        alpha = self.rng.normal(0.0, self.alphastd, size=len(self.eigval))
        rgb = self.eigvec @ (alpha * self.eigval)               # (C,)
        return (img + rgb.reshape(-1, 1, 1)).astype(img.dtype, copy=False)

    def __repr__(self):
        return f"Lighting(alphastd={self.alphastd})"


class FiveCrop:
    """The four corner crops and the central crop: [top-left, top-right,
    bottom-left, bottom-right, centre] (torchvision's order)."""

    def __init__(self, size):
        self.size = pair(size, "size", "FiveCrop", minimum=1)

    def __call__(self, img):
        _check_hwc(img, "FiveCrop")
        th, tw = self.size
        h, w = img.shape[:2]
        if th > h or tw > w:
            raise ValueError(f"minicnn: FiveCrop: crop size {self.size} is larger than the "
                             f"image {img.shape[:2]}")
        return [img[:th, :tw], img[:th, w - tw:], img[h - th:, :tw], img[h - th:, w - tw:],
                CenterCrop(self.size)(img)]

    def __repr__(self):
        return f"{type(self).__name__}({self.size})"


class TenCrop(FiveCrop):
    """``FiveCrop`` plus the same five crops of the mirrored image (flipped
    vertically instead if ``vertical_flip``): the AlexNet evaluation, which
    averages the network's predictions over the 10 crops.

    Returns a list of 10 images; to feed a network, stack them, e.g.
    ``Compose([Resize(256), TenCrop(224), Lambda(lambda crops: np.stack(
    [normalize(to_tensor(c)) for c in crops]))])`` gives ``(10, C, H, W)`` per
    image, and a batch ``(N, 10, C, H, W)`` to reshape to ``(N*10, C, H, W)``.
    """

    def __init__(self, size, vertical_flip=False):
        super().__init__(size)
        self.vertical_flip = vertical_flip

    def __call__(self, img):
        crops = super().__call__(img)
        flipped = img[::-1] if self.vertical_flip else img[:, ::-1]
        return crops + super().__call__(flipped)
