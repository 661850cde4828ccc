// Receive framing: any chunking of the stream gives the same frames; the
// length word is validated (28 .. max + 4) as soon as it is known and before
// anything is allocated; memory grows only with bytes that arrived.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/buffer_pool.h"
#include "check.h"
#include "wire/frame_splitter.h"
#include "wire/wire.h"

using namespace xdrd;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes FrameWithBody(int32_t proc, uint32_t serial, size_t body_len) {
  Header h;
  h.prog = kRemoteProgram;
  h.vers = kRemoteProtocolVersion;
  h.proc = proc;
  h.type = kTypeCall;
  h.serial = serial;
  Bytes body(body_len);
  for (size_t i = 0; i < body_len; ++i) body[i] = static_cast<uint8_t>(i * 7 + serial);
  return EncodeFrame(h, body.data(), body.size());
}

// Three frames of different sizes: 28 (PING), 40 and 300 bytes.
std::vector<Bytes> ThreeFrames() {
  return {MakePingFrame(), FrameWithBody(60, 1, 12), FrameWithBody(23, 2, 272)};
}

Bytes Concat(const std::vector<Bytes>& frames) {
  Bytes all;
  for (const Bytes& f : frames) all.insert(all.end(), f.begin(), f.end());
  return all;
}

std::vector<Bytes> PopAll(FrameSplitter& s) {
  std::vector<Bytes> out;
  Bytes frame;
  while (s.Pop(&frame)) out.push_back(frame);
  return out;
}

Bytes LengthWord(uint32_t length) {
  return {static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
          static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
}

// The byte at absolute offset i (>= 4) of the large test frame.
uint8_t PatternByte(size_t i) { return static_cast<uint8_t>(i ^ (i >> 8) ^ (i >> 16)); }

// Pops the next frame and expects it `length` bytes long with PatternByte(i)
// at every i after the length word, which it returns.
Bytes PopPatternFrame(FrameSplitter& s, size_t length) {
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_REQUIRE(frame.size() == length);
  bool pattern_intact = true;
  for (size_t i = 4; i < length; ++i) pattern_intact &= frame[i] == PatternByte(i);
  XT_CHECK(pattern_intact);
  return Bytes(frame.begin(), frame.begin() + 4);
}

}  // namespace

// ---- Chunking -------------------------------------------------------------------

XT_TEST(three_frames_survive_every_split_point) {
  const std::vector<Bytes> frames = ThreeFrames();
  XT_REQUIRE(frames[0].size() == 28 && frames[1].size() == 40 && frames[2].size() == 300);
  const Bytes stream = Concat(frames);
  for (size_t split = 0; split <= stream.size(); ++split) {
    FrameSplitter s;
    XT_CHECK(s.Feed(stream.data(), split));
    XT_CHECK(s.Feed(stream.data() + split, stream.size() - split));
    const std::vector<Bytes> got = PopAll(s);
    XT_REQUIRE(got.size() == 3);
    for (size_t i = 0; i < 3; ++i) XT_CHECK_BYTES(got[i], frames[i]);
    XT_CHECK(!s.mid_frame());
    XT_CHECK_EQ(s.buffered_bytes(), size_t{0});
  }
}

XT_TEST(three_frames_survive_one_byte_at_a_time) {
  const std::vector<Bytes> frames = ThreeFrames();
  const Bytes stream = Concat(frames);
  FrameSplitter s;
  std::vector<Bytes> got;
  size_t frames_ended = 0;  // frames whose last byte has been fed
  size_t end_of_next = frames[0].size();
  for (size_t i = 0; i < stream.size(); ++i) {
    XT_CHECK(s.Feed(&stream[i], 1));
    if (i + 1 == end_of_next) {
      ++frames_ended;
      if (frames_ended < frames.size()) end_of_next += frames[frames_ended].size();
    }
    for (Bytes& f : PopAll(s)) got.push_back(std::move(f));
    XT_CHECK_EQ(got.size(), frames_ended);  // each frame pops the moment it completes
  }
  XT_REQUIRE(got.size() == 3);
  for (size_t i = 0; i < 3; ++i) XT_CHECK_BYTES(got[i], frames[i]);
}

