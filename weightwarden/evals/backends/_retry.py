"""When and how long the HTTP client waits before trying a failed request again.

Used by :mod:`weightwarden.evals.backends.openai_http`::

    policy = RetryPolicy(retries=2)
    if policy.retryable_status(503) and attempt < policy.retries:
        await asyncio.sleep(policy.delay(attempt, retry_after=parse_retry_after(header)))

Backoff is exponential with "equal jitter" (half the step fixed, half random), the usual remedy for many
clients retrying in lock step (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015). A server's
``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) wins over the computed step, as long as it
is not longer than the client is willing to wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 5xx is the server's fault and often transient; 429 says "slow down". Any other 4xx is our request's
# fault: sending it again gives the same answer.
RATE_LIMITED = 429


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # further attempts after the first
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 60.0  # a longer Retry-After ends the request with an error instead
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def retryable_status(self, status: int) -> bool:
        return status == RATE_LIMITED or 500 <= status <= 599

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        step = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return step / 2 + self.rng.uniform(0, step / 2)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header value, or None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
