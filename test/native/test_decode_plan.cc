// DecodePlan (wire/decode_plan.h): the flat output of each kind of node, the
// codec's error texts and offsets, the loader's checks, JS number printing,
// UTF-8 validation, and random bytes against every kind of plan (this binary
// runs under ASan+UBSan, TSan, memcheck, helgrind and DRD in test:ci, so an
// out-of-bounds read or a deep stack shows there). The full comparison with
// the TypeScript codec is test/xdr/plan.test.ts.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "wire/decode_plan.h"

using namespace xdrd;
using Bytes = std::vector<uint8_t>;

namespace {

// Op numbers as lib/xdr/plan.ts writes them (PlanOp's order).
constexpr double kInt = 0, kUint = 1, kChar = 2, kHyper = 6, kUhyper = 7, kFloat = 8, kDouble = 9, kBool = 10,
                 kVoid = 11, kEnum = 12, kString = 13, kOpaque = 14, kFixedOpaque = 15, kArray = 16,
                 kOptional = 18, kStruct = 19, kUnion = 20, kRecursive = 21;

DecodePlan Load(std::vector<double> nodes, double root, std::vector<std::string> names, double max_depth = 200) {
  std::vector<double> words = {kPlanMagic, max_depth, root};
  words.insert(words.end(), nodes.begin(), nodes.end());
  std::string error;
  std::optional<DecodePlan> plan = DecodePlan::Load(words.data(), words.size(), std::move(names), &error);
  if (!plan) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::abort();
  }
  return std::move(*plan);
}

std::string LoadError(std::vector<double> words, std::vector<std::string> names) {
  std::string error;
  std::optional<DecodePlan> plan = DecodePlan::Load(words.data(), words.size(), std::move(names), &error);
  return plan ? std::string("(loaded)") : error;
}

struct Result {
  bool ok;
  std::vector<double> out;
  std::string message;
  size_t offset;
};

Result Run(const DecodePlan& plan, const Bytes& body) {
  Result r;
  DecodeFailure f;
  r.ok = plan.Decode(body.data(), body.size(), &r.out, &f);
  r.message = r.ok ? "" : f.Message();
  r.offset = f.offset;
  return r;
}

// struct { int a; unsigned int b; hyper c; unsigned hyper d; float e; double f;
//          bool g; enum {-1, 5} h; string i<4>; opaque j<8>; opaque k[3]; void l; }
// Node words start at 3 (after the header): each comment gives the index.
DecodePlan Everything() {
  return Load({kInt,                      // 3
               kUint,                     // 4
               kHyper,                    // 5
               kUhyper,                   // 6
               kFloat,                    // 7
               kDouble,                   // 8
               kBool,                     // 9
               kEnum, 2, -1, 5,           // 10
               kString, 4,                // 14
               kOpaque, 8,                // 16
               kFixedOpaque, 3,           // 18
               kVoid,                     // 20
               kStruct, 12, 0, 3, 1, 4, 2, 5, 3, 6, 4, 7, 5, 8, 6, 9, 7, 10, 8, 14, 9, 16, 10, 18, 11, 20},  // 21
              21, {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "args"});
}

const Bytes kEverything = {
    0xff, 0xff, 0xff, 0xfe,                          // a = -2
    0xff, 0xff, 0xff, 0xff,                          // b = 4294967295
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x07,  // c: high -1, low 7
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,  // d: high 1, low 2
    0x3f, 0xc0, 0x00, 0x00,                          // e = 1.5f
    0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18,  // f = -pi
    0x00, 0x00, 0x00, 0x01,                          // g = true
    0x00, 0x00, 0x00, 0x05,                          // h = 5
    0x00, 0x00, 0x00, 0x02, 'h', 'i', 0x00, 0x00,    // i = "hi", two bytes of padding
    0x00, 0x00, 0x00, 0x00,                          // j = empty
    0x01, 0x02, 0x03, 0x00,                          // k, one byte of padding
};                                                   // l: nothing

}  // namespace

