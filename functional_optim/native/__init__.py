"""Native multi-tensor kernels: one C++ call through XLA's FFI updates every leaf, on CPU.

XLA:CPU compiles an elementwise optimizer step into several loops per leaf (it has no
multi-output loop fusion) and pays a launch for each, so Adam reads and writes 40 bytes per
parameter where 28 would do, and a tree of many small leaves is launch-bound. The kernels in
``kernels/`` (compiled by ``pip install``) do a whole step of every elementwise algorithm --
SGD, Adam/AdamW, Adamax, NAdam, RAdam, RMSprop, Adagrad, Adadelta, ASGD and Rprop -- for up to
:data:`LEAVES_PER_CALL` leaves in one custom call, in place (each param and state array is
aliased to its result, so a jitted step that donates them writes no new memory), with torch's
for-loop arithmetic op by op: given the same grads, float32, bfloat16 and float16 results are
bit-identical to torch's ``foreach=False`` step on CPU (where torch's ``sqrt`` is correctly
rounded; its x86 builds take it from MKL, which rounds ~0.5% of roots the other way).

Which path runs is explicit:

* ``FUNCTIONAL_OPTIM_KERNELS=auto`` (the default): the native kernels where they were built,
  else the XLA path, with one :class:`NativeKernelsUnavailableWarning` saying so;
  ``native``: the native kernels, or an error if they were not built; ``xla``: never native.
* The kernels serve :func:`~functional_optim.apply_gradients` (and the torch-style
  ``step()``), which returns new params in place; ``tx.update``, whose ``updates`` and params
  both outlive the step, takes the XLA path (see :func:`in_place`).
* :func:`set_path` (or the context manager :func:`use`) changes the choice for steps traced
  afterwards (a jitted step already compiled keeps its path); :func:`path` reports it, for the
  process or for one transform.

The platform is chosen when the step is lowered: a step is one primitive whose CPU lowering is
the kernels' calls and whose lowering for any other platform (and whose ``vmap``) is the XLA
path, so a step lowered for GPU or TPU never contains a custom call, and only the lowered
implementation is ever traced (compiling a 500-leaf Adam step takes ~0.4x optax's time). A step
whose params carry a sharding over several devices uses the XLA path (the call has no
partitioning rule).

The loops are compiled for AVX2 + FMA and for AVX-512 on x86-64; :func:`instruction_set`
reports which set runs (the results are the same).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import importlib.machinery
import os
import pathlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
from jax.interpreters import batching, mlir

from functional_optim.elementwise import per_param

PATHS = ("auto", "native", "xla")
ENVIRONMENT_VARIABLE = "FUNCTIONAL_OPTIM_KERNELS"
# The kernels' FFI handler symbols in the compiled library.
_KERNELS = {
    "adam": "FunctionalOptimAdam",
    "sgd": "FunctionalOptimSGD",
    "rmsprop": "FunctionalOptimRMSprop",
    "adagrad": "FunctionalOptimAdagrad",
    "adamax": "FunctionalOptimAdamax",
    "nadam": "FunctionalOptimNAdam",
    "radam": "FunctionalOptimRAdam",
    "adadelta": "FunctionalOptimAdadelta",
    "asgd": "FunctionalOptimASGD",
    "rprop": "FunctionalOptimRprop",
}
# The scalars that Adam's, NAdam's and RAdam's kernels start their rows with (multi_tensor.h's
# AdamFamily), in its order.
ADAM_FAMILY_SCALARS = ("decay_factor", "weight_decay", "one_minus_beta1", "beta2", "one_minus_beta2")
# Leaves updated by one custom call. XLA:CPU's compile time grows faster than linearly in a
# call's operands (about 4x per doubling past ~100 leaves), so larger trees take several calls.
LEAVES_PER_CALL = 16
_SUPPORTED_DTYPES = tuple(jnp.dtype(d) for d in ("float64", "float32", "bfloat16", "float16"))


class NativeKernelsUnavailableWarning(RuntimeWarning):
    """The native kernels are not there (no C++ compiler at install time, or an x86-64 CPU without AVX2 and FMA)."""


def _load_library() -> ctypes.CDLL | None:
    """The compiled kernels, registered with XLA as CPU custom-call targets; None if not built (or unsupported)."""
    directory = pathlib.Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / f"_kernels{suffix}"
        if candidate.exists():
            library = ctypes.cdll.LoadLibrary(str(candidate))
            if not library.FunctionalOptimSupported():  # an x86-64 CPU without AVX2 and FMA
                return None
            for name, symbol in _KERNELS.items():
                handler = jax.ffi.pycapsule(getattr(library, symbol))
                jax.ffi.register_ffi_target(_target(name), handler, platform="cpu")
            return library
    return None


def _target(kernel: str) -> str:
    return f"functional_optim_{kernel}"


_library = _load_library()
_state = {"path": os.environ.get(ENVIRONMENT_VARIABLE, "auto"), "warned": False, "in_place": False}


def available() -> bool:
    """Whether the native kernels were built and loaded."""
    return _library is not None


def instruction_set() -> str | None:
    """The vector instructions the kernels' loops use here, or None if the kernels are not loaded.

    ``"avx512"`` (16 floats a vector) where the CPU has AVX-512F/BW/VL/DQ, else ``"avx2"`` (AVX2
    + FMA, the minimum on x86-64); ``"default"`` off x86-64 (what the compiler targets). The
    results are the same either way; ``FUNCTIONAL_OPTIM_AVX512=0`` (read once, at the first
    call of a kernel or of this function) keeps the AVX2 loops, for tests and for CPUs that slow
    down running AVX-512.
    """
    if _library is None:
        return None
    return ("default", "avx2", "avx512")[_library.FunctionalOptimInstructionSet()]


def set_path(choice: str) -> None:
    """Chooses the kernels for steps traced from now on: ``"auto"``, ``"native"`` or ``"xla"``.

    Raises:
      ValueError: for another name.
      RuntimeError: for ``"native"`` when the kernels were not built.
    """
    _check_choice(choice, "set_path")
    _state["path"] = choice


@contextlib.contextmanager
def use(choice: str) -> Iterator[None]:
    """``with use("xla"): ...`` traces the steps inside on the chosen path (see :func:`set_path`)."""
    previous = _state["path"]
    set_path(choice)
    try:
        yield
    finally:
        _state["path"] = previous


def kernel(transform: Any) -> str | None:
    """The name of ``transform``'s native kernel (``"adam"``, ...), or None if it has none."""
    return getattr(transform.update, "native_kernel", None)


