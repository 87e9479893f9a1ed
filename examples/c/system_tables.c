/* Prints every system table of a store.
 *
 *   system_tables ROOT
 *
 * Build: cc system_tables.c $(pkg-config --cflags --libs kalam) -Wl,-rpath,"$(pkg-config --variable=libdir kalam)"
 *   (the rpath lets the program find libkalam at run time; or set LD_LIBRARY_PATH) */
#include <stdio.h>

#include <kalam.h>

#include "arrow_print.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ROOT\n", argv[0]);
    return 2;
  }
  printf("libkalam %s (ABI %d)\n", kalam_version_string(), kalam_abi_version());
  kalam_error err = {0};
  kalam_db* db = NULL;
  if (kalam_open(argv[1], "{\"create_if_missing\": false}", &db, &err) != KALAM_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    kalam_error_release(&err);
    return 1;
  }
  static const char* const names[] = {"system.tables", "system.namespaces", "system.manifests",
                                      "system.segments", "system.live_queries"};
  int status = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    printf("\n== %s\n", names[i]);
    struct ArrowArrayStream stream;
    if (kalam_system_table(db, names[i], &stream, &err) != KALAM_OK) {
      fprintf(stderr, "%s: %s\n", names[i], err.message);
      kalam_error_release(&err);
      status = 1;
      continue;
    }
    if (print_stream(stdout, &stream) != 0) {
      fprintf(stderr, "%s: %s\n", names[i], stream.get_last_error(&stream));
      status = 1;
    }
    stream.release(&stream);
  }
  kalam_close(db, NULL);
  return status;
}
