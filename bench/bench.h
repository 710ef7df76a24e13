/*
 * bench.h - what the parts of ember-bench share: the rows being measured,
 * their samples, and the functions each file owns.
 *
 *   ember-bench.c  options, the setup, the interleaved rounds
 *   proc.c         running processes: environment, spawn, /proc, reaping
 *   api.c          the Runtime API side: listening, requests in, events out
 *   sample.c       one process's life: cold start, warm invocations, RSS
 *   stats.c        series and percentiles
 *   token.c        SHA-256, HMAC, the HS256 token of /items
 *   proxy.c        a TCP proxy on loopback that delays every chunk
 *   burst.c        concurrent first requests through ember-local
 *   report.c       the tables, the targets, the JSON
 *   chart.c        the SVG chart
 */
#ifndef EMBER_BENCH_H
#define EMBER_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define EMBER_BENCH_API          "/2018-06-01/runtime"
#define EMBER_BENCH_MAX_ROWS     16
#define EMBER_BENCH_MAX_BLOCKS   4
#define EMBER_BENCH_MAX_PHASES   48

/* ---------------------------------------------------------------- stats.c */

struct ember_bench_series {
    double *v;
    size_t  n, cap;
};

void   ember_bench_series_add(struct ember_bench_series *s, double v);
/* The p-th percentile (nearest rank), NAN when empty. Sorts s. */
double ember_bench_pct(struct ember_bench_series *s, double p);
double ember_bench_max(const struct ember_bench_series *s);
/* "name":{"n":..,"p50":..,"p95":..,"p99":..,"max":..} or "name":null, then "," unless last */
void   ember_bench_series_json(struct ember_buf *j, const char *name,
                               struct ember_bench_series *s, int last);
void   ember_bench_series_free(struct ember_bench_series *s);

/* ---------------------------------------------------------------- util (ember-bench.c) */

int64_t ember_bench_now_ns(void);
int64_t ember_bench_epoch_ms(void);
void    ember_bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
off_t   ember_bench_file_size(const char *path);

/* ---------------------------------------------------------------- token.c */

void  ember_bench_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                              unsigned char out[32]);
/* An HS256 JWT for sub, valid for an hour. Caller frees the result. */
char *ember_bench_mint_token(const char *secret, const char *sub);

/* ---------------------------------------------------------------- the rows */

enum ember_bench_route { EMBER_BENCH_HELLO, EMBER_BENCH_ITEMS };

/* What runs in a row, which decides its environment. */
enum ember_bench_kind {
    EMBER_BENCH_FLOOR,          /* a floor of ours (bench/floor, bench/floor-items) */
    EMBER_BENCH_EMBER,          /* ember's bootstrap */
    EMBER_BENCH_PEER            /* a bootstrap of ../shared/anchors (Rust, Go, the reference floor) */
};

struct ember_bench_phase {
    char                      name[32];
    struct ember_bench_series ms;
};

/* One bootstrap on one block: its samples. */
struct ember_bench_row {
    const char               *name;      /* "floor", "lazy", "eager", "alt", "rust", "go", "ref-floor" */
    const char               *label;     /* for the chart: "floor (libc)" */
    enum ember_bench_kind     kind;
    const char               *path;      /* the executable */
    const char               *env[4];    /* more NAME=VALUE for this row, NULL-terminated */
    struct ember_bench_series init, cold, warm, rss, faults;    /* ms, ms, us, kB, count */
    struct ember_bench_series spawn;     /* us: t0 (before fork) -> the child's execve */
    struct ember_bench_series t0_off;    /* us: ember's journey start - the real execve */
    size_t                    fails;
    char                      first_error[512];
    struct ember_bench_phase  phases[EMBER_BENCH_MAX_PHASES];
    size_t                    nphases;
};

/* A route under one database set-up: the rows that run interleaved. */
struct ember_bench_block {
    const char             *name;        /* "hello", "items", "items-tls", "items-delay" */
    const char             *title;       /* "/hello", "/items/{id} over TLS (SCRAM, sslmode=require)" */
    enum ember_bench_route  route;
    const char             *db_url;      /* DATABASE_URL for this block, or NULL */
    char                   *event;       /* the invocation's event */
    int                     n, k;        /* processes per row, warm invocations per process */
    struct ember_bench_row  rows[EMBER_BENCH_MAX_ROWS];
    int                     nrows;
};

struct ember_bench_opts {
    const char *bootstrap, *plugin_dir, *conf, *floor, *floor_items, *anchors, *zip, *out;
    const char *json, *svg, *local, *alt, *alt_plugin_dir, *alt_env, *zip_size;
    const char *tls_url;                 /* --tls-url: the items block again over TLS */
    int         delay_us;                /* --db-delay-us: the items block again, behind a proxy */
    int         n, k, extra_n, strict, burst, burst_rounds, smaps, cpu;
    int         routes[2];
    char        variants[256];           /* the --variants list, "" for the default */
};

