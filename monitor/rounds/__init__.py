"""Rounds: the checks of a source run concurrently (``runner``), then committed whole in one
transaction (``commit``). May import ``evidence``, ``check`` and everything below.
"""
