/* system.live_queries while scans are open: labels, states (Running,
 * Queued behind max_concurrent_scans), removal on release, and a queued
 * get_next that release cancels. */
#include "harness.h"

static const h_spec T = {1, {"l"}, {"id"}, {0}};

static kalam_db* open_with_rows(const char* dir, const char* options, int rows) {
  kalam_error err = {0};
  kalam_db* db = NULL;
  OK(kalam_open(dir, options, &db, &err));
  struct ArrowSchema s;
  h_schema_from_spec(&T, &s);
  OK(kalam_create_table(db, "t", NULL, &s, "{\"primary_key\": \"id\"}", &err));
  int64_t ids[64];
  for (int i = 0; i < rows; i++) ids[i] = i;
  struct ArrowArray* c[1] = {h_col_int64(ids, NULL, rows)};
  struct ArrowArray* b[1] = {h_batch(rows, 1, c)};
  struct ArrowArrayStream in;
  h_stream(&in, &T, b, 1, 0);
  OK(kalam_append(db, "t", &in, NULL, &err));
  return db;
}

/* A scan of t labelled `sql`, one row per batch so that it stays open. */
static void start_scan(kalam_db* db, const char* sql, struct ArrowArrayStream* out) {
  kalam_error err = {0};
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.sql = sql;
  o.batch_rows = 1;
  OK(kalam_scan(db, "t", &o, out, &err));
}

static void next_batch(struct ArrowArrayStream* s) {
  struct ArrowArray a;
  int rc = s->get_next(s, &a);
  CHECKF(rc == 0 && a.release != NULL && a.length == 1, "get_next rc %d", rc);
  a.release(&a);
}

typedef struct {
  int n;
  char sql[8][256];
  char state[8][16];
  char session[8][64];
} live_t;

static void read_live(kalam_db* db, live_t* out) {
  kalam_error err = {0};
  static h_result r;
  struct ArrowArrayStream s;
  OK(kalam_system_table(db, "live_queries", &s, &err));
  h_collect(&s, &r);
  s.release(&s);
  CHECK(r.rows <= 8);
  out->n = (int)r.rows;
  for (int64_t i = 0; i < r.rows; i++) {
    h_str(&r, h_col(&r, "sql"), i, out->sql[i], sizeof out->sql[i]);
    h_str(&r, h_col(&r, "state"), i, out->state[i], sizeof out->state[i]);
    h_str(&r, h_col(&r, "session_id"), i, out->session[i], sizeof out->session[i]);
    CHECK(h_u64(&r, h_col(&r, "duration_ms"), i) < 600000);
  }
  h_result_free(&r);
}

/* The state of the live query labelled sql, or NULL when it is not listed. */
static const char* state_of(const live_t* l, const char* sql) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->sql[i], sql) == 0) return l->state[i];
  return NULL;
}

static void test_two_running_scans(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = open_with_rows(dir, "{\"session_id\": \"c-live\"}", 5);
  struct ArrowArrayStream a, b;
  start_scan(db, "label one", &a);
  start_scan(db, "label two", &b);
  next_batch(&a);
  next_batch(&b);

  live_t l;
  read_live(db, &l);
  CHECKF(l.n == 3, "%d live queries", l.n);
  CHECK(state_of(&l, "label one") && strcmp(state_of(&l, "label one"), "Running") == 0);
  CHECK(state_of(&l, "label two") && strcmp(state_of(&l, "label two"), "Running") == 0);
  for (int i = 0; i < l.n; i++) CHECK(strcmp(l.session[i], "c-live") == 0);

  a.release(&a);
  read_live(db, &l);
  CHECK(l.n == 2 && state_of(&l, "label one") == NULL && state_of(&l, "label two") != NULL);
  b.release(&b);
  read_live(db, &l);
  CHECK(l.n == 1 && state_of(&l, "label two") == NULL);
  CHECK(strstr(l.sql[0], "live_queries") != NULL);

  /* A generated label when none is given. */
  struct ArrowArrayStream g;
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.filter = "id > 2";
  o.limit = 1;
  OK(kalam_scan(db, "t", &o, &g, &err));
  read_live(db, &l);
  int found = 0;
  for (int i = 0; i < l.n; i++)
    if (strstr(l.sql[i], "FROM default.t") && strstr(l.sql[i], "LIMIT 1")) found = 1;
  CHECKF(found, "no generated SELECT ... FROM default.t ... LIMIT 1 among %d queries", l.n);
  g.release(&g);

  OK(kalam_close(db, &err));
  free(dir);
}

