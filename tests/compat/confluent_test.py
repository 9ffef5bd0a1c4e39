#!/usr/bin/python3
"""compat_confluent: confluent-kafka 1.7.0 (librdkafka 2.0.2, Debian python3-confluent-kafka).

Asserts:
- AdminClient: create_topics makes a 3-partition topic with two config overrides (list_topics
  shows its partitions on broker 0); creating it again is TOPIC_ALREADY_EXISTS, an invalid name is
  INVALID_TOPIC_EXCEPTION; describe_configs returns the overrides as DYNAMIC_TOPIC_CONFIG and the
  default segment.bytes, an unknown topic is UNKNOWN_TOPIC_OR_PART; delete_topics removes it and a
  second delete is UNKNOWN_TOPIC_OR_PART.
- An idempotent producer (a PID acquired, record batch v2) with each codec none/gzip/snappy/lz4/
  zstd (the produce requests carry the codec: librdkafka did not fall back to none) gets
  consecutive offsets in send order; a consumer reads every record back exact (key, value,
  headers, CreateTime stamp, partition, offset).
- A group of 3 member processes with manual synchronous commits, one SIGKILLed mid-stream: the
  survivors take over its partitions and every record ends up delivered and committed exactly
  once (re-deliveries only of records whose first delivery was never committed).
"""

import json
import logging
import signal
import sys
import time

from harness import CompatError, check, expect_records, main, record, wait_pid

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CODEC_RECORDS = 200
GROUP_TOPIC = "cfk-group"
GROUP_PARTITIONS = 6
GROUP_RECORDS = 600


