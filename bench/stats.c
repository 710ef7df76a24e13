/* stats.c - series of samples and their percentiles. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "bench.h"
#include "xalloc.h"

void ember_bench_series_add(struct ember_bench_series *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = ember_xrealloc(s->v, s->cap * sizeof(double));
    }
    s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

double ember_bench_pct(struct ember_bench_series *s, double p)
{
    size_t rank;

    if (s->n == 0)
        return NAN;
    qsort(s->v, s->n, sizeof(double), cmp_double);
    rank = (size_t) ceil(p / 100.0 * (double) s->n);
    if (rank < 1)
        rank = 1;
    return s->v[rank - 1];
}

double ember_bench_max(const struct ember_bench_series *s)
{
    double m = NAN;
    size_t i;

    for (i = 0; i < s->n; i++)
        if (isnan(m) || s->v[i] > m)
            m = s->v[i];
    return m;
}

void ember_bench_series_json(struct ember_buf *j, const char *name,
                             struct ember_bench_series *s, int last)
{
    if (s->n == 0)
        ember_buf_printf(j, "\"%s\":null%s", name, last ? "" : ",");
    else
        ember_buf_printf(j, "\"%s\":{\"n\":%zu,\"p50\":%.4f,\"p95\":%.4f,\"p99\":%.4f,"
                         "\"max\":%.4f}%s", name, s->n, ember_bench_pct(s, 50),
                         ember_bench_pct(s, 95), ember_bench_pct(s, 99), ember_bench_max(s),
                         last ? "" : ",");
}

void ember_bench_series_free(struct ember_bench_series *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
