// fuzz_decode_plan — call bodies against a fixed set of decode plans
// (test/fuzz/plans.ts, compiled into decode_plans.inc) that between them
// use every plan construct (every op of PlanOp; unions with
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

// The plans, as lib/xdr/plan.ts compiles the schemas of test/fuzz/plans.ts
// (the one place they are written): scripts/fuzz-plans.js generates
// decode_plans.inc from them, and test/fuzz/ts/decode-plan.test.ts fails
// when the file is stale, so this target and the jest harness that replays
// its corpus through the TypeScript codec always run the same plans.
struct PlanSource {
  std::vector<double> words;  // the whole plan: magic, max depth, root, nodes
  std::vector<std::string> names;
};

const PlanSource kPlans[] = {
#include "decode_plans.inc"
};

std::vector<DecodePlan> MakePlans() {
  std::vector<DecodePlan> plans;
  for (const PlanSource& p : kPlans) {
    std::string error;
    std::optional<DecodePlan> plan = DecodePlan::Load(p.words.data(), p.words.size(), p.names, &error);
    if (!plan) {
      std::fprintf(stderr, "fuzz_decode_plan: a plan of decode_plans.inc does not load: %s\n", error.c_str());
      std::abort();
    }
    plans.push_back(std::move(*plan));
  }
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
