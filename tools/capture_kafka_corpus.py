#!/usr/bin/python3
"""Captures the seed corpora of tests/fuzz from real client traffic.

    /usr/bin/python3 tools/capture_kafka_corpus.py [--sluiced build/bin/sluiced]
        [--sluice build/bin/sluice] [--out tests/fuzz/corpus] [--keep]

Starts a `sluiced` on ephemeral loopback ports in a temp dir and a loopback TCP proxy in front of
each of its listeners (Kafka and native). The proxy splits the client->broker byte stream into
request frames and keeps each one; broker->client frames are forwarded with the broker's own port
replaced by the proxy's where the broker advertises itself (Metadata, FindCoordinator, native
metadata: "127.0.0.1" followed by the port), so clients keep talking through the proxy after
bootstrap. Then it drives real clients through the proxies, with the scenarios of tests/compat:

  kcat             produce with keys and headers (each codec), consume, -L, -L -J, -Q, -G group
  kafka-python     producer (keys, headers, gzip), group consumer with commits, admin client
  confluent-kafka  idempotent producer with none/gzip/snappy/lz4/zstd, AdminClient create/delete
                   topics, describe configs, create partitions, a group consumer with commits,
                   offsets for times, list groups
  kafkajs          tests/compat/kafkajs/compat.js (if its node_modules are installed)
  sluice CLI       topic create/list/describe, produce, group consume, group list/describe
                   (native protocol)

and writes, deduplicated and capped (at most a few files per API key and version):

  corpus/kafka_request/<api>_v<version>_<hash>   a Kafka request frame without its int32 size
  corpus/record_batch/<hash>                     the records of a captured Produce partition
  corpus/recovery/<hash>                         segment files the broker wrote, plus captured
                                                 batches concatenated with offsets assigned
  corpus/native_frame/<kind>_<hash>              native request frames (with their prefix), and
                                                 the first frames of a connection as one stream

Existing files in those directories are replaced. Every child is killed by PID; the run is
bounded in time. Only the Python standard library and the clients' own modules are used.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEADLINE = time.monotonic() + 900  # the whole capture, whatever happens

# Kafka API names by key (those sluiced serves, plus a few a client might probe).
API_NAMES = {
    0: "produce", 1: "fetch", 2: "list_offsets", 3: "metadata", 8: "offset_commit",
    9: "offset_fetch", 10: "find_coordinator", 11: "join_group", 12: "heartbeat",
    13: "leave_group", 14: "sync_group", 15: "describe_groups", 16: "list_groups",
    18: "api_versions", 19: "create_topics", 20: "delete_topics", 21: "delete_records",
    22: "init_producer_id", 23: "offset_for_leader_epoch", 32: "describe_configs",
    37: "create_partitions", 42: "delete_groups",
}
MAX_FILE = 64 * 1024          # the fuzzers' -max_len
PER_KAFKA_VERSION = 6         # files per (api key, version)
PER_NATIVE_KIND = 6           # files per native request kind
MAX_RECORD_BATCH = 40
MAX_RECOVERY = 16


def log(msg):
    print("capture: " + msg, flush=True)


# --- the proxy -----------------------------------------------------------------------------------


class Capture:
    """Request frames seen by the proxies, by protocol; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kafka = []    # frames without the size prefix
        self.native = []   # frames with their prefix
        self.native_streams = []  # the first frames of each native connection, concatenated

    def add(self, proto, frame):
        with self.lock:
            (self.kafka if proto == "kafka" else self.native).append(frame)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Proxy:
    """A loopback TCP proxy in front of one listener of sluiced."""

    def __init__(self, proto, broker_port, capture):
        self.proto = proto
        self.broker_port = broker_port
        self.capture = capture
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        if proto == "kafka":
            # Metadata brokers and FindCoordinator: host string, then int32 port.
            self.find = b"127.0.0.1" + struct.pack(">i", broker_port)
            self.repl = b"127.0.0.1" + struct.pack(">i", self.port)
        else:
            # native BrokerInfo: host = 2 ("127.0.0.1"), port = 3 (varint). Both ports are
            # ephemeral (>= 16384), so their varints have the same length.
            self.find = b"127.0.0.1\x18" + varint(broker_port)
            self.repl = b"127.0.0.1\x18" + varint(self.port)
            assert len(self.find) == len(self.repl)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        try:
            self.listener.close()
        except OSError:
            pass

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.broker_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, client), daemon=True).start()

    def _requests(self, src, dst):
        stream = bytearray()
        frames = 0
        try:
            while True:
                size_field = recv_exact(src, 4)
                if size_field is None:
                    break
                size = struct.unpack(">I", size_field)[0]
                if size > 200 * 1024 * 1024:
                    break
                body = recv_exact(src, size)
                if body is None:
                    break
                dst.sendall(size_field + body)
                frame = body if self.proto == "kafka" else size_field + body
                self.capture.add(self.proto, frame)
                if self.proto == "native" and frames < 8 and len(stream) + len(frame) < MAX_FILE:
                    stream += frame
                    frames += 1
        except OSError:
            pass
        finally:
            if self.proto == "native" and frames > 1:
                with self.capture.lock:
                    self.capture.native_streams.append(bytes(stream))
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _responses(self, src, dst):
        try:
            while True:
                size_field = recv_exact(src, 4)
                if size_field is None:
                    break
                body = recv_exact(src, struct.unpack(">I", size_field)[0])
                if body is None:
                    break
                if self.find in body:
                    body = body.replace(self.find, self.repl)
                dst.sendall(size_field + body)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# --- the broker ----------------------------------------------------------------------------------


