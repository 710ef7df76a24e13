/*
 * report.c - what a run found: a table per block (every row, peers
 * included), ember's cold-start journey, the sizes, the targets computed
 * from figures of this same run, and all of it as JSON.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "xalloc.h"

#define P50(s) ember_bench_pct(s, 50)

struct ember_bench_row *ember_bench_row(struct ember_bench_block *blk, const char *name)
{
    int i;

    for (i = 0; blk != NULL && i < blk->nrows; i++)
        if (strcmp(blk->rows[i].name, name) == 0)
            return &blk->rows[i];
    return NULL;
}

struct ember_bench_block *ember_bench_block(struct ember_bench *b, const char *name)
{
    int i;

    for (i = 0; i < b->nblocks; i++)
        if (strcmp(b->blocks[i].name, name) == 0)
            return &b->blocks[i];
    return NULL;
}

static int is_floor(const struct ember_bench_row *row)
{
    return strcmp(row->name, "floor") == 0 || strcmp(row->name, "ref-floor") == 0;
}

/* The block's floor: the floor row with the lowest cold p50 in this run, or NULL. */
static struct ember_bench_row *block_floor(struct ember_bench_block *blk)
{
    struct ember_bench_row *best = NULL;
    int                     i;

    for (i = 0; blk != NULL && i < blk->nrows; i++) {
        struct ember_bench_row *r = &blk->rows[i];

        if (is_floor(r) && r->cold.n > 0 && (best == NULL || P50(&r->cold) < P50(&best->cold)))
            best = r;
    }
    return best;
}

static const char *num(char *s, size_t n, double v, int decimals)
{
    if (isnan(v))
        snprintf(s, n, "-");
    else
        snprintf(s, n, "%.*f", decimals, v);
    return s;
}

void ember_bench_print_rows(struct ember_bench *b)
{
    char a[11][32];
    int  k, i;

    printf("\ncold starts: fresh processes, interleaved within each block; t0 is taken just "
           "before the fork,\ncold ends when the first POST .../response is received whole\n");
    for (k = 0; k < b->nblocks; k++) {
        struct ember_bench_block *blk = &b->blocks[k];
        struct ember_bench_row   *fl = block_floor(blk);
        double                    fc = fl != NULL ? P50(&fl->cold) : NAN;

        if (fl != NULL)
            printf("\n%s: %d processes per row, %d warm invocations each; x floor: against "
                   "%s, the block's fastest floor\n", blk->title, blk->n, blk->k, fl->name);
        else
            printf("\n%s: %d processes per row, %d warm invocations each; no floor measured\n",
                   blk->title, blk->n, blk->k);
        printf("  %-10s %8s %8s %8s %8s %7s %7s %9s %9s %13s %7s %5s\n", "variant", "init p50",
               "cold p50", "p95", "p99", "x floor", "spawn", "warm p50", "warm p95",
               "peak RSS kB", "faults", "fails");
        printf("  %-10s %8s %8s %8s %8s %7s %7s %9s %9s %13s %7s\n", "", "ms", "ms", "ms", "ms",
               "", "us", "us", "us", "p50 / max", "p50");
        for (i = 0; i < blk->nrows; i++) {
            struct ember_bench_row *r = &blk->rows[i];
            double                  c50 = P50(&r->cold);

            printf("  %-10s %8s %8s %8s %8s %7s %7s %9s %9s %6s/%6s %7s %5zu\n", r->name,
                   num(a[0], 32, P50(&r->init), 2), num(a[1], 32, c50, 2),
                   num(a[2], 32, ember_bench_pct(&r->cold, 95), 2),
                   num(a[3], 32, ember_bench_pct(&r->cold, 99), 2),
                   num(a[4], 32, c50 / fc, 2), num(a[5], 32, P50(&r->spawn), 0),
                   num(a[6], 32, P50(&r->warm), 1),
                   num(a[7], 32, ember_bench_pct(&r->warm, 95), 1),
                   num(a[8], 32, P50(&r->rss), 0), num(a[9], 32, ember_bench_max(&r->rss), 0),
                   num(a[10], 32, P50(&r->faults), 0), r->fails);
            if (r->first_error[0] != '\0')
                printf("    first failure: %s\n", r->first_error);
        }
    }
    if (!b->peers_found)
        printf("\npeers: %s\n", b->peers_missing);
}

