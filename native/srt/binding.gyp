{
  "targets": [
    {
      "target_name": "srt_server",
      "sources": ["srt_server.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags-only-other srt 2>/dev/null || true)"],
      "include_dirs": ["<!@(pkg-config --variable=includedir srt 2>/dev/null || echo /usr/include)"],
      "libraries": ["<!@(pkg-config --libs srt 2>/dev/null || echo -lsrt-gnutls)", "-lpthread"]
    }
  ]
}