XT_TEST(every_scalar_kind_writes_its_flat_output) {
  Result r = Run(Everything(), kEverything);
  XT_REQUIRE(r.ok);
  const std::vector<double> want = {-2, 4294967295.0, -1, 7, 1, 2, 1.5, -M_PI, 1, 5,
                                    48, 2,   // i: offset, length
                                    56, 0,   // j: offset, length
                                    56};     // k: offset
  XT_CHECK(r.out == want);
}

XT_TEST(errors_carry_the_codecs_path_reason_and_offset) {
  DecodePlan plan = Everything();
  Bytes long_string = kEverything;
  long_string[47] = 5;  // i's length: 5 > 4
  Result r = Run(plan, long_string);
  XT_CHECK_EQ(r.message, std::string("args.i: string longer than 4 (5 bytes)"));
  XT_CHECK_EQ(r.offset, size_t{44});

  Bytes bad_bool = kEverything;
  bad_bool[39] = 2;
  r = Run(plan, bad_bool);
  XT_CHECK_EQ(r.message, std::string("args.g: bad bool 2 (must be 0 or 1)"));
  XT_CHECK_EQ(r.offset, size_t{36});

  Bytes bad_enum = kEverything;
  bad_enum[43] = 6;
  XT_CHECK_EQ(Run(plan, bad_enum).message, std::string("args.h: bad enum value 6"));

  Bytes bad_padding = kEverything;
  bad_padding[51] = 1;
  r = Run(plan, bad_padding);
  XT_CHECK_EQ(r.message, std::string("args.i: non-zero padding"));
  XT_CHECK_EQ(r.offset, size_t{51});

  Bytes bad_utf8 = kEverything;
  bad_utf8[48] = 0xc0;
  XT_CHECK_EQ(Run(plan, bad_utf8).message, std::string("args.i: string is not valid UTF-8"));

  Bytes trailing = kEverything;
  trailing.insert(trailing.end(), {0, 0, 0, 0, 0});
  r = Run(plan, trailing);
  XT_CHECK_EQ(r.message, std::string("args: 5 trailing bytes after the value"));
  XT_CHECK_EQ(r.offset, kEverything.size());

  Bytes short_body(kEverything.begin(), kEverything.begin() + 10);
  r = Run(plan, short_body);
  XT_CHECK_EQ(r.message, std::string("args.c: unexpected end of input: need 8 bytes, 2 left"));
  XT_CHECK_EQ(r.offset, size_t{8});

  Bytes cut_opaque(kEverything.begin(), kEverything.end() - 2);
  XT_CHECK_EQ(Run(plan, cut_opaque).message,
              std::string("args.k: fixed-length opaque of 3 bytes (4 with padding) exceeds the 2 bytes left"));
}

XT_TEST(arrays_unions_and_optionals_name_their_elements_in_paths) {
  // struct { union switch (int) { case 1: char x<2>; default: void } u<>; }
  DecodePlan plan = Load({kInt,                                // 3
                          kChar,                               // 4
                          kArray, 2, 4, 4,                     // 5
                          kVoid,                               // 9
                          kUnion, 3, 1, 1, 5, 9,               // 10
                          kArray, 4294967295.0, 4, 10,         // 16
                          kStruct, 1, 0, 16},                  // 20
                         20, {"u", "args"});
  Bytes body = {0, 0, 0, 2,                 // u: two elements
                0, 0, 0, 9,                 // u[0]: tag 9, the default (void)
                0, 0, 0, 1, 0, 0, 0, 1,     // u[1]: tag 1, one char
                0, 0, 0, 200};              // 200: out of range for char
  Result r = Run(plan, body);
  XT_CHECK_EQ(r.message, std::string("args.u[1].value[0]: char out of range: 200"));
  XT_CHECK_EQ(r.offset, size_t{16});
  body[19] = 0x7f;
  r = Run(plan, body);
  XT_REQUIRE(r.ok);
  XT_CHECK(r.out == (std::vector<double>{2, 9, 1, 1, 127}));

  // A discriminant that fails is reported at ".tag".
  DecodePlan by_bool = Load({kBool, kVoid, kUnion, 3, 1, 1, 4, -1}, 5, {"args"});
  XT_CHECK_EQ(Run(by_bool, {0, 0, 0, 3}).message, std::string("args.tag: bad bool 3 (must be 0 or 1)"));
  XT_CHECK_EQ(Run(by_bool, {0, 0, 0, 0}).message, std::string("args: bad union discriminant 0"));

  DecodePlan optional = Load({kInt, kOptional, 3}, 4, {"args"});
  XT_CHECK_EQ(Run(optional, {0, 0, 0, 2}).message, std::string("args: bad optional flag 2 (must be 0 or 1)"));
}

