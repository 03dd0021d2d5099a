"""Exceptions raised by the monitor, and what each one means.

::

    MonitorError                    base of everything raised on purpose
    ├── ConfigError                 config.yaml is wrong; CLI exit code 2
    │   └── ConfigErrors            several problems at once, one per line
    ├── UsageError                  the command line names what is not there (an unknown or
    │                               ambiguous person or source); CLI exit code 2
    ├── DatabaseError               the database cannot be opened or is not ours
    ├── SourceError                 a source could not turn a response into an observation
    │   ├── ParseError              the page is not the page the parser expects -> parse_error
    │   ├── Blocked                 captcha, verification page, anti-spider answer -> blocked
    │   │   └── SessionExpired      the engine wants a fresh session (cookies): the check
    │   │                           warms up again once, then it is blocked
    │   └── Misconfigured           the engine refuses our credentials or API access for good
    │                               (key rejected, project without access) -> config_error
    └── ChannelError                an alert channel failed to deliver (``permanent`` says
                                    whether retrying can help)

A ``SourceError`` never becomes "0 images": the pipeline stores it as a failed check with
its reason. Zero is only recorded when a parser positively recognises "no results".
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every exception the monitor raises deliberately."""


class ConfigError(MonitorError):
    """The configuration is invalid.

    ``str()`` is one line a user can act on: ``file:line: key.path: what is wrong``.
    """

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, key: str = ""
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class ConfigErrors(ConfigError):
    """Several configuration problems; ``str()`` has one line per problem."""

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.message, file=first.file, line=first.line, key=first.key)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class UsageError(MonitorError):
    """The command line names what the config does not have: an unknown or ambiguous
    person or source. ``str()`` is one line, listing what could be meant."""


class DatabaseError(MonitorError):
    """The database cannot be opened, migrated or read."""


class SourceError(MonitorError):
    """Base of parse failures; carries a short human reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ParseError(SourceError):
    """The response is not what the parser expects (layout changed, truncated, not JSON)."""


class Blocked(SourceError):
    """The engine refused us: captcha, verification page, anti-spider flag (even with HTTP 200)."""


class Misconfigured(SourceError):
    """The engine refuses the source's configuration: a rejected key, an API the project has
    no access to. Retrying cannot help; someone has to change the config or the account."""


class ChannelError(MonitorError):
    """A channel failed to deliver an alert.

    ``permanent=True`` means the message itself is refused (a webhook's 400/410/413/422);
    the dispatcher then records the delivery as failed instead of retrying.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.message = message
        self.permanent = permanent
        super().__init__(message)


class SessionExpired(Blocked):
    """The engine refused our session (missing or stale cookies, e.g. Baidu's ``antiFlag``).

    A fresh warm-up may help: the check renews the session once and asks again; refused
    again, the check is ``blocked`` with this reason.
    """


def hostile_input(exc: Exception) -> str | None:
    """A short reason when ``exc`` is what a hostile or broken input does to a parser.

    These are input problems, not parser bugs: deep nesting, integers beyond Python's
    4,300-digit conversion limit, URLs that do not split (an unbalanced IPv6 bracket), NUL
    bytes. ``None`` for anything else.
    """
    text = str(exc)
    if isinstance(exc, RecursionError):
        return "input nested too deeply (JSON or markup)"
    if isinstance(exc, ValueError):
        if "integer string conversion" in text:
            return "number too long (over 4300 digits)"
        if "IPv6" in text or "Port" in text or "port" in text:
            return "unparseable URL in the answer"
    if "NUL" in text or "null byte" in text.lower() or "Char 0x0 " in text:
        return "NUL byte in the answer"
    return None
