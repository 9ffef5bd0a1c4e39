#include "storage/meta_store.h"

#include <array>
#include <filesystem>
#include <limits>

#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/str_cat.h"
#include "storage/absl_compat.h"
#include "storage/byte_order.h"
#include "storage/errors.h"
#include "storage/index_format.h"
#include "storage/status_macros.h"

namespace sluice::storage {
namespace {

using namespace index_format;

// The one place a rocksdb::Status becomes ours.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNoSpace()) return StorageError(StorageErrc::kDiskFull, absl::StrCat(ToAbsl(what), ": ", s.ToString()));
  return StorageError(StorageErrc::kIoError, absl::StrCat(ToAbsl(what), ": ", s.ToString()));
}

constexpr char kNextTopicIdKey[] = "\0next_topic_id";
const std::string kNextTopicId(kNextTopicIdKey, sizeof(kNextTopicIdKey) - 1);
// Default column family: the first producer id not yet reserved.
const std::string kNextProducerId = "next_producer_id";

// The partition key as one number: topic id (high half), partition (low half).
uint64_t PackedPartition(const PartitionKey& pk) {
  return (uint64_t(pk.topic_id) << 32) | uint32_t(pk.partition.value());
}

// An offset-index key on the stack (a std::string of 16 bytes would allocate).
using KeyBuf = std::array<uint8_t, kPartitionKeySize + 8>;
KeyBuf OffsetKeyBuf(const PartitionKey& pk, Offset o) {
  KeyBuf k;
  StoreBigEndian(k.data(), PackedPartition(pk));
  StoreBigEndian(k.data() + kPartitionKeySize, static_cast<uint64_t>(o.value()));
  return k;
}

std::string OffsetKey(const PartitionKey& pk, Offset o) {
  KeyBuf k = OffsetKeyBuf(pk, o);
  return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

std::string TimeKey(const PartitionKey& pk, int64_t ts) {
  std::string k = pk.Encode();
  PutU64(&k, EncodeTimestamp(ts));
  return k;
}

// Upper bound of a partition's key range: the next partition key.
std::string PartitionEnd(const PartitionKey& pk) {
  std::string k;
  PutU64(&k, PackedPartition(pk) + 1);
  return k;
}

std::string EncodeEntry(const BatchIndexEntry& e) {
  std::string v;
  v.reserve(kOffsetEntryValueSize);
  PutU32(&v, static_cast<uint32_t>(e.last_offset - e.base_offset));
  PutU64(&v, static_cast<uint64_t>(e.segment_base.value()));
  PutU64(&v, e.position);
  PutU32(&v, e.size);
  PutU64(&v, static_cast<uint64_t>(e.max_timestamp));
  return v;
}

std::optional<BatchIndexEntry> DecodeEntry(rocksdb::Slice key, rocksdb::Slice value) {
  if (key.size() != kPartitionKeySize + 8 || value.size() != kOffsetEntryValueSize) return std::nullopt;
  BatchIndexEntry e;
  e.base_offset = Offset(static_cast<int64_t>(GetU64(key.data() + kPartitionKeySize)));
  e.last_offset = e.base_offset + GetU32(value.data());
  e.segment_base = Offset(static_cast<int64_t>(GetU64(value.data() + 4)));
  e.position = GetU64(value.data() + 12);
  e.size = GetU32(value.data() + 20);
  e.max_timestamp = static_cast<int64_t>(GetU64(value.data() + 24));
  return e;
}

absl::Status CorruptIndex(rocksdb::Slice key) {
  return StorageError(StorageErrc::kIoError,
                      absl::StrCat("malformed index entry, key size ", key.size()));
}

}  // namespace

std::string PartitionKey::Encode() const {
  std::string k;
  PutU32(&k, topic_id);
  PutU32(&k, static_cast<uint32_t>(partition.value()));
  return k;
}

namespace {

constexpr char kOffsetIndexCf[] = "offset_index";

// Calls back when a flush or compaction installed new files in a column family: idle pooled
// iterators of it still pin the old version (see MetaStore::PooledIterator).
class NewVersionListener : public rocksdb::EventListener {
 public:
  explicit NewVersionListener(std::function<void(const std::string& cf_name)> fn)
      : fn_(std::move(fn)) {}
  void OnFlushCompleted(rocksdb::DB*, const rocksdb::FlushJobInfo& info) override {
    fn_(info.cf_name);
  }
  void OnCompactionCompleted(rocksdb::DB*, const rocksdb::CompactionJobInfo& info) override {
    fn_(info.cf_name);
  }

