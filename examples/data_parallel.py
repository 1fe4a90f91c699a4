"""Data-parallel training on 8 devices, functional and torch-style, with and without ZeRO-1.

    python examples/data_parallel.py            # 8 simulated CPU devices (or the machine's accelerators)
    python examples/data_parallel.py --quick    # smaller model, a few steps (CI)

The params are replicated on a 1-D ``data`` mesh and every batch is split across its devices;
XLA sums the gradients across devices. The same AdamW then trains four times: as a transform
with its state replicated like the params, and wrapped in ``fo.zero1``, which keeps 1/8 of each
state leaf on each device; and as ``fo.optim.AdamW`` over Parameters holding the replicated
arrays, as it is and under ``fo.optim.zero1``. The script prints the optimizer state's bytes per
device, measured from the arrays' addressable shards, and shows that all four runs follow the
same losses.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_num_cpu_devices", 8)  # simulated CPU devices; must precede JAX's first use

import jax.numpy as jnp  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import functional_optim as fo  # noqa: E402
from functional_optim.sharding import bytes_per_device  # noqa: E402


def init_params(key: jax.Array, d_in: int, hidden: int, d_out: int) -> dict[str, jax.Array]:
    """A one-hidden-layer tanh network."""
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (d_in, hidden)) / d_in**0.5,
        "b1": jnp.zeros(hidden),
        "w2": jax.random.normal(k2, (hidden, d_out)) / hidden**0.5,
        "b2": jnp.zeros(d_out),
    }


def predict(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def loss_fn(params: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((predict(params, x) - y) ** 2)


def mib(n: float) -> str:
    return f"{n / 2**20:.4f} MiB"


def train(tx: fo.GradientTransformation, params, batches, mesh) -> tuple[list[float], dict, float]:
    """Trains from ``params``; returns the losses, the state's bytes per device after init, and seconds per step."""

    @jax.jit
    def train_step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return fo.apply_updates(params, updates), state, loss

    with jax.set_mesh(mesh):
        state = tx.init(params)
        memory = bytes_per_device(state)
        losses = []
        params, state, loss = train_step(params, state, *batches[0])  # compiles
        losses.append(float(loss))
        started = time.perf_counter()
        for x, y in batches[1:]:
            params, state, loss = train_step(params, state, x, y)
            losses.append(float(loss))
        seconds = (time.perf_counter() - started) / max(1, len(batches) - 1)
    return losses, memory, seconds


def train_torch_style(zero1: bool, params, batches, mesh) -> tuple[list[float], dict, float]:
    """:func:`train` with ``fo.optim.AdamW`` (optionally under ``fo.optim.zero1``) and ``fo.backward``."""
    boxes = fo.parameters(params)
    optimizer = fo.optim.AdamW(fo.parameter_list(boxes), lr=1e-3, weight_decay=1e-2)
    if zero1:
        fo.optim.zero1(optimizer, mesh, axis="data")
    losses, memory, started = [], {}, 0.0
    for step, (x, y) in enumerate(batches):
        if step == 1:  # after the compiling step
            memory, started = bytes_per_device(list(optimizer.state.values())), time.perf_counter()
        optimizer.zero_grad()
        losses.append(float(fo.backward(loss_fn, boxes, x, y)))
        optimizer.step()
    seconds = (time.perf_counter() - started) / max(1, len(batches) - 1)
    return losses, memory, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller model and a few steps")
    args = parser.parse_args()
    sizes, steps, batch = ((32, 256, 8), 10, 64) if args.quick else ((256, 2048, 256), 30, 256)

    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    params = jax.device_put(init_params(jax.random.key(0), *sizes), replicated)
    teacher = init_params(jax.random.key(1), *sizes)
    batches = []
    for step in range(steps):
        x = jax.random.normal(jax.random.key(100 + step), (batch, sizes[0]))
        batches.append((jax.device_put(x, split), jax.device_put(predict(teacher, x), split)))

    n_params = sum(p.size for p in jax.tree.leaves(params))
    print(f"{jax.device_count()} x {jax.devices()[0].device_kind} devices, mesh {dict(mesh.shape)}")
    print(f"network {sizes}: {n_params:,} float32 params ({mib(4 * n_params)}), replicated on every device")

    adamw = fo.adamw(lr=1e-3, weight_decay=1e-2)
    results = {
        "fo.adamw": train(adamw, params, batches, mesh),
        "fo.zero1(fo.adamw)": train(fo.zero1(adamw, mesh, axis="data"), params, batches, mesh),
        "fo.optim.AdamW": train_torch_style(False, params, batches, mesh),
        "fo.optim.zero1(AdamW)": train_torch_style(True, params, batches, mesh),
    }

    print("\nAdamW state per device (max over devices):")
    for label, (_, memory, seconds) in results.items():
        print(f"  {label:22s} {mib(max(memory.values())):>12s}   {1e3 * seconds:7.2f} ms/step")
    memory = {label: max(result[1].values()) for label, result in results.items()}
    print(
        f"  ZeRO-1 / replicated: functional 1/{memory['fo.adamw'] / memory['fo.zero1(fo.adamw)']:.2f}, "
        f"torch-style 1/{memory['fo.optim.AdamW'] / memory['fo.optim.zero1(AdamW)']:.2f}"
    )
    print("\nloss by step:")
    for step in sorted({0, steps // 2, steps - 1}):
        row = "  ".join(f"{result[0][step]:.6f}" for result in results.values())
        print(f"  step {step:4d}  {row}")
    first = results["fo.adamw"][0]
    spread = max(abs(a - b) for result in results.values() for a, b in zip(result[0], first))
    print(f"  (columns: {', '.join(results)}; largest difference from the first: {spread:.1e})")


if __name__ == "__main__":
    main()
