#include "storage/segment.h"

#include "storage/test_util.h"

namespace sluice::storage {
namespace {

using testing::HasErrc;
using testing::IsOk;
using testing::TempDir;

TEST(SegmentFileNameTest, IsTwentyDigitBaseOffset) {
  EXPECT_EQ(Segment::FileName(Offset(0)), "00000000000000000000.log");
  EXPECT_EQ(Segment::FileName(Offset(1234567)), "00000000000001234567.log");
  EXPECT_EQ(Segment::ParseFileName("00000000000001234567.log"), Offset(1234567));
  EXPECT_EQ(Segment::ParseFileName("0000000000000123456.log"), std::nullopt);
  EXPECT_EQ(Segment::ParseFileName("0000000000000123456x.log"), std::nullopt);
  EXPECT_EQ(Segment::ParseFileName("00000000000001234567.index"), std::nullopt);
  EXPECT_EQ(Segment::ParseFileName("99999999999999999999.log"), std::nullopt);  // overflow
}

TEST(SegmentTest, AppendReadSyncTruncate) {
  TempDir dir;
  auto seg = Segment::Create(FileFactory::Posix(), dir.path(), Offset(42), 0);
  ASSERT_THAT(seg, IsOk());
  auto p1 = (*seg)->Append(AsBytes("hello"));
  auto p2 = (*seg)->Append(AsBytes("world!"));
  ASSERT_THAT(p1, IsOk());
  ASSERT_THAT(p2, IsOk());
  EXPECT_EQ(*p1, 0u);
  EXPECT_EQ(*p2, 5u);
  EXPECT_EQ((*seg)->size(), 11u);
  EXPECT_EQ((*seg)->synced_size(), 0u);
  ASSERT_THAT((*seg)->Sync(), IsOk());
  EXPECT_EQ((*seg)->synced_size(), 11u);
  std::string buf(20, '\0');
  auto n = (*seg)->Read(3, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(buf.substr(0, *n), "loworld!");
  ASSERT_THAT((*seg)->TruncateTo(5), IsOk());
  EXPECT_EQ((*seg)->size(), 5u);
  EXPECT_EQ((*seg)->synced_size(), 5u);
  EXPECT_FALSE((*seg)->TruncateTo(6).ok());
  // Reopen sees the file's size.
  auto again = Segment::Open(FileFactory::Posix(), dir.path(), Offset(42), 0);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ((*again)->size(), 5u);
}

TEST(SegmentTest, FailedWriteLeavesNoPartialBytes) {
  TempDir dir;
  testing::FaultyFileFactory files;
  auto seg = Segment::Create(&files, dir.path(), Offset(0), 0);
  ASSERT_THAT(seg, IsOk());
  ASSERT_THAT((*seg)->Append(AsBytes("abc")), IsOk());
  files.write_budget = 2;
  EXPECT_THAT((*seg)->Append(AsBytes("defgh")), HasErrc(StorageErrc::kDiskFull));
  EXPECT_EQ((*seg)->size(), 3u);
  EXPECT_EQ(*FileFactory::Posix()->Open((*seg)->path(), false).value()->Size(), 3u);
  EXPECT_FALSE((*seg)->broken());
}

TEST(SegmentTest, FailedWriteAndFailedUndoBreaksTheSegment) {
  TempDir dir;
  testing::FaultyFileFactory files;
  auto seg = Segment::Create(&files, dir.path(), Offset(0), 0);
  ASSERT_THAT(seg, IsOk());
  files.write_budget = 1;
  files.fail_truncate = true;
  EXPECT_FALSE((*seg)->Append(AsBytes("xyz")).ok());
  EXPECT_TRUE((*seg)->broken());
  files.write_budget = -1;
  EXPECT_THAT((*seg)->Append(AsBytes("ok")), HasErrc(StorageErrc::kFenced));
}

}  // namespace
}  // namespace sluice::storage
