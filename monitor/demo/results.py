"""The simulated web the demo's engines index: a fixed pool of images per subject.

A *subject* is what a query is about: a person (all of whose names find the same photos) or,
for anything else, the query term itself (the controls). ``pool(subject)`` is 40 images,
derived deterministically from the subject's name: news photos on many domains, and every
seventh one a file on Wikimedia Commons. Engines show different slices of the same pool, so
an image that vanishes from one engine is still found on the others (the alert's "still
seen on"). ``state_media(subject)`` is what a soft-censored engine keeps: three official
pictures on xinhuanet.com, people.com.cn and cctv.com.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote

POOL_SIZE = 40
COMMONS_EVERY = 7  # pool items 2, 9, 16, ... are files on Wikimedia Commons
COMMONS_HOST = "commons.wikimedia.org"

# Pages that carry news photos of Chinese officials: portals, papers, foreign media.
_NEWS_HOSTS = (
    "news.sina.com.cn",
    "www.sohu.com",
    "news.163.com",
    "new.qq.com",
    "news.ifeng.com",
    "www.thepaper.cn",
    "www.scmp.com",
    "www.reuters.com",
    "www.bbc.com",
    "www.rfa.org",
    "www.voachinese.com",
    "www.caixin.com",
    "baike.baidu.com",
    "www.zhihu.com",
    "www.dwnews.com",
    "www.nytimes.com",
    "www.chinadaily.com.cn",
    "www.guancha.cn",
    "www.ftchinese.com",
    "www.zaobao.com.sg",
)
_STATE_MEDIA = (
    ("www.xinhuanet.com", "新华网"),
    ("www.people.com.cn", "人民网"),
    ("news.cctv.com", "央视网"),
)
_CAPTIONS = ("资料图", "出席会议", "调研", "讲话", "会见", "简历", "近照", "活动现场")


@dataclass(frozen=True, slots=True)
class Hit:
    """One image as an engine lists it: the file, the page it is on, a caption."""

    image_url: str
    page_url: str
    caption: str
    domain: str
    seed: int  # deterministic per image: engines derive thumbnail ids and sizes from it

    @property
    def on_commons(self) -> bool:
        return self.domain == COMMONS_HOST


def _seed(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _slug(subject: str) -> str:
    """An ASCII file-name part: the subject itself if ASCII, else a hash of it."""
    if subject.isascii():
        return "_".join(subject.split())
    return f"p{_seed(subject) % 10**8:08d}"


@cache
def pool(subject: str) -> tuple[Hit, ...]:
    """The 40 images of ``subject`` (same for every engine and every one of its names)."""
    slug = _slug(subject)
    out: list[Hit] = []
    for i in range(POOL_SIZE):
        seed = _seed(subject, i)
        caption = _CAPTIONS[seed % len(_CAPTIONS)]
        year = 2015 + seed % 7
        if i % COMMONS_EVERY == 2:
            name = f"{slug}_{year}_{i:02d}.jpg"
            digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
            out.append(
                Hit(
                    image_url=(
                        f"https://upload.wikimedia.org/wikipedia/commons/{digest[0]}/"
                        f"{digest[:2]}/{quote(name)}"
                    ),
                    page_url=f"https://{COMMONS_HOST}/wiki/File:{quote(name)}",
                    caption=caption,
                    domain=COMMONS_HOST,
                    seed=seed,
                )
            )
            continue
        host = _NEWS_HOSTS[(i + seed % 3) % len(_NEWS_HOSTS)]
        token = format(seed, "016x")
        out.append(
            Hit(
                image_url=f"https://{host}/photo/{year}/{slug}-{token[:10]}.jpg",
                page_url=f"https://{host}/a/{year}{token[10:]}.html",
                caption=caption,
                domain=host.removeprefix("www."),
                seed=seed,
            )
        )
    return tuple(out)


@cache
def state_media(subject: str) -> tuple[Hit, ...]:
    """The few official pictures a soft-censored engine still shows for ``subject``."""
    slug = _slug(subject)
    out = []
    for n, (host, name) in enumerate(_STATE_MEDIA):
        seed = _seed(subject, "official", n)
        token = format(seed, "016x")
        out.append(
            Hit(
                image_url=f"https://{host}/photo/official/{slug}-{token[:10]}.jpg",
                page_url=f"https://{host}/politics/{token[10:]}.htm",
                caption=f"{name} 任免",
                domain=host.removeprefix("www."),
                seed=seed,
            )
        )
    return tuple(out)


def variation(term: str, tick: int, spread: int = 3) -> int:
    """How many items an engine leaves out this time (0..spread-1): counts wobble a little,
    as real result counts do, so the baseline is not a flat line."""
    return _seed(term, tick) % spread
