// server_wrap.cc — see server_wrap.h for the threads and the lifetime rules.
#include "server_wrap.h"

#include "core/base/buffer_pool.h"
#include "core/server/commands.h"
#include "plan_js.h"

#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "core/base/live_counts.h"
#include "core/base/lock.h"

namespace xdrd::addon {

namespace {

char g_closed_tag;

// The reused values array of TakeBatch: made with room for at least this
// many numbers, and kept only up to the larger size (4 MiB of doubles).
constexpr size_t kValuesAreaMin = 4096;
constexpr size_t kValuesAreaMax = 512 * 1024;

// A length word and a header: the smallest frame there is.
constexpr double kSmallestFrame = 28;

// Reads an optional integer option; throws a RangeError naming it.
double IntOption(const Napi::Object& options, const char* name, double min, double max,
                 double fallback) {
  Napi::Value v = options.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(options.Env(), std::string("options.") + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < min || d > max)
    throw Napi::RangeError::New(options.Env(), std::string("options.") + name + " must be an integer from " +
                                                   std::to_string(static_cast<long long>(min)) + " to " +
                                                   std::to_string(static_cast<long long>(max)));
  return d;
}

ServerOptions ParseOptions(const Napi::Object& o) {
  ServerOptions s;
  s.workers = static_cast<int>(IntOption(o, "workers", 1, 1024, s.workers));
  s.max_requests_per_client =
      static_cast<uint32_t>(IntOption(o, "maxRequestsPerClient", 1, 1 << 20, s.max_requests_per_client));
  s.max_message_bytes = static_cast<uint32_t>(
      IntOption(o, "maxMessageBytes", kSmallestFrame, 0x7fffffff, s.max_message_bytes));
  s.listen_backlog = static_cast<int>(IntOption(o, "listenBacklog", 1, 65535, s.listen_backlog));
  s.max_clients = static_cast<uint32_t>(IntOption(o, "maxClients", 1, 1 << 24, s.max_clients));
  s.max_send_queue_bytes =
      static_cast<size_t>(IntOption(o, "maxSendQueueBytes", 1, 9007199254740991.0, s.max_send_queue_bytes));
  s.max_buffered_bytes =
      static_cast<size_t>(IntOption(o, "maxBufferedBytes", 1, 9007199254740991.0, s.max_buffered_bytes));
  s.read_budget_bytes =
      static_cast<size_t>(IntOption(o, "readBudgetBytes", 1, 1 << 30, s.read_budget_bytes));
  s.frame_timeout_ms =
      static_cast<uint32_t>(IntOption(o, "frameTimeoutMs", 1, 0x7fffffff, s.frame_timeout_ms));
  s.max_unauthenticated_clients = static_cast<uint32_t>(
      IntOption(o, "maxUnauthenticatedClients", 1, 1 << 24, s.max_unauthenticated_clients));
  s.busy_poll_us = static_cast<uint32_t>(IntOption(o, "busyPollUs", 0, 1000000, s.busy_poll_us));
  Napi::Value backend = o.Get("eventBackend");
  if (!backend.IsUndefined()) {
    if (!backend.IsString() || !ParseEventBackend(backend.As<Napi::String>().Utf8Value().c_str(), &s.event_backend))
      throw Napi::TypeError::New(o.Env(), "options.eventBackend must be 'epoll' or 'poll'");
  }
  Napi::Value auth = o.Get("requireAuthorization");
  if (!auth.IsUndefined()) {
    if (!auth.IsBoolean()) throw Napi::TypeError::New(o.Env(), "options.requireAuthorization must be a boolean");
    s.require_authorization = auth.As<Napi::Boolean>().Value();
  }
  return s;
}

bool BoolArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// Client ids cross as doubles: exact below 2^53, which no process reaches.
uint64_t ClientIdArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "client id must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= 9007199254740991.0) || std::floor(d) != d)
    throw Napi::RangeError::New(info.Env(), "client id must be a positive integer");
  return static_cast<uint64_t>(d);
}

uint32_t UintArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || std::floor(d) != d)
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an unsigned 32-bit integer");
  return static_cast<uint32_t>(d);
}

