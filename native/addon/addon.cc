// addon.cc — the module's entry point: the NativeServer class and the
// process-wide live counts tests use to prove nothing is left running.
//
// Threads: JS thread only.
#include <napi.h>

#include "call_bridge.h"
#include "core/base/live_counts.h"
#include "core/base/lock.h"
#include "plan_js.h"
#include "server_wrap.h"

namespace {

Napi::Value LiveCountsJs(const Napi::CallbackInfo& info) {
  const xdrd::JsThreadScope js("liveCounts");  // the lock checker's mark (lock.h)
  Napi::Env env = info.Env();
  xdrd::LiveCounts c = xdrd::ReadLiveCounts();
  Napi::Object o = Napi::Object::New(env);
  o.Set("clients", Napi::Number::New(env, static_cast<double>(c.clients)));
  o.Set("jobs", Napi::Number::New(env, static_cast<double>(c.jobs)));
  o.Set("messages", Napi::Number::New(env, static_cast<double>(c.messages)));
  o.Set("threads", Napi::Number::New(env, static_cast<double>(c.threads)));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const xdrd::JsThreadScope js("module init");
  using xdrd::addon::CallBridge;
  exports.Set("NativeServer", xdrd::addon::ServerWrap::Define(env));
  exports.Set("liveCounts", Napi::Function::New<LiveCountsJs>(env, "liveCounts"));
  exports.Set("decodeWithPlan", Napi::Function::New<xdrd::addon::DecodeWithPlanJs>(env, "decodeWithPlan"));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("maxBatch", CallBridge::kMaxBatch);
  layout.Set("inWords", CallBridge::kInWords);
  layout.Set("outWords", CallBridge::kOutWords);
  layout.Set("batchAreaWords", CallBridge::kInAreaWords);
  layout.Set("resultAreaWords", CallBridge::kOutAreaWords);
  layout.Set("resultBody", CallBridge::kResultBody);
  layout.Set("resultError", CallBridge::kResultError);
  layout.Set("lentBody", CallBridge::kExternalBody);
  // The word of each field in a batch record and in a result record, as
  // call_bridge.h lays them out, so that JS (lib/server/bridge.ts) names
  // every offset it reads or writes instead of counting.
  struct Field {
    const char* name;
    uint32_t word;
  };
  static constexpr Field kInFields[] = {
      {"inSlot", 0},      {"inHandler", 1},    {"inProcedure", 2},  {"inSerial", 3},
      {"inClientLow", 4}, {"inClientHigh", 5}, {"inBodyLength", 6}, {"inQueueWaitUs", 7},
      {"inValues", 8},
  };
  static constexpr Field kOutFields[] = {{"outSlot", 0}, {"outKind", 1}, {"outLength", 2}, {"outReserved", 3}};
  static_assert(sizeof kInFields / sizeof kInFields[0] == CallBridge::kInWords, "a batch record word without a name");
  static_assert(sizeof kOutFields / sizeof kOutFields[0] == CallBridge::kOutWords, "a result record word without a name");
  for (const Field& f : kInFields) layout.Set(f.name, f.word);
  for (const Field& f : kOutFields) layout.Set(f.name, f.word);
  exports.Set("layout", layout);
  // The keys of stats(), from the one list of counters (lib/native.ts
  // checks its NativeStats type against them).
  Napi::Array keys = Napi::Array::New(env);
  uint32_t n = 0;
#define XDRD_COUNTER(field, js, doc) keys.Set(n++, #js);
#include "core/server/counters.def"
#define XDRD_BRIDGE_KEY(field, js, doc) keys.Set(n++, #js);
  XDRD_BRIDGE_COUNTERS(XDRD_BRIDGE_KEY)
#undef XDRD_BRIDGE_KEY
  exports.Set("statKeys", keys);
  return exports;
}

}  // namespace

NODE_API_MODULE(xdrd, Init)
