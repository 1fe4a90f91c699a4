r"""Sharded training: state that follows the params' shardings, and ZeRO-1 partitioned state.

Every transform in this package is sharding-transparent. Give ``init`` params that are sharded
over a :class:`jax.sharding.Mesh` and each per-parameter state leaf (``exp_avg``,
``momentum_buffer``, ...) is created with its parameter's sharding; a jitted ``update`` then
runs elementwise algorithms shard by shard, with no communication at all, and keeps every
sharding. Algorithms whose maths needs whole tensors (Muon's Newton-Schulz, Adafactor's row and
column means, L-BFGS's dot products) leave the collectives to XLA and give the single-device
numbers::

    mesh = jax.make_mesh((4, 2), ("data", "model"))
    params = jax.device_put(params, shardings)      # any NamedShardings on the mesh
    state = tx.init(params)                         # outside jit: the state follows the params
    with jax.set_mesh(mesh):
        params, state = train_step(params, state, batch)

:func:`zero1` partitions the optimizer state across a data-parallel mesh axis while the params
stay replicated along it (ZeRO stage 1): each of the axis' :math:`N` devices keeps
:math:`1/N` of every state leaf that can be split, the gradients are reduce-scattered onto the
state's partition, the update is computed there, and the updates are all-gathered back to the
params' sharding. XLA inserts those collectives (on CPU, the reduce-scatter comes out as an
all-reduce and a local slice); the numbers are those of the unpartitioned transform::

    tx = fo.zero1(fo.adam(1e-3), mesh, axis="data")
    state = tx.init(params)                         # state leaves split 8 ways on 8 devices
    print(fo.sharding.bytes_per_device(state))      # measured from the arrays' shards

Meshes may have ``Auto`` axes (``jax.sharding.Mesh``'s default; :func:`zero1` places the state
with ``jax.lax.with_sharding_constraint``) or ``Explicit`` axes (``jax.make_mesh``'s default in
recent JAX; it uses ``jax.sharding.reshard``), but not a mix of both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from functional_optim.transform import GradientTransformation, OptState, Params, Updates, extra_args_for


def _axes(entry: Any) -> tuple[str, ...]:
    """The mesh axes named by one PartitionSpec entry (None, a name, or a tuple of names)."""
    if entry is None or entry is PartitionSpec.UNCONSTRAINED:
        return ()
    return tuple(entry) if isinstance(entry, tuple) else (entry,)


def partition_spec(
    shape: Sequence[int], spec: PartitionSpec, axis: str, mesh_shape: Mapping[str, int]
) -> PartitionSpec:
    """Where :func:`zero1` puts a state leaf of ``shape`` whose unpartitioned sharding is ``spec``.

    The rule: a leaf already split along ``axis`` keeps ``spec``; otherwise the first dimension
    that ``spec`` leaves unsharded and whose size the axis divides is split along ``axis``;
    failing that, the first sharded dimension that can be split further gets ``axis`` added
    (``"model"`` becomes ``("model", "data")``); a leaf that fits none of these (0-d scalars,
    odd sizes) stays as ``spec``, replicated along ``axis``.

    Args:
      shape: the leaf's shape.
      spec: the leaf's PartitionSpec before partitioning (shorter specs are padded with None).
      axis: the data-parallel mesh axis to partition along.
      mesh_shape: the mesh's axis sizes by name (``mesh.shape``).

    Returns:
      The leaf's PartitionSpec with ``axis`` added, or ``spec`` unchanged.
    """
    entries = list(spec) + [None] * (len(shape) - len(spec))
    size = mesh_shape[axis]
    if size == 1 or any(axis in _axes(entry) for entry in entries):
        return PartitionSpec(*entries)
    for dim, length in enumerate(shape):
        if entries[dim] is None and length > 0 and length % size == 0:
            entries[dim] = axis
            return PartitionSpec(*entries)
    for dim, length in enumerate(shape):
        existing = _axes(entries[dim])
        if existing and length > 0 and length % (size * math.prod(mesh_shape[a] for a in existing)) == 0:
            entries[dim] = (*existing, axis)
            return PartitionSpec(*entries)
    return PartitionSpec(*entries)


@dataclasses.dataclass(frozen=True)
class Zero1State:
    """The state of a :func:`zero1` transform.

    Attributes:
      inner_state: the wrapped transform's state, its leaves partitioned along the axis (for a
        functional_optim algorithm, ``inner_state.inner_state.exp_avg`` etc.).
      state_specs: static: the PartitionSpec of each leaf of ``inner_state``, in
        ``jax.tree.leaves`` order.
      param_specs: static: the PartitionSpec of each parameter, which the updates are given.

    Change a hyperparameter with ``fo.set_hyperparams(state, lr=1e-4)``, which finds the
    functional_optim states inside.
    """

    inner_state: OptState
    state_specs: tuple[PartitionSpec, ...]
    param_specs: tuple[PartitionSpec, ...]


jax.tree_util.register_dataclass(Zero1State, data_fields=["inner_state"], meta_fields=["state_specs", "param_specs"])


def _explicit(mesh: Mesh) -> bool:
    """True for a mesh whose axes are all Explicit, False for all Auto (or a JAX without axis types)."""
    axis_type = getattr(jax.sharding, "AxisType", None)
    kinds = set(getattr(mesh, "axis_types", ()))
    if axis_type is None or kinds <= {axis_type.Auto}:
        return False
    if kinds == {axis_type.Explicit}:
        return True
    raise ValueError(f"zero1: the mesh's axes are {sorted(map(str, kinds))}; use all Auto or all Explicit axes")


def _spec_of(x: Any, mesh: Mesh, where: str) -> PartitionSpec:
    """``x``'s PartitionSpec on ``mesh``; P() for a replicated or unplaced leaf."""
    try:
        sharding = x.sharding
    except AttributeError:  # a tracer: its sharding is known only on a mesh with Explicit axes
        sharding = getattr(jax.typeof(x), "sharding", None)
    if isinstance(sharding, NamedSharding) and dict(sharding.mesh.shape) == dict(mesh.shape):
        return sharding.spec
    if sharding is None or sharding.is_fully_replicated:
        return PartitionSpec()
    raise ValueError(f"zero1: {where} is sharded as {sharding}, which is not a NamedSharding on {mesh}")


