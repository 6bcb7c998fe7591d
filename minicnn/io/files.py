"""Opening a file the user named, with an error that says what is wrong with the name;
writing one atomically."""
import contextlib
import os
import tempfile


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


def default_file_mode():
    """The mode ``open(path, "w")`` gives a new file: 0666 less the umask (0644 usually).
    ``tempfile.mkstemp`` makes 0600 files: a file written through one gets this mode, so
    that all the files of a run share it."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path):
    """``with atomic_path(path) as tmp:`` write the file ``tmp`` (in the same folder, with
    the same extension, so that writers that pick a format by extension work); at the end
    of the block it replaces ``path`` in one step (``os.replace``), with the mode a new file
    gets.  An error in the block leaves ``path`` as it was, and no temporary file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=os.path.splitext(name)[1])
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, default_file_mode())
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def available_memory():
    """Bytes this process may still allocate: the system's available memory, or less under
    a limit on the address space (``ulimit -v``); None where neither can be read."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = 0
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmSize:"):
                        used = int(line.split()[1]) * 1024
            found.append(max(0, soft - used))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return min(found) if found else None
