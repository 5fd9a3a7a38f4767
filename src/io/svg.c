/* svg.c -- reliability diagrams as SVG (see svg.h). Coordinates in pixels;
 * every number printed with a fixed format in the "C" locale. */
#include "svg.h"

#include "calib.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Panel geometry. */
#define PW 460.0      /* panel width                     */
#define PH 600.0      /* panel height                    */
#define PX 70.0       /* plot left, relative to the panel */
#define PY 60.0       /* plot top                        */
#define PS 360.0      /* plot side (square)              */
#define HY 470.0      /* histogram top                   */
#define HH 80.0       /* histogram height                */

#define C_ACC "#3b6fb6"
#define C_GAP "#d62728"
#define C_HIST "#7f7f7f"

typedef struct {
  char *buf;
  size_t len, cap;
  int failed;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(sbuf *s, const char *fmt, ...) {
  if (s->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    const int w = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (w < 0) {
      s->failed = 1;
      return;
    }
    if ((size_t)w < s->cap - s->len) {
      s->len += (size_t)w;
      return;
    }
    const size_t cap = 2 * s->cap + (size_t)w + 1;
    char *b = (char *)realloc(s->buf, cap);
    if (!b) {
      s->failed = 1;
      return;
    }
    s->buf = b;
    s->cap = cap;
  }
}

/* Text with &, <, >, " escaped. */
static void put_text(sbuf *s, const char *t) {
  for (; t && *t; t++) {
    switch (*t) {
      case '&': put(s, "&amp;"); break;
      case '<': put(s, "&lt;"); break;
      case '>': put(s, "&gt;"); break;
      case '"': put(s, "&quot;"); break;
      default:
        if ((unsigned char)*t >= 0x20 || *t == '\t') put(s, "%c", *t);
    }
  }
}

static double fx(double ox, double v) { return ox + PX + PS * v; }
static double fy(double v) { return PY + PS * (1.0 - v); }

static void axes(sbuf *s, double ox) {
  put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" stroke=\"#333333\"/>\n",
      ox + PX, PY, PS, PS);
  for (int i = 0; i <= 5; i++) {
    const double v = i / 5.0;
    put(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>\n", fx(ox, 0), fy(v),
        fx(ox, 1), fy(v));
    put(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>\n", fx(ox, v), fy(0),
        fx(ox, v), fy(1));
    put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" font-size=\"12\">%.1f</text>\n", ox + PX - 6,
        fy(v) + 4, v);
    put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\">%.1f</text>\n", fx(ox, v),
        HY + HH + 18, v);
  }
  put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\" "
         "transform=\"rotate(-90 %.2f %.2f)\">Accuracy</text>\n",
      ox + 22, PY + PS / 2, ox + 22, PY + PS / 2);
  put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\">Confidence</text>\n",
      fx(ox, 0.5), HY + HH + 40);
}

/* Accuracy bars, gap bars and Wilson intervals of the non-empty bins. */
static void bars(sbuf *s, double ox, const calib__svg_panel *p) {
  for (size_t b = 0; b < p->nbins; b++) {
    const double *r = p->rows + b * CALIB_RD_FIELDS;
    if (!(r[CALIB_RD_COUNT] > 0)) continue;
    const double x0 = fx(ox, r[CALIB_RD_LO]), w = fx(ox, r[CALIB_RD_HI]) - x0;
    const double acc = r[CALIB_RD_ACC], conf = r[CALIB_RD_CONF];
    put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"" C_ACC
           "\" stroke=\"#1f3f73\" stroke-width=\"0.8\"/>\n",
        x0, fy(acc), w, fy(0) - fy(acc));
    const double hi = acc > conf ? acc : conf, lo = acc > conf ? conf : acc;
    put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"" C_GAP
           "\" fill-opacity=\"0.3\" stroke=\"" C_GAP "\" stroke-width=\"0.8\"/>\n",
        x0, fy(hi), w, fy(lo) - fy(hi));
    const double xm = x0 + w / 2, cap = w / 4 < 4 ? w / 4 : 4;
    put(s, "<path d=\"M%.2f %.2fV%.2fM%.2f %.2fH%.2fM%.2f %.2fH%.2f\" stroke=\"#111111\" "
           "stroke-width=\"1\" fill=\"none\"/>\n",
        xm, fy(r[CALIB_RD_WILSON_LO]), fy(r[CALIB_RD_WILSON_HI]), xm - cap, fy(r[CALIB_RD_WILSON_LO]),
        xm + cap, xm - cap, fy(r[CALIB_RD_WILSON_HI]), xm + cap);
  }
  put(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\" stroke-width=\"1.5\" "
         "stroke-dasharray=\"6 4\"/>\n",
      fx(ox, 0), fy(0), fx(ox, 1), fy(1));
}

/* The legend sits in the plot's top-left corner, which an overconfident
 * model leaves empty. To keep it narrow, a label "NAME (convention)" is shown
 * as "NAME = value" in bold with the convention on a smaller line below. */