 private:
  std::function<void(const std::string&)> fn_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& dir,
                                                          const Options& options_in) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoError(ec.value(), absl::StrCat("create ", dir));
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.max_background_jobs = 2;
  // No periodic stats dump to the LOG: it walks the whole (up to 1 GiB) index block cache under
  // the cache's shard locks, a stall for the fetches looking up offsets at that moment.
  // Sluice's own /metrics is the place for figures.
  options.stats_dump_period_sec = 0;
  // Index entries are small and sequential per partition; a modest memtable bounds the tail a
  // crash can lose (and recovery must rebuild).
  rocksdb::ColumnFamilyOptions cf_options(options);
  cf_options.write_buffer_size = 32 << 20;
  // The index column families are read at random by fetches: give them a block cache sized for
  // the index (capacity is only used as blocks are read) and cheap LZ4 blocks. With the 8 MiB
  // default a 10 M-entry index misses the cache on nearly every lookup (bench/storage.sh).
  rocksdb::ColumnFamilyOptions index_options(cf_options);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options_in.index_cache_bytes);
  table.cache_index_and_filter_blocks = false;  // keep SST index blocks pinned in memory
  // Binary search over every 16th index entry, then a short sequential scan, instead of a binary
  // search over every entry: at 10 M entries an SST's index block has thousands of entries, and
  // each probe of a full binary search is a cache (and TLB) miss.
  table.index_block_restart_interval = 16;
  index_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  index_options.compression = rocksdb::kLZ4Compression;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {kOffsetIndexCf, index_options},
      {"time_index", index_options},
      {"partitions", cf_options},
      {"topics", cf_options},
      {"group_offsets", cf_options},
  };
  std::unique_ptr<MetaStore> store(new MetaStore());
  options.listeners.push_back(std::make_shared<NewVersionListener>(
      [s = store.get()](const std::string& cf_name) {
        if (cf_name == kOffsetIndexCf) s->DropIdleIterators();
      }));
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(rocksdb::DBOptions(options), dir, cfs, &store->handles_, &db);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open metadata store ", dir));
  store->db_.reset(db);
  store->offsets_ = store->handles_[1];
  store->times_ = store->handles_[2];
  store->partitions_ = store->handles_[3];
  store->topics_ = store->handles_[4];
  store->group_offsets_ = store->handles_[5];
  return store;
}

MetaStore::MetaStore() = default;

MetaStore::~MetaStore() { Close().IgnoreError(); }

absl::Status MetaStore::Close() {
  if (!db_) return absl::OkStatus();
  DropIdleIterators();  // iterators must go before the column family handles and the DB
  absl::Status result = FlushIndex();
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles_.clear();
  auto s = db_->Close();
  if (result.ok()) result = FromRocks(s, "close metadata store");
  db_.reset();
  return result;
}

absl::Status MetaStore::FlushIndex() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, {offsets_, times_}), "flush index");
}

absl::Status MetaStore::Write(rocksdb::WriteBatch* b, bool wal, bool sync) {
  rocksdb::WriteOptions wo;
  wo.disableWAL = !wal;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, b), "metadata write");
}