class LogCapture(logging.Handler):
    """librdkafka's log lines (the client's `logger`), kept for assertions."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, rec):
        self.lines.append(rec.getMessage())


def logger(capture):
    log = logging.getLogger("rdkafka-%d" % id(capture))
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(capture)
    return log


class Failed:
    """How an admin future failed: compares equal to a KafkaError code, prints in full."""

    def __init__(self, error):
        self.error = error

    def __eq__(self, code):
        return self.error.code() == code

    def __repr__(self):
        return str(self.error)


def kafka_error(future, timeout=20):
    """How an admin future failed (a Failed), or None if it succeeded."""
    from confluent_kafka import KafkaException

    try:
        future.result(timeout=timeout)
        return None
    except KafkaException as e:
        return Failed(e.args[0])


def create_topic(admin, name, partitions, config=None):
    from confluent_kafka.admin import NewTopic

    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})],
                                  operation_timeout=10, request_timeout=15)
    err = kafka_error(futures[name])
    check(err is None, "create_topics %s failed: %s" % (name, err))


def admin_checks(sc, kafka, admin):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic

    sc.step("AdminClient create_topics / list_topics")
    name = "cfk-admin"
    create_topic(admin, name, 3, {"retention.ms": "3600000", "max.message.bytes": "2000000"})
    md = admin.list_topics(timeout=10)
    check(name in md.topics and sorted(md.topics[name].partitions) == [0, 1, 2],
          "list_topics after create: %r" % md.topics.get(name))
    check(all(p.leader == 0 for p in md.topics[name].partitions.values()),
          "partition leaders of %s: %r" % (name, md.topics[name].partitions))
    check(list(md.brokers) == [0] and "%s:%d" % (md.brokers[0].host, md.brokers[0].port) == kafka,
          "list_topics brokers %r, expected broker 0 at %s" % (md.brokers, kafka))
    again = admin.create_topics([NewTopic(name, 3, 1)], request_timeout=15)
    err = kafka_error(again[name])
    check(err == KafkaError.TOPIC_ALREADY_EXISTS, "creating %s twice: %s, expected "
          "TOPIC_ALREADY_EXISTS" % (name, err))
    bad = admin.create_topics([NewTopic("bad/name", 1, 1)], request_timeout=15)
    err = kafka_error(bad["bad/name"])
    check(err == KafkaError.TOPIC_EXCEPTION, "creating 'bad/name': %s, expected "
          "INVALID_TOPIC_EXCEPTION" % err)

    sc.step("AdminClient describe_configs")
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = admin.describe_configs([res], request_timeout=15)[res].result(timeout=20)
    for key, value in (("retention.ms", "3600000"), ("max.message.bytes", "2000000")):
        entry = configs.get(key)
        check(entry is not None and entry.value == value
              and entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and not entry.is_default,
              "describe_configs %s: %r, expected %s as a dynamic topic config"
              % (key, entry, value))
    entry = configs.get("segment.bytes")
    check(entry is not None and entry.value == "1073741824",
          "describe_configs segment.bytes: %r, expected the default 1073741824" % entry)
    missing = ConfigResource(ConfigResource.Type.TOPIC, "cfk-no-such-topic")
    err = kafka_error(admin.describe_configs([missing], request_timeout=15)[missing])
    check(err == KafkaError.UNKNOWN_TOPIC_OR_PART, "describe_configs of an unknown topic: %s, "
          "expected UNKNOWN_TOPIC_OR_PART" % err)

    sc.step("AdminClient delete_topics")
    err = kafka_error(admin.delete_topics([name], operation_timeout=10, request_timeout=15)[name])
    check(err is None, "delete_topics %s: %s" % (name, err))
    until = time.monotonic() + 10
    while name in admin.list_topics(timeout=10).topics:
        check(time.monotonic() < until, "%s still listed 10 s after delete_topics" % name)
        time.sleep(0.2)
    err = kafka_error(admin.delete_topics([name], request_timeout=15)[name])
    check(err == KafkaError.UNKNOWN_TOPIC_OR_PART, "deleting %s twice: %s, expected "
          "UNKNOWN_TOPIC_OR_PART" % (name, err))


def produce_idempotent(kafka, topic, partitions, count, base_ts, codec, value_of):
    """Sends `count` records to partition i % partitions with an idempotent producer; returns the
    expected records after checking delivery, order and what librdkafka logged."""
    from confluent_kafka import Producer

    capture = LogCapture()
    producer = Producer({"bootstrap.servers": kafka, "enable.idempotence": True,
                         "compression.type": codec, "linger.ms": 20, "batch.num.messages": 50,
                         "message.timeout.ms": 20000, "socket.timeout.ms": 10000,
                         "debug": "msg,eos", "logger": logger(capture)})
    reports = []
    for i in range(count):
        producer.produce(topic, key=b"key-%05d" % i, value=value_of(i), partition=i % partitions,
                         timestamp=base_ts + i,
                         headers=[("codec", codec.encode()), ("i", str(i).encode())],
                         on_delivery=lambda err, msg, i=i: reports.append((i, err, msg)))
        producer.poll(0)
    left = producer.flush(30)
    check(left == 0, "%s: %d records undelivered after 30 s" % (topic, left))
    want, next_offset = [], {}
    for i, err, msg in sorted(reports, key=lambda r: r[0]):
        check(err is None, "%s: record %d not delivered: %s" % (topic, i, err))
        p = i % partitions
        check(msg.partition() == p and msg.offset() == next_offset.get(p, 0),
              "%s: record %d delivered at [%d] offset %d, expected [%d] offset %d"
              % (topic, i, msg.partition(), msg.offset(), p, next_offset.get(p, 0)))
        next_offset[p] = msg.offset() + 1
        want.append(record(p, msg.offset(), b"key-%05d" % i, value_of(i),
                           [("codec", codec), ("i", str(i))], base_ts + i))
    check(len(reports) == count, "%s: %d delivery reports for %d records" % (topic, len(reports),
                                                                            count))
    lines = capture.lines
    check(any("Acquired PID{Id:" in line for line in lines),
          "%s: the idempotent producer never acquired a producer id (InitProducerId)" % topic)
    produce_lines = [line for line in lines if "Produce MessageSet with" in line]
    check(produce_lines, "%s: librdkafka logged no produce requests" % topic)
    for line in produce_lines:
        codec_ok = line.endswith(", %s)" % codec) if codec != "none" else not any(
            line.endswith(", %s)" % c) for c in CODECS[1:])
        check("MsgVersion 2" in line and "PID{Id:" in line and codec_ok,
              "%s: produce request not a v2 idempotent %s batch: %s" % (topic, codec, line))
    check(not any("does not support" in line for line in lines),
          "%s: librdkafka disabled a feature: %s" % (topic, [l for l in lines if "does not support"
                                                             in l]))
    return want


def read_back(kafka, topic, partitions, count, timeout=30):
    from confluent_kafka import Consumer, TopicPartition, TIMESTAMP_CREATE_TIME

    consumer = Consumer({"bootstrap.servers": kafka, "group.id": "cfk-reader-" + topic,
                         "enable.auto.commit": False, "socket.timeout.ms": 10000})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, until = [], time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < until:
            m = consumer.poll(0.2)
            if m is None:
                continue
            check(m.error() is None, "%s: consumer error %s" % (topic, m.error()))
            ts_type, ts = m.timestamp()
            check(ts_type == TIMESTAMP_CREATE_TIME, "%s [%d] offset %d: timestamp type %d, "
                  "expected CreateTime" % (topic, m.partition(), m.offset(), ts_type))
            got.append(record(m.partition(), m.offset(), m.key(), m.value(), m.headers() or [], ts))
        # Anything past the expected count is a duplicate or a stray: look for it briefly.
        extra_until = time.monotonic() + 0.5
        while time.monotonic() < extra_until:
            m = consumer.poll(0.1)
            if m is not None and m.error() is None:
                got.append(record(m.partition(), m.offset(), m.key(), m.value(),
                                  m.headers() or [], m.timestamp()[1]))
    finally:
        consumer.close()
    return got


def codec_checks(sc, kafka, admin):
    base_ts = int(time.time() * 1000) - 7200 * 1000
    for codec in CODECS:
        topic = "cfk-codec-" + codec

        def value_of(i, codec=codec):
            # Compressible, varied, with every byte value somewhere.
            return (b"%s record %d " % (codec.encode(), i)) * 20 + bytes([i % 256]) * (i % 7)

        sc.step("idempotent producer, compression %s" % codec)
        create_topic(admin, topic, 2)
        want = produce_idempotent(kafka, topic, 2, CODEC_RECORDS, base_ts, codec, value_of)
        got = read_back(kafka, topic, 2, len(want))
        expect_records(got, want, "%s read back" % topic)


# --- the consumer group with a member killed mid-stream -----------------------------------------


def member_main(argv):
    """Worker: a group member printing one JSON line per record, committing each synchronously
    after printing it and saying whether the commit succeeded. Stops on SIGTERM."""
    from confluent_kafka import Consumer, KafkaException

    bootstrap, topic, group, delay = argv[0], argv[1], argv[2], float(argv[3])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def say(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 3000, "heartbeat.interval.ms": 300,
                         "partition.assignment.strategy": "range", "socket.timeout.ms": 10000})
    consumer.subscribe([topic],
                       on_assign=lambda c, tps: say({"assigned": [tp.partition for tp in tps]}),
                       on_revoke=lambda c, tps: say({"revoked": [tp.partition for tp in tps]}))
    while not stop:
        m = consumer.poll(0.1)
        if m is None:
            continue
        if m.error():
            say({"error": str(m.error())})
            continue
        say({"rec": [m.partition(), m.offset(), m.key().decode("latin-1"),
                     m.value().decode("latin-1"),
                     [[h, v.decode("latin-1")] for h, v in (m.headers() or [])], m.timestamp()[1]]})
        time.sleep(delay)
        try:
            consumer.commit(message=m, asynchronous=False)
            say({"committed": [m.partition(), m.offset() + 1]})
        except KafkaException as e:
            say({"commit_failed": [m.partition(), m.offset() + 1, str(e)]})
    consumer.close()
    return 0


def read_member(proc):
    """A member's JSON lines (the last one may be cut short by SIGKILL)."""
    events = []
    with open(proc.out_path) as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except ValueError:
                break
    return events


