{
  "targets": [
    {
      "target_name": "srtp",
      "sources": ["srtp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "defines": ["OPENSSL_SUPPRESS_DEPRECATED"],
      "libraries": [],
      "conditions": [
        ["OS=='mac'", { "xcode_settings": { "OTHER_CFLAGS": ["-Wno-deprecated-declarations"] } }]
      ]
    }
  ]
}
