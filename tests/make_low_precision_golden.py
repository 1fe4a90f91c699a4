"""Writes tests/golden/low_precision.npz: torch's bfloat16/float16/float32 elementwise optimizers, step by step.

torch's for-loop implementation (``foreach=False``) rounds every tensor it writes to the
parameter's dtype; tests/test_low_precision.py checks functional_optim does the same, bit for
bit (float32 on the native kernels' path). Each run feeds fixed random gradients (no loss, so
autograd's own rounding plays no part) and records the inputs once, then the params after every
step and the final per-parameter state, as the raw bits of each value (``uint16`` or ``uint32``;
view them as the dtype).

torch's x86 builds compute a float32 ``sqrt`` with MKL's vector maths, which is not correctly
rounded: about 0.5% of results are one ulp off, near a rounding midpoint. The float32 runs
therefore replace ``Tensor.sqrt``/``sqrt_`` with the correctly rounded square root (a float64
root rounded to float32, which is exact), so that the golden checks every other op bit for bit;
the half-precision runs use torch as it is.

Needs torch 2.13.0. Run from the repository root:

    python -m tests.make_low_precision_golden
"""

from __future__ import annotations

import contextlib
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

GOLDEN_PATH = pathlib.Path(__file__).parent / "golden" / "low_precision.npz"
DTYPES = ("bfloat16", "float16", "float32")
STEPS = 30
# torch's CPU kernels round differently in the scalar tail of a tensor that does not fill their
# vector loop (2 x 16 or 2 x 32 half-precision lanes: e.g. ``add_`` then rounds alpha * other
# to the dtype before adding); sizes that are multiples of 64 keep every entry in the vector path
SHAPES = {"w": (2, 64), "b": (64,)}

