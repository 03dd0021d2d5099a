"""The ``absence-monitor`` command: the click group (``main``), one module per command
family, and the rich tables (``output``). The top of the house: it may import everything.
"""

import sys

# httpx imports its own command line (rich, pygments: about 0.09 s of CPU) whenever they are
# installed; this program never runs it. Shadowed before any command imports httpx, as the
# parse workers do (monitor.check.process); httpx then defines a stub in its place.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
