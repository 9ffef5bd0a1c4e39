#!/usr/bin/python3
"""compat_kafka_python: kafka-python 2.0.2 (Debian python3-kafka) against sluiced.

Asserts: KafkaAdminClient creates a 6-partition topic; a KafkaProducer with a JSON
value_serializer gets back exactly the partitions, consecutive offsets and CreateTime stamps it
asked for; a group of 3 KafkaConsumers (threads) settles on disjoint assignments covering every
partition and together reads every record exactly once (key, JSON value, headers, timestamp),
each from its own partitions in offset order, committing as it goes; the committed offsets are
there after a broker restart (SIGTERM, same data dir, new ports), and a consumer of the same
group then reads exactly the records produced after the restart and none of the committed ones.
"""

import json
import threading
import time
import traceback

from harness import CompatError, check, expect_records, main, record

TOPIC = "kp-json"
GROUP = "kp-group"
PARTITIONS = 6
PER_PARTITION = 50
AFTER_RESTART = 10  # more records per partition after the restart


def value_of(i):
    return {"n": i, "text": "record %d \u00fc\u2713" % i, "nested": {"list": [i, None, True]}}


def client_args(bootstrap):
    # Bounded everywhere: kafka-python otherwise retries metadata and sends for minutes.
    return {"bootstrap_servers": bootstrap, "request_timeout_ms": 10000,
            "api_version_auto_timeout_ms": 5000, "client_id": "compat-kafka-python"}


def consumer_args(bootstrap):
    args = client_args(bootstrap)
    args.update(group_id=GROUP, auto_offset_reset="earliest", enable_auto_commit=False,
                session_timeout_ms=6000, heartbeat_interval_ms=500, request_timeout_ms=11000,
                key_deserializer=bytes.decode, value_deserializer=json.loads)
    return args


def as_record(m):
    """A consumed record for comparison: the JSON value re-encoded canonically (the serializer's
    exact bytes are checked through serialized_value_size)."""
    value = json.dumps(m.value, sort_keys=True)
    return record(m.partition, m.offset, m.key, value, m.headers, m.timestamp)


def expected_record(partition, offset, i, base_ts):
    return record(partition, offset, "key-%04d" % i, json.dumps(value_of(i), sort_keys=True),
                  [("idx", str(i)), ("src", "kafka-python")], base_ts + i)


def produce(bootstrap, first, count, base_ts):
    """Sends records first..first+count-1 to partition i % 6; returns the expected records with
    the offsets the broker acknowledged, after checking partitions, order and timestamps."""
    from kafka import KafkaProducer

    producer = KafkaProducer(value_serializer=lambda v: json.dumps(v).encode("utf-8"),
                             key_serializer=str.encode, acks="all", linger_ms=5,
                             max_block_ms=10000, **client_args(bootstrap))
    futures = []
    for i in range(first, first + count):
        futures.append((i, producer.send(TOPIC, key="key-%04d" % i, value=value_of(i),
                                         partition=i % PARTITIONS, timestamp_ms=base_ts + i,
                                         headers=[("idx", str(i).encode()),
                                                  ("src", b"kafka-python")])))
    producer.flush(timeout=20)
    want, next_offset = [], {}
    for i, f in futures:
        md = f.get(timeout=20)
        p = i % PARTITIONS
        check(md.topic == TOPIC and md.partition == p, "record %d acknowledged at %s[%d], sent "
              "to partition %d" % (i, md.topic, md.partition, p))
        if p in next_offset:
            check(md.offset == next_offset[p], "record %d acknowledged at offset %d of partition "
                  "%d, expected %d (order within a partition)" % (i, md.offset, p, next_offset[p]))
        next_offset[p] = md.offset + 1
        check(md.timestamp == base_ts + i, "record %d acknowledged with timestamp %d, sent %d"
              % (i, md.timestamp, base_ts + i))
        check(md.serialized_value_size == len(json.dumps(value_of(i)).encode()),
              "record %d: serialized value size %d" % (i, md.serialized_value_size))
        want.append(expected_record(p, md.offset, i, base_ts))
    producer.close(timeout=10)
    return want


class Member(threading.Thread):
    """One KafkaConsumer of the group, polling in its own thread (kafka-python consumers are not
    thread-safe, so only this thread touches it). Commits synchronously after every poll."""

    def __init__(self, bootstrap, name):
        super().__init__(name=name, daemon=True)
        self.bootstrap = bootstrap
        self.records = []          # (record, partitions assigned when it was read)
        self.assignment = frozenset()
        self.error = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        from kafka import KafkaConsumer

        try:
            consumer = KafkaConsumer(**consumer_args(self.bootstrap))
            consumer.subscribe([TOPIC])
            while not self.stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                assigned = frozenset(tp.partition for tp in consumer.assignment())
                got = [(as_record(m), assigned) for ms in batches.values() for m in ms]
                with self.lock:
                    self.assignment = assigned
                    self.records.extend(got)
                if got:
                    consumer.commit()
            consumer.close(autocommit=False)
        except Exception:  # reported by the main thread
            self.error = "%s: %s" % (self.name, traceback.format_exc(limit=-4))

    def snapshot(self):
        with self.lock:
            return self.assignment, list(self.records)


