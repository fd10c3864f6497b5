"""The OpenAI-compatible client and netlab's one retry policy, shared by sync and async calls.

Every failure becomes a one-line ExplainError within NETLAB_AI_TIMEOUT plus a second: the SDK's
own retries are off and netlab retries rate limits and server errors inside one deadline.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from ..config import Settings
from ..errors import ExplainError


def _client_options(settings: Settings) -> dict[str, Any]:
    return {
        "api_key": settings.openai_api_key.get_secret_value() or "not-set",
        "base_url": settings.openai_base_url or None,
        "timeout": settings.ai_timeout,
        "max_retries": 0,  # netlab retries itself, inside one deadline
    }


def make_client(settings: Settings) -> Any:
    """An openai.OpenAI client for the configured endpoint."""
    import openai

    return openai.OpenAI(**_client_options(settings))


def make_async_client(settings: Settings) -> Any:
    """An openai.AsyncOpenAI client for the configured endpoint."""
    import openai

    return openai.AsyncOpenAI(**_client_options(settings))


def _endpoint(client: Any) -> str:
    from ..config import safe_url

    # Messages and notes reach logs, the dashboard and /ai/explain answers: no credentials.
    return safe_url(str(getattr(client, "base_url", "the AI endpoint"))).rstrip("/")


def _retry_after(exc: Any) -> float | None:
    """The server's Retry-After in seconds (RFC 9110: seconds or an HTTP date), or None when
    it is missing or makes no sense (negative, NaN, infinite, unparseable)."""
    try:
        value = exc.response.headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(str(value))
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _classify(exc: Exception, client: Any, settings: Settings) -> tuple[ExplainError, bool]:
    """The user's one-line error for an SDK exception, and whether a retry may help."""
    import openai

    where = _endpoint(client)
    if isinstance(exc, openai.AuthenticationError):
        return ExplainError(f"{where} refused the API key (HTTP 401): check OPENAI_API_KEY"), False
    if isinstance(exc, openai.RateLimitError):
        return ExplainError(
            f"{where} is rate limiting (HTTP 429) after "
            f"{settings.ai_max_retries} retries: wait a minute or raise your "
            "plan's limits"
        ), True
    if isinstance(exc, openai.APITimeoutError):
        return _timed_out(client, settings), False
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ExplainError(
            f"cannot reach {where}: {type(cause).__name__}: {cause} (check "
            "OPENAI_BASE_URL and that the server runs)"
        ), False
    if isinstance(exc, openai.APIStatusError):
        retry = exc.status_code >= 500
        return ExplainError(
            f"{where} answered HTTP {exc.status_code}"
            + (" (a server error: try again later)" if retry else f": {str(exc.message)[:200]}")
        ), retry
    return ExplainError(
        f"{where} sent an answer netlab could not read ({type(exc).__name__}): "
        "is it an OpenAI-compatible chat endpoint?"
    ), False


def _answer_text(response: Any, client: Any) -> str:
    try:
        text = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        text = None
    if not isinstance(text, str) or not text.strip():
        raise ExplainError(f"{_endpoint(client)} sent an empty or malformed answer")
    return text.strip()


def _timed_out(client: Any, settings: Settings) -> ExplainError:
    return ExplainError(
        f"{_endpoint(client)} did not answer within {settings.ai_timeout:g} s (NETLAB_AI_TIMEOUT)"
    )


class Retry:
    """The one retry policy of both calls: attempts inside one deadline (NETLAB_AI_TIMEOUT),
    rate limits and server errors retried with backoff (or the server's Retry-After), at most
    NETLAB_AI_MAX_RETRIES times; anything else, or no time left, is the user's one-line error."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self.deadline = time.monotonic() + settings.ai_timeout
        self.attempt = 0

    def remaining(self) -> float:
        """Seconds left for the next attempt; raises the timeout error when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(self.client, self.settings)
        return left

    def wait_after(self, exc: Exception) -> float:
        """Seconds to wait before the next attempt, or raise the user's one-line error."""
        self.attempt += 1
        error, retryable = _classify(exc, self.client, self.settings)
        wait = _retry_after(exc) or 0.25 * 2**self.attempt
        too_late = wait >= self.deadline - time.monotonic()
        if not retryable or self.attempt > self.settings.ai_max_retries or too_late:
            raise error from None
        return wait


def _chat(
    client: Any, messages: list[dict[str, str]], settings: Settings, *, own: bool = False
) -> str:
    """The sync call, bounded by one deadline (NETLAB_AI_TIMEOUT) whatever the server does.

    httpx's timeouts bound each read, not the whole answer: a body dripping a byte a second
    never times out. So the call runs in a worker thread and is given up at the deadline; a
    client netlab made (`own`) is then closed, which ends the worker's read at once."""
    import threading

    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(_chat_in_thread(client, messages, settings))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=work, name="netlab-explain-call", daemon=True)
    worker.start()
    worker.join(settings.ai_timeout + 0.5)
    if worker.is_alive():
        if own:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the answer is given up
                pass
            worker.join(2)
        raise _timed_out(client, settings)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return str(outcome[0])


def _chat_in_thread(client: Any, messages: list[dict[str, str]], settings: Settings) -> str:
    retry = Retry(client, settings)
    while True:
        remaining = retry.remaining()
        try:
            request = client.with_options(timeout=remaining, max_retries=0).chat.completions
            return _answer_text(request.create(model=settings.ai_model, messages=messages), client)
        except ExplainError:
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one clear line
            time.sleep(retry.wait_after(exc))


async def _chat_async(client: Any, messages: list[dict[str, str]], settings: Settings) -> str:
    retry = Retry(client, settings)
    while True:
        remaining = retry.remaining()
        try:
            request = client.with_options(timeout=remaining, max_retries=0).chat.completions
            call = request.create(model=settings.ai_model, messages=messages)
            response = await asyncio.wait_for(call, timeout=remaining + 0.5)
            return _answer_text(response, client)
        except ExplainError:
            raise
        except TimeoutError:
            raise _timed_out(client, settings) from None
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes one clear line
            await asyncio.sleep(retry.wait_after(exc))