absl::Status MetaStore::PutBatch(const PartitionKey& pk, const BatchIndexEntry& e,
                                 bool raises_max_timestamp) {
  rocksdb::WriteBatch b;
  b.Put(offsets_, OffsetKey(pk, e.base_offset), EncodeEntry(e)).PermitUncheckedError();
  if (raises_max_timestamp) {
    std::string v;
    PutU64(&v, static_cast<uint64_t>(e.base_offset.value()));
    b.Put(times_, TimeKey(pk, e.max_timestamp), v).PermitUncheckedError();
  }
  return Write(&b, /*wal=*/false, /*sync=*/false);
}

absl::StatusOr<std::optional<BatchIndexEntry>> MetaStore::FindBatch(const PartitionKey& pk,
                                                                    Offset offset) const {
  std::optional<BatchIndexEntry> found;
  absl::Status s = ScanBatches(pk, offset, [&](const BatchIndexEntry& e) {
    found = e;
    return false;
  });
  if (!s.ok()) return s;
  return found;
}

absl::StatusOr<std::optional<BatchIndexEntry>> MetaStore::LastBatch(const PartitionKey& pk) const {
  std::string lower = pk.Encode();
  std::string upper = PartitionEnd(pk);
  rocksdb::Slice ub(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, offsets_));
  it->SeekToLast();
  if (!it->Valid() || !it->key().starts_with(lower)) {
    auto st = FromRocks(it->status(), "index scan");
    if (!st.ok()) return st;
    return std::optional<BatchIndexEntry>();
  }
  auto e = DecodeEntry(it->key(), it->value());
  if (!e) return CorruptIndex(it->key());
  return e;
}

absl::Status MetaStore::ScanBatches(const PartitionKey& pk, Offset from,
                                    const std::function<bool(const BatchIndexEntry&)>& fn) const {
  KeyBuf start = OffsetKeyBuf(pk, from);
  rocksdb::Slice target(reinterpret_cast<const char*>(start.data()), start.size());
  rocksdb::Slice prefix(target.data(), kPartitionKeySize);
  PooledIterator it = TakeOffsetIterator();
  // The batch containing `from` starts at or before it: take the last entry <= from, and skip it
  // if it ends before `from` (offset gap).
  it->SeekForPrev(target);
  if (!it->Valid() || !it->key().starts_with(prefix)) it->Seek(target);
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto e = DecodeEntry(it->key(), it->value());
    if (!e) return CorruptIndex(it->key());
    if (e->last_offset < from) continue;
    if (!fn(*e)) break;
  }
  return FromRocks(it->status(), "index scan");
}

MetaStore::PooledIterator MetaStore::TakeOffsetIterator() const {
  std::unique_ptr<rocksdb::Iterator> it;
  // Read before taking: a version installed after this makes the iterator stale on return.
  uint64_t epoch = version_epoch_.load(std::memory_order_acquire);
  {
    std::lock_guard l(iter_mu_);
    if (!idle_offset_iters_.empty()) {
      it = std::move(idle_offset_iters_.back());
      idle_offset_iters_.pop_back();
    }
  }
  // Refresh is cheap while no flush or compaction changed the column family's files: it only
  // moves the iterator to the latest sequence number (and re-reads the memtable's range
  // deletions), so it sees every write made before this call, like a new iterator would.
  if (it && !it->Refresh().ok()) it.reset();
  if (!it) it.reset(db_->NewIterator(rocksdb::ReadOptions(), offsets_));
  return PooledIterator(this, std::move(it), epoch);
}

MetaStore::PooledIterator::PooledIterator(const MetaStore* store,
                                          std::unique_ptr<rocksdb::Iterator> it, uint64_t epoch)
    : store_(store), it_(std::move(it)), epoch_(epoch) {}

MetaStore::PooledIterator::~PooledIterator() {
  store_->ReturnOffsetIterator(std::move(it_), epoch_);
}

