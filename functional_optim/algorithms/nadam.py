"""Placeholder: being implemented."""


def nadam(*args, **kwargs):
    raise NotImplementedError("nadam")
