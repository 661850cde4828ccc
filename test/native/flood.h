// A connect flood for the limit tests: many clients connecting at once, each
// from its own thread, and a way to collect the answers of whichever of them
// the server took, without knowing in advance which those are.
#pragma once

#include <poll.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "rpc_client.h"
#include "test_util.h"

namespace xt {

// `n` clients connect to the UNIX socket at `path` at once: each thread
// waits at a shared gate, connects, and sends first_frame(i). Returns when
// every thread is done, the clients in index order (one that could not
// connect or send is left unconnected).
inline std::vector<RpcClient> ConnectFlood(const std::string& path, size_t n,
                                           const std::function<std::vector<uint8_t>(size_t)>& first_frame) {
  std::vector<RpcClient> clients(n);
  std::vector<std::vector<uint8_t>> frames;
  for (size_t i = 0; i < n; ++i) frames.push_back(first_frame(i));
  Latch gate(1);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      gate.Wait();
      RpcClient c = RpcClient::Unix(path);
      if (c.connected() && c.Send(frames[i])) clients[i] = std::move(c);
    });
  }
  gate.CountDown();
  for (auto& t : threads) t.join();
  return clients;
}

// Reads one frame from each client that has one, among those not yet
// answered (answered[i] < 0), until `want` have come or `limit_ms` passes
// with none coming. answered[i] becomes the frame's serial. Returns how
// many came. A client that reaches EOF instead counts as answered with -2.
inline size_t CollectAnswers(std::vector<RpcClient>& clients, std::vector<int64_t>& answered, size_t want,
                             int limit_ms) {
  size_t got = 0;
  while (got < want) {
    std::vector<pollfd> fds;
    std::vector<size_t> index;
    for (size_t i = 0; i < clients.size(); ++i) {
      if (answered[i] >= 0 || answered[i] == -2 || !clients[i].connected()) continue;
      fds.push_back(pollfd{clients[i].fd(), POLLIN, 0});
      index.push_back(i);
    }
    if (fds.empty()) break;
    int r = poll(fds.data(), fds.size(), limit_ms);
    if (r <= 0) break;
    for (size_t k = 0; k < fds.size() && got < want; ++k) {
      if (fds[k].revents == 0) continue;
      auto frame = clients[index[k]].ReadFrame(limit_ms);
      answered[index[k]] = frame.has_value() ? static_cast<int64_t>(HeaderOf(*frame).serial) : -2;
      ++got;
    }
  }
  return got;
}

}  // namespace xt
