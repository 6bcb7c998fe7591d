"""Pretrained weights: by name (torchvision's released files, downloaded once into
PyTorch's cache), by path (a .pth file) or as a state dict; and where a model's weights
came from (so a picture of it can say "untrained").

``resolve_weights`` turns what a model constructor was given (``weights="DEFAULT"``,
``"IMAGENET1K_V1"``, ``"ResNet50_Weights.IMAGENET1K_V2"``, torchvision's own enum member,
the legacy ``pretrained=True``, a path, a state dict) into a ``Weights`` entry, a path or
a state dict; ``load_weights`` fills the built model from it and records the origin
(``mark_weights``, ``weights_origin``).  The table of files is weights_table.py, written
from torchvision by tools/make_weights_table.py.
"""
import copy
import functools
import os
import warnings

CATEGORIES_FILE = os.path.join(os.path.dirname(__file__), "imagenet_classes.txt")


def table():
    """weights_table.WEIGHTS, imported when first needed (tools/make_weights_table.py
    imports minicnn.models to rewrite that file, even when it is damaged)."""
    from .weights_table import WEIGHTS
    return WEIGHTS


@functools.lru_cache(maxsize=None)
def imagenet_categories():
    """The 1000 ImageNet class names, in label order (torchvision's ``meta["categories"]``)."""
    with open(CATEGORIES_FILE, encoding="utf-8") as f:
        return tuple(line.rstrip("\n") for line in f)


class Weights:
    """One released weights file of a model, as torchvision describes it.

    Attributes: ``model`` ("resnet50"), ``name`` ("IMAGENET1K_V2"), ``url``, ``meta``
    (``categories``: the class names or None; ``num_params``; ``acc@1``/``acc@5`` on
    ImageNet-1K; ``resize``, ``crop``, ``mean``, ``std``: the preprocessing).

    Example::

        >>> w = mc.models.get_weight("ResNet50_Weights.DEFAULT")
        >>> w.name, w.meta["categories"][:2], w.meta["crop"]
        ('IMAGENET1K_V2', ['tench', 'goldfish'], 224)
    """

    def __init__(self, model, name):
        entry = table()[model]
        info = entry["files"][name]
        self.model, self.name, self.enum, self.url = model, name, entry["enum"], info["url"]
        self.meta = dict(categories=list(imagenet_categories()) if info["categories"] else None,
                         num_params=info["num_params"], resize=info["resize"], crop=info["crop"],
                         mean=info["mean"], std=info["std"])
        self.meta["acc@1"], self.meta["acc@5"] = info["acc1"], info["acc5"]

    def __repr__(self):
        return f"{self.enum}.{self.name}"

    def __eq__(self, other):
        return isinstance(other, Weights) and (self.model, self.name) == (other.model, other.name)

    def __hash__(self):
        return hash((self.model, self.name))

    def transforms(self):
        """The preprocessing these weights expect, as a minicnn pipeline for one decoded
        image (H, W, C): shorter side to ``resize``, centre ``crop``, ToTensor, Normalize.
        (torchvision resizes with antialiasing; minicnn's Resize does not, so
        probabilities can differ slightly for large reductions.)"""
        from ..data import transforms as T
        m = self.meta
        return T.Compose([T.Resize(m["resize"]), T.CenterCrop(m["crop"]), T.ToTensor(),
                          T.Normalize(m["mean"], m["std"])])

    def path(self, progress=True):
        """The local file: from PyTorch's cache, downloaded and verified if missing."""
        from ..io.download import cached_weights
        return cached_weights(self.url, progress=progress)

    def get_state_dict(self, progress=True):
        """The weights as a state dict (name -> NumPy array), downloaded if needed."""
        from ..io import load_pth
        return load_pth(self.path(progress))


def get_model_weights(model):
    """``{name: Weights}`` of the files torchvision released for ``model`` (a minicnn.models
    name), with ``"DEFAULT"`` naming the recommended one.  Empty for a model torchvision
    lacks."""
    if model not in table():
        return {}
    found = {name: Weights(model, name) for name in table()[model]["files"]}
    found["DEFAULT"] = found[table()[model]["default"]]
    return found


def get_weight(name):
    """A ``Weights`` by torchvision's full name, e.g. ``"ResNet50_Weights.IMAGENET1K_V2"``
    or ``"ResNet50_Weights.DEFAULT"``."""
    enum, _, member = str(name).partition(".")
    for model, entry in table().items():
        if entry["enum"] == enum and member in get_model_weights(model):
            return get_model_weights(model)[member]
    raise ValueError(f"minicnn: get_weight: unknown weights {name!r}; expected "
                     "<Enum>.<NAME> as torchvision names them, e.g. 'ResNet50_Weights.DEFAULT'")


def _named(model, weights):
    """The ``Weights`` a string or torchvision enum member names for ``model``, or None when
    ``weights`` is no name (a path, a state dict)."""
    if type(weights).__name__.endswith("_Weights") and hasattr(weights, "name"):
        weights = f"{type(weights).__name__}.{weights.name}"      # torchvision's own enum
    if not isinstance(weights, str):
        return None
    enum, dot, member = weights.rpartition(".")
    known = get_model_weights(model)
    if dot and enum == table().get(model, {}).get("enum") and member in known:
        return known[member]
    if weights in known:
        return known[weights]
    looks_like_a_name = weights.replace("_", "").isalnum() and weights.upper() == weights \
        or (dot and enum.endswith("_Weights"))
    if looks_like_a_name and not os.path.exists(weights):
        choices = ", ".join(repr(n) for n in known) or "none: torchvision has no weights for it"
        raise ValueError(f"minicnn: {model}: unknown weights {weights!r}; its weights names are "
                         f"{choices} (or give a .pth path or a state dict)")
    return None


