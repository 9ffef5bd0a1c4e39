"""kcat (Debian's kcat 1.7.1 on librdkafka 2.0.2) as the compatibility tests drive it.

kcat reads records from stdin split by -D and -K delimiters; we use the ASCII record and unit
separators (0x1e, 0x1f) so values may hold newlines, tabs, colons, NULs and non-UTF-8 bytes.
kcat has no option for a record's timestamp: librdkafka stamps CreateTime when kcat hands it the
record, so scenarios check that stamp against the wall-clock window of the kcat run.

Consuming, kcat prints each record with the FORMAT below; the key and value are preceded by their
lengths (-1 for null), so the parse is byte-exact whatever the payload holds.
"""

import re
import shutil
import time

from harness import CompatError, check, record, short

RS, US = b"\x1e", b"\x1f"
FORMAT = r"P%p O%o T%T K%K:%k S%S:%s H%h\n"
# librdkafka retries for message.timeout.ms (5 min by default): bound it well below the run's.
PRODUCER_BOUND = ["-X", "message.timeout.ms=15000", "-m", "10"]
_HEAD = re.compile(rb"P(\d+) O(\d+) T(-?\d+) K(-?\d+):")
_VALUE = re.compile(rb" S(-?\d+):")


def kcat_binary():
    path = shutil.which("kcat")
    check(path is not None, "kcat is not installed (Debian package kcat; tools/dev.sh setup)")
    return path


def now_ms():
    return int(time.time() * 1000)


def encode_input(records):
    """stdin for `kcat -P -K '\\x1f' -D '\\x1e'`: (key or None, value) pairs, as bytes."""
    out = b""
    for key, value in records:
        check(RS not in value and (key is None or (US not in key and RS not in key)),
              "test data may not hold the kcat delimiters")
        out += (value if key is None else key + US + value) + RS
    return out


def produce(sc, bootstrap, topic, partition, records, headers=(), extra=()):
    """Produces `records` ((key, value) byte pairs) with kcat; returns the wall-clock window
    (ms) in which librdkafka stamped them."""
    args = [kcat_binary(), "-P", "-b", bootstrap, "-t", topic, "-p", str(partition),
            "-K", r"\x1f", "-D", r"\x1e"] + PRODUCER_BOUND + list(extra)
    for name, value in headers:
        args += ["-H", "%s=%s" % (name, value)]
    before = now_ms()
    _, _, err = sc.run(args, 40, "kcat -P to %s [%d]" % (topic, partition),
                       stdin=encode_input(records))
    after = now_ms()
    # kcat reports failed deliveries on stderr but may still exit 0.
    check(b"Delivery failed" not in err and b"ERROR" not in err,
          "kcat -P to %s [%d] reported errors:\n%s" % (topic, partition, short(err)))
    return before, after


def parse_headers(text):
    """kcat's %h: name=value pairs joined by commas (our test values hold neither)."""
    if not text:
        return []
    out = []
    for pair in text.split(b","):
        name, sep, value = pair.partition(b"=")
        check(sep == b"=", "kcat %%h output %r is not name=value" % text)
        out.append((name.decode("utf-8"), value))
    return out


def parse(out):
    """Parses `kcat -C -f FORMAT` output into harness records (byte-exact keys and values)."""
    records, pos = [], 0
    while pos < len(out):
        m = _HEAD.match(out, pos)
        check(m is not None, "kcat output not in the expected format at byte %d: %r"
              % (pos, out[pos:pos + 80]))
        partition, offset, ts, klen = (int(g) for g in m.groups())
        pos = m.end()
        key = None if klen < 0 else out[pos:pos + klen]
        pos += max(klen, 0)
        m = _VALUE.match(out, pos)
        check(m is not None, "kcat output: no value length at byte %d: %r"
              % (pos, out[pos:pos + 80]))
        vlen = int(m.group(1))
        pos = m.end()
        value = None if vlen < 0 else out[pos:pos + vlen]
        pos += max(vlen, 0)
        check(out.startswith(b" H", pos), "kcat output: no headers at byte %d" % pos)
        end = out.find(b"\n", pos)
        check(end >= 0, "kcat output: unterminated record at byte %d" % pos)
        headers = parse_headers(out[pos + 2:end])
        pos = end + 1
        records.append(record(partition, offset, key, value, headers, ts))
    return records


def consume(sc, bootstrap, topic, count, extra=(), what=None, timeout=40, group=None):
    """Reads from the beginning of every partition (or, with `group`, from the group's committed
    offsets as a balanced consumer) until each partition's end (-e), at most `count` records;
    returns the parsed records in kcat's output order."""
    args = [kcat_binary(), "-b", bootstrap, "-e", "-c", str(count), "-m", "10", "-f", FORMAT]
    if group:
        # A short session so a member that left without a LeaveGroup holds up the next run's
        # join for seconds, not librdkafka's default 45.
        args += ["-G", group, "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
                 "-X", "heartbeat.interval.ms=500"] + list(extra) + [topic]
    else:
        args += ["-C", "-t", topic, "-o", "beginning"] + list(extra)
    _, out, err = sc.run(args, timeout, what or "kcat -C from %s" % topic)
    check(b"ERROR" not in err, "%s reported errors:\n%s" % (what or "kcat -C", short(err)))
    return parse(out)


def check_per_partition_order(records, what):
    """kcat prints each partition's records in offset order, starting at offset 0."""
    seen = {}
    for r in records:
        expected = seen.get(r["partition"], 0)
        if r["offset"] != expected:
            raise CompatError("%s: partition %d record at offset %d, expected offset %d next"
                              % (what, r["partition"], r["offset"], expected))
        seen[r["partition"]] = expected + 1


def check_window(records, window, what):
    lo, hi = window
    for r in records:
        if not lo <= r["timestamp"] <= hi:
            raise CompatError("%s: timestamp %d of partition %d offset %d is outside the produce "
                              "window [%d, %d]" % (what, r["timestamp"], r["partition"],
                                                   r["offset"], lo, hi))
