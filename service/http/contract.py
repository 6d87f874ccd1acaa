"""Contract binding: `openapi.yaml` drives the routes and the request validation.

Each operation of the spec is bound by its operationId to one handler; the request's
body, query string, path parameters and declared headers are validated with the spec's
own schemas (no second hand-written copy). A test fails when the spec and the handlers
drift apart (`unbound_operations`, `unknown_handlers`). Every `pattern` means what ECMA-262
says in both validators (`service.http.ecma_pattern`): a spec whose pattern cannot is refused.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes

import jsonschema_rs
import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..errors import ApiError, InvalidJson, InvalidRequest, ValidationFailed
from .ecma_pattern import PatternError, ecma_regex

SPEC_URI = "urn:rakubun:openapi"
# `service/openapi.yaml` links to the repository's root `openapi.yaml`; a wheel ships a copy.
SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
#: The extension next to an operation's `security` that rate-limits it without
#: authentication; its one value, `per-client`, counts calls per client address.
RATE_LIMIT_KEY = "x-rate-limit"
RATE_LIMIT_PER_CLIENT = "per-client"

#: Whether a value is valid, answered by a compiled validator (jsonschema-rs): a quick yes
#: for the valid requests, which are almost all of them.
IsValid = Callable[[Any], bool]


def _never(_value: Any) -> bool:
    return False


def _ecma_pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterable[ValidationError]:
    """JSON Schema's `pattern`, read as ECMA-262 (jsonschema reads it as Python's `re`)."""
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _ecma_pattern_properties(
    validator: Validator, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterable[ValidationError]:
    """JSON Schema's `patternProperties`, its patterns read as ECMA-262."""
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if ecma_regex(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


#: Draft 2020-12 with the spec's patterns read as ECMA-262, as the compiled validator reads them.
SpecValidator = validators.extend(
    Draft202012Validator,
    {"pattern": _ecma_pattern, "patternProperties": _ecma_pattern_properties},
)


def spec_patterns(node: Any) -> list[str]:
    """Every regular expression of a spec (`pattern` values, `patternProperties` keys)."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                found.append(item["pattern"])
            if isinstance(item.get("patternProperties"), dict):
                found.extend(item["patternProperties"])
            stack.extend(item.values())
    return found


#: libyaml's loader when it is compiled in: the spec parses in a fraction of the time.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=8)
def _load_shared(path: Path, mtime_ns: int) -> Contract:
    """One Contract per file version: every app (and test) binds the same spec, and building
    the validators is the slow part of starting an app."""
    with open(path, encoding="utf-8") as fh:
        contract = Contract(yaml.load(fh, Loader=_YAML_LOADER))
    contract.operations  # noqa: B018 - build the validators now, once
    return contract


def _pointer(*parts: str) -> str:
    return "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in parts)


class SpecError(ValueError):
    """The spec says something the service cannot bind to (raised when it is loaded)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # query | path | header
    required: bool
    schema: dict[str, Any]
    validator: Validator
    is_valid: IsValid = _never


@dataclass(frozen=True)
class Operation:
    """One operation of the spec, ready to validate requests."""

    operation_id: str
    method: str
    path: str
    security: str  # public | plugin | admin | stripe
    parameters: tuple[Parameter, ...]
    body_required: bool
    body_validator: Validator | None
    response_validators: dict[str, Validator] = field(default_factory=dict)
    #: The media types documented per status (empty: an answer without a body, such as 304).
    response_media: dict[str, frozenset[str]] = field(default_factory=dict)
    body_is_valid: IsValid = _never
    #: `x-rate-limit: per-client`: a public operation counted against the client's address.
    rate_limited_per_client: bool = False

    @property
    def sanic_uri(self) -> str:
        """`/api/v1/instances/{instance_id}` as Sanic writes it: `<instance_id>`."""
        return re.sub(r"{([^}]+)}", r"<\1>", self.path)

    def matches(self, path: str) -> bool:
        """Whether a request path is this operation's path (any value in each parameter)."""
        literals = re.split(r"{[^}]+}", self.path)
        return re.fullmatch("[^/]+".join(map(re.escape, literals)), path) is not None

    def validate_parameters(
        self, query: dict[str, str], path: dict[str, str], headers: Any
    ) -> dict[str, Any]:
        """Coerce query strings to their schema's type and validate every declared parameter."""
        values: dict[str, Any] = {}
        missing = []
        sources: dict[str, Mapping[str, str]] = {"query": query, "path": path, "header": headers}
        for p in self.parameters:
            raw = sources[p.location].get(p.name)
            if raw is None:
                if p.required:
                    missing.append(p.name)
                default = p.schema.get("default")
                if default is not None:
                    values[p.name] = default
                continue
            value = coerce(raw, p.schema)
            if p.is_valid(value):
                values[p.name] = value
                continue
            error = best_match(p.validator.iter_errors(value))
            if error is not None:
                raise ValidationFailed(f"{p.location}.{p.name}: {_describe(error)}")
            values[p.name] = value
        if missing:
            raise missing_fields(missing)
        return values

    def validate_body(self, body: Any) -> None:
        """Every missing required field at once (`invalid_request`), else the most relevant
        schema error (`validation_error`)."""
        if self.body_validator is None or self.body_is_valid(body):
            return
        # Invalid (or a case the compiled validator doubts): the messages come from here.
        errors = list(self.body_validator.iter_errors(body))
        missing = _missing_required(errors)
        if missing:
            raise missing_fields(missing)
        error = best_match(errors)
        if error is not None:
            where = ".".join(str(x) for x in error.absolute_path)
            raise ValidationFailed(f"body{'.' + where if where else ''}: {_describe(error)}")

    def response_errors(self, status: int, body: Any) -> list[str]:
        """Where an answer breaks the spec (used by tests and VALIDATE_RESPONSES)."""
        validator = self.response_validators.get(str(status))
        if validator is None:
            return [f"status {status} is not documented for {self.operation_id}"]
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(body)
        ]

    def media_errors(self, status: int, content_type: str | None, body: bytes) -> list[str]:
        """Where a whole answer (not a JSON reply) breaks the spec: its status and media type."""
        media = self.response_media.get(str(status))
        if media is None:
            return [f"status {status} is not documented for {self.operation_id}"]
        if not media:
            return [] if not body else [f"status {status} has no body in the spec"]
        answered = (content_type or "").split(";", 1)[0].strip().lower()
        if answered not in media:
            return [f"{answered or 'no media type'} is not documented for status {status}"]
        if answered == "application/json":
            return self.response_errors(status, json.loads(body))
        return []


