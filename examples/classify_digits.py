"""Handwritten digits: an MLP trained with the torch-style wrapper, then with the functional API.

    python examples/classify_digits.py          # 40 epochs each (about 15 s on 2 CPU cores)
    python examples/classify_digits.py --quick  # 2 epochs each (CI)

The data is scikit-learn's 8x8 digits (1797 images, shipped inside the package: no download),
split 80/20 into train and test sets. The MLP (64 -> 128 -> 128 -> 10, ReLU) is trained twice
with the same recipe, torch's usual one:

* AdamW with two parameter groups: weight decay on the weight matrices, none on the biases;
* a cosine learning-rate schedule stepped once per epoch;
* mini-batches of 64, reshuffled every epoch (the last, incomplete batch is dropped so that
  every batch has the same shape and the step compiles once).

First with :mod:`functional_optim.optim` (``AdamW``, ``lr_scheduler.CosineAnnealingLR``,
``zero_grad`` / ``backward`` / ``step``, a tqdm progress bar), then with the functional API
(``fo.adamw`` per group through ``optax.partition``, the schedule as a pure function of the
step count, one jitted train step). Both print the test accuracy, above 95% in the full run.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import functional_optim as fo
from functional_optim import schedules
from functional_optim.optim import lr_scheduler

BATCH_SIZE = 64
LR, WEIGHT_DECAY = 3e-3, 1e-2


def load_data(seed: int = 0):
    """Digits as float32 features in [0, 1] and integer labels, split 80/20 (stratified)."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return train_test_split(x, digits.target.astype(np.int32), test_size=0.2, random_state=seed, stratify=digits.target)


def init_mlp(key: jax.Array, sizes=(64, 128, 128, 10)) -> list[dict[str, jax.Array]]:
    """He-initialised dense layers, ``{"w": (n_in, n_out), "b": (n_out,)}`` each."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (m, n)) * jnp.sqrt(2.0 / m), "b": jnp.zeros(n)}
        for k, m, n in zip(keys, sizes[:-1], sizes[1:])
    ]


def mlp(params, x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(mlp(params, x), y).mean()


@jax.jit
def accuracy(params, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(mlp(params, x), axis=1) == y)


def epoch_batches(n: int, epoch: int, seed: int = 0) -> np.ndarray:
    """This epoch's shuffled indices as full batches, shape ``(n // BATCH_SIZE, BATCH_SIZE)``."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[: n // BATCH_SIZE * BATCH_SIZE].reshape(-1, BATCH_SIZE)


def train_wrapper(arrays, x_train, y_train, x_test, y_test, epochs: int) -> float:
    """torch's loop, line by line: param groups, a scheduler stepped per epoch, a progress bar."""
    params = fo.parameters(arrays)
    weights = [layer["w"] for layer in params]
    biases = [layer["b"] for layer in params]
    optimizer = fo.optim.AdamW(
        [{"params": weights, "weight_decay": WEIGHT_DECAY}, {"params": biases, "weight_decay": 0.0}], lr=LR
    )
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    progress = tqdm(range(epochs), desc="wrapper   ", unit="epoch")
    for epoch in progress:
        total = 0.0
        batches = epoch_batches(len(x_train), epoch)
        for idx in batches:
            optimizer.zero_grad()
            loss = fo.backward(loss_fn, params, x_train[idx], y_train[idx])
            optimizer.step()
            total += float(loss)
        scheduler.step()
        progress.set_postfix(loss=f"{total / len(batches):.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
    return float(accuracy(fo.values(params), x_test, y_test))


def train_functional(arrays, x_train, y_train, x_test, y_test, epochs: int) -> float:
    """The same recipe as pure functions: a transform per group, the schedule in the transform."""
    steps_per_epoch = len(x_train) // BATCH_SIZE
    lr = schedules.per_epoch(schedules.cosine_annealing_lr(LR, T_max=epochs), steps_per_epoch)
    labels = [{"w": "weights", "b": "biases"} for _ in arrays]
    tx = optax.partition(
        {"weights": fo.adamw(lr=lr, weight_decay=WEIGHT_DECAY), "biases": fo.adamw(lr=lr, weight_decay=0.0)}, labels
    )
    state = tx.init(arrays)

    @jax.jit
    def train_step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state, loss

    params = arrays
    progress = tqdm(range(epochs), desc="functional", unit="epoch")
    for epoch in progress:
        losses = []
        for idx in epoch_batches(len(x_train), epoch):
            params, state, loss = train_step(params, state, x_train[idx], y_train[idx])
            losses.append(loss)
        progress.set_postfix(loss=f"{float(jnp.mean(jnp.stack(losses))):.4f}")
    return float(accuracy(params, x_test, y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 epochs (CI)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 40, or 2 with --quick)")
    args = parser.parse_args()
    epochs = args.epochs or (2 if args.quick else 40)

    x_train, x_test, y_train, y_test = load_data()
    print(f"digits: {len(x_train)} train and {len(x_test)} test images of 8x8 pixels, 10 classes")
    arrays = init_mlp(jax.random.key(0))

    for name, train in [("fo.optim.AdamW (wrapper)", train_wrapper), ("fo.adamw (functional)", train_functional)]:
        start = time.perf_counter()
        acc = train(arrays, x_train, y_train, x_test, y_test, epochs)
        seconds = time.perf_counter() - start
        print(f"{name:26s} test accuracy {100 * acc:.2f}% after {epochs} epochs ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
