"""The long-running service: lifecycle and signals (``service``), when rounds are due
(``schedule``), the single-daemon lock (``lock``), the status HTTP server (``server``).

Above the composition root: it may import ``app`` and everything below.
"""
