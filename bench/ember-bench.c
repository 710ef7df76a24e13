/*
 * ember-bench - cold and warm starts of Lambda bootstraps, measured from
 * outside, the way Lambda sees them: ember's against floors and peers, all
 * in one interleaved run.
 *
 * The tool is its own Runtime API on 127.0.0.1.  For each sample it starts
 * a fresh process and times it from just before the fork to the first
 * response received (sample.c).  Blocks run one after the other, each a
 * route under one database set-up; within a block every row runs once per
 * round, the order rotating round by round, so that the machine's drift
 * falls on all rows alike and no row always follows the same one:
 *   hello        bench/floor (libc), ember lazy and eager, Rust, Go
 *   items        bench/floor-items and the reference items floor, ember, Rust, Go
 *   items-tls    the same against a PostgreSQL asking SCRAM over TLS (--tls-url)
 *   items-delay  the same with the database behind a delaying proxy (--db-delay-us)
 * The peers (Rust, Go, the reference floor) come from ../shared/anchors
 * (--anchors); without it they are reported missing and their targets
 * "not measured".
 *
 * Output: tables on stdout, --json FILE, an SVG chart, PASS/MISS per
 * target, every limit computed from this run's figures (exit 1 on a miss
 * or a target not measured, with --strict).  libc only.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "xalloc.h"

/* ---------------------------------------------------------------- small helpers */

