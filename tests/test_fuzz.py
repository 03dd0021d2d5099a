"""Every parser and the config loader on mutated inputs (``bench/fuzz.py``): no exception but
the ones a parser may raise, no hang, no result that is not a result.

Two thousand inputs per target from a fixed seed, 77 CPU s for all eleven called directly
and 96 under pytest (on a loaded machine): 2 to 4 CPU ms an input for the JSON answers, Bing
and the config (libyaml), 5 for feeds and 9 for the html source (lxml), the mutation and
hypothesis's bookkeeping included. The benchmark runs
100,000 per target (``python -m bench.fuzz``). Marked ``fuzz``: ``make test-fast`` leaves it
out.
"""

from __future__ import annotations

import pytest

from bench.fuzz import fuzz, targets

pytestmark = pytest.mark.fuzz

INPUTS = 2_000


@pytest.mark.parametrize("target", list(targets()), ids=lambda t: t.name)
def test_a_target_survives_mutated_inputs(target) -> None:
    report = fuzz(target, INPUTS, seed_value=14, hang=10.0)
    assert report.inputs == INPUTS
    assert not report.findings, report.line() + "\n" + "\n".join(report.findings)
