"""Replays recorded checks (JSON Lines, or a monitor database read-only) through the same
detector and payload mapping the daemon uses, with other settings.

May import: ``report`` and everything below it; never the application, the web pages or
the CLI (``cli.backtest`` is its command).
"""
