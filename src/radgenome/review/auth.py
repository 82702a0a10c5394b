"""Authentication: login tokens (stored hashed), server-side sessions with a CSRF token, or bearer tokens.

- ``POST /auth/login`` with a token (from ``radgenome review add-user``) opens a session: the ``rg_session``
  cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) holds a fresh 256-bit random value; the store keeps only
  its SHA-256, the user, a per-session CSRF token, and the expiry. There is no signing secret to steal: a
  session exists exactly while its row says so.
- ``POST /auth/logout`` revokes the session; issuing a new token to a user (``add-user`` again) revokes all of
  that user's sessions; a session ends at its expiry (``session_hours``) regardless.
- Browser requests that change state (POST/PUT/PATCH/DELETE) must echo the CSRF token in ``X-CSRF-Token``.
- Scripts may send ``Authorization: Bearer <token>`` instead (no cookie, so no CSRF check).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response, status
from sqlalchemy import delete, select, update

from radgenome.review.store import SessionRow, Store, User, hash_token, user_by_token

SESSION_COOKIE = "rg_session"
SESSION_HOURS = 12.0
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    user: User
    csrf: str | None
    """The session's CSRF token; None for bearer requests."""
    session_id: str | None = None


class Auth:
    """Sessions in the store. ``secure_cookies``: True/False forces the cookie's Secure flag; None sets it when
    the request came over HTTPS (directly, or through a proxy uvicorn trusts for ``X-Forwarded-Proto``)."""

    def __init__(self, store: Store, *, secure_cookies: bool | None = None,
                 session_hours: float = SESSION_HOURS) -> None:
        self.store = store
        self.secure_cookies = secure_cookies
        self.session_hours = session_hours

    def login(self, token: str) -> User | None:
        if not token or len(token) > 256:
            return None
        with self.store.read() as s:
            return user_by_token(s, token.strip())

    def open_session(self, user: User, request: Request, response: Response) -> str:
        """Store a new session for ``user`` and set its cookie; returns the CSRF token."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = self.store.now()
        expires = now + dt.timedelta(hours=self.session_hours)
        with self.store.write() as s:
            s.execute(delete(SessionRow).where(SessionRow.expires_at < now))  # expired rows: bounded clean-up
            s.add(SessionRow(id=hash_token(token), user_id=user.id, csrf=csrf, created_at=now, expires_at=expires))
        secure = self.secure_cookies if self.secure_cookies is not None else request.url.scheme == "https"
        response.set_cookie(SESSION_COOKIE, token, max_age=int(self.session_hours * 3600), httponly=True,
                            samesite="strict", secure=secure, path="/")
        return csrf

    def close_session(self, request: Request, response: Response) -> bool:
        """Revoke the request's session (if any) and clear its cookie; True when a session was revoked."""
        token = request.cookies.get(SESSION_COOKIE)
        response.delete_cookie(SESSION_COOKIE, path="/")
        if not token:
            return False
        with self.store.write() as s:
            done = s.execute(update(SessionRow).where(SessionRow.id == hash_token(token),
                                                      SessionRow.revoked_at.is_(None))
                             .values(revoked_at=self.store.now()))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def principal(self, request: Request) -> Principal:
        """The authenticated caller of ``request``; raises 401 (no or bad credentials) or 403 (CSRF)."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = self.login(header[7:])
            if user is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token",
                                    headers={"WWW-Authenticate": "Bearer"})
            return Principal(user, None)
        token = request.cookies.get(SESSION_COOKIE)
        if not token or len(token) > 256:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in", headers={"WWW-Authenticate": "Bearer"})
        with self.store.read() as s:
            row = s.execute(select(SessionRow, User).join(User, User.id == SessionRow.user_id)
                            .where(SessionRow.id == hash_token(token))).first()
        if row is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "session invalid")
        session, user = row
        if session.revoked_at is not None or session.expires_at <= self.store.now():
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "session ended")
        if request.method in UNSAFE_METHODS:
            sent = request.headers.get("x-csrf-token", "")
            if not sent or not hmac.compare_digest(sent, session.csrf):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token")
        return Principal(user, session.csrf, session.id)
