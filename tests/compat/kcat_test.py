#!/usr/bin/python3
"""compat_kcat: kcat (librdkafka 2.0.2) produces and consumes against sluiced.

Asserts: records produced with keys (including null and empty keys), binary values and headers
(including duplicates and an empty value) read back byte-exact per partition and in offset order;
the CreateTime stamps lie in each produce run's window and agree between the formatted and the
JSON output; `kcat -L` (text and -J) lists broker 0 at the Kafka port and the topic's 3 partitions
led by it; `kcat -Q` finds offsets by timestamp; a `kcat -G` group reads everything once, commits,
and a second run of the same group reads nothing.
"""

import json
import time

import kcat_tools as kc
from harness import check, expect_records, main, record

TOPIC = "kcat-records"
BIG = bytes(range(256)).replace(kc.RS, b"").replace(kc.US, b"") * 256  # ~64 KiB, every byte
RUN_A = [  # partition 0, first run
    (b"k0-0", b"plain value"),
    (b"k0-1", "utf-8 \u00fcmlaut \u2713 and\ttab".encode()),
    (None, b"no key: delimiter absent"),
    (b"", b"empty key"),
    (b"k0-4", b""),
]
HEADERS_A = [("app", "kcat"), ("dup", "first"), ("dup", "second"), ("empty", "")]
RUN_B = [  # partition 0, second run (later timestamps)
    (b"k0-5", b"binary \x00\x01\xff\xfe end"),
    (b"k0-6", b"colon:inside:value\nand a newline"),
]
HEADERS_B = [("run", "B")]
RUN_P1 = [(b"k1-%d" % i, b"partition one #%d" % i) for i in range(4)]
HEADERS_P1 = [("unicode", "\u00fc\u2713")]
RUN_P2 = [(b"k2-0", BIG), (b"k2-1", b"after the big one")]


def expected(partition, first_offset, records, headers, stamps):
    return [record(partition, first_offset + i, k, v, headers,
                   stamps.get((partition, first_offset + i), -1))
            for i, (k, v) in enumerate(records)]


