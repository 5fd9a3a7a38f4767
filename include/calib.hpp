// calib.hpp -- libcalib for C++17: RAII handles, exceptions that carry the
// library's code and message, and a non-throwing form of every call.
//
// Header-only, over the C API of calib.h (no ABI of its own: link libcalib as
// for C). Every throwing member has a `try_` twin that is noexcept and returns
// the CALIB_* status instead; the throwing form throws calib::error, whose
// code() is the status and whose what() is the library's one-line message
// (with the argument at fault where the library says it: calib_error).
//
//   #include <calib.hpp>            // c++ -std=c++17 app.cpp $(pkg-config --cflags --libs calib)
//   calib::fitter f(CALIB_METHOD_TEMPERATURE);
//   calib::model m = f.fit(calib::cview(val_logits.data(), n, k), val_labels.data());
//   calib::slot s(4);                                   // keeps 4 models for rollback
//   uint64_t v = s.install(std::move(m));
//   v = s.apply(calib::cview(batch, rows, k), calib::view(probs, rows, k));
//
// Views are row-major (rows x cols) float32 matrices over caller memory: the
// wrapper never copies or allocates on the apply path. Ownership: a model,
// fitter or slot owns its C object (move-only); slot::install takes a model by
// rvalue and the slot owns it from then on.
#ifndef CALIB_HPP
#define CALIB_HPP

#include "calib.h"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace calib {

// ---- errors -----------------------------------------------------------------

// A failed libcalib call: code() is the CALIB_E_* status, what() the message.
class error : public std::runtime_error {
 public:
  error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// Throws calib::error for a negative status: "<where>: <detail or strerror>".
inline void check(int status, const char *where, const calib_error *detail = nullptr) {
  if (status >= 0) return;
  std::string msg(where);
  msg += ": ";
  msg += (detail && detail->code == status && detail->message[0]) ? detail->message : calib_strerror(status);
  throw error(status, msg);
}

// ---- views --------------------------------------------------------------------

// A rows x cols row-major matrix of T over caller memory (T = float or const float).
template <class T>
class matrix_view {
 public:
  constexpr matrix_view() noexcept = default;
  constexpr matrix_view(T *data, std::size_t rows, std::size_t cols) noexcept
      : data_(data), rows_(rows), cols_(cols) {}
  template <class U>  // float view -> const float view
  constexpr matrix_view(const matrix_view<U> &o) noexcept : data_(o.data()), rows_(o.rows()), cols_(o.cols()) {}
  constexpr T *data() const noexcept { return data_; }
  constexpr std::size_t rows() const noexcept { return rows_; }
  constexpr std::size_t cols() const noexcept { return cols_; }
  constexpr std::size_t size() const noexcept { return rows_ * cols_; }
  constexpr T *row(std::size_t i) const noexcept { return data_ + i * cols_; }