def path(transform: Any = None) -> str:
    """``"native"`` or ``"xla"``: the path :func:`~functional_optim.apply_gradients` steps traced now take on CPU.

    With a ``transform``, the path of that transform's steps: ``"native"`` only for an
    algorithm with a native kernel (every algorithm but Adafactor, Muon, SparseAdam and L-BFGS)
    while native kernels are chosen. ``tx.update`` always takes the XLA path (see :func:`in_place`).
    """
    choice = _check_choice(_state["path"], ENVIRONMENT_VARIABLE)
    resolved = "xla" if choice == "xla" or (choice == "auto" and not available()) else "native"
    return "xla" if transform is not None and kernel(transform) is None else resolved


def _check_choice(choice: str, where: str) -> str:
    if choice not in PATHS:
        raise ValueError(f"{where}: the kernel path must be one of {PATHS}, got {choice!r}")
    if choice == "native" and not available():
        raise RuntimeError(
            f"{where}: native kernels were asked for but not built (no C++ compiler when functional_optim "
            "was installed?); reinstall with a compiler, or choose 'auto' or 'xla'"
        )
    return choice


@contextlib.contextmanager
def in_place() -> Iterator[None]:
    """Marks the steps traced inside as returning new params in place, which the kernels serve.

    :func:`~functional_optim.apply_gradients` traces under it. ``tx.update`` does not: its
    updates (``new - params``) and the params both outlive the step, so XLA would copy every
    param into a fresh buffer for the kernel to overwrite, and fresh memory is slow to write
    (page faults), slower than the XLA path's own fusions.
    """
    previous = _state["in_place"]
    _state["in_place"] = True
    try:
        yield
    finally:
        _state["in_place"] = previous


