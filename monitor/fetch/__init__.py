"""The one polite HTTP client: per-host rate limits and concurrency, retries with backoff
and ``Retry-After``, bodies read under a size cap, cookies warmed per host. Every request to
an engine or a thumbnail host goes through ``client.Fetcher``.

May import: ``sources`` (a source's options become its ``FetchPolicy``) and ``core``.
"""
