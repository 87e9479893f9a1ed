// See rocks_shim.h for why this exists.
#include "rocks_shim.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cstdarg>
#include <memory>
#include <mutex>
#include <string>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>

// The C API's handle types are opaque structs defined in RocksDB's c.cc; the
// pinned release (7.8, Debian's librocksdb-dev) defines them exactly so.
struct rocksdb_t {
  rocksdb::DB* rep;
};
struct rocksdb_options_t {
  rocksdb::Options rep;
};
struct rocksdb_iterator_t {
  rocksdb::Iterator* rep;
};
struct rocksdb_writebatch_t {
  rocksdb::WriteBatch rep;
};
struct rocksdb_column_family_handle_t {
  rocksdb::ColumnFamilyHandle* rep;
};

namespace {

class KalamLogger : public rocksdb::Logger {
 public:
  KalamLogger(std::string path, long long cap) : path_(std::move(path)), cap_(cap) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      off_t end = ::lseek(fd_, 0, SEEK_END);
      written_ = end > 0 ? end : 0;
    }
  }
  ~KalamLogger() override {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Write(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    Write(level, format, ap);
  }
  void LogHeader(const char* format, va_list ap) override {
    Write(rocksdb::InfoLogLevel::HEADER_LEVEL, format, ap);
  }

  std::string LastError() {
    std::lock_guard<std::mutex> l(mu_);
    return last_error_;
  }

 private:
  void Write(rocksdb::InfoLogLevel level, const char* format, va_list ap) {
    char msg[1024];
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(msg, sizeof msg, format, cp);
    va_end(cp);
    if (n < 0) return;
    if (n >= (int)sizeof msg) n = sizeof msg - 1;
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm t;
    localtime_r(&tv.tv_sec, &t);
    char line[1100];
    int m = snprintf(line, sizeof line, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %s\n", t.tm_year + 1900,
                     t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, (long)tv.tv_usec, msg);
    if (m < 0) return;
    if (m >= (int)sizeof line) m = sizeof line - 1;
    std::lock_guard<std::mutex> l(mu_);
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL && level != rocksdb::InfoLogLevel::HEADER_LEVEL) {
      last_error_.assign(msg, n);
    }
    if (fd_ < 0) return;
    if (cap_ > 0 && written_ + m > cap_) Rotate();
    // A failed or short write loses a log line, never the process.
    ssize_t w = ::write(fd_, line, m);
    if (w > 0) written_ += w;
  }
  void Rotate() {
    std::string old = path_ + ".old";
    ::rename(path_.c_str(), old.c_str());
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd_);
      fd_ = fd;
      written_ = 0;
    }
  }

  std::string path_;
  long long cap_;
  int fd_ = -1;
  long long written_ = 0;
  std::mutex mu_;
  std::string last_error_;
};

// ManualRecovery turns RocksDB's own recovery from background errors off:
// the store resumes RocksDB itself (DB::Resume) before its next write once
// the disk has room again, at once rather than at RocksDB's next 5-second
// poll, and a manual Resume would otherwise be refused as Busy while an
// automatic one is pending.
class ManualRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

}  // namespace

extern "C" void kalam_rocks_set_manual_recovery(rocksdb_options_t* opts) {
  opts->rep.listeners.push_back(std::make_shared<ManualRecovery>());
}

extern "C" int kalam_rocks_set_logger(rocksdb_options_t* opts, const char* path, long long cap_bytes) {
  auto l = std::make_shared<KalamLogger>(path, cap_bytes);
  // Installed even when the file cannot be opened: left unset, RocksDB
  // would create its own file logger, the one that aborts.
  opts->rep.info_log = l;
  return l->ok() ? 0 : -1;
}

extern "C" char* kalam_rocks_resume(rocksdb_t* db) {
  rocksdb::Status s = db->rep->Resume();
  if (s.ok()) return nullptr;
  return strdup(s.ToString().c_str());
}

extern "C" int kalam_rocks_last_error(rocksdb_options_t* opts, char* buf, int n) {
  auto l = std::dynamic_pointer_cast<KalamLogger>(opts->rep.info_log);
  if (!l || n <= 0) return 0;
  std::string e = l->LastError();
  int k = (int)e.size() < n - 1 ? (int)e.size() : n - 1;
  memcpy(buf, e.data(), k);
  buf[k] = 0;
  return k;
}

namespace {
inline void put_u32le(char* p, uint32_t v) {
  p[0] = (char)(v & 0xff);
  p[1] = (char)((v >> 8) & 0xff);
  p[2] = (char)((v >> 16) & 0xff);
  p[3] = (char)((v >> 24) & 0xff);
}
}  // namespace

extern "C" int kalam_iter_next_batch(rocksdb_iterator_t* it, char* buf, size_t cap, size_t* used, size_t* need) {
  rocksdb::Iterator* r = it->rep;
  size_t off = 0;
  int n = 0;
  *need = 0;
  for (; r->Valid(); r->Next()) {
    rocksdb::Slice k = r->key(), v = r->value();
    size_t sz = 8 + k.size() + v.size();
    if (off + sz > cap) {
      if (n == 0) *need = sz;
      break;
    }
    put_u32le(buf + off, (uint32_t)k.size());
    put_u32le(buf + off + 4, (uint32_t)v.size());
    memcpy(buf + off + 8, k.data(), k.size());
    memcpy(buf + off + 8 + k.size(), v.data(), v.size());
    off += sz;
    n++;
  }
  *used = off;
  return n;
}

extern "C" int kalam_writebatch_put_packed(rocksdb_writebatch_t* wb, rocksdb_column_family_handle_t* cf, const char* buf,
                                           size_t len) {
  size_t off = 0;
  while (off < len) {
    if (len - off < 8) return -1;
    uint32_t kl, vl;
    memcpy(&kl, buf + off, 4);
    memcpy(&vl, buf + off + 4, 4);
    off += 8;
    if (len - off < static_cast<size_t>(kl) + vl) return -1;
    rocksdb::Status s = wb->rep.Put(cf->rep, rocksdb::Slice(buf + off, kl), rocksdb::Slice(buf + off + kl, vl));
    if (!s.ok()) return -1;
    off += static_cast<size_t>(kl) + vl;
  }
  return 0;
}
