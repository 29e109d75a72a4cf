"""The vendored Argo CD API spec (Swagger 2.0) as a JSON Schema validator for canned responses.

A Swagger 2.0 definition is a JSON Schema draft 4 subset plus keys a validator ignores (`x-*`,
`discriminator`, `readOnly`, formats such as int64). Each definition is validated as
`{"$ref": "#/definitions/<name>", "definitions": ...}`, so its `#/definitions/...` refs resolve.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from tests.conftest import REPO_ROOT

SPEC = REPO_ROOT / "schemas" / "argo-cd" / "3.5.1" / "swagger.json"


@cache
def load(path: Path = SPEC) -> dict[str, Any]:
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert spec.get("swagger") == "2.0", f"{path} is not a Swagger 2.0 document"
    return dict(spec)


def validator(definition: str, spec: dict[str, Any] | None = None) -> Draft4Validator:
    definitions = (spec or load())["definitions"]
    if definition not in definitions:
        raise KeyError(f"the spec has no definition {definition}")
    schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions}
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def violations(document: Any, definition: str, spec: dict[str, Any] | None = None) -> list[str]:
    """Each way document breaks the definition, as 'path: message'; empty if it conforms."""
    errors = sorted(validator(definition, spec).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def conforming(document: Any, definition: str) -> Any:
    """document itself, once it is valid against the definition; otherwise the test fails."""
    problems = violations(document, definition)
    assert not problems, f"canned body does not match {definition} in {SPEC.name}: {problems}"
    return document
