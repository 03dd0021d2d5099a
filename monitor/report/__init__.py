"""Read models of the report and the overview page: a person's series, checks, alerts,
episodes and vanished images as plain dataclasses. No HTML here (``web`` renders them).

May import: ``evidence`` and everything below it.
"""
