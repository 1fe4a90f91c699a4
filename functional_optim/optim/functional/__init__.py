"""torch 2.15's ``torch.optim.functional``: the in-place step functions torch.optim's classes call.

Each function takes torch's arguments (``adam(params, grads, exp_avgs, exp_avg_sqs,
max_exp_avg_sqs, state_steps, ..., *, amsgrad, beta1, beta2, lr, weight_decay, eps, maximize)``),
in torch's order, with torch's names and defaults (torch's keyword-only hyperparameters have none),
and does one step of the algorithm for every parameter. The caller creates the optimizer state
and keeps it, as with torch; the maths is the functional algorithm's of the same name
(:func:`functional_optim.adam`, ...), run as the torch-style classes run it::

    import functional_optim.optim.functional as F

    exp_avgs, exp_avg_sqs = [jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params]
    state_steps = [jnp.zeros((), jnp.float32) for _ in params]
    for batch in batches:
        grads = jax.grad(loss_fn)(params, batch)  # params: a list of arrays
        F.adam(params, grads, exp_avgs, exp_avg_sqs, [], state_steps, amsgrad=False, beta1=0.9,
               beta2=0.999, lr=1e-3, weight_decay=0.0, eps=1e-8, maximize=False)

**In place, the JAX way.** JAX arrays are immutable, so a call replaces the *entries* of the
lists it is given: ``params[i]``, ``state_steps[i]`` and the ``[i]`` of every state list it
updates become new arrays, and a :class:`~functional_optim.Parameter` in ``params`` stays in
its list with a new ``data`` (as :meth:`Optimizer.step <functional_optim.optim.Optimizer.step>`
gives it). The functions return None, like torch's. **A caller keeps the lists, not the
arrays**: an array taken out of a list before a call is stale after it, and deleted, since the
call donates the buffers it replaces (read it again from its list). The grads are never changed.

Arguments every function shares:

* ``params``: a list of jax arrays and :class:`~functional_optim.Parameter` s (float, or complex
  where the algorithm takes complex parameters, optimised through their real view as torch does).
* ``grads`` (SGD: ``d_p_list``): a list, one array per parameter, of its shape and dtype.
* ``state_steps``: one float32 0-d array per parameter, the number of steps it has taken (zeros
  at first); arrays, or torch's RuntimeError ("API has changed, ``state_steps`` argument must
  contain a list of singleton tensors") where torch checks them.
* Every state array must have the shape and dtype the algorithm keeps it in: the parameter's for
  a buffer like it (complex for a complex parameter), float32 for a scalar.
* ``foreach``, ``fused``, ``capturable``, ``differentiable``: torch's choice among its own
  kernels. The values that mean torch's for-loop (None or False) are accepted; another raises
  the ValueError the torch-style classes raise, since one compiled XLA step runs here.
* ``has_complex``, ``has_sparse_grad``: accepted and ignored; the arrays say what they are
  (Muon raises torch's ValueError for ``has_complex=True``).
* ``grad_scale``, ``found_inf``: torch's for-loop steps refuse them with an AssertionError, as
  these functions do.

A call checks everything before it changes anything, and a failed call leaves every list as it
was: torch's errors where torch raises; a TypeError or ValueError naming the argument and the
index for a list of another length (a state list may be empty where the options do not read it,
as torch's classes pass one), a grad or state array of another shape or dtype, or a None where
state is needed; and the hyperparameters are checked with the torch-style classes' messages
(torch's functions check none).

**Compiled once.** The step is one ``jax.jit``-compiled call, cached on what it bakes in (the
non-numeric options, and which numeric hyperparameters are 0): the numeric hyperparameters are
traced arguments, so a loop that changes ``lr`` at every call with the same shapes compiles once.
"""

from functional_optim.optim.functional.adam_family import adam, adamax, adamw, nadam, radam, sparse_adam
from functional_optim.optim.functional.adaptive import adadelta, adafactor, adagrad, rmsprop
from functional_optim.optim.functional.descent import asgd, muon, rprop, sgd

__all__ = [
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "asgd",
    "muon",
    "nadam",
    "radam",
    "rmsprop",
    "rprop",
    "sgd",
    "sparse_adam",
]
