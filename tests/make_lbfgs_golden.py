"""The L-BFGS test problems and configurations, torch's runs of them, and the golden writer.

Writes tests/golden/lbfgs.npz: for every case (a problem, a configuration, a dtype and a
number of steps), the flat params before and after each ``torch.optim.LBFGS.step(closure)``
call, the loss each step returned, the ``func_evals`` / ``n_iter`` counters after it, and
torch's state after the last step. Needs torch 2.13.0 (only ``torch_run`` and the writer
import it). Run from the repository root:

    python -m tests.make_lbfgs_golden
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.algorithm_table import TorchTensor

GOLDEN_PATH = pathlib.Path(__file__).parent / "golden" / "lbfgs.npz"


@dataclasses.dataclass(frozen=True)
class Problem:
    """An objective written once for both array namespaces: ``loss(params, *data, xp)``."""

    params: Callable[[], dict[str, np.ndarray]]
    data: Callable[[], tuple[np.ndarray, ...]]
    loss: Callable[..., Any]


def _rosenbrock(params, xp):
    x = params["x"]
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _logistic_data():
    rng = np.random.default_rng(7)
    features = rng.normal(size=(40, 5))
    labels = (features @ rng.normal(size=5) + rng.normal(size=40) > 0).astype(np.float64)
    return features, labels


def _logistic(params, features, labels, xp):
    z = features @ params["w"] + params["b"]
    return (xp.log(1 + xp.exp(z)) - labels * z).mean() + 0.005 * (params["w"] ** 2).sum()


def _mlp_params():
    rng = np.random.default_rng(3)
    return {
        "b1": rng.normal(size=8) * 0.1,
        "b2": np.zeros(1),
        "w1": rng.normal(size=(3, 8)) * 0.5,
        "w2": rng.normal(size=(8, 1)) * 0.5,
    }


def _mlp_data():
    rng = np.random.default_rng(4)
    inputs = rng.normal(size=(24, 3))
    return inputs, np.sin(inputs.sum(-1, keepdims=True))


def _mlp(params, inputs, targets, xp):
    hidden = xp.tanh(inputs @ params["w1"] + params["b1"])
    return ((hidden @ params["w2"] + params["b2"] - targets) ** 2).mean()


def _complex_data():
    rng = np.random.default_rng(5)
    return rng.normal(size=(6, 3)) + 1j * rng.normal(size=(6, 3)), rng.normal(size=6) + 1j * rng.normal(size=6)


def _complex_least_squares(params, matrix, target, xp):
    residual = matrix @ params["z"] - target
    return (residual.real**2 + residual.imag**2).sum()


PROBLEMS: dict[str, Problem] = {
    "rosenbrock2": Problem(lambda: {"x": np.asarray([-1.5, 2.0])}, tuple, _rosenbrock),
    "rosenbrock10": Problem(lambda: {"x": np.tile([-1.2, 1.0], 5)}, tuple, _rosenbrock),
    "logistic": Problem(
        lambda: {"b": np.asarray(0.1), "w": np.random.default_rng(8).normal(size=5) * 0.1},
        _logistic_data,
        _logistic,
    ),
    "mlp": Problem(_mlp_params, _mlp_data, _mlp),
    "complex": Problem(lambda: {"z": np.asarray([0.5 + 0.1j, -0.3j, 0.2])}, _complex_data, _complex_least_squares),
}


@dataclasses.dataclass(frozen=True)
class Case:
    """One golden run: ``steps`` calls of ``step`` on ``problem`` with ``config``, in ``dtype``."""

    problem: str
    config: dict[str, Any]
    dtype: str
    steps: int = 4

    @property
    def name(self) -> str:
        config = ",".join(f"{k}={v.value if isinstance(v, TorchTensor) else v}" for k, v in self.config.items())
        return f"{self.problem}[{config or 'default'}]-{self.dtype}-{self.steps}steps"


def _cases(problem: str, config: dict[str, Any], float64_steps: int, float32_steps: int = 0) -> list[Case]:
    cases = [Case(problem, config, "float64", float64_steps)]
    return cases + ([Case(problem, config, "float32", float32_steps)] if float32_steps else [])


# How many steps each run is compared for. L-BFGS on Rosenbrock and the MLP is chaotic: torch's
# dot products (MKL) and XLA's sum in different orders, and the last-bit differences grow
# by up to 10x per iteration in the curved valleys (measured on rosenbrock2 with the default
# configuration in float64: 1e-16 after 5 iterations, 3e-11 after 40, 4e-5 after 80; in
# float32: 1e-7 after 4 iterations, 2e-6 after 5, 7e-2 after 20). Each run is compared for as
# many steps as stay 10x inside 1e-10 (float64) or 2x inside 1e-5 (float32), and float32 only
# where that is at least one step; runs that converge (logistic, complex) are compared in full.
# In float32 the default tolerance_change=1e-9 is below the loss's rounding near convergence
# (which then decides when a step exits), so float32 runs that converge use a larger one.
_WOLFE = {"line_search_fn": "strong_wolfe"}
CASES: tuple[Case, ...] = (
    *_cases("rosenbrock2", {}, 1),
    *_cases("rosenbrock2", _WOLFE, 4),
    *_cases("rosenbrock2", {**_WOLFE, "max_iter": 3}, 4, 3),  # max_eval 3: short line searches
    *_cases("rosenbrock2", {"lr": 0.5, "max_iter": 6, "history_size": 4}, 4, 3),  # the ring wraps
    *_cases("rosenbrock2", {**_WOLFE, "tolerance_change": 1e-4, "max_iter": 12}, 4),  # exits on loss change
    *_cases("rosenbrock2", {**_WOLFE, "max_eval": 7, "history_size": 2}, 3),  # exits on max_eval
    *_cases("rosenbrock2", {"max_iter": 1}, 4, 4),  # no re-evaluation on the last (only) iteration
    *_cases("rosenbrock2", {**_WOLFE, "max_iter": 1}, 4, 4),  # max_eval 1: no evaluation to spare
    *_cases("rosenbrock10", {}, 1),
    *_cases("rosenbrock10", {**_WOLFE, "max_eval": 7, "history_size": 2}, 4, 2),
    *_cases("rosenbrock10", {"lr": TorchTensor(0.5), "max_iter": 6, "history_size": 4}, 4, 3),  # Tensor lr
    *_cases("logistic", {}, 4),  # converges; later steps exit on the directional derivative
    *_cases("logistic", _WOLFE, 4),
    *_cases("logistic", {"tolerance_grad": 1e-3, "history_size": 3}, 4, 4),  # later steps return at once
    *_cases("logistic", {**_WOLFE, "tolerance_change": 1e-4, "max_iter": 12}, 4, 4),
    *_cases("logistic", {"lr": TorchTensor(0.5), "tolerance_change": 1e-5}, 4, 4),
    *_cases("mlp", {}, 1),
    *_cases("mlp", _WOLFE, 2),
    *_cases("mlp", {**_WOLFE, "tolerance_change": 1e-4, "max_iter": 12}, 4, 4),
    *_cases("mlp", {"lr": 0.5, "max_iter": 6, "history_size": 4}, 4, 1),
    *_cases("mlp", {**_WOLFE, "lr": TorchTensor(0.8), "tolerance_change": 1e-4, "max_iter": 12}, 4, 1),
    *_cases("complex", {}, 4, 4),
    *_cases("complex", _WOLFE, 4, 4),
)


def torch_optimizer(torch, case: Case) -> tuple[Any, Any, list]:
    """``(torch.optim.LBFGS for case, its closure, its params)``, the params in jax's dict-flattening order."""
    spec, dtype = PROBLEMS[case.problem], case.dtype
    real = getattr(torch, dtype)
    complex_dtype = torch.complex128 if dtype == "float64" else torch.complex64

    def tensor(a):
        return torch.tensor(a, dtype=complex_dtype if np.iscomplexobj(a) else real)

    names = sorted(spec.params())  # the order of jax's flattening of a dict
    params = [tensor(spec.params()[k]).requires_grad_() for k in names]
    data = [tensor(a) for a in spec.data()]
    kwargs = {k: torch.tensor(v.value) if isinstance(v, TorchTensor) else v for k, v in case.config.items()}
    optimizer = torch.optim.LBFGS(params, **kwargs)

    def closure():
        optimizer.zero_grad()
        loss = spec.loss(dict(zip(names, params)), *data, torch)
        loss.backward()
        return loss

    return optimizer, closure, params