def committed_offsets(bootstrap):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**consumer_args(bootstrap))
    try:
        return {p: consumer.committed(TopicPartition(TOPIC, p)) for p in range(PARTITIONS)}
    finally:
        consumer.close(autocommit=False)


def wait_for(cond, timeout, what, members):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        for m in members:
            if m.error:
                raise CompatError("consumer failed: %s" % m.error)
        if cond():
            return
        time.sleep(0.1)
    raise CompatError("%s: not reached within %.0f s; assignments %s" % (
        what, timeout, [sorted(m.snapshot()[0]) for m in members]))


def stop_members(members):
    for m in members:
        m.stop.set()
    for m in members:
        m.join(15)
        check(not m.is_alive(), "consumer %s did not close within 15 s" % m.name)
        check(m.error is None, "consumer failed: %s" % m.error)


def body(sc):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    broker = sc.broker()
    kafka = broker.kafka
    sc.step("KafkaAdminClient.create_topics")
    admin = KafkaAdminClient(**client_args(kafka))
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)], timeout_ms=10000)
    admin.close()

    # The group settles before anything is produced, so no rebalance can hand a partition over
    # mid-read: exactly-once reading is then a fair demand.
    sc.step("3 consumers joining the group")
    members = [Member(kafka, "member-%d" % i) for i in range(3)]
    for m in members:
        m.start()

    def settled():
        sets = [m.snapshot()[0] for m in members]
        union = frozenset().union(*sets)
        return all(sets) and sum(map(len, sets)) == PARTITIONS and union == set(range(PARTITIONS))

    wait_for(settled, 40, "3 members with disjoint assignments covering %d partitions"
             % PARTITIONS, members)
    sc.step("KafkaProducer with JSON values")
    base_ts = int(time.time() * 1000) - 3600 * 1000
    want = produce(kafka, 0, PARTITIONS * PER_PARTITION, base_ts)
    check(sorted((r["partition"], r["offset"]) for r in want)
          == [(p, o) for p in range(PARTITIONS) for o in range(PER_PARTITION)],
          "the producer's acknowledged offsets are not 0..%d in each partition"
          % (PER_PARTITION - 1))
    sc.step("the group reading every record")
    wait_for(lambda: sum(len(m.snapshot()[1]) for m in members) >= len(want), 60,
             "the group reading %d records" % len(want), members)
    time.sleep(1.5)  # room for duplicates to show up
    stop_members(members)

    everything = []
    for m in members:
        _, recs = m.snapshot()
        last = {}
        for r, assigned in recs:
            check(r["partition"] in assigned, "%s read partition %d outside its assignment %s"
                  % (m.name, r["partition"], sorted(assigned)))
            check(r["offset"] > last.get(r["partition"], -1), "%s read partition %d out of order"
                  % (m.name, r["partition"]))
            last[r["partition"]] = r["offset"]
            everything.append(r)
    expect_records(everything, want, "3-member group (every record exactly once)")
    sc.step("committed offsets before the restart")
    committed = committed_offsets(kafka)
    check(committed == {p: PER_PARTITION for p in range(PARTITIONS)},
          "committed offsets before the restart %r, expected %d everywhere"
          % (committed, PER_PARTITION))

    sc.step("broker restart")
    broker.stop()
    broker.start()
    kafka = broker.kafka
    sc.step("committed offsets after the restart")
    committed = committed_offsets(kafka)
    check(committed == {p: PER_PARTITION for p in range(PARTITIONS)},
          "committed offsets after the restart %r, expected %d everywhere"
          % (committed, PER_PARTITION))
    more = produce(kafka, PARTITIONS * PER_PARTITION, PARTITIONS * AFTER_RESTART, base_ts)
    check(sorted((r["partition"], r["offset"]) for r in more)
          == [(p, o) for p in range(PARTITIONS)
              for o in range(PER_PARTITION, PER_PARTITION + AFTER_RESTART)],
          "offsets after the restart do not continue at %d" % PER_PARTITION)
    sc.step("resuming the group after the restart")
    resumed = Member(kafka, "resumed")
    resumed.start()
    wait_for(lambda: len(resumed.snapshot()[1]) >= len(more), 40,
             "the resumed member reading %d new records" % len(more), [resumed])
    time.sleep(1.5)
    stop_members([resumed])
    expect_records([r for r, _ in resumed.snapshot()[1]], more,
                   "after the restart (only records past the committed offsets)")


if __name__ == "__main__":
    main("kafka_python", body, budget=150, requires=["kafka"])
