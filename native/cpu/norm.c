/*
 * LayerNorm ("row": statistics per row of an (R, C) matrix) and training-mode BatchNorm ("col":
 * statistics per column), forward and backward, on every core. The same maths as
 * lib/ops/norm.ts (float64 statistics); each sum runs in one fixed order in one thread, so
 * results do not depend on the thread count.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <omp.h>

#define CB 16 /* columns per task in column reductions */

/*
 * s[c] = Σ_r a[r·C + c] and, if b, q[c] = Σ_r a[r·C + c]·x̂ with x̂ = (b[r·C + c] − mean)·rstd,
 * the statistics taken per row (rowStats: LayerNorm) or per column; rows in order.
 */
static void col_sums(int R, int C, const float *a, const float *b, const float *mean,
                     const float *rstd, int rowStats, double *s, double *q, int nt) {
  const int tasks = (C + CB - 1) / CB;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < tasks; t++) {
    const int c0 = t * CB, c1 = c0 + CB < C ? c0 + CB : C;
    double ls[CB] = {0}, lq[CB] = {0};
    for (int r = 0; r < R; r++) {
      const float *ar = a + (size_t)r * C;
      for (int c = c0; c < c1; c++) {
        ls[c - c0] += ar[c];
        if (b) {
          const int g = rowStats ? r : c;
          lq[c - c0] += (double)ar[c] * ((b[(size_t)r * C + c] - mean[g]) * rstd[g]);
        }
      }
    }
    for (int c = c0; c < c1; c++) {
      s[c] = ls[c - c0];
      if (q) q[c] = lq[c - c0];
    }
  }
}

int sm_norm_fwd(int R, int C, int colMode, float eps, const float *x, const float *gamma,
                const float *beta, float *y, float *mean, float *var, float *rstd, int nthreads) {
  if (R <= 0 || C <= 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  if (!colMode) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int r = 0; r < R; r++) {
      const float *xr = x + (size_t)r * C;
      double s = 0, q = 0;
      for (int c = 0; c < C; c++) s += xr[c];
      const double mu = s / C;
      for (int c = 0; c < C; c++) q += (xr[c] - mu) * (xr[c] - mu);
      const double v = q / C, rs = 1 / sqrt(v + eps);
      mean[r] = (float)mu;
      var[r] = (float)v;
      rstd[r] = (float)rs;
      float *yr = y + (size_t)r * C;
      for (int c = 0; c < C; c++) yr[c] = (float)((xr[c] - mu) * rs * gamma[c] + beta[c]);
    }
    return 0;
  }
  double *s = malloc(sizeof(double) * C * 4);
  if (!s) return -2;
  double *q = s + C, *scale = s + 2 * C, *shift = s + 3 * C;
  col_sums(R, C, x, NULL, NULL, NULL, 0, s, NULL, nt);
  for (int c = 0; c < C; c++) s[c] /= R;
  const int tasks = (C + CB - 1) / CB;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < tasks; t++) {
    const int c0 = t * CB, c1 = c0 + CB < C ? c0 + CB : C;
    double lq[CB] = {0};
    for (int r = 0; r < R; r++)
      for (int c = c0; c < c1; c++) {
        const double d = x[(size_t)r * C + c] - s[c];
        lq[c - c0] += d * d;
      }
    for (int c = c0; c < c1; c++) q[c] = lq[c - c0];
  }
  for (int c = 0; c < C; c++) {
    const double v = q[c] / R, rs = 1 / sqrt(v + eps);
    mean[c] = (float)s[c];
    var[c] = (float)v;
    rstd[c] = (float)rs;
    scale[c] = rs * gamma[c];
    shift[c] = beta[c] - s[c] * scale[c];
  }
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++)
      y[(size_t)r * C + c] = (float)(x[(size_t)r * C + c] * scale[c] + shift[c]);
  free(s);
  return 0;
}

int sm_norm_bwd(int R, int C, int colMode, const float *dy, const float *x, const float *gamma,
                const float *mean, const float *rstd, float *dx, float *dgamma, float *dbeta,
                int nthreads) {
  if (R <= 0 || C <= 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  double *db = malloc(sizeof(double) * C * 5);
  if (!db) return -2;
  double *dg = db + C, *a = db + 2 * C, *b = db + 3 * C, *k = db + 4 * C;
  /* dβ = Σ_r dy, dγ = Σ_r dy·x̂ (column sums in both modes) */
  col_sums(R, C, dy, x, mean, rstd, !colMode, db, dg, nt);
  if (!colMode) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int r = 0; r < R; r++) {
      const float *dr = dy + (size_t)r * C, *xr = x + (size_t)r * C;
      const double mu = mean[r], rs = rstd[r];
      double sg = 0, sgx = 0;
      for (int c = 0; c < C; c++) {
        const double g = (double)dr[c] * gamma[c];
        sg += g;
        sgx += g * ((xr[c] - mu) * rs);
      }
      const double mg = sg / C, mgx = sgx / C;
      float *o = dx + (size_t)r * C;
      for (int c = 0; c < C; c++)
        o[c] = (float)(rs * ((double)dr[c] * gamma[c] - mg - (xr[c] - mu) * rs * mgx));
    }
  } else {
    /* mean over rows of g = γ·dβ/R, of g·x̂ = γ·dγ/R */
    for (int c = 0; c < C; c++) {
      a[c] = (double)rstd[c] * gamma[c];
      b[c] = a[c] * db[c] / R;
      k[c] = a[c] * dg[c] / R;
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int r = 0; r < R; r++) {
      const float *dr = dy + (size_t)r * C, *xr = x + (size_t)r * C;
      float *o = dx + (size_t)r * C;
      for (int c = 0; c < C; c++) {
        const double xh = (xr[c] - mean[c]) * (double)rstd[c];
        o[c] = (float)(a[c] * dr[c] - b[c] - xh * k[c]);
      }
    }
  }
  for (int c = 0; c < C; c++) {
    dgamma[c] = (float)dg[c];
    dbeta[c] = (float)db[c];
  }
  free(db);
  return 0;
}
