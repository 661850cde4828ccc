// wire.h — the libvirt RPC message layer: protocol constants, the message
// header, whole-frame encoding (length word + header + body), keepalive
// frames and libvirt's error struct (virNetMessageError / remote_error).
// Numbers are those of libvirt 9.0.0 (see libvirt-wire.md §1–4).
//
// Thread-safety: plain functions and values with no shared state; any thread
// may call them at any time.
//
// Frame layout, for reference:
//   length (u32, counts itself) | prog | vers | proc (signed) | type |
//   serial | status | [nfds, only for *_WITH_FDS types] | body
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/xdr.h"

namespace xdrd {

// ---- Programs ---------------------------------------------------------------

inline constexpr uint32_t kRemoteProgram = 0x20008086;
inline constexpr uint32_t kRemoteProtocolVersion = 1;
inline constexpr uint32_t kKeepaliveProgram = 0x6b656570;  // "keep"
inline constexpr uint32_t kKeepaliveProtocolVersion = 1;
inline constexpr int32_t kKeepaliveProcPing = 1;
inline constexpr int32_t kKeepaliveProcPong = 2;

// ---- Header enumerations ------------------------------------------------------
// Header keeps type and status as raw words so that values outside these
// enumerations survive decoding; compare with the constants below.

enum MessageType : uint32_t {
  kTypeCall = 0,
  kTypeReply = 1,
  kTypeMessage = 2,  // events and keepalive
  kTypeStream = 3,
  kTypeCallWithFds = 4,
  kTypeReplyWithFds = 5,
  kTypeStreamHole = 6,
};

enum MessageStatus : uint32_t {
  kStatusOk = 0,
  kStatusError = 1,
  kStatusContinue = 2,
};

// ---- Sizes --------------------------------------------------------------------

inline constexpr size_t kLengthWordBytes = 4;
inline constexpr size_t kHeaderBytes = 24;    // prog .. status
inline constexpr size_t kNfdsWordBytes = 4;
inline constexpr size_t kMinFrameBytes = kLengthWordBytes + kHeaderBytes;  // 28
// Largest header + body; the length word is not counted, so the largest
// accepted length word is this + 4.
inline constexpr uint32_t kDefaultMaxMessageBytes = 33554432;
inline constexpr uint32_t kMaxFds = 32;
inline constexpr uint32_t kStringMax = 4194304;  // remote_nonnull_string
inline constexpr size_t kUuidBytes = 16;

// ---- Error struct numbers (virErrorNumber, virErrorDomain, virErrorLevel) ----

inline constexpr int32_t kErrInternalError = 1;
inline constexpr int32_t kErrRpc = 39;
inline constexpr int32_t kFromRpc = 7;
inline constexpr int32_t kErrLevelError = 2;

// ---- Header -----------------------------------------------------------------

struct Header {
  uint32_t prog = 0;
  uint32_t vers = 0;
  int32_t proc = 0;
  uint32_t type = kTypeCall;     // a MessageType value, kept raw
  uint32_t serial = 0;
  uint32_t status = kStatusOk;   // a MessageStatus value, kept raw
  uint32_t nfds = 0;             // on the wire only when HasFdsWord(type)
};

bool operator==(const Header& a, const Header& b);
inline bool operator!=(const Header& a, const Header& b) { return !(a == b); }

// True for CALL_WITH_FDS and REPLY_WITH_FDS: an nfds word follows status.
constexpr bool HasFdsWord(uint32_t type) {
  return type == kTypeCallWithFds || type == kTypeReplyWithFds;
}

enum class HeaderError : uint8_t {
  kNone = 0,
  kTooShort,        // fewer bytes than the length word + header (+ nfds)
  kLengthMismatch,  // the length word does not equal the frame's size
  kTooManyFds,      // nfds above kMaxFds
};

const char* HeaderErrorText(HeaderError e);

struct HeaderDecodeResult {
  HeaderError error = HeaderError::kNone;
  size_t payload_offset = 0;  // from the frame start: 28, or 32 with nfds
  bool ok() const { return error == HeaderError::kNone; }
};

// Decodes the header of one whole frame, length word first (as the frame
// splitter delivers it). On failure *out is left unchanged. Unknown type
// and status values are not errors; nfds is 0 unless HasFdsWord(type).
HeaderDecodeResult DecodeHeader(const uint8_t* frame, size_t len, Header* out);

// Writes the 24-byte header, plus the nfds word when HasFdsWord(h.type).
// Does not write the length word.
void EncodeHeader(XdrWriter& w, const Header& h);

// ---- Building frames ----------------------------------------------------------
// In place, for replies encoded straight into one (possibly shared) buffer:
//   size_t start = BeginFrame(&buf, header);
//   XdrWriter body(&buf); body.WriteU32(...); ...
//   if (!FinishFrame(&buf, start)) { /* too large: send an error instead */ }

// Appends a placeholder length word and the header; returns the frame's
// start offset in *buf for FinishFrame.
size_t BeginFrame(std::vector<uint8_t>* buf, const Header& h);

// Patches the length word of the frame that starts at frame_start and runs
// to the end of *buf. Returns false, and removes the unfinished frame from
// *buf, when it would be longer than max_message_bytes + 4 — a frame the
// peer would refuse.
bool FinishFrame(std::vector<uint8_t>* buf, size_t frame_start,
                 uint32_t max_message_bytes = kDefaultMaxMessageBytes);

// A complete frame: length word, header, body. Empty when the frame would
// exceed kDefaultMaxMessageBytes (a frame is never empty otherwise).
std::vector<uint8_t> EncodeFrame(const Header& h, const uint8_t* body, size_t n);

// ---- Keepalive ----------------------------------------------------------------
// PING and PONG: keepalive program, proc 1 / 2, type MESSAGE, serial 0,
// status OK, empty body — 28 bytes each.

std::vector<uint8_t> MakePingFrame();
std::vector<uint8_t> MakePongFrame();
// Any keepalive-program MESSAGE; these are handled by the I/O loop, never
// dispatched. Its proc says PING, PONG or (unknown) something else.
bool IsKeepalive(const Header& h);
bool IsKeepalivePing(const Header& h);
bool IsKeepalivePong(const Header& h);

// ---- Error struct -------------------------------------------------------------

using Uuid = std::array<uint8_t, kUuidBytes>;

// remote_nonnull_domain
struct RpcErrorDomain {
  std::string name;
  Uuid uuid{};
  int32_t id = 0;  // -1 on the wire for an inactive domain
};

// remote_nonnull_network
struct RpcErrorNetwork {
  std::string name;
  Uuid uuid{};
};

// The eleven fields of virNetMessageError, in wire order. Field names are
// libvirt's: `domain` is the error domain (subsystem number), `dom` an
// optional virtual-machine reference.
struct RpcError {
  int32_t code = 0;
  int32_t domain = 0;
  std::optional<std::string> message;  // shown to the user verbatim
  int32_t level = 0;
  std::optional<RpcErrorDomain> dom;
  std::optional<std::string> str1;
  std::optional<std::string> str2;
  std::optional<std::string> str3;
  int32_t int1 = 0;
  int32_t int2 = 0;
  std::optional<RpcErrorNetwork> net;
};

bool operator==(const RpcErrorDomain& a, const RpcErrorDomain& b);
bool operator==(const RpcErrorNetwork& a, const RpcErrorNetwork& b);
bool operator==(const RpcError& a, const RpcError& b);
inline bool operator!=(const RpcError& a, const RpcError& b) { return !(a == b); }

// Strings are expected to be at most kStringMax bytes (a peer refuses more).
void EncodeRpcError(XdrWriter& w, const RpcError& e);
// Strings are limited to kStringMax. On failure *out is unchanged and the
// reader holds the error.
bool DecodeRpcError(XdrReader& r, RpcError* out);

// ---- Errors the server sends itself -----------------------------------------
// Filled as libvirtd 9.0 fills them (virReportError): level ERROR, str1 the
// message's format ("%s" for RPC errors), str2 the formatted detail, str3
// NULL, int1 = int2 = -1, dom and net NULL.

// code RPC (39), domain RPC (7), message `message` verbatim.
RpcError MakeRpcError(std::string message);
// "unknown procedure: N". Clients map this to NO_SUPPORT and fall back.
RpcError UnknownProcedureError(int32_t proc);
// "Cannot find program P version V". libvirt formats both with %d, so a
// number above 0x7fffffff prints negative; we print what libvirtd prints.
RpcError UnknownProgramError(uint32_t prog, uint32_t vers);
// "Unexpected message status N" (unsigned), for a CALL whose status is not OK.
RpcError UnexpectedStatusError(uint32_t status);
// "Unable to decode message payload": a body that does not decode.
RpcError PayloadDecodeError();
// code INTERNAL_ERROR (1), domain RPC (7): "internal error: <detail>", with
// str1 "internal error: %s" and str2 the detail.
RpcError InternalError(std::string detail);

// code INTERNAL_ERROR (1), domain RPC (7): "server is shutting down", the
// answer to calls a stopping server will not run.
RpcError ShuttingDownError();

// A whole REPLY frame with status ERROR carrying `e`, echoing the call's
// prog, vers, proc and serial. The type is always REPLY and there is no nfds
// word, even for a CALL_WITH_FDS: an error carries no descriptors, and
// libvirtd answers errors the same way (type REPLY). Empty only if the
// strings push the frame past kDefaultMaxMessageBytes.
std::vector<uint8_t> EncodeErrorReply(const Header& call, const RpcError& e);

}  // namespace xdrd