void MetaStore::ReturnOffsetIterator(std::unique_ptr<rocksdb::Iterator> it, uint64_t epoch) const {
  // Not kept: one that failed, one that would pin a replaced version, one over the cap.
  if (!it->status().ok() || epoch != version_epoch_.load(std::memory_order_acquire)) return;
  std::lock_guard l(iter_mu_);
  if (idle_offset_iters_.size() < kMaxIdleIterators) idle_offset_iters_.push_back(std::move(it));
}

void MetaStore::DropIdleIterators() const {
  version_epoch_.fetch_add(1, std::memory_order_acq_rel);
  std::vector<std::unique_ptr<rocksdb::Iterator>> idle;
  {
    std::lock_guard l(iter_mu_);
    idle.swap(idle_offset_iters_);
  }
  // Destroyed here, outside the lock (releasing a version may take RocksDB's own mutex).
}

absl::Status MetaStore::DeleteBatchesFrom(const PartitionKey& pk, Offset from) {
  rocksdb::WriteBatch b;
  b.DeleteRange(offsets_, OffsetKey(pk, from), PartitionEnd(pk)).PermitUncheckedError();
  RETURN_IF_ERROR(Write(&b, /*wal=*/true, /*sync=*/false));
  return DeleteTimeEntries(pk, from, std::nullopt);
}

absl::Status MetaStore::DeleteBatchesBefore(const PartitionKey& pk, Offset before) {
  rocksdb::WriteBatch b;
  b.DeleteRange(offsets_, pk.Encode(), OffsetKey(pk, before)).PermitUncheckedError();
  RETURN_IF_ERROR(Write(&b, /*wal=*/true, /*sync=*/false));
  return DeleteTimeEntries(pk, std::nullopt, before);
}

// Time entries rise with offsets, so those >= `from` are a suffix and those < `before` a prefix.
absl::Status MetaStore::DeleteTimeEntries(const PartitionKey& pk, std::optional<Offset> from,
                                          std::optional<Offset> before) {
  std::string prefix = pk.Encode();
  std::string upper = PartitionEnd(pk);
  rocksdb::Slice ub(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, times_));
  rocksdb::WriteBatch b;
  if (from) {
    for (it->SeekToLast(); it->Valid() && it->key().starts_with(prefix); it->Prev()) {
      if (it->value().size() != 8) return CorruptIndex(it->key());
      if (static_cast<int64_t>(GetU64(it->value().data())) < from->value()) break;
      b.Delete(times_, it->key()).PermitUncheckedError();
    }
  } else {
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      if (it->value().size() != 8) return CorruptIndex(it->key());
      if (static_cast<int64_t>(GetU64(it->value().data())) >= before->value()) break;
      b.Delete(times_, it->key()).PermitUncheckedError();
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "time index scan"));
  if (b.Count() == 0) return absl::OkStatus();
  return Write(&b, /*wal=*/true, /*sync=*/false);
}

absl::StatusOr<std::optional<Offset>> MetaStore::FindOffsetForTimestamp(const PartitionKey& pk,
                                                                        int64_t ts) const {
  std::string upper = PartitionEnd(pk);
  rocksdb::Slice ub(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, times_));
  it->Seek(TimeKey(pk, ts));
  if (!it->Valid()) {
    auto st = FromRocks(it->status(), "time index scan");
    if (!st.ok()) return st;
    return std::optional<Offset>();
  }
  if (it->value().size() != 8) return CorruptIndex(it->key());
  return std::optional<Offset>(Offset(static_cast<int64_t>(GetU64(it->value().data()))));
}

absl::StatusOr<std::optional<int64_t>> MetaStore::MaxIndexedTimestamp(const PartitionKey& pk) const {
  std::string upper = PartitionEnd(pk);
  std::string prefix = pk.Encode();
  rocksdb::Slice ub(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, times_));
  it->SeekToLast();
  if (!it->Valid() || !it->key().starts_with(prefix)) {
    auto st = FromRocks(it->status(), "time index scan");
    if (!st.ok()) return st;
    return std::optional<int64_t>();
  }
  return std::optional<int64_t>(DecodeTimestamp(GetU64(it->key().data() + kPartitionKeySize)));
}