# (functional_optim name, torch.optim class, config): the main option combinations
CASES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("sgd", "SGD", {"lr": 0.01}),
    ("sgd", "SGD", {"lr": 0.01, "weight_decay": 0.1}),
    ("sgd", "SGD", {"lr": 0.01, "momentum": 0.9}),
    ("sgd", "SGD", {"lr": 0.01, "momentum": 0.9, "dampening": 0.5}),
    ("sgd", "SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("sgd", "SGD", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.1}),
    ("sgd", "SGD", {"lr": 0.03, "momentum": 0.5, "nesterov": True, "weight_decay": 0.05, "maximize": True}),
    ("adam", "Adam", {"lr": 0.01}),
    ("adam", "Adam", {"lr": 0.01, "amsgrad": True}),
    ("adam", "Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("adam", "Adam", {"lr": 0.01, "eps": 1e-3, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("adam", "Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("adamw", "AdamW", {"lr": 0.01}),
    ("adamw", "AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("adamw", "AdamW", {"lr": 0.01, "betas": (0.8, 0.99), "maximize": True}),
    ("adamax", "Adamax", {"lr": 0.01}),
    ("adamax", "Adamax", {"lr": 0.01, "weight_decay": 0.1}),
    ("adamax", "Adamax", {"lr": 0.01, "eps": 1e-3, "maximize": True}),
    ("adamax", "Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05, "maximize": True}),
    ("nadam", "NAdam", {"lr": 0.01}),
    ("nadam", "NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("nadam", "NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("nadam", "NAdam", {"lr": 0.01, "eps": 1e-3, "momentum_decay": 0.01, "maximize": True}),
    (
        "nadam",
        "NAdam",
        {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05, "decoupled_weight_decay": True, "maximize": True},
    ),
    ("radam", "RAdam", {"lr": 0.01}),
    ("radam", "RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("radam", "RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("radam", "RAdam", {"lr": 0.01, "eps": 1e-3, "maximize": True}),
    ("radam", "RAdam", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.05, "maximize": True}),  # both phases
    ("rmsprop", "RMSprop", {"lr": 0.01}),
    ("rmsprop", "RMSprop", {"lr": 0.01, "weight_decay": 0.1}),
    ("rmsprop", "RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("rmsprop", "RMSprop", {"lr": 0.01, "centered": True}),
    ("rmsprop", "RMSprop", {"lr": 0.03, "alpha": 0.7, "momentum": 0.9, "centered": True}),
    (
        "rmsprop",
        "RMSprop",
        {
            "lr": 0.01,
            "alpha": 0.9,
            "eps": 1e-3,
            "momentum": 0.5,
            "centered": True,
            "weight_decay": 0.1,
            "maximize": True,
        },
    ),
    ("adagrad", "Adagrad", {"lr": 0.1}),
    ("adagrad", "Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("adagrad", "Adagrad", {"lr": 0.3, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("adagrad", "Adagrad", {"lr": 0.1, "eps": 1e-3, "weight_decay": 0.05, "maximize": True}),
    ("adadelta", "Adadelta", {"lr": 1.0}),
    ("adadelta", "Adadelta", {"lr": 1.0, "weight_decay": 0.1}),
    ("adadelta", "Adadelta", {"lr": 0.3, "rho": 0.95, "eps": 1e-3}),
    ("adadelta", "Adadelta", {"lr": 1.0, "rho": 0.8, "weight_decay": 0.05, "maximize": True}),
    ("asgd", "ASGD", {"lr": 0.01}),
    ("asgd", "ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 5}),
    ("asgd", "ASGD", {"lr": 0.01, "weight_decay": 0.1}),
    ("asgd", "ASGD", {"lr": 0.02, "lambd": 1e-3, "t0": 3, "weight_decay": 0.05, "maximize": True}),
    ("asgd", "ASGD", {"lr": 0.3, "lambd": 0.5, "alpha": 0.75, "t0": 0, "weight_decay": 0.3}),
    ("rprop", "Rprop", {"lr": 0.01}),
    ("rprop", "Rprop", {"lr": 0.01, "etas": (0.3, 1.5)}),
    ("rprop", "Rprop", {"lr": 0.01, "step_sizes": (1e-3, 0.05)}),
    ("rprop", "Rprop", {"lr": 0.02, "etas": (0.4, 1.3), "step_sizes": (1e-4, 1.0), "maximize": True}),
    ("rprop", "Rprop", {"lr": 0.01, "etas": (0.999, 1.001)}),  # bf16 etaminus rounds to 1
    ("rprop", "Rprop", {"lr": 0.001, "etas": (0.1, 1.1), "step_sizes": (1e-7, 50)}),  # f16 subnormal minimum
)


def case_id(name: str, config: dict[str, Any]) -> str:
    return f"{name}[" + ",".join(f"{k}={v}" for k, v in config.items()) + "]"


def bits(tensor: torch.Tensor) -> np.ndarray:
    signed, unsigned = (torch.int16, np.uint16) if tensor.element_size() == 2 else (torch.int32, np.uint32)
    return tensor.detach().view(signed).numpy().view(unsigned).copy()


def from_bits(values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values.view(np.int16 if values.itemsize == 2 else np.int32)).view(dtype)


def inputs(dtype: str) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Initial params and the gradients of every step, as ``dtype`` bits."""
    rng = np.random.default_rng(0)

    def draw(shape: tuple[int, ...]) -> np.ndarray:
        return bits(torch.tensor(rng.standard_normal(shape), dtype=getattr(torch, dtype)))

    params = {k: draw(shape) for k, shape in SHAPES.items()}
    grads = [{k: draw(shape) for k, shape in SHAPES.items()} for _ in range(STEPS)]
    return params, grads


@contextlib.contextmanager
def correctly_rounded_sqrt() -> Iterator[None]:
    """``Tensor.sqrt`` and ``sqrt_`` rounded correctly, instead of by MKL (see the module docstring)."""
    sqrt, sqrt_ = torch.Tensor.sqrt, torch.Tensor.sqrt_
    torch.Tensor.sqrt = lambda self: sqrt(self.double()).to(self.dtype)
    torch.Tensor.sqrt_ = lambda self: self.copy_(sqrt(self.double()))
    try:
        yield
    finally:
        torch.Tensor.sqrt, torch.Tensor.sqrt_ = sqrt, sqrt_


def torch_run(torch_name: str, config: dict[str, Any], dtype: str) -> dict[str, np.ndarray]:
    """``{"param|leaf": params after 0..STEPS steps, "state key|leaf": the state after STEPS}``."""
    torch_dtype = getattr(torch, dtype)
    initial, grads = inputs(dtype)
    params = {k: from_bits(v, torch_dtype).requires_grad_() for k, v in initial.items()}
    optimizer = getattr(torch.optim, torch_name)(list(params.values()), foreach=False, **config)
    record: dict[str, list[np.ndarray]] = {f"param|{k}": [v] for k, v in initial.items()}
    for step_grads in grads:
        for k, param in params.items():
            param.grad = from_bits(step_grads[k], torch_dtype)
        with correctly_rounded_sqrt() if dtype == "float32" else contextlib.nullcontext():
            optimizer.step()
        for k, param in params.items():
            record[f"param|{k}"].append(bits(param))
    for k, param in params.items():
        for key, value in optimizer.state[param].items():
            if value.shape == param.shape:  # not the 0-d scalars (step, ASGD's eta and mu, NAdam's mu_product)
                record[f"{key}|{k}"] = [bits(value)]
    return {k: np.stack(v) for k, v in record.items()}


def arrays() -> dict[str, np.ndarray]:
    """The golden's contents, computed with the installed torch."""
    out: dict[str, np.ndarray] = {"torch_version": np.asarray(torch.__version__)}
    for dtype in DTYPES:
        initial, grads = inputs(dtype)
        for k in SHAPES:
            out[f"inputs|{dtype}|param|{k}"] = initial[k]
            out[f"inputs|{dtype}|grad|{k}"] = np.stack([step_grads[k] for step_grads in grads])
    for name, torch_name, config in CASES:
        out[f"{case_id(name, config)}|config"] = np.asarray(json.dumps({"name": name, **config}))
        for dtype in DTYPES:
            for key, values in torch_run(torch_name, config, dtype).items():
                out[f"{case_id(name, config)}|{dtype}|{key}"] = values
    return out


def main() -> None:
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN_PATH, **arrays())
    print("wrote", GOLDEN_PATH)


if __name__ == "__main__":
    main()
