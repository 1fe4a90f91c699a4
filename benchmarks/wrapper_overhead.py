"""Per-step cost of the torch-style wrapper over the bare jitted functional update.

Both sides run the same algorithm on the same parameters and (fixed) gradients, float32:

* bare: ``jax.jit`` of ``fo.apply_gradients`` over the whole tree, with the params and the
  state donated: the cheapest way to run a functional_optim transform;
* wrapper: ``optimizer.step()`` of ``functional_optim.optim``, which rebuilds the transform's
  state from the torch-style dicts and runs one compiled, donating call (of the same
  ``apply_gradients`` step) per step.

Both take the default kernel path (``FUNCTIONAL_OPTIM_KERNELS``, see :mod:`functional_optim.native`),
printed in the header.

Run from the repository root: ``python benchmarks/wrapper_overhead.py`` (about a minute).
Times are per-step means, the best of 7 alternating rounds (other load only adds), in microseconds.
"""

from __future__ import annotations

import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np

import functional_optim as fo

MODELS = {
    # name: layer widths of an MLP (a weight matrix and a bias per layer)
    "tiny MLP (3 layers, 7k params)": (32, 64, 64, 10),
    "deep MLP (50 layers, 0.8M params)": (128,) * 51,
    "larger MLP (8 layers, 8.4M params)": (1024,) * 9,
}
ALGORITHMS = {
    "Adam": (fo.adam, fo.optim.Adam, {"lr": 1e-3}),
    "SGD momentum": (fo.sgd, fo.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
}


def mlp_params(widths: tuple[int, ...]) -> dict[str, jax.Array]:
    rng = np.random.default_rng(0)
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        params[f"layer{i}.w"] = jnp.asarray(rng.normal(size=(n_in, n_out)) / np.sqrt(n_in), jnp.float32)
        params[f"layer{i}.b"] = jnp.zeros(n_out, jnp.float32)
    return params


def bare(factory, kwargs, params, grads):
    """Runs n steps of the bare jitted update; returns the function."""
    tx = factory(**kwargs)

    def update(params, state, grads):
        return fo.apply_gradients(tx, grads, state, params)

    update = jax.jit(update, donate_argnums=(0, 1))
    carry = [jax.tree.map(jnp.copy, params), tx.init(params)]

    def run_steps(n):
        for _ in range(n):
            carry[:] = update(carry[0], carry[1], grads)
        jax.block_until_ready(carry)

    return run_steps


def wrapper(optimizer_class, kwargs, params, grads):
    """Runs n steps of ``optimizer.step()``; returns the function."""
    tree = fo.parameters(params)
    optimizer = optimizer_class(fo.parameter_list(tree), **kwargs)
    for p, g in zip(fo.parameter_list(tree), jax.tree.leaves(grads)):
        p.grad = g

    def run_steps(n):
        for _ in range(n):
            optimizer.step()
        jax.block_until_ready(fo.values(tree))

    return run_steps


def per_step_us(runners, steps: int, rounds: int = 7) -> list[float]:
    """Best per-step time of each runner over ``rounds`` alternating rounds (the least disturbed by load)."""
    for run_steps in runners:
        run_steps(3)  # compile and warm up
    best = [float("inf")] * len(runners)
    for _ in range(rounds):
        for i, run_steps in enumerate(runners):
            start = time.perf_counter()
            run_steps(steps)
            best[i] = min(best[i], (time.perf_counter() - start) / steps * 1e6)
    return best


def main() -> None:
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {fo.native.path()} kernel path; float32; "
        "µs per step (best of 7 rounds)\n"
    )
    header = f"{'model':<36} {'algorithm':<14} {'bare jit':>10} {'wrapper':>10} {'overhead':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for model, widths in MODELS.items():
        params = mlp_params(widths)
        grads = jax.tree.map(lambda p: jnp.full_like(p, 1e-3), params)
        n_params = sum(p.size for p in params.values())
        steps = 400 if n_params < 1e5 else 50 if n_params < 1e6 else 10
        for name, (factory, optimizer_class, kwargs) in ALGORITHMS.items():
            bare_us, wrapper_us = per_step_us(
                [bare(factory, kwargs, params, grads), wrapper(optimizer_class, kwargs, params, grads)], steps
            )
            print(
                f"{model:<36} {name:<14} {bare_us:>10.1f} {wrapper_us:>10.1f} "
                f"{wrapper_us - bare_us:>10.1f} {wrapper_us / bare_us:>6.2f}"
            )


if __name__ == "__main__":
    main()
