/* kalam_close racing every other call (DESIGN §6): in each round one thread
 * per kind of operation — append (two threads), delete, flush, compact,
 * vacuum, scan + drain (two threads, behind max_concurrent_scans = 1),
 * explain, system.live_queries, manifest_json, table_schema, create/drop of
 * scratch tables — runs in a loop while the main thread closes the handle
 * after a random delay. In every other round a scan holds the only slot and
 * another is queued behind it when the close comes.
 *
 * Checked: every call racing the close returns KALAM_OK or KALAM_CLOSED, and
 * every call started after kalam_close returned (or after the thread saw the
 * close) returns KALAM_CLOSED; get_next returns 0 or EINVAL, and after EINVAL
 * kalam_stream_error reports KALAM_CLOSED; the queued scan wakes with
 * EINVAL/KALAM_CLOSED; nothing crashes and nothing hangs (a watchdog aborts,
 * naming the threads still running). Then the store is reopened: each
 * appender's rows are exactly the batches acknowledged with KALAM_OK (none
 * lost, and none from an append that reported KALAM_CLOSED — a call that
 * committed reports KALAM_OK, §6), and the closed handle still answers
 * KALAM_CLOSED (it is never freed under the host).
 *
 * Environment: KALAM_RACE_ROUNDS (rounds), KALAM_RACE_SEED (the random
 * seed, printed at start), KALAM_TEST_MODE (set by run.sh: plain, cgocheck2
 * or valgrind; picks the default rounds and timeouts), KALAM_RACE_QUIESCE=1
 * (diagnosis: the loop workers pause between calls before the close, so
 * that no call is in flight but the scans queued behind the holder — this
 * checks the harness and the closed-handle behaviour without the race). */
#include <dlfcn.h>
#include <ftw.h>
#include <stdatomic.h>
#include <time.h>

#include "harness.h"

#define APPEND_ROWS 8
#define KEY_STRIDE 1000000000LL /* appender a writes ids a*KEY_STRIDE + seq */
#define DELETER_BASE (9 * KEY_STRIDE)
#define PRELOAD_ROWS 64 /* rows w = 2, ids 5*KEY_STRIDE + i: the holder's scan is never empty */
#define PRELOAD_W 2

static const h_spec T = {2, {"l", "l"}, {"id", "w"}, {0, 0}};

enum {
  W_APPEND0,
  W_APPEND1,
  W_DELETE,
  W_FLUSH,
  W_COMPACT,
  W_VACUUM,
  W_SCAN0,
  W_SCAN1,
  W_EXPLAIN,
  W_LIVE,
  W_MANIFEST,
  W_SCHEMA,
  W_SCRATCH,
  W_HOLDER, /* only in rounds with a queued scan */
  W_QUEUED,
  W_COUNT
};

static const char* const worker_names[W_COUNT] = {
    "append#0", "append#1", "delete",  "flush",    "compact", "vacuum",  "scan#0",         "scan#1",
    "explain",  "live",     "manifest", "schema", "scratch", "holder", "queued scan"};

/* ---- round state ----------------------------------------------------------- */

static kalam_db* g_db;
static int g_round;
static atomic_int g_close_started;  /* main is about to call kalam_close */
static atomic_int g_close_returned; /* kalam_close has returned */
static atomic_int g_phase2;         /* the holder may take the only slot */
static atomic_int g_holding;        /* the holder's scan has the slot */
static atomic_int g_queued_entered; /* the queued scan's get_next is running */
static atomic_int g_finished[W_COUNT];
static atomic_int g_pause; /* KALAM_RACE_QUIESCE: workers stop between calls */
static atomic_int g_paused[W_COUNT];
static atomic_int g_round_done;
static atomic_long g_calls; /* calls checked this round */
static atomic_long g_worker_calls[W_COUNT]; /* the same per worker (diagnosis) */
static int64_t g_acked[2];  /* batches each appender got KALAM_OK for */

/* Per worker: whether it has seen the close itself (then every later call
 * must be KALAM_CLOSED too). */
typedef struct {
  int id;
  int saw_closed;
  unsigned seed;
} worker;

static double g_timeout_s; /* a round's watchdog */
static double g_wake_s;    /* how long a close may take to wake a queued scan */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const worker* w, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "test_close_race: round %d, %s: ", g_round, w ? worker_names[w->id] : "main");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  _exit(1); /* no exit handlers while other threads are inside the library */
}

