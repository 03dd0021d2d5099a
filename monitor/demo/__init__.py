"""The demo: simulated engines on 127.0.0.1 and a scripted erasure on a compressed clock,
driven through the daemon's own steps. May import the daemon, the app and everything below.
"""
