#!/usr/bin/env python3
"""Generate ``src/berth/models.py`` from berth's OpenAPI document.

    berth serve --openapi > clients/python/openapi.json
    python3 clients/python/scripts/generate_models.py            # write models.py
    python3 clients/python/scripts/generate_models.py --check    # fail if it would change

Every schema in ``components.schemas`` becomes a frozen dataclass (or, for a string enum, a
``Literal`` alias) with a ``from_json`` class method that builds it, nested models included, from
what the API answers. Unknown fields are ignored, so a client keeps working against a newer
server; a missing required field is an error naming the model and the field.

The generator is written for the shapes berth's document uses (utoipa, OpenAPI 3.1): objects
with properties, ``allOf`` (serde's ``flatten``), ``$ref``, arrays and tuples (``prefixItems``), ``type: [T, "null"]`` and
``oneOf`` with ``null`` for optional values, string enums, free-form objects. Anything else
stops it with the schema's name, so a new shape is handled on purpose, not guessed.
"""

from __future__ import annotations

import argparse
import difflib
import json
import keyword
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DEFAULT_DOC = HERE / "openapi.json"
DEFAULT_OUT = HERE / "src" / "berth" / "models.py"

SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


class Unsupported(Exception):
    pass


def ref_name(ref: str) -> str:
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise Unsupported(f"reference {ref!r} outside components.schemas")
    return ref[len(prefix):]


def py_name(name: str) -> str:
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if ident[:1].isdigit():
        ident = "_" + ident
    return ident + "_" if keyword.iskeyword(ident) else ident


class Gen:
    def __init__(self, doc: dict) -> None:
        self.schemas: dict = doc.get("components", {}).get("schemas", {})
        self.enums: set[str] = {n for n, s in self.schemas.items() if is_string_enum(s)}

    # --- types -----------------------------------------------------------------------------

    def nullable(self, schema: dict) -> tuple[dict, bool]:
        """The schema without its `null` alternative, and whether it had one."""
        t = schema.get("type")
        if isinstance(t, list) and "null" in t:
            rest = [x for x in t if x != "null"]
            s = dict(schema)
            s["type"] = rest[0] if len(rest) == 1 else rest
            return s, True
        for key in ("oneOf", "anyOf"):
            alts = schema.get(key)
            if alts and any(a.get("type") == "null" for a in alts):
                rest = [a for a in alts if a.get("type") != "null"]
                if len(rest) == 1:
                    return rest[0], True
        return schema, False

    def annotation(self, schema: dict, ctx: str) -> str:
        schema, null = self.nullable(schema)
        ann = self.bare_annotation(schema, ctx)
        return f"Optional[{ann}]" if null else ann

    def bare_annotation(self, schema: dict, ctx: str) -> str:
        if "$ref" in schema:
            return py_name(ref_name(schema["$ref"]))
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self.annotation(schema["allOf"][0], ctx)
        t = schema.get("type")
        if isinstance(t, list):
            return "Any"
        if t in SCALARS:
            if "enum" in schema:
                return "Literal[" + ", ".join(json.dumps(v) for v in schema["enum"]) + "]"
            return SCALARS[t]
        if t == "array" and "prefixItems" in schema:
            parts = ", ".join(self.annotation(p, ctx) for p in schema["prefixItems"])
            return f"Tuple[{parts}]"
        if t == "array":
            return f"List[{self.annotation(schema.get('items', {}), ctx)}]"
        if t == "object" or t is None:
            if schema.get("properties"):
                raise Unsupported(f"{ctx}: an inline object with properties (give it a name in the API)")
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"Dict[str, {self.annotation(extra, ctx)}]"
            return "Dict[str, Any]" if t == "object" else "Any"
        raise Unsupported(f"{ctx}: schema type {t!r}")

    def converter(self, schema: dict, expr: str, ctx: str) -> str:
        """An expression turning the JSON value `expr` into the annotated type."""
        schema, null = self.nullable(schema)
        conv = self.bare_converter(schema, expr, ctx)
        if null and conv != expr:
            return f"(None if {expr} is None else {conv})"
        return conv

    def bare_converter(self, schema: dict, expr: str, ctx: str) -> str:
        if "$ref" in schema:
            name = ref_name(schema["$ref"])
            return expr if name in self.enums else f"{py_name(name)}.from_json({expr})"
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self.converter(schema["allOf"][0], expr, ctx)
        if schema.get("type") == "array" and "prefixItems" in schema:
            return f"tuple({expr})"
        if schema.get("type") == "array":
            inner = self.converter(schema.get("items", {}), "x", ctx)
            return expr if inner == "x" else f"[{inner} for x in {expr}]"
        extra = schema.get("additionalProperties")
        if schema.get("type") == "object" and isinstance(extra, dict) and extra:
            inner = self.converter(extra, "v", ctx)
            return expr if inner == "v" else f"{{k: {inner} for k, v in {expr}.items()}}"
        return expr

    # --- models ----------------------------------------------------------------------------

    def fields(self, name: str, schema: dict) -> list[tuple[str, dict, bool, str]]:
        """(json name, schema, required, description) of an object, `allOf` parts merged."""
        out: list[tuple[str, dict, bool, str]] = []
        parts = schema["allOf"] if "allOf" in schema else [schema]
        for part in parts:
            if "$ref" in part:
                target = ref_name(part["$ref"])
                out.extend(self.fields(target, self.schemas[target]))
                continue
            if part.get("type", "object") != "object":
                raise Unsupported(f"{name}: an allOf part of type {part.get('type')!r}")
            required = set(part.get("required", []))
            for prop, ps in part.get("properties", {}).items():
                out.append((prop, ps, prop in required, (ps.get("description") or "").strip()))
        seen: dict[str, int] = {}
        merged: list[tuple[str, dict, bool, str]] = []
        for f in out:
            if f[0] in seen:
                merged[seen[f[0]]] = f
            else:
                seen[f[0]] = len(merged)
                merged.append(f)
        return merged

    def model(self, name: str, schema: dict) -> str:
        desc = (schema.get("description") or name).strip()
        cls = py_name(name)
        if name in self.enums:
            values = ", ".join(json.dumps(v) for v in schema["enum"])
            return f"{doc_comment(desc)}\n{cls} = Literal[{values}]\n"
        fields = self.fields(name, schema)
        lines = ["@dataclass(frozen=True)", f"class {cls}:", indent_doc(desc, 4)]
        ordered = [f for f in fields if f[2]] + [f for f in fields if not f[2]]
        for prop, ps, required, fdesc in ordered:
            ann = self.annotation(ps, f"{name}.{prop}")
            if not required and not ann.startswith("Optional["):
                ann = f"Optional[{ann}]"
            line = f"    {py_name(prop)}: {ann}" + ("" if required else " = None")
            lines.append(line)
            if fdesc:
                lines.append(indent_doc(fdesc, 4))
        if not ordered:
            lines.append("    pass")
        lines.append("")
        lines.append("    @classmethod")
        lines.append(f"    def from_json(cls, data: Mapping[str, Any]) -> \"{cls}\":")
        lines.append(f"        \"\"\"Builds a `{cls}` from the API's JSON (unknown fields are ignored).\"\"\"")
        lines.append(f"        _expect_object(data, {name!r})")
        args = []
        for prop, ps, required, _ in ordered:
            if required:
                lines.append(f"        _require(data, {name!r}, {prop!r})")
                args.append(f"            {py_name(prop)}={self.converter(ps, f'data[{prop!r}]', name)},")
            else:
                conv = self.converter(self.nullable(ps)[0], "v", name)
                if conv == "v":
                    args.append(f"            {py_name(prop)}=data.get({prop!r}),")
                else:
                    args.append(f"            {py_name(prop)}=_opt(data.get({prop!r}), lambda v: {conv}),")
        lines.append("        return cls(")
        lines.extend(args)
        lines.append("        )")
        return "\n".join(lines) + "\n"

    def module(self, title: str, version: str) -> str:
        head = f'''"""Models of berth's REST API, generated from its OpenAPI document ({title} {version}).

Do not edit: run ``python3 clients/python/scripts/generate_models.py`` after
``berth serve --openapi > clients/python/openapi.json``. CI fails when the two drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Tuple


def _expect_object(data: Any, model: str) -> None:
    if not isinstance(data, Mapping):
        raise TypeError(f"{{model}}: expected a JSON object, got {{type(data).__name__}}")


def _require(data: Mapping[str, Any], model: str, field: str) -> None:
    if field not in data:
        raise KeyError(f"{{model}}: the required field `{{field}}` is missing")


def _opt(value: Any, convert: Callable[[Any], Any]) -> Any:
    return None if value is None else convert(value)

'''
        order = sorted(self.schemas, key=lambda n: (n not in self.enums, n))
        body = "\n\n".join(self.model(n, self.schemas[n]) for n in order)
        names = ", ".join(json.dumps(py_name(n)) for n in order)
        return head + "\n" + body + f"\n\n__all__ = [{names}]\n"