int32_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || std::floor(d) != d)
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a signed 32-bit integer");
  return static_cast<int32_t>(d);
}

Napi::Object ListenResult(Napi::Env env, const ListenSocket& s) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("ok", Napi::Boolean::New(env, s.ok()));
  if (!s.ok()) {
    r.Set("errno", Napi::Number::New(env, s.error));
    r.Set("message", Napi::String::New(env, s.message));
  }
  if (s.ok()) r.Set("family", Napi::String::New(env, s.family == AF_UNIX ? "unix" : s.family == AF_INET6 ? "ipv6" : "ipv4"));
  if (s.replaced_stale) r.Set("replacedStale", Napi::Boolean::New(env, true));
  if (!s.path.empty()) r.Set("path", Napi::String::New(env, s.path));
  if (!s.host.empty()) {
    r.Set("host", Napi::String::New(env, s.host));
    r.Set("port", Napi::Number::New(env, s.port));
  }
  return r;
}

}  // namespace

template <Napi::Value (ServerWrap::*Method)(const Napi::CallbackInfo&)>
Napi::Value ServerWrap::Entry(const Napi::CallbackInfo& info) {
  const JsThreadScope js(static_cast<const char*>(info.Data()));
  return (this->*Method)(info);
}

// The name doubles as the property's data, which Entry reads back: a
// string literal, so it outlives every call.
template <Napi::Value (ServerWrap::*Method)(const Napi::CallbackInfo&)>
ServerWrap::PropertyDescriptor ServerWrap::JsMethod(const char* name) {
  return InstanceMethod<&ServerWrap::Entry<Method>>(name, napi_default, const_cast<char*>(name));
}

template <Napi::Value (ServerWrap::*Getter)(const Napi::CallbackInfo&)>
ServerWrap::PropertyDescriptor ServerWrap::JsGetter(const char* name) {
  return InstanceAccessor<&ServerWrap::Entry<Getter>>(name, napi_default, const_cast<char*>(name));
}

Napi::Function ServerWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeServer",
                     {
                         JsMethod<&ServerWrap::HandleProcedure>("handle"),
                         JsMethod<&ServerWrap::HandleProgram>("handleProgram"),
                         JsMethod<&ServerWrap::ListenUnix>("listenUnix"),
                         JsMethod<&ServerWrap::ListenTcp>("listenTcp"),
                         JsMethod<&ServerWrap::ListenFd>("listenFd"),
                         JsMethod<&ServerWrap::TakeNotices>("takeNotices"),
                         JsMethod<&ServerWrap::Authorize>("authorize"),
                         JsMethod<&ServerWrap::CloseClient>("closeClient"),
                         JsMethod<&ServerWrap::StartKeepalive>("startKeepalive"),
                         JsMethod<&ServerWrap::SendEvent>("sendEvent"),
                         JsMethod<&ServerWrap::Start>("start"),
                         JsMethod<&ServerWrap::Close>("close"),
                         JsMethod<&ServerWrap::FinishClose>("finishClose"),
                         JsMethod<&ServerWrap::TakeBatch>("takeBatch"),
                         JsMethod<&ServerWrap::Complete>("complete"),
                         JsMethod<&ServerWrap::Stats>("stats"),
                         JsMethod<&ServerWrap::ArgsRefused>("argsRefused"),
                         JsMethod<&ServerWrap::SetRef>("setRef"),
                         JsMethod<&ServerWrap::StopNowJs>("stopNow"),
                         JsGetter<&ServerWrap::GetState>("state"),
                     });
}

