# mypy: disallow-subclassing-any=False, disable-error-code="import-untyped"
"""The OpenID Connect provider, built on Authlib's server components.

Authlib has no Starlette integration, so ``Provider`` subclasses its ``AuthorizationServer``
the way its Flask and Django integrations do: it turns a plain ``HttpRequest`` (which the web
layer fills from Starlette's request) into Authlib's ``OAuth2Request``, and Authlib's answers
into a plain ``Answer``. Nothing here imports a web framework.

Authlib does the protocol: the authorization code grant (``AuthorizationCodeGrant``) with
PKCE (``CodeChallenge``, S256 only, required of public clients) and OpenID Connect's ID token
and ``nonce`` (``OpenIDCode``), the refresh token grant (``RefreshTokenGrant``, rotating),
client authentication (``client_secret_basic``, ``client_secret_post``, ``none``), bearer
tokens (``BearerTokenGenerator``), the userinfo endpoint (``UserInfoEndpoint`` behind a
``ResourceProtector``), RFC 9207's ``iss`` (``IssuerParameter``), and every error response
of RFC 6749. This module supplies what Authlib leaves to its user: storage (codes, grants and
clients through ``Transaction.oidc``), the end user (the browser's session and how it was
made, ``core/assurance.py``), signing keys (``keys.py``), step-up (``step_up.py``), consent.

One-time things are spent atomically before they are checked further: a code by its first
redemption (a second one is ``invalid_grant`` and revokes what the first one got), a refresh
token by its first use (a second use revokes the whole family of tokens).
"""

from __future__ import annotations

import contextvars
import hmac
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    JsonPayload,
    JsonRequest,
    OAuth2Error,
    OAuth2Payload,
    ResourceProtector,
    TokenMixin,
    scope_to_list,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo, UserInfoEndpoint
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

from sparekey.core.assurance import AuthContext
from sparekey.core.crypto import new_id, new_token, token_hash
from sparekey.core.deps import Deps
from sparekey.core.models import Account
from sparekey.oidc import clients, keys, step_up
from sparekey.oidc.policy import SCOPES, SIGNING_ALG, OidcPolicy
from sparekey.oidc.records import AuthorizationCode, Client, Grant

AUTHORIZE = "/oauth/authorize"
TOKEN = "/oauth/token"
USERINFO = "/oauth/userinfo"
JWKS = "/oauth/jwks"
DISCOVERY = "/.well-known/openid-configuration"

_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
_FORGET_AFTER = timedelta(days=1)  # spent codes are kept this long for replay detection


class UnmetAuthenticationRequirements(OAuth2Error):
    """OpenID Connect Core errata: the sign-in cannot reach what ``acr_values`` asked."""

    error = "unmet_authentication_requirements"


# The request and the message ----------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    """What the provider needs of an HTTP request. ``params`` are the OAuth parameters: the
    query of an authorization request, the form body of a token request."""

    method: str
    path: str
    headers: Mapping[str, str]
    params: Sequence[tuple[str, str]] = ()


@dataclass
class Answer:
    """An HTTP answer: Authlib's ``(status, body, headers)``."""

    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"] + [("Location", value)]


class _Payload(OAuth2Payload):
    def __init__(self, params: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in params:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):
    def __init__(self, http: HttpRequest, issuer: str) -> None:
        query = urlencode(list(http.params)) if http.method == "GET" else ""
        uri = f"{issuer}{http.path}" + (f"?{query}" if query else "")
        super().__init__(http.method, uri, headers=http.headers)
        self.payload = _Payload(http.params)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data if self.method == "POST" else {}


class _JsonPayload(JsonPayload):
    def __init__(self, data: dict[str, str]) -> None:
        self._data = data

    @property
    def data(self) -> dict[str, str]:
        return self._data


# Who signs in, and the records in Authlib's terms -------------------------------------------


@dataclass(frozen=True)
class EndUser:
    """Authlib's "user": the account, and how the sign-in behind this grant was made."""

    account: Account
    auth_time: datetime
    amr: tuple[str, ...]
    acr: str
    email: str | None = None  # a verified e-mail address, if the account has one


