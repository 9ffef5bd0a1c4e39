#!/usr/bin/python3
"""Writes kafka_python_batch.bin: one uncompressed RecordBatch v2 built by kafka-python's own
builder (kafka.record.default_records.DefaultRecordBatchBuilder), CRC included.

storage/record_batch_test.cc (KafkaPythonCompatTest) parses the file, checks every field against
RECORDS below (mirrored there as kKafkaPythonRecords; keep the two in step) and rebuilds the
same batch with RecordBatchBuilder to compare bytes.

Run with the system Python; needs the Debian package python3-kafka (kafka-python 2.0.2):
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-kafka
  /usr/bin/python3 tests/testdata/make_kafka_python_batch.py
"""

import os
import sys

import kafka
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

# (timestamp_ms, key, value, headers). Header keys are str (kafka-python encodes them as UTF-8),
# header values bytes or None. The third record is older than the first, so its timestampDelta
# is negative (zigzag), and maxTimestamp comes from the second.
RECORDS = [
    (1700000000000, b"key-0", b"value-0", [("trace-id", b"abc123")]),
    (1700000000250, None, b"value with a null key", []),
    (1699999999990, b"key-2", None, [("h1", b"v1"), ("h-null", None), ("cl\u00e9", b"")]),
    (1700000000100, b"", b"", []),
]


def main():
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=False,
        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for offset, (timestamp, key, value, headers) in enumerate(RECORDS):
        if builder.append(offset, timestamp, key, value, headers) is None:
            sys.exit("record %d did not fit" % offset)
    data = bytes(builder.build())

    # Read it back with kafka-python's reader as a sanity check of the fixture itself.
    batch = DefaultRecordBatch(data)
    assert batch.validate_crc()
    read = [(r.timestamp, r.key, r.value, r.headers) for r in batch]
    assert read == RECORDS, read

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kafka_python_batch.bin")
    with open(out, "wb") as f:
        f.write(data)
    print("kafka-python %s wrote %s: %d bytes, crc 0x%08x" % (
        kafka.__version__, out, len(data), batch.crc))


if __name__ == "__main__":
    main()
