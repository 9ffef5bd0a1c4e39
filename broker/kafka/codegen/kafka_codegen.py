#!/usr/bin/env python3
"""Generates the Kafka message structs from our schema files.

    kafka_codegen.py --schema-dir broker/kafka/schema --out-dir build/gen/broker/kafka

reads every *.json in the schema dir (format: broker/kafka/schema/README.md) and writes
kafka_messages.h and kafka_messages.cc (namespace sluice::broker::kafka::msg): one struct per
message with Decode(Reader&, version) / Encode(Writer&, version) const over broker/kafka/wire.h,
plus the AllApis() table; and kafka_messages_testing.h (kafka_testing_gen.py) for the tests.
The schema model and its checks are in kafka_schema.py. Runs at build time: Python >= 3.9,
standard library only.

Every version-dependent choice (is the field present, compact, nullable, tagged) is resolved here
as far as possible: a field's versions are cut into pieces where nothing changes, and each piece
gets straight-line code under one `if (version ...)`.
"""

import argparse
import os
import sys
import textwrap

from kafka_schema import PRIMITIVES, Range, SchemaError, load
from kafka_testing_gen import generate_testing

# ---------------------------------------------------------------------------- code emission


def indent(lines, n=1):
    return ["  " * n + line if line else line for line in lines]


def pieces(msg, f, r, compact_matters, nullable_matters):
    """Cuts versions r of field f where its encoding changes: [(Range, compact, nullable)]."""
    cuts = {r.lo, r.hi + 1}
    if compact_matters:
        cuts.add(msg.first_flexible)
    if nullable_matters and f.nullable:
        cuts |= {f.nullable.lo, f.nullable.hi + 1}
    cuts = sorted(c for c in cuts if r.lo <= c <= r.hi + 1)
    return [(Range(a, b - 1), msg.is_flexible(a), bool(f.nullable and f.nullable.contains(a)))
            for a, b in zip(cuts, cuts[1:])]


def chain(msg, blocks, scoped, ctx=None):
    """if / else-if / else over ascending, adjacent version ranges, among versions ctx (default:
    the message's). `scoped`: the blocks declare locals."""
    if len(blocks) == 1 and not msg.cond(blocks[0][0], ctx):
        lines = blocks[0][1]
        return ["{"] + indent(lines) + ["}"] if scoped else lines
    covers = not msg.cond(Range(blocks[0][0].lo, blocks[-1][0].hi), ctx)
    out = []
    for i, (r, lines) in enumerate(blocks):
        if i == 0:
            out.append(f"if ({msg.cond(r, ctx)}) {{")
        elif i == len(blocks) - 1 and covers:
            out.append("} else {")
        else:
            out.append(f"}} else if ({msg.cond(r, ctx)}) {{")
        out += indent(lines)
    return out + ["}"]


def min_size(msg, f, v):
    """The fewest bytes field f can take at version v (for array length checks)."""
    compact = msg.is_flexible(v)
    if f.kind in PRIMITIVES:
        return PRIMITIVES[f.kind][2]
    if f.kind == "uuid":
        return 16
    if f.kind == "struct":
        return struct_min_size(msg, f.struct, v)
    if f.kind == "string":
        return 1 if compact else 2
    return 1 if compact else 4  # bytes, records, array


def struct_min_size(msg, s, v):
    n = sum(min_size(msg, f, v) for f in s.fields if f.regular and f.regular.contains(v))
    return n + (1 if msg.is_flexible(v) else 0)


def element_min_size(msg, f, r):
    sizes = []
    for v in range(r.lo, r.hi + 1):
        if f.struct:
            sizes.append(struct_min_size(msg, f.struct, v))
        elif f.base in PRIMITIVES:
            sizes.append(PRIMITIVES[f.base][2])
        elif f.base == "uuid":
            sizes.append(16)
        else:
            sizes.append(1 if msg.is_flexible(v) else (2 if f.base == "string" else 4))
    return max(1, min(sizes))


def str_method(base, compact, nullable):
    return ("Compact" if compact else "") + ("Nullable" if nullable else "") + (
        "String" if base == "string" else "Bytes")