ServerWrap::ServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ServerWrap>(info) {
  const JsThreadScope js("new NativeServer");
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction() || !info[2].IsTypedArray() || !info[3].IsTypedArray())
    throw Napi::TypeError::New(env, "NativeServer(options, onNative, batchArea, resultArea)");
  ServerOptions options = ParseOptions(info[0].As<Napi::Object>());
  Napi::Uint32Array batch = info[2].As<Napi::Uint32Array>();
  Napi::Uint32Array result = info[3].As<Napi::Uint32Array>();
  if (batch.TypedArrayType() != napi_uint32_array || result.TypedArrayType() != napi_uint32_array ||
      batch.ElementLength() < CallBridge::kInAreaWords || result.ElementLength() < CallBridge::kOutAreaWords)
    throw Napi::TypeError::New(env, "the batch and result areas must be Uint32Arrays of the advertised sizes");
  batch_area_ = batch.Data();
  result_area_ = result.Data();
  batch_area_ref_ = Napi::Persistent(batch);
  result_area_ref_ = Napi::Persistent(result);
  on_native_ = Napi::Persistent(info[1].As<Napi::Function>());
  bridge_ = MakeRef<CallBridge>();
  // Both run on the loop thread with no lock held; the bridge only queues.
  const bool debug = [] {
    const char* v = std::getenv("XDRD_DEBUG");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  options.log = [bridge = bridge_, debug](const LogRecord& r) {
    if (debug) {
      if (r.client_id != 0)
        std::fprintf(stderr, "xdrd: client %llu: %s\n", static_cast<unsigned long long>(r.client_id), r.message.c_str());
      else
        std::fprintf(stderr, "xdrd: %s\n", r.message.c_str());
    }
    bridge->PostLog(r);
  };
  options.on_clients = [bridge = bridge_](std::vector<ClientNotice>& notices) { bridge->PostNotices(notices); };
  core_ = std::make_unique<Server>(std::move(options));
}

// The object's finalizer (or the env's teardown). StopNow() has joined the
// loop before core_ goes, so destroying the core needs no exemption.
ServerWrap::~ServerWrap() {
  const JsThreadScope js("NativeServer finalizer");
  RemoveCleanupHook();
  StopNow();
  core_.reset();
}

void ServerWrap::CheckIdleForRegistration(Napi::Env env, const char* what) {
  if (state_ != State::kIdle)
    throw Napi::Error::New(env, std::string(what) +
                                    ": handlers must be registered before listen(); the running server's "
                                    "handler table is fixed");
}

Napi::Value ServerWrap::HandleProcedure(const Napi::CallbackInfo& info) {
  CheckIdleForRegistration(info.Env(), "handle");
  uint32_t prog = UintArg(info, 0, "program");
  uint32_t vers = UintArg(info, 1, "version");
  int32_t proc = IntArg(info, 2, "procedure");
  uint32_t index = UintArg(info, 3, "handler index");
  // A typed procedure's argument plan (lib/xdr/plan.ts): its calls are
  // decoded on the worker. Checked here, on the JS thread, once.
  std::shared_ptr<CallBridge::ArgsPlan> args;
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    args = std::make_shared<CallBridge::ArgsPlan>(PlanFromJs(info.Env(), info[4], info[5]));
    if (args_plans_.size() <= index) args_plans_.resize(index + 1);
    args_plans_[index] = args;
  }
  // Quick: Post decodes (when typed), queues the call for the JS thread and
  // never blocks.
  core_->Handle(prog, vers, proc,
                [bridge = bridge_, index, args](Call call) { bridge->Post(index, std::move(call), args.get()); },
                HandlerTraits{/*quick=*/true});
  return info.Env().Undefined();
}

Napi::Value ServerWrap::HandleProgram(const Napi::CallbackInfo& info) {
  CheckIdleForRegistration(info.Env(), "handle");
  uint32_t prog = UintArg(info, 0, "program");
  uint32_t vers = UintArg(info, 1, "version");
  uint32_t index = UintArg(info, 2, "handler index");
  core_->HandleProgram(prog, vers, [bridge = bridge_, index](Call call) { bridge->Post(index, std::move(call)); },
                       HandlerTraits{/*quick=*/true});
  return info.Env().Undefined();
}

Napi::Value ServerWrap::ListenUnix(const Napi::CallbackInfo& info) {
  if (state_ == State::kClosing) throw Napi::Error::New(info.Env(), "listen: the server is closing");
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "path must be a string");
  uint32_t mode = UintArg(info, 1, "mode");
  ListenerOptions options;
  options.read_only = BoolArg(info, 2, "readOnly");
  return ListenResult(info.Env(), core_->ListenUnix(info[0].As<Napi::String>().Utf8Value(),
                                                    static_cast<mode_t>(mode & 07777), options));
}