def _native_chosen() -> bool:
    if not _state["in_place"]:
        return False
    if path() == "native":
        return True
    if _state["path"] == "auto" and not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            "functional_optim's native CPU kernels were not built (no C++ compiler at install time?): "
            "optimizer steps run on the XLA path",
            NativeKernelsUnavailableWarning,
            stacklevel=4,
        )
    return False


def _is_multi_device(x: Any) -> bool:
    sharding = getattr(x, "sharding", None) or getattr(jax.typeof(x), "sharding", None)
    num_devices = getattr(sharding, "num_devices", None)
    if num_devices is None:  # traced under jit: the abstract mesh, if any, tells
        mesh = getattr(sharding, "mesh", None)
        num_devices = getattr(mesh, "size", 1) if mesh is not None else 1
    return num_devices > 1


def multi_tensor_step(
    kernel: str,
    one_param: Callable[..., tuple[Any, ...]],
    scalars: dict[str, Any],
    scalar_order: Sequence[str],
    params: Any,
    grads: Any,
    states: Sequence[Any],
    **options: int,
) -> tuple[Any, ...]:
    """One optimizer step of every leaf: the native ``kernel`` on CPU where chosen, else ``xla_step``.

    Args:
      kernel: the algorithm's kernel (``"adam"``, ...).
      one_param: one parameter's maths on the XLA path, ``one_param(scalars, param, grad,
        *states, store) -> (new_param, *new_states)``, mapped over the trees by
        :func:`~functional_optim.elementwise.per_param` (with its ``store``). It is also what gets
        differentiated: the native call has no derivative of its own, so a JVP (and with it
        ``jax.grad``) runs the XLA path.
      scalars: the step's 0-d scalars by name (None counts as 0, a bool as 0/1).
      scalar_order: the names of the kernel's scalars, in its order.
      params: the (real) parameter tree; ``grads`` and each tree of ``states`` have its structure.
      states: the state trees the kernel reads and writes, in its order (None: absent).
      **options: the kernel's integer attributes (flags).

    Returns:
      ``(new_params, *new_states)``, as ``per_param`` returns them (None where a state is None).
    """
    xla_step = functools.partial(per_param, one_param, with_store=True)
    param_leaves, treedef = jax.tree.flatten(params)
    states = tuple(states)
    if (
        not param_leaves
        or not _native_chosen()
        or any(jnp.result_type(p) not in _SUPPORTED_DTYPES for p in param_leaves)
        or any(_is_multi_device(p) for p in param_leaves)
    ):
        return xla_step(scalars, params, grads, *states)

    def xla(scalars: dict[str, Any], params: Any, grads: Any, states: tuple[Any, ...]) -> tuple[Any, ...]:
        return xla_step(scalars, params, grads, *states)

    def native(scalars: dict[str, Any], params: Any, grads: Any, states: tuple[Any, ...]) -> tuple[Any, ...]:
        # The scalars, one row shared by every leaf, in the scalar dtype (float64 under x64).
        values = [jnp.asarray(0 if scalars[name] is None else scalars[name]) for name in scalar_order]
        table = jnp.stack([value.astype(jnp.result_type(float)) for value in values])[None]
        present = [tree for tree in states if tree is not None]
        columns = [treedef.flatten_up_to(tree) for tree in (params, grads, *present)]
        leaves = list(zip(*columns))  # leaf by leaf: param, grad, states
        results = []
        for start in range(0, len(leaves), LEAVES_PER_CALL):
            results.extend(_call(kernel, table, leaves[start : start + LEAVES_PER_CALL], options))
        per_leaf = len(columns) - 1
        trees = iter(treedef.unflatten(results[i::per_leaf]) for i in range(per_leaf))
        new_params = next(trees)
        return (new_params, *(None if tree is None else next(trees) for tree in states))

    @jax.custom_jvp
    def step(scalars: dict[str, Any], params: Any, grads: Any, states: tuple[Any, ...]) -> tuple[Any, ...]:
        return _cpu_or_default(native, xla, (scalars, params, grads, states), like=(params, *states))

    step.defjvp(lambda primals, tangents: jax.jvp(xla, primals, tangents))
    return step(scalars, params, grads, states)


