"""Placeholder: being implemented."""


def rmsprop(*args, **kwargs):
    raise NotImplementedError("rmsprop")
