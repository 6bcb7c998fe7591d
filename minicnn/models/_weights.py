"""Loading pretrained weights into a freshly built model."""
import os


def load_weights(model, weights, skip_prefixes=()):
    """Fill ``model`` from ``weights``: a path to a PyTorch ``.pth`` file (for example a
    torchvision checkpoint) or a state dict (name -> array or Tensor).  Keys that start
    with one of ``skip_prefixes`` (aux heads the model was built without) are ignored;
    anything else that does not match is an error naming the keys."""
    if weights is None:
        return model
    if isinstance(weights, (str, os.PathLike)):
        from ..io import load_pth       # imported only when needed
        weights = load_pth(weights)
    state = {k: v for k, v in weights.items() if not (skip_prefixes and k.startswith(skip_prefixes))}
    model.load_state_dict(state)
    return model
