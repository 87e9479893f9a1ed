/* Append hand-built Arrow arrays through a C stream, flush, and read them
 * back with projection, filter, limit and batch size; delete; segment scans;
 * explain and manifest; malformed input. */
#include "harness.h"

static const h_spec EVENTS = {
    5,
    {"l", "u", "g", "b", "tsm:UTC"},
    {"id", "name", "score", "ok", "ts"},
    {0, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE},
};

#define TS0 INT64_C(1700000000000)

/* Rows id = start .. start+n-1: name "<prefix>-<id>" (NULL when id % 5 == 0),
 * score id * 1.5, ok = id is even, ts = TS0 + id. */
static struct ArrowArray* events_batch(int64_t start, int n, const char* prefix) {
  int64_t ids[64] = {0}, ts[64] = {0};
  double score[64] = {0};
  int ok[64] = {0};
  char names[64][32];
  const char* name_ptrs[64];
  for (int i = 0; i < n; i++) {
    int64_t id = start + i;
    ids[i] = id;
    ts[i] = TS0 + id;
    score[i] = (double)id * 1.5;
    ok[i] = id % 2 == 0;
    snprintf(names[i], sizeof names[i], "%s-%" PRId64, prefix, id);
    name_ptrs[i] = id % 5 == 0 ? NULL : names[i];
  }
  struct ArrowArray* cols[5] = {
      h_col_int64(ids, NULL, n), h_col_utf8(name_ptrs, n), h_col_double(score, NULL, n),
      h_col_bool(ok, n),         h_col_int64(ts, NULL, n),
  };
  return h_batch(n, 5, cols);
}

static void create_events(kalam_db* db) {
  kalam_error err = {0};
  struct ArrowSchema schema;
  h_schema_from_spec(&EVENTS, &schema);
  OK(kalam_create_namespace(db, "app", &err));
  EXPECT(KALAM_ALREADY_EXISTS, "app", kalam_create_namespace(db, "app", &err));
  OK(kalam_create_table(db, "app.events", "shared", &schema,
                        "{\"primary_key\": \"id\", \"row_group_rows\": 1000, \"note\": true}", &err));
  CHECKF(schema.release == NULL, "create_table must consume the schema");
}

static void scan(kalam_db* db, const kalam_scan_options* opts, h_result* r) {
  kalam_error err = {0};
  struct ArrowArrayStream* s = (struct ArrowArrayStream*)h_junk(sizeof *s);
  OK(kalam_scan(db, "app.events", opts, s, &err));
  h_collect(s, r);
  OK(kalam_stream_error(s, &err));
  s->release(s);
  CHECK(s->release == NULL);
  free(s);
}

static int64_t row_of_id(const h_result* r, int64_t id) {
  int c = h_col(r, "id");
  for (int64_t row = 0; row < r->rows; row++)
    if (h_i64(r, c, row) == id) return row;
  return -1;
}

