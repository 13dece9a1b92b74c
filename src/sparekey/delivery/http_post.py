"""One signed or authenticated POST to an SMS/voice provider, with the standard library.

Both HTTP senders (Twilio, the webhook) judge an answer the same way: 2xx is delivered;
4xx other than 429 means this message will never be accepted (a bad number, bad
credentials, a refused signature), so it is not retried; 429, 5xx, 3xx and every network
failure are retried later. Redirects are not followed: the credentials and the code in the
request must never go to a host the operator did not name. A failure's reason carries the
status and the provider's name, never the request (it holds the code) or a credential.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from sparekey import __version__
from sparekey.core.delivery import DeliveryFailed

TIMEOUT_SECONDS = 10
MAX_ANSWER_BYTES = 64 * 1024  # read of an answer, for a provider's error code


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx answer becomes an HTTPError, retried like a 5xx


_OPENER = urllib.request.build_opener(_NoRedirects)


def is_permanent(status: int) -> bool:
    """An answer that a retry cannot change: a client error other than "too many requests"."""
    return 400 <= status < 500 and status != 429


def _answer(error: urllib.error.HTTPError) -> bytes:
    try:
        with error:
            return error.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException, AttributeError):
        return b""


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    provider: str,
    explain: Callable[[bytes], str | None] | None = None,
) -> None:
    """POST ``body`` to ``url``; return on a 2xx answer, else raise ``DeliveryFailed``.

    ``explain`` turns an error answer's body into a short, safe detail (a provider's error
    number), added to the reason."""
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked by the settings
        url, data=body, method="POST", headers={"User-Agent": f"sparekey/{__version__}", **headers}
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            answer.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        detail = explain(_answer(error)) if explain else None
        reason = f"{provider} answered {error.code}" + (f" ({detail})" if detail else "")
        raise DeliveryFailed(reason, permanent=is_permanent(error.code)) from None
    except urllib.error.URLError as error:
        cause = error.reason if isinstance(error.reason, BaseException) else error
        raise DeliveryFailed(f"could not reach {provider} ({type(cause).__name__})") from None
    except TimeoutError:
        raise DeliveryFailed(f"{provider} did not answer within {TIMEOUT_SECONDS} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryFailed(f"the connection to {provider} failed ({type(error).__name__})") from None
