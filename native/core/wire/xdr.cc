// xdr.cc — see xdr.h. Bytes are assembled with shifts, never by casting a
// buffer pointer to a wider type, so there is no alignment or aliasing
// question and the code is the same on any host byte order.
#include "wire/xdr.h"

#include <limits>

namespace xdrd {

namespace {

const uint8_t kZeroPad[kXdrUnit] = {0, 0, 0, 0};

}  // namespace

// ---- XdrWriter ------------------------------------------------------------

void XdrWriter::WriteU32(uint32_t v) {
  const uint8_t word[4] = {
      static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
      static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  out_->insert(out_->end(), word, word + 4);
}

// Two's complement is what XDR puts on the wire; the conversion to the
// unsigned type of the same width is well defined and keeps the bits.
void XdrWriter::WriteI32(int32_t v) { WriteU32(static_cast<uint32_t>(v)); }

void XdrWriter::WriteU64(uint64_t v) {
  WriteU32(static_cast<uint32_t>(v >> 32));
  WriteU32(static_cast<uint32_t>(v));
}

void XdrWriter::WriteI64(int64_t v) { WriteU64(static_cast<uint64_t>(v)); }

void XdrWriter::WriteBool(bool v) { WriteU32(v ? 1 : 0); }

void XdrWriter::WriteFixedOpaque(const uint8_t* data, size_t n) {
  if (n > 0) out_->insert(out_->end(), data, data + n);
  out_->insert(out_->end(), kZeroPad, kZeroPad + XdrPadding(n));
}

void XdrWriter::WriteOpaque(const uint8_t* data, size_t n) {
  if (n > std::numeric_limits<uint32_t>::max()) {
    ok_ = false;
    return;
  }
  WriteU32(static_cast<uint32_t>(n));
  WriteFixedOpaque(data, n);
}

void XdrWriter::WriteString(std::string_view s) {
  // std::string_view holds char; the bytes are the same storage viewed as
  // unsigned char, which the aliasing rules allow.
  WriteOpaque(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

void XdrWriter::PatchU32(size_t offset, uint32_t v) {
  std::vector<uint8_t>& out = *out_;
  out[offset] = static_cast<uint8_t>(v >> 24);
  out[offset + 1] = static_cast<uint8_t>(v >> 16);
  out[offset + 2] = static_cast<uint8_t>(v >> 8);
  out[offset + 3] = static_cast<uint8_t>(v);
}

// ---- XdrReader ------------------------------------------------------------

const char* XdrErrorText(XdrError e) {
  switch (e) {
    case XdrError::kNone: return "no error";
    case XdrError::kUnderrun: return "not enough bytes";
    case XdrError::kTooLong: return "length above the maximum";
    case XdrError::kBadPadding: return "non-zero padding";
    case XdrError::kBadBool: return "bool not 0 or 1";
  }
  return "unknown XDR error";
}

bool XdrReader::Fail(XdrError e) {
  error_ = e;
  error_offset_ = pos_;
  return false;
}

bool XdrReader::Need(size_t n) {
  if (!ok()) return false;  // sticky: the first error wins
  if (n > remaining()) return Fail(XdrError::kUnderrun);
  return true;
}

bool XdrReader::PaddingIsZero(size_t at, size_t n) const {
  for (size_t i = 0; i < n; ++i) {
    if (data_[at + i] != 0) return false;
  }
  return true;
}

uint32_t XdrReader::PeekU32(size_t at) const {
  return (uint32_t{data_[at]} << 24) | (uint32_t{data_[at + 1]} << 16) |
         (uint32_t{data_[at + 2]} << 8) | uint32_t{data_[at + 3]};
}

bool XdrReader::ReadU32(uint32_t* v) {
  if (!Need(4)) return false;
  *v = PeekU32(pos_);
  pos_ += 4;
  return true;
}

bool XdrReader::ReadI32(int32_t* v) {
  uint32_t u;
  if (!ReadU32(&u)) return false;
  // Converting an out-of-range value to a signed type is two's complement
  // wrap-around with every C++17 compiler we target (and defined in C++20).
  *v = static_cast<int32_t>(u);
  return true;
}

bool XdrReader::ReadU64(uint64_t* v) {
  if (!Need(8)) return false;
  *v = (uint64_t{PeekU32(pos_)} << 32) | PeekU32(pos_ + 4);
  pos_ += 8;
  return true;
}

bool XdrReader::ReadI64(int64_t* v) {
  uint64_t u;
  if (!ReadU64(&u)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}

bool XdrReader::ReadBool(bool* v) {
  if (!Need(4)) return false;
  const uint32_t u = PeekU32(pos_);
  if (u > 1) return Fail(XdrError::kBadBool);
  *v = u == 1;
  pos_ += 4;
  return true;
}

bool XdrReader::ReadFixedOpaque(uint8_t* out, size_t n) {
  const size_t pad = XdrPadding(n);
  // n + pad cannot wrap: n <= remaining() is checked first.
  if (!Need(n) || !Need(n + pad)) return false;
  if (!PaddingIsZero(pos_ + n, pad)) return Fail(XdrError::kBadPadding);
  for (size_t i = 0; i < n; ++i) out[i] = data_[pos_ + i];
  pos_ += n + pad;
  return true;
}

bool XdrReader::ReadOpaqueView(const uint8_t** data, size_t* len, uint32_t max_len) {
  if (!Need(4)) return false;
  const uint32_t n = PeekU32(pos_);  // peeked: a failure below leaves pos_ alone
  if (n > max_len) return Fail(XdrError::kTooLong);
  // 64-bit arithmetic: n + padding may not fit a 32-bit size_t.
  const uint64_t body = uint64_t{n} + XdrPadding(n);
  if (body > remaining() - 4) return Fail(XdrError::kUnderrun);
  if (!PaddingIsZero(pos_ + 4 + n, XdrPadding(n))) return Fail(XdrError::kBadPadding);
  *data = data_ + pos_ + 4;
  *len = n;
  pos_ += 4 + static_cast<size_t>(body);
  return true;
}

bool XdrReader::ReadOpaque(std::vector<uint8_t>* out, uint32_t max_len) {
  const uint8_t* p = nullptr;
  size_t n = 0;
  if (!ReadOpaqueView(&p, &n, max_len)) return false;  // validated before we allocate
  out->assign(p, p + n);
  return true;
}

bool XdrReader::ReadStringView(std::string_view* out, uint32_t max_len) {
  const uint8_t* p = nullptr;
  size_t n = 0;
  if (!ReadOpaqueView(&p, &n, max_len)) return false;
  *out = std::string_view(reinterpret_cast<const char*>(p), n);
  return true;
}

bool XdrReader::ReadString(std::string* out, uint32_t max_len) {
  std::string_view view;
  if (!ReadStringView(&view, max_len)) return false;  // validated before we allocate
  out->assign(view.data(), view.size());
  return true;
}

}  // namespace xdrd
