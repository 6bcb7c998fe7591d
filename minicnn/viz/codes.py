"""CNN codes: the features a network computes just before its classifier, one vector per
image.  Images whose codes are near each other look alike *to the network*
(Krizhevsky et al. 2012 show nearest neighbours of AlexNet's 4096-d codes); a 2-D
embedding of the codes (PCA here; t-SNE with scikit-learn) shows the classes separate."""
import numpy as np

from ..autograd import no_grad
from .figures import check_positive, describe, displayable, new_figure, set_title
from .running import batch_of, eval_mode, main_output, module_named


def cnn_codes(model, images, layer=None, batch_size=64):
    """The codes of ``images`` (N, C, H, W): the input of the model's last Linear layer
    (the penultimate features), or the output of the module named ``layer``, flattened
    per image.  Runs in eval mode without a graph, ``batch_size`` images at a time.

    Args:
        model (nn.Module): a network.
        images (array): (N, C, H, W).
        layer (str, optional): a name from ``model.named_modules()``. Default: ``None``
            (the input of the last Linear layer that runs)
        batch_size (int, optional): images per forward pass. Default: ``64``

    Returns:
        numpy.ndarray: the codes, (N, D), float64.

    Example::

        >>> mc.manual_seed(0)
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        ...                       nn.Flatten(), nn.Linear(4, 3))
        >>> mc.viz.cnn_codes(model, np.ones((2, 1, 6, 6))).shape
        (2, 4)
    """
    from ..nn import Linear
    check_positive("viz.cnn_codes", batch_size=batch_size)
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"minicnn: viz.cnn_codes: expected images (N, C, H, W), got shape "
                         f"{images.shape}")
    if layer is None:
        linears = [m for m in model.modules() if isinstance(m, Linear)]
        if not linears:
            raise ValueError(f"minicnn: viz.cnn_codes: {type(model).__name__} has no Linear "
                             "layer; name the layer whose output is the code (layer=...)")
        calls = []                          # the last Linear that *runs* is the classifier
        hooks = [m.register_forward_pre_hook(lambda m, inputs: calls.append(inputs[0]))
                 for m in linears]
    else:
        calls = []
        hooks = [module_named(model, layer).register_forward_hook(
            lambda m, inputs, out: calls.append(main_output(out)))]
    codes = []
    try:
        with no_grad(), eval_mode(model):
            for start in range(0, len(images), batch_size):
                calls.clear()
                model(batch_of(model, images[start:start + batch_size]))
                code = calls[-1] if layer is None else calls[0]
                codes.append(code.numpy().reshape(code.shape[0], -1))
    finally:
        for handle in hooks:
            handle.remove()
    return np.concatenate(codes).astype(np.float64)


def nearest_neighbours(codes, queries, k=5):
    """For each query code (Q, D), the indices (Q, k) of its ``k`` nearest rows of
    ``codes`` (N, D) by Euclidean distance, nearest first (ties: the lower index).

    Args:
        codes (array): (N, D).
        queries (array): (Q, D), or one code (D,).
        k (int, optional): neighbours per query. Default: ``5``

    Returns:
        numpy.ndarray: indices into ``codes``, (Q, k).

    Example::

        >>> codes = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
        >>> mc.viz.nearest_neighbours(codes, [0.9, 0.2], k=2)
        array([[1, 0]])
    """
    codes, queries = np.asarray(codes, dtype=np.float64), np.atleast_2d(queries)
    check_positive("viz.nearest_neighbours", k=k)
    if k > len(codes):
        raise ValueError(f"minicnn: viz.nearest_neighbours: k={k} but there are only "
                         f"{len(codes)} codes")
    # |q - c|^2 = |q|^2 - 2 q.c + |c|^2, for all pairs at once: (Q, N)
    squared = (queries ** 2).sum(1)[:, None] - 2 * queries @ codes.T + (codes ** 2).sum(1)[None]
    return np.argsort(squared, axis=1, kind="stable")[:, :k]


