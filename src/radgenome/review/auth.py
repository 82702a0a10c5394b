"""Authentication: login tokens (stored hashed), a signed session cookie with a CSRF token, or bearer tokens.

- ``POST /auth/login`` with a token (from ``radgenome review add-user``) sets ``rg_session``: an HttpOnly,
  SameSite=Strict cookie signed with the store's secret, holding the user id and a per-session CSRF token.
- Browser requests that change state (POST/PUT/PATCH/DELETE) must echo that CSRF token in ``X-CSRF-Token``
  (the page reads it from ``GET /api/me``).
- Scripts may send ``Authorization: Bearer <token>`` instead (no cookie, so no CSRF check).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, status
from itsdangerous import BadSignature, URLSafeTimedSerializer

from radgenome.review.store import Store, User, user_by_token

SESSION_COOKIE = "rg_session"
SESSION_MAX_AGE = 12 * 3600
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    user: User
    csrf: str | None
    """The session's CSRF token; None for bearer requests."""


class Auth:
    def __init__(self, store: Store, secure_cookie: bool = False) -> None:
        self.store = store
        self.signer = URLSafeTimedSerializer(store.secret(), salt="radgenome-review-session")
        self.secure_cookie = secure_cookie

    def session_cookie(self, user: User) -> tuple[str, str]:
        """(cookie value, csrf token) for a new session of ``user``."""
        csrf = secrets.token_urlsafe(24)
        return self.signer.dumps({"uid": user.id, "csrf": csrf, "th": user.token_hash[:16]}), csrf

    def login(self, token: str) -> User | None:
        if not token or len(token) > 256:
            return None
        with self.store.session() as s:
            return user_by_token(s, token.strip())

    def principal(self, request: Request) -> Principal:
        """The authenticated caller of ``request``; raises 401 (no or bad credentials) or 403 (CSRF)."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = self.login(header[7:])
            if user is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token",
                                    headers={"WWW-Authenticate": "Bearer"})
            return Principal(user, None)
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in", headers={"WWW-Authenticate": "Bearer"})
        try:
            data = self.signer.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "session expired or invalid") from exc
        with self.store.session() as s:
            user = s.get(User, int(data.get("uid", -1)))
        # a new token (add-user again) ends the sessions opened with the old one
        if user is None or not hmac.compare_digest(user.token_hash[:16], str(data.get("th", ""))):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "session no longer valid")
        csrf = str(data.get("csrf", ""))
        if request.method in UNSAFE_METHODS:
            sent = request.headers.get("x-csrf-token", "")
            if not sent or not hmac.compare_digest(sent, csrf):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token")
        return Principal(user, csrf)
