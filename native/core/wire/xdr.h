// xdr.h — XDR (RFC 4506) primitives: XdrWriter appends big-endian words to a
// byte vector, XdrReader decodes them from a byte span with bounds checks.
//
// Thread-safety: none needed. A writer or reader is a short-lived value used
// by one thread at a time; it holds no global state.
//
// Error model: the writer cannot fail except for a length that does not fit
// XDR's 32-bit length word (see XdrWriter::ok). The reader never throws:
// every Read* returns true on success; on the first failure the reader
// records an XdrError and the offset of the item that failed, and every
// later Read* returns false without touching its output ("sticky"). So a
// decoder may either test each call or run a sequence and check ok() once.
// A failed Read* leaves its output and the read position unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xdrd {

// XDR pads every item to a multiple of this many bytes.
inline constexpr size_t kXdrUnit = 4;

// Bytes of zero padding that follow n bytes of opaque data.
constexpr size_t XdrPadding(size_t n) { return (kXdrUnit - n % kXdrUnit) % kXdrUnit; }

// Appends XDR items to a caller-owned vector, so one buffer can hold a frame
// header, a body and more frames back to back.
class XdrWriter {
 public:
  // `out` must outlive the writer; bytes are appended after its current end.
  explicit XdrWriter(std::vector<uint8_t>* out) : out_(out) {}

  void WriteU32(uint32_t v);
  void WriteI32(int32_t v);
  void WriteU64(uint64_t v);  // unsigned hyper
  void WriteI64(int64_t v);   // hyper
  void WriteBool(bool v);
  // The 0/1 word in front of an optional (`T *x`) item.
  void WriteOptionalFlag(bool present) { WriteBool(present); }

  // opaque x[n]: the bytes, then zero padding.
  void WriteFixedOpaque(const uint8_t* data, size_t n);
  // opaque x<>: a length word, the bytes, then zero padding. A length above
  // 0xffffffff cannot be encoded: nothing is written and ok() turns false.
  void WriteOpaque(const uint8_t* data, size_t n);
  // string s<>: same layout as variable opaque, no NUL terminator.
  void WriteString(std::string_view s);

  // Overwrites 4 bytes at an absolute offset of the vector (for a length
  // word written before its value was known). offset + 4 <= size().
  void PatchU32(size_t offset, uint32_t v);

  size_t size() const { return out_->size(); }
  // False after a WriteOpaque/WriteString whose length did not fit 32 bits.
  bool ok() const { return ok_; }

 private:
  std::vector<uint8_t>* out_;
  bool ok_ = true;
};

enum class XdrError : uint8_t {
  kNone = 0,
  kUnderrun,      // fewer bytes left than the item needs
  kTooLong,       // a variable-length item's length is above the caller's max
  kBadPadding,    // a padding byte is not zero
  kBadBool,       // a bool or optional flag is neither 0 nor 1
};

// A short English name for an XdrError, e.g. "not enough bytes".
const char* XdrErrorText(XdrError e);

// Decodes from a span it does not own; the bytes must outlive the reader and
// any view it hands out.
class XdrReader {
 public:
  XdrReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool ReadU32(uint32_t* v);
  bool ReadI32(int32_t* v);
  bool ReadU64(uint64_t* v);
  bool ReadI64(int64_t* v);
  bool ReadBool(bool* v);
  bool ReadOptionalFlag(bool* present) { return ReadBool(present); }

  // opaque x[n]: n bytes into out[0..n), then zero padding.
  bool ReadFixedOpaque(uint8_t* out, size_t n);

  // opaque x<max_len> / string s<max_len>. The length word is checked
  // against max_len, then against the bytes left, before anything is
  // allocated or copied. The View forms copy nothing: the view points into
  // the reader's span.
  bool ReadOpaqueView(const uint8_t** data, size_t* len, uint32_t max_len);
  bool ReadOpaque(std::vector<uint8_t>* out, uint32_t max_len);
  bool ReadStringView(std::string_view* out, uint32_t max_len);
  bool ReadString(std::string* out, uint32_t max_len);

  bool ok() const { return error_ == XdrError::kNone; }
  XdrError error() const { return error_; }
  // Offset (from the start of the span) of the item that failed.
  size_t error_offset() const { return error_offset_; }
  size_t position() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

 private:
  bool Fail(XdrError e);
  // Checks that n bytes are left; fails with kUnderrun otherwise.
  bool Need(size_t n);
  bool PaddingIsZero(size_t at, size_t n) const;
  uint32_t PeekU32(size_t at) const;

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  XdrError error_ = XdrError::kNone;
  size_t error_offset_ = 0;
};

}  // namespace xdrd
