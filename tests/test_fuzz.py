"""Every parser and the config loader on mutated inputs (``bench/fuzz.py``): no exception but
the ones a parser may raise, no hang, no result that is not a result.

Two thousand inputs per target from a fixed seed, one thousand for the three whose inputs
cost about ten times the CPU of a JSON answer's (bs4, ruamel, and Bing's bigger pages), and
the whole test must stay near a minute and a half.
The benchmark runs 100,000 per target (``python -m bench.fuzz``). Marked ``fuzz``: ``make
test-fast`` leaves it out.
"""

from __future__ import annotations

import pytest

from bench.fuzz import fuzz, targets

pytestmark = pytest.mark.fuzz

INPUTS = 2_000
SLOW = {"bing_images": 1_000, "html": 1_000, "config": 1_000}


@pytest.mark.parametrize("target", list(targets()), ids=lambda t: t.name)
def test_a_target_survives_mutated_inputs(target) -> None:
    inputs = SLOW.get(target.name, INPUTS)
    report = fuzz(target, inputs, seed_value=14, hang=10.0)
    assert report.inputs == inputs
    assert not report.findings, report.line() + "\n" + "\n".join(report.findings)


def test_the_slow_targets_are_targets() -> None:
    assert set(SLOW) <= {t.name for t in targets()}