Napi::Value ServerWrap::ListenTcp(const Napi::CallbackInfo& info) {
  if (state_ == State::kClosing) throw Napi::Error::New(info.Env(), "listen: the server is closing");
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "host must be a string");
  uint32_t port = UintArg(info, 1, "port");
  if (port > 65535) throw Napi::RangeError::New(info.Env(), "port must be from 0 to 65535");
  ListenerOptions options;
  options.read_only = BoolArg(info, 2, "readOnly");
  return ListenResult(info.Env(), core_->ListenTcp(info[0].As<Napi::String>().Utf8Value(),
                                                   static_cast<uint16_t>(port), options));
}

Napi::Value ServerWrap::ListenFd(const Napi::CallbackInfo& info) {
  if (state_ == State::kClosing) throw Napi::Error::New(info.Env(), "listen: the server is closing");
  uint32_t fd = UintArg(info, 0, "fd");
  if (fd > 0x7fffffff) throw Napi::RangeError::New(info.Env(), "fd must be a descriptor number");
  ListenerOptions options;
  options.read_only = BoolArg(info, 1, "readOnly");
  return ListenResult(info.Env(), core_->ListenFd(static_cast<int>(fd), options));
}

Napi::Value ServerWrap::TakeNotices(const Napi::CallbackInfo& info) {
  std::string json = bridge_->TakeNotices(&membership_);
  // JS sees these notices now: from here on a control request names a
  // client JS knows to be connected, or one it knows to be gone.
  for (const CallBridge::Membership& m : membership_) {
    if (m.connected) known_clients_.insert(m.client_id);
    else known_clients_.erase(m.client_id);
  }
  membership_.clear();
  if (json.empty()) return info.Env().Undefined();
  return Napi::String::New(info.Env(), json);
}

// The four requests about one client. They never take a server or client
// lock: the command goes onto the core's queue by id, and the loop thread
// finds the client. The answer is whether JS still knows the client as
// connected (it has not yet seen its disconnect notice); a request for a
// client that left meanwhile is skipped by the loop thread.
Napi::Value ServerWrap::Control(const Napi::CallbackInfo& info, uint64_t id, ClientControl control) {
  const bool known = known_clients_.count(id) != 0;
  bool queued = known && core_->ControlClient(id, std::move(control));
  return Napi::Boolean::New(info.Env(), queued);
}

Napi::Value ServerWrap::Authorize(const Napi::CallbackInfo& info) {
  ClientControl c;
  c.kind = ClientControl::Kind::kAuthorize;
  uint64_t id = ClientIdArg(info, 0);
  c.allow = BoolArg(info, 1, "allow");
  return Control(info, id, std::move(c));
}

Napi::Value ServerWrap::CloseClient(const Napi::CallbackInfo& info) {
  ClientControl c;
  c.kind = ClientControl::Kind::kClose;
  uint64_t id = ClientIdArg(info, 0);
  c.after_writes = BoolArg(info, 1, "afterWrites");
  return Control(info, id, std::move(c));
}

Napi::Value ServerWrap::StartKeepalive(const Napi::CallbackInfo& info) {
  ClientControl c;
  c.kind = ClientControl::Kind::kKeepalive;
  uint64_t id = ClientIdArg(info, 0);
  c.keepalive_interval_ms = UintArg(info, 1, "intervalMs");
  c.keepalive_count = UintArg(info, 2, "count");
  return Control(info, id, std::move(c));
}

// (id, prog, vers, proc, body, serial) → false when JS knows the client is
// gone or the frame would exceed maxMessageBytes.
Napi::Value ServerWrap::SendEvent(const Napi::CallbackInfo& info) {
  ClientControl c;
  c.kind = ClientControl::Kind::kEvent;
  uint64_t id = ClientIdArg(info, 0);
  c.prog = UintArg(info, 1, "program");
  c.vers = UintArg(info, 2, "version");
  c.proc = IntArg(info, 3, "procedure");
  if (!info[4].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "body must be a Uint8Array");
  Napi::Uint8Array body = info[4].As<Napi::Uint8Array>();
  c.body.assign(body.Data(), body.Data() + body.ByteLength());
  if (info.Length() > 5 && !info[5].IsUndefined()) c.serial = UintArg(info, 5, "serial");
  return Control(info, id, std::move(c));
}

