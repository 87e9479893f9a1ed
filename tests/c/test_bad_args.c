/* Every function with NULL and garbage arguments, output structs pre-filled
 * with junk: each call returns an error status and never crashes. run.sh
 * runs this with GOGC=1 (the collector runs all the time) and against a
 * GOEXPERIMENT=cgocheck2 build. */
#include "harness.h"

static const h_spec ONE = {1, {"l"}, {"id"}, {0}};

static struct ArrowArrayStream* junk_stream(void) {
  return (struct ArrowArrayStream*)h_junk(sizeof(struct ArrowArrayStream));
}

static kalam_db* junk_db(void) { return (kalam_db*)h_junk(64); }

static void one_batch_stream(struct ArrowArrayStream* s) {
  int64_t v[2] = {1, 2};
  struct ArrowArray* c[1] = {h_col_int64(v, NULL, 2)};
  struct ArrowArray* b[1] = {h_batch(2, 1, c)};
  h_stream(s, &ONE, b, 1, 0);
}

static void test_version(void) {
  CHECK(strcmp(kalam_version_string(), "0.1.0") == 0);
  CHECK(kalam_version_string() == kalam_version_string());
  CHECK(kalam_abi_version() == KALAM_ABI_VERSION);
  CHECK(KALAM_VERSION_NUMBER == 100);
}

static void test_errors_and_free(void) {
  kalam_error_release(NULL);
  kalam_error zero = {0};
  kalam_error_release(&zero);
  kalam_error_release(&zero);
  kalam_error* junk = (kalam_error*)h_junk(sizeof(kalam_error));
  kalam_error_release(junk); /* a struct libkalam never filled: not called, zeroed */
  CHECK(junk->release == NULL && junk->message == NULL);
  free(junk);
  kalam_free(NULL);

  /* A filled error, released twice. */
  kalam_error err;
  memset(&err, 0xAB, sizeof err);
  CHECK(kalam_close(NULL, &err) == KALAM_INVALID_ARGUMENT);
  CHECK(err.code == KALAM_INVALID_ARGUMENT && err.message && strstr(err.message, "db is NULL"));
  kalam_error_release(&err);
  kalam_error_release(&err);
  CHECK(err.message == NULL && err.release == NULL);

  /* err == NULL is allowed everywhere. */
  CHECK(kalam_close(NULL, NULL) == KALAM_INVALID_ARGUMENT);
  CHECK(kalam_open(NULL, NULL, NULL, NULL) == KALAM_INVALID_ARGUMENT);
  CHECK(kalam_stream_error(NULL, NULL) == KALAM_INVALID_ARGUMENT);
}

