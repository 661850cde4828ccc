// plan_js.h — decode plans (core/wire/decode_plan.h) from their JS form:
// a Float64Array of words and an array of names, as lib/xdr/plan.ts makes
// them.
//
// Threads: JS thread only.
#pragma once

#include <napi.h>

#include "core/wire/decode_plan.h"

namespace xdrd::addon {

// The plan in `words` (a Float64Array) and `names` (an array of strings).
// Throws a JS TypeError naming what is wrong with a malformed one.
DecodePlan PlanFromJs(Napi::Env env, Napi::Value words, Napi::Value names);

// decodeWithPlan(words, names, body): runs the plan on `body` (a
// Uint8Array) here, on the JS thread. Returns the flat output as a
// Float64Array, or { path, reason, offset } when the body does not decode.
// The differential tests (test/xdr/plan.test.ts) compare it with the
// TypeScript codec; servers run plans on their workers instead.
Napi::Value DecodeWithPlanJs(const Napi::CallbackInfo& info);

}  // namespace xdrd::addon
