/* Stream lifetimes: release before the end, after the end, from another
 * thread; batches outliving their stream; closing the database with a
 * stream open; reopening the store afterwards. */
#include "harness.h"

static const h_spec T = {2, {"l", "u"}, {"id", "label"}, {0, ARROW_FLAG_NULLABLE}};

static void fill(kalam_db* db, int rows) {
  kalam_error err = {0};
  struct ArrowSchema s;
  h_schema_from_spec(&T, &s);
  OK(kalam_create_table(db, "t", NULL, &s, "{\"primary_key\": \"id\"}", &err));
  int64_t ids[64];
  char text[64][16];
  const char* labels[64];
  for (int i = 0; i < rows; i++) {
    ids[i] = i;
    snprintf(text[i], sizeof text[i], "label-%d", i);
    labels[i] = text[i];
  }
  struct ArrowArray* c[2] = {h_col_int64(ids, NULL, rows), h_col_utf8(labels, rows)};
  struct ArrowArray* b[1] = {h_batch(rows, 2, c)};
  struct ArrowArrayStream in;
  h_stream(&in, &T, b, 1, 0);
  OK(kalam_append(db, "t", &in, NULL, &err));
}

static void scan_in_batches(kalam_db* db, int64_t batch_rows, struct ArrowArrayStream* out) {
  kalam_error err = {0};
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.batch_rows = batch_rows;
  OK(kalam_scan(db, "t", &o, out, &err));
}

static void* release_in_thread(void* arg) {
  struct ArrowArrayStream* s = (struct ArrowArrayStream*)arg;
  s->release(s);
  return NULL;
}

static void test_release_points(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  fill(db, 10);

  /* Before the end: the batch we hold stays valid after the stream is gone. */
  struct ArrowArrayStream s;
  scan_in_batches(db, 3, &s);
  struct ArrowArray a;
  CHECK(s.get_next(&s, &a) == 0 && a.release != NULL && a.length == 3);
  s.release(&s);
  CHECK(s.release == NULL);
  const struct ArrowArray* label = a.children[1];
  const int32_t* offs = (const int32_t*)label->buffers[1];
  int64_t i = label->offset + a.offset;
  CHECK(memcmp((const char*)label->buffers[2] + offs[i], "label-0", 7) == 0);
  a.release(&a);
  CHECK(a.release == NULL);

  /* After the end. */
  scan_in_batches(db, 4, &s);
  static h_result r;
  h_collect(&s, &r);
  CHECK(r.rows == 10 && r.nbatches == 3);
  s.release(&s);
  h_result_free(&r);

  /* From another thread, before the end. */
  scan_in_batches(db, 2, &s);
  CHECK(s.get_next(&s, &a) == 0 && a.release != NULL);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, release_in_thread, &s) == 0);
  pthread_join(t, NULL);
  CHECK(s.release == NULL);
  a.release(&a);

  /* From another thread, never read. */
  scan_in_batches(db, 2, &s);
  CHECK(pthread_create(&t, NULL, release_in_thread, &s) == 0);
  pthread_join(t, NULL);
  CHECK(s.release == NULL);

  /* A moved stream is released through its new address. */
  scan_in_batches(db, 5, &s);
  struct ArrowArrayStream moved = s;
  s.release = NULL;
  CHECK(moved.get_next(&moved, &a) == 0 && a.length == 5);
  a.release(&a);
  moved.release(&moved);

  /* Schema queries repeat. */
  scan_in_batches(db, 5, &s);
  for (int k = 0; k < 3; k++) {
    struct ArrowSchema sc;
    CHECK(s.get_schema(&s, &sc) == 0);
    CHECK(sc.n_children == 2 && strcmp(sc.children[1]->format, "u") == 0);
    sc.release(&sc);
  }
  s.release(&s);

  OK(kalam_close(db, &err));
  free(dir);
}