namespace {
std::string PartitionMetaKey(const PartitionKey& pk, char kind) { return pk.Encode() + kind; }
std::string SegmentSummaryKey(const PartitionKey& pk, Offset base) {
  std::string k = PartitionMetaKey(pk, 's');
  PutU64(&k, static_cast<uint64_t>(base.value()));
  return k;
}
}  // namespace

absl::Status MetaStore::PutCheckpoint(const PartitionKey& pk, const Checkpoint& c, bool sync,
                                     std::optional<std::string_view> producer_snapshot) {
  std::string v;
  PutU64(&v, static_cast<uint64_t>(c.segment_base.value()));
  PutU64(&v, c.position);
  PutU64(&v, static_cast<uint64_t>(c.next_offset.value()));
  rocksdb::WriteBatch b;
  b.Put(partitions_, PartitionMetaKey(pk, 'c'), v).PermitUncheckedError();
  if (producer_snapshot) {
    b.Put(partitions_, PartitionMetaKey(pk, 'p'),
          rocksdb::Slice(producer_snapshot->data(), producer_snapshot->size()))
        .PermitUncheckedError();
  }
  return Write(&b, /*wal=*/true, sync);
}

absl::StatusOr<std::optional<std::string>> MetaStore::GetProducerSnapshot(
    const PartitionKey& pk) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), partitions_, PartitionMetaKey(pk, 'p'), &v);
  if (s.IsNotFound()) return std::optional<std::string>();
  RETURN_IF_ERROR(FromRocks(s, "read producer state snapshot"));
  return std::optional<std::string>(std::move(v));
}

absl::StatusOr<std::optional<Checkpoint>> MetaStore::GetCheckpoint(const PartitionKey& pk) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), partitions_, PartitionMetaKey(pk, 'c'), &v);
  if (s.IsNotFound()) return std::optional<Checkpoint>();
  RETURN_IF_ERROR(FromRocks(s, "read checkpoint"));
  if (v.size() != 24) return CorruptIndex(PartitionMetaKey(pk, 'c'));
  Checkpoint c{Offset(static_cast<int64_t>(GetU64(v.data()))), GetU64(v.data() + 8),
               Offset(static_cast<int64_t>(GetU64(v.data() + 16)))};
  return std::optional<Checkpoint>(c);
}

absl::Status MetaStore::PutLogStartOffset(const PartitionKey& pk, Offset o) {
  std::string v;
  PutU64(&v, static_cast<uint64_t>(o.value()));
  rocksdb::WriteBatch b;
  b.Put(partitions_, PartitionMetaKey(pk, 'l'), v).PermitUncheckedError();
  return Write(&b, /*wal=*/true, /*sync=*/true);
}

absl::StatusOr<std::optional<Offset>> MetaStore::GetLogStartOffset(const PartitionKey& pk) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), partitions_, PartitionMetaKey(pk, 'l'), &v);
  if (s.IsNotFound()) return std::optional<Offset>();
  RETURN_IF_ERROR(FromRocks(s, "read log start offset"));
  if (v.size() != 8) return CorruptIndex(PartitionMetaKey(pk, 'l'));
  return std::optional<Offset>(Offset(static_cast<int64_t>(GetU64(v.data()))));
}

absl::Status MetaStore::PutSegmentSummary(const PartitionKey& pk, Offset base,
                                          const SegmentSummary& s) {
  std::string v;
  PutU64(&v, s.size);
  PutU64(&v, static_cast<uint64_t>(s.max_timestamp));
  rocksdb::WriteBatch b;
  b.Put(partitions_, SegmentSummaryKey(pk, base), v).PermitUncheckedError();
  return Write(&b, /*wal=*/true, /*sync=*/false);
}

