"""functional_optim in an Equinox training loop, chained with optax transforms.

    python examples/equinox_training.py          # 15 epochs on the 8x8 digits
    python examples/equinox_training.py --quick  # 1 epoch (CI)

The model is an ``eqx.nn.MLP``; the training step is Equinox's usual one
(``eqx.filter_value_and_grad``, ``eqx.filter_jit``, ``eqx.apply_updates``). The optimizer is one
chain that mixes the two libraries:

    optax.clip_by_global_norm(1.0)           # optax: clip the gradient's global norm
    fo.adamw(lr=cosine, weight_decay=0.05)    # functional_optim: torch's AdamW, numbers and all
    optax.apply_if_finite(...)                # optax: skip a step whose updates are not finite

A functional_optim transform is an optax ``GradientTransformation`` in all but name, so it goes
anywhere an optax transform goes (``optax.chain``, ``optax.apply_if_finite``,
``optax.partition``, ...), and ``fo.chain`` takes optax's transforms too.

The second part trains the same model with the torch-style wrapper: ``eqx.partition`` splits the
model into its arrays and the rest, the arrays become ``fo.Parameter`` s, and ``eqx.combine``
rebuilds the model from their values after the optimizer's steps.
"""

from __future__ import annotations

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import functional_optim as fo
from functional_optim import schedules

BATCH_SIZE = 64


def cross_entropy(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    logits = jax.vmap(model)(x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def accuracy(model: eqx.nn.MLP, x: jax.Array, y: jax.Array) -> float:
    return float(jnp.mean(jnp.argmax(jax.vmap(model)(x), axis=1) == y))


def batches(n: int, epoch: int) -> np.ndarray:
    order = np.random.default_rng(epoch).permutation(n)
    return order[: n // BATCH_SIZE * BATCH_SIZE].reshape(-1, BATCH_SIZE)


def train_functional(model, data, epochs: int) -> eqx.nn.MLP:
    x_train, y_train = data
    steps = epochs * (len(x_train) // BATCH_SIZE)
    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.apply_if_finite(
            fo.adamw(lr=schedules.cosine_annealing_lr(3e-3, T_max=steps), weight_decay=0.05), max_consecutive_errors=5
        ),
    )
    opt_state = tx.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def train_step(model, opt_state, x, y):
        loss, grads = eqx.filter_value_and_grad(cross_entropy)(model, x, y)
        updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    for epoch in range(epochs):
        losses = []
        for idx in batches(len(x_train), epoch):
            model, opt_state, loss = train_step(model, opt_state, x_train[idx], y_train[idx])
            losses.append(loss)
        print(f"  epoch {epoch:2d}  loss {float(jnp.mean(jnp.stack(losses))):.4f}")
    return model


def train_wrapper(model, data, epochs: int) -> eqx.nn.MLP:
    x_train, y_train = data
    arrays, static = eqx.partition(model, eqx.is_array)
    params = fo.parameters(arrays)  # the model's arrays as Parameters; None where the model has no array
    optimizer = fo.optim.AdamW(fo.parameter_list(params), lr=3e-3, weight_decay=0.05)

    def loss_fn(arrays, x, y):
        return cross_entropy(eqx.combine(arrays, static), x, y)

    for epoch in range(epochs):
        total, idxs = 0.0, batches(len(x_train), epoch)
        for idx in idxs:
            optimizer.zero_grad()
            total += float(fo.backward(loss_fn, params, x_train[idx], y_train[idx]))
            optimizer.step()
        print(f"  epoch {epoch:2d}  loss {total / len(idxs):.4f}")
    return eqx.combine(fo.values(params), static)  # the model with the trained arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 epoch (CI)")
    epochs = 1 if parser.parse_args().quick else 15

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        (digits.data / 16.0).astype(np.float32), digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    model = eqx.nn.MLP(in_size=64, out_size=10, width_size=64, depth=2, key=jax.random.key(0))

    print("optax.chain(clip_by_global_norm, apply_if_finite(fo.adamw)) in an eqx.filter_jit step:")
    trained = train_functional(model, (x_train, y_train), epochs)
    print(f"  test accuracy {100 * accuracy(trained, x_test, y_test):.2f}%")

    print("fo.optim.AdamW over the model's arrays (eqx.partition / eqx.combine):")
    trained = train_wrapper(model, (x_train, y_train), epochs)
    print(f"  test accuracy {100 * accuracy(trained, x_test, y_test):.2f}%")


if __name__ == "__main__":
    main()
