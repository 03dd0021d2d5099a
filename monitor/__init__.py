"""image-absence-monitor: notice when a person's images quietly disappear from search engines."""

__version__ = "0.1.0"
