// core-server.cc — xdrd's core alone: the bench program served by C++
// handlers on the core's worker threads, with no Node and no JS bridge.
// Next to bench/xdrd-server.js it shows what the bridge costs.
//
// Procedures of the bench program (the same in all three bench servers):
//   1 NOOP  empty args; returns an unsigned hyper (8 bytes), a constant
//   2 ECHO  args: opaque data<>; returns the same opaque. The length word is
//           checked against the body (as a decoder would) before echoing.
//
// Control, the same line protocol as the JS servers (bench/run.js):
//   stdout, once listening:  {"ready":true,"pid":...,"settings":{...}}
//   stdin "stats\n"         -> one JSON line of counters (with clientsLive
//                              and heapBytes: malloc's bytes in use)
//   stdin EOF or "quit\n"   -> Stop() (answers what is in flight), exit 0
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "bench_program.h"
#include "server/server.h"
#include "wire/wire.h"

namespace {

using bench::GetU32;
using bench::IsOneOpaque;
using bench::kBenchProgram;
using bench::kBenchVersion;
using bench::kNoopValue;
using bench::kProcEcho;
using bench::kProcNoop;

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "core-server: %s\nusage: core-server --socket PATH [--workers N] [--max-requests N] [--busy-poll-us N]\n"
               "                   [--max-clients N] [--event-backend epoll|poll]\n",
               why.c_str());
  std::exit(2);
}

long ParseInt(const std::string& flag, const char* s, long lo, long hi) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) Usage("bad value for " + flag);
  return v;
}

// As Node does at start: the soft RLIMIT_NOFILE raised to the hard one, so
// the "idle" workload's thousands of clients fit (raising the hard limit is
// the administrator's job).
void RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

// Bytes malloc has handed out and not taken back, all arenas: with VmRSS,
// what an idle client costs (bench/run.js).
uint64_t HeapBytesInUse() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  return mallinfo2().uordblks;
#else
  return 0;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  xdrd::ServerOptions options;  // the core's defaults, as the addon's
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage("missing value for " + flag);
    const char* v = argv[++i];
    if (flag == "--socket") path = v;
    else if (flag == "--workers") options.workers = static_cast<int>(ParseInt(flag, v, 1, 1024));
    else if (flag == "--max-requests")
      options.max_requests_per_client = static_cast<uint32_t>(ParseInt(flag, v, 1, 1 << 20));
    else if (flag == "--busy-poll-us")
      options.busy_poll_us = static_cast<uint32_t>(ParseInt(flag, v, 0, 1000000));
    else if (flag == "--max-clients")
      options.max_clients = static_cast<uint32_t>(ParseInt(flag, v, 1, 1 << 24));
    else if (flag == "--event-backend") {
      if (!xdrd::ParseEventBackend(v, &options.event_backend)) Usage("--event-backend takes epoll or poll");
    }
    else Usage("unknown flag " + flag);
  }
  if (path.empty()) Usage("--socket is required");
  RaiseFdLimit();
  // A peer that hangs up must not kill us; the core also sends with
  // MSG_NOSIGNAL, this covers any other write.
  signal(SIGPIPE, SIG_IGN);

  xdrd::Server server(options);
  // Both handlers answer at once and never block: quick (server.h).
  const xdrd::HandlerTraits quick{/*quick=*/true};
  server.Handle(kBenchProgram, kBenchVersion, kProcNoop,
                [](xdrd::Call call) { call.Reply(kNoopValue, sizeof kNoopValue); }, quick);
  server.Handle(kBenchProgram, kBenchVersion, kProcEcho, [](xdrd::Call call) {
    const uint8_t* body = call.body();
    const size_t n = call.body_size();
    if (!IsOneOpaque(body, n)) {
      call.ReplyError(xdrd::PayloadDecodeError());
      return;
    }
    call.Reply(body, n);
  }, quick);

  xdrd::ListenSocket listener = server.ListenUnix(path, 0600);
  if (!listener.ok()) {
    std::fprintf(stderr, "core-server: %s\n", listener.message.c_str());
    return 1;
  }
  std::string error;
  if (!server.Start(&error)) {
    std::fprintf(stderr, "core-server: start: %s\n", error.c_str());
    return 1;
  }
  std::printf("{\"ready\":true,\"pid\":%d,\"settings\":{\"workers\":%d,\"maxRequestsPerClient\":%u,"
              "\"maxClients\":%u,\"eventBackend\":\"%s\"}}\n",
              static_cast<int>(getpid()), options.workers, options.max_requests_per_client, options.max_clients,
              xdrd::EventBackendName(server.event_backend()));
  std::fflush(stdout);

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit") break;
    if (line == "stats") {
      const xdrd::ServerCounters k = server.Counters();
      std::printf("{\"callsReceived\":%" PRIu64 ",\"repliesWritten\":%" PRIu64 ",\"clientsThrottled\":%" PRIu64
                  ",\"bytesRead\":%" PRIu64 ",\"bytesWritten\":%" PRIu64 ",\"clientsLive\":%" PRIu64
                  ",\"heapBytes\":%" PRIu64 "}\n",
                  k.calls_received, k.replies_written, k.clients_throttled, k.bytes_read, k.bytes_written,
                  k.clients_live, HeapBytesInUse());
      std::fflush(stdout);
    }
  }
  server.Stop();
  return 0;
}