/* Checks the status of one call on g_db. strict: the call started after the
 * close was complete (or after this thread saw it), so only KALAM_CLOSED is
 * right. Returns 1 when the call reported KALAM_CLOSED. Releases *err. */
static int check_call(worker* w, const char* what, int strict, kalam_status st, kalam_error* err) {
  atomic_fetch_add(&g_calls, 1);
  if (w) atomic_fetch_add(&g_worker_calls[w->id], 1);
  const char* msg = err->message ? err->message : "(no message)";
  if (err->code != st) fail(w, "%s returned %d but err.code is %d (%s)", what, st, err->code, msg);
  if (st == KALAM_OK) {
    if (strict) fail(w, "%s returned KALAM_OK after the handle was closed", what);
    if (err->message != NULL) fail(w, "%s succeeded with a message: %s", what, msg);
  } else if (st == KALAM_CLOSED) {
    if (err->message == NULL || err->release == NULL) fail(w, "%s: KALAM_CLOSED without a message", what);
    w->saw_closed = 1;
  } else {
    fail(w, "%s returned %d while racing kalam_close, want KALAM_OK or KALAM_CLOSED: %s", what, st, msg);
  }
  kalam_error_release(err);
  return st == KALAM_CLOSED;
}

/* Whether a call starting now must report KALAM_CLOSED. */
static int must_be_closed(const worker* w) { return w->saw_closed || atomic_load(&g_close_returned); }

/* Checks a get_next result: 0, or EINVAL with kalam_stream_error reporting
 * KALAM_CLOSED. Returns 1 when the stream is done (end, or closed). */
static int check_next(worker* w, const char* what, int strict, struct ArrowArrayStream* s, int rc,
                      struct ArrowArray* a) {
  atomic_fetch_add(&g_calls, 1);
  if (w) atomic_fetch_add(&g_worker_calls[w->id], 1);
  if (rc == 0) {
    if (strict && a->release != NULL) fail(w, "%s: get_next returned a batch after the handle was closed", what);
    if (a->release == NULL) return 1;
    a->release(a);
    if (a->release != NULL) fail(w, "%s: a batch's release left it unreleased", what);
    return 0;
  }
  if (rc != EINVAL) {
    const char* text = s->get_last_error(s);
    fail(w, "%s: get_next returned %d (%s) while racing kalam_close, want 0 or EINVAL", what, rc, text ? text : "");
  }
  kalam_error err = {0};
  kalam_status st = kalam_stream_error(s, &err);
  if (st != KALAM_CLOSED || err.code != KALAM_CLOSED || err.message == NULL)
    fail(w, "%s: get_next returned EINVAL, kalam_stream_error %d (%s), want KALAM_CLOSED", what, st,
         err.message ? err.message : "(no message)");
  kalam_error_release(&err);
  w->saw_closed = 1;
  return 1;
}

static void release_stream(worker* w, struct ArrowArrayStream* s) {
  s->release(s);
  if (s->release != NULL) fail(w, "a stream's release left it unreleased");
}

/* ---- operations ------------------------------------------------------------ */

static void make_stream(struct ArrowArrayStream* out, const h_spec* spec, int ncols, const int64_t* ids,
                        const int64_t* w, int n) {
  struct ArrowArray* cols[2] = {h_col_int64(ids, NULL, n), ncols > 1 ? h_col_int64(w, NULL, n) : NULL};
  struct ArrowArray* b[1] = {h_batch(n, ncols, cols)};
  h_stream(out, spec, b, 1, 0);
}

static void op_append(worker* w) {
  int a = w->id == W_APPEND0 ? 0 : 1;
  int64_t ids[APPEND_ROWS], ws[APPEND_ROWS];
  for (int i = 0; i < APPEND_ROWS; i++) {
    ids[i] = a * KEY_STRIDE + g_acked[a] * APPEND_ROWS + i;
    ws[i] = a;
  }
  struct ArrowArrayStream in;
  make_stream(&in, &T, 2, ids, ws, APPEND_ROWS);
  kalam_error err = {0};
  int64_t written = -1;
  int strict = must_be_closed(w);
  kalam_status st = kalam_append(g_db, "t", &in, &written, &err);
  if (in.release != NULL) fail(w, "kalam_append did not consume its input stream (status %d)", st);
  if (st == KALAM_OK && written != APPEND_ROWS) fail(w, "kalam_append OK with rows_written %" PRId64, written);
  if (!check_call(w, "kalam_append", strict, st, &err)) g_acked[a]++;
}