class Broker:
    def __init__(self, sluiced, workdir):
        self.dir = workdir
        self.port_file = os.path.join(workdir, "ports")
        self.log_path = os.path.join(workdir, "sluiced.log")
        args = [sluiced, "--data-dir", os.path.join(workdir, "data"),
                "--kafka-addr", "127.0.0.1:0", "--native-addr", "127.0.0.1:0",
                "--http-addr", "127.0.0.1:0", "--port-file", self.port_file,
                "--group-initial-rebalance-delay-ms", "0", "--io-threads", "2"]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        until = time.monotonic() + 30
        self.ports = {}
        while time.monotonic() < until:
            try:
                with open(self.port_file) as f:
                    ports = dict(l.strip().split("=", 1) for l in f if "=" in l)
                if "native" in ports and "kafka" in ports:
                    self.ports = {k: int(v.rsplit(":", 1)[-1]) for k, v in ports.items()}
                    return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise SystemExit("capture: sluiced did not start; see %s" % self.log_path)

    def stop(self):
        if self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def run(args, timeout, what, stdin=None, cwd=None, env=None):
    """Runs a child (bounded by `timeout` and the global deadline), killing it by PID."""
    timeout = max(1, min(timeout, DEADLINE - time.monotonic()))
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        log("%s: timed out after %.0f s (kept what it sent)" % (what, timeout))
        return None
    if proc.returncode != 0:
        log("%s: exit %d: %s" % (what, proc.returncode, err.decode(errors="replace")[-500:]))
    return out


# --- client scenarios ----------------------------------------------------------------------------
# Each is best effort: a client failing costs its traffic, not the capture.


def scenario_kcat(kafka):
    kcat = shutil.which("kcat")
    if not kcat:
        log("kcat not installed; skipped")
        return
    data = b"".join(b"k%d:value %d \xc3\xbc\n" % (i, i) for i in range(20))
    run([kcat, "-b", kafka, "-P", "-t", "kcat-t", "-K:", "-H", "app=kcat", "-H", "dup=1",
         "-H", "dup=2", "-H", "empty="], 30, "kcat -P", stdin=data)
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        run([kcat, "-b", kafka, "-P", "-t", "kcat-t", "-K:", "-z", codec], 30,
            "kcat -P -z " + codec, stdin=data)
    run([kcat, "-b", kafka, "-C", "-t", "kcat-t", "-o", "beginning", "-e", "-f", "%k=%s %h\n"],
        30, "kcat -C")
    run([kcat, "-b", kafka, "-C", "-t", "kcat-t", "-p", "0", "-o", "-5", "-e", "-J"], 30,
        "kcat -C -J")
    run([kcat, "-b", kafka, "-L"], 30, "kcat -L")
    run([kcat, "-b", kafka, "-L", "-J", "-t", "kcat-t"], 30, "kcat -L -J")
    ts = int(time.time() * 1000) - 60000
    run([kcat, "-b", kafka, "-Q", "-t", "kcat-t:0:%d" % ts, "-t", "kcat-t:0:-1"], 30, "kcat -Q")
    run([kcat, "-b", kafka, "-G", "kcat-group", "kcat-t", "-e", "-o", "beginning",
         "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100"], 40, "kcat -G")


