"""One exception tree for news-monitor.

    MonitorError
     ├── ConfigError      feeds.yaml / rules.yaml problems (subject: file:line:col: path)
     ├── FetchError       a feed or article could not be fetched (subject: URL)
     ├── ParseError       a feed document could not be parsed (subject: feed URL)
     ├── ExtractError     an article page could not be read (subject: URL)
     ├── QueryError       a rule query is malformed (subject: column in the query)
     ├── DeliveryError    a channel refused or failed a send (subject: channel)
     ├── StorageError     the state database failed (subject: database path)
     └── WorkerError      a CPU task failed in a worker process, or ran past its deadline

``str()`` reads ``subject: message: CauseType: cause`` so one log line tells the operator
where, what and why. Exceptions from libraries are caught in the module that calls the
library and re-raised as one of these with ``raise ... from e``.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""

    def __init__(self, message: str, subject: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.subject = subject
        self.hint = hint

    def __str__(self) -> str:
        parts = []
        if self.subject:
            parts.append(self.subject)
        parts.append(self.message)
        cause = self.__cause__
        if cause is not None:
            parts.append(f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__)
        text = ": ".join(parts)
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class ConfigError(MonitorError):
    """One or more problems in the configuration files.

    ``problems`` holds every problem found, each already formatted as
    ``file:line:col: path: message``; ``str()`` lists them all, one per line.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems) if self.problems else "invalid configuration")

    def __str__(self) -> str:
        return "\n".join(self.problems)


class FetchError(MonitorError):
    """An HTTP fetch failed; ``status`` is the HTTP status when there was a response, and
    ``retry_after`` the seconds a 429 or 503 asked us to wait (its Retry-After), if it said."""

    def __init__(
        self,
        message: str,
        subject: str | None = None,
        hint: str | None = None,
        status: int | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, subject, hint)
        self.status = status
        self.retry_after = retry_after


class BlockedAddressError(FetchError):
    """A URL resolves to an address the operator has not allowed (loopback, private, metadata)."""


class ParseError(MonitorError):
    """A feed document could not be parsed at all."""


class ExtractError(MonitorError):
    """An article page could not be decoded or read."""


class QueryError(MonitorError):
    """A rule query does not parse or refers to something unknown.

    ``column`` is 1-based within the query string (None when the whole query is at fault).
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column

    def __str__(self) -> str:
        return f"{self.message} at column {self.column}" if self.column else self.message


class DeliveryError(MonitorError):
    """A send failed.

    ``permanent`` means retrying cannot help (SMTP 5xx, webhook 4xx other than 408/429);
    ``retry_after`` is the delay in seconds a receiver asked for (429/503 Retry-After).
    """

    def __init__(
        self,
        message: str,
        subject: str | None = None,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, subject, hint)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status


class StorageError(MonitorError):
    """The state database failed; the daemon stops rather than lose track of state."""


class WorkerError(MonitorError):
    """A task in a worker process raised, ran past its deadline (``timed_out``: its worker
    was killed) or lost its worker; the message names the task and the cause."""

    def __init__(self, message: str, subject: str | None = None, *, timed_out: bool = False):
        super().__init__(message, subject)
        self.timed_out = timed_out
