// fuzz_framing — a stranger's byte stream through everything that frames it:
// the FrameSplitter (fed in pieces whose sizes the input chooses), the
// header decoder, keepalive recognition and the error-struct path of
// status-ERROR frames.
//
// Input: [chunking byte][mode byte][stream...]
//   chunking 0: the stream in one Feed; otherwise pieces of 1..chunking
//     bytes, the sizes drawn from a generator seeded by that byte, so one
//     stream is tried split in many ways.
//   mode bits 0-1: max_message_bytes = default, 24 (only empty bodies), 100,
//     5000 (so "just over the limit" is a few bytes away); bit 2: pop frames
//     after every Feed (a reading server) rather than only at the end (one
//     that stopped popping: frames queue up); bit 3: take each piece as the
//     server's loop reads (the part a direct-read offer of WritableTail
//     takes, committed with CommitTail, then the rest through Feed).
//
// Properties: every frame the splitter gives out is whole and within the
// limit; it then decodes or is refused, never anything else; what decodes
// encodes back to the same bytes; the splitter holds exactly what was fed
// and not popped, and reserves at most about twice that (the bound in
// frame_splitter.h).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "wire/frame_splitter.h"
#include "wire/wire.h"
#include "wire/xdr.h"

using namespace xdrd;

namespace {

constexpr uint32_t kMaxChoices[4] = {kDefaultMaxMessageBytes, 24, 100, 5000};
// The least first reservation of a frame buffer (kMinFrameReserve in
// frame_splitter.cc): a small frame may hold this much whatever its size.
constexpr size_t kReserveSlack = 4096;

uint32_t ReadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void CheckErrorBody(const Header& h, const uint8_t* body, size_t n) {
  XdrReader r(body, n);
  RpcError e;
  if (!DecodeRpcError(r, &e)) {
    FUZZ_CHECK(!r.ok());
    FUZZ_CHECK(r.error_offset() <= n);
    return;
  }
  // XDR has one encoding per value (zero padding and 0/1 flags are checked),
  // so the decoded struct must encode to exactly the bytes it came from.
  std::vector<uint8_t> again;
  XdrWriter w(&again);
  EncodeRpcError(w, e);
  FUZZ_CHECK(again.size() == r.position());
  FUZZ_CHECK(std::equal(again.begin(), again.end(), body));

  // The error reply the server would send back for this call: it must
  // frame, decode and carry the same struct.
  std::vector<uint8_t> reply = EncodeErrorReply(h, e);
  if (reply.empty()) return;  // only past kDefaultMaxMessageBytes
  FrameSplitter s;
  FUZZ_CHECK(s.Feed(reply.data(), reply.size()));
  std::vector<uint8_t> frame;
  FUZZ_CHECK(s.Pop(&frame));
  FUZZ_CHECK(!s.mid_frame());
  Header rh;
  HeaderDecodeResult d = DecodeHeader(frame.data(), frame.size(), &rh);
  FUZZ_CHECK(d.ok());
  FUZZ_CHECK(rh.prog == h.prog && rh.vers == h.vers && rh.proc == h.proc && rh.serial == h.serial);
  FUZZ_CHECK(rh.type == kTypeReply && rh.status == kStatusError && rh.nfds == 0);
  XdrReader rr(frame.data() + d.payload_offset, frame.size() - d.payload_offset);
  RpcError back;
  FUZZ_CHECK(DecodeRpcError(rr, &back));
  FUZZ_CHECK(rr.remaining() == 0);
  FUZZ_CHECK(back == e);
}

void CheckFrame(const std::vector<uint8_t>& frame, uint32_t max_message_bytes) {
  FUZZ_CHECK(frame.size() >= kMinFrameBytes);
  FUZZ_CHECK(frame.size() <= uint64_t{max_message_bytes} + kLengthWordBytes);
  FUZZ_CHECK(ReadBe32(frame.data()) == frame.size());

  Header h;
  h.serial = 0xdeadbeef;  // a refused frame must leave *out alone
  HeaderDecodeResult d = DecodeHeader(frame.data(), frame.size(), &h);
  if (!d.ok()) {
    // The splitter has checked the length word, so only these remain.
    FUZZ_CHECK(d.error == HeaderError::kTooShort || d.error == HeaderError::kTooManyFds);
    FUZZ_CHECK(HeaderErrorText(d.error) != nullptr);
    FUZZ_CHECK(h.serial == 0xdeadbeef && h.prog == 0);
    return;
  }
  FUZZ_CHECK(d.payload_offset == (HasFdsWord(h.type) ? 32u : 28u));
  FUZZ_CHECK(d.payload_offset <= frame.size());
  FUZZ_CHECK(h.nfds <= kMaxFds);
  FUZZ_CHECK(HasFdsWord(h.type) || h.nfds == 0);

  // The header and body encode back to the very frame.
  const uint8_t* body = frame.data() + d.payload_offset;
  const size_t body_size = frame.size() - d.payload_offset;
  std::vector<uint8_t> again = EncodeFrame(h, body, body_size);
  FUZZ_CHECK(again == frame);

  const bool ka = IsKeepalive(h);
  FUZZ_CHECK(!IsKeepalivePing(h) || ka);
  FUZZ_CHECK(!IsKeepalivePong(h) || ka);
  FUZZ_CHECK(!(IsKeepalivePing(h) && IsKeepalivePong(h)));
  if (ka) FUZZ_CHECK(h.prog == kKeepaliveProgram && h.type == kTypeMessage);

  if (h.status == kStatusError) CheckErrorBody(h, body, body_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t chunking = data[0];
  const uint8_t mode = data[1];
  const uint32_t max_message_bytes = kMaxChoices[mode & 3];
  const bool pop_as_we_go = (mode & 4) != 0;
  const bool direct_reads = (mode & 8) != 0;
  data += 2;
  size -= 2;

  FrameSplitter s(max_message_bytes);
  size_t fed = 0, popped = 0;
  bool failed = false;
  uint32_t rng = chunking * 2654435761u + 1;
  std::vector<uint8_t> frame;

  auto pop_all = [&] {
    while (s.Pop(&frame)) {
      popped += frame.size();
      CheckFrame(frame, max_message_bytes);
    }
    FUZZ_CHECK(s.queued_frames() == 0);
  };

  size_t at = 0;
  while (at < size) {
    size_t piece = size - at;
    if (chunking != 0) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      piece = std::min<size_t>(piece, 1 + rng % chunking);
    }
    size_t direct = 0;
    if (direct_reads) {
      size_t room = 0;
      uint8_t* tail = s.WritableTail(piece, &room);
      FUZZ_CHECK((tail == nullptr) == (room == 0));
      FUZZ_CHECK(room <= piece);
      direct = room;
      if (tail != nullptr) std::copy(data + at, data + at + room, tail);
      s.CommitTail(room);
      fed += direct;
    }
    const bool ok = s.Feed(data + at + direct, piece - direct);
    at += piece;
    if (failed) {
      // Poisoned for good: later bytes are ignored, the error stays.
      FUZZ_CHECK(!ok);
    } else if (!ok) {
      failed = true;
    } else {
      fed += piece - direct;
    }
    FUZZ_CHECK(s.failed() == failed);
    if (failed) {
      FUZZ_CHECK(s.error() != FrameError::kNone);
      FUZZ_CHECK(!s.error_message().empty());
      FUZZ_CHECK(!s.mid_frame());
    } else {
      // Exactly what was fed and not popped is held ...
      FUZZ_CHECK(s.buffered_bytes() == fed - popped);
    }
    // ... and the reservation is bounded by it: each buffer (queued frames
    // and the one in progress) holds at most twice its bytes or the first
    // reservation, whichever is larger.
    // (A partial length word, up to 3 bytes, is held inline, unallocated.)
    FUZZ_CHECK(s.allocated_bytes() + kLengthWordBytes - 1 >= s.buffered_bytes());
    FUZZ_CHECK(s.allocated_bytes() <= 2 * s.buffered_bytes() + kReserveSlack * (s.queued_frames() + 1));
    if (pop_as_we_go) pop_all();
  }
  pop_all();
  if (!failed) FUZZ_CHECK(s.buffered_bytes() == fed - popped);
  return 0;
}