typedef struct {
  struct ArrowArrayStream* s;
  int rc;
  int64_t length;
  volatile int entered;
} next_job;

static void* do_next(void* arg) {
  next_job* j = (next_job*)arg;
  struct ArrowArray a;
  memset(&a, 0xAB, sizeof a);
  __atomic_store_n(&j->entered, 1, __ATOMIC_SEQ_CST);
  j->rc = j->s->get_next(j->s, &a);
  j->length = -1;
  if (j->rc == 0 && a.release != NULL) {
    j->length = a.length;
    a.release(&a);
  }
  return NULL;
}

static void wait_for_state(kalam_db* db, const char* sql, const char* state) {
  live_t l;
  for (int i = 0; i < 500; i++) {
    read_live(db, &l);
    const char* s = state_of(&l, sql);
    if (s && strcmp(s, state) == 0) return;
    usleep(10000);
  }
  CHECKF(0, "%s never became %s", sql, state);
}

static void test_queued_behind_the_slot_limit(void) {
  kalam_error err = {0};
  char* dir = h_tempdir();
  kalam_db* db = open_with_rows(dir, "{\"max_concurrent_scans\": 1}", 4);
  struct ArrowArrayStream a, b, c;

  /* kalam_scan never blocks: both are created, Queued until their first get_next. */
  start_scan(db, "scan A", &a);
  start_scan(db, "scan B", &b);
  live_t l;
  read_live(db, &l);
  CHECK(strcmp(state_of(&l, "scan A"), "Queued") == 0 && strcmp(state_of(&l, "scan B"), "Queued") == 0);

  next_batch(&a); /* takes the only slot */
  read_live(db, &l);
  CHECK(strcmp(state_of(&l, "scan A"), "Running") == 0 && strcmp(state_of(&l, "scan B"), "Queued") == 0);

  /* B's get_next waits on another thread until A is released. */
  next_job jb = {&b, -1, 0, 0};
  pthread_t tb;
  CHECK(pthread_create(&tb, NULL, do_next, &jb) == 0);
  usleep(50000);
  read_live(db, &l);
  CHECK(strcmp(state_of(&l, "scan B"), "Queued") == 0);
  a.release(&a);
  pthread_join(tb, NULL);
  CHECKF(jb.rc == 0 && jb.length == 1, "B after A's release: rc %d length %" PRId64, jb.rc, jb.length);
  read_live(db, &l);
  CHECK(state_of(&l, "scan A") == NULL && strcmp(state_of(&l, "scan B"), "Running") == 0);

  /* C waits behind B; releasing C from this thread cancels its get_next. */
  start_scan(db, "scan C", &c);
  next_job jc = {&c, -1, 0, 0};
  pthread_t tc;
  CHECK(pthread_create(&tc, NULL, do_next, &jc) == 0);
  wait_for_state(db, "scan C", "Queued");
  while (!__atomic_load_n(&jc.entered, __ATOMIC_SEQ_CST)) usleep(1000);
  usleep(200000); /* let the thread get into get_next's wait for a slot */
  c.release(&c);
  pthread_join(tc, NULL);
  CHECKF(jc.rc == ECANCELED, "cancelled get_next: rc %d", jc.rc);
  read_live(db, &l);
  CHECK(state_of(&l, "scan C") == NULL);

  b.release(&b);
  read_live(db, &l);
  CHECK(l.n == 1);
  OK(kalam_close(db, &err));
  free(dir);
}

int main(void) {
  RUN(test_two_running_scans);
  RUN(test_queued_behind_the_slot_limit);
  return h_done("test_live_queries");
}