KAFKA_PYTHON = r"""
import sys, time
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic, NewPartitions, ConfigResource, ConfigResourceType
b = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=10000)
admin.create_topics([NewTopic("kp-t", 2, 1, topic_configs={"retention.ms": "3600000"})])
try:
    admin.create_topics([NewTopic("kp-t", 2, 1)])
except Exception:
    pass
admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-t")])
admin.create_partitions({"kp-t": NewPartitions(3)})
for comp in (None, "gzip"):
    p = KafkaProducer(bootstrap_servers=b, compression_type=comp, linger_ms=5)
    for i in range(30):
        p.send("kp-t", key=b"k%d" % i if i % 5 else None, value=b"v%d" % i,
               headers=[("h", b"x"), ("n", b"")] if i % 2 else [])
    p.flush(); p.close()
c = KafkaConsumer("kp-t", bootstrap_servers=b, group_id="kp-group", auto_offset_reset="earliest",
                  enable_auto_commit=False, consumer_timeout_ms=4000)
n = 0
for m in c:
    n += 1
    if n % 10 == 0:
        c.commit()
c.commit()
c.committed(TopicPartition("kp-t", 0))
c.offsets_for_times({TopicPartition("kp-t", 0): int(time.time() * 1000) - 60000})
c.beginning_offsets([TopicPartition("kp-t", 0)]); c.end_offsets([TopicPartition("kp-t", 0)])
c.close()
admin.list_consumer_groups(); admin.describe_consumer_groups(["kp-group"])
admin.list_consumer_group_offsets("kp-group")
try:
    admin.delete_consumer_groups(["kp-group"])
except Exception:
    pass
admin.create_topics([NewTopic("kp-del", 1, 1)])
admin.delete_topics(["kp-del"])
admin.close()
"""

CONFLUENT = r"""
import sys, time
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
b = sys.argv[1]
a = AdminClient({"bootstrap.servers": b})
for f in a.create_topics([NewTopic("cfk-t", 3, 1, config={"retention.ms": "7200000",
                                                          "segment.bytes": "1048576"})]).values():
    try: f.result(20)
    except Exception as e: print(e)
for f in a.create_topics([NewTopic("bad name!", 1, 1)]).values():
    try: f.result(20)
    except Exception as e: print(e)
for f in a.describe_configs([ConfigResource("topic", "cfk-t"), ConfigResource("broker", "0")]).values():
    try: f.result(20)
    except Exception as e: print(e)
for f in a.create_partitions([NewPartitions("cfk-t", 4)]).values():
    try: f.result(20)
    except Exception as e: print(e)
a.list_topics(timeout=10)
for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
    p = Producer({"bootstrap.servers": b, "enable.idempotence": True, "compression.codec": codec,
                  "linger.ms": 5})
    for i in range(25):
        p.produce("cfk-t", key=b"k%d" % i, value=b"value-%s-%d " % (codec.encode(), i) * 3,
                  headers=[("codec", codec.encode()), ("i", str(i).encode())], partition=i % 3)
    p.flush(20)
c = Consumer({"bootstrap.servers": b, "group.id": "cfk-group", "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000})
c.subscribe(["cfk-t"])
n, until = 0, time.time() + 20
while n < 125 and time.time() < until:
    m = c.poll(1.0)
    if m is None or m.error():
        continue
    n += 1
    if n % 25 == 0:
        c.commit(asynchronous=False)
c.committed([TopicPartition("cfk-t", 0)], timeout=10)
c.offsets_for_times([TopicPartition("cfk-t", 0, int(time.time() * 1000) - 60000)], timeout=10)
c.get_watermark_offsets(TopicPartition("cfk-t", 1), timeout=10)
c.close()
a.list_groups(timeout=10)
for f in a.create_topics([NewTopic("cfk-del", 1, 1)]).values():
    try: f.result(20)
    except Exception as e: print(e)
for f in a.delete_topics(["cfk-del"]).values():
    try: f.result(20)
    except Exception as e: print(e)
"""


