{
  "targets": [
    {
      "target_name": "weft_native",
      "sources": [
        "src/module.c",
        "src/errors.c",
        "src/args.c",
        "src/netns.c",
        "src/open_socket.c",
        "src/sockopts.c",
        "src/memory.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
