"""HTTP sessions for the REST adapters: retries with backoff on the methods each API makes safe to
repeat, and a few words for what went wrong below HTTP."""

from __future__ import annotations

from collections.abc import Collection

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Retry

Timeout = float | tuple[float, float]


def make_session(
    user_agent: str,
    methods: Collection[str],
    statuses: Collection[int],
    retries: int = 3,
    backoff: float = 0.5,
) -> requests.Session:
    """Retries of `methods` on connection errors and `statuses`, with exponential backoff and Retry-After."""
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=frozenset(statuses),
        allowed_methods=frozenset(methods),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def network_problem(exc: requests.RequestException, timeout: Timeout) -> str:
    """What went wrong below HTTP, in a few words: 'no answer within 30 s', 'could not connect (...)'."""
    inner = exc.args[0] if exc.args else None
    reason: BaseException = inner.reason if isinstance(inner, MaxRetryError) and inner.reason else exc
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if isinstance(reason, NewConnectionError):
        cause = reason.__cause__
        return f"could not connect ({cause.strerror if isinstance(cause, OSError) and cause.strerror else 'no connection'})"
    if isinstance(reason, ConnectTimeoutError | requests.ConnectTimeout):
        return f"could not connect within {connect} s"
    if isinstance(reason, Urllib3Timeout | requests.Timeout):
        return f"no answer within {read} s"
    lines = str(reason).strip().splitlines()
    return (lines[0] if lines else type(reason).__name__)[:200]
