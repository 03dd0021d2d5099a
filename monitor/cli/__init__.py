"""The ``absence-monitor`` command: the click group (``main``), one module per command
family, and the rich tables (``output``). The top of the house: it may import everything.
"""
