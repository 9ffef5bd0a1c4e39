#include "storage/producer_id_allocator.h"

#include <cassert>

#include "storage/status_macros.h"

namespace sluice::storage {

absl::StatusOr<int64_t> ProducerIdAllocator::Allocate() {
  std::lock_guard l(mu_);
  assert(next_ <= end_);
  if (next_ == end_) {
    ASSIGN_OR_RETURN(int64_t first, meta_->ReserveProducerIds(block_size_));
    next_ = first;
    end_ = first + block_size_;
  }
  return next_++;
}

}  // namespace sluice::storage
