/* ABI evolution and table metadata: a program compiled against the first
 * kalam_scan_options (before as_of_time_ms) keeps working with this
 * library, and the library never reads past the size the program gave;
 * as_of_time_ms; kalam_table_info. */
#include <time.h>

#include "harness.h"

/* The first release's kalam_scan_options, as an old program compiled it. */
typedef struct {
  uint32_t struct_size;
  const char* const* columns;
  int64_t n_columns;
  const char* filter;
  int64_t limit;
  int64_t batch_rows;
  int64_t as_of_version;
  const char* sql;
} scan_options_v1;

static const h_spec T = {2, {"l", "u"}, {"id", "s"}, {0, ARROW_FLAG_NULLABLE}};

static kalam_db* db;

static void append_ids(const int64_t* ids, int n) {
  kalam_error err = {0};
  const char* strs[8];
  for (int i = 0; i < n; i++) strs[i] = "x";
  struct ArrowArray* cols[2] = {h_col_int64(ids, NULL, n), h_col_utf8(strs, n)};
  struct ArrowArray* b[1] = {h_batch(n, 2, cols)};
  struct ArrowArrayStream in;
  h_stream(&in, &T, b, 1, 0);
  OK(kalam_append(db, "t", &in, NULL, &err));
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_old_struct_keeps_working(void) {
  kalam_error err = {0};
  /* The old struct sits at the end of a buffer whose following bytes are a
   * "time" in 1971: a library reading past struct_size would time-travel to
   * before the table existed and fail with KALAM_NOT_FOUND. */
  unsigned char* buf = (unsigned char*)malloc(sizeof(scan_options_v1) + 16);
  scan_options_v1* o = (scan_options_v1*)buf;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof(scan_options_v1);
  o->n_columns = -1;
  o->limit = -1;
  o->filter = "id >= 2";
  int64_t junk = 31536000000LL;
  memcpy(buf + sizeof(scan_options_v1), &junk, sizeof junk);
  struct ArrowArrayStream s;
  OK(kalam_scan(db, "t", (const kalam_scan_options*)o, &s, &err));
  h_result r;
  h_collect(&s, &r);
  CHECKF(r.rows == 3, "old-size options read %" PRId64 " rows, want 3 (2, 3 and the hot 4)", r.rows);
  h_result_free(&r);
  s.release(&s);
  /* Smaller than the first release's struct: refused, naming the field. */
  o->struct_size = sizeof(scan_options_v1) - 8;
  EXPECT(KALAM_INVALID_ARGUMENT, "struct_size", kalam_scan(db, "t", (const kalam_scan_options*)o, &s, &err));
  CHECK(s.release == NULL);
  free(buf);
}

static void test_as_of_time_ms(void) {
  kalam_error err = {0};
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  struct ArrowArrayStream s;
  o.as_of_time_ms = 1000; /* 1970: before the table */
  EXPECT(KALAM_NOT_FOUND, "created at", kalam_scan(db, "t", &o, &s, &err));
  o.as_of_time_ms = now_ms() + 60000; /* the latest committed version: no hot rows */
  OK(kalam_scan(db, "t", &o, &s, &err));
  h_result r;
  h_collect(&s, &r);
  CHECKF(r.rows == 3, "as of now: %" PRId64 " rows, want the 3 flushed", r.rows);
  h_result_free(&r);
  s.release(&s);
  o.as_of_version = 2;
  EXPECT(KALAM_INVALID_ARGUMENT, "exclusive", kalam_scan(db, "t", &o, &s, &err));
}

static void test_table_info(void) {
  kalam_error err = {0};
  char* info = NULL;
  OK(kalam_table_info(db, "t", &info, &err));
  CHECKF(strstr(info, "\"key_columns\":[\"id\"]") && strstr(info, "\"hot_rows\":1") &&
             strstr(info, "\"columns\":[{\"name\":\"id\",\"field_id\":1,\"type\":\"l\",\"nullable\":false,\"key\":true,"
                          "\"names_by_schema_version\":{\"1\":\"id\"}}") &&
             strstr(info, "\"background_error\":null"),
         "table info: %s", info);
  kalam_free(info);
  /* A user table whose primary key repeats the user column lists it once. */
  struct ArrowSchema sc;
  static const h_spec U = {2, {"u", "l"}, {"user_id", "n"}, {0, 0}};
  h_schema_from_spec(&U, &sc);
  OK(kalam_create_table(db, "u", "user", &sc, "{\"primary_key\": \"user_id,n\"}", &err));
  OK(kalam_table_info(db, "u", &info, &err));
  CHECKF(strstr(info, "\"key_columns\":[\"user_id\",\"n\"]") && strstr(info, "\"user_column\":\"user_id\""), "user table info: %s", info);
  kalam_free(info);
  OK(kalam_table_info(db, "system.tables", &info, &err));
  CHECKF(strstr(info, "\"type\":\"system\""), "system table info: %s", info);
  kalam_free(info);
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_table_info(db, "nope", &info, &err));
  CHECK(info == NULL);
  EXPECT(KALAM_INVALID_ARGUMENT, "info_json", kalam_table_info(db, "t", NULL, &err));
}

static void test_bad_options_refused_at_create(void) {
  kalam_error err = {0};
  struct ArrowSchema sc;
  h_schema_from_spec(&T, &sc);
  EXPECT(KALAM_INVALID_ARGUMENT, "auto_compact_segments",
         kalam_create_table(db, "b", NULL, &sc, "{\"primary_key\": \"id\", \"auto_compact_segments\": -3}", &err));
  CHECK(sc.release == NULL);
}

int main(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  OK(kalam_open(dir, NULL, &db, &err));
  struct ArrowSchema sc;
  h_schema_from_spec(&T, &sc);
  OK(kalam_create_table(db, "t", NULL, &sc, "{\"primary_key\": \"id\"}", &err));
  int64_t ids[3] = {1, 2, 3};
  append_ids(ids, 3);
  OK(kalam_flush(db, "t", NULL, &err));
  int64_t more[1] = {4};
  append_ids(more, 1);
  RUN(test_old_struct_keeps_working);
  RUN(test_as_of_time_ms);
  RUN(test_table_info);
  RUN(test_bad_options_refused_at_create);
  OK(kalam_close(db, &err));
  free(dir);
  return h_done("test_abi_compat");
}