static void op_delete(worker* w) {
  static const h_spec K = {1, {"l"}, {"id"}, {0}};
  int64_t ids[4];
  for (int i = 0; i < 4; i++) ids[i] = DELETER_BASE + (rand_r(&w->seed) % 1000);
  struct ArrowArrayStream in;
  make_stream(&in, &K, 1, ids, NULL, 4);
  kalam_error err = {0};
  int64_t deleted = -1;
  int strict = must_be_closed(w);
  kalam_status st = kalam_delete(g_db, "t", &in, &deleted, &err);
  if (in.release != NULL) fail(w, "kalam_delete did not consume its input stream");
  /* No appender writes these keys: nothing may have been live. */
  if (st == KALAM_OK && deleted != 0) fail(w, "kalam_delete of never-written keys deleted %" PRId64, deleted);
  check_call(w, "kalam_delete", strict, st, &err);
}

static void op_flush(worker* w) {
  kalam_error err = {0};
  char* seg = NULL;
  int strict = must_be_closed(w);
  kalam_status st = kalam_flush(g_db, "t", &seg, &err);
  kalam_free(seg);
  check_call(w, "kalam_flush", strict, st, &err);
}

static void op_compact(worker* w) {
  kalam_error err = {0};
  char* report = NULL;
  int strict = must_be_closed(w);
  kalam_status st = kalam_compact(g_db, "t", NULL, &report, &err);
  if (st == KALAM_OK && (report == NULL || strstr(report, "\"table\"") == NULL))
    fail(w, "kalam_compact OK without a report: %s", report ? report : "NULL");
  kalam_free(report);
  check_call(w, "kalam_compact", strict, st, &err);
}

static void op_vacuum(worker* w) {
  kalam_error err = {0};
  int64_t removed = -1;
  int strict = must_be_closed(w);
  kalam_status st = kalam_vacuum(g_db, "t", 0, &removed, &err);
  if (st == KALAM_OK && removed < 0) fail(w, "kalam_vacuum OK with files_removed %" PRId64, removed);
  check_call(w, "kalam_vacuum", strict, st, &err);
}

/* Starts a scan of t and reads it to the end (or to the close). */
static void op_scan(worker* w) {
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.batch_rows = 16; /* many get_next calls per scan */
  o.sql = worker_names[w->id];
  struct ArrowArrayStream s;
  kalam_error err = {0};
  int strict = must_be_closed(w);
  kalam_status st = kalam_scan(g_db, "t", &o, &s, &err);
  if (check_call(w, "kalam_scan", strict, st, &err)) {
    if (s.release != NULL) fail(w, "kalam_scan failed but left its output stream unreleased");
    return;
  }
  for (;;) {
    struct ArrowArray a;
    strict = must_be_closed(w);
    int rc = s.get_next(&s, &a);
    if (check_next(w, "scan", strict, &s, rc, &a)) break;
  }
  release_stream(w, &s);
}

static void op_explain(worker* w) {
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.filter = "id >= 1000000000";
  kalam_error err = {0};
  char* plan = NULL;
  int strict = must_be_closed(w);
  kalam_status st = kalam_explain(g_db, "t", &o, &plan, &err);
  if (st == KALAM_OK && (plan == NULL || strstr(plan, "\"read\"") == NULL))
    fail(w, "kalam_explain OK without a plan: %s", plan ? plan : "NULL");
  kalam_free(plan);
  check_call(w, "kalam_explain", strict, st, &err);
}

static void op_live(worker* w) {
  struct ArrowArrayStream s;
  kalam_error err = {0};
  int strict = must_be_closed(w);
  kalam_status st = kalam_system_table(g_db, "system.live_queries", &s, &err);
  if (check_call(w, "kalam_system_table(system.live_queries)", strict, st, &err)) {
    if (s.release != NULL) fail(w, "kalam_system_table failed but left its output stream unreleased");
    return;
  }
  for (;;) {
    struct ArrowArray a;
    strict = must_be_closed(w);
    int rc = s.get_next(&s, &a);
    if (check_next(w, "system.live_queries", strict, &s, rc, &a)) break;
  }
  release_stream(w, &s);
}