XT_TEST(coalesced_frames_come_out_of_one_feed) {
  const std::vector<Bytes> frames = ThreeFrames();
  const Bytes stream = Concat(frames);
  FrameSplitter s;
  XT_CHECK(s.Feed(stream.data(), stream.size()));
  XT_CHECK_EQ(s.queued_frames(), size_t{3});
  XT_CHECK_EQ(s.buffered_bytes(), size_t{368});
  XT_CHECK(!s.mid_frame());
  const std::vector<Bytes> got = PopAll(s);
  XT_REQUIRE(got.size() == 3);
  for (size_t i = 0; i < 3; ++i) XT_CHECK_BYTES(got[i], frames[i]);
}

XT_TEST(empty_feed_changes_nothing) {
  FrameSplitter s;
  XT_CHECK(s.Feed(nullptr, 0));
  XT_CHECK(!s.mid_frame());
  XT_CHECK_EQ(s.buffered_bytes(), size_t{0});
  Bytes frame;
  XT_CHECK(!s.Pop(&frame));
}

// ---- Length word limits -----------------------------------------------------------

XT_TEST(length_zero_is_rejected) {
  FrameSplitter s;
  const Bytes word = LengthWord(0);
  XT_CHECK(!s.Feed(word.data(), word.size()));
  XT_CHECK(s.failed());
  XT_CHECK_EQ(s.error(), FrameError::kLengthBelowMinimum);
  XT_CHECK_EQ(s.error_message(), std::string("frame length 0 below the minimum 28"));
}

XT_TEST(length_27_is_rejected) {
  FrameSplitter s;
  const Bytes word = LengthWord(27);
  XT_CHECK(!s.Feed(word.data(), word.size()));
  XT_CHECK_EQ(s.error(), FrameError::kLengthBelowMinimum);
  XT_CHECK_EQ(s.error_message(), std::string("frame length 27 below the minimum 28"));
}

XT_TEST(bad_length_is_caught_on_its_fourth_byte) {
  FrameSplitter s;
  const Bytes word = LengthWord(8);
  for (size_t i = 0; i < 3; ++i) XT_CHECK(s.Feed(&word[i], 1));
  XT_CHECK(!s.failed());
  XT_CHECK(!s.Feed(&word[3], 1));
  XT_CHECK(s.failed());
}

XT_TEST(length_28_is_an_empty_payload_frame) {
  FrameSplitter s;
  const Bytes pong = MakePongFrame();
  XT_CHECK(s.Feed(pong.data(), pong.size()));
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_BYTES(frame, pong);
  Header h;
  const HeaderDecodeResult r = DecodeHeader(frame.data(), frame.size(), &h);
  XT_REQUIRE(r.ok());
  XT_CHECK_EQ(r.payload_offset, frame.size());  // nothing after the header
}

XT_TEST(largest_length_word_is_accepted_without_a_big_allocation) {
  FrameSplitter s;
  const Bytes word = LengthWord(33554436);  // kDefaultMaxMessageBytes + 4
  XT_CHECK(s.Feed(word.data(), word.size()));
  XT_CHECK(!s.failed());
  XT_CHECK(s.mid_frame());
  XT_CHECK_EQ(s.buffered_bytes(), size_t{4});
  XT_CHECK(s.allocated_bytes() < 128 * 1024);
}

XT_TEST(largest_frame_arrives_in_64kib_chunks) {
  const size_t length = 33554436;
  FrameSplitter s;
  const Bytes word = LengthWord(length);
  XT_REQUIRE(s.Feed(word.data(), word.size()));
  Bytes chunk(64 * 1024);
  bool memory_tracks_data = true;
  for (size_t at = 4; at < length;) {
    const size_t n = std::min(chunk.size(), length - at);
    for (size_t i = 0; i < n; ++i) chunk[i] = PatternByte(at + i);
    XT_REQUIRE(s.Feed(chunk.data(), n));
    at += n;
    // Growth follows the bytes that came in: never more than double them.
    if (s.mid_frame() && s.allocated_bytes() > std::max<size_t>(2 * s.buffered_bytes(), 4096)) {
      memory_tracks_data = false;
    }
  }
  XT_CHECK(memory_tracks_data);
  XT_CHECK(!s.mid_frame());
  XT_CHECK_EQ(s.queued_frames(), size_t{1});
  XT_CHECK_BYTES(PopPatternFrame(s, length), word);
  XT_CHECK_EQ(s.buffered_bytes(), size_t{0});
}

