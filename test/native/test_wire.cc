// The libvirt message layer against exact bytes: headers and frames from
// libvirt-wire.md §11, the error reply real libvirtd sends (§4), the errors
// our server builds (§9), keepalive frames (§3), and the error struct with
// all eleven fields.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "wire/wire.h"
#include "wire/xdr.h"

using namespace xdrd;

namespace {

using Bytes = std::vector<uint8_t>;

constexpr int32_t kProcDomainLookupByName = 23;
constexpr int32_t kProcConnectGetHostname = 59;
constexpr int32_t kProcConnectSupportsFeature = 60;
constexpr int32_t kProcAuthList = 66;
constexpr int32_t kErrNoDomain = 42;  // virErrorNumber NO_DOMAIN
constexpr int32_t kFromTest = 12;     // virErrorDomain TEST

Header RemoteHeader(int32_t proc, uint32_t type, uint32_t serial, uint32_t status) {
  Header h;
  h.prog = kRemoteProgram;
  h.vers = kRemoteProtocolVersion;
  h.proc = proc;
  h.type = type;
  h.serial = serial;
  h.status = status;
  return h;
}

Bytes Tail(const Bytes& frame, size_t from) { return Bytes(frame.begin() + from, frame.end()); }

Bytes EncodeErrorBody(const RpcError& e) {
  Bytes out;
  XdrWriter w(&out);
  EncodeRpcError(w, e);
  return out;
}

// AUTH_LIST call, libvirt-wire.md §11.
const Bytes kAuthListCall = {
    0x00, 0x00, 0x00, 0x1c,  // length 28: header only
    0x20, 0x00, 0x80, 0x86,  // prog REMOTE
    0x00, 0x00, 0x00, 0x01,  // vers 1
    0x00, 0x00, 0x00, 0x42,  // proc 66 AUTH_LIST
    0x00, 0x00, 0x00, 0x00,  // type CALL
    0x00, 0x00, 0x00, 0x00,  // serial 0
    0x00, 0x00, 0x00, 0x00,  // status OK
};

// Real libvirtd's reply to DOMAIN_LOOKUP_BY_NAME("nosuch") (§4), 84-byte
// body, behind a header with serial 5.
const Bytes kNoSuchDomainReply = {
    0x00, 0x00, 0x00, 0x70,  // length 112 = 4 + 24 + 84
    0x20, 0x00, 0x80, 0x86,  // prog REMOTE
    0x00, 0x00, 0x00, 0x01,  // vers 1
    0x00, 0x00, 0x00, 0x17,  // proc 23 DOMAIN_LOOKUP_BY_NAME
    0x00, 0x00, 0x00, 0x01,  // type REPLY
    0x00, 0x00, 0x00, 0x05,  // serial 5
    0x00, 0x00, 0x00, 0x01,  // status ERROR
    // body: virNetMessageError
    0x00, 0x00, 0x00, 0x2a,  // code 42 NO_DOMAIN
    0x00, 0x00, 0x00, 0x0c,  // domain 12 TEST
    0x00, 0x00, 0x00, 0x01,  // message present
    0x00, 0x00, 0x00, 0x10,  //   length 16
    'D', 'o', 'm', 'a', 'i', 'n', ' ', 'n', 'o', 't', ' ', 'f', 'o', 'u', 'n', 'd',
    0x00, 0x00, 0x00, 0x02,  // level 2 ERROR
    0x00, 0x00, 0x00, 0x00,  // dom NULL
    0x00, 0x00, 0x00, 0x01,  // str1 present
    0x00, 0x00, 0x00, 0x10,  //   length 16
    'D', 'o', 'm', 'a', 'i', 'n', ' ', 'n', 'o', 't', ' ', 'f', 'o', 'u', 'n', 'd',
    0x00, 0x00, 0x00, 0x00,  // str2 NULL
    0x00, 0x00, 0x00, 0x00,  // str3 NULL
    0xff, 0xff, 0xff, 0xff,  // int1 -1
    0xff, 0xff, 0xff, 0xff,  // int2 -1
    0x00, 0x00, 0x00, 0x00,  // net NULL
};

RpcError NoSuchDomainError() {
  RpcError e;
  e.code = kErrNoDomain;
  e.domain = kFromTest;
  e.message = "Domain not found";
  e.level = kErrLevelError;
  e.str1 = "Domain not found";
  e.int1 = -1;
  e.int2 = -1;
  return e;
}

// An error struct with every optional field present.
RpcError EveryFieldError() {
  RpcError e;
  e.code = 9;     // OPERATION_FAILED
  e.domain = 20;  // DOMAIN
  e.message = "m";
  e.level = 1;  // WARNING
  e.dom = RpcErrorDomain{"d", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 3};
  e.str1 = "a";
  e.str2 = "bb";
  e.str3 = "ccc";
  e.int1 = 5;
  e.int2 = -6;
  e.net = RpcErrorNetwork{"n", {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
                                0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff}};
  return e;
}

const Bytes kEveryFieldErrorBody = {
    0x00, 0x00, 0x00, 0x09,  // code 9
    0x00, 0x00, 0x00, 0x14,  // domain 20
    0x00, 0x00, 0x00, 0x01,  // message present
    0x00, 0x00, 0x00, 0x01,  //   length 1
    'm', 0x00, 0x00, 0x00,   //   "m" + padding
    0x00, 0x00, 0x00, 0x01,  // level 1
    0x00, 0x00, 0x00, 0x01,  // dom present
    0x00, 0x00, 0x00, 0x01,  //   name length 1
    'd', 0x00, 0x00, 0x00,   //   "d" + padding
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,  // uuid, 16 bytes
    0x00, 0x00, 0x00, 0x03,  //   id 3
    0x00, 0x00, 0x00, 0x01,  // str1 present
    0x00, 0x00, 0x00, 0x01,  //   length 1
    'a', 0x00, 0x00, 0x00,   //   "a" + padding
    0x00, 0x00, 0x00, 0x01,  // str2 present
    0x00, 0x00, 0x00, 0x02,  //   length 2
    'b', 'b', 0x00, 0x00,    //   "bb" + padding
    0x00, 0x00, 0x00, 0x01,  // str3 present
    0x00, 0x00, 0x00, 0x03,  //   length 3
    'c', 'c', 'c', 0x00,     //   "ccc" + padding
    0x00, 0x00, 0x00, 0x05,  // int1 5
    0xff, 0xff, 0xff, 0xfa,  // int2 -6
    0x00, 0x00, 0x00, 0x01,  // net present
    0x00, 0x00, 0x00, 0x01,  //   name length 1
    'n', 0x00, 0x00, 0x00,   //   "n" + padding
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,  // uuid, 16 bytes
    0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};

}  // namespace