Napi::Value ServerWrap::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ == State::kRunning) return Napi::Boolean::New(env, false);
  if (state_ == State::kClosing) throw Napi::Error::New(env, "start: the server is closing");

  Run* run = new Run();  // its first reference belongs to the thread-safe function
  napi_value name;
  napi_create_string_utf8(env, "xdrd.Server", NAPI_AUTO_LENGTH, &name);
  napi_threadsafe_function tsfn = nullptr;
  napi_status status = napi_create_threadsafe_function(env, on_native_.Value(), nullptr, name,
                                                       /*max_queue_size=*/0, /*initial_thread_count=*/1,
                                                       /*thread_finalize_data=*/run, FinalizeRun,
                                                       /*context=*/run, CallJs, &tsfn);
  if (status != napi_ok) {
    run->Unref();
    throw Napi::Error::New(env, "start: cannot create the thread-safe function");
  }
  bridge_->Attach(tsfn);
  std::string error;
  if (!core_->Start(&error)) {
    bridge_->Detach();
    napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
    throw Napi::Error::New(env, "start: " + error);
  }
  if (!keeps_alive_) napi_unref_threadsafe_function(env, tsfn);
  tsfn_ = tsfn;
  run_ = RefPtr<Run>::Share(run);
  state_ = State::kRunning;
  // After the function: cleanup hooks run last-in, first-out, so at
  // teardown this one runs while the function is still usable.
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  hook_registered_ = true;
  Ref();  // a listening server stays alive unreferenced
  return Napi::Boolean::New(env, true);
}

Napi::Value ServerWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t grace = UintArg(info, 0, "graceMs");
  if (state_ != State::kRunning) return Napi::Boolean::New(env, false);
  state_ = State::kClosing;
  napi_threadsafe_function tsfn = std::exchange(tsfn_, nullptr);  // the closer releases it
  Run* run = run_.get();  // alive until the function's finalizer, which joins the closer
  Server* core = core_.get();
  run->closer = std::thread([core, bridge = bridge_, run, tsfn, grace] {
    LiveToken<live_detail::kThread> live;
    pthread_setname_np(pthread_self(), "xdrd-closer");
    ShutdownResult result = core->Shutdown(grace);
    bridge->Detach();  // the workers are joined: no more posts
    run->result = result;
    // Refused only while the environment is torn down, when nobody waits.
    napi_call_threadsafe_function(tsfn, &g_closed_tag, napi_tsfn_nonblocking);
    napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  });
  return Napi::Boolean::New(env, true);
}

Napi::Value ServerWrap::FinishClose(const Napi::CallbackInfo& info) {
  if (state_ == State::kClosing) {
    // The closer posted this as its last act but one (releasing the
    // function): wait for it, so that close() resolves with no xdrd thread
    // left. The finalizer joins it instead if this never runs (teardown).
    if (run_->closer.joinable()) run_->closer.join();
    state_ = State::kIdle;
    run_.reset();
    RemoveCleanupHook();
    // Calls queued after JS last drained were answered by the shutdown;
    // drop them. Calls JS holds are still answered by JS (and dropped).
    bridge_->RefusePending();
    known_clients_.clear();  // the run closed every client
    Unref();
  }
  return info.Env().Undefined();
}

namespace {

// A Buffer over a lent body that owns its frame until V8 collects it (or a
// copy where the runtime refuses outside memory: NewOrCopy).
Napi::Buffer<uint8_t> LendToJs(Napi::Env env, CallBridge::LentBody& body) {
  auto owner = std::make_unique<std::vector<uint8_t>>(std::move(body.frame));
  uint8_t* data = owner->data() + body.offset;
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::NewOrCopy(
      env, data, body.size,
      [](Napi::Env, uint8_t*, std::vector<uint8_t>* frame) {
        const JsThreadScope js("lent body finalizer");
        std::unique_ptr<std::vector<uint8_t>> owned(frame);
        LargeBufferPool().Give(std::move(*owned));  // reused for a later frame
      },
      owner.get());
  // The finalizer owns it now; had NewOrCopy copied, the finalizer already
  // ran and freed it.
  (void)owner.release();
  return buffer;
}

}  // namespace