XT_TEST(a_64kib_frame_in_one_feed_is_allocated_once) {
  // The first buffer is sized by the bytes that came with the length word,
  // not grown by doubling from a small reserve.
  const Bytes big = FrameWithBody(7, 9, 64 * 1024);
  BufferPool& pool = LargeBufferPool();
  const BufferPool::Stats before = pool.stats();
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), big.size()));
  const BufferPool::Stats after = pool.stats();
  XT_CHECK_EQ(after.hits + after.misses, before.hits + before.misses + 1);  // one Take
  XT_CHECK_EQ(after.kept + after.dropped, before.kept + before.dropped);    // nothing grown out of
  XT_CHECK_EQ(s.queued_frames(), size_t{1});
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_BYTES(frame, big);
  XT_CHECK(frame.capacity() >= big.size());
  XT_CHECK(frame.capacity() <= 2 * big.size());
  // A fresh buffer (nothing fitting was pooled) is exactly the frame's size.
  if (after.misses > before.misses) XT_CHECK_EQ(frame.capacity(), big.size());
}

XT_TEST(a_large_frame_grows_to_its_whole_length_once_twice_the_bytes_cover_it) {
  // 64 KiB, then the header's 32 bytes: doubling would have stopped 32
  // bytes short of the frame and copied all of it again for them.
  const Bytes big = FrameWithBody(7, 12, 64 * 1024 - 28 + 32);
  XT_REQUIRE(big.size() == 65568);
  BufferPool& pool = LargeBufferPool();
  const BufferPool::Stats before = pool.stats();
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 65536));
  XT_CHECK(s.allocated_bytes() >= big.size());
  XT_REQUIRE(s.Feed(big.data() + 65536, 32));
  const BufferPool::Stats after = pool.stats();
  XT_CHECK_EQ(after.hits + after.misses, before.hits + before.misses + 1);  // one Take
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_BYTES(frame, big);
}

XT_TEST(pooled_buffers_keep_the_allocation_near_the_bytes_received) {
  // A large buffer waits in the pool; a peer announces 32 MiB and sends a
  // few bytes: neither the announcement nor the pooled buffer may make the
  // splitter hold much more than it received.
  LargeBufferPool().Give(Bytes(1024 * 1024));
  FrameSplitter s;
  Bytes start = LengthWord(33554436);
  start.resize(10, 0x55);
  XT_REQUIRE(s.Feed(start.data(), start.size()));
  XT_CHECK_EQ(s.buffered_bytes(), size_t{10});
  XT_CHECK(s.allocated_bytes() <= 4096);
  Bytes chunk(64 * 1024, 0x66);
  bool memory_tracks_data = true;
  for (int i = 0; i < 20; ++i) {
    XT_REQUIRE(s.Feed(chunk.data(), chunk.size()));
    memory_tracks_data &= s.allocated_bytes() <= 2 * s.buffered_bytes();
  }
  XT_CHECK(memory_tracks_data);
  XT_CHECK(s.mid_frame());
}

XT_TEST(length_one_above_largest_is_rejected) {
  FrameSplitter s;
  const Bytes word = LengthWord(33554437);
  XT_CHECK(!s.Feed(word.data(), word.size()));
  XT_CHECK_EQ(s.error(), FrameError::kLengthAboveMaximum);
  XT_CHECK_EQ(s.error_message(),
              std::string("frame length 33554437 above the maximum 33554436"));
  XT_CHECK_EQ(s.allocated_bytes(), size_t{0});
}

XT_TEST(length_word_all_ones_is_rejected) {
  FrameSplitter s;
  const Bytes word = LengthWord(0xffffffff);
  XT_CHECK(!s.Feed(word.data(), word.size()));
  XT_CHECK_EQ(s.error(), FrameError::kLengthAboveMaximum);
}

XT_TEST(custom_maximum_is_respected) {
  FrameSplitter s(100);  // header + body up to 100, so length words up to 104
  XT_CHECK_EQ(s.max_message_bytes(), 100u);
  const Bytes largest = FrameWithBody(1, 1, 76);
  XT_REQUIRE(largest.size() == 104);
  XT_CHECK(s.Feed(largest.data(), largest.size()));
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_BYTES(frame, largest);

  const Bytes too_big = FrameWithBody(1, 2, 77);
  XT_CHECK(!s.Feed(too_big.data(), too_big.size()));
  XT_CHECK_EQ(s.error_message(), std::string("frame length 105 above the maximum 104"));
  XT_CHECK(!s.Pop(&frame));
}

// ---- After an error -------------------------------------------------------------

