#!/usr/bin/python3
"""compat_sarama: sarama 1.22.1 (Go; Debian golang-go + golang-github-shopify-sarama-dev) against
sluiced, with config.Version = V2_1_0_0 (Produce v3 record batches, Fetch v4, Metadata v5).

sarama/main.go is built here offline in GOPATH mode against /usr/share/gocode (no module
download) and does the client work; this file owns the expected records and the checks.
Asserts: the cluster admin creates a 3-partition topic; a SyncProducer (half the records plain,
half snappy) gets consecutive offsets from 0 in each partition in send order; two members of a
consumer group split the partitions and read every record exactly once, from their own claims in
offset order, with the exact key (null included), value (tombstone included), headers (duplicates
and a null value included) and CreateTime stamp; after the group closes, the committed offsets
are the partitions' ends.
"""

import base64
import json
import os
import shutil
import tempfile
import time

from harness import check, expect_records, main, record

HERE = os.path.dirname(os.path.abspath(__file__))
TOPIC = "sarama-records"
PARTITIONS = 3
COUNT = 90
GOPATH = "/usr/share/gocode"


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def unb64(s):
    return None if s is None else base64.b64decode(s)


def build(sc):
    go = shutil.which("go")
    check(go is not None, "go is not installed (Debian golang-go; tools/dev.sh setup)")
    check(os.path.isdir(os.path.join(GOPATH, "src/github.com/Shopify/sarama")),
          "sarama sources missing from %s (Debian golang-github-shopify-sarama-dev; "
          "tools/dev.sh setup)" % GOPATH)
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOFLAGS="", GOPROXY="off",
               GOCACHE=os.environ.get("GOCACHE") or
               os.path.join(tempfile.gettempdir(), "sluice-compat-gocache"))
    binary = sc.path("sarama-compat")
    sc.run([go, "build", "-o", binary, os.path.join(HERE, "sarama", "main.go")], 120,
           "go build sarama/main.go (GOPATH mode, offline)", env=env, cwd=sc.workdir)
    return binary


def spec_records(base_ts):
    recs = []
    for i in range(COUNT):
        key = None if i % 10 == 3 else b"sarama-%03d" % i
        value = None if i % 10 == 7 else b"value %d \x00\xff\xc3\xbc " % i + b"y" * (i % 40)
        headers = [("idx", str(i).encode()), ("dup", b"one"), ("dup", b"two"), ("nullh", None)]
        recs.append({"partition": i % PARTITIONS, "key": key, "value": value,
                     "headers": headers, "timestamp": base_ts + i})
    return recs


def body(sc):
    broker = sc.broker()
    kafka = broker.kafka  # fails at once without a Kafka listener, before the build
    sc.step("go build (offline, GOPATH mode)")
    binary = build(sc)
    base_ts = int(time.time() * 1000) - 3600 * 1000
    recs = spec_records(base_ts)
    spec = {"bootstrap": kafka, "topic": TOPIC, "group": "sarama-group",
            "partitions": PARTITIONS, "budgetMs": 100000,
            "records": [{"partition": r["partition"], "key": b64(r["key"]),
                         "value": b64(r["value"]),
                         "headers": [{"key": h, "value": b64(v)} for h, v in r["headers"]],
                         "timestamp": r["timestamp"]} for r in recs]}
    spec_path = sc.path("sarama-spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    sc.step("sarama-compat run")
    _, out, err = sc.run([binary, spec_path], 110, "sarama-compat")
    lines = [l for l in out.decode("utf-8", "replace").splitlines() if l.startswith("RESULT ")]
    check(len(lines) == 1, "sarama-compat printed no RESULT line; stdout:\n%s\nstderr:\n%s"
          % (out.decode("utf-8", "replace")[-2000:], err.decode("utf-8", "replace")[-2000:]))
    result = json.loads(lines[0][len("RESULT "):])
    check(result["partitions"] == list(range(PARTITIONS)),
          "DescribeTopics partitions %r" % result["partitions"])

    sc.step("checking what sarama saw")
    check(len(result["acks"]) == COUNT, "%d acknowledgements for %d records"
          % (len(result["acks"]), COUNT))
    next_offset, want = {}, []
    for r, (p, offset) in zip(recs, result["acks"]):
        check(p == r["partition"] and offset == next_offset.get(p, 0),
              "record acknowledged at [%d] offset %d, expected [%d] offset %d"
              % (p, offset, r["partition"], next_offset.get(r["partition"], 0)))
        next_offset[p] = offset + 1
        want.append(record(p, offset, r["key"], r["value"], r["headers"], r["timestamp"]))

    got, last = [], {}
    for c in result["consumed"]:
        check(c["partition"] in (c["assigned"] or []), "member %d got partition %d outside its "
              "claims %r" % (c["member"], c["partition"], c["assigned"]))
        check(c["offset"] > last.get(c["partition"], -1), "partition %d out of order at offset %d"
              % (c["partition"], c["offset"]))
        last[c["partition"]] = c["offset"]
        got.append(record(c["partition"], c["offset"], unb64(c["key"]), unb64(c["value"]),
                          [(h["key"], unb64(h["value"])) for h in c["headers"]], c["timestamp"]))
    expect_records(got, want, "sarama consumer group (every record exactly once)")
    committed = {int(p): o for p, o in result["committed"].items()}
    check(committed == next_offset, "committed offsets %r, expected the ends %r"
          % (committed, next_offset))


if __name__ == "__main__":
    main("sarama", body, budget=200)