void ember_bench_print_journeys(struct ember_bench *b)
{
    int    k, i;
    size_t p;

    printf("\nember's cold-start journey (median ms per phase, from the bootstrap's own log line; "
           "* in fewer processes than the row)\n");
    for (k = 0; k < b->nblocks; k++) {
        for (i = 0; i < b->blocks[k].nrows; i++) {
            struct ember_bench_row *r = &b->blocks[k].rows[i];

            if (r->kind != EMBER_BENCH_EMBER || r->nphases == 0)
                continue;
            printf("  %s %s:", b->blocks[k].name, r->name);
            for (p = 0; p < r->nphases; p++)
                printf(" %s %.2f%s", r->phases[p].name, P50(&r->phases[p].ms),
                       r->phases[p].ms.n < r->cold.n ? "*" : "");
            printf("\n    (journey start estimate vs the real execve: median %+.0f us)\n",
                   P50(&r->t0_off));
        }
    }
}

void ember_bench_print_sizes(struct ember_bench *b, struct ember_buf *json)
{
    static const char *const plugins[] = { "response", "auth", "db" };
    char  *bs;
    size_t i;
    off_t  s;

    printf("\nsizes\n");
    ember_buf_puts(json, "\"sizes\":{");
    bs = b->task_root ? ember_xasprintf("%s/bootstrap", b->task_root)
                      : ember_xstrdup(b->o.bootstrap);
    s = ember_bench_file_size(bs);
    printf("  %-24s %9lld bytes%s\n", "bootstrap", (long long) s,
           b->task_root ? " (as packed in the ZIP)" : "");
    ember_buf_printf(json, "\"bootstrap\":%lld", (long long) s);
    free(bs);
    s = ember_bench_file_size(b->o.floor);
    printf("  %-24s %9lld bytes\n", "floor", (long long) s);
    ember_buf_printf(json, ",\"floor\":%lld", (long long) s);
    s = ember_bench_file_size(b->o.floor_items);
    if (s >= 0) {
        printf("  %-24s %9lld bytes\n", "floor-items", (long long) s);
        ember_buf_printf(json, ",\"floor-items\":%lld", (long long) s);
    }
    for (i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++) {
        char *p = b->task_root ? ember_xasprintf("%s/plugins/%s.so", b->task_root, plugins[i])
                               : ember_xasprintf("%s/%s.so", b->o.plugin_dir, plugins[i]);

        s = ember_bench_file_size(p);
        if (s >= 0) {
            printf("  %-24s %9lld bytes\n", plugins[i], (long long) s);
            ember_buf_printf(json, ",\"%s.so\":%lld", plugins[i], (long long) s);
        }
        free(p);
    }
    if (b->o.zip != NULL || b->o.zip_size != NULL) {
        s = ember_bench_file_size(b->o.zip != NULL ? b->o.zip : b->o.zip_size);
        printf("  %-24s %9lld bytes\n", "function.zip", (long long) s);
        ember_buf_printf(json, ",\"function.zip\":%lld", (long long) s);
    }
    ember_buf_puts(json, "}");
}

