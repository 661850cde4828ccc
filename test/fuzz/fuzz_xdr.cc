// fuzz_xdr — the XDR primitives (XdrReader, XdrWriter) and the remote_error
// decoder on arbitrary bytes.
//
// Input: [n][n op bytes][buffer...], n = first byte % 32. Each op byte reads
// one item from the buffer (low 4 bits: which reader; high 4 bits: the
// max_len of a variable-length item or the size of a fixed one) until one
// fails. Then the whole buffer goes through DecodeRpcError.
//
// Properties: a read succeeds or fails with an error, an offset inside the
// buffer and the position left alone; views point inside the buffer; the
// items that were read, written again by XdrWriter, give back exactly the
// bytes they were read from (XDR has one encoding per value); a decoded
// remote_error encodes back to its bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "wire/wire.h"
#include "wire/xdr.h"

using namespace xdrd;

namespace {

// Small limits so that "longer than max" is as reachable as "fits".
uint32_t MaxLen(uint8_t op) {
  const uint32_t k = op >> 4;
  return k == 15 ? 0xffffffffu : k * 3;
}

bool ReadOne(XdrReader& r, XdrWriter& w, uint8_t op, const uint8_t* buf, size_t size) {
  switch (op & 15) {
    case 0: { uint32_t v; if (!r.ReadU32(&v)) return false; w.WriteU32(v); return true; }
    case 1: { int32_t v; if (!r.ReadI32(&v)) return false; w.WriteI32(v); return true; }
    case 2: { uint64_t v; if (!r.ReadU64(&v)) return false; w.WriteU64(v); return true; }
    case 3: { int64_t v; if (!r.ReadI64(&v)) return false; w.WriteI64(v); return true; }
    case 4: {
      bool v;
      if (!r.ReadBool(&v)) return false;
      w.WriteBool(v);
      return true;
    }
    case 5: {
      bool v;
      if (!r.ReadOptionalFlag(&v)) return false;
      w.WriteOptionalFlag(v);
      return true;
    }
    case 6: {
      uint8_t out[16];
      const size_t n = op >> 4;
      if (!r.ReadFixedOpaque(out, n)) return false;
      w.WriteFixedOpaque(out, n);
      return true;
    }
    case 7: {
      const uint8_t* p = nullptr;
      size_t n = 0;
      if (!r.ReadOpaqueView(&p, &n, MaxLen(op))) return false;
      FUZZ_CHECK(n <= MaxLen(op));
      FUZZ_CHECK(n == 0 || (p >= buf && p + n <= buf + size));
      w.WriteOpaque(p, n);
      return true;
    }
    case 8: {
      std::vector<uint8_t> v;
      if (!r.ReadOpaque(&v, MaxLen(op))) return false;
      FUZZ_CHECK(v.size() <= MaxLen(op));
      w.WriteOpaque(v.data(), v.size());
      return true;
    }
    case 9: {
      std::string_view v;
      if (!r.ReadStringView(&v, MaxLen(op))) return false;
      FUZZ_CHECK(v.size() <= MaxLen(op));
      FUZZ_CHECK(v.empty() || (reinterpret_cast<const uint8_t*>(v.data()) >= buf &&
                               reinterpret_cast<const uint8_t*>(v.data()) + v.size() <= buf + size));
      w.WriteString(v);
      return true;
    }
    default: {
      std::string v;
      if (!r.ReadString(&v, MaxLen(op))) return false;
      FUZZ_CHECK(v.size() <= MaxLen(op));
      w.WriteString(v);
      return true;
    }
  }
}

void CheckPrimitives(const uint8_t* ops, size_t n_ops, const uint8_t* buf, size_t size) {
  XdrReader r(buf, size);
  std::vector<uint8_t> again;
  XdrWriter w(&again);
  for (size_t i = 0; i < n_ops; ++i) {
    const size_t before = r.position();
    if (!ReadOne(r, w, ops[i], buf, size)) {
      FUZZ_CHECK(!r.ok());
      FUZZ_CHECK(r.error() != XdrError::kNone);
      FUZZ_CHECK(XdrErrorText(r.error()) != nullptr);
      // The offset is the failed item's start, and the reader stays there.
      FUZZ_CHECK(r.error_offset() == before);
      FUZZ_CHECK(r.position() == before);
      // Errors are sticky: the first one wins.
      const XdrError first = r.error();
      uint32_t ignored;
      FUZZ_CHECK(!r.ReadU32(&ignored));
      FUZZ_CHECK(r.error() == first && r.error_offset() == before);
      break;
    }
    FUZZ_CHECK(r.ok());
    FUZZ_CHECK(r.position() > before || (ops[i] & 15) == 6);  // only opaque[0] reads nothing
    FUZZ_CHECK(r.position() % kXdrUnit == 0);
    FUZZ_CHECK(r.position() <= size);
    FUZZ_CHECK(r.remaining() == size - r.position());
  }
  FUZZ_CHECK(w.ok());
  // The items read so far, written again, are the bytes they came from.
  const size_t good = again.size();
  FUZZ_CHECK(r.ok() ? good == r.position() : good <= r.error_offset());
  FUZZ_CHECK(std::equal(again.begin(), again.end(), buf));
}

void CheckRpcError(const uint8_t* buf, size_t size) {
  XdrReader r(buf, size);
  RpcError e;
  e.code = 12345;
  if (!DecodeRpcError(r, &e)) {
    FUZZ_CHECK(!r.ok());
    FUZZ_CHECK(r.error_offset() <= size);
    FUZZ_CHECK(e.code == 12345 && !e.message && !e.dom && !e.net);  // *out untouched on failure
    return;
  }
  FUZZ_CHECK(r.ok());
  std::vector<uint8_t> again;
  XdrWriter w(&again);
  EncodeRpcError(w, e);
  FUZZ_CHECK(again.size() == r.position());
  FUZZ_CHECK(std::equal(again.begin(), again.end(), buf));
  // And decoding the re-encoding gives the same struct.
  XdrReader r2(again.data(), again.size());
  RpcError back;
  FUZZ_CHECK(DecodeRpcError(r2, &back));
  FUZZ_CHECK(back == e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t n_ops = std::min<size_t>(data[0] % 32, size - 1);
  const uint8_t* ops = data + 1;
  // The buffer is copied to an exactly sized heap block so that ASan sees a
  // read one byte past its end.
  std::vector<uint8_t> buf(data + 1 + n_ops, data + size);
  CheckPrimitives(ops, n_ops, buf.data(), buf.size());
  CheckRpcError(buf.data(), buf.size());
  return 0;
}
