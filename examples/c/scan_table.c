/* Scans a table and prints its rows.
 *
 *   scan_table ROOT TABLE [FILTER]
 *
 * e.g. scan_table ./demo-data demo.readings "value > 20"
 * Build: cc scan_table.c $(pkg-config --cflags --libs kalam) -Wl,-rpath,"$(pkg-config --variable=libdir kalam)"
 *   (the rpath lets the program find libkalam at run time; or set LD_LIBRARY_PATH) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <kalam.h>

#include "arrow_print.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s ROOT TABLE [FILTER]\n", argv[0]);
    return 2;
  }
  kalam_error err = {0};
  kalam_db* db = NULL;
  if (kalam_open(argv[1], "{\"create_if_missing\": false}", &db, &err) != KALAM_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    kalam_error_release(&err);
    return 1;
  }

  kalam_scan_options opts = KALAM_SCAN_OPTIONS_INIT;
  opts.filter = argc > 3 ? argv[3] : NULL;
  opts.sql = "examples/c/scan_table";
  struct ArrowArrayStream stream;
  int status = 0;
  if (kalam_scan(db, argv[2], &opts, &stream, &err) != KALAM_OK) {
    fprintf(stderr, "scan: %s\n", err.message);
    kalam_error_release(&err);
    status = 1;
  } else {
    int rc = print_stream(stdout, &stream);
    if (rc != 0) {
      /* The errno says what kind of failure; kalam_stream_error gives the status and message. */
      kalam_stream_error(&stream, &err);
      fprintf(stderr, "scan failed (errno %d, status %d): %s\n", rc, err.code, err.message);
      kalam_error_release(&err);
      status = 1;
    }
    stream.release(&stream);
  }
  kalam_close(db, NULL);
  return status;
}
