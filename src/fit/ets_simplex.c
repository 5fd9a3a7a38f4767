/* ets_simplex.c -- exact minimisation of a smooth convex function of three
 * weights over the probability simplex (the ETS weight problem).
 *
 * Active-set Newton method. Coordinates are free or fixed at 0. On the face
 * of the free set F, with a reference coordinate r in F, the reduced problem
 * in the other free coordinates has gradient g_j - g_r and Hessian
 * H_jl - H_jr - H_rl + H_rr (1 x 1 or 2 x 2, damped if singular: the weights
 * of two identical components are not identified). The Newton step moves
 * mass inside F; a step that would make a weight negative stops at 0 and
 * fixes that coordinate (Armijo backtracking otherwise). When the face is
 * solved (|g_j - g_r| <= tol on F), a fixed coordinate with g_j < g_r - tol
 * (mass there would lower the objective: a negative KKT multiplier) is
 * freed and mass moves towards it from the free coordinate of largest
 * gradient. Convexity makes the first point satisfying both conditions the
 * minimum. A face also counts as solved when its Newton step is below the
 * resolution of the weights (4 eps): where the objective is steep (rows
 * whose mixture probability is tiny) the residual can stay above tol at
 * every representable point; the reported residual is then the one reached.
 */
#include "ets.h"
#include <float.h>
#include <math.h>

typedef struct {
  calib__ets_objective obj;
  const void *ctx;
  double f, g[3], H[9];
  int fixed[3];
} simplex_state;

static int eval(simplex_state *s, const double w[3]) {
  s->f = s->obj(s->ctx, w, s->g, s->H);
  return isfinite(s->f);
}

/* First free coordinate, or -1. */
static int reference(const simplex_state *s) {
  for (int j = 0; j < 3; j++)
    if (!s->fixed[j]) return j;
  return -1;
}

/* Face residual (free coordinates) and the most negative multiplier among the
 * fixed ones (*worst = its index or -1). */
static double residuals(const simplex_state *s, int r, int *worst, double *viol) {
  double face = 0;
  *worst = -1;
  *viol = 0;
  for (int j = 0; j < 3; j++) {
    const double dj = s->g[j] - s->g[r];
    if (!s->fixed[j]) {
      if (fabs(dj) > face) face = fabs(dj);
    } else if (-dj > *viol) {
      *viol = -dj;
      *worst = j;
    }
  }
  return face;
}

/* Newton direction on the face of the free coordinates (D sums to 0). */
static void face_direction(const simplex_state *s, int r, double D[3]) {
  int idx[2], m = 0;
  for (int j = 0; j < 3; j++)
    if (!s->fixed[j] && j != r) idx[m++] = j;
  double Hr[4], gr[2], sol[2] = {0, 0};
  for (int a = 0; a < m; a++) {
    gr[a] = s->g[idx[a]] - s->g[r];
    for (int b = 0; b < m; b++)
      Hr[a * 2 + b] = s->H[idx[a] * 3 + idx[b]] - s->H[idx[a] * 3 + r] - s->H[r * 3 + idx[b]] +
                      s->H[r * 3 + r];
  }
  double scale = 1e-300;
  for (int a = 0; a < m; a++)
    if (fabs(Hr[a * 3]) > scale) scale = fabs(Hr[a * 3]);
  for (double delta = 1e-12 * scale; delta < 1e30 * scale; delta *= 100) {
    if (m == 1) {
      const double h = Hr[0] + delta;
      if (h > 0) sol[0] = -gr[0] / h;
      if (h > 0) break;
      continue;
    }
    const double a = Hr[0] + delta, b = Hr[1], c = Hr[3] + delta, det = a * c - b * b;
    if (a > 0 && det > 0) {
      sol[0] = (-gr[0] * c + gr[1] * b) / det;
      sol[1] = (-gr[1] * a + gr[0] * b) / det;
      break;
    }
  }
  D[0] = D[1] = D[2] = 0;
  for (int a = 0; a < m; a++) {
    D[idx[a]] = sol[a];
    D[r] -= sol[a];
  }
}

/* Largest step along D keeping w >= 0, and the coordinate that blocks it. */
static double max_step(const double w[3], const double D[3], int *block) {
  double amax = HUGE_VAL;
  *block = -1;
  for (int j = 0; j < 3; j++)
    if (D[j] < 0 && w[j] / -D[j] < amax) {
      amax = w[j] / -D[j];
      *block = j;
    }
  return amax;
}