def scenario_python(kafka, code, what):
    run(["/usr/bin/python3", "-c", code, kafka], 90, what)


def scenario_kafkajs(kafka, workdir):
    node = shutil.which("node")
    pkg = os.path.join(REPO, "tests", "compat", "kafkajs")
    if not node or not os.path.isdir(os.path.join(pkg, "node_modules", "kafkajs")):
        log("kafkajs not installed (tests/compat/kafkajs: npm ci); skipped")
        return
    base_ts = int(time.time() * 1000) - 3600 * 1000
    recs = []
    for i in range(30):
        recs.append({"partition": i % 3,
                     "key": None if i % 10 == 3 else
                     __import__("base64").b64encode(b"kj-%03d" % i).decode(),
                     "value": __import__("base64").b64encode(b"value %d \x00\xff" % i).decode(),
                     "headers": [["idx", __import__("base64").b64encode(str(i).encode()).decode()]],
                     "timestamp": base_ts + i})
    spec = {"bootstrap": kafka, "topic": "kj-t", "group": "kj-group", "partitions": 3,
            "budgetMs": 60000, "records": recs}
    path = os.path.join(workdir, "kafkajs-spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    run([node, os.path.join(pkg, "compat.js"), path], 75, "kafkajs compat.js", cwd=pkg)


def scenario_sluice_cli(sluice, native):
    if not sluice or not os.access(sluice, os.X_OK):
        log("sluice CLI not found; native capture skipped")
        return
    base = [sluice, "--bootstrap", native]
    run(base + ["topic", "create", "nat-t", "--partitions", "2"], 30, "sluice topic create")
    run(base + ["topic", "list"], 30, "sluice topic list")
    run(base + ["topic", "describe", "nat-t"], 30, "sluice topic describe")
    data = b"".join(b"k%d:{\"n\":%d}\n" % (i, i) for i in range(40))
    run(base + ["produce", "nat-t", "--key-separator", ":"], 30, "sluice produce", stdin=data)
    run(base + ["consume", "nat-t", "--group", "nat-group", "--from-beginning",
                "--max-messages", "40", "--format", "kv"], 40, "sluice consume")
    run(base + ["group", "list"], 30, "sluice group list")
    run(base + ["group", "describe", "nat-group"], 30, "sluice group describe")
    run(base + ["topic", "create", "nat-del"], 30, "sluice topic create")
    run(base + ["topic", "delete", "nat-del"], 30, "sluice topic delete")


# --- writing the corpora -------------------------------------------------------------------------


def digest(data):
    return hashlib.sha1(data).hexdigest()[:12]


def reset_dir(path):
    if os.path.isdir(path):
        for name in os.listdir(path):
            os.remove(os.path.join(path, name))
    os.makedirs(path, exist_ok=True)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Cursor:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        if n < 0 or self.p + n > len(self.d):
            raise ValueError("short")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n)


def produce_records(frame):
    """The records blobs of a Produce request (v3-v8: not flexible) frame; [] if not one."""
    c = Cursor(frame)
    try:
        key, version = c.i16(), c.i16()
        if key != 0 or not 3 <= version <= 8:
            return []
        c.i32()
        c.string()          # client id
        c.string()          # transactional id
        c.i16(), c.i32()    # acks, timeout
        out = []
        for _ in range(c.i32()):
            c.string()
            for _ in range(c.i32()):
                c.i32()
                n = c.i32()
                if n > 0:
                    out.append(c.take(n))
        return out
    except ValueError:
        return []


def batches(blob):
    out, p = [], 0
    while p + 12 <= len(blob):
        size = 12 + struct.unpack(">i", blob[p + 8:p + 12])[0]
        if size < 61 or p + size > len(blob):
            break
        out.append(blob[p:p + size])
        p += size
    return out


