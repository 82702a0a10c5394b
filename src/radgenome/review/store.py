"""The review store: users, sessions, items, assignments, decisions and per-reviewer counters (SQLAlchemy).

SQLite (WAL) by default, PostgreSQL by URL. Every per-request path touches only the rows of the items and
reviewer it is about, so its cost does not grow with the number of decisions ever made:

- ``assignments.decision_id`` points at a reader's current decision of an item (NULL while undecided), so "my
  open items" and "my verdict on this item" are index lookups;
- ``items`` carries its own state (``assigned``, ``reads``, ``complete``, ``disagreement``, ``adjudication_id``),
  updated in the transaction that changes it;
- ``reviewer_stats`` holds each reviewer's counters, written only by that reviewer's own requests (no row that
  every writer contends for); totals are sums over reviewers.

Decisions are append-only: an undo marks a row ``undone_at`` and a new decision on an item marks the previous
one ``replaced_at``; nothing is deleted. ``(user_id, key)`` is unique (idempotent retries) and
``(item_id, slot)`` / ``(item_id, user_id)`` are unique in ``assignments`` (an item never gets more readers than
it needs, and never the same reader twice).

Write transactions are serialised where they must be: on SQLite every write session starts with
``BEGIN IMMEDIATE`` (one writer at a time, reads inside it are current); on PostgreSQL the rows a transaction
decides on are locked (``SELECT ... FOR UPDATE``, ``SKIP LOCKED`` for claims).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
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
    update,
)
from sqlalchemy.engine import Engine, make_url
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


class SessionRow(Base):
    """A signed-in browser: the cookie holds a random token, the store only its SHA-256 (``id``)."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Item(Base):
    """One thing to verify: a grounded (sentence, RadGenome path) pair or a QA pair."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_open_order", "open", "order"),
        Index("ix_items_disagreement_order", "disagreement", "order"),
    )
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    order: Mapped[int] = mapped_column(Integer)
    """Build order (claims take items in this order, through the (open, order) index)."""
    kind: Mapped[str] = mapped_column(String(16))
    """``sentence`` or ``qa``."""
    qa_kind: Mapped[str] = mapped_column(String(32), default="")
    source_id: Mapped[str] = mapped_column(String(255), default="")
    """The QA pair's ``qa_id`` in ``qa_pairs.parquet`` (empty for sentence items)."""
    volume: Mapped[str] = mapped_column(String(255))
    stem: Mapped[str] = mapped_column(String(255))
    split: Mapped[str] = mapped_column(String(32))
    sentence_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sentence_indices: Mapped[str] = mapped_column(Text, default="")
    """Comma-joined source sentence indices."""
    node: Mapped[str] = mapped_column(String(128), default="")
    path: Mapped[str] = mapped_column(String(512), default="")
    region: Mapped[str] = mapped_column(String(64), default="")
    """Top-level region of ``path`` (its first component)."""
    text: Mapped[str] = mapped_column(Text)
    """The sentence, or the question of a QA pair."""
    answer: Mapped[str] = mapped_column(Text, default="")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flags: Mapped[str] = mapped_column(Text, default="")
    """Build flags on this item's sentence, ``kind: detail`` lines."""
    mask_status: Mapped[str] = mapped_column(String(32), default="")
    required: Mapped[int] = mapped_column(Integer, default=1)
    """Readers this item needs (2 for the double-read fraction)."""
    # --- state, kept current by the transactions that change it
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    """Live assignments (decided, or undecided with a lease not yet reclaimed)."""
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    """``assigned < required``: a reader may still claim it."""
    reads: Mapped[int] = mapped_column(Integer, default=0)
    """Readers whose current decision stands."""
    complete: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    """``reads >= required``."""
    disagreement: Mapped[bool] = mapped_column(Boolean, default=False)
    """Complete, and the readers' decisions differ (verdict or correction)."""
    adjudication_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The admin decision that settles the item, if any."""


class Assignment(Base):
    """A reader's claim on an item; ``decision_id`` is their current decision (NULL while undecided)."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "slot", name="uq_assignment_slot"),
        UniqueConstraint("item_id", "user_id", name="uq_assignment_user"),
        Index("ix_assignment_user_decision", "user_id", "decision_id", "expires_at"),
        Index("ix_assignment_decision_expiry", "decision_id", "expires_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    slot: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    """End of the lease while undecided: afterwards the slot returns to the pool."""
    decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_decision_key"),
        Index("ix_decision_item_user", "item_id", "user_id"),
        Index("ix_decision_user_id", "user_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(64))
    """Client idempotency key."""
    request_hash: Mapped[str] = mapped_column(String(64), default="")
    """SHA-256 of the request that created the row: the same key with another body is a conflict (409)."""
    verdict: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Corrected sentence (or QA answer); None when unchanged."""
    path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    """Corrected region (a RadGenome path); None when unchanged."""
    node: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """The node ``path`` ends at; None when unchanged."""
    mask_wrong: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    adjudication: Mapped[bool] = mapped_column(Boolean, default=False)
    """An admin's decision settling a disagreement (not a read)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    replaced_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    """Set when the same reader decided the item again."""


class ReviewerStats(Base):
    """One reviewer's counters (only that reviewer's own requests write the row)."""

    __tablename__ = "reviewer_stats"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    decided: Mapped[int] = mapped_column(Integer, default=0)
    """Items whose current decision by this reviewer stands (reads)."""
    decisions: Mapped[int] = mapped_column(Integer, default=0)
    """Decision rows stored (undone and replaced ones included)."""
    adjudications: Mapped[int] = mapped_column(Integer, default=0)
    """Adjudications that stand."""


# --------------------------------------------------------------------------------------------- engine
def default_db_url(out: Path) -> str:
    return f"sqlite:///{(Path(out) / 'review.sqlite').resolve()}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _private_sqlite_file(url: str) -> None:
    """Create a new SQLite store file readable by its owner only (0600): it holds names, tokens' hashes and
    every decision. An existing file keeps its permissions."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=32,
                           max_overflow=16)

    @event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _record: Any) -> None:
        conn.isolation_level = None  # the driver's own BEGIN handling off: we emit BEGIN below
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class Store:
    """Engines and session factories: :meth:`read` for consistent reads, :meth:`write` for serialised writes.

    ``clock`` gives the current UTC time (naive); tests replace it to move leases and sessions forward without
    waiting.
    """

    def __init__(self, url: str, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.url = url
        self.clock = clock
        self.sqlite = is_sqlite(url)
        if self.sqlite:
            _private_sqlite_file(url)
            self.engine = _sqlite_engine(url, "BEGIN")
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
        else:
            self.engine = create_engine(url, pool_size=32, max_overflow=16, pool_pre_ping=True)
            self.write_engine = self.engine
        Base.metadata.create_all(self.write_engine)
        self._write_lock: Any = threading.Lock() if self.sqlite else _NoLock()
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    def now(self) -> dt.datetime:
        return self.clock()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closing it ends the transaction (objects stay usable, detached)."""
        with self._read() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed at the end of the block (rolled back on an exception).

        On SQLite the process's writers also queue on a lock before ``BEGIN IMMEDIATE``: SQLite admits one writer
        at a time anyway, and waiting on a lock is first come, first served, where SQLite's busy handler would
        poll with growing sleeps (long tails under 20 concurrent reviewers). Other processes still wait through
        the busy timeout.
        """
        with self._write_lock, self._write() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()


# ---------------------------------------------------------------------------------------------- users
def hash_token(token: str) -> str:
    """SHA-256 of a login or session token (both are 256-bit random strings, so a fast hash is enough)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(store: Store, name: str, role: str = "reviewer") -> str:
    """Create ``name`` (or give it a new token, ending every session of the old one); returns the login token.

    Only the token's hash is stored.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    name = name.strip()
    if not name or len(name) > 64:
        raise ValueError("user name must be 1-64 characters")
    token = secrets.token_urlsafe(32)
    with store.write() as s:
        user = s.scalars(select(User).where(User.name == name)).first()
        if user is None:
            user = User(name=name, role=role, token_hash=hash_token(token), created_at=store.now())
            s.add(user)
            s.flush()
            s.add(ReviewerStats(user_id=user.id))
        else:
            user.role = role
            user.token_hash = hash_token(token)
            s.execute(update(SessionRow).where(SessionRow.user_id == user.id, SessionRow.revoked_at.is_(None))
                      .values(revoked_at=store.now()))
    return token


def user_by_token(s: Session, token: str) -> User | None:
    return s.scalars(select(User).where(User.token_hash == hash_token(token))).first()