static void op_manifest(worker* w) {
  kalam_error err = {0};
  char* json = NULL;
  int strict = must_be_closed(w);
  kalam_status st = kalam_manifest_json(g_db, "t", &json, &err);
  if (st == KALAM_OK && (json == NULL || strstr(json, "\"segments\"") == NULL))
    fail(w, "kalam_manifest_json OK without a manifest: %s", json ? json : "NULL");
  kalam_free(json);
  check_call(w, "kalam_manifest_json", strict, st, &err);
}

static void op_schema(worker* w) {
  struct ArrowSchema* s = (struct ArrowSchema*)h_junk(sizeof *s);
  kalam_error err = {0};
  int strict = must_be_closed(w);
  kalam_status st = kalam_table_schema(g_db, "t", s, &err);
  if (st == KALAM_OK) {
    if (s->release == NULL || s->n_children != 2 || strcmp(s->children[0]->name, "id") != 0)
      fail(w, "kalam_table_schema OK with a wrong schema");
    s->release(s);
  } else if (s->release != NULL) {
    fail(w, "kalam_table_schema failed but left its output schema unreleased");
  }
  free(s);
  check_call(w, "kalam_table_schema", strict, st, &err);
}

static void op_scratch(worker* w) {
  static int n;
  char name[64];
  snprintf(name, sizeof name, "scratch_%d_%d", g_round, n++);
  static const h_spec S = {1, {"l"}, {"x"}, {ARROW_FLAG_NULLABLE}};
  struct ArrowSchema s;
  h_schema_from_spec(&S, &s);
  kalam_error err = {0};
  int strict = must_be_closed(w);
  kalam_status st = kalam_create_table(g_db, name, NULL, &s, NULL, &err);
  if (s.release != NULL) fail(w, "kalam_create_table did not consume its schema (status %d)", st);
  if (check_call(w, "kalam_create_table", strict, st, &err)) return;
  strict = must_be_closed(w);
  st = kalam_drop_table(g_db, name, &err);
  check_call(w, "kalam_drop_table", strict, st, &err);
}

/* ---- workers ----------------------------------------------------------------- */

typedef void (*op_fn)(worker*);

static const op_fn ops[W_COUNT] = {op_append, op_append, op_delete,  op_flush,  op_compact,
                                   op_vacuum, op_scan,   op_scan,    op_explain, op_live,
                                   op_manifest, op_schema, op_scratch, NULL,      NULL};

/* Repeats the operation until the thread has seen the close, then once more:
 * that call must report KALAM_CLOSED. */
static void* run_worker(void* arg) {
  worker* w = (worker*)arg;
  while (!w->saw_closed) {
    if (atomic_load(&g_pause) && !atomic_load(&g_close_returned)) {
      atomic_store(&g_paused[w->id], 1);
      while (!atomic_load(&g_close_returned)) usleep(1000);
    }
    ops[w->id](w);
  }
  ops[w->id](w);
  atomic_store(&g_finished[w->id], 1);
  return NULL;
}

/* Takes the only scan slot (a scan with one batch read and its snapshot
 * open) and keeps it across the close; after the close its next get_next
 * must fail with KALAM_CLOSED. */
static void* run_holder(void* arg) {
  worker* w = (worker*)arg;
  while (!atomic_load(&g_phase2)) usleep(1000);
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.batch_rows = 1;
  o.sql = "holder";
  struct ArrowArrayStream s;
  kalam_error err = {0};
  kalam_status st = kalam_scan(g_db, "t", &o, &s, &err);
  if (check_call(w, "kalam_scan (holder)", 0, st, &err)) fail(w, "the holder's scan started after the close");
  struct ArrowArray a;
  int rc = s.get_next(&s, &a); /* waits behind the drain scans for the slot */
  if (rc != 0 || a.release == NULL) fail(w, "the holder's first get_next: rc %d", rc);
  a.release(&a);
  atomic_store(&g_holding, 1);
  while (!atomic_load(&g_close_returned)) usleep(1000);
  rc = s.get_next(&s, &a);
  check_next(w, "holder after close", 1, &s, rc, &a);
  if (!w->saw_closed) fail(w, "the holder's get_next after kalam_close did not fail");
  /* Keep the slot until the queued scan has woken: the close, not a free
   * slot, must end its wait. */
  double t0 = now_s();
  while (!atomic_load(&g_finished[W_QUEUED]))
    if (now_s() - t0 > g_wake_s)
      fail(w, "the queued scan's get_next still waits %.0f s after kalam_close returned; the close must wake it "
              "with EINVAL / KALAM_CLOSED", g_wake_s);
    else
      usleep(1000);
  release_stream(w, &s);
  atomic_store(&g_finished[w->id], 1);
  return NULL;
}