XT_TEST(poisoned_splitter_keeps_failing_with_the_same_error) {
  FrameSplitter s;
  const Bytes bad = LengthWord(27);
  XT_CHECK(!s.Feed(bad.data(), bad.size()));
  const std::string first = s.error_message();
  const Bytes ping = MakePingFrame();
  XT_CHECK(!s.Feed(ping.data(), ping.size()));
  XT_CHECK(!s.Feed(ping.data(), ping.size()));
  XT_CHECK_EQ(s.error_message(), first);
  XT_CHECK_EQ(s.error(), FrameError::kLengthBelowMinimum);
  XT_CHECK_EQ(s.queued_frames(), size_t{0});
  XT_CHECK(!s.mid_frame());
}

XT_TEST(frames_before_a_bad_length_stay_poppable) {
  Bytes stream = MakePingFrame();
  const Bytes bad = LengthWord(5);
  stream.insert(stream.end(), bad.begin(), bad.end());
  FrameSplitter s;
  XT_CHECK(!s.Feed(stream.data(), stream.size()));
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_BYTES(frame, MakePingFrame());
  XT_CHECK(!s.Pop(&frame));
}

// ---- State for the event loop ---------------------------------------------------

XT_TEST(mid_frame_tracks_a_started_frame) {
  const Bytes ping = MakePingFrame();
  FrameSplitter s;
  XT_CHECK(!s.mid_frame());
  XT_CHECK(s.Feed(ping.data(), 1));  // part of the length word counts
  XT_CHECK(s.mid_frame());
  XT_CHECK(s.Feed(ping.data() + 1, 3));
  XT_CHECK(s.mid_frame());
  XT_CHECK(s.Feed(ping.data() + 4, 23));
  XT_CHECK(s.mid_frame());
  XT_CHECK(s.Feed(ping.data() + 27, 1));
  XT_CHECK(!s.mid_frame());  // complete, though not popped yet
  XT_CHECK(s.Feed(ping.data(), 2));
  XT_CHECK(s.mid_frame());
}

XT_TEST(buffered_bytes_counts_queued_and_partial_bytes) {
  const Bytes ping = MakePingFrame();
  FrameSplitter s;
  XT_CHECK(s.Feed(ping.data(), 3));
  XT_CHECK_EQ(s.buffered_bytes(), size_t{3});
  XT_CHECK(s.Feed(ping.data() + 3, 10));
  XT_CHECK_EQ(s.buffered_bytes(), size_t{13});
  XT_CHECK(s.Feed(ping.data() + 13, 15));
  XT_CHECK(s.Feed(ping.data(), 6));
  XT_CHECK_EQ(s.buffered_bytes(), size_t{34});
  XT_CHECK(s.allocated_bytes() >= s.buffered_bytes());
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_EQ(s.buffered_bytes(), size_t{6});
}

XT_TEST(frames_wait_queued_while_the_caller_stops_popping) {
  const std::vector<Bytes> frames = ThreeFrames();
  const Bytes stream = Concat(frames);
  FrameSplitter s;
  XT_CHECK(s.Feed(stream.data(), stream.size()));
  XT_CHECK(s.Feed(stream.data(), 10));  // the start of a fourth frame
  XT_CHECK_EQ(s.queued_frames(), size_t{3});
  XT_CHECK_EQ(s.buffered_bytes(), size_t{378});
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_BYTES(frame, frames[0]);
  XT_CHECK_EQ(s.buffered_bytes(), size_t{350});
  XT_CHECK(s.Feed(stream.data() + 10, 18));  // finishes the fourth (a PING)
  const std::vector<Bytes> rest = PopAll(s);
  XT_REQUIRE(rest.size() == 3);
  XT_CHECK_BYTES(rest[0], frames[1]);
  XT_CHECK_BYTES(rest[1], frames[2]);
  XT_CHECK_BYTES(rest[2], frames[0]);
}

// Found by test/fuzz/fuzz_framing: the bytes of a length word still
// arriving are counted as buffered but live inside the splitter, not in an
// allocation, so allocated_bytes() may be up to 3 below buffered_bytes().
XT_TEST(a_partial_length_word_is_buffered_but_not_allocated) {
  const Bytes ping = MakePingFrame();
  FrameSplitter s;
  XT_CHECK(s.Feed(ping.data(), 3));
  XT_CHECK_EQ(s.buffered_bytes(), size_t{3});
  XT_CHECK_EQ(s.allocated_bytes(), size_t{0});
  XT_CHECK(s.mid_frame());
  XT_CHECK(s.Feed(ping.data() + 3, 1));  // the 4th byte: now a buffer exists
  XT_CHECK(s.allocated_bytes() >= s.buffered_bytes());
}

