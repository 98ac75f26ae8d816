{
  "targets": [
    {
      "target_name": "aedb_stat",
      "sources": ["native/stat_many.c"],
      "cflags": ["-O2", "-ffp-contract=off"],
      "xcode_settings": {"OTHER_CFLAGS": ["-O2", "-ffp-contract=off"]}
    }
  ]
}