static void legend(sbuf *s, double ox, const calib__svg_panel *p) {
  const double x = fx(ox, 0) + 10, y = PY + 10;
  const char *label = p->ece_label ? p->ece_label : "ECE";
  const char *paren = strstr(label, " (");
  const size_t name_len = paren ? (size_t)(paren - label) : strlen(label);
  char name[64], conv[128];
  snprintf(name, sizeof name, "%.*s", (int)(name_len < 63 ? name_len : 63), label);
  snprintf(conv, sizeof conv, "%s", paren ? paren + 1 : "");
  /* about 7.8 px per character of 13 px bold text, 6.2 of 11 px text */
  double w = 16.0 + 7.8 * ((double)strlen(name) + 9.0);
  const double wc = 16.0 + 6.2 * (double)strlen(conv);
  w = wc > w ? wc : w;
  w = w < 180 ? 180 : (w > PS - 20 ? PS - 20 : w);
  const double h = conv[0] ? 98 : 84;
  put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.0f\" fill=\"#ffffff\" fill-opacity=\"0.9\" "
         "stroke=\"#999999\"/>\n", x, y, w, h);
  put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"10\" fill=\"" C_ACC "\"/>\n", x + 8, y + 9);
  put(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\">Accuracy (Wilson 95%%)</text>\n", x + 28, y + 18);
  put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"10\" fill=\"" C_GAP "\" fill-opacity=\"0.3\" "
         "stroke=\"" C_GAP "\"/>\n", x + 8, y + 27);
  put(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\">Gap to mean confidence</text>\n", x + 28, y + 36);
  put(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\" stroke-dasharray=\"4 3\"/>\n",
      x + 8, y + 50, x + 22, y + 50);
  put(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\">Perfect calibration</text>\n", x + 28, y + 54);
  put(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"13\" font-weight=\"bold\">", x + 8, y + 74);
  put_text(s, name);
  put(s, " = %.4f</text>\n", p->ece);
  if (conv[0]) {
    const size_t cl = strlen(conv);
    if (cl && conv[cl - 1] == ')') conv[cl - 1] = 0; /* "(15 bins)" -> "15 bins" after the '(' below */
    put(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"11\" fill=\"#555555\">", x + 8, y + 89);
    put_text(s, conv[0] == '(' ? conv + 1 : conv);
    put(s, "</text>\n");
  }
}

/* Rows per unit of confidence in bin r (a density, whatever the widths). */
static double hist_height(const double *r) {
  const double w = r[CALIB_RD_HI] - r[CALIB_RD_LO];
  return w > 0 ? r[CALIB_RD_COUNT] / w : 0.0;
}

static void histogram(sbuf *s, double ox, const calib__svg_panel *p) {
  const double *rows = p->hist ? p->hist : p->rows;
  const size_t nb = p->hist ? p->hist_nbins : p->nbins;
  double most = 0, total = 0, tallest = 0;
  for (size_t b = 0; b < nb; b++) {
    const double *r = rows + b * CALIB_RD_FIELDS, h = hist_height(r);
    if (h > most) {
      most = h;
      tallest = r[CALIB_RD_COUNT];
    }
    total += r[CALIB_RD_COUNT];
  }
  put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" stroke=\"#333333\"/>\n",
      ox + PX, HY, PS, HH);
  for (size_t b = 0; b < nb && most > 0; b++) {
    const double *r = rows + b * CALIB_RD_FIELDS;
    const double h = HH * hist_height(r) / most, x0 = fx(ox, r[CALIB_RD_LO]);
    if (h > 0)
      put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"" C_HIST
             "\" stroke=\"#4d4d4d\" stroke-width=\"0.6\"/>\n",
          x0, HY + HH - h, fx(ox, r[CALIB_RD_HI]) - x0, h);
  }
  put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"12\" "
         "transform=\"rotate(-90 %.2f %.2f)\">Rows</text>\n",
      ox + 22, HY + HH / 2, ox + 22, HY + HH / 2);
  put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" font-size=\"12\">%.0f</text>\n", ox + PX - 6, HY + 10,
      tallest);
  put(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\" fill=\"#333333\">confidence histogram, n = %.0f</text>\n",
      ox + PX + 6, HY - 6, total);
}

static void panel(sbuf *s, size_t i, const calib__svg_panel *p) {
  const double ox = PW * (double)i;
  put(s, "<g>\n<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">",
      fx(ox, 0.5), PY - 22);
  put_text(s, p->title ? p->title : "");
  put(s, "</text>\n");
  axes(s, ox);
  bars(s, ox, p);
  legend(s, ox, p);
  histogram(s, ox, p);
  put(s, "</g>\n");
}

int calib__svg_reliability(const calib__svg_panel *panels, size_t np, char **out, size_t *len) {
  if (!panels || np == 0 || !out || !len) return CALIB_E_ARG;
  for (size_t i = 0; i < np; i++)
    if (!panels[i].rows || panels[i].nbins == 0 || (panels[i].hist && panels[i].hist_nbins == 0))
      return CALIB_E_ARG;
  sbuf s = {NULL, 0, 0, 0};
  s.buf = (char *)malloc(4096);
  if (!s.buf) return CALIB_E_NOMEM;
  s.cap = 4096;
  put(&s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
          "<title>Reliability diagram (libcalib)</title>\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
      PW * (double)np, PH, PW * (double)np, PH);
  for (size_t i = 0; i < np; i++) panel(&s, i, &panels[i]);
  put(&s, "</svg>\n");
  if (s.failed) {
    free(s.buf);
    return CALIB_E_NOMEM;
  }
  *out = s.buf;
  *len = s.len;
  return CALIB_OK;
}
