// api_types.h — the values the application and the server exchange:
// options, client notices, log records, requests about one client, the
// result of a shutdown. Plain values; no threads of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "loop/event_backend.h"
#include "net/peer.h"
#include "wire/wire.h"

namespace xdrd {

enum class CloseReason : uint8_t {
  kNone = 0,
  kEof,          // the peer closed
  kIoError,      // read or write failed
  kProtocol,     // an unframeable stream or an undecodable header
  kServerClose,  // the server is stopping
  kKeepalive,    // no traffic for keepalive interval x (count + 1)
  kFrameTimeout, // a frame started and not finished in time
  kSendQueue,    // its unsent frames passed the per-client bound (it does not read)
  kLimit,        // it announced a frame larger than max_message_bytes
  kHandler,      // the application closed it (Server::ControlClient)
  kDenied,       // the application's authorization refused it
};

const char* CloseReasonName(CloseReason r);

// A record of what the loop dropped, refused or paused.
struct LogRecord {
  uint64_t client_id = 0;  // the client it concerns; 0: the server itself
  std::string message;
};

// A client arrived or left. Delivered in batches, in the order they
// happened: a client's connect before anything else about it, its
// disconnect last.
struct ClientNotice {
  enum class Kind : uint8_t { kConnect, kDisconnect };
  Kind kind = Kind::kConnect;
  uint64_t client_id = 0;
  PeerInfo peer;                              // kConnect
  CloseReason reason = CloseReason::kNone;    // kDisconnect
};

// Per-listener settings.
struct ListenerOptions {
  // Passed to the client (PeerInfo::read_only) for the application to
  // enforce; the core itself treats read-only clients like any other.
  bool read_only = false;
};

// What the application may ask of a client by id (Server::ControlClient).
struct ClientControl {
  enum class Kind : uint8_t { kAuthorize, kClose, kKeepalive, kEvent };
  Kind kind = Kind::kClose;
  bool allow = false;         // kAuthorize
  bool after_writes = false;  // kClose: let what is already queued be written first
  uint32_t keepalive_interval_ms = 0, keepalive_count = 0;  // kKeepalive
  // kEvent: a MESSAGE frame with this header's prog, vers, proc and serial
  // (0 unless the application says otherwise: libvirtd's events carry 1),
  // status OK, and this XDR-encoded body.
  uint32_t prog = 0, vers = 0;
  int32_t proc = 0;
  uint32_t serial = 0;
  std::vector<uint8_t> body;
};

struct ServerOptions {
  int workers = 5;  // libvirtd's min_workers
  // Calls a client may have outstanding (read and not yet answered on the
  // wire). At the limit its socket is not read until a reply is written, so
  // the kernel pushes back on the sender. libvirtd's max_client_requests.
  uint32_t max_requests_per_client = 5;
  uint32_t max_message_bytes = kDefaultMaxMessageBytes;
  int listen_backlog = 512;
  // Connected clients at most; at the limit accepting pauses (connections
  // wait in the kernel's backlog) and resumes when one leaves.
  // libvirtd's max_clients.
  uint32_t max_clients = 5000;
  // Unsent bytes one client may have queued; past it the client is closed
  // (it is not reading). At least one full message always fits.
  size_t max_send_queue_bytes = 64u << 20;
  // Bytes held in receive and send buffers, summed over all clients. At the
  // bound no client is read (it is "starved") until the sum falls below
  // three quarters of it; a starved client's half-read frame still times
  // out, so the bound cannot wedge the server. Counts bytes held; vector
  // capacity adds at most as much again plus 4 KiB per client.
  size_t max_buffered_bytes = 256u << 20;
  // Bytes read from one client per turn before the loop moves on, so one
  // busy client cannot starve the others.
  size_t read_budget_bytes = 256 * 1024;
  // A frame started and not finished within this closes its client (the
  // clock stops while the server itself is not reading the client).
  uint32_t frame_timeout_ms = 30000;
  // Log sink for what the loop drops or refuses. Called on the loop thread
  // with no lock held, at most `log_burst` times per second; the rest are
  // counted in ServerCounters::log_suppressed. Null: no logging.
  std::function<void(const LogRecord&)> log;
  int log_burst = 10;
  // Client arrivals and departures, in batches, on the loop thread with no
  // lock held. Null: none.
  std::function<void(std::vector<ClientNotice>&)> on_clients;
  // When set, a new client is not read until ControlClient(kAuthorize)
  // settles it: allowed, it is read; denied, it is closed (kDenied)
  // without a byte of it read.
  bool require_authorization = false;
  // Clients accepted and not yet authorized, at most; at the bound
  // accepting pauses, as at max_clients. libvirtd's max_anonymous_clients.
  uint32_t max_unauthenticated_clients = 20;
  // After a turn of the event loop that did something, the loop thread
  // polls without sleeping for up to this many microseconds before it
  // sleeps in poll(), but only while no runnable thread waits for a core
  // (idle_core.h). A reply or a call that arrives meanwhile is taken
  // without a wake-up of the loop thread (about 12 us each on a VM).
  // 0: never spin.
  uint32_t busy_poll_us = 50;
  // What the loop thread waits in: epoll (a turn costs the ready
  // descriptors) or poll() (every watched one; kept as the reference). The
  // environment variable XDRD_EVENT_BACKEND=epoll|poll overrides this (the
  // test suites run on both that way); any other value of it makes Start()
  // fail with a message naming it.
  EventBackend event_backend = kDefaultEventBackend;
};

// What a shutdown did; a second Shutdown()/Stop() returns the first's.
struct ShutdownResult {
  bool drained = false;          // every call answered and written before the deadline
  uint64_t calls_cancelled = 0;  // answered with the shutdown error at the deadline
  uint64_t clients_closed = 0;   // connections closed at the end
};

}  // namespace xdrd