void ember_bench_rows_json(struct ember_bench *b, struct ember_buf *json)
{
    int    k, i;
    size_t p;

    ember_buf_puts(json, "\"blocks\":[");
    for (k = 0; k < b->nblocks; k++) {
        struct ember_bench_block *blk = &b->blocks[k];
        struct ember_bench_row   *fl = block_floor(blk);

        ember_buf_printf(json, "%s{\"name\":\"%s\",\"route\":\"%s\",\"n\":%d,\"k\":%d,"
                         "\"floor\":", k ? "," : "", blk->name,
                         blk->route == EMBER_BENCH_HELLO ? "/hello" : "/items/{id}", blk->n, blk->k);
        if (fl != NULL)
            ember_buf_printf(json, "\"%s\"", fl->name);
        else
            ember_buf_puts(json, "null");
        ember_buf_puts(json, ",\"rows\":[");
        for (i = 0; i < blk->nrows; i++) {
            struct ember_bench_row *r = &blk->rows[i];

            ember_buf_printf(json, "%s{\"variant\":\"%s\",\"kind\":\"%s\",\"fails\":%zu,",
                             i ? "," : "", r->name, r->kind == EMBER_BENCH_EMBER ? "ember"
                             : r->kind == EMBER_BENCH_FLOOR ? "floor" : "peer", r->fails);
            ember_bench_series_json(json, "init_ms", &r->init, 0);
            ember_bench_series_json(json, "cold_ms", &r->cold, 0);
            ember_bench_series_json(json, "spawn_us", &r->spawn, 0);
            ember_bench_series_json(json, "warm_us", &r->warm, 0);
            ember_bench_series_json(json, "rss_kb", &r->rss, 0);
            ember_bench_series_json(json, "minor_faults", &r->faults, 0);
            ember_buf_puts(json, "\"journey_ms\":{");
            for (p = 0; p < r->nphases; p++)
                ember_buf_printf(json, "%s\"%s\":%.4f", p ? "," : "", r->phases[p].name,
                                 P50(&r->phases[p].ms));
            ember_buf_puts(json, "}}");
        }
        ember_buf_puts(json, "]}");
    }
    ember_buf_puts(json, "]");
}

/* ---------------------------------------------------------------- targets */

/* A cold or warm p50 of ember (lazy) against limit = factor * other + plus. */
static void compare(struct ember_bench_target *t, const char *name, struct ember_bench_block *blk,
                    const char *blockname, struct ember_bench_row *other, const char *other_name,
                    int warm, double factor, double plus, const char *what)
{
    struct ember_bench_row *lazy = ember_bench_row(blk, "lazy");

    memset(t, 0, sizeof(*t));
    t->name = name;
    snprintf(t->what, sizeof(t->what), "%s", what);
    t->unit = warm ? "us" : "ms";
    t->value = t->limit = NAN;
    if (blk == NULL) {
        snprintf(t->why, sizeof(t->why), "the %s block did not run", blockname);
        return;
    }
    if (lazy == NULL || (warm ? lazy->warm.n : lazy->cold.n) == 0) {
        snprintf(t->why, sizeof(t->why), "ember (lazy) has no %s sample", warm ? "warm" : "cold");
        return;
    }
    t->value = P50(warm ? &lazy->warm : &lazy->cold);
    if (other == NULL || (warm ? other->warm.n : other->cold.n) == 0) {
        snprintf(t->why, sizeof(t->why), "%s not measured", other_name);
        return;
    }
    t->limit = factor * P50(warm ? &other->warm : &other->cold) + plus;
    t->known = 1;
}