def missing_fields(names: list[str]) -> ApiError:
    """The seed's answer to a request without some required fields: all of them, named."""
    return InvalidRequest("Missing required fields: " + ", ".join(names))


def _missing_required(errors: list[ValidationError]) -> list[str]:
    """The required fields absent from the shallowest object that lacks some, in the schema's
    `required` order (nested ones as `parent.field`)."""
    found = [e for e in errors if e.validator == "required" and isinstance(e.instance, dict)]
    if not found:
        return []
    first = min(found, key=lambda e: len(e.absolute_path))
    prefix = "".join(f"{part}." for part in first.absolute_path)
    names: list[str] = []
    for error in found:
        if error.absolute_path != first.absolute_path:
            continue
        names += [
            prefix + str(name)
            for name in error.validator_value
            if name not in error.instance and prefix + str(name) not in names
        ]
    return names


def _describe(error: ValidationError) -> str:
    if error.validator == "not":
        return "contains a field that cannot be set here"
    if error.validator == "required":
        return error.message.replace("'", "")
    message = error.message
    return message if len(message) <= 200 else message[:200] + "..."


#: The spellings a query value may give a number in: JSON's (ASCII digits only; Python's
#: `int` and `float` also read `٣`, `1_0`, ` 1 `, `nan` and `inf`).
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][+-]?[0-9]+)?")


def coerce(raw: str, schema: dict[str, Any]) -> Any:
    """Query and path values arrive as strings; turn them into the type the schema wants
    (a value that does not spell one stays a string, which the schema then refuses)."""
    kind = schema.get("type")
    if kind == "integer" and _INTEGER.fullmatch(raw):
        return int(raw)
    if kind == "number" and _NUMBER.fullmatch(raw) and math.isfinite(float(raw)):
        return float(raw)
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