int64_t ember_bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ember_bench_epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ember_bench_die(const char *fmt, ...)
{
    va_list ap;

    fputs("ember-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

off_t ember_bench_file_size(const char *path)
{
    struct stat st;

    return path != NULL && stat(path, &st) == 0 ? st.st_size : -1;
}

static char *kept[16];       /* absolute()'s results, freed by free_bench() */
static int   nkept;

/* path made absolute (as is if it does not exist). */
static const char *absolute(const char *path)
{
    char        *r = path != NULL && nkept < 16 ? realpath(path, NULL) : NULL;

    if (r == NULL)
        return path;
    kept[nkept++] = r;
    return r;
}

static int executable(const char *path)
{
    return path != NULL && access(path, X_OK) == 0;
}

/* ---------------------------------------------------------------- the rows */

static const char *const all_variants[] = {
    "floor", "ref-floor", "lazy", "eager", "alt", "rust", "go"
};

static int variant_on(const struct ember_bench *b, const char *name)
{
    const char *p = b->o.variants;
    size_t      n = strlen(name);

    if (p[0] == '\0')
        return strcmp(name, "alt") != 0 || b->o.alt != NULL;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");

        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

static void add_row(struct ember_bench *b, struct ember_bench_block *blk, const char *name,
                    const char *label, enum ember_bench_kind kind, const char *path,
                    const char *env)
{
    struct ember_bench_row *r;

    if (!variant_on(b, name) || blk->nrows == EMBER_BENCH_MAX_ROWS)
        return;
    r = &blk->rows[blk->nrows++];
    r->name = name;
    r->label = label;
    r->kind = kind;
    r->path = path;
    r->env[0] = env;
}

static void free_row(struct ember_bench_row *r)
{
    size_t i;

    ember_bench_series_free(&r->init);
    ember_bench_series_free(&r->cold);
    ember_bench_series_free(&r->warm);
    ember_bench_series_free(&r->rss);
    ember_bench_series_free(&r->faults);
    ember_bench_series_free(&r->spawn);
    ember_bench_series_free(&r->t0_off);
    for (i = 0; i < r->nphases; i++)
        ember_bench_series_free(&r->phases[i].ms);
    if (r->kind == EMBER_BENCH_PEER)
        free((char *) r->path);     /* peer()'s */
}

/* Everything the run allocated, the options' absolute paths last. */
static void free_bench(struct ember_bench *b)
{
    int k, i;

    for (k = 0; k < b->nblocks; k++) {
        struct ember_bench_block *blk = &b->blocks[k];

        for (i = 0; i < blk->nrows; i++)
            free_row(&blk->rows[i]);
        free(blk->event);
        if (strcmp(blk->name, "items-delay") == 0) {
            free((char *) blk->title);
            free((char *) blk->db_url);
        }
    }
    if (b->task_root != NULL)
        free((char *) b->o.bootstrap);      /* setup()'s TASK_ROOT/bootstrap */
    free(b->task_root);
    free(b->token);
    free(b->secret);
    free(b->logfile);
    munmap(b->exec_stamp, sizeof(int64_t));
    free(b);
    while (nkept > 0)
        free(kept[--nkept]);
}

/* The peer's bootstrap in the anchors, or NULL (and why, once). */
static const char *peer(struct ember_bench *b, const char *rel)
{
    char *p = ember_xasprintf("%s/%s/bootstrap", b->o.anchors, rel);

    if (executable(p))
        return p;
    if (b->peers_found && b->peers_missing[0] == '\0')
        snprintf(b->peers_missing, sizeof(b->peers_missing), "%s is missing", p);
    free(p);
    return NULL;
}

static void add_rows(struct ember_bench *b, struct ember_bench_block *blk)
{
    int         items = blk->route == EMBER_BENCH_ITEMS;
    const char *p;

    if (!items)
        add_row(b, blk, "floor", "floor (libc)", EMBER_BENCH_FLOOR, b->o.floor, NULL);
    else if (executable(b->o.floor_items))
        add_row(b, blk, "floor", "floor-items", EMBER_BENCH_FLOOR, b->o.floor_items, NULL);
    p = items && b->peers_found ? peer(b, "floor-items") : NULL;
    if (p != NULL)
        add_row(b, blk, "ref-floor", "ref. floor-items", EMBER_BENCH_PEER, p, NULL);
    add_row(b, blk, "lazy", "ember", EMBER_BENCH_EMBER, b->o.bootstrap, NULL);
    add_row(b, blk, "eager", "ember (preload)", EMBER_BENCH_EMBER, b->o.bootstrap,
            "EMBER_PRELOAD=all");
    if (b->o.alt != NULL)
        add_row(b, blk, "alt", "alt", EMBER_BENCH_EMBER, b->o.alt, b->o.alt_env);
    /* the Rust peer speaks NoTls: it cannot join the TLS block */
    p = b->peers_found && strcmp(blk->name, "items-tls") != 0
        ? peer(b, items ? "rust/items" : "rust/hello") : NULL;
    if (p != NULL)
        add_row(b, blk, "rust", "Rust", EMBER_BENCH_PEER, p, NULL);
    p = b->peers_found ? peer(b, items ? "go/items" : "go/hello") : NULL;
    if (p != NULL)
        add_row(b, blk, "go", "Go", EMBER_BENCH_PEER, p, NULL);
}

static struct ember_bench_block *add_block(struct ember_bench *b, const char *name,
                                           const char *title, enum ember_bench_route route,
                                           const char *db_url)
{
    struct ember_bench_block *blk = &b->blocks[b->nblocks++];

    blk->name = name;
    blk->title = title;
    blk->route = route;
    blk->db_url = db_url;
    /* the TLS and delayed blocks have no warm target: fewer processes, fewer invocations */
    blk->n = strncmp(name, "items-", 6) == 0 ? b->o.extra_n : b->o.n;
    blk->k = strncmp(name, "items-", 6) == 0 && b->o.k > 20 ? 20 : b->o.k;
    blk->event = ember_bench_event(route == EMBER_BENCH_HELLO ? "/hello" : "/items/1",
                                   route == EMBER_BENCH_ITEMS ? b->token : NULL);
    add_rows(b, blk);
    return blk;
}

/* url with its port (after the '@', the host's ':') replaced. Caller frees; NULL if no port. */
static char *with_port(const char *url, int port)
{
    const char *at = strchr(url, '@'), *colon, *slash;

    colon = strchr(at != NULL ? at : url, ':');
    if (at == NULL || colon == NULL)
        return NULL;
    slash = colon + 1 + strspn(colon + 1, "0123456789");
    return ember_xasprintf("%.*s:%d%s", (int) (colon - url), url, port, slash);
}

/* ---------------------------------------------------------------- the rounds */

static void run_block(struct ember_bench *b, struct ember_bench_block *blk)
{
    int i, j;

    for (i = 0; i < blk->n; i++) {
        /* rotate the order: each row runs after each other row as often */
        for (j = 0; j < blk->nrows; j++)
            ember_bench_sample(b, blk, &blk->rows[(i + j) % blk->nrows], i);
        if (isatty(2) && (i + 1) % 10 == 0)
            fprintf(stderr, "\rember-bench: %s: round %d of %d ", blk->name, i + 1, blk->n);
    }
    if (isatty(2))
        fputc('\n', stderr);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fputs("usage: ember-bench [options]\n"
          "  -n N                cold starts per row (default 200)\n"
          "  -k K                warm invocations per process (default 100)\n"
          "  --routes LIST       hello,items (default both; items needs DATABASE_URL)\n"
          "  --variants LIST     floor,ref-floor,lazy,eager,alt,rust,go (default all found)\n"
          "  --bootstrap PATH    ember's bootstrap (default core/bootstrap)\n"
          "  --plugin-dir DIR    EMBER_PLUGIN_DIR (default plugins/.libs)\n"
          "  --conf FILE         EMBER_CONF (make bench passes conf/ember.conf)\n"
          "  --floor PATH        the hello floor (default bench/floor)\n"
          "  --floor-items PATH  the items floor (default bench/floor-items)\n"
          "  --anchors DIR       the peers: DIR/{rust,go}/{hello,items}/bootstrap,\n"
          "                      DIR/floor-items/bootstrap (default bench/anchors)\n"
          "  --tls-url URL       also /items against this DATABASE_URL (TLS, SCRAM)\n"
          "  --db-delay-us US    also /items with each chunk to and from the database\n"
          "                      held US microseconds by a proxy on loopback\n"
          "  --extra-n N         processes per row of those two blocks (default n/4;\n"
          "                      at most 20 warm invocations each)\n"
          "  --zip FILE          run ember from this unpacked function.zip\n"
          "  --zip-size FILE     only report the size of this function.zip\n"
          "  --burst C           then C concurrent first requests through ember-local\n"
          "  --burst-rounds R    burst rounds (default 5)\n"
          "  --local PATH        ember-local (default emu/ember-local)\n"
          "  --out DIR           logs and the chart (default bench/out)\n"
          "  --json FILE         machine-readable results (- for stdout)\n"
          "  --svg FILE          the chart (default OUT/cold-start.svg)\n"
          "  --alt PATH          also run this bootstrap (lazy), as row \"alt\"\n"
          "  --alt-plugin-dir DIR, --alt-env NAME=VALUE  its plugins, one more variable\n"
          "  --smaps             keep OUT/smaps-BLOCK-ROW.txt of each row's last process\n"
          "  --cpu N             run this tool and the bootstraps on CPU N only\n"
          "  --strict            exit 1 when a target is missed or not measured\n", f);
}

static void parse_routes(const char *arg, int *on)
{
    char *copy = ember_xstrdup(arg), *tok, *save = NULL;

    on[EMBER_BENCH_HELLO] = on[EMBER_BENCH_ITEMS] = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "hello") == 0 || strcmp(tok, "/hello") == 0)
            on[EMBER_BENCH_HELLO] = 1;
        else if (strncmp(tok, "items", 5) == 0 || strncmp(tok, "/items", 6) == 0)
            on[EMBER_BENCH_ITEMS] = 1;
        else
            ember_bench_die("--routes: unknown \"%s\" (hello, items)", tok);
    }
    free(copy);
}

