// wire.cc — see wire.h.
#include "wire/wire.h"

#include <utility>

namespace xdrd {

// ---- Header -----------------------------------------------------------------

bool operator==(const Header& a, const Header& b) {
  return a.prog == b.prog && a.vers == b.vers && a.proc == b.proc && a.type == b.type &&
         a.serial == b.serial && a.status == b.status && a.nfds == b.nfds;
}

const char* HeaderErrorText(HeaderError e) {
  switch (e) {
    case HeaderError::kNone: return "no error";
    case HeaderError::kTooShort: return "frame shorter than its header";
    case HeaderError::kLengthMismatch: return "length word does not match the frame size";
    case HeaderError::kTooManyFds: return "more file descriptors than allowed";
  }
  return "unknown header error";
}

HeaderDecodeResult DecodeHeader(const uint8_t* frame, size_t len, Header* out) {
  HeaderDecodeResult result;
  if (len < kMinFrameBytes) {
    result.error = HeaderError::kTooShort;
    return result;
  }
  XdrReader r(frame, len);
  uint32_t length_word = 0;
  Header h;
  // Cannot fail: len >= 28 covers the length word and the six header words.
  r.ReadU32(&length_word);
  r.ReadU32(&h.prog);
  r.ReadU32(&h.vers);
  r.ReadI32(&h.proc);
  r.ReadU32(&h.type);
  r.ReadU32(&h.serial);
  r.ReadU32(&h.status);
  if (length_word != len) {
    result.error = HeaderError::kLengthMismatch;
    return result;
  }
  if (HasFdsWord(h.type)) {
    if (!r.ReadU32(&h.nfds)) {
      result.error = HeaderError::kTooShort;
      return result;
    }
    if (h.nfds > kMaxFds) {
      result.error = HeaderError::kTooManyFds;
      return result;
    }
  }
  *out = h;
  result.payload_offset = r.position();
  return result;
}

void EncodeHeader(XdrWriter& w, const Header& h) {
  w.WriteU32(h.prog);
  w.WriteU32(h.vers);
  w.WriteI32(h.proc);
  w.WriteU32(h.type);
  w.WriteU32(h.serial);
  w.WriteU32(h.status);
  if (HasFdsWord(h.type)) w.WriteU32(h.nfds);
}

// ---- Building frames ----------------------------------------------------------

size_t BeginFrame(std::vector<uint8_t>* buf, const Header& h) {
  const size_t start = buf->size();
  XdrWriter w(buf);
  w.WriteU32(0);  // the length word, patched by FinishFrame
  EncodeHeader(w, h);
  return start;
}

bool FinishFrame(std::vector<uint8_t>* buf, size_t frame_start, uint32_t max_message_bytes) {
  const uint64_t frame_len = buf->size() - frame_start;
  if (frame_len > uint64_t{max_message_bytes} + kLengthWordBytes) {
    buf->resize(frame_start);
    return false;
  }
  XdrWriter(buf).PatchU32(frame_start, static_cast<uint32_t>(frame_len));
  return true;
}

std::vector<uint8_t> EncodeFrame(const Header& h, const uint8_t* body, size_t n) {
  const size_t header_len = kHeaderBytes + (HasFdsWord(h.type) ? kNfdsWordBytes : 0);
  if (n > kDefaultMaxMessageBytes - header_len) return {};  // checked before allocating
  std::vector<uint8_t> frame;
  frame.reserve(kLengthWordBytes + header_len + n);
  const size_t start = BeginFrame(&frame, h);
  if (n > 0) frame.insert(frame.end(), body, body + n);
  FinishFrame(&frame, start);  // cannot fail: size checked above
  return frame;
}

// ---- Keepalive ----------------------------------------------------------------

namespace {

std::vector<uint8_t> MakeKeepaliveFrame(int32_t proc) {
  Header h;
  h.prog = kKeepaliveProgram;
  h.vers = kKeepaliveProtocolVersion;
  h.proc = proc;
  h.type = kTypeMessage;
  h.serial = 0;
  h.status = kStatusOk;
  return EncodeFrame(h, nullptr, 0);
}

}  // namespace

std::vector<uint8_t> MakePingFrame() { return MakeKeepaliveFrame(kKeepaliveProcPing); }
std::vector<uint8_t> MakePongFrame() { return MakeKeepaliveFrame(kKeepaliveProcPong); }

bool IsKeepalive(const Header& h) {
  return h.prog == kKeepaliveProgram && h.vers == kKeepaliveProtocolVersion &&
         h.type == kTypeMessage;
}

bool IsKeepalivePing(const Header& h) { return IsKeepalive(h) && h.proc == kKeepaliveProcPing; }
bool IsKeepalivePong(const Header& h) { return IsKeepalive(h) && h.proc == kKeepaliveProcPong; }

// ---- Error struct -------------------------------------------------------------

bool operator==(const RpcErrorDomain& a, const RpcErrorDomain& b) {
  return a.name == b.name && a.uuid == b.uuid && a.id == b.id;
}

bool operator==(const RpcErrorNetwork& a, const RpcErrorNetwork& b) {
  return a.name == b.name && a.uuid == b.uuid;
}

bool operator==(const RpcError& a, const RpcError& b) {
  return a.code == b.code && a.domain == b.domain && a.message == b.message &&
         a.level == b.level && a.dom == b.dom && a.str1 == b.str1 && a.str2 == b.str2 &&
         a.str3 == b.str3 && a.int1 == b.int1 && a.int2 == b.int2 && a.net == b.net;
}

namespace {

// remote_string: a 0/1 flag, then the string when present.
void WriteOptionalString(XdrWriter& w, const std::optional<std::string>& s) {
  w.WriteOptionalFlag(s.has_value());
  if (s) w.WriteString(*s);
}

bool ReadOptionalString(XdrReader& r, std::optional<std::string>* out) {
  bool present = false;
  if (!r.ReadOptionalFlag(&present)) return false;
  if (!present) {
    out->reset();
    return true;
  }
  std::string s;
  if (!r.ReadString(&s, kStringMax)) return false;
  *out = std::move(s);
  return true;
}

}  // namespace

void EncodeRpcError(XdrWriter& w, const RpcError& e) {
  w.WriteI32(e.code);
  w.WriteI32(e.domain);
  WriteOptionalString(w, e.message);
  w.WriteI32(e.level);
  w.WriteOptionalFlag(e.dom.has_value());
  if (e.dom) {
    w.WriteString(e.dom->name);
    w.WriteFixedOpaque(e.dom->uuid.data(), kUuidBytes);
    w.WriteI32(e.dom->id);
  }
  WriteOptionalString(w, e.str1);
  WriteOptionalString(w, e.str2);
  WriteOptionalString(w, e.str3);
  w.WriteI32(e.int1);
  w.WriteI32(e.int2);
  w.WriteOptionalFlag(e.net.has_value());
  if (e.net) {
    w.WriteString(e.net->name);
    w.WriteFixedOpaque(e.net->uuid.data(), kUuidBytes);
  }
}

bool DecodeRpcError(XdrReader& r, RpcError* out) {
  RpcError e;  // filled fully before *out is touched
  bool has_dom = false;
  bool has_net = false;
  if (!r.ReadI32(&e.code) || !r.ReadI32(&e.domain) || !ReadOptionalString(r, &e.message) ||
      !r.ReadI32(&e.level) || !r.ReadOptionalFlag(&has_dom)) {
    return false;
  }
  if (has_dom) {
    RpcErrorDomain d;
    if (!r.ReadString(&d.name, kStringMax) || !r.ReadFixedOpaque(d.uuid.data(), kUuidBytes) ||
        !r.ReadI32(&d.id)) {
      return false;
    }
    e.dom = std::move(d);
  }
  if (!ReadOptionalString(r, &e.str1) || !ReadOptionalString(r, &e.str2) ||
      !ReadOptionalString(r, &e.str3) || !r.ReadI32(&e.int1) || !r.ReadI32(&e.int2) ||
      !r.ReadOptionalFlag(&has_net)) {
    return false;
  }
  if (has_net) {
    RpcErrorNetwork n;
    if (!r.ReadString(&n.name, kStringMax) || !r.ReadFixedOpaque(n.uuid.data(), kUuidBytes)) {
      return false;
    }
    e.net = std::move(n);
  }
  *out = std::move(e);
  return true;
}

// ---- Errors the server sends itself -----------------------------------------

namespace {

// What virReportError records: str1 the format, str2 the formatted detail.
RpcError LibvirtStyleError(int32_t code, std::string message, std::string format,
                           std::string detail) {
  RpcError e;
  e.code = code;
  e.domain = kFromRpc;
  e.message = std::move(message);
  e.level = kErrLevelError;
  e.str1 = std::move(format);
  e.str2 = std::move(detail);
  e.int1 = -1;
  e.int2 = -1;
  return e;
}

}  // namespace

RpcError MakeRpcError(std::string message) {
  std::string detail = message;
  // For code RPC libvirt's format is "%s": the message is the detail as is.
  return LibvirtStyleError(kErrRpc, std::move(message), "%s", std::move(detail));
}

RpcError UnknownProcedureError(int32_t proc) {
  return MakeRpcError("unknown procedure: " + std::to_string(proc));
}

RpcError UnknownProgramError(uint32_t prog, uint32_t vers) {
  // libvirt prints both with %d; reproduce its signed rendering.
  return MakeRpcError("Cannot find program " + std::to_string(static_cast<int32_t>(prog)) +
                      " version " + std::to_string(static_cast<int32_t>(vers)));
}

RpcError UnexpectedStatusError(uint32_t status) {
  return MakeRpcError("Unexpected message status " + std::to_string(status));
}

RpcError PayloadDecodeError() { return MakeRpcError("Unable to decode message payload"); }

RpcError InternalError(std::string detail) {
  std::string message = "internal error: " + detail;
  return LibvirtStyleError(kErrInternalError, std::move(message), "internal error: %s",
                           std::move(detail));
}

RpcError ShuttingDownError() {
  // The text is the whole message: no "internal error: " prefix, so the
  // user reads exactly what happened.
  return LibvirtStyleError(kErrInternalError, "server is shutting down", "%s",
                           "server is shutting down");
}

std::vector<uint8_t> EncodeErrorReply(const Header& call, const RpcError& e) {
  Header h;
  h.prog = call.prog;
  h.vers = call.vers;
  h.proc = call.proc;
  h.type = kTypeReply;  // never REPLY_WITH_FDS: see wire.h
  h.serial = call.serial;
  h.status = kStatusError;
  std::vector<uint8_t> frame;
  const size_t start = BeginFrame(&frame, h);
  XdrWriter body(&frame);
  EncodeRpcError(body, e);
  if (!body.ok() || !FinishFrame(&frame, start)) return {};
  return frame;
}

}  // namespace xdrd
