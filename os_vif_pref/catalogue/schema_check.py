"""The JSON Schema of a catalogue file, and its errors as readable messages.

A compiled validator (fastjsonschema) for the common, valid case; the
jsonschema library, imported only for a file the fast one refused, to say
where and why.  Named ``schema_check`` so that ``catalogue.schema`` stays
the function that returns the schema.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import importlib.resources
import itertools
import json
from typing import TYPE_CHECKING, Any

import fastjsonschema

from os_vif_pref import exceptions
from os_vif_pref.exceptions import excerpt

if TYPE_CHECKING:
    import jsonschema

from os_vif_pref.catalogue.parse import MAX_ERRORS_PER_FILE, _Doc

# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------

@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a catalogue file (``catalogue schema`` prints it)."""
    text = importlib.resources.files("os_vif_pref").joinpath(
        "schema", "catalogue-v1.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _fast_validator() -> Callable[[Any], Any]:
    return fastjsonschema.compile(schema())


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    # Only for files the compiled validator refused: ~50 ms of import
    # that a valid catalogue never pays.
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def _schema_reason(error: jsonschema.ValidationError, doc: _Doc) -> str:
    at = tuple(error.absolute_path)
    doc.marks  # noqa: B018 - fills doc.raw (the text of plain scalars)
    raw = doc.raw.get(at)
    if error.validator == "type" and raw is not None and not isinstance(
            error.instance, str) and "string" in str(error.validator_value):
        quoted = f": \"{raw}\"" if len(raw) <= 60 else ""
        return (f"unquoted {excerpt(raw)} is read by YAML as "
                f"{type(error.instance).__name__} "
                f"{excerpt(error.instance)}; write it in quotes{quoted}")
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(
            error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
        return (f"unknown field(s) {', '.join(map(excerpt, extra[:10]))}"
                f"{more} (allowed: {allowed})")
    if error.validator == "pattern" and raw is not None:
        return (f"{excerpt(error.instance)} does not match "
                f"{error.validator_value!r}")
    # jsonschema quotes the whole value (for a list of entries: all of
    # them); quote an excerpt instead.
    return error.message.replace(repr(error.instance),
                                 excerpt(error.instance))


def _best_match(error: jsonschema.ValidationError) -> Any:
    import jsonschema

    return jsonschema.exceptions.best_match([error])


def _schema_errors(doc: _Doc) -> list[exceptions.CatalogueError]:
    """Schema errors; the compiled validator clears valid files quickly.

    fastjsonschema stops at the first error and says little, so an invalid
    file is checked again by jsonschema for every error, with positions.
    """
    try:
        _fast_validator()(doc.data)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    out = []
    # One more than is reported: load() then says there were more.
    found = itertools.islice(_validator().iter_errors(doc.data),
                             MAX_ERRORS_PER_FILE + 1)
    for error in sorted(found,
                        key=lambda e: [str(p) for p in e.absolute_path]):
        # oneOf/anyOf: report the most specific sub-error.
        best = _best_match(error)
        at = tuple(best.absolute_path)
        out.append(doc.error(at, _schema_reason(best, doc)))
    return out