Napi::Value ServerWrap::TakeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> bodies;
  Napi::Float64Array values;
  lent_.clear();
  uint32_t n = bridge_->TakeBatch(
      batch_area_,
      [&](size_t size) {
        bodies = Napi::Buffer<uint8_t>::New(env, size);
        return bodies.Data();
      },
      [&](size_t count) {
        if (!values_area_ref_.IsEmpty()) {
          values = values_area_ref_.Value();
          if (values.ElementLength() >= count) return values.Data();
        }
        // The first typed batch, or a larger one than before: a new array,
        // kept for later batches unless it is unusually large.
        values = Napi::Float64Array::New(env, std::max<size_t>(count, kValuesAreaMin));
        if (count <= kValuesAreaMax) values_area_ref_ = Napi::Persistent(values);
        return values.Data();
      },
      &lent_);
  if (n == 0) return env.Undefined();
  if (lent_.empty() && values.IsEmpty()) return bodies;
  // [copied bodies, decoded values or undefined, lent body 1, lent body 2, ...]
  Napi::Array out = Napi::Array::New(env, 2 + lent_.size());
  out.Set(uint32_t{0}, bodies);
  out.Set(uint32_t{1}, values.IsEmpty() ? env.Undefined() : Napi::Value(values));
  for (size_t i = 0; i < lent_.size(); ++i) out.Set(static_cast<uint32_t>(i + 2), LendToJs(env, lent_[i]));
  lent_.clear();
  return out;
}

Napi::Value ServerWrap::Complete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t count = UintArg(info, 0, "count");
  if (count > CallBridge::kMaxBatch) throw Napi::RangeError::New(env, "complete: too many results at once");
  // The answers cross to the loop thread in one locked step, not one each.
  CommandQueue::PushBatch batch(count);
  std::string error;
  if (info[1].IsArray()) {
    // One Uint8Array per answer (large answers, not concatenated in JS).
    Napi::Array list = info[1].As<Napi::Array>();
    if (list.Length() != count) throw Napi::TypeError::New(env, "complete: expected one Uint8Array per result");
    each_.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      Napi::Value v = list.Get(i);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw Napi::TypeError::New(env, "complete: result " + std::to_string(i) + " must be a Uint8Array");
      Napi::Uint8Array bytes = v.As<Napi::Uint8Array>();
      each_[i] = CallBridge::ResultBytes{bytes.Data(), bytes.ByteLength()};
    }
    bool ok = bridge_->CompleteEach(result_area_, count, each_.data(), &error);
    each_.clear();
    if (!ok) throw Napi::Error::New(env, "complete: " + error);
    return env.Undefined();
  }
  if (!info[1].IsBuffer()) throw Napi::TypeError::New(env, "complete: data must be a Buffer or an array of Uint8Arrays");
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  if (!bridge_->Complete(result_area_, count, data.Data(), data.Length(), &error))
    throw Napi::Error::New(env, "complete: " + error);
  return env.Undefined();
}

Napi::Value ServerWrap::ArgsRefused(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, args_plans_.size());
  for (size_t i = 0; i < args_plans_.size(); ++i) {
    const uint64_t n = args_plans_[i] ? args_plans_[i]->refused.load(std::memory_order_relaxed) : 0;
    out.Set(static_cast<uint32_t>(i), static_cast<double>(n));
  }
  return out;
}

Napi::Value ServerWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef XDRD_PLANT_JSLOCK
  // Test-only build (CMake XDRD_PLANT=jslock, scripts/tools-bite.js): the
  // mistake the lock checker must catch. Registering a handler takes the
  // server lock (Handle() refuses while running, but only after taking it),
  // which the JS thread must not do while the loop runs.
  if (core_->LoopRunning()) (void)core_->HandleProgram(0, 0, Handler{});
#endif
  // Atomics only: no server or client lock, whatever the number of clients.
  ServerCounters c = core_->Counters();
  CallBridge::Stats b = bridge_->ReadStats();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* key, uint64_t v) { o.Set(key, Napi::Number::New(env, static_cast<double>(v))); };
#define XDRD_COUNTER(field, js, doc) set(#js, c.field);
#include "core/server/counters.def"
#define XDRD_BRIDGE_COUNTER(field, js, doc) set(#js, b.field);
  XDRD_BRIDGE_COUNTERS(XDRD_BRIDGE_COUNTER)
