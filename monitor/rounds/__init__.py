"""Rounds: the checks of a source run concurrently (``runner``), then committed whole
(``commit``)."""
