"""Quickstart: fit a small MLP to sin(x), first with a functional transform, then with the wrapper.

    python examples/quickstart.py          # full run (500 steps)
    python examples/quickstart.py --quick  # a few steps (CI)

Part 1 is the JAX way: ``fo.adam`` is a pure ``(init, update)`` pair used inside a jitted step.
Part 2 is the torch way: the same arrays as ``fo.Parameter`` s, ``fo.optim.Adam`` and the
``zero_grad`` / ``backward`` / ``step`` loop. Both run the same maths (torch.optim.Adam's) and
print the same losses, to float32 rounding: the two are compiled as different XLA programs (one
fused step against a gradient call and an update call), whose last bits differ, and a long
float32 run amplifies that slowly, as two torch runs on different hardware would drift.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

import functional_optim as fo


def init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (m, n)) / jnp.sqrt(m), "b": jnp.zeros(n)}
        for k, m, n in zip(keys, sizes[:-1], sizes[1:])
    ]


def mlp(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
    return jnp.mean((mlp(params, x)[:, 0] - y) ** 2)


def train_functional(params, x, y, steps: int) -> list[float]:
    """The functional API: the optimizer state is a value, threaded through a jitted step."""
    tx = fo.adam(lr=1e-2, weight_decay=1e-4, amsgrad=True)
    state = tx.init(params)

    @jax.jit
    def train_step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state, loss

    losses = []
    for _ in range(steps):
        params, state, loss = train_step(params, state)
        losses.append(float(loss))
    return losses


def train_wrapper(params, x, y, steps: int) -> list[float]:
    """The torch-style API: Parameters hold .data and .grad; the optimizer updates them in place."""
    params = fo.parameters(params)  # the same tree, with a Parameter at every leaf
    optimizer = fo.optim.Adam(fo.parameter_list(params), lr=1e-2, weight_decay=1e-4, amsgrad=True)

    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = fo.backward(loss_fn, params, x, y)  # loss.backward(): fills each Parameter's .grad
        optimizer.step()
        losses.append(float(loss))
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="run a few steps only")
    steps = 20 if parser.parse_args().quick else 500

    x = jnp.linspace(-3, 3, 256)[:, None]
    y = jnp.sin(x[:, 0])
    params = init_mlp(jax.random.key(0), (1, 32, 32, 1))

    functional = train_functional(params, x, y, steps)
    wrapper = train_wrapper(params, x, y, steps)

    print("          fo.adam (jit)   fo.optim.Adam")
    for step in range(steps):
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            print(f"step {step:4d}   {functional[step]:.6f}       {wrapper[step]:.6f}")
    first = min(steps, 100)
    gap = max(abs(a - b) / abs(a) for a, b in zip(functional[:first], wrapper[:first]))
    print(f"largest relative difference over the first {first} steps: {gap:.1e} (float32 rounding)")


if __name__ == "__main__":
    main()
