/* binning.c -- the one equal-width bin convention of libcalib, shared by every
 * binned metric and by histogram binning.
 *
 * Bin b (0-based, of M) holds the values c with b/M < c <= (b+1)/M, and c = 0
 * goes into bin 0 (right-closed, 0 in the first bin: Guo/gpleiss, Kumar,
 * scikit-learn's calibration_curve, Tao). Edges are the correctly rounded
 * doubles b/M computed by division, never b*step (REFERENCES.md 2.2 (b)). */
#include "internal.h"
#include <math.h>

size_t calib_bin_index(double c, size_t bins) {
  if (bins <= 1 || !(c > 0)) return 0; /* also NaN -> 0 */
  if (c >= 1) return bins - 1;
  const double M = (double)bins;
  double guess = ceil(c * M) - 1.0;
  size_t b = guess < 0 ? 0 : (guess > M - 1 ? bins - 1 : (size_t)guess);
  /* Correct the guess against the exact edges: b/M < c <= (b+1)/M. */
  while (b > 0 && c <= (double)b / M) b--;
  while (b + 1 < bins && c > (double)(b + 1) / M) b++;
  return b;
}