struct ember_bench {
    struct ember_bench_opts  o;
    int                      lfd;           /* the Runtime API's listening socket */
    int                      port;
    char                    *task_root;     /* an unpacked --zip, or NULL */
    char                    *token;
    char                    *secret;
    char                    *logfile;       /* ember's stderr, for its journey line */
    int64_t                 *exec_stamp;    /* shared with the child: its time of execve */
    struct ember_bench_block blocks[EMBER_BENCH_MAX_BLOCKS];
    int                      nblocks;
    int                      peers_found;   /* ../shared/anchors was there */
    char                     peers_missing[256];
    pid_t                    proxy_pid;     /* the delaying proxy, or 0 */
};

/* The row called name in block, or NULL. */
struct ember_bench_row *ember_bench_row(struct ember_bench_block *blk, const char *name);
/* The block called name, or NULL. */
struct ember_bench_block *ember_bench_block(struct ember_bench *b, const char *name);

/* ---------------------------------------------------------------- api.c */

struct ember_bench_conn {
    int             fd;
    struct ember_buf in;
};

/* One HTTP request found whole at the head of a connection's input. */
struct ember_bench_request {
    char        method[8];
    char        path[512];
    size_t      total;          /* bytes of head + body as received */
    char       *body;           /* owned: the body, de-chunked */
    size_t      body_len;
};

void ember_bench_listen(struct ember_bench *b);
/* An API Gateway HTTP API (payload 2.0) event. Caller frees. */
char *ember_bench_event(const char *path, const char *token);
/* 1 when c->in starts with a whole request (into rq; free rq->body), 0 if not yet, -1 if bad.
   Bodies by Content-Length or chunked (Go's runtime sends its responses chunked). */
int  ember_bench_parse_request(struct ember_bench_conn *c, struct ember_bench_request *rq);
int  ember_bench_send_event(int fd, const char *event, int run, int i);
int  ember_bench_send_accepted(int fd);

/* ---------------------------------------------------------------- proc.c */

/* Fork and execve row's bootstrap; *t_spawn is taken just before the fork. */
pid_t ember_bench_spawn(struct ember_bench *b, const struct ember_bench_block *blk,
                        const struct ember_bench_row *row, int64_t *t_spawn);
/* SIGKILL, as Lambda ends a runtime without extensions (the Rust runtime ignores
   SIGTERM: a grace period would cost a second per process), then reaped. */
void  ember_bench_reap(pid_t pid);
long  ember_bench_vm_hwm(pid_t pid);
long  ember_bench_min_faults(pid_t pid);
void  ember_bench_save_smaps(struct ember_bench *b, const struct ember_bench_block *blk,
                             const struct ember_bench_row *row, pid_t pid);

/* ---------------------------------------------------------------- sample.c */

/* One fresh process of row: its cold start, k warm invocations, its peak RSS. */
void ember_bench_sample(struct ember_bench *b, struct ember_bench_block *blk,
                        struct ember_bench_row *row, int run);
void ember_bench_row_fail(struct ember_bench_row *row, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- proxy.c */

/* A process forwarding 127.0.0.1:*port_out to to_port, each chunk delayed
   by delay_us in both directions. Returns its pid. */
pid_t ember_bench_proxy_start(int to_port, int delay_us, int *port_out);

/* ---------------------------------------------------------------- burst.c */

struct ember_bench_burst {
    int                       ran;
    int                       c, rounds;
    struct ember_bench_series cold, warm;    /* ms, client side */
    size_t                    errors;
    char                      error[256];
};

void ember_bench_run_burst(struct ember_bench *b, struct ember_bench_burst *br);

/* ---------------------------------------------------------------- report.c */

struct ember_bench_target {
    const char *name;           /* "items-cold-floor" */
    char        what[96];       /* "/items/{id} cold p50 <= 1.05 x items floor" */
    double      value, limit;
    const char *unit;
    int         lt;             /* value < limit (faster than), not <= */
    int         known;          /* both sides measured in this run */
    char        why[128];       /* when not known: why not */
};

#define EMBER_BENCH_MAX_TARGETS 16

int  ember_bench_targets(struct ember_bench *b, struct ember_bench_target *t, int max);
void ember_bench_print_rows(struct ember_bench *b);
void ember_bench_print_journeys(struct ember_bench *b);
void ember_bench_print_sizes(struct ember_bench *b, struct ember_buf *json);
void ember_bench_rows_json(struct ember_bench *b, struct ember_buf *json);
/* Prints the targets and adds them to json; returns how many are missed or not measured. */
int  ember_bench_print_targets(struct ember_bench *b, struct ember_bench_target *t, int n,
                               struct ember_buf *json);

/* ---------------------------------------------------------------- chart.c */

void ember_bench_chart(struct ember_bench *b, const char *path,
                       const struct ember_bench_target *t, int nt);

#endif