def decode_value(msg, f, x, rd, r, compact, nullable):
    """Lines reading field f (versions r, fixed compact/nullable) from reader `rd` into x."""
    c = "true" if compact else "false"
    what = f'"{f.path}"'
    if f.kind in PRIMITIVES:
        return [f"{x} = {rd}.{PRIMITIVES[f.kind][1]}();"]
    if f.kind == "uuid":
        return [f"{x} = {rd}.ReadUuid();"]
    if f.kind in ("string", "bytes"):
        return [f"{x} = {rd}.{str_method(f.kind, compact, nullable)}();"]
    if f.kind == "records":
        lines = [f"{x} = {rd}.ReadRecords({c});"]
        if not nullable:
            lines.append(f'if ({rd}.ok() && {x}.null) {rd}.Fail("null records in " {what});')
        return lines
    if f.kind == "struct":
        return [f"{x}.Decode({rd}, version);"]
    # An array.
    lines = [f"const int32_t n = {rd}.ArrayLength({c}, {element_min_size(msg, f, r)});"]
    if nullable:
        lines += ["if (n < 0) {", f"  {x}.reset();", "} else {"]
    else:
        lines += ["if (n < 0) {", f'  {rd}.Fail("null array in " {what});', "} else {"]
    if f.optional:
        lines.append(f"  auto& v = {x}.emplace();")
    else:
        lines += [f"  auto& v = {x};", "  v.clear();"]
    lines += [f"  {rd}.ChargeMemory(static_cast<size_t>(n) * sizeof(v[0]));",
              f"  if ({rd}.ok()) v.reserve(static_cast<size_t>(n));",
              f"  for (int32_t i = 0; i < n && {rd}.ok(); ++i) {{"]
    if f.struct:
        lines.append(f"    v.emplace_back().Decode({rd}, version);")
    elif f.base in PRIMITIVES:
        lines.append(f"    v.push_back({rd}.{PRIMITIVES[f.base][1]}());")
    elif f.base == "uuid":
        lines.append(f"    v.push_back({rd}.ReadUuid());")
    else:
        lines.append(f"    v.push_back({rd}.{str_method(f.base, compact, False)}());")
    return lines + ["  }", "}"]


def encode_value(msg, f, x, wr, compact, nullable):
    """Lines writing field f (fixed compact/nullable) to writer `wr`."""
    c = "true" if compact else "false"
    if f.kind in PRIMITIVES:
        return [f"{wr}.{PRIMITIVES[f.kind][1]}({x});"]
    if f.kind == "uuid":
        return [f"{wr}.WriteUuid({x});"]
    if f.kind in ("string", "bytes"):
        value = f"OrEmpty({x})" if f.optional and not nullable else x
        return [f"{wr}.{str_method(f.kind, compact, nullable)}({value});"]
    if f.kind == "records":
        if nullable:
            return [f"{wr}.WriteRecords({x}, {c});"]
        return [f"WriteNonNullRecords({wr}, {x}, {c});"]
    if f.kind == "struct":
        return [f"{x}.Encode({wr}, version);"]
    # An array.
    if f.struct:
        elem = f"e.Encode({wr}, version);"
    elif f.base in PRIMITIVES:
        elem = f"{wr}.{PRIMITIVES[f.base][1]}(e);"
    elif f.base == "uuid":
        elem = f"{wr}.WriteUuid(e);"
    else:
        elem = f"{wr}.{str_method(f.base, compact, False)}(e);"
    if not f.optional:
        return [f"{wr}.ArrayLength(static_cast<int32_t>({x}.size()), {c});",
                f"for (const auto& e : {x}) {elem}"]
    empty = "-1" if nullable else "0"  # a null where null is not allowed is sent empty
    return [f"if (!{x}) {{", f"  {wr}.ArrayLength({empty}, {c});", "} else {",
            f"  {wr}.ArrayLength(static_cast<int32_t>({x}->size()), {c});",
            f"  for (const auto& e : *{x}) {elem}", "}"]


def varies(f):
    """Whether field f's encoding changes at flexible versions."""
    return f.kind in ("string", "bytes", "records", "array")


def field_decode(msg, f):
    if f.regular is None:
        return []
    blocks = [(r, decode_value(msg, f, f.cname, "r", r, compact, nullable))
              for r, compact, nullable in pieces(msg, f, f.regular, varies(f), True)]
    return chain(msg, blocks, scoped=f.kind == "array")


def field_encode(msg, f):
    if f.regular is None:
        return []
    blocks = [(r, encode_value(msg, f, f.cname, "w", compact, nullable))
              for r, compact, nullable in pieces(msg, f, f.regular, varies(f), True)]
    return chain(msg, blocks, scoped=False)