class Contract:
    """The parsed spec: operations by id, each with its validators."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self.compiled_registry = jsonschema_rs.Registry([(SPEC_URI, spec)])
        for pattern in spec_patterns(spec):
            try:
                ecma_regex(pattern)
            except PatternError as exc:
                raise SpecError(str(exc)) from exc

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> Contract:
        """The contract of the spec at `path`, shared while the file is unchanged.

        Treat it as read-only; build `Contract(spec)` from a copy to experiment.
        """
        path = Path(path).resolve()
        return _load_shared(path, path.stat().st_mtime_ns)

    def _validator(self, *pointer_parts: str) -> Validator:
        ref = {"$ref": f"{SPEC_URI}#/{_pointer(*pointer_parts)}"}
        return SpecValidator(ref, registry=self.registry)

    def _is_valid(self, *pointer_parts: str) -> IsValid:
        """The compiled validator of the same schema. It only ever says yes to skip the
        Python validator: a no (or a value it cannot take) goes through `_validator`'s path,
        which writes the messages and has the last word."""
        ref = {"$ref": f"{SPEC_URI}#/{_pointer(*pointer_parts)}"}
        compiled = jsonschema_rs.Draft202012Validator(
            ref, registry=self.compiled_registry, validate_formats=False
        )

        def is_valid(value: Any) -> bool:
            try:
                return compiled.is_valid(value)
            except (ValueError, TypeError, OverflowError):
                return False

        return is_valid

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            target: Any = self.spec
            for part in parts:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    @cached_property
    def operations(self) -> dict[str, Operation]:
        ops: dict[str, Operation] = {}
        for path, item in self.spec["paths"].items():
            shared = item.get("parameters", [])
            for method in HTTP_METHODS:
                op = item.get(method)
                if op is None:
                    continue
                ops[op["operationId"]] = self._operation(path, method, op, shared)
        return ops

    def _operation(
        self, path: str, method: str, op: dict[str, Any], shared: list[dict[str, Any]]
    ) -> Operation:
        params = []
        own = op.get("parameters", [])
        located: list[tuple[dict[str, Any], tuple[str, ...]]] = [
            (raw, ("paths", path, "parameters", str(i))) for i, raw in enumerate(shared)
        ]
        located += [
            (raw, ("paths", path, method, "parameters", str(i))) for i, raw in enumerate(own)
        ]
        for raw, where in located:
            param = self._resolve(raw)
            if "$ref" in raw:
                where = tuple(raw["$ref"].lstrip("#/").split("/"))
            params.append(
                Parameter(
                    param["name"],
                    param["in"],
                    bool(param.get("required")),
                    self._resolve(param["schema"]),
                    self._validator(*where, "schema"),
                    self._is_valid(*where, "schema"),
                )
            )
        body = op.get("requestBody")
        body_validator = None
        body_is_valid: IsValid = _never
        if body is not None:
            where = ("paths", path, method, "requestBody", "content", "application/json", "schema")
            body_validator = self._validator(*where)
            body_is_valid = self._is_valid(*where)
        responses = {}
        media = {}
        for status, response in op.get("responses", {}).items():
            resolved = self._resolve(response)
            media[status] = frozenset(resolved.get("content", {}))
            if "application/json" in resolved.get("content", {}):
                if "$ref" in response:
                    parts = response["$ref"].lstrip("#/").split("/")
                else:
                    parts = ["paths", path, method, "responses", status]
                responses[status] = self._validator(*parts, "content", "application/json", "schema")
        security = _security(op)
        return Operation(
            op["operationId"],
            method.upper(),
            path,
            security,
            tuple(params),
            bool(body and body.get("required")),
            body_validator,
            responses,
            media,
            body_is_valid,
            rate_limited_per_client=_rate_limited_per_client(op, security),
        )

    def allowed_methods(self, path: str) -> list[str]:
        """The methods the spec declares for a request path (for `Allow` on a 405)."""
        return sorted({op.method for op in self.operations.values() if op.matches(path)})

    def unbound_operations(self, handlers: Iterable[str]) -> set[str]:
        return set(self.operations) - set(handlers)

    def unknown_handlers(self, handlers: Iterable[str]) -> set[str]:
        return set(handlers) - set(self.operations)


def _security(op: dict[str, Any]) -> str:
    requirements = op.get("security", [])
    if not requirements:
        return "public"
    names = set().union(*(set(r) for r in requirements))
    if "adminBearer" in names:
        return "admin"
    if "stripeSignature" in names:
        return "stripe"
    return "plugin"


def _rate_limited_per_client(op: dict[str, Any], security: str) -> bool:
    """Whether the spec marks `op` `x-rate-limit: per-client`; any other use of the key is
    refused, so a typo cannot leave an operation unlimited."""
    if RATE_LIMIT_KEY not in op:
        return False
    name, value = op.get("operationId"), op[RATE_LIMIT_KEY]
    if value != RATE_LIMIT_PER_CLIENT:
        raise SpecError(f"{name}: {RATE_LIMIT_KEY} must be {RATE_LIMIT_PER_CLIENT}, not {value!r}")
    if security != "public":
        raise SpecError(f"{name}: {RATE_LIMIT_KEY} is for public operations (`security: []`)")
    if "429" not in op.get("responses", {}):
        raise SpecError(f"{name}: {RATE_LIMIT_KEY} needs its 429 answer documented")
    return True


#: No request the plugin or an admin sends nests deeper; deeper bodies only exhaust the stack.
MAX_JSON_DEPTH = 32


def parse_json_body(raw: bytes) -> Any:
    """Decode a JSON body or raise the envelope's `invalid_json` (also for `NaN`, `Infinity`,
    `-Infinity` and a number past a float's range, which Python's json reads as floats that
    no JSON can carry on); a string that is not Unicode text (a lone surrogate escape such as
    `"\\ud800"`, which Python's json accepts) raises `invalid_request` naming where it is."""
    try:
        # What json.loads(raw, ...) does, with one decoder made once instead of per call.
        body = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except NotAJsonNumber as exc:
        raise InvalidJson(f"{InvalidJson.message}: {exc}") from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJson() from exc
    _check_tree(body, MAX_JSON_DEPTH)
    return body


class NotAJsonNumber(ValueError):
    """A number RFC 8259 has no spelling for, met while decoding."""


def _not_a_json_number(name: str) -> Any:
    raise NotAJsonNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotAJsonNumber(f"{text[:40]} is past the range of a number")
    return value


_DECODER = json.JSONDecoder(parse_constant=_not_a_json_number, parse_float=_finite_float)


def _check_tree(value: Any, limit: int) -> None:
    """Depth and text of every key and string, iteratively, so a deep body cannot exhaust
    the stack either."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if not is_text(node):
                raise not_text(".".join(("body", *where)))
            continue
        if isinstance(node, dict):
            children = [(child, (*where, key)) for key, child in node.items()]
            for key in node:
                if not is_text(key):
                    raise not_text(".".join(("body", *where)) + " (a key)")
        elif isinstance(node, list):
            children = [(child, (*where, str(i))) for i, child in enumerate(node)]
        else:
            continue
        if len(where) >= limit:
            raise InvalidJson(f"The body nests deeper than {limit} levels")
        stack.extend(children)


# ---------------------------------------------------------------- text the request carries
#: What UTF-8 cannot encode: the surrogates, which a str holds only alone.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def is_text(value: str) -> bool:
    """Whether `value` is Unicode text: no lone surrogate (a JSON escape like \\ud800, or a
    header byte that was not UTF-8, which Sanic keeps as a surrogate escape)."""
    # isascii() first: it answers for almost every value without a scan.
    return value.isascii() or _LONE_SURROGATE.search(value) is None


def not_text(where: str) -> ApiError:
    return InvalidRequest(f"{where}: not valid UTF-8 / Unicode text")


def check_header_text(headers: Mapping[str, str]) -> None:
    """Every header value must be UTF-8 text; Sanic hands other bytes on as surrogate escapes,
    which break hashing, logging and the store further on."""
    for name, value in headers.items():
        if not is_text(value):
            raise not_text(f"header {name}")


def check_path_text(raw_path: str) -> None:
    """The path, percent-decoded, must be UTF-8: Sanic would hand its parameters on with
    U+FFFD in place of the bytes."""
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_text("path") from exc


#: Query strings up to this long are remembered once parsed (a plugin asks the same
#: `?user_id=...&user_email=...` again and again), and parsing it is a visible share of a
#: read's CPU (`python -m bench --only credits` measures reads).
CACHED_QUERY_LENGTH = 512


def parse_query(query_string: str) -> dict[str, str]:
    """The query's parameters (the first of a repeated one), strictly UTF-8 after
    percent-decoding: a byte that is not UTF-8 is refused, never replaced with U+FFFD.
    The caller owns the dict it gets."""
    if len(query_string) <= CACHED_QUERY_LENGTH:
        return dict(_parsed_query(query_string))
    return _parse_query(query_string)


@functools.lru_cache(maxsize=4096)
def _parsed_query(query_string: str) -> dict[str, str]:
    """`_parse_query`, remembered (a refused query raises every time: nothing is kept)."""
    return _parse_query(query_string)


def _parse_query(query_string: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise not_text("query") from exc
    query: dict[str, str] = {}
    for name, value in pairs:
        if not (is_text(name) and is_text(value)):
            raise not_text("query")
        query.setdefault(name, value)
    return query
