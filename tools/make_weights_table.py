"""Write minicnn's table of torchvision's released weights, once, from torchvision itself:

* minicnn/models/weights_table.py: for each minicnn model that torchvision also has, its
  weights enum's name, what "DEFAULT" and the legacy ``pretrained=True`` mean, and per file
  the URL, the number of parameters, the ImageNet accuracy and the preprocessing;
* minicnn/models/imagenet_classes.txt: the 1000 ImageNet category names, one a line.

Run from the repository root:  python tools/make_weights_table.py
(needs torchvision; downloads nothing).  tests/models/test_pretrained.py checks that both
files still equal what the installed torchvision says.
"""
import inspect
import os
import pprint

import torchvision
import torchvision.models as tvm
from torchvision.transforms import InterpolationMode

import minicnn.models as mcm

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "minicnn", "models")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def legacy_weights(name):
    """What torchvision's ``pretrained=True`` maps to: the default its legacy-interface
    decorator holds for the ``weights`` argument."""
    builder = getattr(tvm, name)
    while not inspect.getclosurevars(builder).nonlocals.get("weights"):
        builder = builder.__wrapped__
    _, default = inspect.getclosurevars(builder).nonlocals["weights"]["weights"]
    return default.name


def preprocessing(weights):
    """The keywords of torchvision's ImageClassification preset, defaults filled in."""
    t = weights.transforms
    assert t.func.__name__ == "ImageClassification", (weights, t)
    kw = dict(t.keywords)
    assert kw.get("interpolation", InterpolationMode.BILINEAR) == InterpolationMode.BILINEAR
    return dict(resize=kw.get("resize_size", 256), crop=kw["crop_size"],
                mean=tuple(kw.get("mean", IMAGENET_MEAN)), std=tuple(kw.get("std", IMAGENET_STD)))


def main():
    classification = set(tvm.list_models(module=tvm))
    names = [n for n in mcm.__all__ if n in classification]
    table, categories = {}, None
    for name in names:
        enum = tvm.get_model_weights(name)
        files = {}
        for w in enum:
            cats = w.meta["categories"]
            if cats is not None:
                assert categories in (None, cats), name
                categories = cats
            metrics = w.meta.get("_metrics", {}).get("ImageNet-1K", {})
            metrics = {k: v for k, v in metrics.items() if v == v}      # (NaN: not measured)
            files[w.name] = dict(url=w.url, num_params=w.meta["num_params"],
                                 categories="imagenet" if cats is not None else None,
                                 acc1=metrics.get("acc@1"), acc5=metrics.get("acc@5"),
                                 **preprocessing(w))
        table[name] = dict(enum=enum.__name__, default=enum.DEFAULT.name,
                           pretrained=legacy_weights(name), files=files)
    text = pprint.pformat(table, width=100, sort_dicts=False)
    with open(os.path.join(MODELS, "weights_table.py"), "w") as f:
        f.write(f'"""torchvision\'s released ImageNet weights of the models minicnn shares with it.\n\n'
                f"Written by tools/make_weights_table.py from torchvision {torchvision.__version__};\n"
                "do not edit by hand (tests/models/test_pretrained.py compares it with torchvision).\n"
                "model -> enum: torchvision's weights class; default: what \"DEFAULT\" means;\n"
                "pretrained: what the legacy ``pretrained=True`` means; files: per weights name the\n"
                "URL, parameters, ImageNet-1K top-1/top-5 accuracy (%), the category list\n"
                "(imagenet_classes.txt) and the preprocessing (resize the shorter side, centre crop,\n"
                'mean and std of the normalisation)."""\n\n'
                f"WEIGHTS = {text}\n")
    with open(os.path.join(MODELS, "imagenet_classes.txt"), "w") as f:
        f.write("\n".join(categories) + "\n")
    print(f"{len(table)} models, {sum(len(v['files']) for v in table.values())} weight files")


if __name__ == "__main__":
    main()