def tagged_decode(msg, s):
    flex = msg.flexible_range()
    if flex is None:
        return []
    if not s.tagged_fields:
        return chain(msg, [(flex, ["SkipTaggedFields(r);"])], scoped=False)
    body = ["const uint32_t num_tagged = r.UnsignedVarint();",
            "for (uint32_t i = 0; i < num_tagged && r.ok(); ++i) {",
            "  const uint32_t tag = r.UnsignedVarint();",
            "  const uint32_t size = r.UnsignedVarint();",
            "  Reader t = r.Sub(size);",
            "  switch (tag) {"]
    for f in s.tagged_fields:
        blocks = [(r, decode_value(msg, f, f.cname, "t", r, True, nullable))
                  for r, _, nullable in pieces(msg, f, f.tagged, False, True)]
        body += [f"    case {f.tag}: {{"] + indent(chain(msg, blocks, True, flex), 3) + [
            "      break;", "    }"]
    body += ["    default:", "      break;  // an unknown tag: skipped", "  }",
             "  if (!t.ok()) r.Fail(t.error());", "}"]
    return chain(msg, [(flex, body)], scoped=True)


def tagged_encode(msg, s):
    flex = msg.flexible_range()
    if flex is None:
        return []
    if not s.tagged_fields:
        return chain(msg, [(flex, ["w.UnsignedVarint(0);"])], scoped=False)
    conds = []
    for f in s.tagged_fields:
        c = msg.cond(f.tagged, flex)
        d = f.differs_from_default(f.cname)
        conds.append(f"({c}) && {d}" if c else d)
    body = ["uint32_t num_tagged = 0;"]
    body += [f"if ({c}) ++num_tagged;" for c in conds]
    body.append("w.UnsignedVarint(num_tagged);")
    for f, c in zip(s.tagged_fields, conds):
        blocks = [(r, encode_value(msg, f, f.cname, "t", True, nullable))
                  for r, _, nullable in pieces(msg, f, f.tagged, False, True)]
        inner = chain(msg, blocks, False, f.tagged)
        body += [f"if ({c}) {{", "  Writer t;"] + indent(inner) + [
            f"  WriteTaggedField(w, {f.tag}, t);", "}"]
    return chain(msg, [(flex, body)], scoped=True)


def field_comment(f):
    notes = [str(f.versions)]
    if f.nullable:
        notes.append(f"nullable {f.nullable}")
    if f.tagged:
        notes.append(f"tag {f.tag} {f.tagged}")
    text = ", ".join(notes)
    return f"{text}; {f.comment}" if f.comment else text


def emit_struct_decl(msg, s, top):
    out = [f"struct {s.name} {{"]
    if top:
        out += [f"  static constexpr int16_t kApiKey = {msg.api_key};",
                f"  static constexpr int16_t kMinVersion = {msg.versions.lo}, "
                f"kMaxVersion = {msg.versions.hi};",
                f"  static constexpr int16_t kFirstFlexibleVersion = {msg.first_flexible};", ""]
    for f in s.fields:
        if f.struct:
            out += indent(emit_struct_decl(msg, f.struct, False))
        out.append(f"  {f.cpp_type()} {f.cname}{f.default_literal()};  // {field_comment(f)}")
    if s.fields:
        out.append("")
    out += ["  bool Decode(Reader& r, int16_t version);",
            "  void Encode(Writer& w, int16_t version) const;",
            f"  bool operator==(const {s.name}&) const = default;",
            "};"]
    return out


def emit_struct_defs(msg, s):
    top = s.parent is None
    dec = [f"bool {s.qual}::Decode(Reader& r, int16_t version) {{"]
    if top:
        dec += ["  if (version < kMinVersion || version > kMaxVersion) {",
                f'    r.Fail("{msg.name} version out of range");',
                "    return false;", "  }"]
    for f in s.fields:
        dec += indent(field_decode(msg, f))
    dec += indent(tagged_decode(msg, s)) + ["  return r.ok();", "}", ""]
    enc = [f"void {s.qual}::Encode(Writer& w, int16_t version) const {{"]
    for f in s.fields:
        enc += indent(field_encode(msg, f))
    enc += indent(tagged_encode(msg, s)) + ["}", ""]
    return dec + enc


HEADER_PRELUDE = """\
// Generated by broker/kafka/codegen/kafka_codegen.py from broker/kafka/schema/*.json.
// Do not edit: change the schema (or the generator) and rebuild.
//
// One struct per Kafka request/response at the versions Sluice supports. Decode() reads a body
// into a default-constructed struct (fields absent at the version keep their defaults; unknown
// tagged fields are skipped) and returns r.ok(); Encode() writes the body at a version (fields
// absent at the version are not sent; a null where the version allows none is sent empty).
// Each field's comment gives its versions.
//
// Example:
//   msg::MetadataRequest req;
//   Reader r(body);
//   if (!req.Decode(r, header.api_version)) return InvalidRequest(r.error());
//   msg::MetadataResponse resp;
//   resp.brokers.push_back({.node_id = 1, .host = "localhost", .port = 9092});
//   Writer w;
//   resp.Encode(w, header.api_version);
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/kafka/wire.h"

namespace sluice::broker::kafka::msg {

// Records compare by content: null-ness, the bytes (data then owned) and the file slices.
bool operator==(const Records& a, const Records& b);

// One API as Sluice supports it (from the request schemas), for ApiVersions and dispatch.
struct ApiInfo {
  int16_t key;
  const char* name;
  int16_t min_version, max_version, first_flexible_version;
};
// Every supported API, by key.
std::span<const ApiInfo> AllApis();
"""