absl::StatusOr<std::optional<SegmentSummary>> MetaStore::GetSegmentSummary(const PartitionKey& pk,
                                                                           Offset base) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), partitions_, SegmentSummaryKey(pk, base), &v);
  if (s.IsNotFound()) return std::optional<SegmentSummary>();
  RETURN_IF_ERROR(FromRocks(s, "read segment summary"));
  if (v.size() != 16) return CorruptIndex(SegmentSummaryKey(pk, base));
  return std::optional<SegmentSummary>(
      SegmentSummary{GetU64(v.data()), static_cast<int64_t>(GetU64(v.data() + 8))});
}

absl::Status MetaStore::DeleteSegmentSummary(const PartitionKey& pk, Offset base) {
  rocksdb::WriteBatch b;
  b.Delete(partitions_, SegmentSummaryKey(pk, base)).PermitUncheckedError();
  return Write(&b, /*wal=*/true, /*sync=*/false);
}

absl::Status MetaStore::DeletePartition(const PartitionKey& pk) {
  rocksdb::WriteBatch b;
  std::string lo = pk.Encode(), hi = PartitionEnd(pk);
  for (auto* cf : {offsets_, times_, partitions_}) b.DeleteRange(cf, lo, hi).PermitUncheckedError();
  return Write(&b, /*wal=*/true, /*sync=*/true);
}

absl::Status MetaStore::PutTopic(const meta::TopicRecord& t) {
  rocksdb::WriteBatch b;
  b.Put(topics_, t.name(), t.SerializeAsString()).PermitUncheckedError();
  return Write(&b, /*wal=*/true, /*sync=*/true);
}

absl::Status MetaStore::DeleteTopic(const std::string& name) {
  rocksdb::WriteBatch b;
  b.Delete(topics_, name).PermitUncheckedError();
  return Write(&b, /*wal=*/true, /*sync=*/true);
}

absl::StatusOr<std::vector<meta::TopicRecord>> MetaStore::ListTopics() const {
  std::vector<meta::TopicRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), topics_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key() == rocksdb::Slice(kNextTopicId)) continue;
    meta::TopicRecord t;
    if (!t.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return StorageError(StorageErrc::kIoError,
                          absl::StrCat("malformed topic record ", it->key().ToString()));
    }
    out.push_back(std::move(t));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "list topics"));
  return out;
}

absl::StatusOr<uint32_t> MetaStore::AllocateTopicId() {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), topics_, kNextTopicId, &v);
  uint32_t next = 1;
  if (s.ok() && v.size() == 4) {
    next = GetU32(v.data());
  } else if (!s.IsNotFound()) {
    RETURN_IF_ERROR(FromRocks(s, "read next topic id"));
  }
  std::string nv;
  PutU32(&nv, next + 1);
  rocksdb::WriteBatch b;
  b.Put(topics_, kNextTopicId, nv).PermitUncheckedError();
  RETURN_IF_ERROR(Write(&b, /*wal=*/true, /*sync=*/true));
  return next;
}

absl::StatusOr<int64_t> MetaStore::ReserveProducerIds(int64_t count) {
  if (count <= 0) return absl::InvalidArgumentError("producer id block must not be empty");
  std::lock_guard l(producer_ids_mu_);
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), kNextProducerId, &v);
  int64_t first = 0;
  if (s.ok()) {
    if (v.size() != 8) return CorruptIndex(kNextProducerId);
    first = static_cast<int64_t>(GetU64(v.data()));
  } else if (!s.IsNotFound()) {
    RETURN_IF_ERROR(FromRocks(s, "read next producer id"));
  }
  if (first > std::numeric_limits<int64_t>::max() - count) {
    return StorageError(StorageErrc::kIoError, "producer ids exhausted");
  }
  std::string nv;
  PutU64(&nv, static_cast<uint64_t>(first + count));
  rocksdb::WriteBatch b;
  b.Put(db_->DefaultColumnFamily(), kNextProducerId, nv).PermitUncheckedError();
  RETURN_IF_ERROR(Write(&b, /*wal=*/true, /*sync=*/true));
  return first;
}