/* Queues behind the holder; must wake only from the close, with EINVAL and
 * KALAM_CLOSED. */
static void* run_queued(void* arg) {
  worker* w = (worker*)arg;
  while (!atomic_load(&g_holding)) usleep(1000);
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.sql = "queued";
  struct ArrowArrayStream s;
  kalam_error err = {0};
  kalam_status st = kalam_scan(g_db, "t", &o, &s, &err); /* never blocks (§5) */
  if (check_call(w, "kalam_scan (queued)", 0, st, &err)) fail(w, "the queued scan started after the close");
  atomic_store(&g_queued_entered, 1);
  struct ArrowArray a;
  int rc = s.get_next(&s, &a);
  if (!atomic_load(&g_close_started))
    fail(w, "get_next returned %d while the holder still had the only slot and before the close", rc);
  if (rc != EINVAL)
    fail(w, "the queued scan woke from the close with %d (%s), want EINVAL", rc,
         rc == 0 ? (a.release ? "and a batch" : "at the end") : s.get_last_error(&s));
  check_next(w, "queued scan", 1, &s, rc, &a);
  release_stream(w, &s);
  atomic_store(&g_finished[w->id], 1);
  return NULL;
}

/* ---- diagnosis ---------------------------------------------------------------- */

/* Prints what each worker got done this round and, when the library has
 * the hook (the valgrind test build), every goroutine's stack: what a hang
 * is waiting for. */
static void print_diagnosis(void) {
  fprintf(stderr, "test_close_race: round %d: holding %d, queued scan entered %d; calls per worker:", g_round,
          atomic_load(&g_holding), atomic_load(&g_queued_entered));
  for (int i = 0; i < W_COUNT; i++)
    fprintf(stderr, " %s %ld%s", worker_names[i], atomic_load(&g_worker_calls[i]),
            atomic_load(&g_finished[i]) ? " (finished)" : "");
  fputc('\n', stderr);
  void (*dump)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "kalam_test_dump_goroutines");
  if (dump) {
    fprintf(stderr, "test_close_race: the library's goroutines:\n");
    dump();
  }
  fflush(stderr);
}

/* ---- watchdog ---------------------------------------------------------------- */

static void* run_watchdog(void* arg) {
  (void)arg;
  double start = now_s();
  while (!atomic_load(&g_round_done)) {
    if (now_s() - start > g_timeout_s) {
      fprintf(stderr, "test_close_race: round %d hung for %.0f s (close %s); still running:", g_round, g_timeout_s,
              atomic_load(&g_close_returned) ? "returned" : atomic_load(&g_close_started) ? "in progress" : "not called");
      for (int i = 0; i < W_COUNT; i++)
        if (!atomic_load(&g_finished[i])) fprintf(stderr, " %s", worker_names[i]);
      fputc('\n', stderr);
      print_diagnosis();
      abort();
    }
    usleep(20000);
  }
  return NULL;
}

/* ---- main ----------------------------------------------------------------------- */

static kalam_db* open_store(const char* dir, const char* options) {
  kalam_error err = {0};
  kalam_db* db = NULL;
  OK(kalam_open(dir, options, &db, &err));
  return db;
}

/* The state of the live query labelled `sql` ("" when not listed). */
static void live_state(kalam_db* db, const char* sql, char* state, size_t cap) {
  static h_result r;
  kalam_error err = {0};
  struct ArrowArrayStream s;
  OK(kalam_system_table(db, "live_queries", &s, &err));
  h_collect(&s, &r);
  s.release(&s);
  state[0] = '\0';
  char label[256];
  for (int64_t i = 0; i < r.rows; i++) {
    h_str(&r, h_col(&r, "sql"), i, label, sizeof label);
    if (strcmp(label, sql) == 0) h_str(&r, h_col(&r, "state"), i, state, cap);
  }
  h_result_free(&r);
}