static void test_append_flush_scan(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, "{\"session_id\": \"c-append\"}", &db, &err));
  CHECK(db != NULL);
  create_events(db);

  /* Two batches, then a flush into a segment. */
  struct ArrowArrayStream in;
  struct ArrowArray* batches[2] = {events_batch(0, 6, "name"), events_batch(6, 6, "name")};
  h_stream(&in, &EVENTS, batches, 2, 0);
  int64_t written = -1;
  OK(kalam_append(db, "app.events", &in, &written, &err));
  CHECK(in.release == NULL && h_producers_live == 0);
  CHECKF(written == 12, "rows_written %" PRId64, written);

  char* seg = NULL;
  OK(kalam_flush(db, "app.events", &seg, &err));
  CHECK(seg != NULL && strlen(seg) == 36);
  char* none = (char*)h_junk(8);
  char* again = none;
  OK(kalam_flush(db, "app.events", &again, &err));
  CHECKF(again == NULL, "flush with nothing to flush returns a NULL segment id");
  free(none);

  /* Hot rows on top: 10 and 11 are upserts. */
  struct ArrowArray* more[1] = {events_batch(10, 5, "new")};
  h_stream(&in, &EVENTS, more, 1, 0);
  OK(kalam_append(db, "app.events", &in, NULL, &err));

  static h_result r;
  scan(db, NULL, &r);
  h_expect_columns(&r, "id:l,name:u,score:g,ok:b,ts:tsm:UTC");
  CHECKF(r.rows == 15, "rows %" PRId64, r.rows);
  for (int64_t id = 0; id < 15; id++) {
    int64_t row = row_of_id(&r, id);
    CHECKF(row >= 0, "id %" PRId64 " missing", id);
    char buf[64], want[64];
    snprintf(want, sizeof want, "%s-%" PRId64, id >= 10 ? "new" : "name", id);
    if (id % 5 == 0) {
      CHECKF(h_is_null(&r, 1, row), "name of %" PRId64 " should be NULL", id);
    } else {
      h_str(&r, 1, row, buf, sizeof buf);
      CHECKF(strcmp(buf, want) == 0, "name of %" PRId64 ": %s, want %s", id, buf, want);
    }
    CHECK(h_f64(&r, 2, row) == (double)id * 1.5);
    CHECK(h_bool(&r, 3, row) == (id % 2 == 0));
    CHECK(h_i64(&r, 4, row) == TS0 + id);
  }
  h_result_free(&r);

  /* Projection, in the asked order. */
  const char* cols[2] = {"name", "id"};
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.columns = cols;
  o.n_columns = 2;
  scan(db, &o, &r);
  h_expect_columns(&r, "name:u,id:l");
  CHECK(r.rows == 15);
  h_result_free(&r);

  /* Filter on the key, and on another column. */
  kalam_scan_options f = KALAM_SCAN_OPTIONS_INIT;
  f.filter = "id >= 5 AND id < 8";
  scan(db, &f, &r);
  CHECKF(r.rows == 3, "filtered rows %" PRId64, r.rows);
  for (int64_t id = 5; id < 8; id++) CHECK(row_of_id(&r, id) >= 0);
  h_result_free(&r);
  f.filter = "name = 'new-12' OR score > 20.5";
  scan(db, &f, &r);
  CHECKF(r.rows == 2 && row_of_id(&r, 12) >= 0 && row_of_id(&r, 14) >= 0, "rows %" PRId64, r.rows);
  h_result_free(&r);

  /* Limit and batch size. */
  kalam_scan_options l = KALAM_SCAN_OPTIONS_INIT;
  l.limit = 4;
  scan(db, &l, &r);
  CHECKF(r.rows == 4, "limit: %" PRId64, r.rows);
  h_result_free(&r);
  kalam_scan_options b = KALAM_SCAN_OPTIONS_INIT;
  b.batch_rows = 4;
  scan(db, &b, &r);
  CHECK(r.rows == 15 && r.nbatches == 4);
  for (int i = 0; i < r.nbatches; i++)
    CHECKF(r.batches[i].length == (i < 3 ? 4 : 3), "batch %d has %" PRId64 " rows", i, r.batches[i].length);
  h_result_free(&r);

  /* Zero columns: row counts only. */
  kalam_scan_options z = KALAM_SCAN_OPTIONS_INIT;
  z.n_columns = 0;
  scan(db, &z, &r);
  CHECK(r.ncols == 0 && r.rows == 15);
  h_result_free(&r);

  /* Table schema. */
  struct ArrowSchema* sc = (struct ArrowSchema*)h_junk(sizeof *sc);
  OK(kalam_table_schema(db, "app.events", sc, &err));
  CHECK(strcmp(sc->format, "+s") == 0 && sc->n_children == 5);
  CHECK(strcmp(sc->children[4]->name, "ts") == 0 && strcmp(sc->children[4]->format, "tsm:UTC") == 0);
  CHECK((sc->children[0]->flags & ARROW_FLAG_NULLABLE) == 0);
  sc->release(sc);
  free(sc);

  /* Delete by key: 99 has no row. */
  static const h_spec KEYS = {1, {"l"}, {"id"}, {0}};
  int64_t keys[3] = {1, 2, 99};
  struct ArrowArray* kcols[1] = {h_col_int64(keys, NULL, 3)};
  struct ArrowArray* kb[1] = {h_batch(3, 1, kcols)};
  h_stream(&in, &KEYS, kb, 1, 0);
  int64_t deleted = -1;
  OK(kalam_delete(db, "app.events", &in, &deleted, &err));
  CHECKF(deleted == 2, "rows_deleted %" PRId64, deleted);
  scan(db, NULL, &r);
  CHECK(r.rows == 13 && row_of_id(&r, 1) < 0 && row_of_id(&r, 2) < 0 && row_of_id(&r, 3) >= 0);
  h_result_free(&r);

  /* The segment as stored: all 12 flushed rows with _seq and _deleted. */
  struct ArrowArrayStream ss;
  OK(kalam_scan_segment(db, "app.events", seg, NULL, &ss, &err));
  h_collect(&ss, &r);
  ss.release(&ss);
  h_expect_columns(&r, "id:l,name:u,score:g,ok:b,ts:tsm:UTC,_seq:l,_deleted:b");
  CHECK(r.rows == 12);
  h_result_free(&r);
  EXPECT(KALAM_NOT_FOUND, "00000000-0000-0000-0000-000000000000",
         kalam_scan_segment(db, "app.events", "00000000-0000-0000-0000-000000000000", NULL, &ss, &err));
  CHECK(ss.release == NULL);

  /* Explain and manifest. */
  char* plan = NULL;
  OK(kalam_explain(db, "app.events", &f, &plan, &err));
  CHECKF(plan && strstr(plan, "\"table\"") && strstr(plan, "app.events") && strstr(plan, "\"merge\""), "plan %s",
         plan);
  kalam_free(plan);
  char* man = NULL;
  OK(kalam_manifest_json(db, "app.events", &man, &err));
  CHECKF(man && strstr(man, "\"segments\"") && strstr(man, "data/segment_001.parquet") && strstr(man, seg),
         "manifest %s", man);
  kalam_free(man);
  kalam_free(seg);

  /* Drop. */
  OK(kalam_drop_table(db, "app.events", &err));
  struct ArrowArrayStream gone;
  EXPECT(KALAM_NOT_FOUND, "events", kalam_scan(db, "app.events", NULL, &gone, &err));
  CHECK(gone.release == NULL);

  OK(kalam_close(db, &err));
  free(dir);
}