static void test_close_with_open_stream(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  fill(db, 6);
  struct ArrowArrayStream s, untouched;
  scan_in_batches(db, 2, &s);
  scan_in_batches(db, 2, &untouched);
  struct ArrowArray a;
  CHECK(s.get_next(&s, &a) == 0 && a.release != NULL);

  OK(kalam_close(db, &err));

  /* The open stream now fails with EINVAL / KALAM_CLOSED; the batch it gave is still fine. */
  struct ArrowArray b;
  memset(&b, 0xAB, sizeof b);
  int rc = s.get_next(&s, &b);
  CHECKF(rc == EINVAL, "get_next after close: %d", rc);
  CHECK(b.release == NULL);
  const char* msg = s.get_last_error(&s);
  CHECKF(msg != NULL && strstr(msg, "closed") != NULL, "get_last_error: %s", msg ? msg : "(null)");
  EXPECT(KALAM_CLOSED, "closed", kalam_stream_error(&s, &err));
  CHECK(s.get_next(&s, &b) == EINVAL); /* the failure sticks */
  CHECK(a.length == 2 && ((const int64_t*)a.children[0]->buffers[1])[a.children[0]->offset] == 0);
  a.release(&a);
  rc = untouched.get_next(&untouched, &b);
  CHECKF(rc == EINVAL, "never-read stream after close: %d", rc);
  s.release(&s);
  untouched.release(&untouched);

  /* The handle stays closed; nothing new can start on it. */
  EXPECT(KALAM_CLOSED, NULL, kalam_close(db, &err));
  struct ArrowArrayStream n;
  EXPECT(KALAM_CLOSED, NULL, kalam_scan(db, "t", NULL, &n, &err));
  CHECK(n.release == NULL);
  EXPECT(KALAM_CLOSED, NULL, kalam_system_table(db, "tables", &n, &err));

  /* Every stream is released, so the store can be opened again. */
  kalam_db* again = NULL;
  OK(kalam_open(dir, NULL, &again, &err));
  CHECK(again != db);
  static h_result r;
  OK(kalam_scan(again, "t", NULL, &n, &err));
  h_collect(&n, &r);
  n.release(&n);
  CHECK(r.rows == 6);
  h_result_free(&r);
  OK(kalam_close(again, &err));
  free(dir);
}

/* A NULL out is refused with EINVAL and recorded as the stream's last
 * error, and the stream goes on as it was: the next proper call gets the
 * first batch. */
static void test_null_out(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  fill(db, 10);
  struct ArrowArrayStream s;
  scan_in_batches(db, 4, &s);
  CHECK(s.get_next(&s, NULL) == EINVAL);
  const char* msg = s.get_last_error(&s);
  CHECKF(msg != NULL && strstr(msg, "out is NULL") != NULL, "get_last_error after get_next(NULL): %s", msg ? msg : "(null)");
  CHECK(kalam_stream_error(&s, &err) == KALAM_INVALID_ARGUMENT);
  kalam_error_release(&err);
  CHECK(s.get_schema(&s, NULL) == EINVAL);
  msg = s.get_last_error(&s);
  CHECKF(msg != NULL && strstr(msg, "get_schema") != NULL, "get_last_error after get_schema(NULL): %s", msg ? msg : "(null)");
  static h_result r;
  h_collect(&s, &r);
  CHECK(r.rows == 10 && r.nbatches == 3);
  h_result_free(&r);
  s.release(&s);
  OK(kalam_close(db, &err));
  free(dir);
}

/* kalam_detach gives the handle back like kalam_close, but its open
 * streams read on to their end; the store can be opened again afterwards. */
static void test_detach_keeps_streams(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = NULL;
  OK(kalam_open(dir, NULL, &db, &err));
  fill(db, 10);
  struct ArrowArrayStream s, never;
  scan_in_batches(db, 4, &s);
  scan_in_batches(db, 4, &never); /* not read before the detach */
  struct ArrowArray a;
  CHECK(s.get_next(&s, &a) == 0 && a.release != NULL && a.length == 4);
  a.release(&a);
  OK(kalam_detach(db, &err));
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  struct ArrowArrayStream late;
  EXPECT(KALAM_CLOSED, "closed", kalam_scan(db, "t", &o, &late, &err));
  EXPECT(KALAM_CLOSED, "closed", kalam_detach(db, &err));
  static h_result r;
  h_collect(&s, &r);
  CHECKF(r.rows == 6 && r.nbatches == 2, "after detach: %lld rows in %d batches", (long long)r.rows, r.nbatches);
  h_result_free(&r);
  s.release(&s);
  h_collect(&never, &r);
  CHECKF(r.rows == 10, "a stream never read before the detach: %lld rows", (long long)r.rows);
  h_result_free(&r);
  never.release(&never);
  /* Every stream released: the store closed and opens again. */
  kalam_db* again = NULL;
  OK(kalam_open(dir, NULL, &again, &err));
  OK(kalam_close(again, &err));
  free(dir);
}

int main(void) {
  RUN(test_release_points);
  RUN(test_detach_keeps_streams);
  RUN(test_null_out);
  RUN(test_close_with_open_stream);
  return h_done("test_stream_lifecycle");
}
