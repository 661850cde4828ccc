// XDR primitives: exact bytes written, round trips, and every way the reader
// refuses input (underrun, over-long, length past the end, padding, bool).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "wire/xdr.h"

using xdrd::XdrError;
using xdrd::XdrReader;
using xdrd::XdrWriter;

namespace {

using Bytes = std::vector<uint8_t>;

XdrReader ReaderOver(const Bytes& b) { return XdrReader(b.data(), b.size()); }

}  // namespace

// ---- Writer: exact bytes ------------------------------------------------------

XT_TEST(writer_u32_is_big_endian) {
  Bytes out;
  XdrWriter(&out).WriteU32(0x01020304);
  XT_CHECK_BYTES(out, (Bytes{0x01, 0x02, 0x03, 0x04}));
}

XT_TEST(writer_i32_minus_one_is_all_ones) {
  Bytes out;
  XdrWriter w(&out);
  w.WriteI32(-1);
  w.WriteI32(-2);
  w.WriteI32(std::numeric_limits<int32_t>::min());
  XT_CHECK_BYTES(out, (Bytes{
                          0xff, 0xff, 0xff, 0xff,  // -1
                          0xff, 0xff, 0xff, 0xfe,  // -2
                          0x80, 0x00, 0x00, 0x00,  // INT32_MIN
                      }));
}

XT_TEST(writer_hyper_is_two_big_endian_words) {
  Bytes out;
  XdrWriter w(&out);
  w.WriteU64(7001002);  // GET_VERSION reply body of libvirt-wire.md §11
  w.WriteU64(0x0102030405060708);
  w.WriteI64(-1);
  w.WriteI64(std::numeric_limits<int64_t>::min());
  XT_CHECK_BYTES(out, (Bytes{
                          0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, 0xd3, 0xaa,  // 7001002
                          0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // high word first
                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // -1
                          0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // INT64_MIN
                      }));
}

XT_TEST(writer_bool_and_optional_flag_are_words) {
  Bytes out;
  XdrWriter w(&out);
  w.WriteBool(true);
  w.WriteBool(false);
  w.WriteOptionalFlag(true);
  w.WriteOptionalFlag(false);
  XT_CHECK_BYTES(out, (Bytes{
                          0x00, 0x00, 0x00, 0x01,  // true
                          0x00, 0x00, 0x00, 0x00,  // false
                          0x00, 0x00, 0x00, 0x01,  // present
                          0x00, 0x00, 0x00, 0x00,  // NULL
                      }));
}

XT_TEST(writer_string_vm_is_length_then_padded_bytes) {
  Bytes out;
  XdrWriter(&out).WriteString("vm");
  XT_CHECK_BYTES(out, (Bytes{
                          0x00, 0x00, 0x00, 0x02,  // length 2
                          'v', 'm', 0x00, 0x00,    // "vm" + 2 bytes of padding
                      }));
}

XT_TEST(writer_string_pads_every_length_to_four) {
  Bytes out;
  XdrWriter w(&out);
  w.WriteString("");
  w.WriteString("a");
  w.WriteString("abc");
  w.WriteString("abcd");
  w.WriteString("abcde");
  XT_CHECK_BYTES(out, (Bytes{
                          0x00, 0x00, 0x00, 0x00,                          // "": length only
                          0x00, 0x00, 0x00, 0x01, 'a', 0, 0, 0,            // 3 bytes pad
                          0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0,        // 1 byte pad
                          0x00, 0x00, 0x00, 0x04, 'a', 'b', 'c', 'd',      // no pad
                          0x00, 0x00, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e', 0, 0, 0,
                      }));
}

XT_TEST(writer_string_keeps_embedded_nul_and_high_bytes) {
  Bytes out;
  XdrWriter(&out).WriteString(std::string("a\0\xff", 3));
  XT_CHECK_BYTES(out, (Bytes{0x00, 0x00, 0x00, 0x03, 'a', 0x00, 0xff, 0x00}));
}

XT_TEST(writer_fixed_opaque_16_has_no_length_and_no_padding) {
  const Bytes uuid = {0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04,
                      0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e, 0x19, 0x3f};
  Bytes out;
  XdrWriter(&out).WriteFixedOpaque(uuid.data(), uuid.size());
  XT_CHECK_BYTES(out, uuid);
}

XT_TEST(writer_fixed_opaque_odd_size_is_padded) {
  const uint8_t three[3] = {0xaa, 0xbb, 0xcc};
  Bytes out;
  XdrWriter(&out).WriteFixedOpaque(three, 3);
  XT_CHECK_BYTES(out, (Bytes{0xaa, 0xbb, 0xcc, 0x00}));
}

XT_TEST(writer_variable_opaque_is_length_bytes_padding) {
  const uint8_t five[5] = {1, 2, 3, 4, 5};
  Bytes out;
  XdrWriter(&out).WriteOpaque(five, 5);
  XT_CHECK_BYTES(out, (Bytes{
                          0x00, 0x00, 0x00, 0x05,  // length 5
                          1, 2, 3, 4, 5,           // data
                          0x00, 0x00, 0x00,        // padding
                      }));
}

