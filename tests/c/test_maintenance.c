/* Table maintenance through the C ABI: time travel over overlapping
 * segments, compaction (report, tombstoned inputs in system.segments), a
 * scan held open across compaction and vacuum, vacuum (files on disk,
 * system.segments, vacuumed versions), dry run, history, and bad arguments.
 * Expected values come from a model of the table kept by the test. */
#include <sys/stat.h>

#include "harness.h"

static const h_spec M = {
    3,
    {"l", "l", "u"},
    {"id", "v", "s"},
    {0, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE},
};

#define NIDS 128
#define MAXVER 16
#define ABSENT INT64_MIN

/* The model: cur[id] is the live value of v (ABSENT: no row); at[ver] is
 * the table as of manifest version ver. s is always "s<id>:<v>". */
typedef struct {
  int64_t cur[NIDS];
  int64_t at[MAXVER][NIDS];
  uint64_t version;
} model;

static void model_init(model* m) {
  for (int i = 0; i < NIDS; i++) m->cur[i] = ABSENT;
  m->version = 1; /* create */
  memcpy(m->at[1], m->cur, sizeof m->cur);
}

static int64_t model_live(const int64_t* rows) {
  int64_t n = 0;
  for (int i = 0; i < NIDS; i++) n += rows[i] != ABSENT;
  return n;
}

static void append_rows(kalam_db* db, model* m, const int64_t* ids, const int64_t* vals, int n) {
  kalam_error err = {0};
  char bufs[64][48];
  const char* strs[64];
  CHECK(n <= 64);
  for (int i = 0; i < n; i++) {
    snprintf(bufs[i], sizeof bufs[i], "s%" PRId64 ":%" PRId64, ids[i], vals[i]);
    strs[i] = bufs[i];
    m->cur[ids[i]] = vals[i];
  }
  struct ArrowArray* cols[3] = {h_col_int64(ids, NULL, n), h_col_int64(vals, NULL, n), h_col_utf8(strs, n)};
  struct ArrowArray* b[1] = {h_batch(n, 3, cols)};
  struct ArrowArrayStream in;
  h_stream(&in, &M, b, 1, 0);
  int64_t written = -1;
  OK(kalam_append(db, "app.m", &in, &written, &err));
  CHECK(written == n);
}

static void delete_ids(kalam_db* db, model* m, const int64_t* ids, int n) {
  kalam_error err = {0};
  static const h_spec KEYS = {1, {"l"}, {"id"}, {0}};
  int64_t live = 0;
  for (int i = 0; i < n; i++) {
    if (m->cur[ids[i]] != ABSENT) live++;
    m->cur[ids[i]] = ABSENT;
  }
  struct ArrowArray* cols[1] = {h_col_int64(ids, NULL, n)};
  struct ArrowArray* b[1] = {h_batch(n, 1, cols)};
  struct ArrowArrayStream in;
  h_stream(&in, &KEYS, b, 1, 0);
  int64_t deleted = -1;
  OK(kalam_delete(db, "app.m", &in, &deleted, &err));
  CHECKF(deleted == live, "rows_deleted %" PRId64 ", want %" PRId64, deleted, live);
}

/* Flushes and records the new version in the model; returns the segment id. */
static char* flush(kalam_db* db, model* m) {
  kalam_error err = {0};
  char* seg = NULL;
  OK(kalam_flush(db, "app.m", &seg, &err));
  CHECK(seg != NULL);
  m->version++;
  CHECK(m->version < MAXVER);
  memcpy(m->at[m->version], m->cur, sizeof m->cur);
  return seg;
}

/* Checks that the result (columns id, v, s) holds exactly the rows of want. */
static void check_rows(const h_result* r, const int64_t* want, const char* what) {
  int cid = h_col(r, "id"), cv = h_col(r, "v"), cs = h_col(r, "s");
  CHECKF(r->rows == model_live(want), "%s: %" PRId64 " rows, want %" PRId64, what, r->rows, model_live(want));
  bool seen[NIDS] = {false};
  for (int64_t row = 0; row < r->rows; row++) {
    int64_t id = h_i64(r, cid, row);
    CHECKF(id >= 0 && id < NIDS && !seen[id], "%s: id %" PRId64 " unexpected or repeated", what, id);
    seen[id] = true;
    CHECKF(want[id] != ABSENT, "%s: id %" PRId64 " should not be there", what, id);
    CHECKF(h_i64(r, cv, row) == want[id], "%s: v of %" PRId64 " is %" PRId64 ", want %" PRId64, what, id,
           h_i64(r, cv, row), want[id]);
    char buf[64], exp[64];
    h_str(r, cs, row, buf, sizeof buf);
    snprintf(exp, sizeof exp, "s%" PRId64 ":%" PRId64, id, want[id]);
    CHECKF(strcmp(buf, exp) == 0, "%s: s of %" PRId64 " is %s, want %s", what, id, buf, exp);
  }
}

