"""functional_optim in Flax NNX: ``nnx.Optimizer`` with torch's AdamW, then L-BFGS.

    python examples/flax_nnx.py          # 300 AdamW steps, then 20 L-BFGS steps
    python examples/flax_nnx.py --quick  # 30 and 3 (CI)

A functional_optim transform is what ``nnx.Optimizer`` expects, so the training step is NNX's
usual one (``nnx.value_and_grad``, ``nnx.jit``, ``optimizer.update(model, grads)``). The model
fits a noisy sine with a small MLP:

1. ``fo.adamw`` with a cosine schedule: torch's AdamW, numbers and all. The current lr is
   logged with ``fo.get_hyperparams(optimizer.opt_state)``. Halfway, the model and optimizer
   are checkpointed with orbax and restored into a fresh pair, which carries on.
2. ``fo.lbfgs`` with the strong-Wolfe line search polishes the fit. L-BFGS evaluates the loss
   several times inside one step, so its ``update`` also takes the loss at the current params
   (``value``) and the loss as a function of the params (``value_fn``), optax's names;
   ``optimizer.update`` forwards both. ``value_fn`` receives the ``nnx.Param`` state and
   rebuilds the model from it with ``nnx.merge``.

Flax's kernels are ``(in, out)`` where torch's weights are ``(out, in)``; the elementwise
algorithms do not care. (``fo.muon`` does: its shape-dependent learning rate reads torch's
layout.)
"""

from __future__ import annotations

import argparse
import tempfile

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import nnx

import functional_optim as fo
from functional_optim import schedules


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(1, 32, rngs=rngs)
        self.out = nnx.Linear(32, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jnp.tanh(self.hidden(x)))


def mse(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((model(x) - y) ** 2)


@nnx.jit
def adamw_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> None:
    grads = nnx.grad(mse)(model, x, y)
    optimizer.update(model, grads)


@nnx.jit
def lbfgs_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> None:
    graphdef, _, rest = nnx.split(model, nnx.Param, ...)

    def value_fn(params: nnx.State) -> jax.Array:
        return mse(nnx.merge(graphdef, params, rest), x, y)

    loss, grads = nnx.value_and_grad(mse)(model, x, y)
    optimizer.update(model, grads, value=loss, value_fn=value_fn)


def checkpointed_and_restored(model: MLP, optimizer: nnx.Optimizer, tx) -> tuple[MLP, nnx.Optimizer]:
    """Saves the model and optimizer with orbax; restores them into a fresh pair (a new run)."""
    with tempfile.TemporaryDirectory() as directory, ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(f"{directory}/adamw", {"model": nnx.state(model), "optimizer": nnx.state(optimizer)})
        checkpointer.wait_until_finished()
        fresh_model = MLP(nnx.Rngs(1))
        fresh = nnx.Optimizer(fresh_model, tx, wrt=nnx.Param)
        target = {"model": nnx.state(fresh_model), "optimizer": nnx.state(fresh)}
        restored = checkpointer.restore(f"{directory}/adamw", jax.tree.map(ocp.utils.to_shape_dtype_struct, target))
        nnx.update(fresh_model, restored["model"])
        nnx.update(fresh, restored["optimizer"])
    return fresh_model, fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few steps of each (CI)")
    args = parser.parse_args()
    adamw_steps, lbfgs_steps = (30, 3) if args.quick else (300, 20)

    x = jnp.linspace(-3.0, 3.0, 128)[:, None]
    y = jnp.sin(x) + 0.05 * jax.random.normal(jax.random.key(1), x.shape)
    model = MLP(nnx.Rngs(0))
    print(f"initial loss {float(mse(model, x, y)):.5f}")

    tx = fo.adamw(schedules.cosine_annealing_lr(1e-2, T_max=adamw_steps), weight_decay=1e-4)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    for step in range(adamw_steps):
        adamw_step(model, optimizer, x, y)
        if step % (adamw_steps // 5) == 0:
            lr = float(fo.get_hyperparams(optimizer.opt_state)["lr"][...])
            print(f"  step {step:3d}: loss {float(mse(model, x, y)):.5f}, lr {lr:.5f}")
        if step == adamw_steps // 2:
            model, optimizer = checkpointed_and_restored(model, optimizer, tx)
    print(f"after {adamw_steps} AdamW steps: loss {float(mse(model, x, y)):.5f}")

    optimizer = nnx.Optimizer(model, fo.lbfgs(line_search_fn="strong_wolfe"), wrt=nnx.Param)
    adamw_loss = float(mse(model, x, y))
    for _ in range(lbfgs_steps):
        lbfgs_step(model, optimizer, x, y)
    lbfgs_loss = float(mse(model, x, y))
    print(f"after {lbfgs_steps} L-BFGS steps: loss {lbfgs_loss:.5f}")
    if not lbfgs_loss < adamw_loss:
        raise SystemExit("L-BFGS did not improve on AdamW's fit")


if __name__ == "__main__":
    main()
