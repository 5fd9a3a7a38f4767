// calibrate.cpp -- libcalib from C++11: the C API with RAII owners. Fits
// temperature scaling on binary scores that are 3 times too confident,
// applies it, and round-trips the model through bytes.
//   c++ -std=c++11 calibrate.cpp $(pkg-config --cflags --libs calib) -o calibrate
#include <calib.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct FitterDeleter { void operator()(calib_fitter *f) const { calib_fitter_free(f); } };
struct ModelDeleter { void operator()(calib_model *m) const { calib_model_free(m); } };
using Fitter = std::unique_ptr<calib_fitter, FitterDeleter>;
using Model = std::unique_ptr<calib_model, ModelDeleter>;

void check(int status, const char *what) {
  if (status != CALIB_OK) throw std::runtime_error(std::string(what) + ": " + calib_strerror(status));
}

Model fit(int method, const std::vector<float> &x, size_t k, const std::vector<int64_t> &y) {
  calib_fitter *f = nullptr;
  check(calib_fitter_create(&f, method), "calib_fitter_create");
  Fitter fitter(f);
  calib_model *m = nullptr;
  check(calib_fit(fitter.get(), x.data(), y.size(), k, y.data(), nullptr, &m), "calib_fit");
  return Model(m);
}

}  // namespace

int main() try {
  // Binary problem (k = 1): one log-odds score per row; y ~ Bernoulli(sigmoid(s)), score = 3 s.
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.5);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const size_t n = 5000;
  std::vector<float> scores(n);
  std::vector<int64_t> labels(n);
  for (size_t i = 0; i < n; i++) {
    double s = normal(rng);
    labels[i] = uniform(rng) < 1.0 / (1.0 + std::exp(-s)) ? 1 : 0;
    scores[i] = static_cast<float>(3.0 * s);
  }

  Model model = fit(CALIB_METHOD_TEMPERATURE, scores, 1, labels);
  double T = 0;
  size_t count = 0;
  check(calib_model_param(model.get(), CALIB_MP_TEMPERATURE, &T, 1, &count), "calib_model_param");

  std::vector<float> probs(n);
  check(calib_apply(model.get(), scores.data(), n, 1, probs.data()), "calib_apply");

  std::vector<unsigned char> bytes(calib_model_size(model.get()));
  check(calib_model_save(model.get(), bytes.data(), bytes.size(), nullptr), "calib_model_save");
  calib_model *m = nullptr;
  check(calib_model_load(&m, bytes.data(), bytes.size()), "calib_model_load");
  Model copy(m);
  std::vector<float> again(n);
  check(calib_apply(copy.get(), scores.data(), n, 1, again.data()), "calib_apply");

  std::printf("libcalib %s (%s kernels): %s T = %.3f\n", calib_version_string(), calib_isa(),
              calib_method_name(calib_model_method(copy.get())), T);
  std::printf("score %.2f -> p = %.3f; %zu-byte model reloaded %s\n", static_cast<double>(scores[0]),
              static_cast<double>(probs[0]), bytes.size(), probs == again ? "identically" : "DIFFERENTLY");
  return probs == again ? 0 : 1;
} catch (const std::exception &e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
