"""Pure vocabulary at the bottom of the house: errors, the clock (and a fake one), units
(durations, rates), what a check observed (``Status``, ``Observation``), URL rules, masking of
secrets, the plugin loader, logging setup and metrics.

Imports nothing else from ``monitor``; everything may import it.
"""