int ember_bench_targets(struct ember_bench *b, struct ember_bench_target *t, int max)
{
    struct ember_bench_block *h = ember_bench_block(b, "hello"), *it = ember_bench_block(b, "items");
    struct ember_bench_row   *lazy;
    int                       n = 0;

    if (max < 10)
        return 0;
    compare(&t[n++], "hello-cold-floor", h, "/hello", block_floor(h), "the hello floor", 0, 1.15, 0,
            "/hello cold p50 <= 1.15 x floor");
    compare(&t[n], "hello-cold-rust", h, "/hello", ember_bench_row(h, "rust"), "rust (peer)", 0, 1, 0,
            "/hello cold p50 < Rust's");
    t[n++].lt = 1;
    compare(&t[n], "hello-cold-go", h, "/hello", ember_bench_row(h, "go"), "go (peer)", 0, 1, 0,
            "/hello cold p50 < Go's");
    t[n++].lt = 1;
    compare(&t[n++], "hello-warm", h, "/hello", ember_bench_row(h, "floor"), "the hello floor", 1, 1,
            10, "/hello warm p50 <= floor + 10 us");
    compare(&t[n++], "items-cold-floor", it, "/items/{id}", block_floor(it), "the items floor", 0,
            1.05, 0, "/items/{id} cold p50 <= 1.05 x items floor");
    compare(&t[n], "items-cold-rust", it, "/items/{id}", ember_bench_row(it, "rust"), "rust (peer)",
            0, 1, 0, "/items/{id} cold p50 < Rust's");
    t[n++].lt = 1;
    compare(&t[n], "items-cold-go", it, "/items/{id}", ember_bench_row(it, "go"), "go (peer)", 0, 1,
            0, "/items/{id} cold p50 < Go's");
    t[n++].lt = 1;
    compare(&t[n++], "items-warm-rust", it, "/items/{id}", ember_bench_row(it, "rust"),
            "rust (peer)", 1, 1, 0, "/items/{id} warm p50 <= Rust's");

    /* peak RSS of the shipped artifact: the bootstrap as unpacked from the ZIP */
    memset(&t[n], 0, sizeof(t[n]));
    t[n].name = "hello-rss";
    snprintf(t[n].what, sizeof(t[n].what), "/hello peak RSS p50 <= 2 MB, from the ZIP");
    t[n].unit = "kB";
    t[n].limit = 2048;
    lazy = ember_bench_row(h, "lazy");
    t[n].value = lazy != NULL ? P50(&lazy->rss) : NAN;
    if (lazy == NULL || lazy->rss.n == 0)
        snprintf(t[n].why, sizeof(t[n].why), "ember (lazy) has no /hello RSS sample");
    else if (b->task_root == NULL)
        snprintf(t[n].why, sizeof(t[n].why), "ember ran from the build, not the ZIP "
                 "(make bench BENCH_FROM=zip)");
    else
        t[n].known = 1;
    n++;
    return n;
}

int ember_bench_print_targets(struct ember_bench *b, struct ember_bench_target *t, int n,
                              struct ember_buf *json)
{
    int  i, bad = 0;
    char v[32], l[32];

    (void) b;
    printf("\ntargets (every limit from this run's figures)\n");
    ember_buf_puts(json, "\"targets\":[");
    for (i = 0; i < n; i++) {
        int         pass = t[i].known && (t[i].lt ? t[i].value < t[i].limit
                                                  : t[i].value <= t[i].limit);
        const char *verdict = !t[i].known ? "not measured" : pass ? "PASS" : "MISS";

        bad += !pass;
        printf("  %-4s  %-44s %9s %s (limit %s)%s%s\n", t[i].known ? verdict : "----", t[i].what,
               num(v, sizeof(v), t[i].value, 2), t[i].unit, num(l, sizeof(l), t[i].limit, 2),
               t[i].known ? "" : ": not measured, ", t[i].why);
        ember_buf_printf(json, "%s{\"name\":\"%s\",\"what\":\"%s\",\"value\":", i ? "," : "",
                         t[i].name, t[i].what);
        if (isnan(t[i].value))
            ember_buf_puts(json, "null");
        else
            ember_buf_printf(json, "%.4f", t[i].value);
        ember_buf_puts(json, ",\"limit\":");
        if (isnan(t[i].limit))
            ember_buf_puts(json, "null");
        else
            ember_buf_printf(json, "%.4f", t[i].limit);
        ember_buf_printf(json, ",\"unit\":\"%s\",\"verdict\":\"%s\",\"why\":\"%s\"}", t[i].unit,
                         verdict, t[i].why);
    }
    ember_buf_puts(json, "]");
    return bad;
}
