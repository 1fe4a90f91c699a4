"""Placeholder: being implemented."""


def adamax(*args, **kwargs):
    raise NotImplementedError("adamax")
