/* Every system table (DESIGN §5): column names and Arrow format strings,
 * and values that follow from what the test did. */
#include <time.h>

#include "harness.h"

static const h_spec EVENTS = {2, {"l", "u"}, {"id", "kind"}, {0, ARROW_FLAG_NULLABLE}};
static const h_spec USERS = {2, {"u", "l"}, {"user_id", "score"}, {0, ARROW_FLAG_NULLABLE}};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void read_system(kalam_db* db, const char* name, h_result* r) {
  kalam_error err = {0};
  struct ArrowArrayStream* s = (struct ArrowArrayStream*)h_junk(sizeof *s);
  OK(kalam_system_table(db, name, s, &err));
  h_collect(s, r);
  s->release(s);
  free(s);
}

static void str_at(const h_result* r, const char* col, int64_t row, char* buf, size_t cap) {
  h_str(r, h_col(r, col), row, buf, cap);
}

/* The row whose columns a and b hold va and vb, or -1. */
static int64_t find2(const h_result* r, const char* a, const char* va, const char* b, const char* vb) {
  char x[4096], y[4096];
  for (int64_t row = 0; row < r->rows; row++) {
    str_at(r, a, row, x, sizeof x);
    str_at(r, b, row, y, sizeof y);
    if (strcmp(x, va) == 0 && strcmp(y, vb) == 0) return row;
  }
  return -1;
}

