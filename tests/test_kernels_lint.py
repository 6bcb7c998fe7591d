"""minicnn's kernels keep their threads independent: no barriers, shared memory,
atomics, warp intrinsics or inline PTX.  That is what makes them deterministic and
lets the CPU emulation run them exactly, one thread after another.  This lint
enforces it (comments are ignored, so they may talk about these things)."""
import re

import pytest

from minicnn.cuda import loader

FORBIDDEN = {
    "__syncthreads": r"\b__syncthreads\w*",
    "__shared__": r"\b__shared__\b",
    "atomics": r"\batomic\w*",
    "warp shuffles": r"\b__shfl\w*",
    "warp votes": r"\b__(ballot|any|all|uni)(_sync)?\b",
    "warp sync/match/reduce": r"\b__(syncwarp|activemask|match_\w+|reduce_\w+_sync)\b",
    "warpSize": r"\bwarpSize\b",
    "memory fences": r"\b__threadfence\w*",
    "cooperative groups": r"\bcooperative_groups\b",
    "inline PTX": r"\basm\b",
}


def strip_comments(source):
    """Blank out // and /* */ comments, keeping line numbers (kernels have no strings with slashes)."""
    return re.sub(r"//[^\n]*|/\*.*?\*/", lambda m: "\n" * m.group().count("\n") or " ",
                  source, flags=re.S)


def lint(source):
    """[(line number, what)] for every forbidden construct in CUDA source."""
    problems = []
    for number, line in enumerate(strip_comments(source).splitlines(), 1):
        problems += [(number, what) for what, pattern in FORBIDDEN.items() if re.search(pattern, line)]
    return problems


def kernel_sources():
    folder = loader.kernel_dir()
    return {f.name: f.read_text(encoding="utf-8") for f in folder.iterdir()
            if f.name.endswith((".cu", ".h")) and f.name != "cuda_emulation.h"}


def test_there_are_kernels_to_lint():
    assert {"conv.cu", "pool.cu", "norm.cu", "activation.cu", "common.h"} <= set(kernel_sources())


@pytest.mark.parametrize("name", sorted(kernel_sources()))
def test_kernels_use_no_cooperation_between_threads(name):
    assert lint(kernel_sources()[name]) == [], f"kernels/{name}"


BAD_SNIPPETS = {
    "__syncthreads": "__syncthreads();",
    "__shared__": "__shared__ float tile[32];",
    "atomics": "atomicAdd(&y[i / 2], x[i]);",
    "warp shuffles": "v += __shfl_down_sync(0xffffffff, v, 16);",
    "warp votes": "if (__ballot_sync(mask, v > 0)) {}",
    "warp sync/match/reduce": "__syncwarp();",
    "warpSize": "long long lane = threadIdx.x % warpSize;",
    "memory fences": "__threadfence();",
    "cooperative groups": "namespace cg = cooperative_groups;",
    "inline PTX": 'asm volatile("bar.sync 0;");',
}


@pytest.mark.parametrize("what", sorted(BAD_SNIPPETS))
def test_lint_catches(what):
    source = "extern \"C\" __global__ void k(float* y) {\n    " + BAD_SNIPPETS[what] + "\n}\n"
    assert (2, what) in lint(source)


def test_lint_ignores_comments_and_similar_names():
    source = """// no __syncthreads here, nor atomicAdd
    /* __shared__ memory is
       not used */
    long long atomic_free_index = 0; // a name that merely starts like one would be flagged
    """
    assert lint(source) == [(4, "atomics")]
    assert lint("scalar_t shared = 0; long long warp = 1; float basm = 2;") == []
