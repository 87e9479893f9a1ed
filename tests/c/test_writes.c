/* Writes the way table users expect, through the C ABI (DESIGN §3.1, §3.2):
 * write modes, schema_mode merge, value-checked narrowing, delete and update
 * by filter, add/drop/rename/widen columns with the scans, time travel and
 * history they imply, and bad input for each (status and a message naming
 * the problem). */
#include "harness.h"

static kalam_db* db;

/* id int64 (key), a int32, s utf8. */
static const h_spec T = {3, {"l", "i", "u"}, {"id", "a", "s"}, {0, ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE}};

static struct ArrowArray* col_int32(const int32_t* v, int64_t n) {
  struct ArrowArray* a = h_array_new(n, 2);
  int32_t* vals = (int32_t*)malloc((size_t)(n ? n : 1) * sizeof(int32_t));
  memcpy(vals, v, (size_t)n * sizeof(int32_t));
  a->buffers[1] = vals;
  h_set_validity(a, NULL);
  return a;
}

/* A stream of one batch of (id, a) rows, a given as int64 (to exercise the
 * narrowing into the int32 column). */
static void ids_a64(struct ArrowArrayStream* out, const int64_t* ids, const int64_t* a, int n) {
  static const h_spec S = {2, {"l", "l"}, {"id", "a"}, {0, ARROW_FLAG_NULLABLE}};
  struct ArrowArray* cols[2] = {h_col_int64(ids, NULL, n), h_col_int64(a, NULL, n)};
  struct ArrowArray* b[1] = {h_batch(n, 2, cols)};
  h_stream(out, &S, b, 1, 0);
}

static void rows3(struct ArrowArrayStream* out, const int64_t* ids, const int32_t* a, const char* const* s, int n) {
  struct ArrowArray* cols[3] = {h_col_int64(ids, NULL, n), col_int32(a, n), h_col_utf8(s, n)};
  struct ArrowArray* b[1] = {h_batch(n, 3, cols)};
  h_stream(out, &T, b, 1, 0);
}

/* Scans `table` (filter may be NULL) and renders "id:a:s;..." in key order;
 * columns[] chooses the columns (NULL: all). */
static void render(const char* filter, int64_t version, char* out, size_t cap) {
  kalam_error err = {0};
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.filter = filter;
  o.as_of_version = version;
  struct ArrowArrayStream st;
  OK(kalam_scan(db, "w", &o, &st, &err));
  h_result r;
  h_collect(&st, &r);
  out[0] = '\0';
  for (int64_t row = 0; row < r.rows; row++) {
    char cell[256] = "";
    for (int c = 0; c < r.ncols; c++) {
      char v[128];
      if (h_is_null(&r, c, row)) {
        snprintf(v, sizeof v, "-");
      } else if (strcmp(r.formats[c], "l") == 0) {
        snprintf(v, sizeof v, "%" PRId64, h_i64(&r, c, row));
      } else if (strcmp(r.formats[c], "i") == 0) {
        int64_t i;
        const struct ArrowArray* a = h_cell(&r, c, row, &i);
        snprintf(v, sizeof v, "%d", ((const int32_t*)a->buffers[1])[i]);
      } else if (strcmp(r.formats[c], "u") == 0) {
        h_str(&r, c, row, v, sizeof v);
      } else {
        snprintf(v, sizeof v, "?%s", r.formats[c]);
      }
      strncat(cell, c ? ":" : "", sizeof cell - strlen(cell) - 1);
      strncat(cell, v, sizeof cell - strlen(cell) - 1);
    }
    strncat(out, row ? ";" : "", cap - strlen(out) - 1);
    strncat(out, cell, cap - strlen(out) - 1);
  }
  h_result_free(&r);
  st.release(&st);
}

#define EXPECT_ROWS(filter, version, want)                                      \
  do {                                                                          \
    char got_[4096];                                                            \
    render(filter, version, got_, sizeof got_);                                 \
    CHECKF(strcmp(got_, want) == 0, "rows\n  got  %s\n  want %s", got_, want);  \
  } while (0)

