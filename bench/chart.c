/*
 * chart.c - the SVG chart of a run: one panel per block, one bar per row
 * (ember's variants, the floors, the peers), cold p95 (light) behind p50
 * (dark), the block's cold target as a dashed line.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

static void svg_text(FILE *f, double x, double y, const char *anchor, const char *style,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void svg_text(FILE *f, double x, double y, const char *anchor, const char *style,
                     const char *fmt, ...)
{
    va_list ap;

    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor, style);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputs("</text>\n", f);
}

/* Dark and light colour of a row: ember red/blue, floors grey, peers orange/teal. */
static void colors(const struct ember_bench_row *r, const char **dark, const char **light)
{
    static const struct {
        const char *name, *dark, *light;
    } c[] = {
        { "lazy", "#c0392b", "#f5b7b1" }, { "eager", "#2471a3", "#a9cce3" },
        { "alt", "#7d3c98", "#d7bde2" }, { "rust", "#d35400", "#f6c9a4" },
        { "go", "#16a085", "#a3e4d7" }, { "floor", "#7f8c8d", "#d5dbdb" },
        { "ref-floor", "#566573", "#ccd1d1" }
    };
    size_t i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        if (strcmp(r->name, c[i].name) == 0) {
            *dark = c[i].dark;
            *light = c[i].light;
            return;
        }
    *dark = "#333";
    *light = "#ccc";
}

/* The cold target drawn on block k: the limit of its "<block>-cold-floor" target. */
static double block_target(const struct ember_bench_block *blk, const struct ember_bench_target *t,
                           int nt)
{
    char name[48];
    int  i;

    snprintf(name, sizeof(name), "%s-cold-floor", blk->name);
    for (i = 0; i < nt; i++)
        if (strcmp(t[i].name, name) == 0 && t[i].known)
            return t[i].limit;
    return NAN;
}

void ember_bench_chart(struct ember_bench *b, const char *path,
                       const struct ember_bench_target *t, int nt)
{
    const double left = 150, width = 520, rowh = 34, panel_gap = 56;
    FILE        *f = fopen(path, "w");
    double       y = 70, height;
    int          k, i, rows = 0, panels = 0;

    if (f == NULL) {
        fprintf(stderr, "ember-bench: %s: %s\n", path, strerror(errno));
        return;
    }
    for (k = 0; k < b->nblocks; k++) {
        int any = 0;

        for (i = 0; i < b->blocks[k].nrows; i++)
            if (b->blocks[k].rows[i].cold.n) {
                rows++;
                any = 1;
            }
        panels += any;
    }
    height = 70 + rows * rowh + panels * panel_gap + 30;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"%.0f\" "
               "viewBox=\"0 0 760 %.0f\" font-family=\"Helvetica, Arial, sans-serif\" "
               "font-size=\"13\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            height, height);
    svg_text(f, 20, 28, "start", "font-size=\"17\" font-weight=\"bold\"",
             "cold start: spawn to the first response received (ms)");
    svg_text(f, 20, 48, "start", "fill=\"#555\"",
             "dark: p50, light: p95; %d fresh processes per bar, interleaved; "
             "dashed: the target", b->o.n);
    for (k = 0; k < b->nblocks; k++) {
        struct ember_bench_block *blk = &b->blocks[k];
        double                    max = 0, scale, target = block_target(blk, t, nt), top;
        int                       any = 0;

        for (i = 0; i < blk->nrows; i++)
            if (blk->rows[i].cold.n) {
                any = 1;
                if (ember_bench_pct(&blk->rows[i].cold, 95) > max)
                    max = ember_bench_pct(&blk->rows[i].cold, 95);
            }
        if (!any)
            continue;
        if (!isnan(target) && target > max)
            max = target;
        scale = width / (max * 1.08);
        svg_text(f, 20, y + 14, "start", "font-weight=\"bold\"", "GET %s", blk->title);
        y += 24;
        top = y - 4;
        for (i = 0; i < blk->nrows; i++) {
            struct ember_bench_row *r = &blk->rows[i];
            const char             *dark, *light;
            double                  p50, p95;

            if (!r->cold.n)
                continue;
            colors(r, &dark, &light);
            p50 = ember_bench_pct(&r->cold, 50);
            p95 = ember_bench_pct(&r->cold, 95);
            svg_text(f, left - 10, y + 17, "end", "", "%s", r->label);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"24\" fill=\"%s\"/>\n",
                    left, y, p95 * scale, light);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"24\" fill=\"%s\"/>\n",
                    left, y + 4, p50 * scale, dark);
            svg_text(f, left + p95 * scale + 6, y + 17, "start", "fill=\"#333\"",
                     "%.2f / %.2f", p50, p95);
            y += rowh;
        }
        if (!isnan(target)) {
            double x = left + target * scale;

            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#111\" "
                       "stroke-dasharray=\"4 3\"/>\n", x, top, x, y);
            svg_text(f, x, y + 13, "middle", "fill=\"#111\" font-size=\"11\"", "target %.2f",
                     target);
        }
        y += panel_gap - 24;
    }
    fputs("</svg>\n", f);
    fclose(f);
}
