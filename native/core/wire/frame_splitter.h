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
// bytes that actually arrive (doubling, capped at the frame's length; a
// large frame goes to its whole length as soon as that is within twice the
// bytes received), so a peer cannot make us allocate more than about twice
// what it has sent.
// Large frame buffers come from, and are given back to, LargeBufferPool()
// (buffer_pool.h; it takes only its own leaf lock, allowed under the
// client lock).
//
// Direct reads (WritableTail / CommitTail): for a large frame whose length
// word is known, the caller may read the socket straight into the frame's
// buffer instead of into its own scratch (saving the copy Feed would make).
// The room offered never reaches past the frame's end, so bytes of the next
// frame never land in this one's buffer. It is the buffer's spare
// capacity; the buffer is grown for an offer only to the frame's whole
// length, and only once that is within twice the bytes received (smaller
// steps are left to Feed, whose sizes the pool has from earlier frames).
// So the promise above holds for either path, and allocated_bytes() still
// counts what is reserved (the offered room is inside the buffer's
// capacity; room a short read left unwritten is kept for the next bytes of
// the frame, and is not counted as buffered). Frames with less than
// kDirectReadMinBytes to go are not offered (they keep Feed's path
// exactly), and neither is a stream whose length word is incomplete or that
// has failed.
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

  // Direct reads. Only a frame with at least kDirectReadMinBytes still to
  // come is offered: for less, copying a few KiB out of the caller's
  // scratch costs less than the zero-fill and growth an offer may need, and
  // small frames (most calls) keep exactly the path they had; 16 KiB is
  // also where frame buffers start to come from the pool. At most
  // kDirectReadMaxBytes is offered at once: the room is zero-filled ahead
  // of the data (see WritableTail in the .cc), and this bounds that work
  // for a read that brings little; it is the default read budget of a turn
  // anyway.
  static constexpr size_t kDirectReadMinBytes = 16 * 1024;
  static constexpr size_t kDirectReadMaxBytes = 256 * 1024;

  // Where the next bytes of the frame in progress may be written, and in
  // *n how many (1 .. its remaining bytes, at most `most` and
  // kDirectReadMaxBytes; the caller's `most` keeps its read budget).
  // Null, with *n = 0, when there is no such offer: no frame in progress,
  // its length word incomplete, fewer than kDirectReadMinBytes left of it,
  // less than that spare in its buffer while twice the bytes received do
  // not cover the whole frame yet (see above), `most` 0, or the splitter
  // failed. After a non-null answer the caller
  // writes up to *n bytes there and must call CommitTail before any other
  // method; the pointer is invalid after that call.
  uint8_t* WritableTail(size_t most, size_t* n);
  // Takes the first n bytes written at WritableTail's pointer (n <= what it
  // offered; 0 for a read that brought nothing, failed or hit EOF) as the
  // frame's next bytes. When they complete the frame it is queued, as Feed
  // would. Bytes that followed in the stream go through Feed as usual.
  void CommitTail(size_t n);

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
  size_t partial_bytes() const { return length_known_ ? filled() : length_have_; }
  // Bytes received of the frame in progress (once its length word is known).
  size_t filled() const { return tail_open_ ? tail_base_ : partial_.size() - slack_; }
  // Called when the 4th length byte arrives: validates and records the
  // length. The frame's buffer is made by the FillFrame that follows.
  bool StartFrame();
  // Appends up to the rest of the current frame from data; returns the
  // number of bytes taken.
  size_t FillFrame(const uint8_t* data, size_t n);
  // Moves partial_ into a buffer (from the frame-buffer pool when large)
  // that holds at least `need` bytes.
  void Grow(size_t need);
  // Moves partial_ into a buffer with a capacity of at least `want` and at
  // most `most` (when pooled; a fresh one is exactly `want`).
  void Reallocate(size_t want, size_t most);
  // Queues partial_, now exactly frame_length_ bytes, and readies the
  // splitter for the next length word.
  void CompleteFrame();
  void Poison(FrameError e, std::string message);

  uint32_t max_message_bytes_;

  // The length word, gathered byte by byte before a frame buffer exists.
  uint8_t length_bytes_[kLengthWordBytes] = {};
  size_t length_have_ = 0;
  bool length_known_ = false;
  uint32_t frame_length_ = 0;     // valid while length_known_
  std::vector<uint8_t> partial_;  // the frame in progress, length word first
  // partial_ ends in slack_ bytes that are not data: room zero-filled for a
  // direct read and not (yet) written by it. They are kept, and written
  // first by the next read or Feed, so that no byte of a frame buffer is
  // zero-filled twice however short the reads are. Never past the frame's
  // end; 0 whenever a frame completes.
  size_t slack_ = 0;
  // Between WritableTail and CommitTail: the bytes received before the
  // offered room, and its size (partial_ then ends at or past its end).
  size_t tail_base_ = 0;
  size_t tail_room_ = 0;
  bool tail_open_ = false;

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
