// frame_splitter.h — turns the byte stream of one connection into whole
// libvirt frames. Bytes go in as they were read (any chunking: part of a
// frame, many frames, or both); whole frames, length word included, come out
// in order.
//
// Thread-safety: none of its own. One instance belongs to one connection and
// is used by one thread at a time (the event-loop thread, under that
// client's lock); it takes no lock itself.
//
// Limits: the length word is checked as soon as its 4 bytes are known and
// before anything is allocated for the frame (at least 28; at most
// max_message_bytes + 4). A bad length word poisons the splitter: the stream
// can no longer be framed, so the connection must be closed. The buffer of
// a frame is first sized by the bytes that came with its length word (so a
// frame that arrives in one read is allocated once), then grows with the
// bytes that actually arrive (doubling, capped at the frame's length), so a
// peer cannot make us allocate more than about twice what it has sent.
// Large frame buffers come from, and are given back to, LargeBufferPool()
// (buffer_pool.h; it takes only its own leaf lock, allowed under the
// client lock).
//
// Back-pressure: Feed never stops taking bytes; the caller limits what it
// reads. Complete frames wait in a queue until popped, so the caller may
// stop popping (e.g. while a client has too many calls in flight) and carry
// on later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/ring_queue.h"
#include "wire/wire.h"

namespace xdrd {

enum class FrameError : uint8_t {
  kNone = 0,
  kLengthBelowMinimum,  // length word < 28
  kLengthAboveMaximum,  // length word - 4 > max_message_bytes
};

class FrameSplitter {
 public:
  // max_message_bytes bounds header + body (the length word is not counted),
  // as libvirt's VIR_NET_MESSAGE_MAX does. Below 24 no frame can pass.
  explicit FrameSplitter(uint32_t max_message_bytes = kDefaultMaxMessageBytes);

  // Takes n bytes from the stream. Returns false if the stream is (or now
  // becomes) unframeable; error() and error_message() say why, and every
  // later Feed returns false with the same error and ignores its bytes.
  // Frames completed before the bad length word stay poppable.
  bool Feed(const uint8_t* data, size_t n);

  // Moves the oldest complete frame into *frame (replacing its contents).
  // Returns false when no complete frame is queued.
  bool Pop(std::vector<uint8_t>* frame);
  // The oldest complete frame, left queued; null when there is none. For a
  // caller that decides from its header whether it may take it yet.
  const std::vector<uint8_t>* Front() const { return frames_.empty() ? nullptr : &frames_.front(); }

  // A frame has started (at least one byte of its length word arrived) but
  // is not complete. For the partial-frame timeout.
  bool mid_frame() const { return partial_bytes() > 0; }
  // Bytes held: queued frames plus the frame in progress.
  size_t buffered_bytes() const { return queued_bytes_ + partial_bytes(); }
  // Bytes reserved from the allocator (vector capacities), for memory
  // accounting. At least buffered_bytes(), except for the up to 3 bytes of
  // a length word still arriving: those sit in the splitter itself, not in
  // an allocation (found by test/fuzz/fuzz_framing).
  size_t allocated_bytes() const;
  size_t queued_frames() const { return frames_.size(); }
  // Frames completed since construction: a change means the frame now in
  // progress (if any) is a new one. For the partial-frame timeout.
  uint64_t frames_completed() const { return frames_completed_; }

  bool failed() const { return error_ != FrameError::kNone; }
  FrameError error() const { return error_; }
  // E.g. "frame length 27 below the minimum 28"; empty while not failed.
  const std::string& error_message() const { return error_message_; }

  uint32_t max_message_bytes() const { return max_message_bytes_; }

 private:
  // Bytes of the frame in progress, including a partial length word.
  size_t partial_bytes() const { return length_known_ ? partial_.size() : length_have_; }
  // Called when the 4th length byte arrives: validates and records the
  // length. The frame's buffer is made by the FillFrame that follows.
  bool StartFrame();
  // Appends up to the rest of the current frame from data; returns the
  // number of bytes taken.
  size_t FillFrame(const uint8_t* data, size_t n);
  // Moves partial_ into a buffer (from the frame-buffer pool when large)
  // that holds at least `need` bytes.
  void Grow(size_t need);
  void Poison(FrameError e, std::string message);

  uint32_t max_message_bytes_;

  // The length word, gathered byte by byte before a frame buffer exists.
  uint8_t length_bytes_[kLengthWordBytes] = {};
  size_t length_have_ = 0;
  bool length_known_ = false;
  uint32_t frame_length_ = 0;     // valid while length_known_
  std::vector<uint8_t> partial_;  // the frame in progress, length word first

  // Complete, oldest first. A RingQueue, not a deque: it allocates nothing
  // until a frame completes, and an idle connection never completes one.
  RingQueue<std::vector<uint8_t>> frames_;
  size_t queued_bytes_ = 0;                  // sum of their sizes
  uint64_t frames_completed_ = 0;
  size_t queued_capacity_ = 0;               // sum of their capacities

  FrameError error_ = FrameError::kNone;
  std::string error_message_;
};

}  // namespace xdrd
