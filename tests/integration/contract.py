"""The API contract check: every response the integration tests see must match
proto/openapi.yaml.

    from contract import CONTRACT
    CONTRACT.check("GET", "/v1/calls?limit=5", 200, headers, body_bytes)  # or AssertionError

A request is matched to an operation by method and path (query dropped; literal segments
before {templated} ones, so /v1/phone_numbers/available is not /v1/phone_numbers/{id}).
Then: the status must be one the operation documents, the Content-Type one of that
response's media types (no body when it documents none), headers marked required present,
and a JSON body valid against the response schema (JSON Schema Draft 2020-12, $refs
resolved within the whole document). A path no route has must answer an error envelope
(404; 405 with Allow when the path exists with other methods).

Needs PyYAML and jsonschema (Debian: python3-yaml, python3-jsonschema; deploy/local/deps.sh
installs them). Works with jsonschema 4.10 (Debian 12, RefResolver) and newer (referencing).
"""

import json
import os
import re

import jsonschema
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC_PATH = os.path.join(ROOT, "proto", "openapi.yaml")
DOC_URI = "https://voepy.dev/openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# What a path no operation has may answer (router 404/405; the http server's own 400, 408,
# 413 and 431 for malformed requests).
UNROUTED_STATUSES = (400, 404, 405, 408, 413, 431)


def _pointer_escape(s):
    return s.replace("~", "~0").replace("/", "~1")


