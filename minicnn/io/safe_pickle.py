"""A restricted unpickler: read pickled data without ever running code from the file.

Why this exists: ``pickle.load`` on a file from the internet is as dangerous as
running a script from it.  A pickle is a small program for a stack machine, and
its ``GLOBAL`` / ``REDUCE`` instructions can import *any* function (``os.system``)
and call it with arguments of the file's choosing.

Every import a pickle makes goes through ``Unpickler.find_class(module, name)``,
and every out-of-band object (PyTorch's tensor storages) goes through
``persistent_load``.  ``RestrictedUnpickler`` overrides ``find_class`` so that
only the names in an explicit allow-list resolve, and each resolves to a
*local* function written here that only builds data (never the real library
function).  Anything else is refused before it can run.
"""
import pickle


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """The file asked for something other than plain data; nothing was executed.  (Also a
    ValueError: bad input, reported on one line by the command line.)"""


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals in ``allowed``.

    ``allowed`` maps ``(module, name)`` to the safe local object to use instead;
    ``filename`` and ``what`` only make the error messages precise.
    """

    def __init__(self, file, allowed, filename="<stream>", what="only plain data is allowed",
                 **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = dict(allowed)
        self.filename = filename
        self.what = what

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"minicnn: refusing to load {module}.{name} from {self.filename}: "
                f"{self.what}") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(
            f"minicnn: {self.filename} refers to an external object {pid!r}, "
            "which this reader does not support")


def codecs_encode(text, encoding="utf-8"):
    """Stand-in for ``_codecs.encode``: Python 3 pickles ``bytes`` with protocol 2 as
    ``_codecs.encode(text, 'latin1')``.  Only that harmless conversion is allowed."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"minicnn: unexpected _codecs.encode({type(text).__name__}, "
                                f"{encoding!r}) in a pickle")
    return text.encode("latin1")
