"""Placeholder: being implemented."""


def radam(*args, **kwargs):
    raise NotImplementedError("radam")
