// kalam.hpp — small RAII wrappers over the libkalam C API (C++17).
//
// kalam::Db owns a kalam_db*, kalam::Stream owns a struct ArrowArrayStream,
// kalam::Batch owns a struct ArrowArray, and failures throw kalam::Error with
// the library's status code and message. Header-only; link with
// $(pkg-config --libs kalam) and an rpath (-Wl,-rpath,"$(pkg-config
// --variable=libdir kalam)") or LD_LIBRARY_PATH to find it at run time.
#ifndef KALAM_HPP
#define KALAM_HPP

#include <kalam.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kalam {

// A failed libkalam call: status() is the kalam_status, what() the message.
class Error : public std::runtime_error {
 public:
  Error(kalam_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  kalam_status status() const noexcept { return status_; }

 private:
  kalam_status status_;
};

namespace detail {
// Turns a status and its filled kalam_error into an exception (and releases it).
inline void check(kalam_status status, kalam_error& err) {
  if (status == KALAM_OK) return;
  std::string message = err.message ? err.message : "libkalam error";
  kalam_error_release(&err);
  throw Error(status, message);
}

// A string returned by libkalam, freed with kalam_free.
inline std::string take(char* s) {
  if (s == nullptr) return {};
  std::string out(s);
  kalam_free(s);
  return out;
}
}  // namespace detail

// One record batch (a struct array whose children are the columns).
class Batch {
 public:
  Batch() { std::memset(&array_, 0, sizeof array_); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  Batch(Batch&& o) noexcept : array_(o.array_) { o.array_.release = nullptr; }
  Batch& operator=(Batch&& o) noexcept {
    if (this != &o) {
      reset();
      array_ = o.array_;
      o.array_.release = nullptr;
    }
    return *this;
  }
  ~Batch() { reset(); }

  void reset() {
    if (array_.release) array_.release(&array_);
  }
  int64_t rows() const { return array_.length; }
  const ArrowArray& column(int64_t i) const { return *array_.children[i]; }
  int64_t offset() const { return array_.offset; }
  ArrowArray* raw() { return &array_; }

 private:
  ArrowArray array_;
};

// A scan's Arrow C stream. Move-only; releasing it (destructor) ends the scan.
class Stream {
 public:
  Stream() { std::memset(&stream_, 0, sizeof stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&& o) noexcept : stream_(o.stream_) { o.stream_.release = nullptr; }
  Stream& operator=(Stream&& o) noexcept {
    if (this != &o) {
      reset();
      stream_ = o.stream_;
      o.stream_.release = nullptr;
    }
    return *this;
  }
  ~Stream() { reset(); }

  void reset() {
    if (stream_.release) stream_.release(&stream_);
  }

  // Column names and Arrow format strings.
  std::vector<std::pair<std::string, std::string>> columns() {
    ArrowSchema schema;
    fail_on(stream_.get_schema(&stream_, &schema));
    std::vector<std::pair<std::string, std::string>> out;
    for (int64_t i = 0; i < schema.n_children; i++)
      out.emplace_back(schema.children[i]->name, schema.children[i]->format);
    schema.release(&schema);
    return out;
  }

  // Moves the next batch into *batch; false at the end of the stream.
  bool next(Batch& batch) {
    batch.reset();
    fail_on(stream_.get_next(&stream_, batch.raw()));
    return batch.raw()->release != nullptr;
  }

  // Hands the C stream over (e.g. to pyarrow or DuckDB); this object is then empty.
  ArrowArrayStream release_to_c() {
    ArrowArrayStream out = stream_;
    stream_.release = nullptr;
    return out;
  }

  ArrowArrayStream* raw() { return &stream_; }

 private:
  void fail_on(int errno_value) {
    if (errno_value == 0) return;
    kalam_error err = {};
    kalam_status status = kalam_stream_error(&stream_, &err);
    std::string message = err.message ? err.message : "stream error";
    kalam_error_release(&err);
    throw Error(status == KALAM_OK ? KALAM_INTERNAL : status, message);
  }

  ArrowArrayStream stream_;
};

// Scan options; columns empty means all user columns.
struct ScanOptions {
  std::vector<std::string> columns;
  std::string filter;
  int64_t limit = -1;
  int64_t batch_rows = 0;
  int64_t as_of_version = 0;
  std::string sql;
};

// An open store handle. Move-only; the destructor closes it (streams keep
// working until they end or fail with KALAM_CLOSED).
class Db {
 public:
  explicit Db(const std::string& root, const std::string& options_json = "") {
    kalam_error err = {};
    detail::check(kalam_open(root.c_str(), options_json.empty() ? nullptr : options_json.c_str(), &db_, &err),
                  err);
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  ~Db() {
    if (db_) kalam_close(db_, nullptr);
  }

  void close() {
    kalam_error err = {};
    kalam_db* db = std::exchange(db_, nullptr);
    if (db) detail::check(kalam_close(db, &err), err);
  }

  void create_namespace(const std::string& ns) {
    kalam_error err = {};
    detail::check(kalam_create_namespace(db_, ns.c_str(), &err), err);
  }

  // schema is consumed (released) whatever happens.
  void create_table(const std::string& table, ArrowSchema* schema, const std::string& options_json = "",
                    const std::string& type = "shared") {
    kalam_error err = {};
    detail::check(kalam_create_table(db_, table.c_str(), type.c_str(), schema,
                                     options_json.empty() ? nullptr : options_json.c_str(), &err),
                  err);
  }

  void drop_table(const std::string& table) {
    kalam_error err = {};
    detail::check(kalam_drop_table(db_, table.c_str(), &err), err);
  }

  // in is consumed. Returns the rows written.
  int64_t append(const std::string& table, ArrowArrayStream* in) {
    kalam_error err = {};
    int64_t n = 0;
    detail::check(kalam_append(db_, table.c_str(), in, &n, &err), err);
    return n;
  }

  // keys is consumed. Returns the keys that had a live row.
  int64_t remove(const std::string& table, ArrowArrayStream* keys) {
    kalam_error err = {};
    int64_t n = 0;
    detail::check(kalam_delete(db_, table.c_str(), keys, &n, &err), err);
    return n;
  }

  // The new segment's id, or "" when there was nothing to flush.
  std::string flush(const std::string& table) {
    kalam_error err = {};
    char* id = nullptr;
    detail::check(kalam_flush(db_, table.c_str(), &id, &err), err);
    return detail::take(id);
  }

  Stream scan(const std::string& table, const ScanOptions& o = {}) {
    std::vector<const char*> cols;
    for (const auto& c : o.columns) cols.push_back(c.c_str());
    kalam_scan_options opts = KALAM_SCAN_OPTIONS_INIT;
    if (!o.columns.empty()) {
      opts.columns = cols.data();
      opts.n_columns = static_cast<int64_t>(cols.size());
    }
    opts.filter = o.filter.empty() ? nullptr : o.filter.c_str();
    opts.limit = o.limit;
    opts.batch_rows = o.batch_rows;
    opts.as_of_version = o.as_of_version;
    opts.sql = o.sql.empty() ? nullptr : o.sql.c_str();
    Stream s;
    kalam_error err = {};
    detail::check(kalam_scan(db_, table.c_str(), &opts, s.raw(), &err), err);
    return s;
  }

  Stream system_table(const std::string& name) {
    Stream s;
    kalam_error err = {};
    detail::check(kalam_system_table(db_, name.c_str(), s.raw(), &err), err);
    return s;
  }

  std::string manifest_json(const std::string& table) {
    kalam_error err = {};
    char* json = nullptr;
    detail::check(kalam_manifest_json(db_, table.c_str(), &json, &err), err);
    return detail::take(json);
  }

  kalam_db* raw() { return db_; }

 private:
  kalam_db* db_ = nullptr;
};

}  // namespace kalam

#endif  // KALAM_HPP
