// test_calib_hpp.cpp -- include/calib.hpp: RAII, exceptions with the library's
// code and message, the non-throwing twins, views, and the slot. Compiled by
// test/sh/test_cpp.sh with g++ and clang++ (-std=c++17 -Wall -Wextra -Werror
// -pedantic) against lib/libcalib.a, then run. Exit 0 on success.
#include <calib.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

static int failures = 0, checks = 0;
#define EXPECT(c)                                                   \
  do {                                                              \
    ++checks;                                                       \
    if (!(c)) {                                                     \
      ++failures;                                                   \
      std::fprintf(stderr, "%s:%d: EXPECT(%s)\n", __FILE__, __LINE__, #c); \
    }                                                               \
  } while (0)

// Binary scores three times too confident: temperature scaling finds T near 3.
static void synthetic(std::vector<float> &x, std::vector<int64_t> &y, size_t n) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 1.5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  x.resize(n);
  y.resize(n);
  for (size_t i = 0; i < n; i++) {
    const double s = normal(rng);
    y[i] = u(rng) < 1.0 / (1.0 + std::exp(-s)) ? 1 : 0;
    x[i] = static_cast<float>(3.0 * s);
  }
}

int main() {
  std::vector<float> x;
  std::vector<int64_t> y;
  synthetic(x, y, 20000);

  // fit, report, apply in place, bytes round trip
  calib::fitter f(CALIB_METHOD_TEMPERATURE);
  calib::model m = f.fit(calib::cview(x.data(), x.size(), 1), y.data());
  EXPECT(m && m.classes() == 1 && std::string(m.method_name()) == "temperature");
  double T = 0;
  size_t count = 0;
  EXPECT(calib_model_param(m.get(), CALIB_MP_TEMPERATURE, &T, 1, &count) == CALIB_OK && count == 1);
  EXPECT(T > 2.7 && T < 3.3);
  EXPECT(f.report(CALIB_R_STATUS) == CALIB_OK);
  std::vector<float> p(x.begin(), x.begin() + 100);
  m.apply(calib::cview(p.data(), 100, 1), calib::view(p.data(), 100, 1));  // in place
  EXPECT(std::fabs(p[0] - 1.0 / (1.0 + std::exp(-x[0] / T))) < 1e-6);
  const std::vector<uint8_t> bytes = m.save();
  calib::model m2 = calib::model::load(bytes.data(), bytes.size());
  EXPECT(m2.method() == CALIB_METHOD_TEMPERATURE);

  // exceptions carry the code and the argument at fault
  std::vector<int64_t> bad = y;
  bad[5] = 7;
  try {
    (void)f.fit(calib::cview(x.data(), x.size(), 1), bad.data());
    EXPECT(false);
  } catch (const calib::error &e) {
    EXPECT(e.code() == CALIB_E_LABEL);
    EXPECT(std::string(e.what()).find("labels") != std::string::npos);
    EXPECT(std::string(e.what()).find("(at 5)") != std::string::npos);
  }
  calib::model none;
  EXPECT(f.try_fit(none, calib::cview(x.data(), x.size(), 1), bad.data()) == CALIB_E_LABEL && !none);
  EXPECT(f.last_error().code == CALIB_E_LABEL && f.last_error().index == 5);
  try {
    (void)calib::model::load(bytes.data(), bytes.size() - 1);
    EXPECT(false);
  } catch (const calib::error &e) {
    EXPECT(e.code() == CALIB_E_FORMAT);
  }
  int st = 0;
  calib::fitter nf = calib::fitter::create(12345, &st);
  EXPECT(st == CALIB_E_ARG && !nf);
  EXPECT(m.try_apply(calib::cview(x.data(), 10, 1), calib::view(p.data(), 9, 1)) == CALIB_E_ARG);

  // row-wise mode: a NaN row is reported, not thrown; the others as apply
  std::vector<float> xr(x.begin(), x.begin() + 10), pr(10), ps(10);
  xr[3] = std::nanf("");
  std::uint8_t rs[10];
  size_t nbad = 0, first = 0;
  EXPECT(m.apply_rows(calib::cview(xr.data(), 10, 1), calib::view(pr.data(), 10, 1), rs, &nbad, &first) ==
         CALIB_E_NONFINITE);
  EXPECT(nbad == 1 && first == 3 && rs[3] == 2 && rs[0] == 0 && std::isnan(pr[3]));
  m.apply(calib::cview(x.data(), 3, 1), calib::view(ps.data(), 3, 1));
  EXPECT(pr[0] == ps[0] && pr[2] == ps[2]);
  EXPECT(m.apply_rows(calib::cview(xr.data(), 10, 1), calib::view(pr.data(), 9, 1)) == CALIB_E_ARG);

  // moves: the moved-from handle is empty and freeing it is a no-op
  calib::model moved = std::move(m2);
  EXPECT(moved && !m2);

  // slot: install (ownership moves in), apply from threads, pin, rollback
  calib::slot s(2);
  EXPECT(s.version() == 0);
  const uint64_t v1 = s.install(std::move(moved));
  EXPECT(v1 == 1 && !moved);
  const uint64_t v2 = s.install(f.set(CALIB_P_MAX_ITER, 50).fit(calib::cview(x.data(), 5000, 1), y.data()));
  EXPECT(v2 == 2 && s.history() == 1);
  std::vector<std::thread> pool;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; t++)
    pool.emplace_back([&, t] {
      std::vector<float> out(100);
      uint64_t v = 0;
      ok[static_cast<size_t>(t)] =
          s.try_apply(calib::cview(x.data(), 100, 1), calib::view(out.data(), 100, 1), &v) == CALIB_OK && v == 2;
    });
  for (auto &th : pool) th.join();
  EXPECT(ok[0] && ok[1] && ok[2] && ok[3]);
  {
    calib::slot::pin pin = s.acquire();
    EXPECT(pin.version() == 2 && pin.model() != nullptr);
    std::vector<float> out(10);
    pin.apply(calib::cview(x.data(), 10, 1), calib::view(out.data(), 10, 1));
  }
  EXPECT(s.rollback() == 1 && s.version() == 1);
  uint64_t v = 0;
  EXPECT(s.try_rollback(&v) == CALIB_E_EMPTY);
  try {
    (void)s.rollback();
    EXPECT(false);
  } catch (const calib::error &e) {
    EXPECT(e.code() == CALIB_E_EMPTY);
  }

  std::printf("test_calib_hpp: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
