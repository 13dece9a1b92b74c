"""OpenID Connect over HTTP: discovery, JWKS, the authorization endpoint (with the sign-in,
step-up and consent pages around it), the token and userinfo endpoints.

The protocol is ``sparekey/oidc/provider.py`` (Authlib's server components); this module
turns Starlette requests into its ``HttpRequest`` and its outcomes into answers. An
authorization request that cannot be answered at a registered redirect URI is a page (400,
both languages), never a redirect. The provider also tells the pages' ``form-action`` which
redirect URIs exist (``install``): the redirect that ends a sign-in at a relying party follows
a form, and browsers apply ``form-action`` to it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sparekey.core.errors import TwoFactorRequired
from sparekey.oidc.policy import OidcPolicy
from sparekey.oidc.provider import (
    AUTHORIZE,
    DISCOVERY,
    JWKS,
    TOKEN,
    USERINFO,
    Answer,
    AskConsent,
    HttpRequest,
    Outcome,
    Provider,
    Refused,
    SignedIn,
    SignInFirst,
)
from sparekey.web.dependencies import ENROL_URL, maybe_signed_in
from sparekey.web.pages.rendering import check_csrf, redirect, render

router = APIRouter(include_in_schema=False)

_PUBLIC = {"Access-Control-Allow-Origin": "*"}  # metadata and public keys, for in-browser apps too


def install(app: FastAPI) -> None:
    """The provider on ``app.state.oidc``, its routes, and its redirect URIs in ``form-action``."""
    provider = Provider(app.state.deps, OidcPolicy.from_settings(app.state.settings))
    app.state.oidc = provider
    app.state.form_targets.add(provider.redirect_sources)
    app.include_router(router)


def provider_of(request: Request) -> Provider:
    provider: Provider = request.app.state.oidc
    return provider


def _http(request: Request, params: list[tuple[str, str]]) -> HttpRequest:
    return HttpRequest(method=request.method, path=request.url.path, headers=request.headers, params=params)


def _answer(answer: Answer) -> Response:
    headers = dict(answer.headers)
    body: Any = answer.body
    if isinstance(body, dict):
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    return Response(content=body or b"", status_code=answer.status, headers=headers)


@router.get(DISCOVERY)
def discovery(request: Request) -> JSONResponse:
    return JSONResponse(provider_of(request).metadata(), headers=_PUBLIC)


@router.get(JWKS)
def jwks(request: Request) -> JSONResponse:
    return JSONResponse(provider_of(request).jwks(), headers=_PUBLIC)


def _authorize(request: Request, decision: str | None) -> Response:
    try:
        signed = maybe_signed_in(request)
    except TwoFactorRequired:  # an organisation requires a second factor first
        return redirect(request, ENROL_URL)
    session = None
    if signed is not None:
        current = signed.current
        session = SignedIn(account=current.account, context=current.session.context)
    params = list(request.query_params.multi_items())
    http = HttpRequest(method="GET", path=AUTHORIZE, headers=request.headers, params=params)
    return _outcome(request, provider_of(request).authorize(http, session, decision=decision))


def _outcome(request: Request, outcome: Outcome) -> Response:
    if isinstance(outcome, Answer):
        return _answer(outcome)
    if isinstance(outcome, SignInFirst):
        return redirect(request, "/login", rd=outcome.then)
    if isinstance(outcome, AskConsent):
        return render(
            request,
            "oidc_consent.html",
            client_name=outcome.client.name,
            scopes=outcome.scopes,
            username=outcome.account.username,
            action=f"{AUTHORIZE}?{request.url.query}",
        )
    assert isinstance(outcome, Refused)
    return render(request, "oidc_error.html", 400, error=outcome.error, description=outcome.description)


@router.get(AUTHORIZE)
def authorize(request: Request) -> Response:
    return _authorize(request, None)


@router.post(AUTHORIZE)
def consent(request: Request, decision: str = Form(""), csrf_token: str = Form("")) -> Response:
    """The consent page's answer; the authorization request is still in the query."""
    check_csrf(request, csrf_token)
    return _authorize(request, "allow" if decision == "allow" else "deny")


@router.post(TOKEN)
async def token(request: Request) -> Response:
    form = await request.form()
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    answer = await run_in_threadpool(provider_of(request).token, _http(request, params))
    return _answer(answer)


@router.api_route(USERINFO, methods=["GET", "POST"])
def userinfo(request: Request) -> Response:
    return _answer(provider_of(request).userinfo(_http(request, [])))
