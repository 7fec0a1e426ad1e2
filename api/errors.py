"""Domain exceptions. Each carries seed A's error code and its fixed HTTP status.

Services raise these; :mod:`api.http` is the one place that turns them into the envelope
``{"error": {"code", "message", "details"}, "timestamp", "request_id"}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class InvalidRequest(ApiError):
    status, code, default_message = 400, "INVALID_REQUEST", "The request is invalid"


class Unauthorized(ApiError):
    status, code, default_message = 401, "UNAUTHORIZED", "Invalid or missing authentication"


class Forbidden(ApiError):
    status, code, default_message = 403, "FORBIDDEN", "Insufficient permissions"


class NotFound(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "Resource not found"


class MethodNotAllowed(ApiError):
    status, code, default_message = 405, "METHOD_NOT_ALLOWED", "Method not allowed on this path"


class Conflict(ApiError):
    status, code, default_message = 409, "CONFLICT", "The request conflicts with current state"


class ProfileLimitReached(ApiError):
    status, code, default_message = (
        409,
        "PROFILE_LIMIT_REACHED",
        "An account has at most 5 profiles",
    )


class NotAvailableInRegion(ApiError):
    status, code, default_message = 403, "NOT_AVAILABLE_IN_REGION", "Not available in your country"


class MaturityRestricted(ApiError):
    status, code, default_message = (
        403,
        "MATURITY_RESTRICTED",
        "Above this profile's maturity rating",
    )


class StreamLimitReached(ApiError):
    status, code, default_message = 409, "STREAM_LIMIT_REACHED", "Too many streams on this account"


class SessionNotFound(ApiError):
    status, code, default_message = (
        404,
        "SESSION_NOT_FOUND",
        "No active playback session with this id",
    )


class DownloadNotFound(ApiError):
    status, code, default_message = 404, "DOWNLOAD_NOT_FOUND", "No download with this id"


class DownloadLimitReached(ApiError):
    status, code, default_message = (
        409,
        "DOWNLOAD_LIMIT_REACHED",
        "Your plan's devices with downloads are all in use",
    )


class DeviceDownloadLimitReached(ApiError):
    status, code, default_message = (
        409,
        "DEVICE_DOWNLOAD_LIMIT_REACHED",
        "This device holds as many downloads as it may",
    )


class RenewalLimitReached(ApiError):
    status, code, default_message = (
        409,
        "RENEWAL_LIMIT_REACHED",
        "This download was renewed as often as it may be",
    )


class DownloadRevoked(ApiError):
    status, code, default_message = 403, "DOWNLOAD_REVOKED", "This download was revoked"


class DownloadExpired(ApiError):
    status, code, default_message = 403, "DOWNLOAD_EXPIRED", "This download has expired"


class ContentWithdrawn(ApiError):
    status, code, default_message = 403, "CONTENT_WITHDRAWN", "This title left the catalog"


class PayloadTooLarge(ApiError):
    status, code, default_message = 413, "PAYLOAD_TOO_LARGE", "The request body is too large"


class RateLimited(ApiError):
    status, code, default_message = 429, "RATE_LIMITED", "Too many requests"


class InternalError(ApiError):
    pass


class ServiceUnavailable(ApiError):
    status, code, default_message = (
        503,
        "SERVICE_UNAVAILABLE",
        "Service temporarily unavailable",
    )


class NotReady(Exception):
    """A readiness check's answer while a component warms up; its message is safe to show."""