static void test_bad_input_is_reported(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  create_events(db);
  struct ArrowArrayStream in;

  /* An input column the table does not have. */
  static const h_spec BOGUS = {2, {"l", "l"}, {"id", "bogus"}, {0, 0}};
  int64_t v[2] = {1, 2};
  struct ArrowArray* c1[2] = {h_col_int64(v, NULL, 2), h_col_int64(v, NULL, 2)};
  struct ArrowArray* b1[1] = {h_batch(2, 2, c1)};
  h_stream(&in, &BOGUS, b1, 1, 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "bogus", kalam_append(db, "app.events", &in, NULL, &err));
  CHECK(in.release == NULL && h_producers_live == 0);

  /* A malformed array: negative length. */
  struct ArrowArray* b2[1] = {events_batch(0, 3, "x")};
  b2[0]->children[2]->length = -1;
  h_stream(&in, &EVENTS, b2, 1, 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "column \"score\": negative length", kalam_append(db, "app.events", &in, NULL, &err));
  CHECK(in.release == NULL && h_producers_live == 0);

  /* Nulls without a validity bitmap. */
  struct ArrowArray* b3[1] = {events_batch(0, 3, "x")};
  b3[0]->children[0]->null_count = 2;
  h_stream(&in, &EVENTS, b3, 1, 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "column \"id\": validity buffer is NULL",
         kalam_append(db, "app.events", &in, NULL, &err));

  /* Non-monotonic string offsets, caught by full validation. */
  struct ArrowArray* b4[1] = {events_batch(1, 4, "x")};
  ((int32_t*)b4[0]->children[1]->buffers[1])[1] = 50;
  h_stream(&in, &EVENTS, b4, 1, 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "column \"name\"", kalam_append(db, "app.events", &in, NULL, &err));

  /* Every rejected append above wrote nothing. */
  static h_result r;
  struct ArrowArrayStream out;
  OK(kalam_scan(db, "app.events", NULL, &out, &err));
  h_collect(&out, &r);
  out.release(&out);
  CHECKF(r.rows == 0, "rows %" PRId64, r.rows);
  h_result_free(&r);

  /* The host stream fails on its second get_next: each batch is committed
   * atomically, so the first one stays written and is counted. */
  struct ArrowArray* b5[2] = {events_batch(0, 3, "x"), events_batch(3, 3, "x")};
  h_stream(&in, &EVENTS, b5, 2, 2);
  int64_t written = -1;
  EXPECT(KALAM_IO, "producer failed on call 2", kalam_append(db, "app.events", &in, &written, &err));
  CHECKF(written == 3, "rows_written %" PRId64, written);
  CHECK(h_producers_live == 0);

  /* Already released, NULL. */
  EXPECT(KALAM_INVALID_ARGUMENT, "released", kalam_append(db, "app.events", &in, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "NULL", kalam_append(db, "app.events", NULL, NULL, &err));

  /* Bad scans. */
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_scan(db, "app.nope", NULL, &out, &err));
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.filter = "missing_col = 3";
  EXPECT(KALAM_INVALID_ARGUMENT, "missing_col", kalam_scan(db, "app.events", &o, &out, &err));
  o.filter = "id >>= 3";
  EXPECT(KALAM_INVALID_ARGUMENT, NULL, kalam_scan(db, "app.events", &o, &out, &err));
  const char* cols[1] = {"nah"};
  kalam_scan_options p = KALAM_SCAN_OPTIONS_INIT;
  p.columns = cols;
  p.n_columns = 1;
  EXPECT(KALAM_INVALID_ARGUMENT, "nah", kalam_scan(db, "app.events", &p, &out, &err));
  CHECK(out.release == NULL);

  /* The table holds the one committed batch. */
  OK(kalam_scan(db, "app.events", NULL, &out, &err));
  h_collect(&out, &r);
  out.release(&out);
  CHECK(r.rows == 3);
  h_result_free(&r);

  OK(kalam_close(db, &err));
  free(dir);
}

