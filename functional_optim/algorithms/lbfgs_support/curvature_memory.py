"""L-BFGS's curvature memory: the last ``history_size`` pairs :math:`(y, s)` in rings, and the
two-loop recursion that turns them into :math:`H_k g`.

The pairs live in fixed-size rings (a vector whose leaves have a leading axis of
``history_size``), so a jitted step never changes shape: pair ``i``, oldest first, is row
``(history_start + i) % history_size``, and ``history_len`` rows are in use (torch's
``len(old_dirs)``). Storing into a full ring drops the oldest pair, as torch's ``pop(0)``.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from functional_optim.algorithms.lbfgs_support import tree_vectors as vec
from functional_optim.transform import Params


class Memory(NamedTuple):
    """The stored pairs: rings of :math:`y` (``old_dirs``) and :math:`s` (``old_stps``), each
    pair's :math:`\\rho = 1/y^\\top s`, the newest pair's scaling ``H_diag`` and the ring's
    bookkeeping; the fields of the same names in ``LBFGSState``."""

    old_dirs: Params
    old_stps: Params
    ro: jax.Array
    H_diag: jax.Array
    history_len: jax.Array
    history_start: jax.Array


def stored(memory: Memory, y: Params, s: Params, ys: jax.Array, store: jax.Array, first: jax.Array) -> Memory:
    """``memory`` with the pair ``(y, s)`` (where ``ys`` is :math:`y^\\top s`) stored if ``store``,
    ``H_diag = ys / y.y`` then; emptied, with ``H_diag = 1``, on the first iteration ever."""
    m = memory.ro.shape[0]
    full = memory.history_len == m
    row = (memory.history_start + memory.history_len) % m
    old_dirs = vec.set_row(memory.old_dirs, row, vec.where(store, y, vec.row(memory.old_dirs, row)))
    old_stps = vec.set_row(memory.old_stps, row, vec.where(store, s, vec.row(memory.old_stps, row)))
    ro = memory.ro.at[row].set(jnp.where(store, 1 / ys, memory.ro[row]))
    history_start = jnp.where(store & full, (memory.history_start + 1) % m, memory.history_start)
    history_len = jnp.where(first, 0, jnp.where(store & ~full, memory.history_len + 1, memory.history_len))
    H_diag = jnp.where(first, jnp.ones_like(memory.H_diag), jnp.where(store, ys / vec.dot(y, y), memory.H_diag))
    return Memory(old_dirs, old_stps, ro, H_diag, history_len, history_start)


def descent_direction(g: Params, memory: Memory, al: jax.Array) -> tuple[Params, jax.Array]:
    """``-H g`` by the two-loop recursion over the stored pairs, with ``H_0 = H_diag I``; and the
    first loop's coefficients written into ``al`` (torch's scratch list, entry ``i`` for pair ``i``)."""
    m = memory.ro.shape[0]

    def newest_to_oldest(j, carry):
        q, al = carry
        i = memory.history_len - 1 - j
        row = (memory.history_start + i) % m
        al_i = vec.dot(vec.row(memory.old_stps, row), q) * memory.ro[row]
        return vec.axpy(-al_i, vec.row(memory.old_dirs, row), q), al.at[i].set(al_i)

    q, al = lax.fori_loop(0, memory.history_len, newest_to_oldest, (jax.tree.map(operator.neg, g), al))

    def oldest_to_newest(i, r):
        row = (memory.history_start + i) % m
        be_i = vec.dot(vec.row(memory.old_dirs, row), r) * memory.ro[row]
        return vec.axpy(al[i] - be_i, vec.row(memory.old_stps, row), r)

    return lax.fori_loop(0, memory.history_len, oldest_to_newest, vec.scale(q, memory.H_diag)), al
