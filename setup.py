"""Builds functional_optim's native CPU kernels (functional_optim/native/kernels) as an optional extension.

The kernels are C++ handlers for XLA's FFI, compiled against the headers jaxlib ships (hence
jaxlib in pyproject's build requirements) with the system compiler. The extension is optional:
without a working compiler the install still succeeds and functional_optim runs its XLA path.
"""

import glob
import importlib.util
import os
import platform

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = "functional_optim/native/kernels"

# -ffp-contract=off: a multiply-add is fused only where the source says std::fma (where torch's
# kernels fuse); no fast-math. -fno-math-errno lets the loops calling std::sqrt vectorise
# (errno is never read). On x86-64 the loops target AVX2 + FMA (multi_tensor.h; cpu.cc checks the CPU).
COMPILE_ARGS = ["-std=c++17", "-O3", "-fno-math-errno", "-ffp-contract=off"]


class BuildKernels(build_ext):
    """build_ext that finds XLA's FFI headers in the installed jaxlib and honours FUNCTIONAL_OPTIM_CXXFLAGS."""

    def build_extensions(self) -> None:
        jaxlib = importlib.util.find_spec("jaxlib")
        if jaxlib is None or not jaxlib.submodule_search_locations:
            raise RuntimeError("building the native kernels needs jaxlib's FFI headers: install jaxlib first")
        include = os.path.join(next(iter(jaxlib.submodule_search_locations)), "include")
        extra = os.environ.get("FUNCTIONAL_OPTIM_CXXFLAGS", "").split()  # e.g. the sanitizer build
        for extension in self.extensions:
            extension.include_dirs.append(include)
            extension.extra_compile_args = [*COMPILE_ARGS, *extra]
            extension.extra_link_args = [*extension.extra_link_args, *extra]
        self.parallel = self.parallel or os.cpu_count()  # one compiler per kernel file
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "functional_optim.native._kernels",
            sources=sorted(glob.glob(f"{KERNELS}/*.cc")),  # one file per algorithm, and cpu.cc
            depends=sorted(glob.glob(f"{KERNELS}/*.h")),
            language="c++",
            optional=True,  # no compiler: warn, install without it
        )
    ]
    if platform.system() != "Windows"
    else [],
    cmdclass={"build_ext": BuildKernels},
)
