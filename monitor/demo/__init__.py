"""The demo: simulated engines on 127.0.0.1 and a scripted erasure on a compressed clock."""
