"""The recovery drill, as a page: what it is, the last result, the steps, and a start button;
while a drill is open, the page says it waits and a reload shows whether it passed."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from sparekey.core.flows import drill
from sparekey.web.dependencies import Signed, get_deps
from sparekey.web.pages.rendering import redirect, render
from sparekey.web.pages.security import METHOD_NAMES, act, signed_or_login
from sparekey.web.request_info import client_of

router = APIRouter(prefix="/security")
PATH = "/security/drill"


def drill_page(request: Request, signed: Signed) -> Response:
    deps = get_deps(request)
    account = signed.current.account
    request.state.time_zone = account.time_zone  # times in the owner's zone, where the pages show one
    return render(
        request,
        "drill.html",
        account=account,
        status=drill.status(deps, account.id),
        steps=drill.STEPS,
        login_url=deps.policy.url("/login"),
        minutes=drill.DRILL_SECONDS // 60,
        method_names=METHOD_NAMES,
    )


@router.get("/drill")
def drill_form(request: Request) -> Response:
    signed = signed_or_login(request)
    return signed if isinstance(signed, Response) else drill_page(request, signed)


@router.post("/drill")
def start_drill(request: Request, csrf_token: str = Form("")) -> Response:
    """Starts (or starts over) the drill, then back to the page: a reload never starts one."""

    def action(signed: Signed) -> Response:
        drill.start(get_deps(request), signed.current, client_of(request))
        return redirect(request, PATH)

    return act(request, csrf_token, action)
