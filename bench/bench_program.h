// bench_program.h — the bench program as every native bench binary sees it
// (core-server, c-server, loadgen): its numbers, NOOP's constant answer and
// the opaque<> check ECHO makes, plus big-endian word access. The JS
// servers (xdrd-server.js, plain-server.js) state the same facts in JS.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bench {

constexpr uint32_t kBenchProgram = 0x62656e63;  // "benc"
constexpr uint32_t kBenchVersion = 1;
constexpr int32_t kProcNoop = 1;  // empty args; returns kNoopValue (an unsigned hyper)
constexpr int32_t kProcEcho = 2;  // args opaque data<>; returns it unchanged
constexpr uint8_t kNoopValue[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

inline uint32_t GetU32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

inline void PutU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// ECHO's body is one opaque<>: a length word, the bytes, zero padding to a
// multiple of 4, and nothing else. size_t arithmetic, so a length word near
// 2^32 cannot wrap.
inline bool IsOneOpaque(const uint8_t* body, size_t n) {
  return n >= 4 && ((static_cast<size_t>(GetU32(body)) + 3) & ~size_t{3}) == n - 4;
}

}  // namespace bench
