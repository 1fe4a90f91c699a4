"""torch's optimizer hooks: the global step registries, the handle that removes a hook, the wrapper
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
