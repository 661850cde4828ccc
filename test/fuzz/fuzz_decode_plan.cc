// fuzz_decode_plan — call bodies against a fixed set of decode plans that
// between them use every plan construct (every op of PlanOp; unions with
// and without a default arm, on int, bool and enum discriminants; nested
// arrays; recursion up to max_depth).
//
// Input: [plan index byte][body...]; the body is copied to an exactly
// sized heap block so ASan catches a read one past its end.
//
// Properties: every body decodes or is refused with a path that starts at
// the top-level name, a reason, and an offset inside the body; a body that
// decodes has its string/opaque offsets inside it; decoding is
// deterministic. (That the verdicts and values equal the TypeScript
// codec's is the jest-level harness's job, over this target's corpus.)
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "wire/decode_plan.h"

using namespace xdrd;

namespace {

// Op numbers as lib/xdr/plan.ts writes them (PlanOp's order).
constexpr double kInt = 0, kUint = 1, kChar = 2, kUchar = 3, kShort = 4, kUshort = 5, kHyper = 6, kUhyper = 7,
                 kFloat = 8, kDouble = 9, kBool = 10, kVoid = 11, kEnum = 12, kString = 13, kOpaque = 14,
                 kFixedOpaque = 15, kArray = 16, kFixedArray = 17, kOptional = 18, kStruct = 19, kUnion = 20,
                 kRecursive = 21;

DecodePlan Load(std::vector<double> nodes, double root, std::vector<std::string> names, double max_depth = 200) {
  std::vector<double> words = {kPlanMagic, max_depth, root};
  words.insert(words.end(), nodes.begin(), nodes.end());
  std::string error;
  std::optional<DecodePlan> plan = DecodePlan::Load(words.data(), words.size(), std::move(names), &error);
  if (!plan) {
    std::fprintf(stderr, "fuzz_decode_plan: a built-in plan does not load: %s\n", error.c_str());
    std::abort();
  }
  return std::move(*plan);
}

std::vector<DecodePlan> MakePlans() {
  std::vector<DecodePlan> plans;
  // 0: struct { int a; unsigned b; hyper c; unsigned hyper d; float e;
  //    double f; bool g; enum {-1, 5} h; string i<4>; opaque j<8>;
  //    opaque k[3]; void l; } (test_decode_plan.cc's Everything)
  plans.push_back(Load({kInt, kUint, kHyper, kUhyper, kFloat, kDouble, kBool,  // 3..9
                        kEnum, 2, -1, 5,                                        // 10
                        kString, 4,                                             // 14
                        kOpaque, 8,                                             // 16
                        kFixedOpaque, 3,                                        // 18
                        kVoid,                                                  // 20
                        kStruct, 12, 0, 3, 1, 4, 2, 5, 3, 6, 4, 7, 5, 8, 6, 9, 7, 10, 8, 14, 9, 16, 10, 18, 11, 20},
                       21, {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "args"}));
  // 1: struct { union switch (int) { case 1: char x<2>; default: void } u<>; }
  plans.push_back(Load({kInt, kChar, kArray, 2, 4, 4, kVoid, kUnion, 3, 1, 1, 5, 9,
                        kArray, 4294967295.0, 4, 10, kStruct, 1, 0, 16},
                       20, {"u", "args"}));
  // 2: struct list { int v; list *next; }, at most 8 deep.
  plans.push_back(Load({kInt, kRecursive, 8, kOptional, 4, kStruct, 2, 0, 3, 1, 6}, 4, {"v", "next", "args"}, 8));
  // 3: struct { unsigned char a; short b; unsigned short c; int d[2];
  //    union switch (enum {0,1,2}) { case 0: string s<16>; case 1:
  //    opaque o[5]; case 2: hyper h; } u; double *p; }
  plans.push_back(Load({kUchar,                                 // 3
                        kShort,                                 // 4
                        kUshort,                                // 5
                        kInt,                                   // 6
                        kFixedArray, 2, 6,                      // 7
                        kEnum, 3, 0, 1, 2,                      // 10
                        kString, 16,                            // 15
                        kFixedOpaque, 5,                        // 17
                        kHyper,                                 // 19
                        kUnion, 10, 3, 0, 15, 1, 17, 2, 19, -1,  // 20
                        kDouble,                                // 30
                        kOptional, 30,                          // 31
                        kStruct, 6, 0, 3, 1, 4, 2, 5, 3, 7, 4, 20, 5, 31},  // 33
                       33, {"a", "b", "c", "d", "u", "p", "args"}));
  // 4: union switch (bool) { case TRUE: void; } (no default)
  plans.push_back(Load({kBool, kVoid, kUnion, 3, 1, 1, 4, -1}, 5, {"args"}));
  // 5: string names<100> of string<255>: UTF-8 checks on many strings.
  plans.push_back(Load({kString, 255, kArray, 100, 4, 3}, 5, {"args"}));
  // 6: hyper x<> (unbounded count against a large element).
  plans.push_back(Load({kHyper, kArray, 4294967295.0, 8, 3}, 4, {"args"}));
  // 7: struct { opaque o<>; unsigned hyper n[3]; float f<2>; } *
  plans.push_back(Load({kOpaque, 4294967295.0,          // 3
                        kUhyper,                        // 5
                        kFixedArray, 3, 5,              // 6
                        kFloat,                         // 9
                        kArray, 2, 4, 9,                // 10
                        kStruct, 3, 0, 3, 1, 6, 2, 10,  // 14
                        kOptional, 14},                 // 22
                       22, {"o", "n", "f", "args"}));
  return plans;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<DecodePlan> plans = MakePlans();
  if (size < 1) return 0;
  const DecodePlan& plan = plans[data[0] % plans.size()];
  const std::vector<uint8_t> body(data + 1, data + size);

  std::vector<double> out;
  DecodeFailure failure;
  const bool ok = plan.Decode(body.data(), body.size(), &out, &failure);
  if (!ok) {
    FUZZ_CHECK(failure.path.compare(0, 4, "args") == 0);
    FUZZ_CHECK(!failure.reason.empty());
    FUZZ_CHECK(failure.offset <= body.size());
  }

  // Same bytes, same verdict, same output.
  std::vector<double> out2;
  DecodeFailure failure2;
  FUZZ_CHECK(plan.Decode(body.data(), body.size(), &out2, &failure2) == ok);
  if (ok) {
    FUZZ_CHECK(out2.size() == out.size());
    for (size_t i = 0; i < out.size(); ++i) FUZZ_CHECK(out[i] == out2[i] || (out[i] != out[i] && out2[i] != out2[i]));
  } else {
    FUZZ_CHECK(failure2.Message() == failure.Message() && failure2.offset == failure.offset);
  }
  return 0;
}