/* Reopens the store and checks each appender's rows against its acks. */
static void check_durability(const char* dir, kalam_db* closed) {
  kalam_db* db = open_store(dir, NULL);
  kalam_error err = {0};
  static h_result r;
  const char* cols[2] = {"id", "w"};
  kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
  o.columns = cols;
  o.n_columns = 2;
  struct ArrowArrayStream s;
  OK(kalam_scan(db, "t", &o, &s, &err));
  h_collect(&s, &r);
  s.release(&s);
  int64_t count[2] = {0, 0}, preloaded = 0;
  int cid = h_col(&r, "id"), cw = h_col(&r, "w");
  for (int64_t i = 0; i < r.rows; i++) {
    int64_t id = h_i64(&r, cid, i), a = h_i64(&r, cw, i);
    if (a == PRELOAD_W && id - 5 * KEY_STRIDE >= 0 && id - 5 * KEY_STRIDE < PRELOAD_ROWS) {
      preloaded++;
      continue;
    }
    if (a != 0 && a != 1) fail(NULL, "row id %" PRId64 " has w = %" PRId64, id, a);
    int64_t seq = id - a * KEY_STRIDE;
    if (seq < 0 || seq >= g_acked[a] * APPEND_ROWS)
      fail(NULL, "row id %" PRId64 " of appender %" PRId64 " is beyond its %" PRId64
                 " acknowledged batches: an append that reported KALAM_CLOSED was committed",
           id, a, g_acked[a]);
    count[a]++;
  }
  h_result_free(&r);
  if (preloaded != PRELOAD_ROWS) fail(NULL, "%" PRId64 " of the %d preloaded rows readable", preloaded, PRELOAD_ROWS);
  for (int a = 0; a < 2; a++)
    if (count[a] != g_acked[a] * APPEND_ROWS)
      fail(NULL, "appender %d: %" PRId64 " rows readable after reopening, %" PRId64
                 " acknowledged with KALAM_OK: acknowledged rows were lost",
           a, count[a], g_acked[a] * APPEND_ROWS);
  /* The closed handle is still valid memory and still closed. */
  char* json = NULL;
  EXPECT(KALAM_CLOSED, NULL, kalam_manifest_json(closed, "t", &json, &err));
  CHECK(json == NULL);
  OK(kalam_close(db, &err));
}

