/*
 * svg.h -- reliability diagrams as standalone SVG (src/io/, for the `calib`
 * command; never in the library). No plotting dependency: the file is
 * written by hand, in the "C" locale the process starts in.
 *
 * One panel per model state (e.g. before and after calibration), side by
 * side. Each panel: the accuracy of each bin as a bar over the bin's
 * confidence range, the gap to the bin's mean confidence as a translucent
 * red bar, the Wilson interval of the accuracy, the diagonal y = x, the ECE
 * in the legend, and below it the histogram of the confidences on the same
 * horizontal scale (bar height = rows / bin width, so bins of unequal width
 * still draw a density; pass equal-width rows in `hist` for a plain one).
 */
#ifndef CALIB_IO_SVG_H
#define CALIB_IO_SVG_H

#include <stddef.h>

typedef struct {
  const char *title;     /* panel title (escaped for XML here)           */
  const double *rows;    /* calib_reliability() rows: nbins x CALIB_RD_FIELDS */
  size_t nbins;
  double ece;            /* shown in the legend                          */
  const char *ece_label; /* e.g. "ECE (15 equal-width bins)"             */
  const double *hist;    /* histogram rows (equal-width calib_reliability
                            rows), or NULL to use `rows`                 */
  size_t hist_nbins;
} calib__svg_panel;

/*! calib__svg_reliability() : renders np >= 1 panels into a new
 *  NUL-terminated buffer *out of *len bytes (caller frees with free()).
 *  Errors: CALIB_E_ARG (NULL, np == 0, a panel without rows),
 *  CALIB_E_NOMEM; nothing is stored on error. */
int calib__svg_reliability(const calib__svg_panel *panels, size_t np, char **out, size_t *len);

#endif /* CALIB_IO_SVG_H */