static void check_variants(const char *arg)
{
    const char *p = arg;

    while (*p != '\0') {
        size_t len = strcspn(p, ","), i;

        for (i = 0; i < sizeof(all_variants) / sizeof(all_variants[0]); i++)
            if (strlen(all_variants[i]) == len && strncmp(p, all_variants[i], len) == 0)
                break;
        if (i == sizeof(all_variants) / sizeof(all_variants[0]))
            ember_bench_die("--variants: unknown \"%.*s\"", (int) len, p);
        p += len + (p[len] == ',');
    }
}

static char *unpack_zip(const char *zip)
{
    char  tmpl[] = "/tmp/ember-bench.XXXXXX";
    char *dir = mkdtemp(tmpl), *cmd;

    if (dir == NULL)
        ember_bench_die("mkdtemp: %s", strerror(errno));
    cmd = ember_xasprintf("unzip -q -o '%s' -d '%s'", zip, dir);
    if (system(cmd) != 0)
        ember_bench_die("could not unpack %s", zip);
    free(cmd);
    return ember_xstrdup(dir);
}

static char *random_secret(void)
{
    struct ember_buf s = EMBER_BUF_INIT;
    unsigned char    rnd[16];
    int              fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t           i;

    if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t) sizeof(rnd))
        ember_bench_die("/dev/urandom: %s", strerror(errno));
    close(fd);
    for (i = 0; i < sizeof(rnd); i++)
        ember_buf_printf(&s, "%02x", rnd[i]);
    return s.data;
}