// ---- Headers ------------------------------------------------------------------

XT_TEST(auth_list_call_encodes_as_libvirt) {
  const Header h = RemoteHeader(kProcAuthList, kTypeCall, 0, kStatusOk);
  XT_CHECK_BYTES(EncodeFrame(h, nullptr, 0), kAuthListCall);
}

XT_TEST(auth_list_call_decodes) {
  Header h;
  const HeaderDecodeResult r = DecodeHeader(kAuthListCall.data(), kAuthListCall.size(), &h);
  XT_REQUIRE(r.ok());
  XT_CHECK_EQ(r.payload_offset, size_t{28});
  XT_CHECK_EQ(h.prog, kRemoteProgram);
  XT_CHECK_EQ(h.vers, 1u);
  XT_CHECK_EQ(h.proc, kProcAuthList);
  XT_CHECK_EQ(h.type, uint32_t{kTypeCall});
  XT_CHECK_EQ(h.serial, 0u);
  XT_CHECK_EQ(h.status, uint32_t{kStatusOk});
  XT_CHECK_EQ(h.nfds, 0u);
}

XT_TEST(auth_list_reply_decodes_header_and_body) {
  const Bytes frame = {
      0x00, 0x00, 0x00, 0x24,  // length 36
      0x20, 0x00, 0x80, 0x86,  // prog REMOTE
      0x00, 0x00, 0x00, 0x01,  // vers 1
      0x00, 0x00, 0x00, 0x42,  // proc 66 AUTH_LIST
      0x00, 0x00, 0x00, 0x01,  // type REPLY
      0x00, 0x00, 0x00, 0x00,  // serial 0
      0x00, 0x00, 0x00, 0x00,  // status OK
      0x00, 0x00, 0x00, 0x01,  // types<>: 1 entry
      0x00, 0x00, 0x00, 0x00,  //   AUTH NONE
  };
  Header h;
  const HeaderDecodeResult r = DecodeHeader(frame.data(), frame.size(), &h);
  XT_REQUIRE(r.ok());
  XT_CHECK(h == RemoteHeader(kProcAuthList, kTypeReply, 0, kStatusOk));
  XdrReader body(frame.data() + r.payload_offset, frame.size() - r.payload_offset);
  uint32_t count = 9, auth = 9;
  XT_CHECK(body.ReadU32(&count) && body.ReadU32(&auth));
  XT_CHECK_EQ(count, 1u);
  XT_CHECK_EQ(auth, 0u);
  XT_CHECK_EQ(body.remaining(), size_t{0});
}

