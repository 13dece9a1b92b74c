"""docs/api.md documents every endpoint the application serves, each with an example request,
an example answer and its errors; docs/openapi.json is the document the application serves.

Regenerate docs/openapi.json after changing a route or a body:

    .venv/bin/python -m tests.web.test_api_docs
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sparekey.web.app import create_app
from tests.conftest import test_settings

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"
OPENAPI_COPY = ROOT / "docs" / "openapi.json"
REGENERATE = ".venv/bin/python -m tests.web.test_api_docs"

# What the reference covers: the JSON API, the OpenID Connect provider, health and the
# OpenAPI document itself; the HTML pages (and their form posts) are not an API.
COVERED_PREFIXES = ("/api/", "/.well-known/", "/oauth/")
COVERED_PATHS = {"/healthz", "/readyz", "/openapi.json"}

HEADING = re.compile(r"^(#{1,6}) (.+)$", re.MULTILINE)
ENDPOINT = re.compile(r"^`(GET|POST|PUT|PATCH|DELETE) (/\S*)`$")
HTTP_BLOCK = re.compile(r"^```http\n(.*?)^```$", re.MULTILINE | re.DOTALL)
REQUEST_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD) (/\S*)$")
STATUS_LINE = re.compile(r"^HTTP/1\.1 (\d{3}) [A-Za-z -]+$")
DOCUMENTED_ERROR = re.compile(r"`(\d{3}) ([a-z][a-z0-9_]*)`")


# The application ----------------------------------------------------------------------------


def generated_openapi() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        document: dict[str, Any] = create_app(test_settings(Path(data_dir))).openapi()
    return document


def rendered(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(test_settings(tmp_path_factory.mktemp("api-docs")))


def _routes(app: FastAPI) -> Iterable[Any]:
    """Every route with its full path. FastAPI 0.137 and later keep an included router as one
    entry of ``app.routes``; ``iter_route_contexts`` walks into it."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies every route into app.routes
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def served(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for route in _routes(app):
        path = getattr(route, "path", None)
        if not path or not (path.startswith(COVERED_PREFIXES) or path in COVERED_PATHS):
            continue
        for method in (getattr(route, "methods", None) or set()) - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


def openapi_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}


# The page -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One ```http block: a request or an answer."""

    start: str  # the request line or the status line
    headers: dict[str, str]
    body: str

    @property
    def status(self) -> int | None:
        matched = STATUS_LINE.match(self.start)
        return int(matched.group(1)) if matched else None

    @property
    def json_body(self) -> bool:
        kind = self.headers.get("content-type", "application/json")
        return bool(self.body) and kind.startswith("application/json")


@dataclass(frozen=True)
class Section:
    method: str
    path: str
    text: str

    @property
    def messages(self) -> list[Message]:
        return [parse_message(block) for block in HTTP_BLOCK.findall(self.text)]

    @property
    def errors_paragraph(self) -> str:
        found = re.search(r"^Errors(?: \([^)]*\))?:(.*?)(?:\n\n|\Z)", self.text, re.MULTILINE | re.DOTALL)
        return found.group(1) if found else ""


def parse_message(block: str) -> Message:
    head, _, body = block.strip("\n").partition("\n\n")
    start, *header_lines = head.split("\n")
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        assert sep, f"not a header line: {line!r} in\n{block}"
        headers[name.strip().lower()] = value.strip()
    return Message(start=start, headers=headers, body=body.strip())


def sections(text: str) -> list[Section]:
    """The endpoint sections: a level-4 heading naming one endpoint, up to the next heading
    of level 4 or above."""
    found = []
    headings = list(HEADING.finditer(text))
    for index, heading in enumerate(headings):
        endpoint = ENDPOINT.match(heading.group(2))
        if len(heading.group(1)) != 4 or endpoint is None:
            continue
        end = next((h.start() for h in headings[index + 1 :] if len(h.group(1)) <= 4), len(text))
        found.append(Section(endpoint.group(1), endpoint.group(2), text[heading.end() : end]))
    return found


@pytest.fixture(scope="module")
def page() -> str:
    return API_DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def documented(page: str) -> list[Section]:
    return sections(page)