def is_string_enum(schema: dict) -> bool:
    return schema.get("type") == "string" and "enum" in schema


def doc_comment(text: str) -> str:
    return "\n".join("# " + line if line else "#" for line in text.splitlines())


def indent_doc(text: str, n: int) -> str:
    pad = " " * n
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.splitlines() or [""]
    if len(lines) == 1:
        return f'{pad}"""{lines[0]}"""'
    return f'{pad}"""' + lines[0] + "\n" + "\n".join(pad + line if line else "" for line in lines[1:]) + f'\n{pad}"""'


def generate(doc: dict) -> str:
    info = doc.get("info", {})
    return Gen(doc).module(info.get("title", "berth"), info.get("version", ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="the OpenAPI document (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the module to write (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="only check that the module is up to date")
    args = ap.parse_args()
    try:
        doc = json.loads(args.doc.read_text())
    except (OSError, ValueError) as e:
        print(f"generate_models.py: error: cannot read {args.doc}: {e}", file=sys.stderr)
        return 2
    try:
        text = generate(doc)
    except Unsupported as e:
        print(f"generate_models.py: error: {e}", file=sys.stderr)
        return 2
    current = args.out.read_text() if args.out.exists() else ""
    if args.check:
        if current != text:
            diff = difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(args.out), "generated")
            sys.stderr.writelines(list(diff)[:60])
            print(f"generate_models.py: error: {args.out} is not what {args.doc} generates; "
                  "run `python3 clients/python/scripts/generate_models.py`", file=sys.stderr)
            return 1
        return 0
    tmp = args.out.with_suffix(".py.tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
