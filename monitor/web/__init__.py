"""HTML from the read models in ``report``: Jinja2 templates (autoescape on), SVG charts,
self-contained pages with a Content-Security-Policy. Opening a page never contacts an engine.

May import: ``report`` and everything below it.
"""