def deliveries(events):
    """[(partition, offset, record, confirmed)]: confirmed when this member's commit of the
    record succeeded."""
    out = []
    for i, e in enumerate(events):
        if "rec" in e:
            p, o, k, v, h, ts = e["rec"]
            nxt = events[i + 1] if i + 1 < len(events) else {}
            out.append((p, o, record(p, o, k.encode("latin-1"), v.encode("latin-1"),
                                     [(n, x.encode("latin-1")) for n, x in h], ts),
                        nxt.get("committed") == [p, o + 1]))
    return out


def group_checks(sc, kafka, admin):
    sc.step("group with manual commits: produce")
    create_topic(admin, GROUP_TOPIC, GROUP_PARTITIONS)
    base_ts = int(time.time() * 1000) - 3600 * 1000
    want = produce_idempotent(kafka, GROUP_TOPIC, GROUP_PARTITIONS, GROUP_RECORDS, base_ts, "lz4",
                              lambda i: b"group record %d" % i)
    members = [sc.worker("member", [kafka, GROUP_TOPIC, "cfk-group", "0.01"], "member%d" % i)
               for i in range(3)]

    def latest_assignments():
        out = []
        for proc in members:
            assigned = [e["assigned"] for e in read_member(proc) if "assigned" in e]
            out.append(set(assigned[-1]) if assigned else set())
        return out

    killed = set()

    def wait(cond, timeout, what):
        until = time.monotonic() + timeout
        while not cond():
            for i, proc in enumerate(members):
                if proc.poll() is not None and i not in killed:
                    raise CompatError("member %d exited with %s: %s" % (
                        i, proc.returncode, open(proc.err_path).read()[-2000:]))
            if time.monotonic() > until:
                raise CompatError("%s: not within %.0f s; latest assignments %s" % (
                    what, timeout, latest_assignments()))
            time.sleep(0.05)

    def settled():
        sets = latest_assignments()
        return all(sets) and sum(map(len, sets)) == GROUP_PARTITIONS and \
            set().union(*sets) == set(range(GROUP_PARTITIONS))

    sc.step("group with manual commits: 3 members joining")
    wait(settled, 40, "3 members sharing the %d partitions" % GROUP_PARTITIONS)
    victim_partitions = latest_assignments()[0]
    seen = len(deliveries(read_member(members[0])))
    wait(lambda: len(deliveries(read_member(members[0]))) >= seen + 10, 30,
         "member 0 reading 10 records once the group settled")
    sc.step("group with manual commits: member 0 killed, survivors taking over")
    killed.add(0)
    members[0].send_signal(signal.SIGKILL)
    check(wait_pid(members[0], 10) is not None, "member 0 still there 10 s after SIGKILL")
    victim = deliveries(read_member(members[0]))
    check(len(victim) < GROUP_RECORDS // 3, "member 0 read %d records before the kill: not "
          "mid-stream" % len(victim))

    def landed_unlogged():
        # The kill can land after the broker took member 0's commit and before member 0 printed
        # it. Such a record shows as unconfirmed, but the survivors resume after it: it counts
        # as committed when nobody else delivered it and a survivor delivered the next offset.
        survivors = {(p, o) for proc in members[1:] for p, o, _, _ in
                     deliveries(read_member(proc))}
        return {(p, o) for p, o, _, ok in deliveries(read_member(members[0]))
                if not ok and (p, o) not in survivors and (p, o + 1) in survivors}

    def confirmed():
        return {(p, o) for proc in members for p, o, _, ok in deliveries(read_member(proc))
                if ok} | landed_unlogged()

    wait(lambda: len(confirmed()) >= GROUP_RECORDS, 60,
         "the survivors committing all %d records" % GROUP_RECORDS)
    time.sleep(1.0)  # room for duplicates to show up
    for proc in members[1:]:
        proc.send_signal(signal.SIGTERM)
    for i, proc in enumerate(members[1:], 1):
        check(wait_pid(proc, 15) == 0, "member %d did not close within 15 s of SIGTERM" % i)

    every, confirmed_by = [], {}
    for i, proc in enumerate(members):
        for p, o, rec, ok in deliveries(read_member(proc)):
            every.append(rec)
            if ok:
                confirmed_by.setdefault((p, o), []).append(i)
    for pos in landed_unlogged():
        confirmed_by.setdefault(pos, []).append(0)
    by_pos = {(r["partition"], r["offset"]): r for r in want}
    for rec in every:
        expected = by_pos.get((rec["partition"], rec["offset"]))
        check(rec == expected, "delivered %s, produced %s" % (rec, expected))
    twice = sorted((k, v) for k, v in confirmed_by.items() if len(v) > 1)
    if twice:
        raise CompatError("%d records delivered and committed more than once, first %s by "
                          "members %s" % (len(twice), twice[0][0], twice[0][1]))
    lost = sorted(set(by_pos) - set(confirmed_by))
    check(not lost, "%d records never delivered with a successful commit, first %s"
          % (len(lost), lost[:1]))
    taken_over = {p for (p, _), who in confirmed_by.items() if who != [0]}
    check(victim_partitions <= taken_over, "the survivors committed records of partitions %s "
          "only; member 0 had %s" % (sorted(taken_over), sorted(victim_partitions)))


def body(sc):
    from confluent_kafka.admin import AdminClient

    broker = sc.broker(["--group-min-session-timeout-ms", "1000"])
    kafka = broker.kafka
    admin = AdminClient({"bootstrap.servers": kafka, "socket.timeout.ms": 10000})
    admin_checks(sc, kafka, admin)
    codec_checks(sc, kafka, admin)
    group_checks(sc, kafka, admin)


if __name__ == "__main__":
    main("confluent", body, budget=180, roles={"member": member_main},
         requires=["confluent_kafka"])
