"""torch's ``LBFGS`` state dict and the functional :class:`~functional_optim.LBFGSState`, each into the other.

torch keeps L-BFGS's state under the first Parameter, with its vectors flat (the Parameters
concatenated, complex ones as their real and imaginary parts) and its curvature pairs as lists,
oldest first; the functional state keeps vectors shaped like the Parameters and the pairs in
fixed-size rings. :func:`state_from_torch` builds the rings from torch's dict (checked by
:func:`checked_torch_state`, as a loaded one is), and :func:`store_in_torch_state` writes a
step's result back, adding only the pairs the step added.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.algorithms.lbfgs import LBFGSState
from functional_optim.algorithms.lbfgs_support.tree_vectors import flatten_vectors, unflatten_vectors
from functional_optim.hyperparams import scalar_dtype

_LISTS = ("old_dirs", "old_stps", "ro")


def flat_size_and_dtype(values: list[jax.Array]) -> tuple[int, np.dtype]:
    """The length and dtype of torch's flat vector (complex Parameters as their real and imaginary parts)."""
    size = sum(2 * v.size if jnp.iscomplexobj(v) else v.size for v in values)
    return size, jnp.dtype(jnp.result_type(*[jnp.finfo(v.dtype).dtype for v in values]))


def store_in_torch_state(
    state: dict[str, Any],
    inner: LBFGSState,
    n_iter_before: int,
    history: tuple[int, int],
    new_history: tuple[int, int],
    t: float,
    prev_loss: float,
) -> None:
    """Writes a step's functional state into torch's dict, in torch's key order, adding only the new pairs."""
    (start, length), (new_start, new_length) = history, new_history
    m = inner.ro.shape[0]
    iterations = state["n_iter"] - n_iter_before

    def rows(first: int, last: int) -> list[int]:  # the ring rows of pairs first..last-1, oldest first
        return [(new_start + i) % m for i in range(first, last)]

    if n_iter_before == 0 or iterations >= m or any(name not in state for name in _LISTS):
        new_rows, drop = rows(0, new_length), None  # the lists are (re)built
    else:
        pushed = (new_start + new_length - start - length) % m
        new_rows, drop = rows(new_length - pushed, new_length), length + pushed - new_length
    if state["n_iter"] >= 2:  # torch creates ``al`` at the first iteration after the very first
        al = list(_unstack(inner.al))
        state["al"] = al[:new_length] + [None] * (m - new_length)
    # Copies in torch's flat layout: the functional state's buffers are donated next step.
    state["d"] = jnp.copy(flatten_vectors(inner.d))
    state["t"] = t
    picked = np.asarray(new_rows, int)
    for name, ring in zip(_LISTS, (inner.old_dirs, inner.old_stps, inner.ro)):
        if name == "ro":
            new = [ring[row] for row in new_rows]
        else:  # the new pairs in torch's flat layout, one row each
            new = list(flatten_vectors(jax.tree.map(lambda r: r[picked], ring), 1))
        if drop is None:
            state[name] = new
        else:
            del state[name][:drop]
            state[name].extend(new)
    state["H_diag"] = 1 if new_length == 0 else jnp.copy(inner.H_diag)
    state["prev_flat_grad"] = jnp.copy(flatten_vectors(inner.prev_flat_grad))
    state["prev_loss"] = prev_loss


@jax.jit
def _unstack(vector: jax.Array) -> tuple[jax.Array, ...]:
    return tuple(vector)


def state_from_torch(state: dict[str, Any], values: list[jax.Array], history_size: int) -> LBFGSState:
    """The functional state (ring buffers, each field its own buffer) holding torch's dict ``state``."""
    size, dtype = flat_size_and_dtype(values)
    state = checked_torch_state(state, size, dtype, history_size, "the first parameter")
    sd = scalar_dtype()
    pairs = len(state.get("old_dirs", ()))

    def ring(items: list, shape: tuple[int, ...]) -> jax.Array:
        buffer = jnp.zeros((history_size, *shape), dtype)
        return buffer.at[: len(items)].set(jnp.stack(items)) if items else buffer

    def vector(name: str) -> Any:  # torch's flat vector as the functional state's tree
        return unflatten_vectors(jnp.array(state[name], dtype) if name in state else jnp.zeros(size, dtype), values)

    def vector_ring(name: str) -> Any:
        return unflatten_vectors(ring(state.get(name, []), (size,)), values)

    al = [0 if v is None else v for v in state.get("al", [])[:history_size]]
    return LBFGSState(
        func_evals=jnp.asarray(state.get("func_evals", 0), jnp.int32),
        n_iter=jnp.asarray(state.get("n_iter", 0), jnp.int32),
        al=ring([jnp.asarray(v, dtype) for v in al], ()),
        d=vector("d"),
        t=jnp.asarray(float(state.get("t", 0.0)), sd),
        old_dirs=vector_ring("old_dirs"),
        old_stps=vector_ring("old_stps"),
        ro=ring([jnp.asarray(v, dtype) for v in state.get("ro", [])], ()),
        H_diag=jnp.array(state.get("H_diag", 1), dtype),
        prev_flat_grad=vector("prev_flat_grad"),
        prev_loss=jnp.asarray(float(state.get("prev_loss", 0.0)), sd),
        history_len=jnp.asarray(pairs, jnp.int32),
        history_start=jnp.zeros((), jnp.int32),
    )


def checked_torch_state(fields: dict[str, Any], size: int, dtype: np.dtype, history_size: int, where: str) -> dict:
    """torch's LBFGS state dict, checked and with its arrays copied to jax arrays of ``dtype``."""

    def fail(message: str) -> None:
        raise ValueError(f"loaded LBFGS state of {where}: {message}")

    def array(name: str, value: Any, shape: tuple[int, ...]) -> jax.Array:
        if not isinstance(value, (jax.Array, np.ndarray, np.generic, int, float)):
            fail(f"{name!r} must be an array, but it is a {type(value).__name__}")
        if np.shape(value) != shape:
            fail(f"{name!r} has shape {np.shape(value)}, but the parameters need {shape} ({size} numbers in all)")
        return jnp.array(value, dtype)

    loaded = {}
    for name, value in fields.items():
        if name in ("func_evals", "n_iter"):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer, np.ndarray, jax.Array)):
                fail(f"{name!r} must be an int, but it is {value!r}")
            loaded[name] = int(value)
        elif name in ("d", "prev_flat_grad"):
            loaded[name] = array(name, value, (size,))
        elif name in ("old_dirs", "old_stps", "ro", "al"):
            if not isinstance(value, (list, tuple)):
                fail(f"{name!r} must be a list, but it is a {type(value).__name__}")
            shape = (size,) if name in ("old_dirs", "old_stps") else ()
            loaded[name] = [
                None if v is None and name == "al" else array(f"{name}[{i}]", v, shape) for i, v in enumerate(value)
            ]
        elif name in ("t", "prev_loss", "H_diag"):
            loaded[name] = value if isinstance(value, (int, float)) else array(name, value, ())
        else:
            loaded[name] = jnp.array(value) if isinstance(value, (jax.Array, np.ndarray)) else value
    lengths = {name: len(loaded[name]) for name in _LISTS if name in loaded}
    if len(set(lengths.values())) > 1:
        fail(f"the lists {list(lengths)} must have one length, but they have {list(lengths.values())}")
    if any(length > history_size for length in lengths.values()):
        fail(f"it holds {max(lengths.values())} curvature pairs, more than history_size={history_size}")
    if "d" in loaded and lengths.keys() != set(_LISTS):
        fail(f"it has 'd' but not all of {list(_LISTS)}")
    return loaded
