"""The HTML pages: the report, the overview, and the SVG charts in them; and the Atom feed
of alerts (``feed``), written with the standard library's XML writer, not a template.

Pages are rendered from the read models of ``monitor.report`` by Jinja2 templates
(``templates/``) with autoescape on; ``templating.py`` states the safety contract (what is
escaped, what may become a URL, the Content-Security-Policy). Nothing here knows the App:
callers hand in a session factory, the config, the thumbnail directory and the time.
"""