 private:
  T *data_ = nullptr;
  std::size_t rows_ = 0, cols_ = 0;
};

using const_view = matrix_view<const float>;
using mutable_view = matrix_view<float>;
inline constexpr const_view cview(const float *d, std::size_t rows, std::size_t cols) noexcept {
  return const_view(d, rows, cols);
}
inline constexpr mutable_view view(float *d, std::size_t rows, std::size_t cols) noexcept {
  return mutable_view(d, rows, cols);
}

// ---- model -----------------------------------------------------------------

class model {
 public:
  model() noexcept = default;
  explicit model(calib_model *m) noexcept : m_(m) {}  // takes ownership
  ~model() { calib_model_free(m_); }
  model(model &&o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  model &operator=(model &&o) noexcept {
    if (this != &o) {
      calib_model_free(m_);
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  model(const model &) = delete;
  model &operator=(const model &) = delete;

  // Loading validates every byte; the error says which check failed.
  static int try_load(model &out, const void *buf, std::size_t len) noexcept {
    calib_model *m = nullptr;
    const int st = calib_model_load(&m, buf, len);
    if (st == CALIB_OK) out = model(m);
    return st;
  }
  static model load(const void *buf, std::size_t len) {
    model out;
    check(try_load(out, buf, len), "calib::model::load");
    return out;
  }
  static int try_load_file(model &out, const char *path) noexcept {
    calib_model *m = nullptr;
    const int st = calib_model_load_file(&m, path);
    if (st == CALIB_OK) out = model(m);
    return st;
  }
  static model load_file(const std::string &path) {
    model out;
    check(try_load_file(out, path.c_str()), ("calib::model::load_file(" + path + ")").c_str());
    return out;
  }

  // probs = the calibrated map of logits; in place (same data) allowed.
  int try_apply(const_view logits, mutable_view probs) const noexcept {
    if (logits.rows() != probs.rows() || logits.cols() != probs.cols()) return CALIB_E_ARG;
    return calib_apply(m_, logits.data(), logits.rows(), logits.cols(), probs.data());
  }
  void apply(const_view logits, mutable_view probs) const { check(try_apply(logits, probs), "calib::model::apply"); }
  // Row-wise mode (calib_apply_rows): a bad row is written as NaN and
  // reported (row_status: rows() bytes, may be null), never thrown; returns
  // CALIB_OK or the first bad row's code (outputs written), or an argument
  // error (nothing written).
  int apply_rows(const_view logits, mutable_view probs, std::uint8_t *row_status = nullptr,
                 std::size_t *bad_rows = nullptr, std::size_t *first_bad = nullptr) const noexcept {
    if (logits.rows() != probs.rows() || logits.cols() != probs.cols()) return CALIB_E_ARG;
    return calib_apply_rows(m_, logits.data(), logits.rows(), logits.cols(), probs.data(), row_status, bad_rows,
                            first_bad);
  }

  std::vector<std::uint8_t> save() const {
    std::vector<std::uint8_t> bytes(calib_model_size(m_));
    std::size_t written = 0;
    check(calib_model_save(m_, bytes.data(), bytes.size(), &written), "calib::model::save");
    bytes.resize(written);
    return bytes;
  }
  int try_save_file(const char *path) const noexcept { return calib_model_save_file(m_, path); }
  void save_file(const std::string &path) const {
    check(try_save_file(path.c_str()), ("calib::model::save_file(" + path + ")").c_str());
  }

  int method() const noexcept { return calib_model_method(m_); }
  const char *method_name() const noexcept { return calib_method_name(calib_model_method(m_)); }
  std::size_t classes() const noexcept { return calib_model_classes(m_); }
  explicit operator bool() const noexcept { return m_ != nullptr; }
  calib_model *get() const noexcept { return m_; }
  calib_model *release() noexcept { return std::exchange(m_, nullptr); }

 private:
  calib_model *m_ = nullptr;
};

// ---- fitter ----------------------------------------------------------------

class fitter {
 public:
  explicit fitter(int method) { check(calib_fitter_create(&f_, method), "calib::fitter"); }
  // The non-throwing form: an empty fitter (get() == nullptr) and *status < 0 on failure.
  static fitter create(int method, int *status) noexcept {
    fitter out;
    *status = calib_fitter_create(&out.f_, method);
    return out;
  }
  ~fitter() { calib_fitter_free(f_); }
  fitter(fitter &&o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  fitter &operator=(fitter &&o) noexcept {
    if (this != &o) {
      calib_fitter_free(f_);
      f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
  }
  fitter(const fitter &) = delete;
  fitter &operator=(const fitter &) = delete;

  int try_set(int param, double value) noexcept { return calib_fitter_set(f_, param, value); }
  fitter &set(int param, double value) {
    check(try_set(param, value), "calib::fitter::set");
    return *this;
  }

  // Fits on logits (rows x k) and labels[rows]; weights may be null.
  int try_fit(model &out, const_view logits, const std::int64_t *labels,
              const double *weights = nullptr) noexcept {
    calib_model *m = nullptr;
    const int st = calib_fit(f_, logits.data(), logits.rows(), logits.cols(), labels, weights, &m);
    if (st == CALIB_OK) out = model(m);
    return st;
  }
  model fit(const_view logits, const std::int64_t *labels, const double *weights = nullptr) {
    model out;
    const int st = try_fit(out, logits, labels, weights);
    if (st != CALIB_OK) {
      calib_error detail{};
      const bool have = f_ && calib_fitter_error(f_, &detail) == CALIB_OK;
      check(st, "calib::fitter::fit", have ? &detail : nullptr);
    }
    return out;
  }
  // The detail of the last fit (calib_fitter_error).
  calib_error last_error() const noexcept {
    calib_error e{};
    if (calib_fitter_error(f_, &e) != CALIB_OK) e.code = CALIB_E_ARG;
    return e;
  }
  // Report item `what` (CALIB_R_*) of the last fit.
  double report(int what) const {
    double v = 0;
    check(calib_fitter_report(f_, what, &v), "calib::fitter::report");
    return v;
  }
  calib_fitter *get() const noexcept { return f_; }
  explicit operator bool() const noexcept { return f_ != nullptr; }

 private:
  fitter() noexcept = default;
  calib_fitter *f_ = nullptr;
};

// ---- slot: hot swap and rollback -------------------------------------------------

class slot {
 public:
  explicit slot(std::size_t history) { check(calib_slot_create(&s_, history), "calib::slot"); }
  ~slot() { calib_slot_free(s_); }
  slot(slot &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  slot &operator=(slot &&o) noexcept {
    if (this != &o) {
      calib_slot_free(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  slot(const slot &) = delete;
  slot &operator=(const slot &) = delete;

  // Installs m (the slot owns it on success; on failure m keeps it).
  int try_install(model &&m, std::uint64_t *version) noexcept {
    const int st = calib_slot_install(s_, m.get(), version);
    if (st == CALIB_OK) (void)m.release();
    return st;
  }
  std::uint64_t install(model &&m) {
    std::uint64_t v = 0;
    check(try_install(std::move(m), &v), "calib::slot::install");
    return v;
  }
  int try_rollback(std::uint64_t *version) noexcept { return calib_slot_rollback(s_, version); }
  std::uint64_t rollback() {
    std::uint64_t v = 0;
    check(try_rollback(&v), "calib::slot::rollback");
    return v;
  }
  // Applies the current model to every row of one call; returns its version.
  int try_apply(const_view logits, mutable_view probs, std::uint64_t *version) const noexcept {
    if (logits.rows() != probs.rows() || logits.cols() != probs.cols()) return CALIB_E_ARG;
    return calib_slot_apply(s_, logits.data(), logits.rows(), logits.cols(), probs.data(), version);
  }
  std::uint64_t apply(const_view logits, mutable_view probs) const {
    std::uint64_t v = 0;
    check(try_apply(logits, probs, &v), "calib::slot::apply");
    return v;
  }
  std::uint64_t version() const noexcept { return calib_slot_version(s_); }
  std::size_t history() const noexcept { return calib_slot_history(s_); }

  // A pinned model (calib_slot_acquire): valid until the pin is destroyed.
  class pin {
   public:
    pin() noexcept = default;
    ~pin() { calib_slot_release(&ref_); }
    pin(pin &&o) noexcept : ref_(o.ref_) { o.ref_.model = nullptr; }
    pin &operator=(pin &&o) noexcept {
      if (this != &o) {
        calib_slot_release(&ref_);
        ref_ = o.ref_;
        o.ref_.model = nullptr;
      }
      return *this;
    }
    pin(const pin &) = delete;
    pin &operator=(const pin &) = delete;
    const calib_model *model() const noexcept { return ref_.model; }
    std::uint64_t version() const noexcept { return ref_.version; }
    int try_apply(const_view logits, mutable_view probs) const noexcept {
      if (logits.rows() != probs.rows() || logits.cols() != probs.cols()) return CALIB_E_ARG;
      return calib_apply(ref_.model, logits.data(), logits.rows(), logits.cols(), probs.data());
    }
    void apply(const_view logits, mutable_view probs) const { check(try_apply(logits, probs), "calib::slot::pin::apply"); }
    // calib::model::apply_rows on the pinned model.
    int apply_rows(const_view logits, mutable_view probs, std::uint8_t *row_status = nullptr,
                   std::size_t *bad_rows = nullptr, std::size_t *first_bad = nullptr) const noexcept {
      if (logits.rows() != probs.rows() || logits.cols() != probs.cols()) return CALIB_E_ARG;
      return calib_apply_rows(ref_.model, logits.data(), logits.rows(), logits.cols(), probs.data(), row_status,
                              bad_rows, first_bad);
    }

   private:
    friend class slot;
    calib_slot_ref ref_{nullptr, 0, nullptr};
  };
  int try_acquire(pin &out) const noexcept {
    pin p;
    const int st = calib_slot_acquire(s_, &p.ref_);
    if (st == CALIB_OK) out = std::move(p);
    return st;
  }
  pin acquire() const {
    pin p;
    check(try_acquire(p), "calib::slot::acquire");
    return p;
  }
  calib_slot *get() const noexcept { return s_; }

 private:
  calib_slot *s_ = nullptr;
};

}  // namespace calib

#endif  // CALIB_HPP
