"""Helpers shared by several test modules; nothing here is collected as a test.

Test modules import from here, never from one another (a test module is a leaf: importing
one from another would collect its tests twice and tie unrelated files together).

- ``golden``: the golden-file harness for source parsers (``tests/fixtures/sources``).
- ``delivery``: databases, a scripted channel and real peers for the outbox, dispatcher
  and delivery tests; also the crash child (``python -m tests.helpers.delivery``).
- ``thumbnails``: an app with kept thumbnails, seeded snapshots and deterministic photos.
- ``fetch``: a ``Fetcher`` on ``httpx.MockTransport`` whose time only moves when it sleeps.

Helpers that users' own tests would want too (``LocalServer``, ``FakeClock``) live in
``monitor.testing`` and ``monitor.core.clock`` instead.
"""