def resolve_weights(model, weights, kwargs):
    """What to load into ``model`` (a minicnn.models name): None, a ``Weights``, a path or a
    state dict.  Handles the legacy ``pretrained`` (popped from ``kwargs``, with the
    deprecation warnings torchvision gives) and ``progress``; with named weights,
    ``num_classes`` must be theirs (1000), as in torchvision."""
    progress = kwargs.pop("progress", True)
    if "pretrained" in kwargs or isinstance(weights, bool):
        positional = isinstance(weights, bool)           # resnet18(True): torchvision's legacy
        pretrained = weights if positional else kwargs.pop("pretrained")
        if not positional and weights is not None:
            raise TypeError(f"minicnn: {model}: give weights= or the legacy pretrained=, "
                            "not both")
        if pretrained and model not in table():
            raise ValueError(f"minicnn: {model}: no weights available (torchvision released "
                             "none for it): pretrained=True needs a model torchvision has")
        weights = Weights(model, table()[model]["pretrained"]) if pretrained else None
        if not positional:
            warnings.warn("The parameter 'pretrained' is deprecated since 0.13 and may be "
                          "removed in the future, please use 'weights' instead.")
        message = ("Arguments other than a weight enum or `None` for 'weights' are deprecated "
                   "since 0.13 and may be removed in the future. The current behavior is "
                   f"equivalent to passing `weights={weights}`.")
        if pretrained:
            message += (f" You can also use `weights={weights.enum}.DEFAULT` to get the most "
                        "up-to-date weights.")
        warnings.warn(message)
    named = weights if isinstance(weights, Weights) else _named(model, weights)
    if named is None:
        return weights
    if named.model != model:
        raise ValueError(f"minicnn: {model}: the weights {named} are {named.model}'s; "
                         f"{model}'s are {', '.join(get_model_weights(model)) or 'none'}")
    classes = named.meta["categories"]
    if classes is not None and kwargs.setdefault("num_classes", len(classes)) != len(classes):
        raise ValueError(f"minicnn: {model}: the weights {named} have {len(classes)} classes, "
                         f"got num_classes={kwargs['num_classes']}; build it with them and "
                         "replace the head (mc.transfer.replace_head) to change the classes")
    named = copy.copy(named)          # (the caller's entry keeps its own setting)
    named.progress = progress
    return named


def state_dict_of(weights):
    """The state dict of a ``Weights`` (downloaded if needed), a .pth path or a state dict."""
    if isinstance(weights, Weights):
        return weights.get_state_dict(getattr(weights, "progress", True))
    if isinstance(weights, (str, os.PathLike)):
        from ..io import load_pth       # imported only when needed
        return load_pth(weights)
    return weights


RANDOM_INIT = "random init"


def weights_source(weights):
    """How ``weights`` are named in ``weights_origin``: torchvision's name of a ``Weights``
    ("ResNet18_Weights.IMAGENET1K_V1"), a file's name, or "a state dict"."""
    if isinstance(weights, Weights):
        return str(weights)
    if isinstance(weights, (str, os.PathLike)):
        return os.path.basename(os.fspath(weights))
    return "a state dict"


def load_weights(model, weights, skip_prefixes=(), source=None):
    """Fill ``model`` from ``weights``: a ``Weights`` (torchvision's file, from the cache or
    downloaded), a path to a PyTorch ``.pth`` file (for example a torchvision checkpoint) or a
    state dict (name -> array or Tensor).  Keys that start with one of ``skip_prefixes`` (aux
    heads the model was built without) are ignored; anything else that does not match is an
    error naming the keys.  ``weights=None`` keeps the random initialisation.  Either way
    the origin (``source``, by default ``weights_source(weights)``) is recorded
    (``mark_weights``) for ``weights_origin``."""
    if weights is None:
        return mark_weights(model, RANDOM_INIT)
    source = source or weights_source(weights)
    state = state_dict_of(weights)
    state = {k: v for k, v in state.items() if not (skip_prefixes and k.startswith(skip_prefixes))}
    model.load_state_dict(state)
    return mark_weights(model, source)


def mark_weights(model, source):
    """Record that ``model``'s weights are now those of ``source`` (a file name, or
    ``RANDOM_INIT``), with each parameter's version counter at this moment: any later
    in-place change (an optimizer step, ``load_state_dict``) moves a counter, and
    ``weights_origin`` then says the weights changed since.  Returns ``model``."""
    model.weights_from = source
    model.weights_versions = [p._version for p in model.parameters()]
    return model


def weights_origin(model):
    """Where ``model``'s weights come from, in words for a figure's title: "untrained
    (random weights)", "resnet18.pth", "resnet18.pth, changed since (trained?)", or
    "weights of unrecorded origin" for a model built by hand (not by a ``minicnn.models``
    function, ``load_weights`` or ``mark_weights``)."""
    source = getattr(model, "weights_from", None)
    if source is None:
        return "weights of unrecorded origin"
    changed = getattr(model, "weights_versions", None) != [p._version for p in model.parameters()]
    if source == RANDOM_INIT:
        return "random init, changed since (trained?)" if changed else "untrained (random weights)"
    return f"{source}, changed since (trained?)" if changed else source
