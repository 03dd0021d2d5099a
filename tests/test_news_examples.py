"""The news-site examples shipped in config.yaml work: each one's settings are read from
config.yaml itself (so the example and its test cannot drift) and parse a page built from
what public scrapers read of that site (tests/fixtures/news/PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from monitor import sources
from monitor.config import load_config
from monitor.core.errors import ParseError
from monitor.core.observation import ImageItem, PageResult
from monitor.sources.base import Source

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "news"
EXAMPLES = ("xinhua", "peoples_daily", "fmprc", "guardian")


@pytest.fixture(scope="module")
def shipped() -> dict[str, Source]:
    config = load_config(ROOT / "config.yaml", env={})
    return {n: sources.load(config.sources[n].kind)(n, config.sources[n]) for n in EXAMPLES}


def parse(source: Source, term: str, fixture: str, content_type: str) -> PageResult:
    request = source.build_request(term, 0)
    body = (FIX / fixture).read_bytes()
    response = httpx.Response(
        200, content=body, headers={"content-type": content_type}, request=request
    )
    return source.parse(response, 0)


def distinct(items: tuple[ImageItem, ...]) -> list[str]:
    return list(dict.fromkeys(i.image_url for i in items))


def test_every_example_is_shipped_disabled(shipped: dict[str, Source]) -> None:
    assert all(not s.options.enabled for s in shipped.values())


def test_xinhua_feed_keeps_the_stories_that_mention_the_name(shipped: dict[str, Source]) -> None:
    source = shipped["xinhua"]
    assert str(source.build_request("王毅", 0).url).startswith("http://www.xinhuanet.com/")
    result = parse(source, "王毅", "xinhua-politics-rss-constructed.xml", "text/xml")
    assert distinct(result.items) == [
        "http://www.news.cn/politics/2023-07/11/1129743001_16890562178061n.jpg",
        "http://www.news.cn/politics/2023-07/11/1129743002_16890562178062n.jpg",
    ]
    absent = parse(source, "秦刚", "xinhua-politics-rss-constructed.xml", "text/xml")
    assert absent.no_results and absent.items == ()


def test_peoples_daily_search_reads_its_result_list(shipped: dict[str, Source]) -> None:
    source = shipped["peoples_daily"]
    url = str(source.build_request("秦刚", 1).url)
    assert url == "http://search.people.cn/s/?keyword=%E7%A7%A6%E5%88%9A&st=0&page=2"
    result = parse(source, "秦刚", "peoples-daily-search-constructed.html", "text/html")
    # Three results, two with a picture; the text-only one adds nothing to the count.
    assert distinct(result.items) == [
        "http://paper.people.com.cn/rmrb/images/2023-03/08/03/rmrb2023030803p21_b.jpg",
        "http://paper.people.com.cn/rmrb/images/2023-02/28/03/rmrb2023022803p22_b.jpg",
    ]
    first = result.items[0]
    assert first.title == "秦刚就中国外交政策和对外关系回答中外记者提问"
    assert first.page_url == "http://world.people.com.cn/n1/2023/0307/c1002-32638001.html"
    assert result.has_more  # the "下一页" link


def test_a_page_without_the_result_list_is_a_parse_error_never_zero(
    shipped: dict[str, Source],
) -> None:
    # What a changed layout looks like to the example: another page's markup.
    with pytest.raises(ParseError, match="no element matches item"):
        parse(shipped["peoples_daily"], "秦刚", "fmprc-wjbzhd-constructed.html", "text/html")


def test_fmprc_list_counts_the_entries_that_name_the_person(shipped: dict[str, Source]) -> None:
    source = shipped["fmprc"]
    assert str(source.build_request("秦刚", 0).url) == "https://www.fmprc.gov.cn/wjbzhd/"
    result = parse(source, "秦刚", "fmprc-wjbzhd-constructed.html", "text/html")
    assert distinct(result.items) == [
        "https://www.fmprc.gov.cn/wjbzhd/202306/t20230625_11111103.shtml",
        "https://www.fmprc.gov.cn/wjbzhd/202306/t20230619_11111104.shtml",
        "https://www.fmprc.gov.cn/wjbzhd/202306/t20230614_11111105.shtml",
    ]
    assert result.items[0].title == "秦刚会见斯里兰卡外长萨布里"
    # A name no entry carries any more: the page is recognised, the count is zero.
    gone = parse(source, "李肇星", "fmprc-wjbzhd-constructed.html", "text/html")
    assert gone.no_results and gone.items == ()


def test_guardian_feed_counts_its_pictures(shipped: dict[str, Source]) -> None:
    source = shipped["guardian"]
    result = parse(source, "Qin Gang", "guardian-china-rss-constructed.xml", "application/rss+xml")
    # One picture in two sizes (width=140 and width=460) is one image: the widest.
    assert distinct(result.items) == [
        "https://i.guim.co.uk/img/media/0a1b2c3d4e5f60718293a4b5c6d7e8f901234567/0_0_4000_2400/"
        "master/4000.jpg?width=460&quality=85&auto=format&fit=max&s=00000000000000000000000000000002"
    ]
    assert result.items[0].page_url == (
        "https://www.theguardian.com/world/2023/jul/25/china-removes-qin-gang-as-foreign-minister"
    )