static void parse_opts(struct ember_bench *b, int argc, char **argv)
{
    static const struct option lo[] = {
        { "routes", required_argument, NULL, 'r' },
        { "variants", required_argument, NULL, 'v' },
        { "bootstrap", required_argument, NULL, 'b' },
        { "plugin-dir", required_argument, NULL, 'p' },
        { "conf", required_argument, NULL, 'c' },
        { "floor", required_argument, NULL, 'f' },
        { "floor-items", required_argument, NULL, 'F' },
        { "anchors", required_argument, NULL, 'a' },
        { "tls-url", required_argument, NULL, 'T' },
        { "db-delay-us", required_argument, NULL, 'D' },
        { "extra-n", required_argument, NULL, 'x' },
        { "zip", required_argument, NULL, 'z' },
        { "burst", required_argument, NULL, 'B' },
        { "burst-rounds", required_argument, NULL, 'R' },
        { "local", required_argument, NULL, 'L' },
        { "out", required_argument, NULL, 'o' },
        { "json", required_argument, NULL, 'j' },
        { "svg", required_argument, NULL, 's' },
        { "strict", no_argument, NULL, 'S' },
        { "smaps", no_argument, NULL, 'M' },
        { "alt", required_argument, NULL, 'A' },
        { "zip-size", required_argument, NULL, 'Z' },
        { "cpu", required_argument, NULL, 'U' },
        { "alt-plugin-dir", required_argument, NULL, 'P' },
        { "alt-env", required_argument, NULL, 'E' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct ember_bench_opts *o = &b->o;
    int                      ch;

    o->n = 200;
    o->k = 100;
    o->extra_n = -1;
    o->bootstrap = "core/bootstrap";
    o->plugin_dir = "plugins/.libs";
    o->floor = "bench/floor";
    o->floor_items = "bench/floor-items";
    o->anchors = "bench/anchors";
    o->local = "emu/ember-local";
    o->out = "bench/out";
    o->burst_rounds = 5;
    o->cpu = -1;
    o->routes[EMBER_BENCH_HELLO] = o->routes[EMBER_BENCH_ITEMS] = 1;
    while ((ch = getopt_long(argc, argv, "n:k:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': o->n = atoi(optarg); break;
        case 'k': o->k = atoi(optarg); break;
        case 'r': parse_routes(optarg, o->routes); break;
        case 'v':
            check_variants(optarg);
            snprintf(o->variants, sizeof(o->variants), "%s", optarg);
            break;
        case 'b': o->bootstrap = optarg; break;
        case 'p': o->plugin_dir = optarg; break;
        case 'c': o->conf = optarg; break;
        case 'f': o->floor = optarg; break;
        case 'F': o->floor_items = optarg; break;
        case 'a': o->anchors = optarg; break;
        case 'T': o->tls_url = optarg; break;
        case 'D': o->delay_us = atoi(optarg); break;
        case 'x': o->extra_n = atoi(optarg); break;
        case 'z': o->zip = optarg; break;
        case 'B': o->burst = atoi(optarg); break;
        case 'R': o->burst_rounds = atoi(optarg); break;
        case 'L': o->local = optarg; break;
        case 'o': o->out = optarg; break;
        case 'j': o->json = optarg; break;
        case 's': o->svg = optarg; break;
        case 'S': o->strict = 1; break;
        case 'M': o->smaps = 1; break;
        case 'A': o->alt = optarg; break;
        case 'Z': o->zip_size = optarg; break;
        case 'U': o->cpu = atoi(optarg); break;
        case 'P': o->alt_plugin_dir = optarg; break;
        case 'E': o->alt_env = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc || o->n < 1 || o->k < 0 || o->burst < 0 || o->burst_rounds < 1
        || o->delay_us < 0) {
        usage(stderr);
        exit(2);
    }
    if (o->extra_n < 0)
        o->extra_n = o->n / 4 > 0 ? o->n / 4 : 1;
    if (o->conf == NULL)
        ember_bench_die("--conf is required (make bench passes conf/ember.conf)");
    /* absolute: ember-local runs the sandboxes in the task root */
    o->bootstrap = absolute(o->bootstrap);
    o->plugin_dir = absolute(o->plugin_dir);
    o->conf = absolute(o->conf);
    o->floor = absolute(o->floor);
    o->floor_items = absolute(o->floor_items);
    o->anchors = absolute(o->anchors);
    o->local = absolute(o->local);
    if (o->alt != NULL)
        o->alt = absolute(o->alt);
}

static void setup(struct ember_bench *b)
{
    const char  *db = getenv("DATABASE_URL");
    struct stat  st;

    signal(SIGPIPE, SIG_IGN);
    mkdir(b->o.out, 0755);
    b->logfile = ember_xasprintf("%s/bootstrap.log", b->o.out);
    if (b->o.zip != NULL) {
        b->task_root = unpack_zip(b->o.zip);
        b->o.bootstrap = ember_xasprintf("%s/bootstrap", b->task_root);
    }
    if (db == NULL && b->o.routes[EMBER_BENCH_ITEMS]) {
        fprintf(stderr, "ember-bench: DATABASE_URL is not set: /items/{id} skipped\n");
        b->o.routes[EMBER_BENCH_ITEMS] = 0;
    }
    b->peers_found = stat(b->o.anchors, &st) == 0 && S_ISDIR(st.st_mode);
    if (!b->peers_found)
        snprintf(b->peers_missing, sizeof(b->peers_missing), "%s not found (make bench unpacks "
                 "../shared/anchors there when it exists): rust, go and ref-floor not measured",
                 b->o.anchors);
    b->exec_stamp = mmap(NULL, sizeof(int64_t), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b->exec_stamp == MAP_FAILED)
        ember_bench_die("mmap: %s", strerror(errno));
    b->secret = random_secret();
    b->token = ember_bench_mint_token(b->secret, "alice");
    ember_bench_listen(b);
    if (b->o.cpu >= 0) {
        /* this tool and (inherited) every bootstrap on one CPU: a warm round
           trip is two context switches, not two cross-CPU wake-ups whose
           cost depends on where the scheduler put them */
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(b->o.cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0)
            ember_bench_die("--cpu %d: %s", b->o.cpu, strerror(errno));
    }

    if (b->o.routes[EMBER_BENCH_HELLO])
        add_block(b, "hello", "/hello", EMBER_BENCH_HELLO, NULL);
    if (b->o.routes[EMBER_BENCH_ITEMS]) {
        add_block(b, "items", "/items/{id}", EMBER_BENCH_ITEMS, db);
        if (b->o.tls_url != NULL)
            add_block(b, "items-tls", "/items/{id}, TLS + SCRAM (sslmode=require)",
                      EMBER_BENCH_ITEMS, b->o.tls_url);
        if (b->o.delay_us > 0) {
            const char *at = strchr(db, '@');
            int         port = 0, pport = 0;
            char       *url, *title;

            if (at != NULL && strchr(at, ':') != NULL)
                port = atoi(strchr(at, ':') + 1);
            if (port <= 0)
                ember_bench_die("--db-delay-us: no port in DATABASE_URL");
            b->proxy_pid = ember_bench_proxy_start(port, b->o.delay_us, &pport);
            url = with_port(db, pport);
            title = ember_xasprintf("/items/{id}, database %d us away each way (proxy)",
                                    b->o.delay_us);
            add_block(b, "items-delay", title, EMBER_BENCH_ITEMS, url);
        }
    }
}

int main(int argc, char **argv)
{
    struct ember_bench        *b = ember_xcalloc(1, sizeof(*b));
    struct ember_bench_burst   br;
    struct ember_bench_target  t[EMBER_BENCH_MAX_TARGETS];
    struct ember_buf           json = EMBER_BUF_INIT;
    struct utsname             un;
    int                        k, i, nt, bad, strict;
    size_t                     fails = 0;
    int64_t                    t_start = ember_bench_now_ns();
    char                      *svg;

    memset(&br, 0, sizeof(br));
    parse_opts(b, argc, argv);
    setup(b);

    for (k = 0; k < b->nblocks; k++)
        run_block(b, &b->blocks[k]);
    if (b->proxy_pid > 0) {
        kill(b->proxy_pid, SIGTERM);
        waitpid(b->proxy_pid, NULL, 0);
    }
    if (b->o.burst > 0)
        ember_bench_run_burst(b, &br);

    uname(&un);
    printf("ember-bench: %s %s, %ld CPUs; Runtime API on 127.0.0.1:%d%s%s\n", un.sysname,
           un.release, sysconf(_SC_NPROCESSORS_ONLN), b->port,
           b->task_root ? "; ember from " : "", b->task_root ? b->o.zip : "");
    ember_bench_print_rows(b);
    ember_bench_print_journeys(b);

    ember_buf_printf(&json, "{\"machine\":{\"kernel\":\"%s\",\"cpus\":%ld},\"settings\":"
                     "{\"n\":%d,\"extra_n\":%d,\"k\":%d,\"zip\":", un.release,
                     sysconf(_SC_NPROCESSORS_ONLN), b->o.n, b->o.extra_n, b->o.k);
    if (b->o.zip != NULL)
        ember_buf_printf(&json, "\"%s\"", b->o.zip);
    else
        ember_buf_puts(&json, "null");
    ember_buf_printf(&json, ",\"peers\":%s},", b->peers_found ? "true" : "false");
    ember_bench_rows_json(b, &json);
    ember_buf_puts(&json, ",");
    ember_bench_print_sizes(b, &json);

    if (br.ran) {
        printf("\nburst through ember-local: %d rounds of %d concurrent requests after every "
               "sandbox was reaped, then %d more (warm)\n", br.rounds, br.c, br.c);
        printf("  %-5s %6s %9s %9s %9s (client latency, ms)\n", "", "n", "p50", "p95", "max");
        printf("  %-5s %6zu %9.2f %9.2f %9.2f\n", "cold", br.cold.n, ember_bench_pct(&br.cold, 50),
               ember_bench_pct(&br.cold, 95), ember_bench_max(&br.cold));
        printf("  %-5s %6zu %9.2f %9.2f %9.2f\n", "warm", br.warm.n, ember_bench_pct(&br.warm, 50),
               ember_bench_pct(&br.warm, 95), ember_bench_max(&br.warm));
        if (br.errors)
            printf("  %zu errors; first: %s\n", br.errors, br.error);
        ember_buf_printf(&json, ",\"burst\":{\"concurrency\":%d,\"rounds\":%d,\"errors\":%zu,",
                         br.c, br.rounds, br.errors);
        ember_bench_series_json(&json, "cold_ms", &br.cold, 0);
        ember_bench_series_json(&json, "warm_ms", &br.warm, 1);
        ember_buf_puts(&json, "}");
    }

    nt = ember_bench_targets(b, t, EMBER_BENCH_MAX_TARGETS);
    ember_buf_puts(&json, ",");
    bad = ember_bench_print_targets(b, t, nt, &json);
    for (k = 0; k < b->nblocks; k++)
        for (i = 0; i < b->blocks[k].nrows; i++)
            fails += b->blocks[k].rows[i].fails;
    ember_buf_printf(&json, ",\"fails\":%zu,\"seconds\":%.1f}\n", fails,
                     (double) (ember_bench_now_ns() - t_start) / 1e9);

    svg = b->o.svg ? ember_xstrdup(b->o.svg) : ember_xasprintf("%s/cold-start.svg", b->o.out);
    ember_bench_chart(b, svg, t, nt);
    printf("\nchart: %s\n", svg);
    if (b->o.json != NULL) {
        FILE *f = strcmp(b->o.json, "-") == 0 ? stdout : fopen(b->o.json, "w");

        if (f == NULL)
            ember_bench_die("%s: %s", b->o.json, strerror(errno));
        fputs(json.data, f);
        if (f != stdout)
            fclose(f);
        else
            fflush(f);
        if (f != stdout)
            printf("json: %s\n", b->o.json);
    }
    printf("%.0f s\n", (double) (ember_bench_now_ns() - t_start) / 1e9);

    if (b->task_root != NULL) {
        char *cmd = ember_xasprintf("rm -rf '%s'", b->task_root);

        if (system(cmd) != 0)
            fprintf(stderr, "ember-bench: could not remove %s\n", b->task_root);
        free(cmd);
    }
    if (fails > 0)
        fprintf(stderr, "ember-bench: %zu process(es) failed (see \"first failure\" above)\n",
                fails);
    strict = b->o.strict;
    ember_buf_free(&json);
    free(svg);
    ember_bench_series_free(&br.cold);
    ember_bench_series_free(&br.warm);
    free_bench(b);
    return strict && (bad > 0 || fails > 0) ? 1 : 0;
}