static void test_write_modes(void) {
  kalam_error err = {0};
  struct ArrowArrayStream in;
  int64_t n = -1;
  int64_t ids[3] = {1, 2, 3};
  int32_t a[3] = {10, 20, 30};
  const char* s[3] = {"x", "y", "z"};
  rows3(&in, ids, a, s, 3);
  OK(kalam_write(db, "w", &in, NULL, &n, &err)); /* NULL options: upsert */
  CHECK(n == 3);

  kalam_write_options o = KALAM_WRITE_OPTIONS_INIT;
  int64_t ids2[2] = {2, 4};
  int64_t a2[2] = {21, 40};
  o.mode = KALAM_WRITE_INSERT;
  ids_a64(&in, ids2, a2, 2);
  OK(kalam_write(db, "w", &in, &o, &n, &err));
  CHECKF(n == 1, "insert wrote %" PRId64 ", want 1 (key 2 is live)", n);
  EXPECT_ROWS(NULL, 0, "1:10:x;2:20:y;3:30:z;4:40:-");

  o.mode = KALAM_WRITE_UPDATE; /* keeps s; key 5 has no row: skipped */
  int64_t ids3[2] = {2, 5};
  int64_t a3[2] = {22, 50};
  ids_a64(&in, ids3, a3, 2);
  OK(kalam_write(db, "w", &in, &o, &n, &err));
  CHECK(n == 1);
  EXPECT_ROWS(NULL, 0, "1:10:x;2:22:y;3:30:z;4:40:-");

  o.mode = KALAM_WRITE_MERGE;
  int64_t ids4[2] = {3, 6};
  int64_t a4[2] = {33, 60};
  ids_a64(&in, ids4, a4, 2);
  OK(kalam_write(db, "w", &in, &o, &n, &err));
  CHECK(n == 2);
  EXPECT_ROWS(NULL, 0, "1:10:x;2:22:y;3:33:z;4:40:-;6:60:-");

  /* Narrowing: a value that does not fit int32 names column, row, value. */
  o.mode = KALAM_WRITE_UPSERT;
  int64_t ids5[3] = {7, 8, 9};
  int64_t a5[3] = {1, 5000000000LL, 2};
  ids_a64(&in, ids5, a5, 3);
  EXPECT(KALAM_INVALID_ARGUMENT, "column \"a\": row 1: value 5000000000 does not fit in int32",
         kalam_write(db, "w", &in, &o, &n, &err));
  CHECK(in.release == NULL && n == 0);
  EXPECT_ROWS("id >= 7", 0, ""); /* the refused batch stored nothing */

  /* Bad options. */
  o.mode = 9;
  ids_a64(&in, ids5, a5, 1);
  EXPECT(KALAM_INVALID_ARGUMENT, "mode 9", kalam_write(db, "w", &in, &o, &n, &err));
  CHECK(in.release == NULL);
  o.mode = KALAM_WRITE_UPSERT;
  o.struct_size = 4;
  ids_a64(&in, ids5, a5, 1);
  EXPECT(KALAM_INVALID_ARGUMENT, "struct_size", kalam_write(db, "w", &in, &o, &n, &err));
}

static void test_schema_mode_merge(void) {
  kalam_error err = {0};
  static const h_spec S = {2, {"l", "l"}, {"id", "extra"}, {0, ARROW_FLAG_NULLABLE}};
  int64_t ids[1] = {1};
  int64_t ex[1] = {99};
  struct ArrowArray* cols[2] = {h_col_int64(ids, NULL, 1), h_col_int64(ex, NULL, 1)};
  struct ArrowArray* b[1] = {h_batch(1, 2, cols)};
  struct ArrowArrayStream in;
  h_stream(&in, &S, b, 1, 0);
  kalam_write_options o = KALAM_WRITE_OPTIONS_INIT;
  o.mode = KALAM_WRITE_UPDATE;
  EXPECT(KALAM_INVALID_ARGUMENT, "unknown column \"extra\"", kalam_write(db, "w", &in, &o, NULL, &err));
  struct ArrowArray* cols2[2] = {h_col_int64(ids, NULL, 1), h_col_int64(ex, NULL, 1)};
  struct ArrowArray* b2[1] = {h_batch(1, 2, cols2)};
  h_stream(&in, &S, b2, 1, 0);
  o.schema_mode = KALAM_SCHEMA_MERGE;
  int64_t n = 0;
  OK(kalam_write(db, "w", &in, &o, &n, &err));
  CHECK(n == 1);
  EXPECT_ROWS("id <= 2", 0, "1:10:x:99;2:22:y:-");
}