static int rm_entry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void run_round(int round, unsigned* seed, int delay_ms_max, int with_queue, int quiesce) {
  g_round = round;
  atomic_store(&g_close_started, 0);
  atomic_store(&g_close_returned, 0);
  atomic_store(&g_phase2, 0);
  atomic_store(&g_holding, 0);
  atomic_store(&g_queued_entered, 0);
  atomic_store(&g_round_done, 0);
  atomic_store(&g_calls, 0);
  for (int i = 0; i < W_COUNT; i++) atomic_store(&g_worker_calls[i], 0);
  g_acked[0] = g_acked[1] = 0;
  atomic_store(&g_pause, 0);
  for (int i = 0; i < W_COUNT; i++) {
    atomic_store(&g_finished[i], 0);
    atomic_store(&g_paused[i], 0);
  }

  char* dir = h_tempdir();
  g_db = open_store(dir, "{\"max_concurrent_scans\": 1}");
  kalam_error err = {0};
  struct ArrowSchema sc;
  h_schema_from_spec(&T, &sc);
  OK(kalam_create_table(g_db, "t", NULL, &sc, "{\"primary_key\": \"id\"}", &err));
  int64_t ids[PRELOAD_ROWS], wv[PRELOAD_ROWS];
  for (int i = 0; i < PRELOAD_ROWS; i++) {
    ids[i] = 5 * KEY_STRIDE + i;
    wv[i] = PRELOAD_W;
  }
  struct ArrowArrayStream in;
  make_stream(&in, &T, 2, ids, wv, PRELOAD_ROWS);
  OK(kalam_append(g_db, "t", &in, NULL, &err));

  pthread_t dog;
  CHECK(pthread_create(&dog, NULL, run_watchdog, NULL) == 0);
  worker ws[W_COUNT];
  pthread_t th[W_COUNT];
  int started[W_COUNT] = {0};
  for (int i = 0; i < W_COUNT; i++) {
    ws[i] = (worker){i, 0, rand_r(seed)};
    void* (*fn)(void*) = run_worker;
    if (i == W_HOLDER || i == W_QUEUED) {
      if (!with_queue) {
        atomic_store(&g_finished[i], 1);
        continue;
      }
      fn = i == W_HOLDER ? run_holder : run_queued;
    }
    CHECK(pthread_create(&th[i], NULL, fn, &ws[i]) == 0);
    started[i] = 1;
  }

  int delay_ms = 1 + (int)(rand_r(seed) % (unsigned)delay_ms_max);
  double queued_s = 0; /* from letting the holder go to the queued scan listed as Queued */
  usleep((useconds_t)delay_ms * 1000);
  if (with_queue) {
    /* The holder takes the slot from the drain scans, the queued scan
     * waits behind it; close only once it is listed as Queued. */
    atomic_store(&g_phase2, 1);
    char state[32] = "";
    double t0 = now_s();
    while (!atomic_load(&g_queued_entered) || strcmp(state, "Queued") != 0) {
      if (now_s() - t0 > g_timeout_s / 2) {
        print_diagnosis();
        fail(NULL, "the queued scan never showed as Queued within %.0f s (state \"%s\")", g_timeout_s / 2, state);
      }
      usleep(5000);
      if (atomic_load(&g_queued_entered)) live_state(g_db, "queued", state, sizeof state);
    }
    queued_s = now_s() - t0;
  }
  if (quiesce) {
    atomic_store(&g_pause, 1);
    for (int i = 0; i < W_HOLDER; i++) {
      /* Behind the holder, the drain scans are queued in get_next, which
       * only the close ends. */
      if (with_queue && (i == W_SCAN0 || i == W_SCAN1)) continue;
      while (!atomic_load(&g_paused[i])) usleep(1000);
    }
  }
  atomic_store(&g_close_started, 1);
  kalam_status st = kalam_close(g_db, &err);
  atomic_store(&g_close_returned, 1);
  if (st != KALAM_OK) fail(NULL, "kalam_close returned %d: %s", st, err.message ? err.message : "");
  kalam_error_release(&err);

  for (int i = 0; i < W_COUNT; i++)
    if (started[i]) pthread_join(th[i], NULL);
  atomic_store(&g_round_done, 1);
  pthread_join(dog, NULL);

  h_checks += (int)atomic_load(&g_calls); /* each call's status was checked */
  check_durability(dir, g_db);
  char queued[64] = "";
  if (with_queue) snprintf(queued, sizeof queued, " with a queued scan (listed after %.1f s)", queued_s);
  fprintf(stderr, "round %d: close after %d ms%s, %ld calls, %" PRId64 "+%" PRId64 " batches acknowledged\n", round,
          delay_ms, queued, atomic_load(&g_calls), g_acked[0], g_acked[1]);
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

static void test_close_race(void) {
  const char* mode = getenv("KALAM_TEST_MODE");
  int valgrind = mode && strcmp(mode, "valgrind") == 0;
  int cgocheck2 = mode && strcmp(mode, "cgocheck2") == 0;
  /* Defaults: a few seconds plainly or with cgocheck2 on 2 busy cores (GOGC=1),
   * 20-40 s for two rounds under valgrind, where every call is far slower. */
  int rounds = valgrind ? 2 : cgocheck2 ? 10 : 12;
  int delay_ms_max = valgrind ? 3000 : 300;
  g_timeout_s = valgrind ? 600 : 60;
  g_wake_s = valgrind ? 60 : 5;
  const char* r = getenv("KALAM_RACE_ROUNDS");
  if (r && *r) rounds = atoi(r);
  unsigned seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
  const char* s = getenv("KALAM_RACE_SEED");
  if (s && *s) seed = (unsigned)strtoul(s, NULL, 10);
  const char* q = getenv("KALAM_RACE_QUIESCE");
  int quiesce = q && strcmp(q, "1") == 0;
  fprintf(stderr, "test_close_race: %d rounds, seed %u (KALAM_RACE_SEED), mode %s%s\n", rounds, seed,
          mode ? mode : "unset", quiesce ? ", quiesced (no call racing the close)" : "");
  for (int i = 0; i < rounds; i++) run_round(i, &seed, delay_ms_max, i % 2 == 1, quiesce);
}

int main(void) {
  RUN(test_close_race);
  return h_done("test_close_race");
}