/* Scans app.m as of `version` (0: latest) and checks it against want. */
static void check_version(kalam_db* db, int64_t version, const int64_t* want) {
  kalam_error err = {0};
  static h_result r;
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.as_of_version = version;
  o.batch_rows = 3;
  struct ArrowArrayStream s;
  OK(kalam_scan(db, "app.m", &o, &s, &err));
  h_collect(&s, &r);
  s.release(&s);
  char what[48];
  snprintf(what, sizeof what, "as_of_version %" PRId64, version);
  check_rows(&r, want, what);
  h_result_free(&r);
}

/* A JSON number field of a flat object ("key":123); CHECK fails if absent. */
static uint64_t json_u64(const char* json, const char* key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char* p = strstr(json, pat);
  CHECKF(p != NULL, "no %s in %s", key, json);
  return strtoull(p + strlen(pat), NULL, 10);
}

/* The strings of the JSON array field `key` of json, copied into ids. */
static int json_ids(const char* json, const char* key, char ids[][40], int cap) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":[", key);
  const char* p = strstr(json, pat);
  CHECKF(p != NULL, "no %s in %s", key, json);
  p += strlen(pat);
  int n = 0;
  while (*p != ']') {
    CHECKF(*p == '"' && n < cap, "bad array %s in %s", key, json);
    const char* end = strchr(p + 1, '"');
    CHECK(end != NULL && end - p - 1 < 40);
    memcpy(ids[n], p + 1, (size_t)(end - p - 1));
    ids[n][end - p - 1] = '\0';
    n++;
    p = end + 1;
    if (*p == ',') p++;
  }
  return n;
}

static bool file_exists(const char* dir, const char* rel) {
  char path[4096];
  snprintf(path, sizeof path, "%s/storage/app/m/%s", dir, rel);
  struct stat st;
  return stat(path, &st) == 0;
}

typedef struct {
  char id[40];
  char path[64];
  bool tombstone;
  uint64_t rows;
} seg_row;

/* app.m's rows of system.segments. */
static int read_segments(kalam_db* db, seg_row* out, int cap) {
  kalam_error err = {0};
  static h_result r;
  struct ArrowArrayStream s;
  OK(kalam_system_table(db, "system.segments", &s, &err));
  h_collect(&s, &r);
  s.release(&s);
  int ct = h_col(&r, "table_name"), ci = h_col(&r, "id"), cp = h_col(&r, "path"), cb = h_col(&r, "tombstone"),
      cr = h_col(&r, "row_count");
  int n = 0;
  char buf[256];
  for (int64_t row = 0; row < r.rows; row++) {
    h_str(&r, ct, row, buf, sizeof buf);
    if (strcmp(buf, "m") != 0) continue;
    CHECK(n < cap);
    h_str(&r, ci, row, out[n].id, sizeof out[n].id);
    h_str(&r, cp, row, out[n].path, sizeof out[n].path);
    out[n].tombstone = h_bool(&r, cb, row);
    out[n].rows = h_u64(&r, cr, row);
    n++;
  }
  h_result_free(&r);
  return n;
}

static const seg_row* find_seg(const seg_row* segs, int n, const char* id) {
  for (int i = 0; i < n; i++)
    if (strcmp(segs[i].id, id) == 0) return &segs[i];
  return NULL;
}

static kalam_db* open_with_table(char* dir) {
  kalam_error err = {0};
  kalam_db* db = NULL;
  OK(kalam_open(dir, "{\"session_id\": \"c-maint\"}", &db, &err));
  OK(kalam_create_namespace(db, "app", &err));
  struct ArrowSchema schema;
  h_schema_from_spec(&M, &schema);
  OK(kalam_create_table(db, "app.m", NULL, &schema, "{\"primary_key\": \"id\"}", &err));
  return db;
}

