// server_wrap.h — the JS `Server` object over the core server: handler
// registration, listeners, start, close, the batch hand-off and stats.
//
// Threads
//   JS thread   every method, the env cleanup hook, the thread-safe
//               function's call-back and finalizer.
//   workers     the handler closures registered on the core: they Post() to
//               the CallBridge and return at once.
//   closer      one per close(): runs the core's Shutdown(grace) so the JS
//               thread stays free to answer the calls still in flight, then
//               tells JS it is done through the thread-safe function and
//               releases it.
//
// Locks
//   This file takes none itself: the core and the bridge lock inside. No JS
//   runs while any xdrd lock is held.
//
// Lifetime (TOOLCHAIN.md §2.4)
//   start() creates a thread-safe function for the run and then registers
//   the env cleanup hook, so at teardown the hook runs before the function's
//   own clean-up (hooks run last-in, first-out). The hook stops the server
//   with no grace, joining every thread, and aborts the function; once it
//   has run it is never removed. While running, the object holds a strong
//   reference on itself, so a listening server nobody references stays alive
//   until close() completes. finishClose() joins the closer; if it never
//   runs (teardown), the function's finalizer does.
#pragma once

#include <napi.h>

#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "call_bridge.h"
#include "core/base/refcount.h"
#include "core/server/server.h"

namespace xdrd::addon {

// One run, from start() until the thread-safe function is finalized. Shared
// by the wrap (while running) and the function (as its context).
struct Run : RefCounted<Run> {
  std::thread closer;        // joined on the JS thread only (finishClose, the
                             // cleanup hook or the function's finalizer)
  ShutdownResult result;     // written by the closer before it posts
};

class ServerWrap : public Napi::ObjectWrap<ServerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new Server(options, onNative, batchArea: Uint32Array, resultArea: Uint32Array)
  explicit ServerWrap(const Napi::CallbackInfo& info);
  ~ServerWrap() override;

 private:
  enum class State { kIdle, kRunning, kClosing };

  Napi::Value HandleProcedure(const Napi::CallbackInfo& info);  // (prog, vers, proc, index[, planWords, planNames])
  Napi::Value HandleProgram(const Napi::CallbackInfo& info);    // (prog, vers, index)
  Napi::Value ListenUnix(const Napi::CallbackInfo& info);       // (path, mode, readOnly) → result
  Napi::Value ListenTcp(const Napi::CallbackInfo& info);        // (host, port, readOnly) → result
  Napi::Value ListenFd(const Napi::CallbackInfo& info);         // (fd, readOnly) → result
  Napi::Value TakeNotices(const Napi::CallbackInfo& info);      // → JSON string | undefined
  Napi::Value Authorize(const Napi::CallbackInfo& info);        // (id, allow) → client known?
  Napi::Value CloseClient(const Napi::CallbackInfo& info);      // (id, afterWrites) → client known?
  Napi::Value StartKeepalive(const Napi::CallbackInfo& info);   // (id, intervalMs, count) → client known?
  Napi::Value SendEvent(const Napi::CallbackInfo& info);        // (id, prog, vers, proc, body) → sent?
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);            // (graceMs) → started?
  Napi::Value FinishClose(const Napi::CallbackInfo& info);
  Napi::Value TakeBatch(const Napi::CallbackInfo& info);        // → Buffer | [Buffer, values?, ...lent] | undefined
  Napi::Value Complete(const Napi::CallbackInfo& info);         // (count, data)
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value ArgsRefused(const Napi::CallbackInfo& info);      // → number[] by handler index
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value SetRef(const Napi::CallbackInfo& info);           // (keepsProcessAlive)
  Napi::Value StopNowJs(const Napi::CallbackInfo& info);        // process 'exit': stop, no grace

  // Define() registers every method and the accessor through these: each
  // call runs in a JsThreadScope named by its JS name (carried as the
  // property's data), so the lock checker knows the JS thread is inside the
  // addon (THREADING.md, "The JS thread"; lock.h).
  template <Napi::Value (ServerWrap::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Entry(const Napi::CallbackInfo& info);
  template <Napi::Value (ServerWrap::*Method)(const Napi::CallbackInfo&)>
  static PropertyDescriptor JsMethod(const char* name);
  template <Napi::Value (ServerWrap::*Getter)(const Napi::CallbackInfo&)>
  static PropertyDescriptor JsGetter(const char* name);

  void CheckIdleForRegistration(Napi::Env env, const char* what);
  Napi::Value Control(const Napi::CallbackInfo& info, uint64_t id, ClientControl control);
  // Stops everything now: the cleanup hook and the destructor.
  void StopNow();
  void RemoveCleanupHook();
  static void OnEnvCleanup(void* self);
  static void CallJs(napi_env env, napi_value js_cb, void* context, void* data);
  static void FinalizeRun(napi_env env, void* data, void* hint);

  RefPtr<CallBridge> bridge_;
  // Typed procedures' argument plans by handler index (null: raw), for
  // their refusal counts; the handlers hold them too.
  std::vector<std::shared_ptr<CallBridge::ArgsPlan>> args_plans_;
  std::unique_ptr<Server> core_;
  State state_ = State::kIdle;
  RefPtr<Run> run_;                           // while running or closing
  napi_threadsafe_function tsfn_ = nullptr;   // running: ours to release
  bool hook_registered_ = false;
  // Whether a running server keeps the event loop (the process) alive, like
  // net.Server's ref()/unref(). Applied to each run's thread-safe function.
  bool keeps_alive_ = true;
  Napi::FunctionReference on_native_;
  Napi::Reference<Napi::Uint32Array> batch_area_ref_;
  Napi::Reference<Napi::Uint32Array> result_area_ref_;
  // The decoded values of a batch's typed calls, reused from batch to batch:
  // JS only reads numbers out of it while it builds the batch's arguments
  // (strings and opaque data are views of the bodies, which are not reused),
  // so one array serves every batch that fits, and a batch costs no
  // ArrayBuffer of its own. Empty until the first typed call.
  Napi::Reference<Napi::Float64Array> values_area_ref_;
  uint32_t* batch_area_ = nullptr;
  uint32_t* result_area_ = nullptr;
  // JS-thread scratch of TakeBatch and Complete, reused from call to call.
  std::vector<CallBridge::LentBody> lent_;
  std::vector<CallBridge::ResultBytes> each_;
  // JS thread only: the clients JS has seen connect and not yet seen leave
  // (TakeNotices keeps it), which decides what authorize, closeClient,
  // startKeepalive and sendEvent answer without asking the core.
  std::unordered_set<uint64_t> known_clients_;
  std::vector<CallBridge::Membership> membership_;  // TakeNotices scratch
};

}  // namespace xdrd::addon
