"""Quickstart: fit a small MLP with a functional_optim transform under jax.jit.

    python examples/quickstart.py          # full run
    python examples/quickstart.py --quick  # a few steps (CI)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="run a few steps only")
    steps = 20 if parser.parse_args().quick else 500

    x = jnp.linspace(-3, 3, 256)[:, None]
    y = jnp.sin(x[:, 0])
    params = init_mlp(jax.random.key(0), (1, 32, 32, 1))

    tx = fo.adam(lr=1e-2, weight_decay=1e-4, amsgrad=True)
    state = tx.init(params)

    @jax.jit
    def train_step(params, state):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state, loss

    for step in range(steps):
        params, state, loss = train_step(params, state)
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(f"functional  step {step:4d}  loss {float(loss):.5f}")


if __name__ == "__main__":
    main()
