"""minicnn's test suite.  tests/ mirrors the source tree: one folder (a package) per package of
minicnn -- functional/, nn/, models/, cpu/, cuda/, cli/, data/, optim/, io/ -- plus docs/ and
benchmarks/, and tests/test_<module>.py for minicnn's top-level modules.  Every folder is a
package, so test modules import each other's helpers as ``tests.<folder>.<module>`` (pytest
puts the repository root on sys.path: run ``python -m pytest`` from there).

tests/models_torch_reference.py stays here: benchmarks/models.py imports it from this folder.
"""
