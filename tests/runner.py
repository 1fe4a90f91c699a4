"""Runs a functional_optim algorithm on the shared problems, mirroring tests/torch_reference.py."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import functional_optim as fo
from tests import problems
from tests.algorithm_table import AlgorithmInfo, TorchTensor


def jax_kwargs(config: dict) -> dict:
    """The config with ``TorchTensor`` markers turned into float32 jax arrays."""

    def convert(value):
        if isinstance(value, TorchTensor):
            return jnp.asarray(value.value, jnp.float32)
        if isinstance(value, tuple):
            return tuple(convert(v) for v in value)
        return value

    return {k: convert(v) for k, v in config.items()}


def kernel_paths(name: str) -> list[str]:
    """The paths an algorithm's steps can take: ``"native"`` too if it has a native kernel."""
    return ["xla"] if fo.native.kernel(getattr(fo, name)()) is None else ["native", "xla"]


@contextlib.contextmanager
def on_path(path: str) -> Iterator[None]:
    """Traces the steps inside on kernel ``path``; skips the test for ``"native"`` where the kernels were not built."""
    if path == "native" and not fo.native.available():
        pytest.skip("the native kernels were not built (no C++ compiler at install time)")
    with fo.native.use(path):
        yield


def first_of_each_algorithm(cases: list[tuple], ids: list[str]) -> list:
    """``cases``, tuples that start with an :class:`AlgorithmInfo`, as pytest params: each
    algorithm's first case in the default run, the others under ``pytest -m slow``."""
    seen = set()
    params = []
    for case, case_id in zip(cases, ids):
        params.append(pytest.param(*case, id=case_id, marks=pytest.mark.slow if case[0].name in seen else ()))
        seen.add(case[0].name)
    return params


def make_transform(info: AlgorithmInfo, config: dict) -> fo.GradientTransformation:
    return getattr(fo, info.name)(**jax_kwargs(config))


@functools.cache
def _compiled_grad(problem: str, dtype: str) -> Callable:
    """The jitted grad of ``problem``'s loss on its data in ``dtype``: one compile per process, not per test."""
    x, y = (jnp.asarray(a, dtype) for a in problems.data())
    return jax.jit(jax.grad(lambda p: problems.loss(problem, p, x, y, jnp)))


def trajectory(
    info: AlgorithmInfo,
    config: dict,
    dtype: str,
    wrap_update: Callable = lambda update: update,
    steps: int | None = None,
    before_step: Callable[[int, Any], Any] | None = None,
) -> dict[str, np.ndarray]:
    """Params after 0..steps updates, as ``{leaf name: array of shape (steps + 1, *shape)}``.

    ``wrap_update`` wraps the step, :func:`functional_optim.apply_gradients` of the transform
    (e.g. with ``jax.jit`` or a chex variant). ``before_step(i, state) -> state``, if given,
    may change the state (its hyperparameters) before step ``i`` (0-based).
    """
    steps = info.steps if steps is None else steps
    tx = make_transform(info, config)
    params = {k: jnp.asarray(v, dtype) for k, v in problems.initial_params(info.problem).items()}
    grad_fn = _compiled_grad(info.problem, dtype)
    step = wrap_update(functools.partial(fo.apply_gradients, tx))
    state = tx.init(params)
    history = {k: [np.asarray(v)] for k, v in params.items()}
    for i in range(steps):
        if before_step is not None:
            state = before_step(i, state)
        params, state = step(grad_fn(params), state, params)
        for k, v in params.items():
            history[k].append(np.asarray(v))
    return {k: np.stack(v) for k, v in history.items()}


def tolerances(info: AlgorithmInfo, dtype: str) -> dict[str, float]:
    if dtype == "float64":
        return {"rtol": info.float64_rtol, "atol": info.float64_rtol}
    return {"rtol": info.float32_rtol, "atol": info.float32_rtol}
