{
  "targets": [
    {
      "target_name": "xdrd",
      "sources": [
        "native/core/event_loop.cc",
        "native/core/lock.cc",
        "native/core/xdr.cc",
        "native/core/wire.cc",
        "native/core/buffer_pool.cc",
        "native/core/frame_splitter.cc",
        "native/core/idle_core.cc",
        "native/core/listen_socket.cc",
        "native/core/live_counts.cc",
        "native/core/client.cc",
        "native/core/completion_queue.cc",
        "native/core/call.cc",
        "native/core/server.cc",
        "native/addon/addon.cc",
        "native/addon/call_bridge.cc",
        "native/addon/server_wrap.cc"
      ],
      "include_dirs": ["native"],
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
