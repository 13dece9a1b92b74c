"""The account's security history, newest first: filtered by type, and as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from sparekey.core.deps import Deps
from sparekey.core.errors import ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.models import Event

EXPORT_LIMIT = 10_000
# The columns every kind of event can fill; what else an event says goes to "details" (JSON).
CSV_COLUMNS = ("id", "at", "type", "result", "method", "error_code", "ip", "user_agent", "details")


def recent_events(
    deps: Deps, account_id: str, *, limit: int = 100, types: Sequence[str] | None = None
) -> list[Event]:
    """``types``: only these kinds (each must be a known one, else ``validation_error``)."""
    if types is not None:
        known = set(EventType.__members__.values())
        if not types or any(t not in known for t in types):
            raise ValidationFailed(field="type", known=sorted(known))
    with deps.store.transaction() as tx:
        return tx.events.for_account(account_id, limit=limit, types=types)


def as_csv(events: Sequence[Event]) -> str:
    """RFC 4180 text, a header row first; Unicode kept as it is (UTF-8 when sent)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        data = dict(event.data)
        row = [event.id, event.at.isoformat(), event.type]
        row += [_cell(data.pop(name, None)) for name in CSV_COLUMNS[3:-1]]
        row.append(json.dumps(data, ensure_ascii=False, sort_keys=True) if data else "")
        writer.writerow(row)
    return out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell that starts like a formula (OWASP: CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
