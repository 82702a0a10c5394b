"""Request bodies, validated strictly, and a validation-error answer that never echoes the input.

Strict models: booleans are booleans and integers integers (``1e999``, ``NaN`` or ``"true"`` are refused),
unknown fields are refused, and text must be well-formed Unicode without control characters other than tab and
line breaks (a lone surrogate or a NUL byte would fail later in the database or in the JSON answer). Every
refusal is a 422 whose body lists where and why, without the offending value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ID_PATTERN = r"^[0-9a-f]{16}$"
KEY_PATTERN = r"^[A-Za-z0-9_\-]+$"
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def clean_text(value: str) -> str:
    """``value`` if it is well-formed text; ValueError naming the problem otherwise."""
    for ch in value:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError("text contains a lone surrogate (not valid Unicode)")
        if (code < 0x20 and ch not in _ALLOWED_CONTROLS) or code == 0x7F:
            raise ValueError(f"text contains the control character U+{code:04X}")
    return value


Text = Annotated[str, AfterValidator(clean_text)]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class LoginBody(Strict):
    token: Annotated[Text, Field(min_length=1, max_length=256)]


class ClaimBody(Strict):
    limit: Annotated[int, Field(ge=0, le=100)] = 20
    """Items to take; 0 only renews the caller's leases."""
    split: Annotated[Text, Field(max_length=64)] | None = None
    kind: Annotated[Text, Field(max_length=64)] | None = None
    region: Annotated[Text, Field(max_length=64)] | None = None
    flagged: bool | None = None


class DecisionBody(Strict):
    item_id: Annotated[str, Field(pattern=ID_PATTERN)]
    key: Annotated[str, Field(min_length=8, max_length=64, pattern=KEY_PATTERN)]
    verdict: Literal["accept", "reject", "correct"]
    text: Annotated[Text, Field(max_length=4000)] | None = None
    path: Annotated[Text, Field(max_length=512)] | None = None
    """Corrected region as a RadGenome path."""
    mask_wrong: bool = False
    comment: Annotated[Text, Field(max_length=4000)] = ""


class UndoBody(Strict):
    decision_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with ``loc``, ``msg`` and ``type`` of each error (no ``input``: it may be non-finite or not UTF-8)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)