XT_TEST(call_with_fds_header_carries_nfds_word) {
  Header h = RemoteHeader(kProcConnectGetHostname, kTypeCallWithFds, 9, kStatusOk);
  h.nfds = 2;
  const Bytes expected = {
      0x00, 0x00, 0x00, 0x20,  // length 32
      0x20, 0x00, 0x80, 0x86,  // prog REMOTE
      0x00, 0x00, 0x00, 0x01,  // vers 1
      0x00, 0x00, 0x00, 0x3b,  // proc 59
      0x00, 0x00, 0x00, 0x04,  // type CALL_WITH_FDS
      0x00, 0x00, 0x00, 0x09,  // serial 9
      0x00, 0x00, 0x00, 0x00,  // status OK
      0x00, 0x00, 0x00, 0x02,  // nfds 2
  };
  const Bytes frame = EncodeFrame(h, nullptr, 0);
  XT_CHECK_BYTES(frame, expected);
  Header back;
  const HeaderDecodeResult r = DecodeHeader(frame.data(), frame.size(), &back);
  XT_REQUIRE(r.ok());
  XT_CHECK_EQ(r.payload_offset, size_t{32});
  XT_CHECK(back == h);
}

XT_TEST(nfds_above_32_is_rejected_and_32_accepted) {
  Header h = RemoteHeader(kProcConnectGetHostname, kTypeReplyWithFds, 1, kStatusOk);
  h.nfds = 33;
  Bytes frame = EncodeFrame(h, nullptr, 0);
  Header out;
  out.serial = 1234;
  XT_CHECK_EQ(DecodeHeader(frame.data(), frame.size(), &out).error, HeaderError::kTooManyFds);
  XT_CHECK_EQ(out.serial, 1234u);  // untouched on failure
  h.nfds = 32;
  frame = EncodeFrame(h, nullptr, 0);
  XT_CHECK(DecodeHeader(frame.data(), frame.size(), &out).ok());
  XT_CHECK_EQ(out.nfds, 32u);
}

XT_TEST(header_shorter_than_28_is_rejected) {
  Bytes short_frame(kAuthListCall.begin(), kAuthListCall.end() - 1);
  short_frame.at(3) = 27;  // a consistent length word does not help
  for (size_t len = 0; len < 28; ++len) {
    Header h;
    XT_CHECK_EQ(DecodeHeader(short_frame.data(), len, &h).error, HeaderError::kTooShort);
  }
}

XT_TEST(with_fds_header_without_nfds_word_is_rejected) {
  Bytes frame = kAuthListCall;
  frame[19] = kTypeCallWithFds;  // 28 bytes, but type says an nfds word follows
  Header h;
  XT_CHECK_EQ(DecodeHeader(frame.data(), frame.size(), &h).error, HeaderError::kTooShort);
}

XT_TEST(length_word_disagreeing_with_frame_is_rejected) {
  Bytes frame = kAuthListCall;
  frame.push_back(0);  // 29 bytes, length word still says 28
  Header h;
  XT_CHECK_EQ(DecodeHeader(frame.data(), frame.size(), &h).error, HeaderError::kLengthMismatch);
}

XT_TEST(unknown_type_and_status_survive_decoding) {
  const Header h = RemoteHeader(-7, 9, 0xffffffff, 77);
  const Bytes frame = EncodeFrame(h, nullptr, 0);
  Header back;
  XT_REQUIRE(DecodeHeader(frame.data(), frame.size(), &back).ok());
  XT_CHECK(back == h);
  XT_CHECK_EQ(back.proc, -7);
}