def pca(codes, dims=2):
    """Principal component analysis in NumPy: the codes (N, D), centred, projected on their
    ``dims`` directions of largest variance (the top right singular vectors of the centred
    matrix), each direction's sign chosen so its largest component is positive.  Returns
    (projection (N, dims), the fraction of the variance each direction explains).

    Args:
        codes (array): (N, D).
        dims (int, optional): how many directions. Default: ``2``

    Returns:
        tuple: the projection (N, dims) and the explained fractions (dims,).

    Example::

        >>> xy, explained = mc.viz.pca(np.array([[0.0, 0.0], [1, 1], [2, 2], [3, 3]]), dims=1)
        >>> explained                    # the points lie on one line
        array([1.])
        >>> xy.ravel().round(3)          # their positions along it, centred
        array([-2.121, -0.707,  0.707,  2.121])
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or min(codes.shape) < dims:
        raise ValueError(f"minicnn: viz.pca: expected codes (N, D) with N, D >= {dims}, got "
                         f"shape {codes.shape}")
    centred = codes - codes.mean(axis=0)
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)   # (k,), (k, D)
    directions = directions[:dims]
    largest = np.abs(directions).argmax(axis=1)
    directions *= np.sign(directions[np.arange(dims), largest])[:, None]
    variance = singular ** 2
    return centred @ directions.T, variance[:dims] / (variance.sum() or 1.0)


def embedding(codes, method="pca", seed=0):
    """The codes (N, D) in 2-D: ``"pca"`` (``pca``, NumPy) or ``"tsne"`` (scikit-learn's
    t-SNE, which keeps near neighbours near; needs ``pip install scikit-learn``)."""
    if method == "pca":
        return pca(codes)[0]
    if method != "tsne":
        raise ValueError(f"minicnn: viz.embedding: method must be 'pca' or 'tsne', got {method!r}")
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError("minicnn: viz.embedding: method='tsne' needs scikit-learn (pip install "
                          "scikit-learn); method='pca' needs nothing") from None
    codes = np.asarray(codes, dtype=np.float64)
    return TSNE(2, perplexity=min(30.0, (len(codes) - 1) / 3), init="pca",
                random_state=seed).fit_transform(codes)


# ----- the figures ------------------------------------------------------------------------------
def neighbours_figure(model, images, queries, k=5, labels=None, layer=None, about=None):
    """One row per query image (an index into ``images``): the query, then its ``k``
    nearest neighbours among the other images by their CNN codes (``cnn_codes``), each
    with its distance (and label, if ``labels`` are given)."""
    codes = cnn_codes(model, images, layer)
    queries = list(queries)
    found = nearest_neighbours(codes, codes[queries], k + 1)     # the query finds itself first
    fig = new_figure(1.3 * (k + 1) + 0.4, 1.5 * len(queries) + 1.0)
    for row, (query, near) in enumerate(zip(queries, found)):
        near = [i for i in near if i != query][:k]
        for col, index in enumerate([query] + near):
            ax = fig.add_subplot(len(queries), k + 1, row * (k + 1) + col + 1)
            shown = displayable(images[index])
            ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, interpolation="nearest")
            label = f" y={labels[index]}" if labels is not None else ""
            distance = np.linalg.norm(codes[index] - codes[query])
            ax.set_title(f"#{index}{label}" if col == 0 else f"#{index}{label} d={distance:.2g}",
                         fontsize=7)
            ax.axis("off")
    where = f"output of {layer}" if layer else "input of the last Linear layer"
    set_title(fig, f"Nearest neighbours by CNN code ({where}, {codes.shape[1]}-d), query first",
              about or describe(model))
    return fig


def embedding_figure(model, images, labels=None, method="pca", layer=None, about=None):
    """The images' CNN codes in 2-D (``embedding``), one dot per image, coloured by label."""
    codes = cnn_codes(model, images, layer)
    xy = embedding(codes, method)
    fig = new_figure(6.0, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    colour = None if labels is None else np.asarray(labels)
    dots = ax.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="tab10", s=12)
    if labels is not None:
        fig.colorbar(dots, ax=[ax], label="label", shrink=0.8)
    if method == "pca":
        _, explained = pca(codes)
        ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of the variance)")
        ax.set_ylabel(f"PC 2 ({explained[1]:.0%})")
    where = f"output of {layer}" if layer else "input of the last Linear layer"
    set_title(fig, f"{ {'pca': 'PCA', 'tsne': 't-SNE'}[method]} of {len(codes)} CNN codes ({where}, {codes.shape[1]}-d)",
              about or describe(model))
    return fig
