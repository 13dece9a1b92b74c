"""Register, sign in (password, then the one code box), sign out."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from sparekey.core.deps import Deps
from sparekey.core.errors import FlowExpired, FlowNotFound, SparekeyError
from sparekey.core.flows import accounts, sent_codes, sessions, sign_in
from sparekey.core.methods import Notice
from sparekey.web.cookies import (
    Cookie,
    clear,
    client_tokens,
    keep_client_token,
    keep_token,
    read,
    set_session_cookie,
    tokens,
    write,
)
from sparekey.web.dependencies import get_deps, maybe_signed_in
from sparekey.web.pages.rendering import check_csrf, error_text, redirect, render
from sparekey.web.request_info import client_of, language_of
from sparekey.web.return_to import ReturnTargets

router = APIRouter()


def return_targets(request: Request) -> ReturnTargets:
    targets: ReturnTargets = request.app.state.return_targets
    return targets


def signed_in_response(request: Request, result: sign_in.Authenticated) -> Response:
    notices = {n["code"]: n.get("remaining") for n in result.notices}
    query = {}
    for notice in (Notice.BACKUP_CODES_LOW, Notice.BACKUP_CODE_USED):  # the first one says most
        if notice in notices:
            query = {"notice": notice.value, "remaining": notices[notice]}
            break
    back = return_targets(request).accept(read(request, Cookie.RETURN))
    response = redirect(request, back) if back else redirect(request, "/security", **query)
    clear(response, request, Cookie.RETURN)
    set_session_cookie(response, request, result.session_token)
    keep_client_token(response, request, result.client_token)
    if result.device_token is not None:
        seconds = get_deps(request).policy.trusted_device_seconds
        keep_token(response, request, Cookie.DEVICES, result.device_token, max_age=seconds)
    clear(response, request, Cookie.FLOW)
    return response


@router.get("/")
def home(request: Request) -> Response:
    return redirect(request, "/security" if maybe_signed_in(request) else "/login")


@router.get("/register")
def register_form(request: Request) -> Response:
    return render(request, "register.html", username="", email="")


@router.post("/register")
def register(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    email: str = Form(""),
    csrf_token: str = Form(""),
    deps: Deps = Depends(get_deps),
) -> Response:
    check_csrf(request, csrf_token)
    try:
        accounts.register(deps, username=username, password=password, email=email or None)
        result = sign_in.start(
            deps, username=username, password=password, client=client_of(request), lang=language_of(request)
        )
    except SparekeyError as error:
        return render(
            request,
            "register.html",
            422,
            error=error_text(request, error),
            field=error.details.get("field", "password" if error.code == "password_too_weak" else "username"),
            username=username,
            email=email,
        )
    assert isinstance(result, sign_in.Authenticated)
    return signed_in_response(request, result)


@router.get("/login")
def login_form(request: Request, deps: Deps = Depends(get_deps)) -> Response:
    """The sign-in form. ``rd`` is where to go afterwards (forward-auth, OpenID Connect):
    kept in a cookie for the length of a sign-in when it is an allowed place, else dropped."""
    response = render(request, "login.html", username="", ended=request.query_params.get("ended"))
    back = return_targets(request).accept(request.query_params.get("rd"))
    if back:
        write(response, request, Cookie.RETURN, back, max_age=deps.policy.login_flow_seconds)
    elif "ended" not in request.query_params:
        clear(response, request, Cookie.RETURN)
    return response


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    deps: Deps = Depends(get_deps),
) -> Response:
    check_csrf(request, csrf_token)
    try:
        result = sign_in.start(
            deps,
            username=username,
            password=password,
            client=client_of(request),
            client_tokens=client_tokens(request),
            device_tokens=tokens(request, Cookie.DEVICES),
            lang=language_of(request),
        )
    except SparekeyError as error:
        return render(
            request, "login.html", error.status, error=error_text(request, error), username=username
        )
    if isinstance(result, sign_in.Authenticated):
        return signed_in_response(request, result)
    response = redirect(request, "/login/code")
    write(response, request, Cookie.FLOW, result.flow.id, max_age=deps.policy.login_flow_seconds)
    return response


def code_page(
    request: Request, deps: Deps, status: int = 200, error: str | None = None, sent: str | None = None
) -> Response:
    flow_id = read(request, Cookie.FLOW) or ""
    try:
        _flow, account, methods = sign_in.live_flow(deps, flow_id)
    except (FlowNotFound, FlowExpired):
        return redirect(request, "/login", ended="1")
    return render(
        request,
        "code.html",
        status,
        error=error,
        sent=sent,
        code_minutes=deps.policy.sent_code_seconds // 60,
        trust_days=deps.policy.trusted_device_seconds // 86400,
        methods=methods,
        username=account.username,
    )


@router.get("/login/code")
def code_form(request: Request, deps: Deps = Depends(get_deps)) -> Response:
    return code_page(request, deps)


@router.post("/login/code")
def submit_code(
    request: Request,
    code: str = Form(""),
    trust_device: str = Form(""),
    csrf_token: str = Form(""),
    deps: Deps = Depends(get_deps),
) -> Response:
    def step(flow_id: str) -> sign_in.Authenticated:
        return sign_in.submit_code(
            deps,
            flow_id=flow_id,
            code=code,
            client=client_of(request),
            trust_device=bool(trust_device),
            lang=language_of(request),
        )

    return second_step(request, csrf_token, step)


def second_step(request: Request, csrf_token: str, step: Callable[[str], sign_in.Authenticated]) -> Response:
    """The code page's forms (a code, a key's answer): signed in, the code page again with
    the reason, or back to the password when the flow has ended."""
    check_csrf(request, csrf_token)
    try:
        result = step(read(request, Cookie.FLOW) or "")
    except (FlowNotFound, FlowExpired):
        return redirect(request, "/login", ended="1")
    except SparekeyError as error:
        return code_page(request, get_deps(request), error.status, error_text(request, error))
    return signed_in_response(request, result)


@router.post("/login/code/send")
def send_code(
    request: Request,
    method: str = Form(""),
    destination_id: str = Form(""),
    csrf_token: str = Form(""),
    deps: Deps = Depends(get_deps),
) -> Response:
    """ "Try another way": a code by SMS, call or e-mail for the sign-in in progress."""
    check_csrf(request, csrf_token)
    try:
        sent = sent_codes.send_for_flow(
            deps,
            flow_id=read(request, Cookie.FLOW) or "",
            method=method,
            destination_id=destination_id or None,
            client=client_of(request),
            language=language_of(request),
        )
    except (FlowNotFound, FlowExpired):
        return redirect(request, "/login", ended="1")
    except SparekeyError as error:
        return code_page(request, deps, error.status, error_text(request, error))
    return code_page(request, deps, sent=sent.sent_to)


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form(""), deps: Deps = Depends(get_deps)) -> Response:
    check_csrf(request, csrf_token)
    signed = maybe_signed_in(request)
    if signed is not None:
        sessions.log_out(deps, signed.current)
    response = redirect(request, "/login")
    clear(response, request, Cookie.SESSION)
    return response