#undef XDRD_BRIDGE_COUNTER
  return o;
}

Napi::Value ServerWrap::SetRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(env, "setRef(keepsProcessAlive: boolean)");
  keeps_alive_ = info[0].As<Napi::Boolean>().Value();
  // Only while running is the function ours: a closer owns it while closing,
  // and it is released a moment later anyway.
  if (state_ == State::kRunning) {
    if (keeps_alive_) napi_ref_threadsafe_function(env, tsfn_);
    else napi_unref_threadsafe_function(env, tsfn_);
  }
  return env.Undefined();
}

Napi::Value ServerWrap::GetState(const Napi::CallbackInfo& info) {
  const char* s = state_ == State::kIdle ? "idle" : state_ == State::kRunning ? "running" : "closing";
  return Napi::String::New(info.Env(), s);
}

// From a process 'exit' listener: process.exit() on the main thread exits
// without running env cleanup hooks, so without this the threads would still
// run (holding locks, touching the heap) while exit() destroys statics.
Napi::Value ServerWrap::StopNowJs(const Napi::CallbackInfo& info) {
  StopNow();
  return info.Env().Undefined();
}

// Stopping is the one JS-thread path that may take the server lock while
// the loop runs (THREADING.md): JsThreadStopping says so to the lock
// checker, around the core's stopping calls only.
void ServerWrap::StopNow() {
  if (state_ == State::kClosing) {
    // The closer owns the function; hurry it along and wait for it.
    {
      const JsThreadStopping stopping;
      core_->ShortenShutdown(0);
    }
    if (run_->closer.joinable()) run_->closer.join();
  } else if (state_ == State::kRunning) {
    {
      const JsThreadStopping stopping;
      core_->Stop();  // joins the loop and the workers: nothing posts any more
    }
    bridge_->Detach();
    napi_release_threadsafe_function(std::exchange(tsfn_, nullptr), napi_tsfn_abort);
  }
  state_ = State::kIdle;
  run_.reset();
  bridge_->RefuseAll();
  known_clients_.clear();  // the run closed every client
}

void ServerWrap::RemoveCleanupHook() {
  if (!hook_registered_) return;
  hook_registered_ = false;
  napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
}

void ServerWrap::OnEnvCleanup(void* self) {
  const JsThreadScope js("env cleanup hook");
  auto* wrap = static_cast<ServerWrap*>(self);
  wrap->hook_registered_ = false;  // it has run: removing it now would be wrong
  wrap->StopNow();
}

void ServerWrap::CallJs(napi_env env, napi_value js_cb, void* context, void* data) {
  const JsThreadScope js("thread-safe function call-back");
  // A null env: the function is being torn down. The tags own nothing.
  if (env == nullptr || js_cb == nullptr) return;
  auto* run = static_cast<Run*>(context);
  napi_value recv;
  napi_get_undefined(env, &recv);
  napi_value argv[4];
  size_t argc = 1;
  if (data == CallBridge::DrainTag()) {
    napi_create_uint32(env, 0, &argv[0]);
  } else {
    napi_create_uint32(env, 1, &argv[0]);
    napi_get_boolean(env, run->result.drained, &argv[1]);
    napi_create_double(env, static_cast<double>(run->result.calls_cancelled), &argv[2]);
    napi_create_double(env, static_cast<double>(run->result.clients_closed), &argv[3]);
    argc = 4;
  }
  // Raw call, status ignored: during teardown JS can no longer run, and an
  // exception must not escape into C++ (TOOLCHAIN.md §2.4). The JS side
  // catches everything its handlers throw, so anything left here is the
  // engine refusing to run; clear it.
  napi_call_function(env, recv, js_cb, argc, argv, nullptr);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

void ServerWrap::FinalizeRun(napi_env, void* data, void*) {
  const JsThreadScope js("thread-safe function finalizer");
  auto* run = static_cast<Run*>(data);
  // The closer released the function as its last act; wait for it to end.
  if (run->closer.joinable()) run->closer.join();
  run->Unref();
}

}  // namespace xdrd::addon