static void test_compact_vacuum_time_travel(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = open_with_table(dir);
  static model m;
  model_init(&m);

  /* Four overlapping segments: inserts, upserts, deletes, one more upsert. */
  char* segs[4];
  int64_t ids[64], vals[64];
  for (int i = 0; i < 10; i++) ids[i] = i, vals[i] = i * 10;
  append_rows(db, &m, ids, vals, 10);
  segs[0] = flush(db, &m); /* v2 */
  for (int i = 0; i < 10; i++) ids[i] = 5 + i, vals[i] = (5 + i) * 100;
  append_rows(db, &m, ids, vals, 10);
  segs[1] = flush(db, &m); /* v3 */
  int64_t dels[4] = {0, 1, 12, 99};
  delete_ids(db, &m, dels, 4);
  segs[2] = flush(db, &m); /* v4: three tombstones */
  ids[0] = 3, vals[0] = -3;
  append_rows(db, &m, ids, vals, 1);
  segs[3] = flush(db, &m); /* v5 */
  CHECK(m.version == 5);

  for (int64_t v = 1; v <= 5; v++) check_version(db, v, m.at[v]);
  check_version(db, 0, m.cur);
  kalam_scan_options future = KALAM_SCAN_OPTIONS_INIT;
  future.as_of_version = 9;
  struct ArrowArrayStream none;
  EXPECT(KALAM_NOT_FOUND, "version 9", kalam_scan(db, "app.m", &future, &none, &err));
  CHECK(none.release == NULL);

  /* A scan held open across compaction and vacuum: one batch read. */
  struct ArrowArrayStream held;
  kalam_scan_options ho = KALAM_SCAN_OPTIONS_INIT;
  ho.batch_rows = 2;
  OK(kalam_scan(db, "app.m", &ho, &held, &err));
  static h_result hr;
  memset(&hr, 0, sizeof hr);
  struct ArrowSchema hs;
  CHECK(held.get_schema(&held, &hs) == 0);
  hr.ncols = (int)hs.n_children;
  for (int i = 0; i < hr.ncols; i++) {
    snprintf(hr.names[i], sizeof hr.names[i], "%s", hs.children[i]->name);
    snprintf(hr.formats[i], sizeof hr.formats[i], "%s", hs.children[i]->format);
  }
  hs.release(&hs);
  CHECK(held.get_next(&held, &hr.batches[0]) == 0 && hr.batches[0].release != NULL);
  CHECK(hr.batches[0].length == 2);
  hr.rows = 2;
  hr.nbatches = 1;
  int64_t held_want[NIDS];
  memcpy(held_want, m.cur, sizeof held_want);

  /* Rows written after the held scan started: it must not see them. */
  ids[0] = 100, vals[0] = 1;
  ids[1] = 4, vals[1] = 44;
  append_rows(db, &m, ids, vals, 2);

  /* Compact into segments of at most 5 rows. The four segments hold 24 row
   * versions; 12 keys are live; the tombstones of 0, 1, 12 go. The hot rows
   * (100 and the new 4) are not in any segment and stay hot. */
  char* report = NULL;
  OK(kalam_compact(db, "app.m", "{\"target_rows\": 5}", &report, &err));
  CHECK(report != NULL);
  int64_t live5 = model_live(m.at[5]);
  CHECK(live5 == 12);
  CHECKF(json_u64(report, "version") == 6, "report %s", report);
  CHECKF(strstr(report, "\"skipped\":false") != NULL && strstr(report, "\"table\":\"app.m\"") != NULL, "%s",
         report);
  CHECK(json_u64(report, "rows_read") == 24);
  CHECK(json_u64(report, "rows_written") == (uint64_t)live5);
  CHECK(json_u64(report, "tombstones_dropped") == 3);
  CHECK(json_u64(report, "versions_dropped") == 24 - 12 - 3);
  CHECK(json_u64(report, "bytes_read") > 0 && json_u64(report, "bytes_written") > 0);
  char in_ids[8][40], out_ids[8][40];
  int nin = json_ids(report, "input_segments", in_ids, 8);
  int nout = json_ids(report, "output_segments", out_ids, 8);
  CHECKF(nin == 4 && nout == 3, "inputs %d outputs %d: %s", nin, nout, report);
  for (int i = 0; i < 4; i++) {
    bool found = false;
    for (int j = 0; j < nin; j++) found |= strcmp(in_ids[j], segs[i]) == 0;
    CHECKF(found, "flushed segment %s not an input: %s", segs[i], report);
  }
  kalam_free(report);
  m.version = 6;
  memcpy(m.at[6], m.at[5], sizeof m.at[5]); /* the segments of v6 hold v5's rows */

  /* system.segments: the inputs tombstoned, the outputs live with 5+5+2 rows. */
  seg_row sr[16];
  int nseg = read_segments(db, sr, 16);
  CHECKF(nseg == 7, "system.segments has %d rows for app.m", nseg);
  for (int i = 0; i < 4; i++) {
    const seg_row* s = find_seg(sr, nseg, segs[i]);
    CHECKF(s != NULL && s->tombstone, "input %s not tombstoned", segs[i]);
    CHECK(file_exists(dir, s->path));
  }
  uint64_t out_rows = 0;
  for (int i = 0; i < nout; i++) {
    const seg_row* s = find_seg(sr, nseg, out_ids[i]);
    CHECKF(s != NULL && !s->tombstone && s->rows <= 5, "output %s", out_ids[i]);
    out_rows += s->rows;
  }
  CHECK(out_rows == 12);

  /* Every version still reads the same after compaction; latest adds the hot rows. */
  for (int64_t v = 1; v <= 6; v++) check_version(db, v, m.at[v]);
  check_version(db, 0, m.cur);

  /* Vacuum while the held scan pins the inputs: nothing it reads goes. */
  char* dry = NULL;
  OK(kalam_vacuum_dry_run(db, "app.m", 0, &dry, &err));
  CHECKF(strcmp(dry, "[]") == 0, "dry run with a pinned scan: %s", dry);
  kalam_free(dry);
  int64_t removed = -1;
  OK(kalam_vacuum(db, "app.m", 0, &removed, &err));
  CHECKF(removed == 0, "vacuum removed %" PRId64 " files under an open scan", removed);

  /* The held scan returns its snapshot: v5's rows, not the later writes. */
  for (;;) {
    CHECK(hr.nbatches < 256);
    struct ArrowArray* a = &hr.batches[hr.nbatches];
    int rc = held.get_next(&held, a);
    CHECKF(rc == 0, "held get_next: %d %s", rc, held.get_last_error(&held));
    if (a->release == NULL) break;
    hr.rows += a->length;
    hr.nbatches++;
  }
  check_rows(&hr, held_want, "held scan");
  h_result_free(&hr);
  held.release(&held);

  /* Dry run lists the four inputs, a long retention keeps them, nothing is deleted. */
  OK(kalam_vacuum_dry_run(db, "app.m", 0, &dry, &err));
  CHECKF(strcmp(dry,
                "[\"data/segment_001.parquet\",\"data/segment_002.parquet\",\"data/segment_003.parquet\","
                "\"data/segment_004.parquet\"]") == 0,
         "dry run: %s", dry);
  kalam_free(dry);
  OK(kalam_vacuum_dry_run(db, "app.m", INT64_C(7) * 24 * 3600 * 1000, &dry, &err));
  CHECKF(strcmp(dry, "[]") == 0, "dry run with retention: %s", dry);
  kalam_free(dry);
  OK(kalam_vacuum(db, "app.m", INT64_C(7) * 24 * 3600 * 1000, &removed, &err));
  CHECK(removed == 0);
  for (int i = 0; i < 4; i++) CHECK(file_exists(dir, find_seg(sr, nseg, segs[i])->path));

  /* Vacuum with retention 0 deletes the four files and their rows. */
  OK(kalam_vacuum(db, "app.m", 0, &removed, &err));
  CHECKF(removed == 4, "vacuum removed %" PRId64, removed);
  for (int i = 0; i < 4; i++) {
    const char* p = find_seg(sr, nseg, segs[i])->path;
    CHECKF(!file_exists(dir, p), "%s still on disk", p);
  }
  for (int i = 0; i < nout; i++) CHECK(file_exists(dir, find_seg(sr, nseg, out_ids[i])->path));
  seg_row after[16];
  int nafter = read_segments(db, after, 16);
  CHECKF(nafter == 3, "system.segments after vacuum: %d rows", nafter);
  for (int i = 0; i < nafter; i++) {
    CHECK(!after[i].tombstone);
    CHECK(find_seg(sr, nseg, after[i].id) != NULL && !find_seg(sr, nseg, after[i].id)->tombstone);
  }
  OK(kalam_vacuum(db, "app.m", 0, &removed, &err));
  CHECK(removed == 0);

  /* Versions 2..5 needed the removed files: NOT_FOUND naming the version and
   * the oldest version left, which reads. */
  for (int64_t v = 2; v <= 5; v++) {
    kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
    o.as_of_version = v;
    struct ArrowArrayStream s;
    kalam_status st = kalam_scan(db, "app.m", &o, &s, &err);
    CHECKF(st == KALAM_NOT_FOUND, "version %" PRId64 ": status %d", v, st);
    CHECK(s.release == NULL);
    char want[32];
    snprintf(want, sizeof want, "version %" PRId64, v);
    const char* oldest = strstr(err.message, "oldest available version is ");
    CHECKF(strstr(err.message, want) != NULL && oldest != NULL, "message: %s", err.message);
    int64_t ov = strtoll(oldest + strlen("oldest available version is "), NULL, 10);
    kalam_error_release(&err);
    CHECKF(ov >= 1 && (ov < 2 || ov > 5), "oldest version %" PRId64 " was vacuumed", ov);
    check_version(db, ov, m.at[ov]);
  }
  check_version(db, 6, m.at[6]);
  check_version(db, 0, m.cur);

  /* History: create, four flushes, compaction, vacuum. */
  char* hist = NULL;
  OK(kalam_table_history(db, "app.m", &hist, &err));
  CHECKF(strncmp(hist, "[{\"version\":1,", 14) == 0, "%s", hist);
  const char* ops[7] = {"create", "flush", "flush", "flush", "flush", "compact", "vacuum"};
  const int added[7] = {0, 1, 1, 1, 1, 3, 0};
  const int gone[7] = {0, 0, 0, 0, 0, 4, 4};
  const char* p = hist;
  for (int i = 0; i < 7; i++) {
    char want[160];
    snprintf(want, sizeof want, "{\"version\":%d,\"time\":", i + 1);
    p = strstr(p, want);
    CHECKF(p != NULL, "history has no version %d: %s", i + 1, hist);
    CHECK(json_u64(p, "time") > UINT64_C(1600000000000));
    snprintf(want, sizeof want, "\"operation\":\"%s\",\"segments_added\":%d,\"segments_removed\":%d}", ops[i],
             added[i], gone[i]);
    const char* e = strchr(p, '}');
    CHECKF(e != NULL && strncmp(strstr(p, "\"operation\""), want, strlen(want)) == 0, "history entry %d: %s",
           i + 1, hist);
    p = e;
  }
  CHECK(strstr(p, "\"version\"") == NULL);
  kalam_free(hist);

  for (int i = 0; i < 4; i++) kalam_free(segs[i]);
  OK(kalam_close(db, &err));
  free(dir);
}