// ---- Direct reads (WritableTail / CommitTail) -------------------------------------

namespace {

// Writes into the offered room as recvmsg would: the stream's next bytes,
// at most `want` of them (all offered when want is 0). Returns the count.
size_t ReadIntoTail(FrameSplitter& s, const Bytes& stream, size_t* at, size_t want = 0,
                    size_t most = SIZE_MAX) {
  size_t room = 0;
  uint8_t* tail = s.WritableTail(most, &room);
  if (tail == nullptr) return 0;
  size_t n = std::min(room, stream.size() - *at);
  if (want != 0) n = std::min(n, want);
  std::copy(stream.begin() + static_cast<std::ptrdiff_t>(*at),
            stream.begin() + static_cast<std::ptrdiff_t>(*at + n), tail);
  s.CommitTail(n);
  *at += n;
  return n;
}

// Feeds `big` from `at` to its end the usual way, then expects `big`, whole,
// as the one frame queued.
void FeedRestAndExpect(FrameSplitter& s, const Bytes& big, size_t at) {
  XT_REQUIRE(s.Feed(big.data() + at, big.size() - at));
  XT_REQUIRE(s.queued_frames() == 1);
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_BYTES(frame, big);
}

}  // namespace

XT_TEST(direct_read_is_not_offered_before_the_length_word_is_complete) {
  const Bytes big = FrameWithBody(7, 1, 40000);
  FrameSplitter s;
  size_t n = 99;
  XT_CHECK(s.WritableTail(SIZE_MAX, &n) == nullptr);  // nothing started
  XT_CHECK_EQ(n, size_t{0});
  XT_REQUIRE(s.Feed(big.data(), 3));
  XT_CHECK(s.WritableTail(SIZE_MAX, &n) == nullptr);  // 3 of the 4 length bytes
  XT_CHECK_EQ(n, size_t{0});
  XT_REQUIRE(s.Feed(big.data() + 3, 20025));  // the word, and over half the frame
  XT_CHECK(s.WritableTail(SIZE_MAX, &n) != nullptr);
  s.CommitTail(0);
}

XT_TEST(direct_read_is_not_offered_for_a_small_rest_of_frame) {
  // A frame with less than kDirectReadMinBytes to go keeps Feed's path.
  const Bytes small = FrameWithBody(7, 1, FrameSplitter::kDirectReadMinBytes - 100);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(small.data(), 10));
  size_t n = 99;
  XT_CHECK(s.WritableTail(SIZE_MAX, &n) == nullptr);
  XT_CHECK_EQ(n, size_t{0});
  // A large one is offered until fewer than the minimum bytes remain.
  const Bytes big = FrameWithBody(7, 2, 64 * 1024);
  FrameSplitter t;
  XT_REQUIRE(t.Feed(big.data(), big.size() - FrameSplitter::kDirectReadMinBytes));
  XT_CHECK(t.WritableTail(SIZE_MAX, &n) != nullptr);
  t.CommitTail(0);
  XT_REQUIRE(t.Feed(big.data() + big.size() - FrameSplitter::kDirectReadMinBytes, 1));
  XT_CHECK(t.WritableTail(SIZE_MAX, &n) == nullptr);
}

XT_TEST(direct_read_is_not_offered_after_a_failure) {
  FrameSplitter s;
  const Bytes bad = LengthWord(27);
  XT_CHECK(!s.Feed(bad.data(), bad.size()));
  size_t n = 99;
  XT_CHECK(s.WritableTail(SIZE_MAX, &n) == nullptr);
  XT_CHECK_EQ(n, size_t{0});
}

XT_TEST(direct_read_is_not_offered_with_no_budget) {
  const Bytes big = FrameWithBody(7, 1, 1 << 20);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 100));
  size_t n = 99;
  XT_CHECK(s.WritableTail(0, &n) == nullptr);
  XT_CHECK_EQ(n, size_t{0});
}