XT_TEST(nfds_is_not_written_for_plain_types) {
  Header h = RemoteHeader(kProcAuthList, kTypeCall, 0, kStatusOk);
  h.nfds = 5;  // meaningless for CALL: not on the wire
  XT_CHECK_BYTES(EncodeFrame(h, nullptr, 0), kAuthListCall);
}

// ---- Building frames ----------------------------------------------------------

XT_TEST(supports_feature_call_built_in_place) {
  Bytes buf;
  const size_t start =
      BeginFrame(&buf, RemoteHeader(kProcConnectSupportsFeature, kTypeCall, 1, kStatusOk));
  XdrWriter body(&buf);
  body.WriteI32(10);  // feature 10: program keepalive
  XT_REQUIRE(FinishFrame(&buf, start));
  XT_CHECK_BYTES(buf, (Bytes{
                          0x00, 0x00, 0x00, 0x20,  // length 32
                          0x20, 0x00, 0x80, 0x86,  // prog REMOTE
                          0x00, 0x00, 0x00, 0x01,  // vers 1
                          0x00, 0x00, 0x00, 0x3c,  // proc 60 SUPPORTS_FEATURE
                          0x00, 0x00, 0x00, 0x00,  // type CALL
                          0x00, 0x00, 0x00, 0x01,  // serial 1
                          0x00, 0x00, 0x00, 0x00,  // status OK
                          0x00, 0x00, 0x00, 0x0a,  // feature 10
                      }));
}

XT_TEST(get_hostname_reply_from_encode_frame) {
  const uint8_t body[] = {0x00, 0x00, 0x00, 0x02, 'v', 'm', 0x00, 0x00};  // "vm"
  const Bytes frame = EncodeFrame(
      RemoteHeader(kProcConnectGetHostname, kTypeReply, 6, kStatusOk), body, sizeof body);
  XT_CHECK_BYTES(frame, (Bytes{
                            0x00, 0x00, 0x00, 0x24,  // length 36
                            0x20, 0x00, 0x80, 0x86,  // prog REMOTE
                            0x00, 0x00, 0x00, 0x01,  // vers 1
                            0x00, 0x00, 0x00, 0x3b,  // proc 59 GET_HOSTNAME
                            0x00, 0x00, 0x00, 0x01,  // type REPLY
                            0x00, 0x00, 0x00, 0x06,  // serial 6
                            0x00, 0x00, 0x00, 0x00,  // status OK
                            0x00, 0x00, 0x00, 0x02,  // hostname length 2
                            'v', 'm', 0x00, 0x00,    // "vm" + padding
                        }));
}

XT_TEST(frames_built_back_to_back_in_one_buffer) {
  Bytes buf;
  const size_t first = BeginFrame(&buf, RemoteHeader(kProcAuthList, kTypeCall, 0, kStatusOk));
  XT_REQUIRE(FinishFrame(&buf, first));
  const size_t second =
      BeginFrame(&buf, RemoteHeader(kProcConnectSupportsFeature, kTypeCall, 1, kStatusOk));
  XdrWriter(&buf).WriteI32(10);
  XT_REQUIRE(FinishFrame(&buf, second));
  XT_CHECK_EQ(second, size_t{28});
  XT_CHECK_BYTES(Bytes(buf.begin(), buf.begin() + 28), kAuthListCall);
  XT_CHECK_BYTES(Bytes(buf.begin() + 28, buf.begin() + 32), (Bytes{0x00, 0x00, 0x00, 0x20}));
  XT_CHECK_EQ(buf.size(), size_t{60});
}

XT_TEST(finish_frame_refuses_frame_above_max_and_removes_it) {
  // With a max of 100, the largest frame is 104 bytes: 4 + 24 + 76.
  Bytes buf = {0xab};
  size_t start = BeginFrame(&buf, RemoteHeader(1, kTypeReply, 0, kStatusOk));
  buf.resize(buf.size() + 76, 0);
  XT_CHECK(FinishFrame(&buf, start, 100));
  XT_CHECK_EQ(buf.size(), size_t{105});
  XT_CHECK_BYTES(Bytes(buf.begin() + 1, buf.begin() + 5), (Bytes{0x00, 0x00, 0x00, 0x68}));

  start = BeginFrame(&buf, RemoteHeader(1, kTypeReply, 0, kStatusOk));
  buf.resize(buf.size() + 77, 0);
  XT_CHECK(!FinishFrame(&buf, start, 100));
  XT_CHECK_EQ(buf.size(), size_t{105});  // the earlier frame stays, the bad one is gone
}

