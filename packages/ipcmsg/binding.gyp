{
  "targets": [
    {
      "target_name": "ipcmsg",
      "sources": ["native/addon.c", "native/channel.c", "native/posix.c", "native/watch.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
