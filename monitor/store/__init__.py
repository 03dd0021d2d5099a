"""Persistence: the schema (``models``), connections (``db``), migrations (``migrate``) and
the queries the rest of the program needs (``snapshots``, ``outbox``)."""