XT_TEST(an_array_count_is_checked_against_the_bytes_left_first) {
  DecodePlan plan = Load({kHyper, kArray, 4294967295.0, 8, 3}, 4, {"args"});
  Bytes body(20, 0);
  body[0] = body[1] = body[2] = body[3] = 0xff;
  Result r = Run(plan, body);
  XT_CHECK_EQ(r.message, std::string("args: array count 4294967295 needs at least 34359738360 bytes, 16 left"));
  XT_CHECK(r.out.empty());
}

XT_TEST(recursion_deeper_than_max_depth_is_refused) {
  // struct list { int v; list *next; }, at most 3 deep.
  DecodePlan plan = Load({kInt,                 // 3
                          kRecursive, 8,        // 4
                          kOptional, 4,         // 6
                          kStruct, 2, 0, 3, 1, 6},  // 8, the recursive node's body
                         4, {"v", "next", "args"}, 3);
  Bytes three = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0};
  XT_CHECK(Run(plan, three).ok);
  Bytes four = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0};
  Result r = Run(plan, four);
  XT_CHECK_EQ(r.message, std::string("args.next.next.next: recursion deeper than 3"));
  XT_CHECK_EQ(r.offset, size_t{24});
}

XT_TEST(a_long_list_at_the_default_depth_decodes) {
  DecodePlan plan = Load({kInt, kRecursive, 8, kOptional, 4, kStruct, 2, 0, 3, 1, 6}, 4, {"v", "next", "args"});
  Bytes body;
  for (int i = 0; i < 200; ++i) body.insert(body.end(), {0, 0, 0, 7, 0, 0, 0, static_cast<uint8_t>(i < 199)});
  Result r = Run(plan, body);
  XT_REQUIRE(r.ok);
  XT_CHECK_EQ(r.out.size(), size_t{400});
}

XT_TEST(malformed_plans_are_refused) {
  XT_CHECK_EQ(LoadError({1, 200, 3, kInt}, {"args"}), std::string("bad decode plan: it does not start with the plan magic"));
  XT_CHECK_EQ(LoadError({kPlanMagic, 200, 4, kInt}, {"args"}), std::string("bad decode plan: the root names no node"));
  XT_CHECK_EQ(LoadError({kPlanMagic, 200, 3, kOptional, 9}, {"args"}), std::string("bad decode plan: a child names no node"));
  XT_CHECK_EQ(LoadError({kPlanMagic, 200, 3, kStruct, 1, 0, 3}, {"a", "args"}),
              std::string("bad decode plan: a schema contains itself outside a recursive node"));
  XT_CHECK_EQ(LoadError({kPlanMagic, 200, 3, kStruct, 1, 5, 3}, {"args"}), std::string("bad decode plan: a field name is out of range"));
  XT_CHECK_EQ(LoadError({kPlanMagic, 200, 3, kUnion, 3, 0, -1}, {"args"}),
              std::string("bad decode plan: a union discriminant is not int, unsigned int, enum or bool"));
  XT_CHECK_EQ(LoadError({kPlanMagic, 200, 3, kArray, 5, 4}, {"args"}), std::string("bad decode plan: a node runs past the end"));
  XT_CHECK_EQ(LoadError({kPlanMagic, 200, 3, kInt}, {}), std::string("bad decode plan: no top-level name"));
  XT_CHECK_EQ(LoadError({kPlanMagic, NAN, 3, kInt}, {"args"}), std::string("bad decode plan: maxDepth out of range"));
  // Deep recursion through deep nesting would outgrow a worker's stack.
  XT_CHECK_EQ(LoadError({kPlanMagic, 5000, 3, kInt, kOptional, 3}, {"args"}),
              std::string("bad decode plan: maxDepth 5000 times a nesting of 2 exceeds 8192 levels"));
}