namespace {
// group \0 topic \0 partition(u32). Group ids and topic names never contain NUL (validated).
std::string GroupOffsetKey(const std::string& group, const std::string& topic, int32_t p) {
  std::string k = group;
  k.push_back('\0');
  k += topic;
  k.push_back('\0');
  PutU32(&k, static_cast<uint32_t>(p));
  return k;
}
std::string GroupPrefix(const std::string& group) { return group + std::string(1, '\0'); }
}  // namespace

absl::Status MetaStore::PutGroupOffsets(const std::string& group,
                                        const std::vector<CommittedOffset>& offsets) {
  rocksdb::WriteBatch b;
  for (const auto& o : offsets) {
    std::string v;
    PutU64(&v, static_cast<uint64_t>(o.offset));
    PutU64(&v, static_cast<uint64_t>(o.commit_time_ms));
    v += o.metadata;
    b.Put(group_offsets_, GroupOffsetKey(group, o.topic, o.partition), v).PermitUncheckedError();
  }
  return Write(&b, /*wal=*/true, /*sync=*/true);
}

absl::StatusOr<std::vector<CommittedOffset>> MetaStore::GetGroupOffsets(
    const std::string& group) const {
  std::vector<CommittedOffset> out;
  std::string prefix = GroupPrefix(group);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), group_offsets_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice rest = it->key();
    rest.remove_prefix(prefix.size());
    if (rest.size() < 5 || rest[rest.size() - 5] != '\0' || it->value().size() < 16) {
      return CorruptIndex(it->key());
    }
    CommittedOffset o;
    o.topic = std::string(rest.data(), rest.size() - 5);
    o.partition = static_cast<int32_t>(GetU32(rest.data() + rest.size() - 4));
    o.offset = static_cast<int64_t>(GetU64(it->value().data()));
    o.commit_time_ms = static_cast<int64_t>(GetU64(it->value().data() + 8));
    o.metadata = std::string(it->value().data() + 16, it->value().size() - 16);
    out.push_back(std::move(o));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "read group offsets"));
  return out;
}

absl::StatusOr<std::vector<std::string>> MetaStore::ListOffsetGroups() const {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), group_offsets_));
  it->SeekToFirst();
  while (it->Valid()) {
    rocksdb::Slice k = it->key();
    size_t nul = std::string_view(k.data(), k.size()).find('\0');
    if (nul == std::string_view::npos) return CorruptIndex(k);
    std::string group(k.data(), nul);
    out.push_back(group);
    // Skip to the next group: the smallest key greater than every "group\0..." key.
    std::string next = group;
    next.push_back('\1');
    it->Seek(next);
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "list groups"));
  return out;
}

absl::Status MetaStore::DeleteGroupOffsets(const std::string& group) {
  rocksdb::WriteBatch b;
  std::string lo = GroupPrefix(group);
  std::string hi = group;
  hi.push_back('\1');
  b.DeleteRange(group_offsets_, lo, hi).PermitUncheckedError();
  return Write(&b, /*wal=*/true, /*sync=*/true);
}

absl::Status MetaStore::DeleteTopicOffsets(const std::string& topic) {
  ASSIGN_OR_RETURN(std::vector<std::string> groups, ListOffsetGroups());
  rocksdb::WriteBatch b;
  for (const auto& g : groups) {
    std::string lo = GroupPrefix(g) + topic + std::string(1, '\0');
    std::string hi = GroupPrefix(g) + topic + std::string(1, '\1');
    b.DeleteRange(group_offsets_, lo, hi).PermitUncheckedError();
  }
  if (b.Count() == 0) return absl::OkStatus();
  return Write(&b, /*wal=*/true, /*sync=*/true);
}

}  // namespace sluice::storage
