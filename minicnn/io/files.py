"""Opening a file the user named, with an error that says what is wrong with the name."""
import os


def open_for_reading(path, reader):
    """``open(path, "rb")``, or an error naming ``reader`` (e.g. "load_checkpoint") and
    the problem: no such file, a directory, or no permission to read it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"minicnn: {reader}: {path} is a directory, not a file")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"minicnn: {reader}: no such file {path}") from None
    except PermissionError:
        raise PermissionError(f"minicnn: {reader}: cannot read {path}: permission "
                              "denied") from None
