"""Writes tests/golden/<algorithm>.npz: torch's trajectories for every table configuration.

Needs torch 2.13.0 (``pip install torch==2.13.0``). Run from the repository root:

    python -m tests.make_golden            # every algorithm
    python -m tests.make_golden adam sgd   # some
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import torch

from tests.algorithm_table import ALGORITHMS, ALGORITHMS_BY_NAME
from tests.torch_reference import trajectory

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
DTYPES = ("float64", "float32")


def write(name: str) -> pathlib.Path:
    info = ALGORITHMS_BY_NAME[name]
    arrays = {"torch_version": np.asarray(torch.__version__)}
    for config in info.configs:
        for dtype in DTYPES:
            for leaf, values in trajectory(info, config, dtype).items():
                arrays[f"{info.config_id(config)}|{dtype}|{leaf}"] = values
    path = GOLDEN_DIR / f"{name}.npz"
    GOLDEN_DIR.mkdir(exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


if __name__ == "__main__":
    for algorithm in sys.argv[1:] or [info.name for info in ALGORITHMS if info.configs]:
        print("wrote", write(algorithm))
