"""What the explorer's API accepts: each request body is a small pydantic model (unknown keys,
non-finite numbers and oversized lists refused), read with a size cap; anything wrong becomes a
`BadRequest` with a status and one line saying what to fix."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from aelab.vocabulary import INTERPOLATION_METHODS, LATENT_MAP_METHODS, SAMPLER_CHOICES

MAX_JSON_BODY = 64 * 1024
MAX_UPLOAD = 8 * 1024 * 1024
MAX_BATCH = 256  # codes decoded by one request
MAX_LATENT = 4096


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


Label = Optional[Annotated[str, Field(min_length=1, max_length=64)]]  # a conditional model's: its label
Vector = Annotated[list[float], Field(min_length=1, max_length=MAX_LATENT)]


class DecodeBody(_Body):
    points: Optional[Annotated[list[tuple[float, float]], Field(min_length=1, max_length=MAX_BATCH)]] = None
    codes: Optional[Annotated[list[Vector], Field(min_length=1, max_length=MAX_BATCH)]] = None
    indices: Optional[Annotated[list[int], Field(min_length=1, max_length=MAX_BATCH)]] = None
    method: Literal[LATENT_MAP_METHODS] = "auto"  # type: ignore[valid-type]
    label: Label = None


class InterpolateBody(_Body):
    a: Annotated[str, Field(min_length=1, max_length=64)]
    b: Annotated[str, Field(min_length=1, max_length=64)]
    method: Literal[INTERPOLATION_METHODS] = "linear"  # type: ignore[valid-type]
    steps: Annotated[int, Field(ge=2, le=64)] = 11
    t: Optional[Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=1, max_length=MAX_BATCH)]] = None
    label: Label = None


class SampleBody(_Body):
    n: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 16
    temperature: Annotated[float, Field(gt=0, le=10)] = 1.0
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    sampler: Literal[SAMPLER_CHOICES] = "auto"  # type: ignore[valid-type]
    label: Label = None


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes (before reading it when the length is declared)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "the Content-Length header is not a number")
        if int(declared) > limit:
            raise BadRequest(413, f"the request body is {int(declared)} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse(request: Request, model: type[_Body]) -> _Body:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest(415, "send the request body as JSON (Content-Type: application/json)")
    body = await read_body(request, MAX_JSON_BODY)
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as e:
        raise BadRequest(422, one_line(e, model)) from None


def one_line(error: ValidationError, model: type[_Body]) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the body"
    message = first["msg"]
    if first["type"] == "json_invalid":
        return f"the body is not valid JSON ({first.get('ctx', {}).get('error', message)})"
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}'; this request takes {', '.join(model.model_fields)}"
    more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
    return f"{where}: {message}{more}"


def query_int_list(request: Request, name: str, limit: int = MAX_BATCH) -> list[int]:
    raw = request.query_params.get(name, "")
    parts = [p for p in raw.split(",") if p.strip()]
    if not parts:
        raise BadRequest(400, f"give ?{name}= one or more test-set indices separated by commas")
    if len(parts) > limit:
        raise BadRequest(413, f"?{name}= lists {len(parts)} indices; at most {limit} per request")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise BadRequest(400, f"?{name}= must be whole numbers separated by commas, e.g. 0,5,12") from None


def query_int(request: Request, name: str, default: int | None = None, high: int = 10**9) -> int:
    """A whole number from 0 to `high` in ?name=; `default` when it is absent (required if None)."""
    raw = request.query_params.get(name)
    if raw is None and default is not None:
        return default
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > high:
        raise BadRequest(400, f"?{name}= must be a whole number from 0 to {high}")
    return int(raw)
