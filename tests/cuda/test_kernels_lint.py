"""minicnn's kernels stay deterministic: no atomics, warp intrinsics, fences or inline
PTX, whose results depend on which thread gets there first.  Threads of one block may
cooperate -- SHARED memory and __syncthreads(), as kernels/common.h lays down -- because
the CPU emulation runs such blocks together and its checked mode catches a missing
barrier (tests/cuda/test_kernels_harness.py).  Block memory is declared with the SHARED macro,
never __shared__ directly, so that the emulation can give each block its own and watch
it.  This lint enforces it (comments are ignored, so they may talk about these things)."""
import pathlib
import re

import pytest

from minicnn.cuda import loader

FORBIDDEN = {
    "__shared__ (declare block memory with SHARED)": r"\b__shared__\b",
    "barrier reductions": r"\b__syncthreads_(count|and|or)\b",
    "atomics": r"\batomic\w*",
    "warp shuffles": r"\b__shfl\w*",
    "warp votes": r"\b__(ballot|any|all|uni)(_sync)?\b",
    "warp sync/match/reduce": r"\b__(syncwarp|activemask|match_\w+|reduce_\w+_sync)\b",
    "warpSize": r"\bwarpSize\b",
    "memory fences": r"\b__threadfence\w*",
    "cooperative groups": r"\bcooperative_groups\b",
    "inline PTX": r"\basm\b",
}
# common.h defines SHARED itself: the one place __shared__ is written.
ALLOWED = {"common.h": {"__shared__ (declare block memory with SHARED)"}}


def strip_comments(source):
    """Blank out // and /* */ comments, keeping line numbers (kernels have no strings with slashes)."""
    return re.sub(r"//[^\n]*|/\*.*?\*/", lambda m: "\n" * m.group().count("\n") or " ",
                  source, flags=re.S)


def lint(source, name=""):
    """[(line number, what)] for every forbidden construct in CUDA source (file ``name``)."""
    problems = []
    for number, line in enumerate(strip_comments(source).splitlines(), 1):
        problems += [(number, what) for what, pattern in FORBIDDEN.items()
                     if re.search(pattern, line) and what not in ALLOWED.get(name, ())]
    return problems


def kernel_sources():
    folder = loader.kernel_dir()
    return {f.name: f.read_text(encoding="utf-8") for f in folder.iterdir()
            if f.name.endswith((".cu", ".h")) and f.name != "cuda_emulation.h"}


def test_there_are_kernels_to_lint():
    assert {"conv.cu", "pool.cu", "norm.cu", "activation.cu", "common.h"} <= set(kernel_sources())


@pytest.mark.parametrize("name", sorted(kernel_sources()))
def test_kernels_stay_deterministic(name):
    assert lint(kernel_sources()[name], name) == [], f"kernels/{name}"


def test_common_h_alone_may_write_shared():
    assert lint("#define SHARED(type, name, n) __shared__ type name[n]", "common.h") == []
    assert lint("#define SHARED(type, name, n) __shared__ type name[n]", "conv.cu") == [
        (1, "__shared__ (declare block memory with SHARED)")]


def test_lint_allows_cooperation_within_a_block():
    """SHARED memory and __syncthreads pass, in the test kernels of the emulation harness too."""
    snippet = "SHARED(scalar_t, partial, 256);\npartial[t] = x[t];\n__syncthreads();\n"
    assert lint(snippet) == []
    block_sum = pathlib.Path(__file__).parent / "cuda_kernels" / "block_sum.cu"
    assert lint(block_sum.read_text(encoding="utf-8")) == []


BAD_SNIPPETS = {
    "__shared__ (declare block memory with SHARED)": "__shared__ float tile[32];",
    "barrier reductions": "if (__syncthreads_or(v > 0)) {}",
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
    source = """// no __syncthreads_or here, nor atomicAdd
    /* __shared__ memory is
       not used */
    long long atomic_free_index = 0; // a name that merely starts like one would be flagged
    """
    assert lint(source) == [(4, "atomics")]
    assert lint("scalar_t shared = 0; long long warp = 1; float basm = 2;") == []
