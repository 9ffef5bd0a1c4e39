"""The schema model of kafka_codegen.py: reads and checks broker/kafka/schema/*.json.

load(dir) returns every Message (its root Struct, Fields, version Ranges) and the APIs by key;
any inconsistency raises SchemaError naming the file and field. The format is described in
broker/kafka/schema/README.md.
"""

import json
import os
import re

MAX_VERSION = 0x7FFF

# type -> (C++ type, Reader/Writer method, encoded size)
PRIMITIVES = {
    "int8": ("int8_t", "Int8", 1),
    "int16": ("int16_t", "Int16", 2),
    "int32": ("int32_t", "Int32", 4),
    "int64": ("int64_t", "Int64", 8),
    "uint16": ("uint16_t", "Uint16", 2),
    "float64": ("double", "Float64", 8),
    "bool": ("bool", "Bool", 1),
}
INT_RANGES = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
# Element types an array may hold besides structs.
ARRAY_ELEMENTS = set(PRIMITIVES) | {"string", "bytes", "uuid"}
# Names the generated code uses in message scope; a nested struct must not hide them.
RESERVED_TYPES = {"Reader", "Writer", "Records", "Uuid", "ApiInfo"}
CPP_KEYWORDS = set("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register reinterpret_cast requires return
short signed sizeof static static_assert static_cast struct switch template this thread_local
throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
xor xor_eq""".split())
# Parameters and locals of the generated Decode/Encode: a field may not take their names.
GENERATED_LOCALS = {"r", "w", "t", "n", "v", "i", "e", "tag", "size", "num_tagged", "version"}

MESSAGE_KEYS = {"name", "type", "apiKey", "versions", "flexible", "fields", "comment"}
FIELD_KEYS = {"name", "type", "versions", "nullable", "tag", "tagged", "default", "fields",
              "comment"}


class SchemaError(Exception):
    pass


class Range:
    """An inclusive version range; `open` if written "N+" (then hi is the message's max)."""

    def __init__(self, lo, hi, open_ended=False):
        self.lo, self.hi, self.open = lo, hi, open_ended

    @staticmethod
    def parse(text, where):
        m = re.fullmatch(r"(\d+)(\+|-(\d+))?", str(text).strip())
        if not m:
            raise SchemaError(f"{where}: bad version range {text!r}")
        lo = int(m.group(1))
        hi = MAX_VERSION if m.group(2) == "+" else int(m.group(3) or lo)
        if hi < lo or hi > MAX_VERSION:
            raise SchemaError(f"{where}: empty version range {text!r}")
        return Range(lo, hi, m.group(2) == "+")

    def contains(self, v):
        return self.lo <= v <= self.hi

    def within(self, other):
        return other.lo <= self.lo and self.hi <= other.hi

    def intersect(self, other):
        lo, hi = max(self.lo, other.lo), min(self.hi, other.hi)
        return Range(lo, hi) if lo <= hi else None

    def __str__(self):
        if self.open:
            return f"v{self.lo}+"
        return f"v{self.lo}" if self.lo == self.hi else f"v{self.lo}-{self.hi}"


def snake_case(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()
    return s + "_" if s in CPP_KEYWORDS or s in GENERATED_LOCALS else s


def cpp_string(s, where):
    if not all(" " <= c <= "~" for c in s):
        raise SchemaError(f"{where}: defaults must be printable ASCII")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Field:
    def __init__(self, msg, spec, parent):
        if not isinstance(spec, dict) or "name" not in spec:
            raise SchemaError(f"{msg.file}: {parent.qual}: a field without a name")
        self.name = spec["name"]
        self.path = f"{parent.qual}.{self.name}"  # for messages: ProduceRequest::X.Name
        self.where = f"{msg.file}: {self.path}"
        unknown = set(spec) - FIELD_KEYS
        if unknown:
            raise SchemaError(f"{self.where}: unknown keys {sorted(unknown)}")
        for key in ("type", "versions"):
            if key not in spec:
                raise SchemaError(f"{self.where}: missing {key!r}")
        self.cname = snake_case(self.name)
        self.comment = spec.get("comment")
        self.versions = msg.field_range(spec["versions"], self.where)
        self.nullable = None
        if "nullable" in spec:
            self.nullable = msg.field_range(spec["nullable"], self.where)
            if not self.nullable.within(self.versions):
                raise SchemaError(f"{self.where}: nullable versions outside the field's")
        self.tag = spec.get("tag")
        self.tagged = msg.field_range(spec["tagged"], self.where) if "tagged" in spec else None
        if (self.tag is None) != (self.tagged is None):
            raise SchemaError(f"{self.where}: 'tag' and 'tagged' go together")
        if self.tagged is not None:
            if not isinstance(self.tag, int) or self.tag < 0:
                raise SchemaError(f"{self.where}: bad tag {self.tag!r}")
            if not self.tagged.within(self.versions) or self.tagged.lo < msg.first_flexible:
                raise SchemaError(f"{self.where}: tagged versions must be flexible field versions")
            if self.tagged.hi != self.versions.hi:
                raise SchemaError(f"{self.where}: a field must stay tagged once it is tagged")
        # Versions where the field is in the fixed part of the body.
        self.regular = self.versions
        if self.tagged is not None:
            self.regular = (Range(self.versions.lo, self.tagged.lo - 1)
                            if self.tagged.lo > self.versions.lo else None)

        t = spec["type"]
        self.is_array = t.startswith("[]")
        base = t[2:] if self.is_array else t
        self.struct = None
        if base in PRIMITIVES or base in ("string", "bytes", "records", "uuid"):
            self.base = base
            if "fields" in spec:
                raise SchemaError(f"{self.where}: a {base} has no fields")
        elif re.fullmatch(r"[A-Z][A-Za-z0-9]*", base):
            self.base = "struct"
            if "fields" not in spec:
                raise SchemaError(f"{self.where}: struct type {base} needs 'fields'")
            self.struct = Struct(msg, base, spec["fields"], parent)
        else:
            raise SchemaError(f"{self.where}: unknown type {t!r}")
        if self.is_array and self.base not in ARRAY_ELEMENTS and self.base != "struct":
            raise SchemaError(f"{self.where}: arrays of {self.base} are not supported")
        self.kind = "array" if self.is_array else self.base
        if self.nullable and self.kind not in ("string", "bytes", "records", "array"):
            raise SchemaError(f"{self.where}: a {self.kind} cannot be nullable")
        if self.tagged and self.kind == "records":
            raise SchemaError(f"{self.where}: tagged records are not supported")
        self.optional = self.nullable is not None and self.kind != "records"
        self.default = spec.get("default", ...)
        self.check_default()

    def check_default(self):
        d = self.default
        if d is ...:
            return
        if d is None:
            if not self.nullable:
                raise SchemaError(f"{self.where}: default null needs a nullable field")
            return
        ok = False
        if self.kind in INT_RANGES or self.kind == "uint16":
            ok = isinstance(d, int) and not isinstance(d, bool)
            bits = INT_RANGES.get(self.kind)
            if ok and bits is not None:
                ok = -(1 << (bits - 1)) <= d < (1 << (bits - 1))
            elif ok:
                ok = 0 <= d <= 0xFFFF
        elif self.kind == "bool":
            ok = isinstance(d, bool)
        elif self.kind == "float64":
            ok = isinstance(d, (int, float)) and not isinstance(d, bool)
        elif self.kind in ("string", "bytes"):
            ok = isinstance(d, str)
        if not ok:
            raise SchemaError(f"{self.where}: bad default {d!r} for a {self.kind}")

    def cpp_type(self):
        if self.is_array:
            elem = self.struct.name if self.struct else element_cpp_type(self.base)
            t = f"std::vector<{elem}>"
        elif self.kind == "struct":
            t = self.struct.name
        else:
            t = element_cpp_type(self.base)
        return f"std::optional<{t}>" if self.optional else t

    def scalar_default(self):
        """The C++ literal of a primitive field's default."""
        d = self.default
        if d is ...:
            d = False if self.kind == "bool" else 0
        return scalar_literal(self.kind, d)

    def default_literal(self):
        """The initializer after the member (with '=' or braces), or ''."""
        d = self.default
        if self.kind in PRIMITIVES:
            return " = " + self.scalar_default()
        if self.kind == "uuid":
            return "{}"
        if self.kind in ("string", "bytes") and isinstance(d, str) and d:
            return " = " + cpp_string(d, self.where)
        if self.kind in ("string", "bytes") and self.optional and d == "":
            return ' = ""'
        return ""

    def differs_from_default(self, x):
        d = self.default
        if self.kind == "bool":
            return f"!{x}" if d is True else x
        if self.kind in PRIMITIVES:
            return f"{x} != {self.scalar_default()}"
        if self.kind == "uuid":
            return f"{x} != Uuid{{}}"
        if self.kind == "struct":
            return f"!({x} == {self.struct.name}{{}})"
        if self.optional:
            if isinstance(d, str):
                return f"{x} != {cpp_string(d, self.where)}"
            return f"{x}.has_value()"
        if self.kind in ("string", "bytes") and isinstance(d, str) and d:
            return f"{x} != {cpp_string(d, self.where)}"
        return f"!{x}.empty()"


def element_cpp_type(base):
    if base in PRIMITIVES:
        return PRIMITIVES[base][0]
    return {"string": "std::string", "bytes": "std::string", "records": "Records",
            "uuid": "Uuid"}[base]


def scalar_literal(kind, d):
    if kind == "bool":
        return "true" if d else "false"
    if kind == "float64":
        return repr(float(d))
    bits = INT_RANGES.get(kind)
    if bits is not None and d == -(1 << (bits - 1)):
        return f"std::numeric_limits<{PRIMITIVES[kind][0]}>::min()"
    return str(d)


class Struct:
    def __init__(self, msg, name, specs, parent):
        self.msg = msg
        self.name = name
        self.parent = parent
        self.qual = f"{parent.qual}::{name}" if parent else name
        where = f"{msg.file}: {self.qual}"
        scope = self
        while scope is not None:
            if scope.name == name and scope is not self:
                raise SchemaError(f"{where}: struct {name} has the name of an enclosing struct")
            scope = scope.parent
        if name in RESERVED_TYPES:
            raise SchemaError(f"{where}: struct name {name} is reserved")
        if not isinstance(specs, list):
            raise SchemaError(f"{where}: 'fields' must be a list")
        self.fields = [Field(msg, s, self) for s in specs]
        seen_names, seen_types, seen_tags = set(), set(), set()
        for f in self.fields:
            if f.cname in seen_names:
                raise SchemaError(f"{f.where}: duplicate field name")
            seen_names.add(f.cname)
            if f.struct:
                if f.struct.name in seen_types:
                    raise SchemaError(f"{f.where}: duplicate struct name {f.struct.name}")
                seen_types.add(f.struct.name)
            if f.tag is not None:
                if f.tag in seen_tags:
                    raise SchemaError(f"{f.where}: duplicate tag {f.tag}")
                seen_tags.add(f.tag)
        self.tagged_fields = sorted((f for f in self.fields if f.tag is not None),
                                    key=lambda f: f.tag)

    def all_structs(self):
        yield self
        for f in self.fields:
            if f.struct:
                yield from f.struct.all_structs()


class Message:
    def __init__(self, spec, path):
        where = self.file = os.path.basename(path)
        if not isinstance(spec, dict):
            raise SchemaError(f"{where}: not a JSON object")
        unknown = set(spec) - MESSAGE_KEYS
        if unknown:
            raise SchemaError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("name", "type", "apiKey", "versions", "flexible", "fields"):
            if key not in spec:
                raise SchemaError(f"{where}: missing {key!r}")
        self.name = spec["name"]
        self.kind = spec["type"]
        if self.kind not in ("request", "response"):
            raise SchemaError(f"{where}: type must be request or response")
        suffix = self.kind.capitalize()
        if not self.name.endswith(suffix) or where != self.name + ".json":
            raise SchemaError(f"{where}: a {self.kind} is named <Api>{suffix}, in <name>.json")
        self.api = self.name[: -len(suffix)]
        self.api_key = spec["apiKey"]
        self.comment = spec.get("comment")
        self.versions = Range.parse(spec["versions"], where)
        if self.versions.open:
            raise SchemaError(f"{where}: give the message's max version explicitly")
        if not isinstance(self.api_key, int) or not 0 <= self.api_key <= MAX_VERSION:
            raise SchemaError(f"{where}: bad apiKey {self.api_key!r}")
        flexible = spec["flexible"]
        if flexible == "none":
            self.first_flexible = MAX_VERSION
        else:
            r = Range.parse(flexible, where)
            if r.hi != MAX_VERSION:
                raise SchemaError(f"{where}: flexible versions are open-ended ('N+')")
            self.first_flexible = r.lo
        self.root = Struct(self, self.name, spec["fields"], None)

    def field_range(self, text, where):
        """A field's version range, "N+" meaning up to the message's max."""
        r = Range.parse(text, where)
        if r.open:
            r.hi = self.versions.hi
        if r.lo > r.hi or not r.within(self.versions):
            raise SchemaError(f"{where}: versions {text!r} outside the message's")
        return r

    def is_flexible(self, v):
        return v >= self.first_flexible

    def cond(self, r, ctx=None):
        """A C++ condition selecting versions r among versions ctx (default: the message's);
        '' if r covers ctx."""
        ctx = ctx or self.versions
        lo = r.lo if r.lo > ctx.lo else None
        hi = r.hi if r.hi < ctx.hi else None
        if lo is not None and lo == hi:
            return f"version == {lo}"
        parts = []
        if lo is not None:
            parts.append(f"version >= {lo}")
        if hi is not None:
            parts.append(f"version <= {hi}")
        return " && ".join(parts)

    def flexible_range(self):
        return Range(self.first_flexible, MAX_VERSION).intersect(self.versions)


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise ValueError(f"duplicate keys {dups}")
    return dict(pairs)


def load(schema_dir):
    messages = []
    for fn in sorted(os.listdir(schema_dir)):
        if not fn.endswith(".json"):
            continue
        path = os.path.join(schema_dir, fn)
        try:
            with open(path, encoding="utf-8") as fh:
                spec = json.load(fh, object_pairs_hook=no_duplicate_keys)
        except (OSError, ValueError) as e:
            raise SchemaError(f"{fn}: {e}") from e
        messages.append(Message(spec, path))
    if not messages:
        raise SchemaError(f"no *.json schema in {schema_dir}")
    apis = {}
    for m in messages:
        apis.setdefault(m.api_key, {})
        if m.kind in apis[m.api_key]:
            raise SchemaError(f"{m.name}: a second {m.kind} for api key {m.api_key}")
        apis[m.api_key][m.kind] = m
    for key, pair in sorted(apis.items()):
        if set(pair) != {"request", "response"}:
            raise SchemaError(f"api key {key}: needs both a request and a response")
        q, p = pair["request"], pair["response"]
        if (q.api, q.versions.lo, q.versions.hi, q.first_flexible) != (
                p.api, p.versions.lo, p.versions.hi, p.first_flexible):
            raise SchemaError(f"{q.name} and {p.name} disagree on name or versions")
    return messages, apis