@dataclass(frozen=True)
class SignedIn:
    """The browser's session, as the web layer read it."""

    account: Account
    context: AuthContext


class _Client(ClientMixin):
    def __init__(self, record: Client) -> None:
        self.record = record
        self.client_id = record.id
        self.client_metadata: dict[str, str] = {}

    def get_client_id(self) -> str:
        return self.record.id

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect: every request names its redirect URI

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(dict.fromkeys(s for s in scope_to_list(scope) or [] if s in SCOPES))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.record.redirect_uris  # exactly, as a string

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.record.secret_hash
        return stored is not None and hmac.compare_digest(token_hash(client_secret), stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        return method == "none" if self.record.public else method in _AUTH_METHODS[:2]

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class _Code(AuthorizationCodeMixin):
    def __init__(self, record: AuthorizationCode) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return int(self.record.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.record.acr

    def get_amr(self) -> list[str]:
        return self.record.amr.split()


class _Grant(TokenMixin):
    def __init__(self, record: Grant, provider: Provider) -> None:
        self.record = record
        self.scope = record.scope
        self._provider = provider

    def check_client(self, client: _Client) -> bool:
        return bool(client.get_client_id() == self.record.client_id)

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return self._provider.policy.access_token_seconds

    def is_expired(self) -> bool:
        return self._provider.deps.clock.now() >= self.record.access_expires_at

    def is_revoked(self) -> bool:
        return self.record.revoked_at is not None

    def get_client(self) -> _Client | None:
        return self._provider.query_client(self.record.client_id)

    def get_user(self) -> EndUser | None:
        return self._provider.end_user(self.record.account_id, self.record)


# Grants and extensions: Authlib's, told where things are kept ------------------------------


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _AUTH_METHODS
    server: Provider

    def save_authorization_code(self, code: str, request: _Request) -> None:
        self.server.save_code(code, request)

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        return self.server.spend_code(code, client)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        """Nothing to do: the code was spent when it was read."""

    def authenticate_user(self, authorization_code: _Code) -> EndUser | None:
        record = authorization_code.record
        return self.server.end_user(record.account_id, record)


class _RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh token is used once
    server: Provider

    def authenticate_refresh_token(self, refresh_token: str) -> _Grant | None:
        return self.server.refresh_grant(refresh_token, self.request.client)

    def authenticate_user(self, refresh_token: _Grant) -> EndUser | None:
        return self.server.end_user(refresh_token.record.account_id, refresh_token.record)

    def revoke_old_credential(self, refresh_token: _Grant) -> None:
        """Nothing to do: ``save_token`` spent the refresh token with the new grant."""


class _S256(CodeChallenge):
    """PKCE with S256 only; a public client must use it. A verifier that does not match its
    challenge, however malformed, is ``invalid_grant``."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: _CodeGrant, redirect_uri: str) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge"):
            if data.get("code_challenge_method") != "S256":
                raise InvalidRequestError("PKCE needs code_challenge_method=S256.")
        elif grant.request.client.record.public:
            raise InvalidRequestError("A public client must send a code_challenge (PKCE with S256).")

    def validate_code_verifier(self, grant: _CodeGrant, result: Any) -> None:
        verifier = grant.request.form.get("code_verifier")
        challenge = grant.request.authorization_code.code_challenge
        if verifier and challenge and not CODE_VERIFIER_PATTERN.match(verifier):
            raise InvalidGrantError(description="Code challenge failed.")
        super().validate_code_verifier(grant, result)


_SIGNING_KEY: contextvars.ContextVar[RSAKey] = contextvars.ContextVar("oidc_signing_key")


class _IdToken(OpenIDCode):
    """The ID token: ``iss``, ``aud``, ``iat`` and ``exp`` from the provider's clock;
    ``auth_time``, ``amr``, ``acr`` and ``nonce`` from the code (so from the session that
    made it); signed with the current key, whose ``kid`` it names."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: _Request) -> bool:
        return self.provider.nonce_used(request.payload.client_id, nonce)

    def generate_user_info(self, user: EndUser, scope: str) -> UserInfo:
        return self.provider.user_info(user, scope)

    def get_client_algorithm(self, client: _Client) -> str:
        return SIGNING_ALG

    def get_client_claims(self, client: _Client) -> dict[str, Any]:
        now = int(self.provider.deps.clock.now().timestamp())
        policy = self.provider.policy
        return {
            "iss": policy.issuer,
            "aud": client.get_client_id(),
            "iat": now,
            "exp": now + policy.id_token_seconds,
        }

    def get_encode_header(self, client: _Client) -> dict[str, str]:
        return {"alg": SIGNING_ALG, "kid": str(_SIGNING_KEY.get().kid)}

    def resolve_client_private_key(self, client: _Client) -> RSAKey:
        return _SIGNING_KEY.get()

    def encode_id_token(self, token: dict[str, Any], request: _Request) -> str:
        deps = self.provider.deps
        reset = _SIGNING_KEY.set(
            keys.private_jwk(deps, keys.current(deps))
        )  # one key for header and signature
        try:
            return str(super().encode_id_token(token, request))
        finally:
            _SIGNING_KEY.reset(reset)


_USERINFO_REQUEST: contextvars.ContextVar[_Request] = contextvars.ContextVar("oidc_userinfo_request")


class _UserInfo(UserInfoEndpoint):
    server: Provider

    def create_endpoint_request(self, request: HttpRequest) -> _Request:
        oauth = self.server.create_oauth2_request(request)
        _USERINFO_REQUEST.set(oauth)  # for the resource protector, which Authlib asks without it
        return oauth

    def generate_user_info(self, user: EndUser, scope: str) -> UserInfo:
        return self.server.user_info(user, scope)

    def get_issuer(self) -> str:
        return self.server.policy.issuer


class _Protector(ResourceProtector):
    def acquire_token(self, scopes: str | list[str]) -> _Grant:
        wanted = [scopes] if isinstance(scopes, str) else scopes
        grant: _Grant = self.validate_request(wanted, _USERINFO_REQUEST.get())
        return grant


class _Bearer(BearerTokenValidator):
    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def authenticate_token(self, token_string: str) -> _Grant | None:
        return self.provider.grant_of_access(token_string)


class _Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


# What an authorization request comes to ------------------------------------------------------


@dataclass(frozen=True)
class SignInFirst:
    """Send the browser to sign in, then back to ``then`` (this request, with the mark)."""

    then: str


@dataclass(frozen=True)
class AskConsent:
    client: Client
    scopes: tuple[str, ...]
    account: Account


@dataclass(frozen=True)
class Refused:
    """A request that cannot be answered at a redirect URI (no such client, a redirect URI
    it did not register): shown to the person as a page, never redirected."""

    error: str
    description: str


Outcome = Answer | SignInFirst | AskConsent | Refused


class Provider(AuthorizationServer):
    def __init__(self, deps: Deps, policy: OidcPolicy) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.deps = deps
        self.policy = policy
        self.redirect_sources = clients.RedirectSources(deps)
        self._bearer = BearerTokenGenerator(
            access_token_generator=lambda **_: new_token(),
            refresh_token_generator=lambda **_: new_token(),
            expires_generator=lambda client, grant_type: policy.access_token_seconds,
        )
        self.register_token_generator("default", self._generate_token)
        self.register_grant(_CodeGrant, [_S256(required=True), _IdToken(self)])
        self.register_grant(_RefreshGrant)
        protector = _Protector()
        protector.register_token_validator(_Bearer(self))
        self.register_endpoint(_UserInfo(resource_protector=protector))
        self._issuer = _Issuer(policy.issuer)
        self.register_extension(self._issuer)

    # Authlib's framework hooks --------------------------------------------------------------

    def create_oauth2_request(self, request: HttpRequest | _Request) -> _Request:
        if isinstance(request, _Request):
            return request
        return _Request(request, self.policy.issuer)

    def create_json_request(self, request: HttpRequest) -> JsonRequest:
        json_request = JsonRequest(
            request.method, f"{self.policy.issuer}{request.path}", headers=request.headers
        )
        json_request.payload = _JsonPayload(dict(request.params))
        return json_request

    def handle_response(self, status: int, body: Any, headers: Sequence[tuple[str, str]]) -> Answer:
        return Answer(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: what matters is stored by the grants themselves."""

    def query_client(self, client_id: str | None) -> _Client | None:
        record = clients.get(self.deps, client_id)
        return _Client(record) if record else None

    def validate_requested_scope(self, scope: str | None) -> None:
        super().validate_requested_scope(scope)
        if "openid" not in (scope_to_list(scope) or []):
            raise InvalidScopeError("The scope must include 'openid'.")

    def _generate_token(self, **kwargs: Any) -> dict[str, Any]:
        token: dict[str, Any] = self._bearer(**kwargs)
        if "offline_access" not in (scope_to_list(token.get("scope")) or []):
            token.pop("refresh_token", None)  # refresh tokens only for offline_access
        return token

    # Endpoints ------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 (and RFC 8414) metadata."""
        url = self.policy.url
        return {
            "issuer": self.policy.issuer,
            "authorization_endpoint": url(AUTHORIZE),
            "token_endpoint": url(TOKEN),
            "userinfo_endpoint": url(USERINFO),
            "jwks_uri": url(JWKS),
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [SIGNING_ALG],
            "token_endpoint_auth_methods_supported": list(_AUTH_METHODS),
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": list(step_up.ACR_VALUES),
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "at_hash",
                "preferred_username",
                "email",
                "email_verified",
                "zoneinfo",
                "locale",
            ],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "ui_locales_supported": ["en", "ja"],
        }

    def jwks(self) -> dict[str, Any]:
        return keys.published(self.deps)

    def token(self, http: HttpRequest) -> Answer:
        try:
            answer: Answer = self.create_token_response(http)
        except OAuth2Error as error:  # raised before Authlib's own handling (a plain-http issuer)
            answer = self.handle_error_response(None, error)
        return answer

    def userinfo(self, http: HttpRequest) -> Answer:
        try:
            answer: Answer = self.create_endpoint_response("userinfo", http)
        except OAuth2Error as error:
            answer = self.handle_error_response(None, error)
        return answer

    def authorize(
        self, http: HttpRequest, signed: SignedIn | None, *, decision: str | None = None
    ) -> Outcome:
        """An authorization request: a redirect to the client (a code, or an error it may
        see), a sign-in first, the consent page, or a page saying the request is refused.
        ``decision`` is the consent page's answer ("allow" or "deny"), if this is one."""
        user = self._session_user(signed)
        try:
            grant = self.get_consent_grant(http, end_user=user)
        except OAuth2Error as error:
            if error.redirect_uri:
                return self._to_client(error)
            return Refused(error.error or "invalid_request", error.description or "")
        request: _Request = grant.request
        client: Client = request.client.record
        if not self.redirect_sources.covers(client.redirect_uris):
            self.redirect_sources.refresh()  # a client added a moment ago: its page must allow it
        params = request.payload.data
        if len(params.get("nonce") or "") > 255:
            return self._to_client(InvalidRequestError("The nonce is too long."), grant)
        try:
            asked = step_up.asked(params)
        except step_up.BadRequest as error:
            return self._to_client(InvalidRequestError(str(error)), grant)
        now = self.deps.clock.now()
        signer = self.deps.box.signer("oidc-fresh")
        fresh_since = step_up.read_mark(
            signer, params.get(step_up.MARK), now=now, within_seconds=self.policy.sign_in_seconds
        )
        verdict = step_up.judge(asked, signed.context if signed else None, now=now, fresh_since=fresh_since)
        if verdict is step_up.Verdict.SIGN_IN:
            again = [(k, v) for k, v in http.params if k != step_up.MARK] + [
                (step_up.MARK, step_up.mark(signer, now))
            ]
            return SignInFirst(then=f"{AUTHORIZE}?{urlencode(again)}")
        if verdict is step_up.Verdict.LOGIN_REQUIRED:
            return self._to_client(LoginRequiredError(), grant)
        if verdict is step_up.Verdict.UNMET:
            return self._to_client(
                UnmetAuthenticationRequirements("The sign-in does not reach the acr_values asked for."), grant
            )
        assert signed is not None and user is not None
        scopes = tuple(scope_to_list(request.scope) or [])
        if decision == "deny":
            denied: Answer = self.create_authorization_response(request, grant_user=None, grant=grant)
            return denied
        if decision == "allow":
            with self.deps.store.transaction() as tx:
                tx.oidc.remember_consent(signed.account.id, client.id, scopes, at=now)
        elif "consent" in asked.prompts or not self._consented(signed.account.id, client.id, scopes):
            if "none" in asked.prompts:
                return self._to_client(ConsentRequiredError(), grant)
            return AskConsent(client=client, scopes=scopes, account=signed.account)
        issued: Answer = self.create_authorization_response(request, grant_user=user, grant=grant)
        return issued

    def _to_client(self, error: OAuth2Error, grant: _CodeGrant | None = None) -> Answer:
        """An error sent to the client's redirect URI, which Authlib has checked by now."""
        if grant is not None:
            error.redirect_uri = grant.redirect_uri
            error.state = grant.request.payload.state
        answer: Answer = self.handle_error_response(None, error)
        self._issuer.add_issuer_parameter(self, answer)
        return answer

    def _consented(self, account_id: str, client_id: str, scopes: Sequence[str]) -> bool:
        with self.deps.store.transaction() as tx:
            consent = tx.oidc.consent(account_id, client_id)
        return consent is not None and set(scopes) <= consent.scopes

    def _session_user(self, signed: SignedIn | None) -> EndUser | None:
        if signed is None:
            return None
        context = signed.context
        return EndUser(
            account=signed.account,
            auth_time=context.auth_time,
            amr=tuple(context.amr),
            acr=step_up.acr_of(context.level),
        )

    # What the grants store and read ------------------------------------------------------------

    def save_code(self, code: str, request: _Request) -> None:
        now = self.deps.clock.now()
        user: EndUser = request.user
        data = request.payload.data
        record = AuthorizationCode(
            id=new_id(),
            code_hash=token_hash(code),
            client_id=request.client.get_client_id(),
            account_id=user.account.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            auth_time=user.auth_time,
            amr=" ".join(user.amr),
            acr=user.acr,
            created_at=now,
            expires_at=now + timedelta(seconds=self.policy.code_seconds),
            nonce=data.get("nonce") or None,
            code_challenge=data.get("code_challenge") or None,
            code_challenge_method=data.get("code_challenge_method") or None,
        )
        with self.deps.store.transaction() as tx:
            tx.oidc.forget_codes(expired_before=now - _FORGET_AFTER)
            tx.oidc.add_code(record)

    def spend_code(self, code: str, client: _Client) -> _Code | None:
        """The code, spent now; None if it is unknown, expired or spent already. A code
        redeemed a second time revokes the tokens its first redemption got (RFC 6749 §4.1.2)."""
        now = self.deps.clock.now()
        digest = token_hash(code)
        with self.deps.store.transaction() as tx:
            record = tx.oidc.claim_code(digest, client.get_client_id(), at=now)
            if record is None:
                seen = tx.oidc.code_by_hash(digest)
                if seen is not None and seen.used_at is not None and seen.client_id == client.get_client_id():
                    tx.locks.hold(f"oidc-family:{seen.id}")
                    tx.oidc.revoke_family(seen.id, at=now)
        return _Code(record) if record else None

    def refresh_grant(self, refresh_token: str, client: _Client | None) -> _Grant | None:
        """The grant whose refresh token this is; None if it is unknown, another client's,
        expired or revoked. A refresh token that was spent already revokes every token of its
        family. (It is spent by ``save_token``, with the new grant, once the request is valid.)"""
        now = self.deps.clock.now()
        with self.deps.store.transaction() as tx:
            grant = tx.oidc.grant_by_refresh(token_hash(refresh_token))
            if grant is None or client is None or grant.client_id != client.get_client_id():
                return None
            if grant.revoked_at is not None:
                return None
            if grant.refreshed_at is not None:
                tx.locks.hold(f"oidc-family:{grant.family_id}")
                tx.oidc.revoke_family(grant.family_id, at=now)
                return None
            if grant.refresh_expires_at is None or grant.refresh_expires_at <= now:
                return None
        return _Grant(grant, self)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        now = self.deps.clock.now()
        refreshing = request.payload.grant_type == "refresh_token"
        origin: Grant | AuthorizationCode = (
            request.refresh_token.record if refreshing else request.authorization_code.record
        )
        family = origin.family_id if isinstance(origin, Grant) else origin.id
        refresh = token.get("refresh_token")
        record = Grant(
            id=new_id(),
            family_id=family,
            client_id=request.client.get_client_id(),
            account_id=origin.account_id,
            scope=token.get("scope", ""),
            access_hash=token_hash(token["access_token"]),
            issued_at=now,
            access_expires_at=now + timedelta(seconds=self.policy.access_token_seconds),
            auth_time=origin.auth_time,
            amr=origin.amr,
            acr=origin.acr,
            refresh_hash=token_hash(refresh) if refresh else None,
            refresh_expires_at=now + timedelta(seconds=self.policy.refresh_token_seconds)
            if refresh
            else None,
        )
        reused = False
        with self.deps.store.transaction() as tx:
            # One family at a time: a refresh and a reuse revoking the family see each other.
            tx.locks.hold(f"oidc-family:{family}")
            if isinstance(origin, Grant) and not tx.oidc.claim_refresh(origin.id, at=now):
                tx.oidc.revoke_family(family, at=now)  # spent meanwhile: this is a reuse
                reused = True
            else:
                tx.oidc.forget_grants(expired_before=now - _FORGET_AFTER)
                tx.oidc.add_grant(record)
        if reused:
            raise InvalidGrantError()

    def grant_of_access(self, access_token: str) -> _Grant | None:
        with self.deps.store.transaction() as tx:
            grant = tx.oidc.grant_by_access(token_hash(access_token))
        return _Grant(grant, self) if grant else None

    def nonce_used(self, client_id: str | None, nonce: str) -> bool:
        if not client_id:
            return False
        with self.deps.store.transaction() as tx:
            return tx.oidc.nonce_used(client_id, nonce)

    def end_user(self, account_id: str, made: AuthorizationCode | Grant) -> EndUser | None:
        """The account behind a code or grant, with the sign-in recorded in it."""
        with self.deps.store.transaction() as tx:
            account = tx.accounts.get(account_id)
            emails = [
                c.address
                for c in tx.contacts.for_account(account_id, verified_only=True)
                if c.kind == "email"
            ]
        if account is None:
            return None
        return EndUser(
            account=account,
            auth_time=made.auth_time,
            amr=tuple(made.amr.split()),
            acr=made.acr,
            email=emails[0] if emails else None,
        )

    def user_info(self, user: EndUser, scope: str) -> UserInfo:
        """``sub`` (the account id: stable and opaque), ``preferred_username``, ``zoneinfo``
        and ``locale`` with ``profile``; ``email`` and ``email_verified`` with ``email`` when
        the account has a verified address."""
        account = user.account
        claims: dict[str, Any] = {"sub": account.id, "preferred_username": account.username}
        if account.time_zone:
            claims["zoneinfo"] = account.time_zone
        if account.language:
            claims["locale"] = account.language
        if user.email:
            claims.update(email=user.email, email_verified=True)
        return UserInfo(claims).filter(scope)