def body(sc):
    broker = sc.broker(["--num-partitions", "3"])
    kafka = broker.kafka

    sc.step("kcat -P (produce)")
    windows = {}
    windows["A"] = kc.produce(sc, kafka, TOPIC, 0, RUN_A, HEADERS_A)
    time.sleep(0.02)  # run B's stamps strictly later, for the timestamp lookup below
    windows["B"] = kc.produce(sc, kafka, TOPIC, 0, RUN_B, HEADERS_B)
    windows["P1"] = kc.produce(sc, kafka, TOPIC, 1, RUN_P1, HEADERS_P1)
    windows["P2"] = kc.produce(sc, kafka, TOPIC, 2, RUN_P2, [])
    total = len(RUN_A) + len(RUN_B) + len(RUN_P1) + len(RUN_P2)

    sc.step("kcat -C (consume, formatted)")
    got = kc.consume(sc, kafka, TOPIC, total + 1, what="kcat -C -f")
    kc.check_per_partition_order(got, "kcat -C -f")
    by_run = {"A": [r for r in got if r["partition"] == 0 and r["offset"] < len(RUN_A)],
              "B": [r for r in got if r["partition"] == 0 and r["offset"] >= len(RUN_A)],
              "P1": [r for r in got if r["partition"] == 1],
              "P2": [r for r in got if r["partition"] == 2]}
    for run, recs in by_run.items():
        kc.check_window(recs, windows[run], "kcat -C, run %s" % run)
    stamps = {(r["partition"], r["offset"]): r["timestamp"] for r in got}
    want = (expected(0, 0, RUN_A, HEADERS_A, stamps)
            + expected(0, len(RUN_A), RUN_B, HEADERS_B, stamps)
            + expected(1, 0, RUN_P1, HEADERS_P1, stamps) + expected(2, 0, RUN_P2, [], stamps))
    expect_records(got, want, "kcat -C -f (all partitions)")

    sc.step("kcat -C -J (consume, JSON)")
    # The JSON envelope: timestamp type and stamps, headers as a name/value list, and the
    # payloads that are valid UTF-8 (kcat replaces invalid bytes in JSON output).
    _, out, _ = sc.run([kc.kcat_binary(), "-C", "-b", kafka, "-t", TOPIC, "-p", "0", "-o",
                        "beginning", "-e", "-c", "20", "-m", "10", "-J"], 40, "kcat -C -J")
    lines = [json.loads(line) for line in out.decode("utf-8", "replace").splitlines() if line]
    p0 = [r for r in want if r["partition"] == 0]
    check(len(lines) == len(p0), "kcat -C -J read %d records of partition 0, expected %d"
          % (len(lines), len(p0)))
    for j, r in zip(lines, p0):
        what = "kcat -J offset %d" % r["offset"]
        check(j["topic"] == TOPIC and j["partition"] == 0 and j["offset"] == r["offset"],
              "%s: wrong position %r" % (what, j))
        check(j["tstype"] == "create" and j["ts"] == r["timestamp"],
              "%s: timestamp %s/%s, expected create/%d"
              % (what, j["tstype"], j["ts"], r["timestamp"]))
        flat = [x for name, value in r["headers"] for x in (name, value.decode())]
        check(j.get("headers", []) == flat, "%s: headers %r, expected %r"
              % (what, j.get("headers"), flat))
        key = None if r["key"] is None else r["key"].decode()
        check(j["key"] == key, "%s: key %r, expected %r" % (what, j["key"], key))
        if b"\xff" not in r["value"]:
            check(j["payload"] == r["value"].decode(), "%s: payload %r, expected %r"
                  % (what, j["payload"], r["value"]))

    sc.step("kcat -L (metadata)")
    _, out, _ = sc.run([kc.kcat_binary(), "-L", "-J", "-b", kafka, "-t", TOPIC, "-m", "10"], 30,
                       "kcat -L -J")
    md = json.loads(out)
    check(md["brokers"] == [{"id": 0, "name": kafka}],
          "kcat -L -J brokers %r, expected broker 0 at %s" % (md["brokers"], kafka))
    check(md["originating_broker"]["id"] == 0, "kcat -L -J: originating broker %r"
          % md["originating_broker"])
    check(len(md["topics"]) == 1 and md["topics"][0]["topic"] == TOPIC
          and "error" not in md["topics"][0], "kcat -L -J topics: %r" % md["topics"])
    parts = sorted(md["topics"][0]["partitions"], key=lambda p: p["partition"])
    want_parts = [{"partition": i, "leader": 0, "replicas": [{"id": 0}], "isrs": [{"id": 0}]}
                  for i in range(3)]
    check(parts == want_parts, "kcat -L -J partitions %r, expected %r" % (parts, want_parts))
    _, out, _ = sc.run([kc.kcat_binary(), "-L", "-b", kafka, "-m", "10"], 30, "kcat -L")
    text = out.decode()
    for line in ("1 brokers:", "broker 0 at %s" % kafka, 'topic "%s" with 3 partitions:' % TOPIC,
                 "partition 2, leader 0, replicas: 0, isrs: 0"):
        check(line in text, "kcat -L output lacks %r:\n%s" % (line, text))

    sc.step("kcat -Q (offsets by timestamp)")
    # Offsets by timestamp (ListOffsets): the first of run B is the earliest record at or after
    # its stamp; nothing is at or after a stamp an hour ahead (-1); stamp 0 finds offset 0.
    b_first = stamps[(0, len(RUN_A))]
    _, out, _ = sc.run([kc.kcat_binary(), "-Q", "-J", "-b", kafka, "-m", "10",
                        "-t", "%s:0:%d" % (TOPIC, b_first),
                        "-t", "%s:1:%d" % (TOPIC, kc.now_ms() + 3600 * 1000),
                        "-t", "%s:2:0" % TOPIC], 30, "kcat -Q")
    q = json.loads(out)[TOPIC]
    offsets = {int(k): v["offset"] for k, v in q.items() if k != "topic"}
    check(offsets == {0: len(RUN_A), 1: -1, 2: 0},
          "kcat -Q offsets by timestamp %r, expected {0: %d, 1: -1, 2: 0}" % (offsets, len(RUN_A)))

    sc.step("kcat -G (consumer group)")
    # A balanced consumer group: the first run reads every record once and commits on close;
    # the second run of the same group starts at the committed offsets and finds nothing.
    first = kc.consume(sc, kafka, TOPIC, total + 1, group="kcat-group", what="kcat -G (first run)")
    expect_records(first, want, "kcat -G (first run)")
    second = kc.consume(sc, kafka, TOPIC, total + 1, group="kcat-group",
                        what="kcat -G (second run)")
    expect_records(second, [], "kcat -G (second run, after the commit)")


if __name__ == "__main__":
    main("kcat", body, budget=150)