static void test_open_arguments(void) {
  kalam_error err;
  memset(&err, 0xAB, sizeof err); /* the library overwrites it, never reads it */
  char* dir = h_tempdir();
  kalam_db* db = junk_db();
  kalam_db* const junk = db;

  EXPECT(KALAM_INVALID_ARGUMENT, "out is NULL", kalam_open(dir, NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "root is NULL", kalam_open(NULL, NULL, &db, &err));
  CHECK(db == NULL);
  EXPECT(KALAM_INVALID_ARGUMENT, "root is empty", kalam_open("", NULL, &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"bogus\"", kalam_open(dir, "{\"bogus\": true}", &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"read_only\"", kalam_open(dir, "{\"read_only\": 1}", &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"node_id\"", kalam_open(dir, "{\"node_id\": 5000}", &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"max_concurrent_scans\"",
         kalam_open(dir, "{\"max_concurrent_scans\": 1.5}", &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"session_id\"", kalam_open(dir, "{\"session_id\": 7}", &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "JSON object", kalam_open(dir, "[1, 2]", &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "invalid JSON", kalam_open(dir, "{\"read_only\": ", &db, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "trailing", kalam_open(dir, "{} {}", &db, &err));
  CHECK(db == NULL);
  free(junk);

  /* A file where a directory should be. */
  char path[512];
  snprintf(path, sizeof path, "%s/file", dir);
  FILE* f = fopen(path, "w");
  fputs("x", f);
  fclose(f);
  kalam_status st = kalam_open(path, NULL, &db, &err);
  CHECKF(st != KALAM_OK && db == NULL, "open on a file: %d", st);
  kalam_error_release(&err);

  /* Not there and not to be created. */
  snprintf(path, sizeof path, "%s/absent", dir);
  st = kalam_open(path, "{\"create_if_missing\": false}", &db, &err);
  CHECKF(st != KALAM_OK && db == NULL, "create_if_missing=false: %d", st);
  kalam_error_release(&err);

  /* JSON null and empty options mean defaults. */
  OK(kalam_open(dir, "null", &db, &err));
  OK(kalam_close(db, &err));
  OK(kalam_open(dir, "  ", &db, &err));
  OK(kalam_close(db, &err));
  free(dir);
}

static void test_handles(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  kalam_db* junk = junk_db();
  struct ArrowArrayStream* out = junk_stream();
  struct ArrowSchema* sout = (struct ArrowSchema*)h_junk(sizeof(struct ArrowSchema));
  char* str = (char*)junk;
  int64_t n = 77;

  /* NULL db: INVALID_ARGUMENT; junk db: CLOSED; outputs cleared either way. */
  kalam_db* dbs[2] = {NULL, junk};
  kalam_status want[2] = {KALAM_INVALID_ARGUMENT, KALAM_CLOSED};
  for (int i = 0; i < 2; i++) {
    kalam_db* d = dbs[i];
    kalam_status w = want[i];
    EXPECT(w, NULL, kalam_close(d, &err));
    EXPECT(w, NULL, kalam_create_namespace(d, "ns", &err));
    EXPECT(w, NULL, kalam_drop_table(d, "t", &err));
    memset(sout, 0xAB, sizeof *sout);
    EXPECT(w, NULL, kalam_table_schema(d, "t", sout, &err));
    CHECK(sout->release == NULL);
    memset(out, 0xAB, sizeof *out);
    EXPECT(w, NULL, kalam_scan(d, "t", NULL, out, &err));
    CHECK(out->release == NULL);
    memset(out, 0xAB, sizeof *out);
    EXPECT(w, NULL, kalam_scan_segment(d, "t", "s", NULL, out, &err));
    CHECK(out->release == NULL);
    memset(out, 0xAB, sizeof *out);
    EXPECT(w, NULL, kalam_system_table(d, "tables", out, &err));
    CHECK(out->release == NULL);
    str = (char*)junk;
    EXPECT(w, NULL, kalam_explain(d, "t", NULL, &str, &err));
    CHECK(str == NULL);
    str = (char*)junk;
    EXPECT(w, NULL, kalam_manifest_json(d, "t", &str, &err));
    CHECK(str == NULL);
    str = (char*)junk;
    EXPECT(w, NULL, kalam_flush(d, "t", &str, &err));
    CHECK(str == NULL);

    /* Consumed arguments are released even when the handle is bad. */
    struct ArrowSchema schema;
    h_schema_from_spec(&ONE, &schema);
    EXPECT(w, NULL, kalam_create_table(d, "t", NULL, &schema, NULL, &err));
    CHECK(schema.release == NULL);
    struct ArrowArrayStream in;
    one_batch_stream(&in);
    n = 77;
    EXPECT(w, NULL, kalam_append(d, "t", &in, &n, &err));
    CHECK(in.release == NULL && h_producers_live == 0 && n == 0);
    one_batch_stream(&in);
    n = 77;
    EXPECT(w, NULL, kalam_delete(d, "t", &in, &n, &err));
    CHECK(in.release == NULL && h_producers_live == 0 && n == 0);
  }

  /* NULL names and outputs on a good handle. */
  EXPECT(KALAM_INVALID_ARGUMENT, "ns is NULL", kalam_create_namespace(db, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_drop_table(db, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_table_schema(db, NULL, sout, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "out is NULL", kalam_table_schema(db, "t", NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_scan(db, NULL, NULL, out, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "out is NULL", kalam_scan(db, "t", NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "segment_id is NULL", kalam_scan_segment(db, "t", NULL, NULL, out, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "out is NULL", kalam_scan_segment(db, "t", "s", NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "name is NULL", kalam_system_table(db, NULL, out, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "out is NULL", kalam_system_table(db, "tables", NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "plan_json is NULL", kalam_explain(db, "t", NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "json is NULL", kalam_manifest_json(db, "t", NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_flush(db, NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "NULL", kalam_append(db, "t", NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "NULL", kalam_delete(db, "t", NULL, NULL, &err));

  /* Bad names. */
  EXPECT(KALAM_INVALID_ARGUMENT, "../etc", kalam_create_namespace(db, "../etc", &err));
  EXPECT(KALAM_INVALID_ARGUMENT, NULL, kalam_create_namespace(db, "", &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "system", kalam_create_namespace(db, "system", &err));
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_system_table(db, "nope", out, &err));
  EXPECT(KALAM_NOT_FOUND, NULL, kalam_flush(db, "t", NULL, &err));

  /* The handle still works. */
  OK(kalam_create_namespace(db, "ok", &err));
  OK(kalam_close(db, &err));
  EXPECT(KALAM_CLOSED, NULL, kalam_close(db, &err));
  EXPECT(KALAM_CLOSED, NULL, kalam_create_namespace(db, "again", &err));
  free(out);
  free(sout);
  free(junk);
  free(dir);
}

static void test_create_table_arguments(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  struct ArrowSchema s;

  EXPECT(KALAM_INVALID_ARGUMENT, "schema is NULL", kalam_create_table(db, "t", NULL, NULL, NULL, &err));
  h_schema_from_spec(&ONE, &s);
  s.release(&s);
  EXPECT(KALAM_INVALID_ARGUMENT, "released", kalam_create_table(db, "t", NULL, &s, NULL, &err));

  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_create_table(db, NULL, NULL, &s, NULL, &err));
  CHECK(s.release == NULL);

  static const h_spec BADFMT = {2, {"l", "!!"}, {"id", "weird"}, {0, 0}};
  h_schema_from_spec(&BADFMT, &s);
  EXPECT(KALAM_INVALID_ARGUMENT, "schema", kalam_create_table(db, "t", NULL, &s, NULL, &err));
  CHECK(s.release == NULL);

  h_schema_from_spec(&ONE, &s);
  free((void*)s.children[0]->format);
  s.children[0]->format = NULL;
  EXPECT(KALAM_INVALID_ARGUMENT, "field 0 \"id\": format is NULL", kalam_create_table(db, "t", NULL, &s, NULL, &err));
  CHECK(s.release == NULL);

  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_INVALID_ARGUMENT, "\"primary_key\"",
         kalam_create_table(db, "t", NULL, &s, "{\"primary_key\": [\"id\"]}", &err));
  CHECK(s.release == NULL);
  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_INVALID_ARGUMENT, "\"flush_rows\"", kalam_create_table(db, "t", NULL, &s, "{\"flush_rows\": null}", &err));
  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_INVALID_ARGUMENT, "must be a JSON object", kalam_create_table(db, "t", NULL, &s, "primary_key=id", &err));
  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_INVALID_ARGUMENT, "stream", kalam_create_table(db, "t", "stream", &s, NULL, &err));
  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_INVALID_ARGUMENT, "no_such_col", kalam_create_table(db, "t", NULL, &s, "{\"primary_key\": \"no_such_col\"}", &err));
  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_NOT_FOUND, "nons", kalam_create_table(db, "nons.t", NULL, &s, NULL, &err));
  CHECK(s.release == NULL);

  /* And then a good one, twice. */
  h_schema_from_spec(&ONE, &s);
  OK(kalam_create_table(db, "t", NULL, &s, "{\"primary_key\": \"id\"}", &err));
  h_schema_from_spec(&ONE, &s);
  EXPECT(KALAM_ALREADY_EXISTS, "t", kalam_create_table(db, "t", NULL, &s, "{\"primary_key\": \"id\"}", &err));
  OK(kalam_close(db, &err));
  free(dir);
}

static void test_scan_options(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  struct ArrowSchema s;
  h_schema_from_spec(&ONE, &s);
  OK(kalam_create_table(db, "t", NULL, &s, NULL, &err));
  struct ArrowArrayStream* out = junk_stream();
  char* str = NULL;

  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.struct_size = 8;
  EXPECT(KALAM_INVALID_ARGUMENT, "struct_size", kalam_scan(db, "t", &o, out, &err));
  CHECK(out->release == NULL);
  EXPECT(KALAM_INVALID_ARGUMENT, "struct_size", kalam_explain(db, "t", &o, &str, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "struct_size", kalam_scan_segment(db, "t", "x", &o, out, &err));

  kalam_scan_options c = KALAM_SCAN_OPTIONS_INIT;
  c.n_columns = 2;
  EXPECT(KALAM_INVALID_ARGUMENT, "columns is NULL", kalam_scan(db, "t", &c, out, &err));
  const char* cols[2] = {"id", NULL};
  c.columns = cols;
  EXPECT(KALAM_INVALID_ARGUMENT, "columns[1] is NULL", kalam_scan(db, "t", &c, out, &err));
  c.n_columns = INT64_MAX;
  EXPECT(KALAM_INVALID_ARGUMENT, "n_columns", kalam_scan(db, "t", &c, out, &err));
  CHECK(out->release == NULL);

  /* A larger struct_size (a newer header) is accepted. */
  kalam_scan_options big = KALAM_SCAN_OPTIONS_INIT;
  big.struct_size = 4096;
  OK(kalam_scan(db, "t", &big, out, &err));
  CHECK(out->release != NULL);

  /* kalam_stream_error on streams that are not libkalam's. */
  OK(kalam_stream_error(out, &err));
  out->release(out);
  EXPECT(KALAM_INVALID_ARGUMENT, "released", kalam_stream_error(out, &err));
  memset(out, 0xAB, sizeof *out);
  EXPECT(KALAM_INVALID_ARGUMENT, "not created by libkalam", kalam_stream_error(out, &err));
  struct ArrowArrayStream host;
  one_batch_stream(&host);
  EXPECT(KALAM_INVALID_ARGUMENT, "not created by libkalam", kalam_stream_error(&host, &err));
  host.release(&host);

  /* A host stream without callbacks is refused, and still consumed. */
  struct ArrowArrayStream nocb;
  one_batch_stream(&nocb);
  nocb.get_next = NULL;
  EXPECT(KALAM_INVALID_ARGUMENT, "NULL get_schema or get_next", kalam_append(db, "t", &nocb, NULL, &err));
  CHECK(nocb.release == NULL && h_producers_live == 0);

  /* get_next and get_schema with NULL outputs are EINVAL. */
  OK(kalam_scan(db, "t", NULL, out, &err));
  CHECK(out->get_next(out, NULL) == EINVAL);
  CHECK(out->get_schema(out, NULL) == EINVAL);
  out->release(out);

  OK(kalam_close(db, &err));
  free(out);
  free(dir);
}

/* Many short-lived handles, streams and errors while GOGC=1 keeps the
 * collector busy: nothing the host holds may point into the Go heap. */
static void test_churn(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  for (int round = 0; round < 5; round++) {
    kalam_db* db = NULL;
    OK(kalam_open(dir, NULL, &db, &err));
    for (int i = 0; i < 20; i++) {
      struct ArrowArrayStream s;
      OK(kalam_system_table(db, "system.tables", &s, &err));
      static h_result r;
      h_collect(&s, &r);
      s.release(&s);
      CHECK(r.rows >= 5);
      h_result_free(&r);
      EXPECT(KALAM_NOT_FOUND, NULL, kalam_scan(db, "missing", NULL, &s, &err));
    }
    OK(kalam_close(db, &err));
  }
  free(dir);
}

int main(void) {
  RUN(test_version);
  RUN(test_errors_and_free);
  RUN(test_open_arguments);
  RUN(test_handles);
  RUN(test_create_table_arguments);
  RUN(test_scan_options);
  RUN(test_churn);
  return h_done("test_bad_args");
}
