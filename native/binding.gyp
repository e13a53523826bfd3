{
  "targets": [
    {
      "target_name": "sentinel",
      "sources": [
        "src/addon.c",
        "src/common.c",
        "src/objects.c",
        "src/attach.c",
        "src/maps.c",
        "src/ring.c",
        "src/misc.c",
        "src/readers.c",
        "src/replay.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
