// A server for tests: a private socket directory, a test program whose
// procedures cover every way a handler can answer, and checks that nothing
// is left alive afterwards.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "server/call.h"
#include "base/live_counts.h"
#include "server/server.h"
#include "test_util.h"

namespace xt {

constexpr uint32_t kTestProgram = 0x20000001;
constexpr uint32_t kTestVersion = 1;
enum TestProc : int32_t {
  kProcEcho = 1,       // replies with the call's body, on the worker
  kProcDeferred = 2,   // parks the Call; the test answers it from its thread
  kProcForget = 3,     // returns without answering
  kProcThrow = 4,      // throws
  kProcLatched = 5,    // blocks its worker until the test opens the latch
  kProcKeepalive = 6,  // body: u32 interval_ms, u32 count; switches keepalive on
  kProcCooperative = 7,  // runs until the server cancels it, then answers
};

// Calls parked by kProcDeferred, handed to the test thread.
class CallStore {
 public:
  void Put(xdrd::Call call) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::make_unique<xdrd::Call>(std::move(call)));
    cv_.NotifyAll();
  }
  // Waits until n calls are parked (a latch, not a sleep).
  void WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.Wait(lock, [&] { return calls_.size() >= n; });
  }
  std::unique_ptr<xdrd::Call> Take(uint32_t serial) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = calls_.begin(); it != calls_.end(); ++it) {
      if ((*it)->header().serial != serial) continue;
      auto call = std::move(*it);
      calls_.erase(it);
      return call;
    }
    return nullptr;
  }
  std::vector<std::unique_ptr<xdrd::Call>> TakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::unique_ptr<xdrd::Call>> all;
    for (auto& c : calls_) all.push_back(std::move(c));
    calls_.clear();
    return all;
  }

 private:
  std::mutex mu_;
  xdrd::CondVar cv_;
  std::deque<std::unique_ptr<xdrd::Call>> calls_;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/xdrd-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { rmdir(path_.c_str()); }  // the server unlinks its sockets
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct TestServer {
  explicit TestServer(xdrd::ServerOptions options = DefaultOptions())
      : baseline(xdrd::ReadLiveCounts()), server(std::make_unique<xdrd::Server>(options)) {
    RegisterTestProgram(*server, &store, &latch, &latched_entered);
  }

  static xdrd::ServerOptions DefaultOptions() {
    xdrd::ServerOptions o;
    o.workers = 4;
    return o;
  }

  static void RegisterTestProgram(xdrd::Server& s, CallStore* store, Latch* latch,
                                  Latch* latched_entered) {
    s.Handle(kTestProgram, kTestVersion, kProcEcho, [](xdrd::Call call) {
      std::vector<uint8_t> body(call.body(), call.body() + call.body_size());
      call.Reply(body);
    });
    s.Handle(kTestProgram, kTestVersion, kProcDeferred,
             [store](xdrd::Call call) { store->Put(std::move(call)); });
    s.Handle(kTestProgram, kTestVersion, kProcForget, [](xdrd::Call) {});
    s.Handle(kTestProgram, kTestVersion, kProcThrow,
             [](xdrd::Call) { throw std::runtime_error("handler failure"); });
    s.Handle(kTestProgram, kTestVersion, kProcKeepalive, [](xdrd::Call call) {
      xdrd::XdrReader r(call.body(), call.body_size());
      uint32_t interval = 0, count = 0;
      r.ReadU32(&interval);
      r.ReadU32(&count);
      call.EnableKeepalive(interval, count);
      call.Reply(nullptr, 0);
    });
    s.Handle(kTestProgram, kTestVersion, kProcCooperative, [latched_entered](xdrd::Call call) {
      latched_entered->CountDown();
      while (!call.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      call.Reply(std::vector<uint8_t>{0, 0, 0, 2});  // too late: dropped
    });
    s.Handle(kTestProgram, kTestVersion, kProcLatched, [latch, latched_entered](xdrd::Call call) {
      latched_entered->CountDown();
      latch->Wait();
      call.Reply(std::vector<uint8_t>{0, 0, 0, 1});
    });
  }

  // Stops and destroys the server; afterwards nothing it made may be alive.
  bool ShutDownAndCheckNothingLeft() {
    server.reset();
    xdrd::LiveCounts now = xdrd::ReadLiveCounts();
    bool same = now.clients == baseline.clients && now.jobs == baseline.jobs &&
                now.messages == baseline.messages && now.threads == baseline.threads;
    if (!same)
      std::fprintf(stderr,
                   "  live after shutdown: %lld clients, %lld jobs, %lld messages, %lld threads"
                   " (before: %lld, %lld, %lld, %lld)\n",
                   static_cast<long long>(now.clients), static_cast<long long>(now.jobs),
                   static_cast<long long>(now.messages), static_cast<long long>(now.threads),
                   static_cast<long long>(baseline.clients), static_cast<long long>(baseline.jobs),
                   static_cast<long long>(baseline.messages), static_cast<long long>(baseline.threads));
    return same;
  }

  std::string UnixPath() const { return dir.File("sock"); }

  xdrd::LiveCounts baseline;
  TempDir dir;
  CallStore store;
  Latch latch;
  Latch latched_entered;
  std::unique_ptr<xdrd::Server> server;
};

}  // namespace xt
