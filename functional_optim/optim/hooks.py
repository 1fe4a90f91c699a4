"""torch's optimizer hooks: the global step registries, each optimizer's, the handle that removes a hook, the wrapper
that runs the step hooks around an algorithm's ``step``, and the state-dict hooks' chaining."""

from __future__ import annotations

import functools
import itertools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_global_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``handle.remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: OrderedDict[int, Callable], hook: Callable, prepend: bool = False):
        self.id = next(self._ids)
        self._hooks = hooks
        hooks[self.id] = hook
        if prepend:
            hooks.move_to_end(self.id, last=False)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


class OptimizerHooks:
    """torch's per-optimizer hooks: the registries and their ``register_*_hook`` methods (a base of Optimizer)."""

    def __init__(self) -> None:
        self._step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._step_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._load_state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._load_state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()

    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(optimizer, args, kwargs) -> None | (args, kwargs)``, run before each step."""
        return RemovableHandle(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(optimizer, args, kwargs) -> None``, run after each step."""
        return RemovableHandle(self._step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer) -> None``, run before :meth:`state_dict` packs the state."""
        return RemovableHandle(self._state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict) -> state_dict | None``; a returned dict replaces it."""
        return RemovableHandle(self._state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict) -> state_dict | None``, on a shallow copy; a returned dict replaces it."""
        return RemovableHandle(self._load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer) -> None``, run after :meth:`load_state_dict`."""
        return RemovableHandle(self._load_state_dict_post_hooks, hook, prepend)


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """Registers ``hook(optimizer, args, kwargs) -> None | (args, kwargs)`` before every optimizer's step."""
    return RemovableHandle(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """Registers ``hook(optimizer, args, kwargs) -> None`` after every optimizer's step."""
    return RemovableHandle(_global_step_post_hooks, hook)


def with_step_hooks(step: Callable) -> Callable:
    """Runs torch's step hooks around ``step``: global pre, instance pre, step, instance post, global post."""

    @functools.wraps(step)
    def hooked_step(*args: Any, **kwargs: Any) -> Any:
        optimizer = args[0]
        for hook in itertools.chain(_global_step_pre_hooks.values(), optimizer._step_pre_hooks.values()):
            result = hook(optimizer, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{step} must return None or a tuple of (new_args, new_kwargs), but got {result}."
                    )
                args, kwargs = result
        out = step(*args, **kwargs)
        for hook in itertools.chain(optimizer._step_post_hooks.values(), _global_step_post_hooks.values()):
            hook(optimizer, args, kwargs)
        return out

    return hooked_step


def replaced_by_hooks(hooks: OrderedDict[int, Callable], optimizer: Any, value: Any) -> Any:
    """Runs ``hook(optimizer, value)`` in order; a hook's non-None result replaces ``value`` for the next ones."""
    for hook in hooks.values():
        result = hook(optimizer, value)
        if result is not None:
            value = result
    return value