XT_TEST(writer_appends_after_existing_bytes_and_patches) {
  Bytes out = {0xde, 0xad};
  XdrWriter w(&out);
  w.WriteU32(0);
  w.WriteU32(7);
  w.PatchU32(2, 0x11223344);
  XT_CHECK_EQ(w.size(), size_t{10});
  XT_CHECK(w.ok());
  XT_CHECK_BYTES(out, (Bytes{0xde, 0xad, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x07}));
}

// ---- Round trip -----------------------------------------------------------------

XT_TEST(reader_round_trips_every_primitive) {
  const uint8_t uuid[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const uint8_t blob[3] = {9, 8, 7};
  Bytes buf;
  XdrWriter w(&buf);
  w.WriteU32(0xfedcba98);
  w.WriteI32(-123456);
  w.WriteU64(0xfedcba9876543210);
  w.WriteI64(-1234567890123);
  w.WriteBool(true);
  w.WriteOptionalFlag(false);
  w.WriteFixedOpaque(uuid, 16);
  w.WriteOpaque(blob, 3);
  w.WriteString("hello");

  XdrReader r = ReaderOver(buf);
  uint32_t u32 = 0;
  int32_t i32 = 0;
  uint64_t u64 = 0;
  int64_t i64 = 0;
  bool b = false;
  bool present = true;
  uint8_t uuid_back[16] = {};
  Bytes blob_back;
  std::string s;
  XT_REQUIRE(r.ReadU32(&u32));
  XT_REQUIRE(r.ReadI32(&i32));
  XT_REQUIRE(r.ReadU64(&u64));
  XT_REQUIRE(r.ReadI64(&i64));
  XT_REQUIRE(r.ReadBool(&b));
  XT_REQUIRE(r.ReadOptionalFlag(&present));
  XT_REQUIRE(r.ReadFixedOpaque(uuid_back, 16));
  XT_REQUIRE(r.ReadOpaque(&blob_back, 3));
  XT_REQUIRE(r.ReadString(&s, 5));
  XT_CHECK_EQ(u32, 0xfedcba98u);
  XT_CHECK_EQ(i32, -123456);
  XT_CHECK_EQ(u64, uint64_t{0xfedcba9876543210});
  XT_CHECK_EQ(i64, int64_t{-1234567890123});
  XT_CHECK(b);
  XT_CHECK(!present);
  XT_CHECK_BYTES(Bytes(uuid_back, uuid_back + 16), Bytes(uuid, uuid + 16));
  XT_CHECK_BYTES(blob_back, (Bytes{9, 8, 7}));
  XT_CHECK_EQ(s, std::string("hello"));
  XT_CHECK_EQ(r.remaining(), size_t{0});
  XT_CHECK_EQ(r.position(), buf.size());
  XT_CHECK(r.ok());
}

XT_TEST(reader_string_view_points_into_input) {
  const Bytes buf = {0x00, 0x00, 0x00, 0x02, 'v', 'm', 0x00, 0x00};
  XdrReader r = ReaderOver(buf);
  std::string_view view;
  XT_REQUIRE(r.ReadStringView(&view, 16));
  XT_CHECK_EQ(view, std::string_view("vm"));
  XT_CHECK(reinterpret_cast<const uint8_t*>(view.data()) == buf.data() + 4);
  XT_CHECK_EQ(r.position(), size_t{8});
}

// ---- Reader errors ------------------------------------------------------------

XT_TEST(reader_u32_underrun_fails_and_keeps_output) {
  const Bytes buf = {0x00, 0x00, 0x01};
  XdrReader r = ReaderOver(buf);
  uint32_t v = 77;
  XT_CHECK(!r.ReadU32(&v));
  XT_CHECK_EQ(r.error(), XdrError::kUnderrun);
  XT_CHECK_EQ(r.error_offset(), size_t{0});
  XT_CHECK_EQ(v, 77u);
  XT_CHECK_EQ(r.position(), size_t{0});
}

XT_TEST(reader_hyper_underrun_fails) {
  const Bytes buf = {0, 0, 0, 0, 0, 0, 1};  // 7 of 8 bytes
  XdrReader r = ReaderOver(buf);
  int64_t v = 5;
  XT_CHECK(!r.ReadI64(&v));
  XT_CHECK_EQ(r.error(), XdrError::kUnderrun);
  XT_CHECK_EQ(v, int64_t{5});
}

XT_TEST(reader_empty_input_underruns) {
  XdrReader r(nullptr, 0);
  bool b = false;
  XT_CHECK(!r.ReadBool(&b));
  XT_CHECK_EQ(r.error(), XdrError::kUnderrun);
}

XT_TEST(reader_string_over_max_fails_before_reading_data) {
  const Bytes buf = {0x00, 0x00, 0x00, 0x02, 'v', 'm', 0x00, 0x00};
  XdrReader r = ReaderOver(buf);
  std::string s = "untouched";
  XT_CHECK(!r.ReadString(&s, 1));
  XT_CHECK_EQ(r.error(), XdrError::kTooLong);
  XT_CHECK_EQ(r.error_offset(), size_t{0});
  XT_CHECK_EQ(s, std::string("untouched"));
  XT_CHECK_EQ(r.position(), size_t{0});
}

XT_TEST(reader_string_exactly_at_max_succeeds) {
  const Bytes buf = {0x00, 0x00, 0x00, 0x02, 'v', 'm', 0x00, 0x00};
  XdrReader r = ReaderOver(buf);
  std::string s;
  XT_CHECK(r.ReadString(&s, 2));
  XT_CHECK_EQ(s, std::string("vm"));
}

XT_TEST(reader_huge_declared_length_fails_without_allocating) {
  // A 4 GiB string promised by 8 bytes of input, with no maximum in the way:
  // the remaining-bytes check must fire before the output grows.
  const Bytes buf = {0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'};
  XdrReader r = ReaderOver(buf);
  std::string s;
  const size_t string_capacity = s.capacity();
  XT_CHECK(!r.ReadString(&s, std::numeric_limits<uint32_t>::max()));
  XT_CHECK_EQ(r.error(), XdrError::kUnderrun);
  XT_CHECK_EQ(s.capacity(), string_capacity);
  XT_CHECK(s.empty());

  XdrReader r2 = ReaderOver(buf);
  Bytes opaque;
  XT_CHECK(!r2.ReadOpaque(&opaque, std::numeric_limits<uint32_t>::max()));
  XT_CHECK_EQ(r2.error(), XdrError::kUnderrun);
  XT_CHECK_EQ(opaque.capacity(), size_t{0});
}

XT_TEST(reader_length_one_byte_beyond_end_fails) {
  // length 5 needs 5 bytes + 3 of padding = 8; only 7 follow.
  const Bytes buf = {0x00, 0x00, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e', 0x00, 0x00};
  XdrReader r = ReaderOver(buf);
  std::string s;
  XT_CHECK(!r.ReadString(&s, 100));
  XT_CHECK_EQ(r.error(), XdrError::kUnderrun);
  XT_CHECK_EQ(r.position(), size_t{0});
}

XT_TEST(reader_string_non_zero_padding_fails) {
  const Bytes buf = {0x00, 0x00, 0x00, 0x02, 'v', 'm', 0x00, 0x01};
  XdrReader r = ReaderOver(buf);
  std::string s;
  XT_CHECK(!r.ReadString(&s, 16));
  XT_CHECK_EQ(r.error(), XdrError::kBadPadding);
  XT_CHECK(s.empty());
}

XT_TEST(reader_fixed_opaque_non_zero_padding_fails) {
  const Bytes buf = {0xaa, 0xbb, 0xcc, 0x80};
  XdrReader r = ReaderOver(buf);
  uint8_t out[3] = {1, 2, 3};
  XT_CHECK(!r.ReadFixedOpaque(out, 3));
  XT_CHECK_EQ(r.error(), XdrError::kBadPadding);
  XT_CHECK_BYTES(Bytes(out, out + 3), (Bytes{1, 2, 3}));
}

XT_TEST(reader_bool_two_fails) {
  const Bytes buf = {0x00, 0x00, 0x00, 0x02};
  XdrReader r = ReaderOver(buf);
  bool b = true;
  XT_CHECK(!r.ReadBool(&b));
  XT_CHECK_EQ(r.error(), XdrError::kBadBool);
  XT_CHECK(b);
}

XT_TEST(reader_optional_flag_above_one_fails) {
  const Bytes buf = {0x80, 0x00, 0x00, 0x01};
  XdrReader r = ReaderOver(buf);
  bool present = false;
  XT_CHECK(!r.ReadOptionalFlag(&present));
  XT_CHECK_EQ(r.error(), XdrError::kBadBool);
}

XT_TEST(reader_error_is_sticky_and_keeps_first_offset) {
  const Bytes buf = {
      0x00, 0x00, 0x00, 0x07,  // u32 7
      0x00, 0x00, 0x00, 0x02,  // bool 2: fails at offset 4
      0x00, 0x00, 0x00, 0x01,  // a valid bool, never read
  };
  XdrReader r = ReaderOver(buf);
  uint32_t v = 0;
  bool b = false;
  XT_CHECK(r.ReadU32(&v));
  XT_CHECK(!r.ReadBool(&b));
  XT_CHECK(!r.ok());
  XT_CHECK(!r.ReadU32(&v));  // would succeed on a fresh reader at offset 4
  XT_CHECK_EQ(v, 7u);
  XT_CHECK_EQ(r.error(), XdrError::kBadBool);
  XT_CHECK_EQ(r.error_offset(), size_t{4});
  XT_CHECK_EQ(std::string(xdrd::XdrErrorText(r.error())), std::string("bool not 0 or 1"));
}
