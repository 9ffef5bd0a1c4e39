#!/usr/bin/python3
"""compat_cross_protocol: the Kafka protocol and the native protocol see the same records.

Asserts: records kcat produces (keys, null and empty keys, binary values, headers with duplicates,
CreateTime stamps) are read by `sluice consume --format json` over the native port byte-exact, at
the same partitions, offsets and timestamps kcat itself reads; and records `sluice produce` writes
(same kinds of content, headers, stamps in the run's window) are read by kcat byte-exact with the
same partitions, offsets and timestamps the native consumer reports, as CreateTime.
"""

import json

import kcat_tools as kc
from harness import check, expect_records, main, record

KCAT_TOPIC = "xp-from-kcat"
SLUICE_TOPIC = "xp-from-sluice"
KCAT_P0 = [
    (b"key-0", b"plain"),
    (b"key-1", b"bytes \x00\x01\x7f\x80\xfe\xff and utf-8 \xc3\xbc\xe2\x9c\x93"),
    (None, b"null key"),
    (b"", b"empty key"),
    (b"key-4", b""),
    (b"key-\xff\x00", b"tab\tquote\"backslash\\newline\n"),
]
KCAT_P1 = [(b"p1-%d" % i, b"v" * (i * 1000)) for i in range(5)]
KCAT_HEADERS = [("trace", "abc"), ("dup", "1"), ("dup", "2"), ("empty", "")]
# One record per line for `sluice produce --key-separator US`: no newlines inside.
SLUICE_LINES = [
    b"s-0" + kc.US + b"plain",
    b"s-1" + kc.US + b"bytes \x00\x01\x7f\x80\xfe\xff utf-8 \xc3\xbc\xe2\x9c\x93 tab\t\"q\"\\",
    b"no separator: null key",
    kc.US + b"empty key",
    b"s-4" + kc.US,
    b"s-5" + kc.US + b"second" + kc.US + b"separator stays in the value",
]
SLUICE_HEADERS = [("origin", "sluice"), ("dup", "a"), ("dup", "b"), ("empty", "")]


def split_line(line):
    key, sep, value = line.partition(kc.US)
    return (key, value) if sep else (None, line)


def json_bytes(s):
    """`sluice consume --format json` escapes every byte >= 0x7f as \\u00XX (one per byte) and
    never writes other non-ASCII characters, so Latin-1 maps the decoded string back to bytes."""
    return None if s is None else s.encode("latin-1")


def sluice_consume(sc, native, topic, count):
    _, out, err = sc.run([sc.sluice, "--bootstrap", native, "consume", topic, "--from-beginning",
                          "--max-messages", str(count), "--timeout-ms", "15000",
                          "--format", "json"], 40, "sluice consume %s" % topic)
    recs = []
    for line in out.decode("ascii").splitlines():
        j = json.loads(line)
        check(j["topic"] == topic, "sluice consume printed topic %r, expected %r"
              % (j["topic"], topic))
        headers = [(json_bytes(h).decode("utf-8"), json_bytes(v)) for h, v in j["headers"]]
        recs.append(record(j["partition"], j["offset"], json_bytes(j["key"]),
                           json_bytes(j["value"]), headers, j["timestamp"]))
    return recs


def body(sc):
    broker = sc.broker()
    native, kafka = broker.native, broker.kafka
    sc.run([sc.sluice, "--bootstrap", native, "topic", "create", KCAT_TOPIC, "--partitions", "2"],
           30, "sluice topic create %s" % KCAT_TOPIC)
    sc.run([sc.sluice, "--bootstrap", native, "topic", "create", SLUICE_TOPIC, "--partitions", "1"],
           30, "sluice topic create %s" % SLUICE_TOPIC)

    sc.step("kcat produces, sluice consume reads")
    w0 = kc.produce(sc, kafka, KCAT_TOPIC, 0, KCAT_P0, KCAT_HEADERS)
    w1 = kc.produce(sc, kafka, KCAT_TOPIC, 1, KCAT_P1, KCAT_HEADERS)
    n = len(KCAT_P0) + len(KCAT_P1)
    by_kcat = kc.consume(sc, kafka, KCAT_TOPIC, n + 1, what="kcat -C %s" % KCAT_TOPIC)
    kc.check_window([r for r in by_kcat if r["partition"] == 0], w0, "kcat -C partition 0")
    kc.check_window([r for r in by_kcat if r["partition"] == 1], w1, "kcat -C partition 1")
    stamps = {(r["partition"], r["offset"]): r["timestamp"] for r in by_kcat}
    want = [record(p, i, k, v, KCAT_HEADERS, stamps.get((p, i), -1))
            for p, recs in ((0, KCAT_P0), (1, KCAT_P1)) for i, (k, v) in enumerate(recs)]
    expect_records(by_kcat, want, "kcat reading what kcat produced")
    by_native = sluice_consume(sc, native, KCAT_TOPIC, n)
    expect_records(by_native, want, "sluice consume (native) reading what kcat produced")

    sc.step("sluice produce writes, kcat reads")
    before = kc.now_ms()
    args = [sc.sluice, "--bootstrap", native, "produce", SLUICE_TOPIC, "--key-separator",
            kc.US.decode(), "--acks", "-1"]
    for h, v in SLUICE_HEADERS:
        args += ["--header", "%s=%s" % (h, v)]
    sc.run(args, 40, "sluice produce %s" % SLUICE_TOPIC, stdin=b"\n".join(SLUICE_LINES) + b"\n")
    after = kc.now_ms()
    by_native = sluice_consume(sc, native, SLUICE_TOPIC, len(SLUICE_LINES))
    kc.check_window(by_native, (before, after), "sluice consume %s" % SLUICE_TOPIC)
    stamps = {(r["partition"], r["offset"]): r["timestamp"] for r in by_native}
    want = [record(0, i, *split_line(line), SLUICE_HEADERS, stamps.get((0, i), -1))
            for i, line in enumerate(SLUICE_LINES)]
    expect_records(by_native, want, "sluice consume reading what sluice produce wrote")
    by_kcat = kc.consume(sc, kafka, SLUICE_TOPIC, len(want) + 1, what="kcat -C %s" % SLUICE_TOPIC)
    expect_records(by_kcat, want, "kcat reading what sluice produce wrote", ordered=True)
    _, out, _ = sc.run([kc.kcat_binary(), "-C", "-b", kafka, "-t", SLUICE_TOPIC, "-o", "beginning",
                        "-e", "-c", str(len(want) + 1), "-m", "10", "-J"], 40, "kcat -C -J")
    types = [json.loads(line)["tstype"] for line in out.decode("utf-8", "replace").splitlines()]
    check(types == ["create"] * len(want), "kcat -J timestamp types %r, expected all 'create'"
          % types)


if __name__ == "__main__":
    main("cross_protocol", body, budget=120)
