// plan_js.cc — see plan_js.h.
#include "plan_js.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/base/lock.h"

namespace xdrd::addon {

DecodePlan PlanFromJs(Napi::Env env, Napi::Value words, Napi::Value names) {
  if (!words.IsTypedArray() || words.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, "decode plan: words must be a Float64Array");
  if (!names.IsArray()) throw Napi::TypeError::New(env, "decode plan: names must be an array of strings");
  Napi::Float64Array w = words.As<Napi::Float64Array>();
  Napi::Array list = names.As<Napi::Array>();
  std::vector<std::string> strings;
  strings.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "decode plan: names must be an array of strings");
    strings.push_back(v.As<Napi::String>().Utf8Value());
  }
  std::string error;
  std::optional<DecodePlan> plan = DecodePlan::Load(w.Data(), w.ElementLength(), std::move(strings), &error);
  if (!plan) throw Napi::TypeError::New(env, error);
  return std::move(*plan);
}

Napi::Value DecodeWithPlanJs(const Napi::CallbackInfo& info) {
  const JsThreadScope js("decodeWithPlan");  // the lock checker's mark (lock.h)
  Napi::Env env = info.Env();
  DecodePlan plan = PlanFromJs(env, info[0], info[1]);
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "decodeWithPlan: body must be a Uint8Array");
  Napi::Uint8Array body = info[2].As<Napi::Uint8Array>();
  std::vector<double> out;
  DecodeFailure failure;
  if (!plan.Decode(body.Data(), body.ByteLength(), &out, &failure)) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("path", failure.path);
    o.Set("reason", failure.reason);
    o.Set("offset", static_cast<double>(failure.offset));
    return o;
  }
  Napi::Float64Array values = Napi::Float64Array::New(env, out.size());
  if (!out.empty()) std::memcpy(values.Data(), out.data(), out.size() * sizeof(double));
  return values;
}

}  // namespace xdrd::addon