XT_TEST(numbers_print_as_javascript_prints_them) {
  XT_CHECK_EQ(FormatJsNumber(0), std::string("0"));
  XT_CHECK_EQ(FormatJsNumber(17179869180.0), std::string("17179869180"));
  XT_CHECK_EQ(FormatJsNumber(9007199254740992.0), std::string("9007199254740992"));
  XT_CHECK_EQ(FormatJsNumber(18446744065119617025.0), std::string("18446744065119617000"));
  XT_CHECK_EQ(FormatJsNumber(1e21), std::string("1e+21"));
  XT_CHECK_EQ(FormatJsNumber(1.5e300), std::string("1.5e+300"));
  XT_CHECK_EQ(FormatJsNumber(INFINITY), std::string("Infinity"));
}

XT_TEST(utf8_is_checked_as_node_checks_it) {
  auto ok = [](std::vector<uint8_t> b) { return IsValidUtf8(b.data(), b.size()); };
  XT_CHECK(ok({}));
  XT_CHECK(ok({'a', 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80}));  // a é € 😀
  XT_CHECK(ok({0xf4, 0x8f, 0xbf, 0xbf}));   // U+10FFFF
  XT_CHECK(!ok({0xc0, 0x80}));              // overlong NUL
  XT_CHECK(!ok({0xe0, 0x80, 0x80}));        // overlong
  XT_CHECK(!ok({0xed, 0xa0, 0x80}));        // a surrogate
  XT_CHECK(!ok({0xf4, 0x90, 0x80, 0x80}));  // above U+10FFFF
  XT_CHECK(!ok({0xe2, 0x82}));              // cut short
  XT_CHECK(!ok({0x80}));                    // a lone continuation byte
}

XT_TEST(random_bytes_never_read_outside_the_body) {
  std::vector<DecodePlan> plans;
  std::vector<Bytes> seeds;
  plans.push_back(Everything());
  seeds.push_back(kEverything);
  plans.push_back(Load({kInt, kChar, kArray, 2, 4, 4, kVoid, kUnion, 3, 1, 1, 5, 9, kArray, 4294967295.0, 4, 10, kStruct, 1, 0, 16},
                       20, {"u", "args"}));
  seeds.push_back({0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5});
  plans.push_back(Load({kInt, kRecursive, 8, kOptional, 4, kStruct, 2, 0, 3, 1, 6}, 4, {"v", "next", "args"}));
  seeds.push_back({0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0});
  std::mt19937 rng(12345);
  size_t decoded = 0, refused = 0;
  for (int i = 0; i < 30000; ++i) {
    const size_t which = static_cast<size_t>(i) % plans.size();
    Bytes body = seeds[which];
    for (int m = 1 + static_cast<int>(rng() % 3); m > 0; --m) {
      switch (rng() % 4) {
        case 0: if (!body.empty()) body[rng() % body.size()] = static_cast<uint8_t>(rng()); break;
        case 1: if (!body.empty()) body[rng() % body.size()] = static_cast<uint8_t>(rng() % 3); break;
        case 2: body.resize(rng() % (body.size() + 1)); break;
        default: body.push_back(static_cast<uint8_t>(rng() % 2)); break;
      }
    }
    // A vector of the exact size: ASan sees any read past its end.
    std::vector<double> out;
    DecodeFailure f;
    if (plans[which].Decode(body.data(), body.size(), &out, &f)) ++decoded;
    else ++refused;
  }
  XT_CHECK(decoded > 100);
  XT_CHECK(refused > 100);
}
