// frame_splitter.cc — see frame_splitter.h.
#include "frame_splitter.h"

#include <algorithm>
#include <utility>

namespace xdrd {

namespace {

// First reservation for a frame whose length word has just arrived. Small
// on purpose: a length word is a promise, not data; the buffer grows only as
// the bytes come in.
constexpr size_t kInitialFrameReserve = 4096;

}  // namespace

FrameSplitter::FrameSplitter(uint32_t max_message_bytes)
    : max_message_bytes_(max_message_bytes) {}

bool FrameSplitter::Feed(const uint8_t* data, size_t n) {
  if (failed()) return false;
  while (n > 0) {
    if (!length_known_) {
      const size_t take = std::min(kLengthWordBytes - length_have_, n);
      std::copy(data, data + take, length_bytes_ + length_have_);
      length_have_ += take;
      data += take;
      n -= take;
      if (length_have_ < kLengthWordBytes) break;  // n is 0: wait for more
      if (!StartFrame()) return false;
    }
    const size_t took = FillFrame(data, n);
    data += took;
    n -= took;
  }
  return true;
}

bool FrameSplitter::StartFrame() {
  const uint32_t length = (uint32_t{length_bytes_[0]} << 24) |
                          (uint32_t{length_bytes_[1]} << 16) |
                          (uint32_t{length_bytes_[2]} << 8) | uint32_t{length_bytes_[3]};
  if (length < kMinFrameBytes) {
    Poison(FrameError::kLengthBelowMinimum, "frame length " + std::to_string(length) +
                                                " below the minimum " +
                                                std::to_string(kMinFrameBytes));
    return false;
  }
  // The length word counts itself; the maximum does not.
  const uint64_t largest = uint64_t{max_message_bytes_} + kLengthWordBytes;
  if (length > largest) {
    Poison(FrameError::kLengthAboveMaximum, "frame length " + std::to_string(length) +
                                                " above the maximum " +
                                                std::to_string(largest));
    return false;
  }
  frame_length_ = length;
  length_known_ = true;
  partial_.reserve(std::min<size_t>(length, kInitialFrameReserve));
  partial_.insert(partial_.end(), length_bytes_, length_bytes_ + kLengthWordBytes);
  return true;
}

size_t FrameSplitter::FillFrame(const uint8_t* data, size_t n) {
  const size_t take = std::min(n, size_t{frame_length_} - partial_.size());
  const size_t need = partial_.size() + take;
  if (need > partial_.capacity()) {
    // Double (amortised O(1) appends) but never past the frame's length.
    const size_t grown = std::max(need, 2 * partial_.capacity());
    partial_.reserve(std::min(grown, size_t{frame_length_}));
  }
  partial_.insert(partial_.end(), data, data + take);
  if (partial_.size() == frame_length_) {
    queued_bytes_ += partial_.size();
    queued_capacity_ += partial_.capacity();
    frames_.push_back(std::move(partial_));
    ++frames_completed_;
    partial_ = std::vector<uint8_t>();
    length_known_ = false;
    length_have_ = 0;
  }
  return take;
}

bool FrameSplitter::Pop(std::vector<uint8_t>* frame) {
  if (frames_.empty()) return false;
  queued_bytes_ -= frames_.front().size();
  queued_capacity_ -= frames_.front().capacity();
  *frame = std::move(frames_.front());
  frames_.pop_front();
  return true;
}

size_t FrameSplitter::allocated_bytes() const {
  return queued_capacity_ + partial_.capacity();
}

void FrameSplitter::Poison(FrameError e, std::string message) {
  error_ = e;
  error_message_ = std::move(message);
  // Nothing after a bad length word can be framed; drop it.
  length_have_ = 0;
  length_known_ = false;
  partial_ = std::vector<uint8_t>();
}

}  // namespace xdrd