def torch_run(case: Case) -> dict[str, np.ndarray]:
    """torch's run: ``params`` (steps + 1, n), ``loss``, ``func_evals``, ``n_iter`` (steps,) and the final state."""
    import torch

    optimizer, closure, params = torch_optimizer(torch, case)

    def flat():
        return torch.cat([(torch.view_as_real(p) if p.is_complex() else p).detach().reshape(-1) for p in params])

    history = {"params": [flat().numpy().copy()], "loss": [], "func_evals": [], "n_iter": []}
    for _ in range(case.steps):
        loss = optimizer.step(closure)
        state = optimizer.state[params[0]]
        history["params"].append(flat().numpy().copy())
        history["loss"].append(loss.item())
        history["func_evals"].append(state["func_evals"])
        history["n_iter"].append(state["n_iter"])
    run = {k: np.asarray(v) for k, v in history.items()}
    if "d" in state:  # torch's state after the last step (absent if no iteration ever ran)
        n = run["params"].shape[1]
        run.update(
            {
                "d": state["d"].numpy().copy(),
                "t": np.asarray(float(state["t"])),
                "old_dirs": np.asarray([v.numpy() for v in state["old_dirs"]]).reshape(-1, n),
                "old_stps": np.asarray([v.numpy() for v in state["old_stps"]]).reshape(-1, n),
                "ro": np.asarray([float(v) for v in state["ro"]]),
                "H_diag": np.asarray(float(state["H_diag"])),
                "prev_flat_grad": state["prev_flat_grad"].numpy().copy(),
                "prev_loss": np.asarray(state["prev_loss"]),
            }
        )
    return run


def write() -> pathlib.Path:
    import torch

    arrays = {"torch_version": np.asarray(torch.__version__)}
    for case in CASES:
        arrays.update({f"{case.name}|{field}": values for field, values in torch_run(case).items()})
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN_PATH, **arrays)
    return GOLDEN_PATH


if __name__ == "__main__":
    print("wrote", write())
