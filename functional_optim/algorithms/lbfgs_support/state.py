"""L-BFGS's state (torch's state keys plus a ring buffer's bookkeeping) and its transformation type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from functional_optim.algorithms.lbfgs_support.tree_vectors import flatten_vectors
from functional_optim.hyperparams import HyperparamsState
from functional_optim.transform import GradientTransformation, Params, apply_gradients


class LBFGSState(NamedTuple):
    """torch's L-BFGS state, in torch's key order, plus the ring's bookkeeping.

    A *vector* is a tree like the params whose leaves are the params' real views (complex
    leaves with a trailing axis of 2), all in one dtype (the params' promoted, as torch's flat
    vector's); a *ring* is a vector whose leaves have a leading axis of ``history_size``.

    Attributes:
      func_evals: int32, evaluations of the objective over all steps.
      n_iter: int32, iterations over all steps.
      al: ``(history_size,)``, the two-loop coefficients of the last direction (torch's
        scratch list ``al``; entry ``i`` belongs to the ``i``-th oldest pair).
      d: a vector, the last search direction.
      t: the last step length, in the scalar dtype.
      old_dirs: a ring, the stored gradient differences :math:`y`.
      old_stps: a ring, the stored steps :math:`s`.
      ro: ``(history_size,)``, :math:`1/y^\\top s` of each stored pair, a ring.
      H_diag: :math:`y^\\top s / y^\\top y` of the newest pair (1 before any pair).
      prev_flat_grad: a vector, the gradient at the start of the last iteration.
      prev_loss: the loss at the start of the last iteration, in the scalar dtype.
      history_len: int32, how many pairs are stored (torch's ``len(old_dirs)``).
      history_start: int32, the ring row of the oldest pair: pair ``i`` (oldest first) is row
        ``(history_start + i) % history_size``.
    """

    func_evals: jax.Array
    n_iter: jax.Array
    al: jax.Array
    d: Params
    t: jax.Array
    old_dirs: Params
    old_stps: Params
    ro: jax.Array
    H_diag: jax.Array
    prev_flat_grad: Params
    prev_loss: jax.Array
    history_len: jax.Array
    history_start: jax.Array

    def history(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(old_dirs, old_stps, ro)`` oldest first with only the stored pairs, as torch's lists.

        ``old_dirs`` and ``old_stps`` come in torch's flat layout, one row per pair. Not for use
        under ``jit`` (the result's length is the stored count).
        """
        rows = (int(self.history_start) + np.arange(int(self.history_len))) % self.ro.shape[0]
        return flatten_vectors(self.old_dirs, 1)[rows], flatten_vectors(self.old_stps, 1)[rows], self.ro[rows]


class LBFGSTransformation(GradientTransformation):
    """L-BFGS's ``(init, update)``, whose ``update`` takes the objective, and :meth:`step`.

    ``update(grads, state, params, *, value, value_fn) -> (updates, state)``; see :func:`lbfgs`.
    """

    def step(
        self, loss_fn: Callable[..., jax.Array], state: HyperparamsState, params: Params, *args: Any
    ) -> tuple[Params, HyperparamsState, jax.Array]:
        """One torch ``LBFGS.step(closure)`` with ``loss_fn(params, *args)`` as the closure.

        Returns the params after the step, the new state, and ``loss_fn``'s value at the
        incoming params (torch's return value). Jit it with ``loss_fn`` static:
        ``jax.jit(tx.step, static_argnums=0)``.
        """
        value, grads = jax.value_and_grad(loss_fn)(params, *args)
        grads = jax.tree.map(jnp.conj, grads)  # torch's gradient of a complex param is jax.grad's conjugate
        new_params, state = apply_gradients(
            self, grads, state, params, value=value, value_fn=lambda p: loss_fn(p, *args)
        )
        return new_params, state, value
