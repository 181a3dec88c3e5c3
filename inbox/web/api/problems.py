"""Every refusal the JSON API gives, in one shape: problem details (RFC 9457).

A refused request is answered `application/problem+json` with `type`, `title`, `status`, `detail`
and `instance`; a refusal of malformed input adds `errors`, one entry per field (`loc`, `msg`,
`type`). The app's exception handlers (`inbox.web.app`) build these answers with `refusal` and
`invalid_input`; the routers declare them in the OpenAPI document with `problems(...)`, and
`with_problem_schema` puts the `Problem` schema into that document once.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

MEDIA_TYPE = "application/problem+json"
_REF = "#/components/schemas/{model}"


class FieldError(BaseModel):
    """One malformed field: where it is (`["query", "limit"]`), what is wrong, the error's kind."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Why a request was refused (RFC 9457)."""

    type: str = Field(default="about:blank", description="`about:blank`: the status says it all")
    title: str = Field(description="The status's phrase, e.g. `Not Found`")
    status: int
    detail: str = Field(description="What was wrong with this request, in a sentence")
    instance: str = Field(description="The path that was asked for")
    errors: list[FieldError] | None = Field(
        default=None, description="Malformed input (422): each field and what is wrong with it"
    )


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


# What each declared status means for this API; the document says it once per operation.
_MEANINGS: Mapping[int, str] = {
    400: "A query parameter the list does not know (a status, a filter, a cursor)",
    401: "No valid API token",
    403: "The token's role may not do this, or the object is outside its units",
    404: "No such object among those the token may see",
    409: "The request conflicts with the object's state",
    410: "The object was removed by retention",
    413: "The request body is larger than the limit",
    422: "Malformed or refused input; `errors` names each malformed field",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for these refusals, each a `Problem`."""
    schema = {"$ref": _REF.format(model="Problem")}
    return {
        status: {"description": _MEANINGS[status], "content": {MEDIA_TYPE: {"schema": schema}}}
        for status in statuses
    }


# Every API operation checks a token (401, 403), refuses unstorable or malformed input (422) and
# bodies over the limit (413): declared once, on each router.
EVERY_OPERATION = problems(401, 403, 413, 422)


def refusal(
    request: Request,
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> ProblemResponse:
    body = Problem(
        title=_title(status),
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=[FieldError.model_validate(e) for e in errors] if errors is not None else None,
    )
    return ProblemResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=dict(headers or {})
    )


def invalid_input(request: Request, errors: Iterable[Any]) -> ProblemResponse:
    """422 for input FastAPI (or `inbox.web.inputs`) found malformed, each field in `errors`."""
    found = [_field_error(e) for e in jsonable_encoder(list(errors))]
    first = found[0] if found else {"loc": [], "msg": "invalid input"}
    detail = f"{'.'.join(str(p) for p in first['loc']) or 'input'}: {first['msg']}"
    if len(found) > 1:
        detail += f" (and {len(found) - 1} more)"
    return refusal(request, 422, detail, errors=found)


def _field_error(error: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "loc": list(error.get("loc", [])),
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "value_error")),
    }


def _title(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def with_problem_schema(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` with the `Problem` schema in its components, for `problems(...)` to name."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = FastAPI.openapi(app)  # FastAPI's own, kept as `app.openapi_schema`
        _, defs = models_json_schema([(Problem, "serialization")], ref_template=_REF)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs.get("$defs", {}))
        return document

    return openapi
