"""The review store: users, items, assignments and decisions (SQLAlchemy; SQLite WAL by default, PostgreSQL by URL).

Decisions are append-only: an undo marks a row ``undone_at`` instead of deleting it, so the history of every
item stays auditable. ``(user_id, key)`` is unique: a retried POST carrying the same idempotency key is stored
once. ``(item_id, slot)`` is unique in ``assignments``: an item needing two reviewers has slots 0 and 1, so two
reviewers claiming at the same moment cannot over-assign it, whatever the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

ROLES = ("reviewer", "admin")
VERDICTS = ("accept", "reject", "correct")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="reviewer")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Item(Base):
    """One thing to verify: a grounded (sentence, node) pair or a QA pair."""

    __tablename__ = "items"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    order: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    """``sentence`` or ``qa``."""
    qa_kind: Mapped[str] = mapped_column(String(32), default="")
    volume: Mapped[str] = mapped_column(String(255), index=True)
    stem: Mapped[str] = mapped_column(String(255))
    split: Mapped[str] = mapped_column(String(32), index=True)
    sentence_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sentence_indices: Mapped[str] = mapped_column(Text, default="")
    """Comma-joined source sentence indices (QA pairs)."""
    node: Mapped[str] = mapped_column(String(128), default="")
    path: Mapped[str] = mapped_column(String(512), default="")
    region: Mapped[str] = mapped_column(String(64), index=True, default="")
    """Top-level region of ``path`` (first path component)."""
    text: Mapped[str] = mapped_column(Text)
    """The sentence, or the question of a QA pair."""
    answer: Mapped[str] = mapped_column(Text, default="")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    flags: Mapped[str] = mapped_column(Text, default="")
    """Build flags on this item, ``kind: detail`` lines."""
    mask_status: Mapped[str] = mapped_column(String(32), default="")
    required: Mapped[int] = mapped_column(Integer, default=1)
    """Reviewers this item needs (2 for the double-assigned fraction)."""


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "slot", name="uq_assignment_slot"),
        UniqueConstraint("item_id", "user_id", name="uq_assignment_user"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_decision_key"),
        Index("ix_decision_item_user", "item_id", "user_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    """Client idempotency key."""
    verdict: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Corrected sentence (or QA answer); None when unchanged."""
    node: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """Corrected region node; None when unchanged."""
    mask_wrong: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


# --------------------------------------------------------------------------------------------- engine
def default_db_url(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'review.sqlite').resolve()}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=32,
                               max_overflow=16)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_size=32, max_overflow=16, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


class Store:
    """Engine + session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def secret(self) -> str:
        """The cookie-signing secret, made once and kept in the database (shared by every worker)."""
        with self.session() as s:
            row = s.get(Meta, "secret")
            if row is None:
                s.add(Meta(key="secret", value=secrets.token_urlsafe(48)))
                try:
                    s.commit()
                except Exception:
                    s.rollback()
                row = s.get(Meta, "secret")
            assert row is not None
            return row.value


# ---------------------------------------------------------------------------------------------- users
def hash_token(token: str) -> str:
    """SHA-256 of a login token (tokens are 256-bit random strings, so a fast hash is enough)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(store: Store, name: str, role: str = "reviewer") -> str:
    """Create ``name`` (or give it a new token) and return the login token; only its hash is stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    name = name.strip()
    if not name or len(name) > 64:
        raise ValueError("user name must be 1-64 characters")
    token = secrets.token_urlsafe(32)
    with store.session() as s:
        user = s.scalars(select(User).where(User.name == name)).first()
        if user is None:
            s.add(User(name=name, role=role, token_hash=hash_token(token)))
        else:
            user.role = role
            user.token_hash = hash_token(token)
    return token


def user_by_token(s: Session, token: str) -> User | None:
    return s.scalars(select(User).where(User.token_hash == hash_token(token))).first()
