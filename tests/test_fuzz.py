"""Every parser and the config loader on mutated inputs (``bench/fuzz.py``): no exception but
the ones a parser may raise, no hang, no result that is not a result.

Two hundred inputs per target, from a fixed seed (the benchmark runs 100,000 per target:
``python -m bench.fuzz``). Marked ``fuzz``: ``make test-fast`` leaves it out.
"""

from __future__ import annotations

import pytest

from bench.fuzz import fuzz, targets

pytestmark = pytest.mark.fuzz

INPUTS = 200


@pytest.mark.parametrize("target", list(targets()), ids=lambda t: t.name)
def test_a_target_survives_mutated_inputs(target) -> None:
    report = fuzz(target, INPUTS, seed_value=14, hang=10.0)
    assert report.inputs == INPUTS
    assert not report.findings, report.line() + "\n" + "\n".join(report.findings)