static void test_skipped_and_full_compaction(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = open_with_table(dir);
  static model m;
  model_init(&m);

  /* Nothing to compact: skipped, no version. */
  char* report = NULL;
  OK(kalam_compact(db, "app.m", NULL, &report, &err));
  CHECKF(strstr(report, "\"skipped\":true") && strstr(report, "\"reason\":") && json_u64(report, "version") == 1,
         "%s", report);
  kalam_free(report);

  int64_t ids[2] = {1, 2}, vals[2] = {10, 20};
  append_rows(db, &m, ids, vals, 2);
  char* s1 = flush(db, &m);
  ids[0] = 2, vals[0] = 21;
  append_rows(db, &m, ids, vals, 1);
  char* s2 = flush(db, &m);

  /* min_segments above the live count: skipped; report_json may be NULL. */
  OK(kalam_compact(db, "app.m", "{\"min_segments\": 3}", NULL, &err));
  seg_row sr[8];
  CHECK(read_segments(db, sr, 8) == 2);
  /* Default options: one output with the newest versions. */
  OK(kalam_compact(db, "app.m", "{}", &report, &err));
  CHECKF(json_u64(report, "rows_read") == 3 && json_u64(report, "rows_written") == 2 &&
             json_u64(report, "versions_dropped") == 1 && json_u64(report, "tombstones_dropped") == 0 &&
             json_u64(report, "version") == 4,
         "%s", report);
  kalam_free(report);
  int n = read_segments(db, sr, 8);
  CHECK(n == 3 && find_seg(sr, n, s1)->tombstone && find_seg(sr, n, s2)->tombstone);
  check_version(db, 0, m.cur);
  check_version(db, 3, m.at[3]);
  kalam_free(s1);
  kalam_free(s2);
  OK(kalam_close(db, &err));
  free(dir);
}