XT_TEST(direct_read_room_is_bounded_by_the_callers_most_and_the_maximum) {
  const Bytes big = FrameWithBody(7, 1, 4 << 20);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), (2 << 20) + 100));  // over half: the whole frame may be held
  size_t n = 0;
  XT_REQUIRE(s.WritableTail(20000, &n) != nullptr);
  XT_CHECK(n > 0 && n <= 20000);
  s.CommitTail(0);
  XT_REQUIRE(s.WritableTail(SIZE_MAX, &n) != nullptr);
  XT_CHECK(n > 20000 && n <= FrameSplitter::kDirectReadMaxBytes);
  s.CommitTail(0);
}

XT_TEST(direct_read_room_never_passes_the_end_of_the_frame) {
  // Offers taken in full until none is made: each ends at or before the
  // frame's end, and the bytes after it (a PING) go through Feed intact.
  const Bytes big = FrameWithBody(7, 1, 100 * 1024);
  const Bytes ping = MakePingFrame();
  FrameSplitter s;
  size_t at = big.size() - 20000;
  XT_REQUIRE(s.Feed(big.data(), at));
  bool within_frame = true;
  size_t offers = 0;
  size_t room = 0;
  while (uint8_t* tail = s.WritableTail(SIZE_MAX, &room)) {
    within_frame &= room <= big.size() - at;
    room = std::min(room, big.size() - at);
    std::copy(big.begin() + static_cast<std::ptrdiff_t>(at),
              big.begin() + static_cast<std::ptrdiff_t>(at + room), tail);
    s.CommitTail(room);
    at += room;
    ++offers;
  }
  XT_CHECK(within_frame);
  XT_CHECK(offers >= 1);
  Bytes rest(big.begin() + static_cast<std::ptrdiff_t>(at), big.end());
  rest.insert(rest.end(), ping.begin(), ping.end());
  XT_REQUIRE(s.Feed(rest.data(), rest.size()));
  const std::vector<Bytes> got = PopAll(s);
  XT_REQUIRE(got.size() == 2);
  XT_CHECK_BYTES(got[0], big);
  XT_CHECK_BYTES(got[1], ping);
}

XT_TEST(frames_read_only_through_the_tail_come_out_exact) {
  const Bytes big = FrameWithBody(7, 3, 1 << 20);
  FrameSplitter s;
  size_t at = big.size() / 2 + 1;  // from here the whole frame may be held
  XT_REQUIRE(s.Feed(big.data(), at));
  size_t reads = 0;
  while (at < big.size()) {
    XT_REQUIRE(ReadIntoTail(s, big, &at) > 0);  // always offered: the rest is large
    ++reads;
    if (at + FrameSplitter::kDirectReadMinBytes > big.size()) break;
  }
  XT_CHECK(reads >= 2);  // 512 KiB in offers of at most 256 KiB
  FeedRestAndExpect(s, big, at);  // the last few bytes
  XT_CHECK(!s.mid_frame());
}

XT_TEST(partial_commits_continue_where_the_last_ended) {
  const Bytes big = FrameWithBody(7, 4, 256 * 1024);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 140000));
  size_t at = 140000;
  for (size_t want : {1, 3, 4000, 17, 30000}) {
    const size_t before = s.buffered_bytes();
    XT_REQUIRE(ReadIntoTail(s, big, &at, want) == want);
    XT_CHECK_EQ(s.buffered_bytes(), before + want);
    XT_CHECK(s.mid_frame());
  }
  FeedRestAndExpect(s, big, at);
}

XT_TEST(commit_of_nothing_changes_nothing) {
  const Bytes big = FrameWithBody(7, 5, 256 * 1024);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 140000));
  const size_t allocated = s.allocated_bytes();
  size_t n = 0;
  XT_REQUIRE(s.WritableTail(SIZE_MAX, &n) != nullptr);
  s.CommitTail(0);  // e.g. EAGAIN
  XT_CHECK_EQ(s.buffered_bytes(), size_t{140000});
  XT_CHECK(s.mid_frame());
  XT_CHECK_EQ(s.queued_frames(), size_t{0});
  XT_CHECK(s.allocated_bytes() >= allocated);  // a grow for the offer is kept
  FeedRestAndExpect(s, big, 140000);
}