class Contract:
    """proto/openapi.yaml, loaded once, as a response checker."""

    def __init__(self, path=DOC_PATH):
        with open(path, "rb") as f:
            self.doc = yaml.safe_load(f)
        self._validators = {}
        self._make_resolver()
        self.operations = []  # (method, regex, template, operation pointer)
        for template, item in self.doc.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    ptr = "/paths/%s/%s" % (_pointer_escape(template), method)
                    self.operations.append((method.upper(), self._regex(template), template, ptr))
        # Literal segments win over parameters: fewer parameters first, then longer literals.
        self.operations.sort(key=lambda o: (o[2].count("{"), -len(o[2])))

    # -- $ref resolution -----------------------------------------------------------------
    def _make_resolver(self):
        try:
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012
        except ImportError:
            Registry = None
        if Registry is not None:
            resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
            self._registry = Registry().with_resource(DOC_URI, resource)
            self._resolver = None
        else:  # jsonschema < 4.18
            self._registry = None
            self._resolver = jsonschema.RefResolver(DOC_URI, self.doc)

    def _validator(self, pointer):
        """A Draft 2020-12 validator for the schema at pointer in the document."""
        v = self._validators.get(pointer)
        if v is None:
            schema = {"$ref": "%s#%s" % (DOC_URI, pointer)}
            cls = jsonschema.Draft202012Validator
            if self._registry is not None:
                v = cls(schema, registry=self._registry)
            else:
                v = cls(schema, resolver=self._resolver)
            self._validators[pointer] = v
        return v

    def node(self, pointer):
        """The document's node at a JSON pointer."""
        n = self.doc
        for part in pointer.lstrip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            n = n[int(part)] if isinstance(n, list) else n[part]
        return n

    def deref(self, pointer):
        """Follow local $refs from pointer: (pointer, node) of the target."""
        n = self.node(pointer)
        seen = 0
        while isinstance(n, dict) and "$ref" in n:
            ref = n["$ref"]
            if not ref.startswith("#/") or seen > 16:
                raise AssertionError("contract: unsupported $ref %r at %s" % (ref, pointer))
            pointer = ref[1:]
            n = self.node(pointer)
            seen += 1
        return pointer, n

    # -- matching ------------------------------------------------------------------------
    @staticmethod
    def _regex(template):
        parts = re.split(r"(\{[^}/]+\})", template)
        rx = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile("^%s$" % rx)

    def match(self, method, path):
        """(template, operation pointer) for the request; pointer None when the path exists
        only with other methods; (None, None) when no path matches."""
        path = path.split("?", 1)[0]
        template = None
        for m, rx, tmpl, ptr in self.operations:
            if rx.match(path):
                if m == method.upper():
                    return tmpl, ptr
                template = template or tmpl
        return template, None

    # -- checking ------------------------------------------------------------------------
    def check(self, method, path, status, headers, body):
        """Raise AssertionError unless (status, headers, body) is what the contract allows
        for method and path. headers: a dict with lower-case names; body: bytes."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        where = "%s %s -> %d" % (method.upper(), path, status)
        template, op = self.match(method, path)
        if op is None:
            return self._check_unrouted(where, template, status, headers, body)
        responses = self.node(op).get("responses", {})
        key = str(status)
        if key not in responses:
            raise AssertionError(
                "contract: %s: status %d is not documented for %s %s (documented: %s)\n"
                "body: %s" % (where, status, method.upper(), template,
                              ", ".join(sorted(responses)), _show(body)))
        rptr, response = self.deref("%s/responses/%s" % (op, key))
        self._check_headers(where, rptr, response, headers)
        self._check_body(where, rptr, response, headers, body)

    def _check_unrouted(self, where, template, status, headers, body):
        if status not in UNROUTED_STATUSES:
            raise AssertionError("contract: %s: no documented operation for this request and "
                                 "status %d is not a router/server error" % (where, status))
        if template is not None and status == 404:
            raise AssertionError("contract: %s: the path exists (%s) with other methods: "
                                 "expected 405" % (where, template))
        if status == 405 and "allow" not in headers:
            raise AssertionError("contract: %s: 405 without an Allow header" % where)
        self._validate_json(where, self._error_schema_pointer(status), body)

    def _error_schema_pointer(self, status):
        schemas = self.doc["components"]["schemas"]
        name = "Error%d" % status
        return "/components/schemas/%s" % (name if name in schemas else "ErrorAny")

    def _check_headers(self, where, rptr, response, headers):
        for name, h in (response.get("headers") or {}).items():
            _, h = self.deref("%s/headers/%s" % (rptr, _pointer_escape(name)))
            if h.get("required") and name.lower() not in headers:
                raise AssertionError("contract: %s: required header %s is missing (headers: %s)"
                                     % (where, name, sorted(headers)))

    def _check_body(self, where, rptr, response, headers, body):
        content = response.get("content") or {}
        ctype = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if not content:
            if body:
                raise AssertionError("contract: %s: the contract documents no body, got %s"
                                     % (where, _show(body)))
            return
        if ctype not in content:
            raise AssertionError("contract: %s: Content-Type %r is not documented (expected %s)"
                                 % (where, ctype, " or ".join(sorted(content))))
        if ctype == "application/json":
            self._validate_json(where, "%s/content/%s/schema"
                                % (rptr, _pointer_escape(ctype)), body)

    def _validate_json(self, where, schema_ptr, body):
        try:
            value = json.loads(body) if body else None
        except ValueError as e:
            raise AssertionError("contract: %s: the body is not JSON (%s): %s"
                                 % (where, e, _show(body)))
        if schema_ptr.endswith("/ErrorAny"):
            return self._validate_any_error(where, value, body)
        errors = sorted(self._validator(schema_ptr).iter_errors(value),
                        key=lambda e: (list(e.absolute_path), e.message))
        if errors:
            raise AssertionError(_report(where, schema_ptr, errors, value))

    def _validate_any_error(self, where, value, body):
        code_enum = self.doc["components"]["schemas"]["ErrorCode"]["enum"]
        ok = (isinstance(value, dict) and set(value) == {"error"}
              and isinstance(value["error"], dict)
              and value["error"].get("code") in code_enum
              and isinstance(value["error"].get("message"), str))
        if not ok:
            raise AssertionError("contract: %s: not an error envelope with a known code: %s"
                                 % (where, _show(body)))


def _show(body, limit=2000):
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = body if body is not None else ""
    return body if len(body) <= limit else body[:limit] + "...(%d bytes)" % len(body)


def _report(where, schema_ptr, errors, value):
    lines = ["contract: %s: the body does not match %s:" % (where, schema_ptr)]
    for e in errors[:20]:
        at = "/".join(str(p) for p in e.absolute_path) or "(root)"
        lines.append("  at %s: %s" % (at, e.message))
        lines.append("      (schema: %s)" % "/".join(str(p) for p in e.absolute_schema_path))
    if len(errors) > 20:
        lines.append("  ... and %d more" % (len(errors) - 20))
    lines.append("body:\n" + _show(json.dumps(value, indent=2)))
    return "\n".join(lines)


_contract = None


def contract():
    """The contract, loaded on first use."""
    global _contract
    if _contract is None:
        _contract = Contract()
    return _contract