static void test_delete_and_update_where(void) {
  kalam_error err = {0};
  int64_t n = -1;
  OK(kalam_delete_where(db, "w", "id >= 6", &n, &err));
  CHECK(n == 1);
  EXPECT(KALAM_INVALID_ARGUMENT, "nope", kalam_delete_where(db, "w", "nope > 1", &n, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "position", kalam_delete_where(db, "w", "id >>= 1", &n, &err));

  /* values: one row, a = 7 (as int64: narrowed), s = 'u'. */
  static const h_spec V = {2, {"l", "u"}, {"a", "s"}, {ARROW_FLAG_NULLABLE, ARROW_FLAG_NULLABLE}};
  int64_t a[1] = {7};
  const char* s[1] = {"u"};
  struct ArrowArray* cols[2] = {h_col_int64(a, NULL, 1), h_col_utf8(s, 1)};
  struct ArrowArray* b[1] = {h_batch(1, 2, cols)};
  struct ArrowArrayStream in;
  h_stream(&in, &V, b, 1, 0);
  OK(kalam_update(db, "w", "id <= 2", &in, &n, &err));
  CHECK(n == 2 && in.release == NULL);
  EXPECT_ROWS(NULL, 0, "1:7:u:99;2:7:u:-;3:33:z:-;4:40:-:-");

  /* Setting a key column, two rows of values, an unknown column. */
  static const h_spec K = {1, {"l"}, {"id"}, {0}};
  int64_t one[2] = {5, 6};
  struct ArrowArray* kc[1] = {h_col_int64(one, NULL, 1)};
  struct ArrowArray* kb[1] = {h_batch(1, 1, kc)};
  h_stream(&in, &K, kb, 1, 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "key column", kalam_update(db, "w", NULL, &in, &n, &err));
  static const h_spec TWO = {1, {"l"}, {"a"}, {ARROW_FLAG_NULLABLE}};
  struct ArrowArray* tc[1] = {h_col_int64(one, NULL, 2)};
  struct ArrowArray* tb[1] = {h_batch(2, 1, tc)};
  h_stream(&in, &TWO, tb, 1, 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "exactly one row", kalam_update(db, "w", NULL, &in, &n, &err));
  static const h_spec U = {1, {"l"}, {"zz"}, {ARROW_FLAG_NULLABLE}};
  struct ArrowArray* uc[1] = {h_col_int64(one, NULL, 1)};
  struct ArrowArray* ub[1] = {h_batch(1, 1, uc)};
  h_stream(&in, &U, ub, 1, 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "unknown column \"zz\"", kalam_update(db, "w", NULL, &in, &n, &err));
}

static void test_schema_evolution(void) {
  kalam_error err = {0};
  char* seg = NULL;
  OK(kalam_flush(db, "w", &seg, &err));
  kalam_free(seg);
  char* info = NULL;
  OK(kalam_table_info(db, "w", &info, &err));
  CHECKF(strstr(info, "\"schema_version\":2"), "schema_mode merge made version 2: %s", info);
  kalam_free(info);
  uint64_t before = 0;
  OK(kalam_manifest_json(db, "w", &info, &err));
  sscanf(strstr(info, "\"version\":") + 10, "%" SCNu64, &before);
  kalam_free(info);

  /* add: nullable only, names unique */
  struct ArrowSchema add;
  static const h_spec A = {1, {"u"}, {"note"}, {ARROW_FLAG_NULLABLE}};
  h_schema_from_spec(&A, &add);
  OK(kalam_add_columns(db, "w", &add, &err));
  CHECK(add.release == NULL);
  h_schema_from_spec(&A, &add);
  EXPECT(KALAM_ALREADY_EXISTS, "note", kalam_add_columns(db, "w", &add, &err));
  static const h_spec NN = {1, {"l"}, {"req"}, {0}};
  h_schema_from_spec(&NN, &add);
  EXPECT(KALAM_INVALID_ARGUMENT, "nullable", kalam_add_columns(db, "w", &add, &err));
  EXPECT_ROWS("id = 1", 0, "1:7:u:99:-");

  /* drop: not the key */
  const char* drop[1] = {"extra"};
  OK(kalam_drop_columns(db, "w", drop, 1, &err));
  const char* dropkey[1] = {"id"};
  EXPECT(KALAM_INVALID_ARGUMENT, "key column", kalam_drop_columns(db, "w", dropkey, 1, &err));
  const char* dropnone[1] = {"nope"};
  EXPECT(KALAM_INVALID_ARGUMENT, "nope", kalam_drop_columns(db, "w", dropnone, 1, &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "names is NULL", kalam_drop_columns(db, "w", NULL, 1, &err));

  /* rename (the key too): filters use the new names */
  OK(kalam_rename_column(db, "w", "id", "key", &err));
  OK(kalam_rename_column(db, "w", "a", "amount", &err));
  EXPECT(KALAM_ALREADY_EXISTS, "\"s\"", kalam_rename_column(db, "w", "amount", "s", &err));
  EXPECT(KALAM_INVALID_ARGUMENT, "unknown column \"a\"", kalam_rename_column(db, "w", "a", "b", &err));
  EXPECT_ROWS("key >= 3 AND amount > 30", 0, "3:33:z:-;4:40:-:-");

  /* widen int32 -> int64; a narrowing or a key is refused */
  struct ArrowSchema ty;
  h_schema_init(&ty, "l", "", 0);
  OK(kalam_widen_column(db, "w", "amount", &ty, &err));
  CHECK(ty.release == NULL);
  h_schema_init(&ty, "i", "", 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "cannot widen int64 to int32", kalam_widen_column(db, "w", "amount", &ty, &err));
  h_schema_init(&ty, "l", "", 0);
  EXPECT(KALAM_INVALID_ARGUMENT, "key column", kalam_widen_column(db, "w", "key", &ty, &err));
  EXPECT_ROWS("key = 4", 0, "4:40:-:-");

  /* Each alter is one commit; the version before them reads its own schema. */
  EXPECT_ROWS("id = 1", (int64_t)before, "1:7:u:99");
  OK(kalam_table_history(db, "w", &info, &err));
  int alters = 0;
  for (const char* p = info; (p = strstr(p, "\"alter\"")) != NULL; p++) alters++;
  CHECKF(alters == 6, "%d alter commits in history, want 6 (merge's add, add, drop, 2 renames, widen): %s", alters, info);
  kalam_free(info);
}

/* kalam_table_dataset: files and schema, release once, bad options. */
static void test_dataset(void) {
  kalam_error err = {0};
  struct ArrowSchema sc;
  char* json = NULL;
  uint64_t id = 0;
  OK(kalam_table_dataset(db, "w", NULL, &sc, &json, &id, &err));
  CHECKF(id != 0 && json != NULL && strstr(json, "\"files\":[{\"path\":\"/") != NULL, "dataset %" PRIu64 ": %s", id,
         json ? json : "(null)");
  CHECKF(sc.release != NULL && strcmp(sc.format, "+s") == 0 && sc.n_children == 4, "schema has %" PRId64 " columns, want 4",
         sc.n_children);
  sc.release(&sc);
  kalam_free(json);
  OK(kalam_dataset_release(id, &err));
  EXPECT(KALAM_NOT_FOUND, "not open", kalam_dataset_release(id, &err));
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.filter = "id = 1";
  EXPECT(KALAM_INVALID_ARGUMENT, "every column and row", kalam_table_dataset(db, "w", &o, &sc, &json, &id, &err));
  CHECK(json == NULL && id == 0 && sc.release == NULL);
  EXPECT(KALAM_INVALID_ARGUMENT, "dataset_json is NULL", kalam_table_dataset(db, "w", NULL, &sc, NULL, &id, &err));
  EXPECT(KALAM_NOT_FOUND, "nope", kalam_table_dataset(db, "nope", NULL, &sc, &json, &id, &err));
}

int main(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  OK(kalam_open(dir, NULL, &db, &err));
  struct ArrowSchema sc;
  h_schema_from_spec(&T, &sc);
  OK(kalam_create_table(db, "w", NULL, &sc, "{\"primary_key\": \"id\"}", &err));
  RUN(test_write_modes);
  RUN(test_schema_mode_merge);
  RUN(test_delete_and_update_where);
  RUN(test_schema_evolution);
  RUN(test_dataset);
  OK(kalam_close(db, &err));
  free(dir);
  return h_done("test_writes");
}