XT_TEST(commit_completing_a_frame_then_feed_gives_frames_in_order) {
  // As in one recvmsg: the rest of a large frame lands in its buffer, a
  // PING and the start of another frame in the scratch.
  const Bytes big = FrameWithBody(7, 6, 100 * 1024);
  const Bytes ping = MakePingFrame();
  const Bytes next = FrameWithBody(8, 7, 300);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 60000));
  size_t at = 60000;
  while (at < big.size()) XT_REQUIRE(ReadIntoTail(s, big, &at) > 0);
  XT_CHECK(!s.mid_frame());
  XT_CHECK_EQ(s.queued_frames(), size_t{1});
  XT_CHECK_EQ(s.frames_completed(), uint64_t{1});
  size_t n = 99;
  XT_CHECK(s.WritableTail(SIZE_MAX, &n) == nullptr);  // no frame in progress
  Bytes scratch = ping;
  scratch.insert(scratch.end(), next.begin(), next.begin() + 100);
  XT_REQUIRE(s.Feed(scratch.data(), scratch.size()));
  XT_REQUIRE(s.Feed(next.data() + 100, next.size() - 100));
  const std::vector<Bytes> got = PopAll(s);
  XT_REQUIRE(got.size() == 3);
  XT_CHECK_BYTES(got[0], big);
  XT_CHECK_BYTES(got[1], ping);
  XT_CHECK_BYTES(got[2], next);
}

XT_TEST(direct_read_after_only_the_length_word_allocates_nothing_more) {
  // A peer announces 32 MiB and sends nothing more: no offer is made (the
  // spare room of the first reservation is too small to pay), and nothing
  // is allocated for one.
  LargeBufferPool().Give(Bytes(1024 * 1024));
  FrameSplitter s;
  const Bytes word = LengthWord(33554436);
  XT_REQUIRE(s.Feed(word.data(), word.size()));
  size_t n = 99;
  XT_CHECK(s.WritableTail(SIZE_MAX, &n) == nullptr);
  XT_CHECK_EQ(n, size_t{0});
  XT_CHECK(s.allocated_bytes() <= 4096);
}

XT_TEST(an_offer_grows_the_buffer_only_to_the_whole_frame_within_twice_the_bytes) {
  // Below half the frame an offer uses only the spare capacity there is
  // (growth is Feed's); from half on it may grow the buffer, and then to
  // the whole frame at once.
  const Bytes big = FrameWithBody(7, 11, 200000);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 90000));
  const size_t before = s.allocated_bytes();
  size_t n = 0;
  if (s.WritableTail(SIZE_MAX, &n) != nullptr) s.CommitTail(0);
  XT_CHECK_EQ(s.allocated_bytes(), before);
  XT_REQUIRE(s.Feed(big.data() + 90000, 20000));  // 110000 of 200032: over half
  size_t room = 0;
  uint8_t* tail = s.WritableTail(SIZE_MAX, &room);
  XT_REQUIRE(tail != nullptr);
  XT_CHECK(s.allocated_bytes() >= big.size());
  XT_CHECK(s.allocated_bytes() <= 2 * 110000);
  XT_CHECK(room <= big.size() - 110000);
  s.CommitTail(0);
}

XT_TEST(direct_reads_keep_the_allocation_near_the_bytes_received) {
  // Reads as the loop makes them (the full offer, then 64 KiB through
  // Feed) into a 32 MiB frame, with a large buffer pooled: the buffer stays
  // within twice what arrived, as with Feed alone.
  LargeBufferPool().Give(Bytes(4 * 1024 * 1024));
  const size_t length = 33554436;
  FrameSplitter s;
  const Bytes word = LengthWord(static_cast<uint32_t>(length));
  XT_REQUIRE(s.Feed(word.data(), word.size()));
  bool memory_tracks_data = true;
  size_t offers = 0;
  Bytes chunk(64 * 1024);
  size_t at = 4;
  while (at < length) {
    size_t room = 0;
    uint8_t* tail = s.WritableTail(SIZE_MAX, &room);
    if (tail != nullptr) {
      for (size_t i = 0; i < room; ++i) tail[i] = PatternByte(at + i);
      s.CommitTail(room);
      at += room;
      ++offers;
    }
    const size_t n = std::min(chunk.size(), length - at);
    for (size_t i = 0; i < n; ++i) chunk[i] = PatternByte(at + i);
    XT_REQUIRE(s.Feed(chunk.data(), n));
    at += n;
    if (s.mid_frame()) {
      memory_tracks_data &= s.allocated_bytes() <= std::max<size_t>(2 * s.buffered_bytes(), 4096);
      memory_tracks_data &= s.allocated_bytes() >= s.buffered_bytes();
    }
  }
  XT_CHECK(memory_tracks_data);
  XT_CHECK(offers > 10);
  PopPatternFrame(s, length);
  XT_CHECK_EQ(s.allocated_bytes(), size_t{0});
}

