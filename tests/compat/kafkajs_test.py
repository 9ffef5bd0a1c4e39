#!/usr/bin/python3
"""compat_kafkajs: kafkajs 2.2.4 (npm, tests/compat/kafkajs) against sluiced.

kafkajs/compat.js does the client work and prints what happened; this file owns the expected
records and the checks. Asserts: the admin client creates a 3-partition topic; two consumers of
one group split the partitions; a plain send and a gzip batch from an idempotent producer are
acknowledged at consecutive offsets from 0 in each partition; the group's eachMessage handlers
receive every record exactly once, each from its own member's partitions in offset order, with
the exact key (including null), value (including a tombstone and binary bytes), headers
(duplicates and an empty value included) and CreateTime stamp.
"""

import base64
import json
import os
import shutil
import time

from harness import check, expect_records, main, record

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "kafkajs")
TOPIC = "kj-records"
PARTITIONS = 3
COUNT = 120


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def unb64(s):
    return None if s is None else base64.b64decode(s)


def spec_records(base_ts):
    recs = []
    for i in range(COUNT):
        key = None if i % 10 == 3 else b"kj-%03d" % i
        value = None if i % 10 == 7 else b"value %d \x00\xff\xc3\xbc " % i + b"x" * (i % 50)
        # kafkajs 2.2.4 cannot send a null header value (Buffer.byteLength(null) throws).
        headers = [("idx", str(i).encode()), ("dup", b"one"), ("dup", b"two"), ("empty", b"")]
        recs.append({"partition": i % PARTITIONS, "key": key, "value": value,
                     "headers": headers, "timestamp": base_ts + i})
    return recs


def node_binary():
    path = shutil.which("node")
    check(path is not None, "node is not installed (tools/dev.sh setup installs nodejs)")
    manifest = os.path.join(PKG, "node_modules", "kafkajs", "package.json")
    check(os.path.exists(manifest), "kafkajs is not installed in %s/node_modules: run "
          "tools/dev.sh setup (npm ci there)" % PKG)
    with open(manifest) as f:
        version = json.load(f)["version"]
    check(version == "2.2.4", "kafkajs %s is installed, the tests pin 2.2.4: run tools/dev.sh "
          "setup" % version)
    return path


def body(sc):
    node = node_binary()
    broker = sc.broker()
    base_ts = int(time.time() * 1000) - 3600 * 1000
    recs = spec_records(base_ts)
    spec = {"bootstrap": broker.kafka, "topic": TOPIC, "group": "kj-group",
            "partitions": PARTITIONS, "budgetMs": 100000,
            "records": [{"partition": r["partition"], "key": b64(r["key"]),
                         "value": b64(r["value"]),
                         "headers": [[h, b64(v)] for h, v in r["headers"]],
                         "timestamp": r["timestamp"]} for r in recs]}
    spec_path = sc.path("kafkajs-spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    sc.step("node kafkajs/compat.js")
    _, out, err = sc.run([node, os.path.join(PKG, "compat.js"), spec_path], 110,
                         "node kafkajs/compat.js", cwd=PKG)
    lines = [l for l in out.decode("utf-8", "replace").splitlines() if l.startswith("RESULT ")]
    check(len(lines) == 1, "compat.js printed no RESULT line; stdout:\n%s\nstderr:\n%s"
          % (out.decode("utf-8", "replace")[-2000:], err.decode("utf-8", "replace")[-2000:]))
    result = json.loads(lines[0][len("RESULT "):])
    check(result["partitionIds"] == list(range(PARTITIONS)),
          "fetchTopicMetadata partitions %r" % result["partitionIds"])

    sc.step("checking what kafkajs saw")
    # Acknowledgements: one per partition and send, at consecutive offsets from 0.
    half = COUNT // 2
    next_offset = {p: 0 for p in range(PARTITIONS)}
    want = []
    for sent, acks in ((recs[:half], result["plain"]), (recs[half:], result["gzip"])):
        by_p = {a["partition"]: a for a in acks}
        check(sorted(by_p) == list(range(PARTITIONS)) and len(acks) == PARTITIONS,
              "send acknowledgements %r, expected one per partition" % acks)
        for p in range(PARTITIONS):
            ack = by_p[p]
            check(ack["errorCode"] == 0 and int(ack["baseOffset"]) == next_offset[p],
                  "partition %d acknowledged %r, expected base offset %d"
                  % (p, ack, next_offset[p]))
            for r in (r for r in sent if r["partition"] == p):
                want.append(record(p, next_offset[p], r["key"], r["value"], r["headers"],
                                   r["timestamp"]))
                next_offset[p] += 1

    got, last = [], {}
    for c in result["consumed"]:
        check(c["topic"] == TOPIC, "eachMessage got topic %r" % c["topic"])
        check(c["partition"] in c["assigned"], "member %d got partition %d outside its "
              "assignment %r" % (c["member"], c["partition"], c["assigned"]))
        check(c["offset"] > last.get(c["partition"], -1), "partition %d out of order at offset %d"
              % (c["partition"], c["offset"]))
        last[c["partition"]] = c["offset"]
        got.append(record(c["partition"], c["offset"], unb64(c["key"]), unb64(c["value"]),
                          [(h, unb64(v)) for h, v in c["headers"]], c["timestamp"]))
    expect_records(got, want, "kafkajs group with eachMessage (every record exactly once)")


if __name__ == "__main__":
    main("kafkajs", body, budget=130)
