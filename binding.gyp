{
  "targets": [
    {
      "target_name": "xdrd",
      "sources": [
        "native/core/base/lock.cc",
        "native/core/base/live_counts.cc",
        "native/core/base/buffer_pool.cc",
        "native/core/base/idle_core.cc",
        "native/core/loop/event_loop.cc",
        "native/core/loop/poll_poller.cc",
        "native/core/loop/epoll_poller.cc",
        "native/core/wire/xdr.cc",
        "native/core/wire/wire.cc",
        "native/core/wire/frame_splitter.cc",
        "native/core/wire/decode_plan.cc",
        "native/core/net/listen_socket.cc",
        "native/core/net/peer.cc",
        "native/core/net/acceptor.cc",
        "native/core/server/api_types.cc",
        "native/core/server/outbox.cc",
        "native/core/server/connection.cc",
        "native/core/server/connection_clocks.cc",
        "native/core/server/commands.cc",
        "native/core/server/call.cc",
        "native/core/server/dispatch.cc",
        "native/core/server/server.cc",
        "native/core/server/server_commands.cc",
        "native/core/server/shutdown.cc",
        "native/addon/addon.cc",
        "native/addon/call_bridge.cc",
        "native/addon/plan_js.cc",
        "native/addon/server_wrap.cc"
      ],
      "include_dirs": ["native", "native/core"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags": ["-g1"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++1z"],
      "ldflags": ["-pthread"],
      "configurations": {
        "Debug": { "defines": ["XDRD_LOCK_CHECKS=1"] }
      }
    }
  ]
}