XT_TEST(allocated_bytes_counts_a_frame_completed_by_a_commit) {
  const Bytes big = FrameWithBody(7, 8, 100 * 1024);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 60000));
  size_t at = 60000;
  while (at < big.size()) XT_REQUIRE(ReadIntoTail(s, big, &at) > 0);
  XT_REQUIRE(s.queued_frames() == 1);
  XT_CHECK_EQ(s.buffered_bytes(), big.size());
  XT_CHECK(s.allocated_bytes() >= big.size());
  XT_CHECK(s.allocated_bytes() <= 2 * big.size());
  Bytes frame;
  XT_REQUIRE(s.Pop(&frame));
  XT_CHECK_EQ(s.allocated_bytes(), size_t{0});
  XT_CHECK_EQ(s.buffered_bytes(), size_t{0});
}

XT_TEST(tail_and_feed_mixed_at_every_chunk_size_give_the_same_frames) {
  // Each read: a tail part when offered, then a scratch part through Feed,
  // as ReadLocked does; over a stream of large and small frames.
  const std::vector<Bytes> frames = {FrameWithBody(1, 1, 70000), MakePingFrame(),
                                     FrameWithBody(2, 2, 20000), FrameWithBody(3, 3, 12),
                                     FrameWithBody(4, 4, 300000)};
  const Bytes stream = Concat(frames);
  for (size_t chunk : {1000, 4096, 16384, 65536, 100000}) {
    FrameSplitter s;
    size_t at = 0;
    while (at < stream.size()) {
      ReadIntoTail(s, stream, &at, chunk);
      const size_t n = std::min(chunk, stream.size() - at);
      XT_REQUIRE(s.Feed(stream.data() + at, n));
      at += n;
    }
    const std::vector<Bytes> got = PopAll(s);
    XT_REQUIRE(got.size() == frames.size());
    for (size_t i = 0; i < frames.size(); ++i) XT_CHECK_BYTES(got[i], frames[i]);
    XT_CHECK_EQ(s.buffered_bytes(), size_t{0});
  }
}

XT_TEST(room_a_short_read_left_is_offered_again_without_a_second_fill) {
  // What a read did not write stays in the buffer for the next one, so no
  // byte is zero-filled twice: bytes written there but not committed are
  // still there at the next offer (a second fill would have zeroed them).
  const Bytes big = FrameWithBody(7, 9, 256 * 1024);
  FrameSplitter s;
  XT_REQUIRE(s.Feed(big.data(), 140000));
  size_t room = 0;
  uint8_t* tail = s.WritableTail(SIZE_MAX, &room);
  XT_REQUIRE(tail != nullptr && room > 1000);
  std::copy(big.begin() + 140000, big.begin() + 140100, tail);
  std::fill(tail + 100, tail + 1000, uint8_t{0xee});
  s.CommitTail(100);
  XT_CHECK_EQ(s.buffered_bytes(), size_t{140100});  // the unwritten room is not data
  size_t again = 0;
  uint8_t* next = s.WritableTail(SIZE_MAX, &again);
  XT_REQUIRE(next == tail + 100);
  XT_REQUIRE(again >= 900);
  XT_CHECK(std::all_of(next, next + 900, [](uint8_t b) { return b == 0xee; }));
  s.CommitTail(0);
  FeedRestAndExpect(s, big, 140100);  // Feed writes over the room
}

XT_TEST(commit_of_more_than_was_offered_takes_only_the_offer) {
  const Bytes big = FrameWithBody(7, 10, 100 * 1024);
  FrameSplitter s;
  const size_t fed = big.size() - 20000;
  XT_REQUIRE(s.Feed(big.data(), fed));
  size_t room = 0;
  uint8_t* tail = s.WritableTail(SIZE_MAX, &room);
  XT_REQUIRE(tail != nullptr && room > 0 && room <= 20000);
  std::copy(big.begin() + static_cast<std::ptrdiff_t>(fed),
            big.begin() + static_cast<std::ptrdiff_t>(fed + room), tail);
  s.CommitTail(room + 5);
  XT_CHECK_EQ(s.buffered_bytes(), fed + room);
  FeedRestAndExpect(s, big, fed + room);
}