XT_TEST(encode_frame_honours_the_default_maximum) {
  const Bytes body(kDefaultMaxMessageBytes - kHeaderBytes + 1, 0x5a);
  const Header h = RemoteHeader(1, kTypeReply, 0, kStatusOk);
  XT_CHECK(EncodeFrame(h, body.data(), body.size()).empty());
  const Bytes largest = EncodeFrame(h, body.data(), body.size() - 1);
  XT_CHECK_EQ(largest.size(), size_t{33554436});
  XT_CHECK_BYTES(Bytes(largest.begin(), largest.begin() + 4), (Bytes{0x02, 0x00, 0x00, 0x04}));
}

// ---- Keepalive ----------------------------------------------------------------

XT_TEST(ping_frame_bytes) {
  XT_CHECK_BYTES(MakePingFrame(), (Bytes{
                                      0x00, 0x00, 0x00, 0x1c,  // length 28
                                      0x6b, 0x65, 0x65, 0x70,  // prog KEEPALIVE "keep"
                                      0x00, 0x00, 0x00, 0x01,  // vers 1
                                      0x00, 0x00, 0x00, 0x01,  // proc 1 PING
                                      0x00, 0x00, 0x00, 0x02,  // type MESSAGE
                                      0x00, 0x00, 0x00, 0x00,  // serial 0
                                      0x00, 0x00, 0x00, 0x00,  // status OK
                                  }));
}

XT_TEST(pong_frame_bytes) {
  XT_CHECK_BYTES(MakePongFrame(), (Bytes{
                                      0x00, 0x00, 0x00, 0x1c,  // length 28
                                      0x6b, 0x65, 0x65, 0x70,  // prog KEEPALIVE "keep"
                                      0x00, 0x00, 0x00, 0x01,  // vers 1
                                      0x00, 0x00, 0x00, 0x02,  // proc 2 PONG
                                      0x00, 0x00, 0x00, 0x02,  // type MESSAGE
                                      0x00, 0x00, 0x00, 0x00,  // serial 0
                                      0x00, 0x00, 0x00, 0x00,  // status OK
                                  }));
}

XT_TEST(is_keepalive_recognises_ping_and_pong_only) {
  Header ping, pong;
  const Bytes ping_frame = MakePingFrame(), pong_frame = MakePongFrame();
  XT_REQUIRE(DecodeHeader(ping_frame.data(), ping_frame.size(), &ping).ok());
  XT_REQUIRE(DecodeHeader(pong_frame.data(), pong_frame.size(), &pong).ok());
  XT_CHECK(IsKeepalive(ping) && IsKeepalivePing(ping) && !IsKeepalivePong(ping));
  XT_CHECK(IsKeepalive(pong) && IsKeepalivePong(pong) && !IsKeepalivePing(pong));

  XT_CHECK(!IsKeepalive(RemoteHeader(kKeepaliveProcPing, kTypeMessage, 0, kStatusOk)));
  Header as_call = ping;
  as_call.type = kTypeCall;  // keepalive program, but not a MESSAGE
  XT_CHECK(!IsKeepalive(as_call));
  Header wrong_version = ping;
  wrong_version.vers = 2;
  XT_CHECK(!IsKeepalive(wrong_version));
}

// ---- Error replies --------------------------------------------------------------

XT_TEST(unknown_domain_error_reply_matches_libvirtd) {
  const Header call = RemoteHeader(kProcDomainLookupByName, kTypeCall, 5, kStatusOk);
  XT_CHECK_BYTES(EncodeErrorReply(call, NoSuchDomainError()), kNoSuchDomainReply);
}

