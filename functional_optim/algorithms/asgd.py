"""Placeholder: being implemented."""


def asgd(*args, **kwargs):
    raise NotImplementedError("asgd")
