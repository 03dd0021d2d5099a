"""The labelled detection benchmark of issue 7.

``generate`` writes a synthetic, labelled corpus of checks (deterministic by seed);
``score`` compares a detector's alerts with the labels; ``run`` glues a detector between
them; ``cases`` replays the documented disappearances as small series with expected alerts;
``naive`` is a deliberately naive reference detector, not the monitor's detector.
"""