XT_TEST(unknown_domain_error_reply_decodes) {
  Header h;
  const HeaderDecodeResult r =
      DecodeHeader(kNoSuchDomainReply.data(), kNoSuchDomainReply.size(), &h);
  XT_REQUIRE(r.ok());
  XT_CHECK(h == RemoteHeader(kProcDomainLookupByName, kTypeReply, 5, kStatusError));
  XT_CHECK_EQ(kNoSuchDomainReply.size() - r.payload_offset, size_t{84});
  XdrReader body(kNoSuchDomainReply.data() + r.payload_offset,
                 kNoSuchDomainReply.size() - r.payload_offset);
  RpcError e;
  XT_REQUIRE(DecodeRpcError(body, &e));
  XT_CHECK(e == NoSuchDomainError());
  XT_CHECK_EQ(body.remaining(), size_t{0});
}

XT_TEST(section_11_unknown_procedure_body_bytes) {
  // §11's example: the minimal form, str1..str3 NULL and int1 = int2 = 0.
  RpcError e;
  e.code = kErrRpc;
  e.domain = kFromRpc;
  e.message = "unknown procedure: 122";
  e.level = kErrLevelError;
  XT_CHECK_BYTES(EncodeErrorBody(e),
                 (Bytes{
                     0x00, 0x00, 0x00, 0x27,  // code 39 RPC
                     0x00, 0x00, 0x00, 0x07,  // domain 7 RPC
                     0x00, 0x00, 0x00, 0x01,  // message present
                     0x00, 0x00, 0x00, 0x16,  //   length 22
                     'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'p', 'r', 'o', 'c', 'e', 'd', 'u',
                     'r', 'e', ':', ' ', '1', '2', '2', 0x00, 0x00,  // + 2 bytes padding
                     0x00, 0x00, 0x00, 0x02,  // level 2 ERROR
                     0x00, 0x00, 0x00, 0x00,  // dom NULL
                     0x00, 0x00, 0x00, 0x00,  // str1 NULL
                     0x00, 0x00, 0x00, 0x00,  // str2 NULL
                     0x00, 0x00, 0x00, 0x00,  // str3 NULL
                     0x00, 0x00, 0x00, 0x00,  // int1 0
                     0x00, 0x00, 0x00, 0x00,  // int2 0
                     0x00, 0x00, 0x00, 0x00,  // net NULL
                 }));
}

XT_TEST(unknown_procedure_error_as_libvirtd_sends_it) {
  // §9: real libvirtd fills str1 with the format "%s", str2 with the text,
  // and int1 = int2 = -1.
  XT_CHECK_BYTES(EncodeErrorBody(UnknownProcedureError(122)),
                 (Bytes{
                     0x00, 0x00, 0x00, 0x27,  // code 39 RPC
                     0x00, 0x00, 0x00, 0x07,  // domain 7 RPC
                     0x00, 0x00, 0x00, 0x01,  // message present
                     0x00, 0x00, 0x00, 0x16,  //   length 22
                     'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'p', 'r', 'o', 'c', 'e', 'd', 'u',
                     'r', 'e', ':', ' ', '1', '2', '2', 0x00, 0x00,  // + 2 bytes padding
                     0x00, 0x00, 0x00, 0x02,  // level 2 ERROR
                     0x00, 0x00, 0x00, 0x00,  // dom NULL
                     0x00, 0x00, 0x00, 0x01,  // str1 present
                     0x00, 0x00, 0x00, 0x02,  //   length 2
                     '%', 's', 0x00, 0x00,    //   "%s" + padding
                     0x00, 0x00, 0x00, 0x01,  // str2 present
                     0x00, 0x00, 0x00, 0x16,  //   length 22
                     'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'p', 'r', 'o', 'c', 'e', 'd', 'u',
                     'r', 'e', ':', ' ', '1', '2', '2', 0x00, 0x00,  // + 2 bytes padding
                     0x00, 0x00, 0x00, 0x00,  // str3 NULL
                     0xff, 0xff, 0xff, 0xff,  // int1 -1
                     0xff, 0xff, 0xff, 0xff,  // int2 -1
                     0x00, 0x00, 0x00, 0x00,  // net NULL
                 }));
}

XT_TEST(unknown_procedure_message_uses_signed_proc) {
  XT_CHECK(UnknownProcedureError(9999).message == std::string("unknown procedure: 9999"));
  XT_CHECK(UnknownProcedureError(-3).message == std::string("unknown procedure: -3"));
}

