"""The CUDA kernels (*.cu, *.h), installed as package data of minicnn; see docs/gpu.md."""