/* Narrow types that Parquet readers build on the Go heap unless the library
 * copies them to C memory: read back from a segment (under the cgocheck2
 * build, a Go pointer reaching the host fails the run). */
static struct ArrowArray* fixed_col(const void* values, size_t width, int64_t n) {
  struct ArrowArray* a = h_array_new(n, 2);
  void* buf = malloc(width * (size_t)n);
  memcpy(buf, values, width * (size_t)n);
  a->buffers[1] = buf;
  return a;
}

static void test_narrow_types_from_segments(void) {
  static const h_spec NARROW = {
      8,
      {"l", "c", "s", "i", "S", "f", "tdD", "d:10,2"},
      {"id", "i8", "i16", "i32", "u16", "f32", "day", "price"},
      {0, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE,
       ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE},
  };
  enum { N = 6 };
  int64_t id[N];
  int8_t i8[N];
  int16_t i16[N];
  int32_t i32[N], day[N];
  uint16_t u16[N];
  float f32[N];
  int64_t price[2 * N]; /* decimal128: low word, high word (little endian) */
  for (int i = 0; i < N; i++) {
    id[i] = i;
    i8[i] = (int8_t)(-100 + i);
    i16[i] = (int16_t)(-30000 + i);
    i32[i] = -2000000000 + i;
    u16[i] = (uint16_t)(60000 + i);
    f32[i] = 0.5f * (float)i;
    day[i] = 19000 + i;
    price[2 * i] = 12345 + i; /* 123.45 + i/100 */
    price[2 * i + 1] = 0;
  }
  struct ArrowArray* cols[8] = {
      fixed_col(id, 8, N),  fixed_col(i8, 1, N),  fixed_col(i16, 2, N), fixed_col(i32, 4, N),
      fixed_col(u16, 2, N), fixed_col(f32, 4, N), fixed_col(day, 4, N), fixed_col(price, 16, N),
  };
  struct ArrowArray* batches[1] = {h_batch(N, 8, cols)};

  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  struct ArrowSchema schema;
  h_schema_from_spec(&NARROW, &schema);
  OK(kalam_create_table(db, "narrow", NULL, &schema, "{\"primary_key\": \"id\"}", &err));
  struct ArrowArrayStream in;
  h_stream(&in, &NARROW, batches, 1, 0);
  OK(kalam_append(db, "narrow", &in, NULL, &err));
  char* seg = NULL;
  OK(kalam_flush(db, "narrow", &seg, &err));

  static h_result r;
  struct ArrowArrayStream s;
  OK(kalam_scan(db, "narrow", NULL, &s, &err));
  h_collect(&s, &r);
  s.release(&s);
  h_expect_columns(&r, "id:l,i8:c,i16:s,i32:i,u16:S,f32:f,day:tdD,price:d:10,2");
  CHECK(r.rows == N);
  for (int64_t row = 0; row < N; row++) {
    int64_t k;
    int64_t i = h_i64(&r, 0, row);
    CHECK(i >= 0 && i < N);
    CHECK(((const int8_t*)h_cell(&r, 1, row, &k)->buffers[1])[k] == i8[i]);
    CHECK(((const int16_t*)h_cell(&r, 2, row, &k)->buffers[1])[k] == i16[i]);
    CHECK(((const int32_t*)h_cell(&r, 3, row, &k)->buffers[1])[k] == i32[i]);
    CHECK(((const uint16_t*)h_cell(&r, 4, row, &k)->buffers[1])[k] == u16[i]);
    CHECK(((const float*)h_cell(&r, 5, row, &k)->buffers[1])[k] == f32[i]);
    CHECK(((const int32_t*)h_cell(&r, 6, row, &k)->buffers[1])[k] == day[i]);
    const int64_t* p = (const int64_t*)h_cell(&r, 7, row, &k)->buffers[1];
    CHECKF(p[2 * k] == price[2 * i] && p[2 * k + 1] == 0, "price of %" PRId64, i);
  }
  h_result_free(&r);

  /* The same through a segment scan and a filter on a narrow column. */
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.filter = "i16 >= -29998 AND day < 19005";
  OK(kalam_scan_segment(db, "narrow", seg, &o, &s, &err));
  h_collect(&s, &r);
  s.release(&s);
  CHECKF(r.rows == 3, "segment scan with filter: %" PRId64 " rows", r.rows);
  h_result_free(&r);

  kalam_free(seg);
  OK(kalam_close(db, &err));
  free(dir);
}

int main(void) {
  RUN(test_append_flush_scan);
  RUN(test_bad_input_is_reported);
  RUN(test_narrow_types_from_segments);
  return h_done("test_append_scan");
}