XT_TEST(unknown_program_error_names_program_and_version_in_decimal) {
  const RpcError e = UnknownProgramError(0x12345678, 1);
  XT_CHECK(e.message == std::string("Cannot find program 305419896 version 1"));
  XT_CHECK_EQ(e.code, kErrRpc);
  XT_CHECK_EQ(e.domain, kFromRpc);
  XT_CHECK_EQ(e.level, kErrLevelError);
  XT_CHECK(e.str1 == std::string("%s"));
  XT_CHECK(e.str2 == e.message);
  XT_CHECK(!e.str3 && !e.dom && !e.net);
  XT_CHECK_EQ(e.int1, -1);
  XT_CHECK_EQ(e.int2, -1);
  XT_CHECK(UnknownProgramError(kRemoteProgram, 2).message ==
           std::string("Cannot find program 536903814 version 2"));
  // libvirt formats with %d: a program number above INT32_MAX prints negative.
  XT_CHECK(UnknownProgramError(0x80000001, 1).message ==
           std::string("Cannot find program -2147483647 version 1"));
}

XT_TEST(unexpected_status_error_prints_status_unsigned) {
  XT_CHECK(UnexpectedStatusError(1).message == std::string("Unexpected message status 1"));
  XT_CHECK(UnexpectedStatusError(0xffffffff).message ==
           std::string("Unexpected message status 4294967295"));
  XT_CHECK_EQ(UnexpectedStatusError(1).code, kErrRpc);
}

XT_TEST(payload_decode_and_internal_errors_follow_libvirt) {
  const RpcError decode = PayloadDecodeError();
  XT_CHECK(decode.message == std::string("Unable to decode message payload"));
  XT_CHECK_EQ(decode.code, kErrRpc);
  XT_CHECK_EQ(decode.domain, kFromRpc);

  const RpcError internal = InternalError("hypervisor connection not open");
  XT_CHECK_EQ(internal.code, kErrInternalError);
  XT_CHECK_EQ(internal.domain, kFromRpc);
  XT_CHECK_EQ(internal.level, kErrLevelError);
  XT_CHECK(internal.message == std::string("internal error: hypervisor connection not open"));
  XT_CHECK(internal.str1 == std::string("internal error: %s"));
  XT_CHECK(internal.str2 == std::string("hypervisor connection not open"));
  XT_CHECK_EQ(internal.int1, -1);
  XT_CHECK_EQ(internal.int2, -1);
}

XT_TEST(error_reply_to_call_with_fds_is_plain_reply) {
  Header call = RemoteHeader(kProcConnectGetHostname, kTypeCallWithFds, 3, kStatusOk);
  call.nfds = 2;
  RpcError e;
  e.code = kErrRpc;
  e.domain = kFromRpc;
  e.level = kErrLevelError;  // message NULL too: the smallest body, 11 words
  XT_CHECK_BYTES(EncodeErrorReply(call, e),
                 (Bytes{
                     0x00, 0x00, 0x00, 0x48,  // length 72 = 4 + 24 + 44: no nfds word
                     0x20, 0x00, 0x80, 0x86,  // prog REMOTE
                     0x00, 0x00, 0x00, 0x01,  // vers 1
                     0x00, 0x00, 0x00, 0x3b,  // proc 59
                     0x00, 0x00, 0x00, 0x01,  // type REPLY, not REPLY_WITH_FDS
                     0x00, 0x00, 0x00, 0x03,  // serial 3
                     0x00, 0x00, 0x00, 0x01,  // status ERROR
                     0x00, 0x00, 0x00, 0x27,  // code 39
                     0x00, 0x00, 0x00, 0x07,  // domain 7
                     0x00, 0x00, 0x00, 0x00,  // message NULL
                     0x00, 0x00, 0x00, 0x02,  // level 2
                     0x00, 0x00, 0x00, 0x00,  // dom NULL
                     0x00, 0x00, 0x00, 0x00,  // str1 NULL
                     0x00, 0x00, 0x00, 0x00,  // str2 NULL
                     0x00, 0x00, 0x00, 0x00,  // str3 NULL
                     0x00, 0x00, 0x00, 0x00,  // int1 0
                     0x00, 0x00, 0x00, 0x00,  // int2 0
                     0x00, 0x00, 0x00, 0x00,  // net NULL
                 }));
}