def path_pattern(template: str) -> re.Pattern[str]:
    """``/api/v1/login/{flow_id}/code`` matches ``/api/v1/login/Uzj9…/code`` (and a query)."""
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join("[^/?]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"^{body}(\\?.*)?$")


def known_codes() -> set[str]:
    """Every snake_case string literal in the source: a documented code must be one of them."""
    codes: set[str] = set()
    for source in (ROOT / "src" / "sparekey").rglob("*.py"):
        codes.update(re.findall(r"""["']([a-z][a-z0-9_]*)["']""", source.read_text(encoding="utf-8")))
    return codes


# Coverage -------------------------------------------------------------------------------------


def test_the_walk_over_routes_sees_every_operation_of_the_openapi_document(app: FastAPI) -> None:
    operations = openapi_operations(app.openapi())
    assert ("POST", "/api/v1/login") in operations
    assert operations <= served(app), "the route walk missed routes: the coverage checks would see too little"


def test_every_endpoint_the_application_serves_has_a_section(app: FastAPI, documented: list[Section]) -> None:
    missing = served(app) - {(s.method, s.path) for s in documented}
    assert not missing, "endpoints without a section (#### `METHOD /path`) in docs/api.md: " + ", ".join(
        f"{method} {path}" for method, path in sorted(missing, key=lambda e: (e[1], e[0]))
    )


def test_every_section_names_an_endpoint_the_application_serves(
    app: FastAPI, documented: list[Section]
) -> None:
    endpoints = served(app)
    stale = {(s.method, s.path) for s in documented} - endpoints
    assert not stale, f"sections in docs/api.md for endpoints the application does not serve: {sorted(stale)}"
    titles = [(s.method, s.path) for s in documented]
    assert len(titles) == len(set(titles)), "an endpoint has two sections"


# The examples ---------------------------------------------------------------------------------


def test_each_section_has_an_example_request_an_answer_and_its_errors(documented: list[Section]) -> None:
    for section in documented:
        where = f"{section.method} {section.path}"
        requests = [m for m in section.messages if REQUEST_LINE.match(m.start)]
        answers = [m for m in section.messages if m.status is not None]
        assert requests and answers, f"{where}: needs an example request and an example answer"
        assert len(requests) + len(answers) == len(section.messages), f"{where}: a block is neither"
        pattern = path_pattern(section.path)
        for request in requests:
            method, path = REQUEST_LINE.match(request.start).groups()  # type: ignore[union-attr]
            assert method == section.method and pattern.match(path), f"{where}: example is {request.start}"
        assert section.errors_paragraph.strip(), f"{where}: no 'Errors:' line"


def _messages(page: str) -> Iterator[Message]:
    for block in HTTP_BLOCK.findall(page):
        yield parse_message(block)


def test_every_example_json_body_is_json(page: str) -> None:
    bodies = [m for m in _messages(page) if m.json_body]
    assert len(bodies) > 80
    for message in bodies:
        try:
            json.loads(message.body)
        except json.JSONDecodeError as error:
            pytest.fail(f"not JSON ({error}) in the example after {message.start!r}:\n{message.body}")


def test_example_errors_use_the_envelope_and_codes_that_exist(documented: list[Section]) -> None:
    codes = known_codes()
    for section in documented:
        if not section.path.startswith("/api/"):  # OAuth errors and health answers have their own forms
            continue
        where = f"{section.method} {section.path}"
        for message in section.messages:
            if message.status is not None and message.status >= 400:
                error = json.loads(message.body)["error"]
                assert isinstance(error["message"], str), where
                assert error["code"] in codes, f"{where}: unknown error code {error['code']!r}"
        for status, code in DOCUMENTED_ERROR.findall(section.errors_paragraph):
            assert 400 <= int(status) < 600 and code in codes, f"{where}: unknown error `{status} {code}`"


def test_the_first_answer_of_each_section_is_one_the_openapi_document_lists(
    app: FastAPI, documented: list[Section]
) -> None:
    paths = app.openapi()["paths"]
    for section in documented:
        operation = paths.get(section.path, {}).get(section.method.lower())
        if operation is None:  # not in the document (health, forward-auth's redirects, OAuth)
            continue
        first = next(m for m in section.messages if m.status is not None)
        assert str(first.status) in operation["responses"], (
            f"{section.method} {section.path}: first answer {first.status}, the route declares "
            f"{sorted(operation['responses'])}"
        )


def _slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def test_links_within_the_page_lead_to_its_headings(page: str) -> None:
    anchors: set[str] = set()
    for heading in HEADING.finditer(page):
        slug = _slug(heading.group(2))
        candidate, number = slug, 0
        while candidate in anchors:
            number += 1
            candidate = f"{slug}-{number}"
        anchors.add(candidate)
    links = re.findall(r"\]\(#([^)]+)\)", page)
    assert links
    assert not [link for link in links if link not in anchors], "links to no heading"


# The OpenAPI document -------------------------------------------------------------------------


def test_the_openapi_copy_is_what_the_application_serves(app: FastAPI) -> None:
    served_document = TestClient(app).get("/openapi.json")
    assert served_document.status_code == 200
    assert served_document.json() == app.openapi()
    copy = json.loads(OPENAPI_COPY.read_text(encoding="utf-8")) if OPENAPI_COPY.exists() else None
    assert copy == served_document.json(), f"docs/openapi.json is out of date: run `{REGENERATE}`"


if __name__ == "__main__":
    OPENAPI_COPY.write_text(rendered(generated_openapi()), encoding="utf-8")
    print(f"wrote {OPENAPI_COPY.relative_to(ROOT)}")
