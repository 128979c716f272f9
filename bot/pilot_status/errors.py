"""One exception per way a Pilot Status call can fail, so callers branch on types, not on codes."""

from __future__ import annotations


class PilotStatusError(Exception):
    """Base class. `code` is Pilot Status's machine code when it sent one."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        # How many times the call was made before giving up (set by the client's retry loop).
        self.attempts = 1

    @property
    def label(self) -> str:
        """Short, log-safe description: `HTTP 503`, `400 VALIDATION_ERROR`, `network error`."""
        if self.status is None:
            return self.code or type(self).__name__
        return f"HTTP {self.status}" + (f" {self.code}" if self.code else "")


class AuthenticationError(PilotStatusError):
    """401: the API key is missing, wrong or revoked."""


class TenantScopeError(PilotStatusError):
    """403 TENANT_SCOPE_NOT_ALLOWED: an account (tenant) key was used where a number key is needed."""


class ForbiddenError(PilotStatusError):
    """403 with any other code."""


class RequestLimitError(PilotStatusError):
    """META_CALL_PERMISSION_REQUEST_LIMIT (Meta 138009): 1 per 24 h / 2 per 7 days used up."""


class OutsideWindowError(PilotStatusError):
    """The customer has not messaged the business in the last 24 h (customer-service window closed)."""


class FeatureNotSupportedError(PilotStatusError):
    """400 FEATURE_NOT_SUPPORTED: the number's provider cannot use calling."""


class CallPermissionRequiredError(PilotStatusError):
    """META_CALL_PERMISSION_REQUIRED (Meta 138006): the customer's permission to be called is gone."""


class BadRequestError(PilotStatusError):
    """Any other 4xx: Pilot Status refused the request as it was."""


class RateLimitError(PilotStatusError):
    """429: too many requests; `retry_after` seconds when the server said."""

    retryable = True


class ServerError(PilotStatusError):
    """5xx: Pilot Status failed. Safe to retry only for a request that changes nothing (a GET): nothing says a
    5xx comes before Pilot Status acted (a gateway's 502/504, or UPSTREAM_TIMEOUT, can come after Meta sent the
    message), so a POST answered 5xx is unconfirmed (`UnconfirmedError`), never resent."""

    retryable = True


class NetworkError(PilotStatusError):
    """The request never reached Pilot Status (connection refused, DNS, reset before sending)."""

    retryable = True


class UnconfirmedError(PilotStatusError):
    """The request was sent and its outcome is unknown: no answer came back (read timeout, connection dropped
    mid-way), or a 5xx to a request that is not safe to repeat (`status` then says which).

    Pilot Status may have accepted it, so it must not be retried: that could spend the customer's
    request quota twice, or ring them twice.
    """


class UnexpectedResponseError(PilotStatusError):
    """2xx with a body that is not what the API documents."""


# FLOW_WINDOW_CLOSED: the official SDK's code for the closed 24-hour window.
OUTSIDE_WINDOW_CODES = frozenset({"FLOW_WINDOW_CLOSED", "META_OUTSIDE_24H_WINDOW", "META_NO_CONVERSATION", "131047"})


def error_from_response(status: int, body: object, retry_after: float | None) -> PilotStatusError:
    """Map an HTTP error answer to the matching exception type."""
    code = None
    message = f"HTTP {status}"
    if isinstance(body, dict):
        code = str(body["code"]) if body.get("code") is not None else None
        message = str(body.get("error") or message)
        if retry_after is None and isinstance(body.get("retryAfterSeconds"), int | float):
            retry_after = float(body["retryAfterSeconds"])
    kwargs = {"status": status, "code": code, "retry_after": retry_after}
    if code == "META_CALL_PERMISSION_REQUEST_LIMIT":
        return RequestLimitError(message, **kwargs)
    if code == "META_CALL_PERMISSION_REQUIRED":
        return CallPermissionRequiredError(message, **kwargs)
    if code in OUTSIDE_WINDOW_CODES or (code and "24H_WINDOW" in code):
        return OutsideWindowError(message, **kwargs)
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        if code == "TENANT_SCOPE_NOT_ALLOWED":
            return TenantScopeError(message, **kwargs)
        return ForbiddenError(message, **kwargs)
    if status == 429:
        return RateLimitError(message, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    if code == "FEATURE_NOT_SUPPORTED":
        return FeatureNotSupportedError(message, **kwargs)
    return BadRequestError(message, **kwargs)
