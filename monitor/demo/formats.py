"""Engine answers in their real formats, generated from real responses used as templates.

Each renderer loads a real answer from ``fixtures/`` (see ``fixtures/PROVENANCE.md``), keeps
its envelope and the shape of its first result, and fills in one result per ``Hit``: the
Baidu ``acjson`` object (``objURL``/``fromURL`` obfuscated as Baidu does), the Baidu
``flip`` page with its ``flip.setData('imgData', ...)`` call, Bing's ``/images/async``
fragment of ``a.iusc`` anchors with their ``m`` JSON, and the Commons API's
``generator=search`` answer. Blocks and empty answers are the real files as they are. The
"layout changed" answers are the normal ones with the markup the parsers key on renamed,
which is what a redesign does to a scraper.
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from monitor.demo.results import Hit

_IMGDATA = re.compile(r"""flip\.setData\(\s*['"]imgData['"]\s*,\s*""")
# Baidu's objURL obfuscation (the inverse of monitor.sources.baidu.decode_objurl).
_PLAIN = "7dgjmoru140852vsnkheb963wtqplifca"
_CODED = "0123456789abcdefghijklmnopqrstuvw"
_ENCODE = str.maketrans(_PLAIN, _CODED)
_TOKENS = ((":", "_z2C$q"), (".", "_z&e3B"), ("/", "AzdH3F"))


@cache
def fixture(name: str) -> str:
    """A template file shipped with the package (``fixtures/<engine>/<file>``)."""
    return (resources.files("monitor.demo") / "fixtures" / name).read_text(encoding="utf-8")


def encode_objurl(url: str) -> str:
    """Obfuscate ``url`` the way Baidu writes ``objURL`` and ``fromURL`` in acjson."""
    coded = url.translate(_ENCODE)
    for plain, token in _TOKENS:
        coded = coded.replace(plain, token)
    return coded


def _title(term: str, hit: Hit) -> str:
    return f"{term} {hit.caption}"


# --- Baidu ------------------------------------------------------------------------------------


def _baidu_items(
    term: str, hits: Sequence[Hit], template: dict[str, Any], *, coded: bool
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for n, hit in enumerate(hits):
        cs = f"{hit.seed % 4294967296},{hit.seed // 4294967296 % 4294967296}"
        host = f"img{1 + hit.seed % 3}.baidu.com"
        thumb = f"https://{host}/it/u={cs}&fm=253&fmt=auto&app=138&f=JPEG?w=500&h=667"
        item = copy.deepcopy(template)
        item |= {
            "thumbURL": thumb,
            "middleURL": thumb,
            "hoverURL": thumb,
            "pageNum": n,
            "objURL": encode_objurl(hit.image_url) if coded else hit.image_url,
            "fromURL": encode_objurl(hit.page_url),
            "fromURLHost": hit.page_url.split("/")[2],
            "width": 500 + hit.seed % 700,
            "height": 400 + hit.seed % 500,
            "type": "jpg",
            "di": str(hit.seed % 10**7),
            "cs": cs,
            "fromPageTitle": f"<strong>{term}</strong> {hit.caption}",
        }
        if "fromPageTitleEnc" in item:
            item["fromPageTitleEnc"] = _title(term, hit)
        if "replaceUrl" in item:
            mirror = f"http://img{hit.seed % 3}.imgtn.bdimg.com/it/u={cs}&fm=214&gp=0.jpg"
            item["replaceUrl"] = [
                {
                    "ObjURL": mirror,
                    "ObjUrl": mirror,
                    "FromURL": hit.page_url,
                    "FromUrl": hit.page_url,
                }
            ]
        items.append(item)
    return [*items, {}]  # Baidu ends data[] with an empty object


def _baidu_envelope(template: dict[str, Any], term: str, total: int) -> dict[str, Any]:
    data = copy.deepcopy(template)
    data |= {
        "queryEnc": quote(term.encode("gb18030")),
        "listNum": min(total, 1900),
        "displayNum": total,
        "bdFmtDispNum": f"约{total:,}",
    }
    if "queryExt" in data:
        data["queryExt"] = term
    return data


def baidu_acjson(term: str, hits: Sequence[Hit], total: int) -> str:
    """The ``/search/acjson`` answer listing ``hits`` (``displayNum`` = ``total``)."""
    real = json.loads(fixture("baidu_images/acjson-results.json"))
    data = _baidu_envelope(real, term, total)
    data["data"] = _baidu_items(term, hits, real["data"][0], coded=True)
    return json.dumps(data, ensure_ascii=False)


def _flip_parts() -> tuple[str, dict[str, Any], str]:
    """The real flip page split around its imgData object: (before, object, after).

    The object keeps the page's envelope and only its first item (the template of every
    simulated one): the page's later items hold escapes that Python's JSON refuses, and the
    demo needs only one. The call's data list ends with an empty item (``,{}]})``), which is
    where ``after`` begins.
    """
    page = fixture("baidu_images/flip-results.html")
    m = _IMGDATA.search(page)
    assert m is not None, "the flip page has an imgData call"
    rest = page[m.end() :]
    close = rest.index("{}]}") + len("{}]}")
    head, _, items = rest[:close].partition('"data":[')
    decoder = json.JSONDecoder(strict=False)
    envelope: dict[str, Any] = decoder.decode(head + '"data":[]}')
    first, _ = decoder.raw_decode(items)
    envelope["data"] = [first]
    return page[: m.end()], envelope, rest[close:]


def baidu_flip(term: str, hits: Sequence[Hit], total: int) -> str:
    """The ``/search/flip`` HTML page with ``hits`` in ``flip.setData('imgData', ...)``."""
    before, real, after = _flip_parts()
    data = _baidu_envelope(real, term, total)
    data["queryEnc"] = term
    data["data"] = _baidu_items(term, hits, real["data"][0], coded=False)
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")  # safe inside <script>
    return before + text + after


def baidu_no_results(term: str, *, page: bool) -> str:
    """Baidu's empty answer (``displayNum`` 0, ``data: [{}]``), as JSON or inside the page."""
    data = json.loads(fixture("baidu_images/acjson-no-results-constructed.json"))
    data |= {"queryEnc": quote(term.encode("gb18030")), "queryExt": term}
    if not page:
        return json.dumps(data, ensure_ascii=False)
    before, _, after = _flip_parts()
    return before + json.dumps(data, ensure_ascii=False) + after


def baidu_captcha_page() -> str:
    """The real 百度安全验证 page."""
    return fixture("baidu_images/anquanyanzheng-captcha.html")


def baidu_redesigned(term: str, hits: Sequence[Hit], total: int, *, page: bool) -> str:
    """A redesign: the page hydrates an app instead of calling flip.setData; the JSON moves
    its list under ``data.list``. Neither is what the parser knows."""
    body = json.loads(baidu_acjson(term, hits, total))
    body["data"] = {"list": body["data"][:-1], "hasMore": True}
    if not page:
        return json.dumps(body, ensure_ascii=False)
    before, _, after = _flip_parts()
    call = _IMGDATA.search(before)
    assert call is not None
    state = json.dumps(body, ensure_ascii=False).replace("</", "<\\/")
    # Same page around it, but the data now hydrates an app: no flip.setData('imgData').
    return f"{before[: call.start()]}window.__INITIAL_STATE__ = {state};{after.partition(';')[2]}"


# --- Bing ---------------------------------------------------------------------------------------

_LI = re.compile(r"(?s)(.*?)(<li data-idx=1.*?</li>)(.*)")
_M_ATTR = re.compile(r'm="[^"]*"')


def bing_async(term: str, hits: Sequence[Hit], *, more: bool = True) -> str:
    """Bing's ``/images/async`` fragment: one ``<li>`` with an ``a.iusc`` per hit."""
    real = fixture("bing_images/async-results.html")
    m = _LI.match(real)
    assert m is not None, "the Bing template has a result <li>"
    head, li, tail = m.groups()
    q_old, q_new = "%e6%8a%98%e7%ba%bf%e5%9b%be", quote(term).lower()
    items = []
    for n, hit in enumerate(hits):
        oip = f"OIP.{format(hit.seed, 'x')[:22]}"
        meta = {
            "cid": format(hit.seed, "x")[:8],
            "purl": hit.page_url,
            "murl": hit.image_url,
            "turl": f"https://tse{1 + hit.seed % 4}-mm.cn.bing.net/th?id={oip}&pid=15.1",
            "md5": format(hit.seed, "032x")[-32:],
            "shkey": "",
            "t": f"\ue000{term}\ue001 {hit.caption}",
            "mid": format(hit.seed, "040X")[-40:],
            "desc": "",
        }
        one = _M_ATTR.sub(
            lambda _m, meta=meta: f'm="{html.escape(json.dumps(meta, ensure_ascii=False))}"', li
        )
        one = (
            one.replace("data-idx=1", f"data-idx={n + 1}")
            .replace("OIP.qTwEnan4GiMdiu0jeB7ZLgHaGZ", oip)
            .replace("https://wenwen.sogou.com/z/q825286701.htm", html.escape(hit.page_url))
            .replace("wenwen.sogou.com", hit.domain)
            .replace("折线图 的图像结果", f"{html.escape(term)} 的图像结果")
            .replace(q_old, q_new)
        )
        items.append(one)
    if not more:
        head = re.sub(r'data-nextUrl="[^"]*"', 'data-nextUrl=""', head)
    return head.replace(q_old, q_new) + "\n".join(items) + tail


def bing_no_results(term: str) -> str:
    """Bing's "There are no results for" answer for ``term``."""
    return fixture("bing_images/no-results-constructed.html").replace(
        "xqzvjkwpt", html.escape(term)
    )


def bing_redesigned(term: str, hits: Sequence[Hit]) -> str:
    """A redesign: anchors renamed and their metadata moved to ``data-m``."""
    return (
        bing_async(term, hits).replace('class="iusc"', 'class="iusc2"').replace(' m="', ' data-m="')
    )


# --- Wikimedia Commons ---------------------------------------------------------------------------


def commons_search(term: str, hits: Sequence[Hit], *, offset: int = 0, limit: int = 50) -> str:
    """The API's ``generator=search`` answer (formatversion 1) for ``hits``."""
    real = json.loads(fixture("wikimedia_commons/commons-generator-search-ns6-cat-totalhits.json"))
    template = next(iter(real["query"]["pages"].values()))
    shown = hits[offset : offset + limit]
    pages: dict[str, Any] = {}
    for n, hit in enumerate(shown):
        name = hit.image_url.rsplit("/", 1)[1]
        pageid = 10_000_000 + hit.seed % 90_000_000
        page = copy.deepcopy(template)
        thumb = hit.image_url.replace("/commons/", "/commons/thumb/", 1) + f"/320px-{name}"
        page |= {
            "pageid": pageid,
            "title": f"File:{name.replace('_', ' ')}",
            "snippet": f'<span class="searchmatch">{html.escape(term)}</span> {hit.caption}',
            "index": offset + n + 1,
            "fullurl": hit.page_url,
            "canonicalurl": hit.page_url,
            "editurl": hit.page_url.replace("/wiki/", "/w/index.php?title=") + "&action=edit",
        }
        info = page["imageinfo"][0]
        info |= {
            "url": hit.image_url,
            "mime": "image/jpeg",
            "thumburl": thumb,
            "descriptionurl": hit.page_url,
            "descriptionshorturl": f"https://commons.wikimedia.org/w/index.php?curid={pageid}",
            "responsiveUrls": {"2": thumb.replace("/320px-", "/640px-")},
        }
        pages[str(pageid)] = page
    real["query"]["searchinfo"]["totalhits"] = len(hits)
    real["query"]["pages"] = pages
    if offset + limit < len(hits):
        real["continue"] = {"gsroffset": offset + limit, "continue": "gsroffset||"}
    else:
        real.pop("continue", None)
    return json.dumps(real, ensure_ascii=False, indent="\t")


def commons_no_results(term: str) -> str:
    """The API's real zero-hit answer (``totalhits`` 0, a suggestion, no pages)."""
    return fixture("wikimedia_commons/commons-search-ns6-zero-hits-with-suggestion.json")


def commons_redesigned(term: str, hits: Sequence[Hit]) -> str:
    """A changed API answer: results under ``query.results`` and no ``searchinfo``."""
    body = json.loads(commons_search(term, hits))
    query = body["query"]
    body["query"] = {"results": list(query["pages"].values())}
    return json.dumps(body, ensure_ascii=False)