@dataclasses.dataclass(frozen=True, eq=False)  # compared by identity: one per traced step
class _Implementations:
    """A traced step's two implementations over its flat operands: the parameter of ``_step_p``."""

    cpu: Callable[..., list]
    default: Callable[..., list]
    result_avals: tuple[Any, ...]


# One optimizer step whose implementation is chosen when it is lowered (unlike
# lax.platform_dependent, which traces every branch up front): the native kernels in a program
# for CPU, the XLA path for any other platform (and under vmap). Only the lowered one is traced.
_step_p = jax.extend.core.Primitive("functional_optim_step")
_step_p.multiple_results = True
_step_p.def_abstract_eval(lambda *operands, implementations: implementations.result_avals)


@_step_p.def_impl
def _step_eagerly(*operands: Any, implementations: _Implementations) -> list:
    """Outside jit: the kernels where every operand is on the CPU."""
    on_cpu = all(d.platform == "cpu" for x in operands if isinstance(x, jax.Array) for d in x.devices())
    return (implementations.cpu if on_cpu else implementations.default)(*operands)


def _lowering(platform: str) -> Callable[..., Any]:
    def lower(ctx: Any, *operands: Any, implementations: _Implementations) -> Any:
        return mlir.lower_fun(getattr(implementations, platform), multiple_results=True)(ctx, *operands)

    return lower


def _batched(operands: Sequence[Any], axes: Sequence[Any], *, implementations: _Implementations) -> tuple[Any, Any]:
    results = jax.vmap(implementations.default, in_axes=tuple(axes))(*operands)
    return results, [0] * len(results)


mlir.register_lowering(_step_p, _lowering("cpu"), platform="cpu")
mlir.register_lowering(_step_p, _lowering("default"))
batching.primitive_batchers[_step_p] = _batched


def _cpu_or_default(cpu: Callable[..., Any], default: Callable[..., Any], args: tuple[Any, ...], like: Any) -> Any:
    """``cpu(*args)`` in a program lowered for CPU, else ``default(*args)``; both return arrays shaped like ``like``."""
    operands, in_tree = jax.tree.flatten(args)
    out_tree = jax.tree.structure(like)

    def flat(fn: Callable[..., Any]) -> Callable[..., list]:
        return lambda *operands: jax.tree.leaves(fn(*jax.tree.unflatten(in_tree, operands)))

    result_avals = tuple(jax.typeof(x) for x in jax.tree.leaves(like))
    implementations = _Implementations(flat(cpu), flat(default), result_avals)
    return jax.tree.unflatten(out_tree, _step_p.bind(*operands, implementations=implementations))


def _call(kernel: str, table: jax.Array, leaves: list[tuple[jax.Array, ...]], options: dict[str, int]) -> list:
    """One custom call of ``kernel`` for ``leaves`` (each ``(param, grad, *states)``); returns the updated arrays.

    Every array but the grad is aliased to its result, so a donated step writes in place.
    """
    operands, result_types, aliases = [table], [], {}
    for arrays in leaves:
        for position, array in enumerate(arrays):
            if position != 1:
                aliases[len(operands)] = len(result_types)
                result_types.append(jax.ShapeDtypeStruct(array.shape, array.dtype))
            operands.append(array)
    call = jax.ffi.ffi_call(_target(kernel), result_types, input_output_aliases=aliases, vmap_method="sequential")
    num_states = np.int64(len(leaves[0]) - 2)
    return call(*operands, num_states=num_states, **{k: np.int64(v) for k, v in options.items()})
