"""The fetcher's ``httpx.AsyncClient``: httpx's own, with a cookie jar that costs nothing when
there are no cookies to handle.

Every response is handed to the client's jar, and every pre-built request has the jar's
cookies added (``Fetcher._prepare``); httpx does both through urllib stand-ins built per
call (~30 and ~20 us), which most requests (engines that set no cookie) do not need. The
jar is the same ``http.cookiejar.CookieJar`` either way: warm-ups, ``forget`` and the tests
read and clear it as before.
"""

from __future__ import annotations

from typing import Any

import httpx


class LeanCookies(httpx.Cookies):
    """httpx's cookies, skipping the jar when a response sets none: handing a response
    to the jar builds urllib request and response stand-ins (~30 us) even when it has no
    ``Set-Cookie`` header, which is most answers."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)

    def set_cookie_header(self, request: httpx.Request) -> None:
        if next(iter(self.jar), None) is not None:  # an empty jar has nothing to add
            super().set_cookie_header(request)


class Client(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose jar is kept in ``LeanCookies`` (the jar is shared)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpx wraps whatever it is given in a plain ``Cookies``; its own attribute is
        # the only place a subclass can go. The jar object itself stays the same.
        self._cookies = LeanCookies(self._cookies.jar)
