"""The security headers every answer carries (pages, API, errors made by middleware, 500s)."""

from __future__ import annotations

from collections.abc import Sequence

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# A year; without includeSubDomains, which only the operator can promise for sibling hosts.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def content_security_policy(form_targets: Sequence[str] = ()) -> str:
    """The policy, with ``form-action`` widened to exactly ``form_targets`` (sources without
    spaces or semicolons: anything else is dropped rather than let it add a directive)."""
    safe = [t for t in form_targets if t and not any(c in t for c in " ;,'\r\n\t")]
    if not safe:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", " ".join(["form-action 'self'", *safe]))


def security_headers(*, https: bool) -> dict[str, str]:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-store",
    }
    if https:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return headers