def constrain(x: Any, sharding: NamedSharding) -> jax.Array:
    """``x`` laid out as ``sharding`` inside a jitted function; XLA inserts the communication.

    On a mesh with Explicit axes this is :func:`jax.sharding.reshard`, on one with Auto axes
    :func:`jax.lax.with_sharding_constraint`.
    """
    x = jnp.asarray(x)
    if _explicit(sharding.mesh):
        return jax.sharding.reshard(x, sharding)
    return jax.lax.with_sharding_constraint(x, sharding)


def zero1_sharding(x: jax.Array, mesh: Mesh, axis: str = "data") -> NamedSharding:
    """Where ZeRO-1 keeps the per-parameter state of the array ``x`` (see :func:`partition_spec`).

    ``x`` is a parameter placed on ``mesh`` (or on one device, which counts as replicated).
    """
    return NamedSharding(mesh, partition_spec(jnp.shape(x), _spec_of(x, mesh, "the parameter"), axis, mesh.shape))


def zero1(tx: GradientTransformation, mesh: Mesh, axis: str = "data") -> GradientTransformation:
    """Partitions ``tx``'s state across the data-parallel mesh ``axis`` (ZeRO stage 1).

    ``init`` splits every per-parameter state leaf (one shaped like a parameter, whose tree
    path ends with that parameter's: ``exp_avg['w']`` for param ``['w']``) :math:`N` ways along
    ``axis``, as :func:`partition_spec` says, and keeps the other leaves (scalars, Adafactor's
    factored statistics, L-BFGS-style flat vectors) as the inner transform placed them, which
    for a transform built on replicated params means replicated. ``update`` reduce-scatters the
    grads onto that partition, runs ``tx.update`` there, keeps the new state partitioned and
    all-gathers the updates to the params' shardings, so the params stay replicated along
    ``axis`` (or sharded on other axes, as given). The numbers are ``tx``'s. Extra keyword
    arguments to ``update`` (L-BFGS's ``value`` and ``value_fn``) reach ``tx`` if it takes them.

    Call ``init`` outside jit (or inside jit on a mesh with Explicit axes): it reads the
    params' shardings from the arrays. ``update`` belongs inside ``jax.jit``; on a mesh with
    Explicit axes, inside ``jax.set_mesh(mesh)`` as well.

    Args:
      tx: any transform, a functional_optim algorithm, a :func:`~functional_optim.chain` or an
        optax transform.
      mesh: the device mesh the params live on.
      axis: the mesh axis to partition the state along (the data-parallel axis).

    Returns:
      A transform whose state is a :class:`Zero1State`.

    Example::

        mesh = jax.make_mesh((8,), ("data",))
        tx = fo.zero1(fo.adamw(1e-3), mesh, axis="data")
        state = tx.init(params)          # params replicated on the mesh
    """
    if axis not in mesh.shape:
        raise ValueError(f"zero1: axis {axis!r} is not one of the mesh's axes {tuple(mesh.shape)}")
    _explicit(mesh)  # raises for a mesh mixing Auto and Explicit axes

    def place(x: Any, spec: PartitionSpec) -> jax.Array:
        return constrain(x, NamedSharding(mesh, spec))

    def place_all(tree: Any, specs: Sequence[PartitionSpec], what: str) -> Any:
        leaves, treedef = jax.tree.flatten(tree)
        if len(leaves) != len(specs):
            raise ValueError(
                f"zero1: the {what} has {len(leaves)} array leaves but this state was built for {len(specs)}; "
                "build the state with this transform's init"
            )
        return treedef.unflatten([place(x, s) for x, s in zip(leaves, specs)])

    def init(params: Params) -> Zero1State:
        inner = tx.init(params)
        param_shapes = {
            jax.tree_util.keystr(path): jnp.shape(p) for path, p in jax.tree_util.tree_leaves_with_path(params)
        }

        def state_spec(path: Any, x: Any) -> PartitionSpec:
            spec, at = _spec_of(x, mesh, "a state leaf"), jax.tree_util.keystr(path)
            per_param = any(at.endswith(key) and jnp.shape(x) == shape for key, shape in param_shapes.items())
            return partition_spec(jnp.shape(x), spec, axis, mesh.shape) if per_param else spec

        state_specs = tuple(state_spec(path, x) for path, x in jax.tree_util.tree_leaves_with_path(inner))
        param_specs = tuple(
            _spec_of(p, mesh, f"the param at {jax.tree_util.keystr(path) or 'the root'}")
            for path, p in jax.tree_util.tree_leaves_with_path(params)
        )
        inner = place_all(inner, state_specs, "state")
        return Zero1State(inner, state_specs, param_specs)

    def update(
        grads: Updates, state: Zero1State, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, Zero1State]:
        if not isinstance(state, Zero1State):
            raise TypeError(
                f"zero1: expected the Zero1State built by this transform's init, got {type(state).__name__}"
            )
        if params is not None:
            # Each device updates its slice of every parameter: the params are sliced and the
            # grads reduce-scattered (or sliced, if already reduced) like the per-parameter state.
            specs = [
                partition_spec(jnp.shape(p), s, axis, mesh.shape)
                for p, s in zip(jax.tree.leaves(params), state.param_specs)
            ]
            if jax.tree.structure(grads) == jax.tree.structure(params):
                grads = place_all(grads, specs, "grads")
            params = place_all(params, specs, "params")
        updates, inner = tx.update(grads, state.inner_state, params, **extra_args_for(tx, extra_args))
        inner = place_all(inner, state.state_specs, "new state")
        updates = place_all(updates, state.param_specs, "updates")
        return updates, Zero1State(inner, state.state_specs, state.param_specs)

    return GradientTransformation(init, update)


def bytes_per_device(tree: Any) -> dict[jax.Device, int]:
    """The bytes each addressable device holds for ``tree``'s arrays, summed over their shards.

    A replicated leaf counts in full on every device that holds a copy; a leaf split :math:`N`
    ways counts :math:`1/N` on each. Non-array leaves count nothing.
    """
    totals: dict[jax.Device, int] = {}
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array):
            for shard in leaf.addressable_shards:
                totals[shard.device] = totals.get(shard.device, 0) + shard.data.nbytes
    return totals
