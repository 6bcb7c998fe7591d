"""How big a convolution's column matrices get: the batch is taken in chunks of images.

The column matrix of im2col is kh*kw times the size of the input (VGG's second layer at
batch 4: 462 MB).  ``Conv2d`` and ``WinogradConv2d`` build theirs for a few images at a
time, at most ``COLUMN_BUDGET_BYTES``, so the memory a convolution needs stays bounded;
the products of such large columns are long enough to run at full speed one image at a
time, and small maps (7x7, 14x14) still get several images per chunk, side by side in one
product.  (Why 8 MB: docs/benchmarks-history.md, round 2.)

One image whose columns alone exceed the budget (VGG's 224x224 layers: 115 MB) is taken
in bands of output rows instead (``output_row_bands``): each band's columns are built,
multiplied and dropped while they are still in the cache, and the bands, many per image,
keep every core busy even when one of them is shared with another program.

``for_each_chunk`` runs an op's work on every chunk.  Where the chunks run is a kernel
choice, behind ``dispatch`` like every other: "map_chunks" runs them one after another
(this reference, and on the GPU), or on the CPU with Numba one core per chunk
(minicnn/cpu/threads.py).
"""
from .. import dispatch

COLUMN_BUDGET_BYTES = 8 * 2**20


def image_chunks(x, column_elements_per_image):
    """Slices of the batch axis, each holding images whose columns fit the budget (at least one)."""
    per_image = max(column_elements_per_image * x.dtype.itemsize, 1)
    step = max(1, COLUMN_BUDGET_BYTES // per_image)
    # an empty batch gets one empty chunk: the same kernels run (and say so on the GPU)
    return [slice(start, start + step) for start in range(0, max(x.shape[0], 1), step)]


@dispatch.register("map_chunks", "numpy")
def map_chunks_numpy(work, parts):
    """[work(part) for part in parts], one after another."""
    return [work(part) for part in parts]


def for_each_chunk(work, x, column_elements_per_image):
    """[work(part) for part in the budget's chunks of x's images].  Several chunks may run
    at once ("map_chunks"), but not when one image's columns exceed the budget: a chunk
    per core in flight would multiply the memory, and such products are large enough for
    BLAS to split well."""
    parts = image_chunks(x, column_elements_per_image)
    fits = column_elements_per_image * x.dtype.itemsize <= COLUMN_BUDGET_BYTES
    if not fits or len(parts) == 1:
        return map_chunks_numpy(work, parts)
    return dispatch.kernel("map_chunks", x)(work, parts)


BANDS_FROM = 2     # an image whose columns fill this many budgets is cut into bands


def output_row_bands(x, out_rows, column_elements_per_row):
    """[(image, (first row, end row))]: bands of each image's output rows whose columns fit
    the budget (at least one row), when one image's columns fill ``BANDS_FROM`` budgets;
    else None (whole images, ``image_chunks``).  Between one and two budgets, two or three
    uneven bands per image measured slower than the image in one piece (round 8)."""
    per_row = max(column_elements_per_row * x.dtype.itemsize, 1)
    if x.shape[0] == 0 or per_row * out_rows < BANDS_FROM * COLUMN_BUDGET_BYTES:
        return None
    step = max(1, COLUMN_BUDGET_BYTES // per_row)
    return [(i, (r, min(r + step, out_rows))) for i in range(x.shape[0])
            for r in range(0, out_rows, step)]


def for_each_band(work, bands, x):
    """[work(band) for band in bands], several at once where the "map_chunks" kernel can."""
    return dispatch.kernel("map_chunks", x)(work, bands)
