"""Loading pretrained weights into a freshly built model, and remembering where a model's
weights came from (so a picture of it can say "untrained")."""
import os

RANDOM_INIT = "random init"


def load_weights(model, weights, skip_prefixes=()):
    """Fill ``model`` from ``weights``: a path to a PyTorch ``.pth`` file (for example a
    torchvision checkpoint) or a state dict (name -> array or Tensor).  Keys that start
    with one of ``skip_prefixes`` (aux heads the model was built without) are ignored;
    anything else that does not match is an error naming the keys.  ``weights=None``
    keeps the random initialisation.  Either way the origin is recorded
    (``mark_weights``) for ``weights_origin``."""
    if weights is None:
        return mark_weights(model, RANDOM_INIT)
    source = "a state dict"
    if isinstance(weights, (str, os.PathLike)):
        from ..io import load_pth       # imported only when needed
        source = os.path.basename(os.fspath(weights))
        weights = load_pth(weights)
    state = {k: v for k, v in weights.items() if not (skip_prefixes and k.startswith(skip_prefixes))}
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