static void test_system_tables(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  int64_t t0 = now_ms();
  OK(kalam_open(dir, "{\"session_id\": \"c-system\"}", &db, &err));
  OK(kalam_create_namespace(db, "app", &err));
  struct ArrowSchema s;
  h_schema_from_spec(&EVENTS, &s);
  OK(kalam_create_table(db, "app.events", NULL, &s, "{\"primary_key\": \"id\", \"compression\": \"zstd\"}", &err));
  h_schema_from_spec(&USERS, &s);
  OK(kalam_create_table(db, "app.users", "user", &s, NULL, &err));

  int64_t ids[3] = {3, 1, 2};
  const char* kinds[3] = {"c", "a", NULL};
  struct ArrowArray* cols[2] = {h_col_int64(ids, NULL, 3), h_col_utf8(kinds, 3)};
  struct ArrowArray* b[1] = {h_batch(3, 2, cols)};
  struct ArrowArrayStream in;
  h_stream(&in, &EVENTS, b, 1, 0);
  OK(kalam_append(db, "app.events", &in, NULL, &err));
  char* seg = NULL;
  OK(kalam_flush(db, "app.events", &seg, &err));
  CHECK(seg != NULL);
  int64_t t1 = now_ms();

  static h_result r;
  char buf[4096];

  /* system.tables */
  read_system(db, "system.tables", &r);
  h_expect_columns(&r, "table_name:u,namespace:u,type:u,created_at:tsm:UTC,options:u");
  CHECKF(r.rows == 7, "system.tables has %" PRId64 " rows", r.rows);
  int64_t ev = find2(&r, "namespace", "app", "table_name", "events");
  int64_t us = find2(&r, "namespace", "app", "table_name", "users");
  CHECK(ev >= 0 && us >= 0);
  str_at(&r, "type", ev, buf, sizeof buf);
  CHECK(strcmp(buf, "shared") == 0);
  str_at(&r, "options", ev, buf, sizeof buf);
  CHECKF(strstr(buf, "\"primary_key\":\"id\"") && strstr(buf, "\"compression\":\"zstd\"") && buf[0] == '{',
         "options %s", buf);
  int64_t created = h_i64(&r, h_col(&r, "created_at"), ev);
  CHECKF(created >= t0 - 1000 && created <= t1 + 1000, "created_at %" PRId64 " not in [%" PRId64 ", %" PRId64 "]",
         created, t0, t1);
  str_at(&r, "type", us, buf, sizeof buf);
  CHECK(strcmp(buf, "user") == 0);
  const char* sys[5] = {"tables", "live_queries", "namespaces", "manifests", "segments"};
  for (int i = 0; i < 5; i++) {
    int64_t row = find2(&r, "namespace", "system", "table_name", sys[i]);
    CHECKF(row >= 0, "system.%s not listed", sys[i]);
    str_at(&r, "type", row, buf, sizeof buf);
    CHECK(strcmp(buf, "system") == 0);
  }
  h_result_free(&r);

  /* "tables" is the same table; kalam_scan takes system names too, with filters. */
  read_system(db, "tables", &r);
  CHECK(r.rows == 7);
  h_result_free(&r);
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  const char* names[1] = {"table_name"};
  o.columns = names;
  o.n_columns = 1;
  o.filter = "type = 'system'";
  struct ArrowArrayStream st;
  OK(kalam_scan(db, "system.tables", &o, &st, &err));
  h_collect(&st, &r);
  st.release(&st);
  h_expect_columns(&r, "table_name:u");
  CHECK(r.rows == 5);
  h_result_free(&r);

  /* system.namespaces */
  read_system(db, "system.namespaces", &r);
  h_expect_columns(&r, "namespace:u,created_at:tsm:UTC,table_count:L");
  int64_t app = h_find_str(&r, 0, "app"), def = h_find_str(&r, 0, "default");
  CHECK(app >= 0 && def >= 0);
  CHECKF(h_u64(&r, 2, app) == 2, "app has %" PRIu64 " tables", h_u64(&r, 2, app));
  CHECK(h_u64(&r, 2, def) == 0);
  CHECK(h_i64(&r, 1, app) >= t0 - 1000 && h_i64(&r, 1, app) <= t1 + 1000);
  h_result_free(&r);

  /* system.manifests */
  read_system(db, "system.manifests", &r);
  h_expect_columns(&r,
                   "namespace:u,table_name:u,version:L,created_at:tsm:UTC,updated_at:tsm:UTC,segment_count:L,"
                   "live_segment_count:L,last_sequence_number:L,manifest_json:u");
  CHECK(r.rows == 2);
  ev = find2(&r, "namespace", "app", "table_name", "events");
  us = find2(&r, "namespace", "app", "table_name", "users");
  CHECK(ev >= 0 && us >= 0);
  CHECKF(h_u64(&r, h_col(&r, "version"), ev) == 2, "events manifest version %" PRIu64,
         h_u64(&r, h_col(&r, "version"), ev));
  CHECK(h_u64(&r, h_col(&r, "segment_count"), ev) == 1);
  CHECK(h_u64(&r, h_col(&r, "live_segment_count"), ev) == 1);
  CHECK(h_u64(&r, h_col(&r, "last_sequence_number"), ev) == 1);
  CHECK(h_i64(&r, h_col(&r, "updated_at"), ev) >= h_i64(&r, h_col(&r, "created_at"), ev));
  str_at(&r, "manifest_json", ev, buf, sizeof buf);
  CHECKF(strstr(buf, "\"table_id\":{\"namespace_id\":\"app\",\"table_name\":\"events\"}") && strstr(buf, seg),
         "manifest_json %s", buf);
  CHECK(h_u64(&r, h_col(&r, "version"), us) == 1);
  CHECK(h_u64(&r, h_col(&r, "segment_count"), us) == 0);
  h_result_free(&r);

  /* system.segments */
  read_system(db, "system.segments", &r);
  h_expect_columns(&r,
                   "namespace:u,table_name:u,id:u,path:u,min_key:z,max_key:z,row_count:L,size_bytes:L,"
                   "created_at:tsm:UTC,tombstone:b,min_seq:l,max_seq:l");
  CHECK(r.rows == 1);
  str_at(&r, "id", 0, buf, sizeof buf);
  CHECK(strcmp(buf, seg) == 0);
  str_at(&r, "path", 0, buf, sizeof buf);
  CHECK(strcmp(buf, "data/segment_001.parquet") == 0);
  str_at(&r, "table_name", 0, buf, sizeof buf);
  CHECK(strcmp(buf, "events") == 0);
  CHECK(h_u64(&r, h_col(&r, "row_count"), 0) == 3);
  CHECK(h_u64(&r, h_col(&r, "size_bytes"), 0) > 0);
  CHECK(!h_bool(&r, h_col(&r, "tombstone"), 0));
  CHECK(!h_is_null(&r, h_col(&r, "min_key"), 0) && !h_is_null(&r, h_col(&r, "max_key"), 0));
  char lo[64], hi[64];
  int64_t nlo = h_str(&r, h_col(&r, "min_key"), 0, lo, sizeof lo);
  int64_t nhi = h_str(&r, h_col(&r, "max_key"), 0, hi, sizeof hi);
  CHECK(nlo > 0 && nhi > 0 && memcmp(lo, hi, (size_t)(nlo < nhi ? nlo : nhi)) < 0);
  int64_t min_seq = h_i64(&r, h_col(&r, "min_seq"), 0), max_seq = h_i64(&r, h_col(&r, "max_seq"), 0);
  CHECKF(min_seq > 0 && min_seq < max_seq, "seq range %" PRId64 "..%" PRId64, min_seq, max_seq);
  h_result_free(&r);

  /* system.live_queries: this scan sees itself. */
  read_system(db, "system.live_queries", &r);
  h_expect_columns(&r, "query_id:u,session_id:u,sql:u,start_time:tsm:UTC,duration_ms:L,state:u");
  CHECK(r.rows == 1);
  str_at(&r, "session_id", 0, buf, sizeof buf);
  CHECK(strcmp(buf, "c-system") == 0);
  str_at(&r, "state", 0, buf, sizeof buf);
  CHECK(strcmp(buf, "Running") == 0);
  str_at(&r, "sql", 0, buf, sizeof buf);
  CHECKF(strstr(buf, "system.live_queries") != NULL, "sql %s", buf);
  str_at(&r, "query_id", 0, buf, sizeof buf);
  CHECK(strlen(buf) == 36);
  h_result_free(&r);

  /* System tables are read-only and exact names only. */
  struct ArrowArrayStream bad;
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_system_table(db, "system.nope", &bad, &err));
  CHECK(bad.release == NULL);
  kalam_status stt = kalam_drop_table(db, "system.tables", &err);
  CHECKF(stt != KALAM_OK, "dropping a system table: %d", stt);
  kalam_error_release(&err);

  kalam_free(seg);
  OK(kalam_close(db, &err));
  free(dir);
}

int main(void) {
  RUN(test_system_tables);
  return h_done("test_system_tables");
}
