from setuptools import setup, find_packages

setup(
    name="minicnn",
    version="0.1.0",
    description="A from-scratch deep-learning engine (NumPy/CuPy + CUDA kernels) for learning how CNNs work",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["minicnn", "minicnn.*"]) + ["minicnn.kernels"],
    # The CUDA kernels live in kernels/ at the top of the repository (where learners
    # find them) and are installed inside the package as minicnn/kernels/*.cu.
    package_dir={"minicnn": "minicnn", "minicnn.kernels": "kernels"},
    package_data={"minicnn.kernels": ["*.cu", "*.h"], "minicnn.data": ["*.npz", "*.jpg", "README.md"],
                  "minicnn.models": ["imagenet_classes.txt"]},
    install_requires=["numpy>=1.24", "numba>=0.58", "tqdm>=4.60", "matplotlib>=3.5"],
    extras_require={
        # mpi4py with MPICH from wheels: no system MPI needed (tests run `mpiexec -n 2`);
        # jupytext, nbclient and ipykernel run every lesson as a notebook
        "test": ["pytest>=7", "hypothesis>=6", "torch>=2.2", "torchvision>=0.17",
                 "mpi4py>=3.1", "mpich", "jupytext>=1.14", "nbclient>=0.7", "ipykernel>=6",
                 "onnx>=1.14", "onnxruntime>=1.16"],
        "gpu": ["cupy-cuda12x>=12"],
        "mpi": ["mpi4py>=3.1", "mpich"],
        # mc.onnx.export / mc.onnx.load and `minicnn export` (onnxruntime checks an export)
        "onnx": ["onnx>=1.14", "onnxruntime>=1.16"],
        # t-SNE for `viz embedding --method tsne` (PCA needs nothing)
        "tsne": ["scikit-learn>=1.2"],
    },
    entry_points={"console_scripts": ["minicnn=minicnn.cli:main"]},
)
