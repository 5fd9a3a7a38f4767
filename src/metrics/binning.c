/* binning.c -- the one equal-width bin convention of libcalib, shared by every
 * binned metric and by histogram binning.
 *
 * Bin b (0-based, of M) holds the values c with b/M < c <= (b+1)/M, and c = 0
 * goes into bin 0 (right-closed, 0 in the first bin: Guo/gpleiss, Kumar,
 * scikit-learn's calibration_curve, Tao). Edges are the correctly rounded
 * doubles b/M computed by division, never b*step (REFERENCES.md 2.2 (b)). */
#include "internal.h"
#include <math.h>

size_t calib_bin_index(double c, size_t bins) { return calib__bin_index_inl(c, bins); }

/* ---- The other conventions (declared in internal.h) ------------------------
 * Left-closed equal-width bins, and the two equal-mass constructions of
 * REFERENCES.md 2.3 that the metrics suite and histogram binning share. */

/* Bin b holds b/M <= c < (b+1)/M; c = 1 goes into bin M-1 (netcal's
 * histogramdd convention, torchmetrics' without its phantom bin), edges
 * again the correctly rounded b/M. */
size_t calib__bin_index_left_closed(double c, size_t bins) {
  if (bins <= 1 || !(c > 0)) return 0; /* also NaN -> 0 */
  if (c >= 1) return bins - 1;
  const double M = (double)bins;
  const double guess = floor(c * M);
  size_t b = guess > M - 1 ? bins - 1 : (size_t)guess;
  while (b > 0 && c < (double)b / M) b--;
  while (b + 1 < bins && c >= (double)(b + 1) / M) b++;
  return b;
}

/* Kumar, Liang & Ma (2019), verified_calibration get_equal_bins: B = min(bins,
 * n) parts of the sorted values, the first n mod B one longer (numpy's
 * array_split); upper edge of part i = (last of part i + first of part i+1)/2,
 * last edge 1.0; equal edges merged (ties across a cut give fewer bins). */
size_t calib__equal_mass_edges_kumar(const double *sorted, size_t n, size_t bins,
                                     double *edges) {
  if (n == 0 || bins == 0) return 0;
  const size_t B = bins < n ? bins : n, base = n / B, extra = n % B;
  size_t count = 0, end = 0;
  for (size_t i = 0; i + 1 < B; i++) {
    end += base + (i < extra ? 1 : 0);
    const double e = (sorted[end - 1] + sorted[end]) / 2.0;
    if (count == 0 || e != edges[count - 1]) edges[count++] = e;
  }
  if (count == 0 || edges[count - 1] != 1.0) edges[count++] = 1.0;
  return count;
}

/* The bin of c among upper edges e[0..m-1] (ascending): the first e[b] >= c,
 * i.e. (e[b-1], e[b]] bins with everything <= e[0] in bin 0 (Python's
 * bisect_left); values above the last edge go into the last bin. */
size_t calib__edge_bin(double c, const double *edges, size_t m) {
  size_t lo = 0, hi = m ? m - 1 : 0;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (edges[mid] >= c) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/* Nixon et al. (2019) adaptive bins by index: B = min(bins, n) bins of
 * size n / B over the sorted order, the last one taking the remainder; ties
 * are split across bins. bounds[b] .. bounds[b+1] is bin b (B + 1 entries). */
size_t calib__equal_mass_index_bounds(size_t n, size_t bins, size_t *bounds) {
  if (n == 0 || bins == 0) return 0;
  const size_t B = bins < n ? bins : n, size = n / B;
  for (size_t b = 0; b < B; b++) bounds[b] = b * size;
  bounds[B] = n;
  return B;
}