XT_TEST(error_reply_echoes_unknown_program_header) {
  // §9: the reply carries the request's prog, vers and proc, whatever they are.
  Header call;
  call.prog = 0x12345678;
  call.vers = 1;
  call.proc = 4;
  call.type = kTypeCall;
  call.serial = 0xdeadbeef;
  const Bytes frame = EncodeErrorReply(call, UnknownProgramError(call.prog, call.vers));
  Header h;
  const HeaderDecodeResult r = DecodeHeader(frame.data(), frame.size(), &h);
  XT_REQUIRE(r.ok());
  XT_CHECK_BYTES(Bytes(frame.begin() + 4, frame.begin() + 28),
                 (Bytes{
                     0x12, 0x34, 0x56, 0x78,  // prog as sent
                     0x00, 0x00, 0x00, 0x01,  // vers as sent
                     0x00, 0x00, 0x00, 0x04,  // proc as sent
                     0x00, 0x00, 0x00, 0x01,  // type REPLY
                     0xde, 0xad, 0xbe, 0xef,  // serial as sent
                     0x00, 0x00, 0x00, 0x01,  // status ERROR
                 }));
  XdrReader body(frame.data() + r.payload_offset, frame.size() - r.payload_offset);
  RpcError e;
  XT_REQUIRE(DecodeRpcError(body, &e));
  XT_CHECK(e == UnknownProgramError(0x12345678, 1));
}

// ---- The error struct -----------------------------------------------------------

XT_TEST(error_with_every_field_encodes_exactly) {
  XT_CHECK_BYTES(EncodeErrorBody(EveryFieldError()), kEveryFieldErrorBody);
}

XT_TEST(error_with_every_field_round_trips) {
  const Bytes body = EncodeErrorBody(EveryFieldError());
  XdrReader r(body.data(), body.size());
  RpcError back;
  XT_REQUIRE(DecodeRpcError(r, &back));
  XT_CHECK(back == EveryFieldError());
  XT_CHECK(back.dom && back.dom->uuid[15] == 15 && back.dom->id == 3);
  XT_CHECK(back.net && back.net->name == "n" && back.net->uuid[0] == 0xf0);
  XT_CHECK_EQ(r.remaining(), size_t{0});
}

XT_TEST(truncated_error_body_fails_and_leaves_output_alone) {
  for (size_t len = 0; len < kEveryFieldErrorBody.size(); ++len) {
    XdrReader r(kEveryFieldErrorBody.data(), len);
    RpcError out = NoSuchDomainError();
    XT_CHECK(!DecodeRpcError(r, &out));
    XT_CHECK_EQ(r.error(), XdrError::kUnderrun);
    XT_CHECK(out == NoSuchDomainError());
  }
}

XT_TEST(error_string_above_string_max_is_refused) {
  const Bytes over = {
      0x00, 0x00, 0x00, 0x27,  // code
      0x00, 0x00, 0x00, 0x07,  // domain
      0x00, 0x00, 0x00, 0x01,  // message present
      0x00, 0x40, 0x00, 0x01,  //   length 4194305 = kStringMax + 1
  };
  XdrReader r(over.data(), over.size());
  RpcError out;
  XT_CHECK(!DecodeRpcError(r, &out));
  XT_CHECK_EQ(r.error(), XdrError::kTooLong);
  XT_CHECK_EQ(r.error_offset(), size_t{12});

  Bytes at_max = over;
  at_max[15] = 0x00;  // length 4194304: allowed, so it fails only for want of bytes
  XdrReader r2(at_max.data(), at_max.size());
  XT_CHECK(!DecodeRpcError(r2, &out));
  XT_CHECK_EQ(r2.error(), XdrError::kUnderrun);
}

XT_TEST(error_with_bad_optional_flag_is_refused) {
  Bytes body = Tail(kNoSuchDomainReply, 28);
  body[11] = 2;  // message flag 2
  XdrReader r(body.data(), body.size());
  RpcError out;
  XT_CHECK(!DecodeRpcError(r, &out));
  XT_CHECK_EQ(r.error(), XdrError::kBadBool);
  XT_CHECK_EQ(r.error_offset(), size_t{8});
}