/* The residual on the current face (free coordinates only). */
static double face_of(const simplex_state *s) {
  int worst;
  double viol;
  return residuals(s, reference(s), &worst, &viol);
}

/* Armijo backtracking along D from w; 1 if a step was taken. When even the
 * full step's predicted decrease is below rounding of f, the Armijo test is
 * decided by rounding: the full step is then accepted if f does not really
 * grow and the residual on the face falls. */
static int step(simplex_state *s, double w[3], const double D[3]) {
  int block;
  const double amax = max_step(w, D, &block);
  const double slope = s->g[0] * D[0] + s->g[1] * D[1] + s->g[2] * D[2];
  if (!(slope < 0)) return 0;
  const double f0 = s->f, noise = 1e3 * DBL_EPSILON * fabs(f0), kkt0 = face_of(s);
  const int fixed0[3] = {s->fixed[0], s->fixed[1], s->fixed[2]};
  double a = amax < 1.0 ? amax : 1.0;
  const int tiny = -slope * a < noise;
  for (int ls = 0; ls < 80; ls++, a *= 0.5) {
    double wt[3];
    for (int j = 0; j < 3; j++) wt[j] = w[j] + a * D[j];
    const int hit = a == amax && block >= 0;
    if (hit) wt[block] = 0.0;
    for (int j = 0; j < 3; j++)
      if (wt[j] < 0) wt[j] = 0.0;
    if (hit) s->fixed[block] = 1;
    const int ok = eval(s, wt);
    if (ok && (s->f <= f0 + 1e-4 * a * slope ||
               (tiny && ls == 0 && s->f <= f0 + noise && face_of(s) < kkt0))) {
      for (int j = 0; j < 3; j++) w[j] = wt[j];
      return 1;
    }
    for (int j = 0; j < 3; j++) s->fixed[j] = fixed0[j];
  }
  (void)eval(s, w);
  return 0;
}

/* Direction moving mass into the freed coordinate j from the free
 * coordinate with the largest gradient. */
static void release_direction(const simplex_state *s, int j, double D[3]) {
  int from = -1;
  for (int l = 0; l < 3; l++)
    if (!s->fixed[l] && l != j && (from < 0 || s->g[l] > s->g[from])) from = l;
  D[0] = D[1] = D[2] = 0;
  D[j] = 1.0;
  D[from] = -1.0;
}

int calib__ets_simplex(calib__ets_objective obj, const void *ctx, double w[3], int max_iter,
                       double tol, int *iters, double *kkt) {
  simplex_state s;
  s.obj = obj;
  s.ctx = ctx;
  for (int j = 0; j < 3; j++) s.fixed[j] = w[j] == 0;
  int it = 0, st = CALIB_E_NOCONV, released = -1;
  *kkt = HUGE_VAL;
  if (!eval(&s, w)) {
    *iters = 0;
    return CALIB_E_NOCONV;
  }
  for (;;) {
    const int r = reference(&s);
    int worst;
    double viol, D[3];
    const double face = residuals(&s, r, &worst, &viol);
    face_direction(&s, r, D);
    /* the face is solved when its residual is small, or when the Newton step
     * on it is below the resolution of the weights (a steep objective can
     * keep the residual above tol at every representable point) */
    const int solved = face <= tol || (fabs(D[0]) <= 4 * DBL_EPSILON && fabs(D[1]) <= 4 * DBL_EPSILON &&
                                       fabs(D[2]) <= 4 * DBL_EPSILON);
    *kkt = face > viol ? face : viol;
    if (solved && viol <= tol) {
      st = CALIB_OK;
      break;
    }
    if (it >= max_iter) break;
    if (solved) { /* free the fixed coordinate with the most negative multiplier */
      s.fixed[worst] = 0;
      released = worst;
      release_direction(&s, worst, D);
    } else if (released >= 0 && D[released] < 0) {
      release_direction(&s, released, D);
    }
    it++;
    if (!step(&s, w, D)) break;
    released = -1;
  }
  const double sum = w[0] + w[1] + w[2];
  for (int j = 0; j < 3; j++) w[j] /= sum;
  *iters = it;
  return st;
}
