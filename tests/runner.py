"""Runs a functional_optim algorithm on the shared problems, mirroring tests/torch_reference.py."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

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


def make_transform(info: AlgorithmInfo, config: dict) -> fo.GradientTransformation:
    return getattr(fo, info.name)(**jax_kwargs(config))


def trajectory(
    info: AlgorithmInfo,
    config: dict,
    dtype: str,
    wrap_update: Callable = lambda update: update,
    steps: int | None = None,
) -> dict[str, np.ndarray]:
    """Params after 0..steps updates, as ``{leaf name: array of shape (steps + 1, *shape)}``.

    ``wrap_update`` wraps ``tx.update`` (e.g. with ``jax.jit`` or a chex variant).
    """
    steps = info.steps if steps is None else steps
    tx = make_transform(info, config)
    params = {k: jnp.asarray(v, dtype) for k, v in problems.initial_params(info.problem).items()}
    x, y = (jnp.asarray(a, dtype) for a in problems.data())
    grad_fn = jax.jit(jax.grad(lambda p: problems.loss(info.problem, p, x, y, jnp)))
    update = wrap_update(tx.update)
    state = tx.init(params)
    history = {k: [np.asarray(v)] for k, v in params.items()}
    for _ in range(steps):
        updates, state = update(grad_fn(params), state, params)
        params = fo.apply_updates(params, updates)
        for k, v in params.items():
            history[k].append(np.asarray(v))
    return {k: np.stack(v) for k, v in history.items()}


def tolerances(info: AlgorithmInfo, dtype: str) -> dict[str, float]:
    if dtype == "float64":
        return {"rtol": info.float64_rtol, "atol": info.float64_rtol}
    return {"rtol": info.float32_rtol, "atol": info.float32_rtol}
