"""``optim.zero1``: ZeRO-1 partitioned state for a torch-style optimizer.

The stateful counterpart of :func:`functional_optim.zero1`: the optimizer's per-parameter state
(``exp_avg``, ``momentum_buffer``, ...) is split :math:`N` ways across the data-parallel mesh axis
while the Parameters stay as they are placed (replicated along that axis, or sharded on
others). Each ``step()`` then updates, on every device, the slice of each Parameter whose state
that device keeps, and all-gathers the new values into the Parameter's own sharding; XLA inserts
the collectives, and the numbers are the unpartitioned optimizer's::

    mesh = jax.make_mesh((8,), ("data",))
    params = fo.parameters(jax.device_put(tree, NamedSharding(mesh, P())))
    optimizer = fo.optim.zero1(fo.optim.AdamW(fo.parameter_list(params), lr=1e-3), mesh, axis="data")

Where a state array goes is :func:`functional_optim.sharding.partition_spec`'s rule; state that
is not shaped like its Parameter (``step``, Adafactor's row and column statistics) stays as the
optimizer places it. ``state_dict()`` hands out the partitioned arrays (``jax.device_get``
gathers them) and ``load_state_dict`` partitions what it loads.
"""

from __future__ import annotations

import jax
from jax.sharding import Mesh, NamedSharding

from functional_optim.optim.lbfgs import LBFGS
from functional_optim.optim.optimizer import Optimizer
from functional_optim.sharding import zero1_sharding


def zero1(optimizer: Optimizer, mesh: Mesh, axis: str = "data") -> Optimizer:
    """Partitions ``optimizer``'s per-parameter state along the mesh ``axis``; returns ``optimizer``.

    State that exists already is moved now; state created later (at a Parameter's first step)
    is created partitioned.

    Args:
      optimizer: a torch-style optimizer whose Parameters are placed on ``mesh`` (an array with
        a :class:`~jax.sharding.NamedSharding` on it, e.g. replicated with ``P()``).
      mesh: the device mesh the Parameters live on.
      axis: the data-parallel mesh axis to partition the state along.

    Raises:
      ValueError: if ``axis`` is not an axis of ``mesh``, or a Parameter is not placed on ``mesh``.
      TypeError: for :class:`~functional_optim.optim.LBFGS`, whose state is one flat history
        rather than per-parameter arrays.
    """
    if isinstance(optimizer, LBFGS):
        raise TypeError("zero1 partitions per-parameter state; LBFGS keeps one flat history for all its params")
    if axis not in mesh.shape:
        raise ValueError(f"zero1: axis {axis!r} is not one of the mesh's axes {tuple(mesh.shape)}")

    def state_sharding(data: jax.Array) -> NamedSharding:
        sharding = data.sharding
        if not isinstance(sharding, NamedSharding) or sharding.mesh != mesh:
            raise ValueError(
                f"zero1: a parameter of shape {data.shape} is placed as {sharding}, not on {mesh}; place the "
                "params on the mesh first (jax.device_put(tree, NamedSharding(mesh, P())) to replicate them)"
            )
        return zero1_sharding(data, mesh, axis)

    params = [p for group in optimizer.param_groups for p in group["params"]]
    for p in params:
        state_sharding(p.data)  # every Parameter checked before anything moves
    optimizer.set_state_sharding(state_sharding)
    return optimizer