def api_versions(port):
    """(key, min, max) of every API the broker advertises (ApiVersions v0, straight to it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        req = struct.pack(">hhih", 18, 0, 1, 7) + b"capture"
        s.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        c = Cursor(recv_exact(s, size))
    c.i32()  # correlation id
    if c.i16() != 0:
        return []
    return [(c.i16(), c.i16(), c.i16()) for _ in range(c.i32())]


def write_corpora(cap, data_dir, out, served):
    total_files = 0
    # Kafka requests: capped per (key, version), smallest distinct frames first.
    kdir = os.path.join(out, "kafka_request")
    reset_dir(kdir)
    by_version = {}
    for frame in sorted(set(cap.kafka), key=len):
        if len(frame) < 4 or len(frame) > MAX_FILE:
            continue
        key, version = struct.unpack(">hh", frame[:4])
        by_version.setdefault((key, version), []).append(frame)
    for (key, version), frames in sorted(by_version.items()):
        # Spread the picks over the sizes: the smallest, the largest and some between.
        picks = frames if len(frames) <= PER_KAFKA_VERSION else [
            frames[i * (len(frames) - 1) // (PER_KAFKA_VERSION - 1)]
            for i in range(PER_KAFKA_VERSION)]
        for f in dict.fromkeys(picks):
            name = "%s_v%d_%s" % (API_NAMES.get(key, "api%d" % key), version, digest(f))
            write(os.path.join(kdir, name), f)
            total_files += 1
    # Every served version no client sent: a captured request of the same API with its version
    # field changed (or a bare header), a starting point for the fuzzer.
    for key, lo, hi in served:
        for version in range(lo, hi + 1):
            if (key, version) in by_version:
                continue
            others = [f for (k, _), fs in sorted(by_version.items()) if k == key for f in fs]
            if others:
                f = others[0][:2] + struct.pack(">h", version) + others[0][4:]
            else:
                f = struct.pack(">hhih", key, version, 1, 7) + b"capture" + b"\x00"
            name = "%s_v%d_synth_%s" % (API_NAMES.get(key, "api%d" % key), version, digest(f))
            write(os.path.join(kdir, name), f)
    log("kafka_request: %d files, %d API keys, %d key/version pairs"
        % (len(os.listdir(kdir)), len({k for k, _ in by_version}), len(by_version)))

    # Record batches from the captured Produce requests, one codec/shape mix.
    rdir = os.path.join(out, "record_batch")
    reset_dir(rdir)
    blobs = []
    for frame in cap.kafka:
        blobs.extend(produce_records(frame))
    with cap.lock:
        native_frames = list(cap.native)
    for frame in native_frames:
        # A native Produce's payload is raw batches; the header length tells where it starts.
        if len(frame) > 8:
            hl = struct.unpack(">I", frame[4:8])[0]
            payload = frame[8 + hl:]
            if len(payload) >= 61:
                blobs.append(payload)
    seen_shapes = {}
    for blob in sorted(set(blobs), key=len):
        if len(blob) > MAX_FILE:
            continue
        first = batches(blob)
        if not first:
            continue
        attrs = struct.unpack(">h", first[0][21:23])[0]
        shape = (attrs & 0x17, struct.unpack(">q", first[0][43:51])[0] >= 0, len(first) > 1)
        if seen_shapes.get(shape, 0) >= 6:
            continue
        seen_shapes[shape] = seen_shapes.get(shape, 0) + 1
        write(os.path.join(rdir, digest(blob)), blob)
        if len(os.listdir(rdir)) >= MAX_RECORD_BATCH:
            break
    log("record_batch: %d files (%d shapes)" % (len(os.listdir(rdir)), len(seen_shapes)))

    # Recovery: the broker's own small segment files, then captured batches concatenated with
    # offsets assigned (and one torn and one corrupted copy).
    vdir = os.path.join(out, "recovery")
    reset_dir(vdir)
    segs = []
    for root, _, files in os.walk(data_dir):
        for name in files:
            if name.endswith(".log"):
                p = os.path.join(root, name)
                if 0 < os.path.getsize(p) <= MAX_FILE:
                    with open(p, "rb") as f:
                        segs.append(f.read())
    segs = sorted(set(segs), key=len)
    for seg in segs[:MAX_RECOVERY - 3]:
        write(os.path.join(vdir, "segment_" + digest(seg)), seg)
    all_batches = [b for blob in sorted(set(blobs), key=len) for b in batches(blob)]
    seg, offset = bytearray(), 0
    for b in all_batches:
        if len(seg) + len(b) > 16 * 1024:
            break
        last_delta = struct.unpack(">i", b[23:27])[0]
        seg += struct.pack(">q", offset) + b[8:]
        offset += max(last_delta, 0) + 1
    if seg:
        seg = bytes(seg)
        write(os.path.join(vdir, "concat_" + digest(seg)), seg)
        torn = seg[:len(seg) - 7]
        write(os.path.join(vdir, "torn_" + digest(torn)), torn)
        bad = bytearray(seg)
        bad[len(bad) // 2] ^= 0xFF
        write(os.path.join(vdir, "corrupt_" + digest(bytes(bad))), bytes(bad))
    log("recovery: %d files" % len(os.listdir(vdir)))

    # Native frames: capped per request kind (the oneof field number, read from the header).
    ndir = os.path.join(out, "native_frame")
    reset_dir(ndir)
    kinds = {}
    for frame in sorted(set(native_frames), key=len):
        if len(frame) > MAX_FILE or len(frame) < 9:
            continue
        kind = native_kind(frame)
        kinds.setdefault(kind, []).append(frame)
    for kind, frames in sorted(kinds.items()):
        picks = frames if len(frames) <= PER_NATIVE_KIND else [
            frames[i * (len(frames) - 1) // (PER_NATIVE_KIND - 1)] for i in range(PER_NATIVE_KIND)]
        for f in dict.fromkeys(picks):
            write(os.path.join(ndir, "req%d_%s" % (kind, digest(f))), f)
    with cap.lock:
        streams = sorted(set(cap.native_streams), key=len)
    for s in streams[:4]:
        write(os.path.join(ndir, "stream_" + digest(s)), s)
    log("native_frame: %d files (%d request kinds)" % (len(os.listdir(ndir)), len(kinds)))


def native_kind(frame):
    """The field number of the request set in a native RequestHeader (0 if none)."""
    hl = struct.unpack(">I", frame[4:8])[0]
    h, p, kind = frame[8:8 + hl], 0, 0
    try:
        while p < len(h):
            tag, p = read_varint(h, p)
            field, wt = tag >> 3, tag & 7
            if wt == 0:
                _, p = read_varint(h, p)
            elif wt == 2:
                n, p = read_varint(h, p)
                p += n
                if field >= 10:
                    kind = field
            elif wt == 1:
                p += 8
            elif wt == 5:
                p += 4
            else:
                break
    except IndexError:
        pass
    return kind


def read_varint(b, p):
    v, shift = 0, 0
    while True:
        x = b[p]
        p += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluiced", default=os.path.join(REPO, "build", "bin", "sluiced"))
    ap.add_argument("--sluice", default=os.path.join(REPO, "build", "bin", "sluice"))
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fuzz", "corpus"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (broker log, data)")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="sluice-capture-")
    cap = Capture()
    served = []
    broker = Broker(args.sluiced, workdir)
    proxies = []
    try:
        kp = Proxy("kafka", broker.ports["kafka"], cap)
        np_ = Proxy("native", broker.ports["native"], cap)
        proxies = [kp, np_]
        kafka, native = "127.0.0.1:%d" % kp.port, "127.0.0.1:%d" % np_.port
        log("sluiced kafka :%d native :%d; proxies %s, %s" % (
            broker.ports["kafka"], broker.ports["native"], kafka, native))
        steps = [("kcat", lambda: scenario_kcat(kafka)),
                 ("kafka-python", lambda: scenario_python(kafka, KAFKA_PYTHON, "kafka-python")),
                 ("confluent-kafka", lambda: scenario_python(kafka, CONFLUENT, "confluent-kafka")),
                 ("kafkajs", lambda: scenario_kafkajs(kafka, workdir)),
                 ("sluice CLI", lambda: scenario_sluice_cli(args.sluice, native))]
        for name, step in steps:
            if time.monotonic() > DEADLINE:
                log("time is up; skipping the rest")
                break
            t0 = time.monotonic()
            before = len(cap.kafka) + len(cap.native)
            step()
            log("%s: %d frames in %.1f s" % (name, len(cap.kafka) + len(cap.native) - before,
                                              time.monotonic() - t0))
        time.sleep(0.5)
        served = api_versions(broker.ports["kafka"])
    finally:
        for p in proxies:
            p.close()
        broker.stop()
    write_corpora(cap, os.path.join(workdir, "data"), args.out, served)
    if args.keep:
        log("kept " + workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