static void test_bad_arguments(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = open_with_table(dir);
  char* out = (char*)h_junk(1);
  char* junk = out;
  int64_t n = 7;

  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_compact(db, NULL, NULL, &out, &err));
  CHECK(out == NULL);
  EXPECT(KALAM_INVALID_ARGUMENT, "db is NULL", kalam_compact(NULL, "app.m", NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"target_row\"", kalam_compact(db, "app.m", "{\"target_row\": 5}", NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"target_rows\"", kalam_compact(db, "app.m", "{\"target_rows\": 0}", NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "\"min_segments\"",
         kalam_compact(db, "app.m", "{\"min_segments\": \"2\"}", NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "invalid JSON", kalam_compact(db, "app.m", "{\"target_rows\":", NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "JSON object", kalam_compact(db, "app.m", "[5]", NULL, &err));
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_compact(db, "app.nope", NULL, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "bad-name", kalam_compact(db, "bad-name", NULL, NULL, &err));

  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_vacuum(db, NULL, 0, &n, &err));
  CHECK(n == 0);
  n = 7;
  EXPECT(KALAM_INVALID_ARGUMENT, "retention_ms is -1", kalam_vacuum(db, "app.m", -1, &n, &err));
  CHECK(n == 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "retention_ms", kalam_vacuum(db, "app.m", INT64_MIN, NULL, &err));
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_vacuum(db, "app.nope", 0, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "db is NULL", kalam_vacuum(NULL, "app.m", 0, NULL, &err));

  out = junk;
  EXPECT(KALAM_INVALID_ARGUMENT, "paths_json is NULL", kalam_vacuum_dry_run(db, "app.m", 0, NULL, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "retention_ms", kalam_vacuum_dry_run(db, "app.m", -5, &out, &err));
  CHECK(out == NULL);
  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_vacuum_dry_run(db, NULL, 0, &out, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "history_json is NULL", kalam_table_history(db, "app.m", NULL, &err));
  out = junk;
  EXPECT(KALAM_INVALID_ARGUMENT, "table is NULL", kalam_table_history(db, NULL, &out, &err));
  CHECK(out == NULL);
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_table_history(db, "app.nope", &out, &err));
  EXPECT(KALAM_READ_ONLY, "system.tables is a system table", kalam_compact(db, "system.tables", NULL, NULL, &err));

  /* A NULL kalam_error is allowed. */
  CHECK(kalam_vacuum(db, "app.m", -1, NULL, NULL) == KALAM_INVALID_ARGUMENT);
  CHECK(kalam_compact(db, "app.m", NULL, NULL, NULL) == KALAM_OK);

  /* History of a fresh table: only its creation. */
  OK(kalam_table_history(db, "app.m", &out, &err));
  CHECKF(strncmp(out, "[{\"version\":1,", 14) == 0 && strstr(out, "\"operation\":\"create\"") &&
             strstr(out, "},{") == NULL,
         "%s", out);
  kalam_free(out);

  OK(kalam_close(db, &err));
  EXPECT(KALAM_CLOSED, NULL, kalam_compact(db, "app.m", NULL, NULL, &err));
  EXPECT(KALAM_CLOSED, NULL, kalam_vacuum(db, "app.m", 0, NULL, &err));
  EXPECT(KALAM_CLOSED, NULL, kalam_vacuum_dry_run(db, "app.m", 0, &out, &err));
  EXPECT(KALAM_CLOSED, NULL, kalam_table_history(db, "app.m", &out, &err));
  free(junk);
  free(dir);
}

int main(void) {
  RUN(test_compact_vacuum_time_travel);
  RUN(test_skipped_and_full_compaction);
  RUN(test_bad_arguments);
  return h_done("test_maintenance");
}
