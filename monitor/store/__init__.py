"""All SQL: the schema (``models``), connections (``db``), migrations (``migrate``), the
catalog of watched series, snapshots and image sets, a round's stored detector inputs and
states (``rounds``), evidence bodies and thumbnails, the outbox, read queries and retention.

Every function takes a ``Session`` (the caller owns the transaction), never the application.
May import: ``config``, ``alerts`` (payload types), ``detector`` (state types), ``core``.
"""