SOURCE_PRELUDE = """\
// Generated by broker/kafka/codegen/kafka_codegen.py from broker/kafka/schema/*.json.
// Do not edit: change the schema (or the generator) and rebuild.
#include "broker/kafka/kafka_messages.h"

#include <string_view>

namespace sluice::broker::kafka::msg {
namespace {

[[maybe_unused]] std::string_view OrEmpty(const std::optional<std::string>& s) {
  return s ? std::string_view(*s) : std::string_view();
}

[[maybe_unused]] void WriteNonNullRecords(Writer& w, const Records& r, bool compact) {
  if (!r.null) {
    w.WriteRecords(r, compact);
  } else {
    w.ArrayLength(0, compact);  // same encoding as an empty records field
  }
}

void SkipTaggedFields(Reader& r) {
  const uint32_t n = r.UnsignedVarint();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.UnsignedVarint();  // tag
    r.Take(r.UnsignedVarint());
  }
}

void WriteTaggedField(Writer& w, uint32_t tag, const Writer& value) {
  w.UnsignedVarint(tag);
  w.UnsignedVarint(static_cast<uint32_t>(value.bytes().size()));
  w.Raw(std::span<const uint8_t>(value.bytes()));
}

std::string_view View(std::span<uint8_t> s) {
  return std::string_view(reinterpret_cast<const char*>(s.data()), s.size());
}

}  // namespace

bool operator==(const Records& a, const Records& b) {
  if (a.null != b.null || a.slices.size() != b.slices.size()) return false;
  if (std::string(View(a.data)) + a.owned != std::string(View(b.data)) + b.owned) return false;
  for (size_t i = 0; i < a.slices.size(); ++i) {
    const auto& x = a.slices[i];
    const auto& y = b.slices[i];
    if (x.segment != y.segment || x.position != y.position || x.size != y.size) return false;
  }
  return true;
}
"""


def generate(messages, apis):
    header = [HEADER_PRELUDE]
    source = [SOURCE_PRELUDE]
    api_rows = []
    for key, pair in sorted(apis.items()):
        q = pair["request"]
        api_rows.append(f'    {{{key}, "{q.api}", {q.versions.lo}, {q.versions.hi}, '
                        f"{q.first_flexible}}},")
    source.append("namespace {\nconstexpr ApiInfo kApis[] = {\n" + "\n".join(api_rows) +
                  "\n};\n}  // namespace\n\nstd::span<const ApiInfo> AllApis() { return kApis; }\n")
    for key, pair in sorted(apis.items()):
        for m in (pair["request"], pair["response"]):
            flex = ("no flexible version" if m.first_flexible > m.versions.hi
                    else f"flexible from v{m.first_flexible}")
            head = (f"{m.api} {m.kind} (api key {key}), v{m.versions.lo}-{m.versions.hi}, "
                    f"{flex}." + (f" {m.comment}" if m.comment else ""))
            header += textwrap.wrap(head, 97, initial_indent="// ", subsequent_indent="// ")
            header.append("\n".join(emit_struct_decl(m, m.root, True)) + "\n")
            source.append(f"// {'-' * 80} {m.name}\n")
            for s in m.root.all_structs():
                source.append("\n".join(emit_struct_defs(m, s)))
    header.append("}  // namespace sluice::broker::kafka::msg\n")
    source.append("}  // namespace sluice::broker::kafka::msg\n")
    return "\n".join(header), "\n".join(source)


def write(path, text):
    # Always written (never skipped when unchanged): the build compares the outputs' times with
    # the schemas'. Written aside and renamed so a failed run leaves no half file.
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args(argv)
    try:
        messages, apis = load(args.schema_dir)
        header, source = generate(messages, apis)
        testing = generate_testing(apis)
    except SchemaError as e:
        print(f"kafka_codegen: {e}", file=sys.stderr)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    write(os.path.join(args.out_dir, "kafka_messages.h"), header)
    write(os.path.join(args.out_dir, "kafka_messages.cc"), source)
    write(os.path.join(args.out_dir, "kafka_messages_testing.h"), testing)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
