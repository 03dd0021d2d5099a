"""Every parser against every saved response: status, count, total and first item."""

from __future__ import annotations

import pytest

from tests.helpers.golden import Case, discover, distinct, run_case

CASES = discover()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_parser_matches_golden_file(case: Case) -> None:
    spec = case.spec
    status, reason, result = run_case(case)
    assert status.value == spec["status"], f"reason: {reason}"
    if "reason_contains" in spec:
        assert reason is not None and spec["reason_contains"] in reason
    if spec["status"] not in ("ok", "no_results"):
        assert result is None
        return
    assert result is not None
    items = distinct(result.items)
    if "count" in spec:
        assert len(items) == spec["count"]
    if spec["status"] == "no_results":
        assert items == []
    if "reported_total" in spec:
        assert result.reported_total == spec["reported_total"]
    if "domains" in spec:
        assert len({i.domain for i in items if i.domain}) == spec["domains"]
    if "has_more" in spec:
        assert result.has_more == spec["has_more"]
    if "next_offset" in spec:
        assert result.next_offset == spec["next_offset"]
    if "first" in spec:
        first = items[0]
        for field, value in spec["first"].items():
            assert getattr(first, field) == value, field


def test_golden_cases_exist_for_every_builtin_source_kind() -> None:
    from monitor.sources import REGISTRY

    kinds = {c.kind for c in CASES}
    assert set(REGISTRY) <= kinds, f"no golden cases for {sorted(set(REGISTRY) - kinds)}"
