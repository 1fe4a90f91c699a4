"""Placeholder: being implemented."""


def rprop(*args, **kwargs):
    raise NotImplementedError("rprop")
