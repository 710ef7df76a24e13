/*
 * plugin.c - the lazy plugin loader (see loader.h).
 *
 * One slot per plugin the config names.  Nothing is mapped at start-up:
 * the first request whose route needs a plugin calls ember_plugin_load(),
 * which maps the .so (RTLD_NOW | RTLD_LOCAL), finds `ember_plugin_<name>`,
 * checks magic, ABI, size and name - and for an out-of-tree plugin (no
 * directive table compiled into the core) its settings against the table
 * its .so exports - then runs init once.  A failure is returned
 * to the caller (who logs it once); the slot stays unloaded and is tried
 * again, but with a backoff (1 s, doubling up to 60 s): a request within it
 * gets the last failure at once, without mapping the object (and its
 * libpq or GnuTLS) again.  The first failure says so in the log, once.
 */
#include "config.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "journey.h"
#include "loader.h"
#include "log.h"
#include "schema.h"
#include "xalloc.h"

#ifndef EMBER_PKGLIBDIR
#define EMBER_PKGLIBDIR "/usr/local/lib/ember"
#endif

/* ABI 2's struct up to fini; optional hooks after it are checked one by one */
#define EMBER_PLUGIN_MIN_SIZE (offsetof(struct ember_plugin, fini) + sizeof(void (*)(void *)))

#define MISSING_HINT "check --with-plugins and the ZIP's plugins/"

#define RETRY_FIRST_MS  1000
#define RETRY_MAX_MS    60000

/* A slot, the empty global block it falls back on, and its failures. */
struct slot {
    struct ember_plugin_slot  pub;
    struct ember_conf_block   empty;
    unsigned                  fails;       /* load failures in a row */
    int64_t                   retry_at;    /* CLOCK_MONOTONIC ms; none before */
    struct ember_error        last;        /* the last failure, returned until then */
    int                       noted;       /* the backoff was logged */
};

struct ember_plugins {
    const struct ember_host  *host;
    const struct ember_conf  *conf;
    int64_t                   retry_first_ms;
    int64_t                   retry_max_ms;
    char                     *dirs;     /* colon-separated, owned */
    size_t                    n;
    size_t                    cap;
    struct slot             **slots;    /* stable addresses: handed out */
};

static struct slot *find_slot(struct ember_plugins *ps, const char *name)
{
    size_t i;

    for (i = 0; i < ps->n; i++)
        if (strcmp(ps->slots[i]->pub.name, name) == 0)
            return ps->slots[i];
    return NULL;
}

/* The global block of `name` in conf, or NULL (conf.c's lookup, by hand so
   the loader needs nothing but the parsed structs). */
static const struct ember_conf_block *global_block(const struct ember_conf *conf,
                                                   const char *name)
{
    size_t i;

    for (i = 0; i < conf->nplugins; i++)
        if (conf->plugins[i].name != NULL && strcmp(conf->plugins[i].name, name) == 0)
            return &conf->plugins[i];
    return NULL;
}

/* "<first dir>/<name>.so", the candidate named when no directory has it.
   Caller frees the result. */
static char *first_candidate(const char *dirs, const char *name)
{
    size_t len = strcspn(dirs, ":");

    return ember_xasprintf("%.*s/%s.so", (int) len, dirs, name);
}

/* The first existing <dir>/<name>.so of the colon-separated list, else the
   first directory's candidate.  Caller frees the result. */
static char *resolve_path(const char *dirs, const char *name)
{
    const char *p = dirs;

    if (strchr(dirs, ':') == NULL)
        return first_candidate(dirs, name);    /* dlopen says if it is missing */
    while (*p != '\0') {
        size_t len = strcspn(p, ":");

        if (len > 0) {
            char *cand = ember_xasprintf("%.*s/%s.so", (int) len, p, name);

            if (access(cand, F_OK) == 0)
                return cand;
            free(cand);
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return first_candidate(dirs, name);
}

static void add_slot(struct ember_plugins *ps, const struct ember_conf *conf, const char *name)
{
    struct slot *s;

    if (name == NULL || find_slot(ps, name) != NULL)
        return;
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 8;
        ps->slots = ember_xrealloc(ps->slots, ps->cap * sizeof(*ps->slots));
    }
    s = ember_xcalloc(1, sizeof(*s));
    s->empty.name = name;
    s->empty.file = conf->file;
    s->pub.name = name;
    s->pub.path = first_candidate(ps->dirs, name);
    s->pub.global = global_block(conf, name);
    if (s->pub.global == NULL)
        s->pub.global = &s->empty;
    ps->slots[ps->n++] = s;
}

int ember_plugins_create(struct ember_plugins **psp, const struct ember_conf *conf,
                         const char *dir, const struct ember_host *host)
{
    struct ember_plugins *ps = ember_xcalloc(1, sizeof(*ps));
    size_t i, j;

    ps->host = host;
    ps->conf = conf;
    ps->retry_first_ms = RETRY_FIRST_MS;
    ps->retry_max_ms = RETRY_MAX_MS;
    ps->dirs = ember_xstrdup(dir != NULL && *dir != '\0' ? dir : EMBER_PKGLIBDIR);
    for (i = 0; i < conf->nroutes; i++)
        for (j = 0; j < conf->routes[i].nsteps; j++)
            add_slot(ps, conf, conf->routes[i].steps[j].plugin);
    for (i = 0; i < conf->nplugins; i++)
        add_slot(ps, conf, conf->plugins[i].name);
    *psp = ps;
    return EMBER_OK;
}

size_t ember_plugins_count(const struct ember_plugins *ps)
{
    return ps->n;
}

struct ember_plugin_slot *ember_plugins_slot(struct ember_plugins *ps, size_t i)
{
    return i < ps->n ? &ps->slots[i]->pub : NULL;
}

struct ember_plugin_slot *ember_plugins_find(struct ember_plugins *ps, const char *name)
{
    struct slot *s = find_slot(ps, name);

    return s != NULL ? &s->pub : NULL;
}

/*
 * Step 1: map the shared object and check what it exports.  On success
 * slot->dl is the handle and *pl the plugin; nothing of the plugin has run
 * (beyond its ELF constructors).  On failure nothing stays mapped.
 */
static int map_plugin(struct ember_plugin_slot *slot, const struct ember_plugin **pl,
                      struct ember_error *err)
{
    const struct ember_plugin *p;
    const char *why;
    char       *sym;
    void       *dl;

    dlerror();
    dl = dlopen(slot->path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *named;

        why = dlerror();
        if (why == NULL)
            why = "dlopen failed";
        /* dlerror() names the file it could not open: ours or a library */
        named = strstr(why, slot->path) != NULL ? "" : slot->path;
        if (access(slot->path, F_OK) != 0)
            return ember_fail(err, 500, "plugin \"%s\": %s%s%s; " MISSING_HINT,
                              slot->name, named, *named ? ": " : "", why);
        /* the file is there: a library it needs is missing, or it is broken */
        return ember_fail(err, 500, "plugin \"%s\": %s%s%s; check the libraries it needs "
                          "(ldd %s) and the ZIP's lib/", slot->name, named,
                          *named ? ": " : "", why, slot->path);
    }

    sym = ember_xasprintf("ember_plugin_%s", slot->name);
    dlerror();
    p = dlsym(dl, sym);
    if (p == NULL) {
        ember_fail(err, 500, "plugin \"%s\": %s does not export %s: not an ember plugin",
                   slot->name, slot->path, sym);
        free(sym);
        dlclose(dl);
        return EMBER_ERROR;
    }
    free(sym);

    if (p->magic != EMBER_PLUGIN_MAGIC) {
        ember_fail(err, 500, "plugin \"%s\": %s: not an ember plugin (bad magic)",
                   slot->name, slot->path);
        dlclose(dl);
        return EMBER_ERROR;
    }
    if (p->abi != EMBER_PLUGIN_ABI) {
        ember_fail(err, 500, "plugin \"%s\": %s: plugin ABI %u, runtime needs %u",
                   slot->name, slot->path, (unsigned) p->abi, (unsigned) EMBER_PLUGIN_ABI);
        dlclose(dl);
        return EMBER_ERROR;
    }
    if (p->size < EMBER_PLUGIN_MIN_SIZE) {
        ember_fail(err, 500, "plugin \"%s\": %s: struct ember_plugin of %zu bytes, ABI %u "
                   "needs at least %zu (fill its header with EMBER_PLUGIN_HEADER)", slot->name,
                   slot->path, p->size, (unsigned) EMBER_PLUGIN_ABI,
                   (size_t) EMBER_PLUGIN_MIN_SIZE);
        dlclose(dl);
        return EMBER_ERROR;
    }
    if (p->name == NULL || strcmp(p->name, slot->name) != 0) {
        ember_fail(err, 500, "plugin \"%s\": %s: calls itself \"%s\", not \"%s\"",
                   slot->name, slot->path, p->name ? p->name : "(null)", slot->name);
        dlclose(dl);
        return EMBER_ERROR;
    }
    if (p->handle == NULL) {
        ember_fail(err, 500, "plugin \"%s\": %s: has no handle hook", slot->name, slot->path);
        dlclose(dl);
        return EMBER_ERROR;
    }
    slot->dl = dl;
    *pl = p;
    return EMBER_OK;
}

/*
 * An out-of-tree plugin (no table compiled into the core): its blocks - the
 * `plugin NAME {}` one and its step of every route - checked against the
 * table its .so exports, before init sees them.  The first refusal (and how
 * many more) in err.
 */
static void check_block(const struct ember_conf_block *b, const char *route_path,
                        const struct ember_plugin *p, const char *name, struct ember_buf *first,
                        int *nbad)
{
    struct ember_buf why = EMBER_BUF_INIT;
    size_t           i, j;

    for (i = 0; b != NULL && i < b->n; i++) {
        const struct ember_conf_directive *d = &b->d[i];
        int                                prev = 0;

        for (j = 0; j < i && prev == 0; j++)
            if (strcmp(b->d[j].name, d->name) == 0)
                prev = b->d[j].line;
        ember_buf_reset(&why);
        if (ember_schema_check(p->directives, name, route_path != NULL, d->name, d->argc,
                               d->argv, prev, &why) == 0)
            continue;
        if ((*nbad)++ == 0) {
            ember_buf_printf(first, "%s:%d: ", d->file ? d->file : "?", d->line);
            if (route_path != NULL)
                ember_buf_printf(first, "route \"%s\": ", route_path);
            ember_buf_puts(first, ember_buf_str(&why));
        }
    }
    ember_buf_free(&why);
}

static int check_settings(struct ember_plugins *ps, struct ember_plugin_slot *slot,
                          const struct ember_plugin *p, struct ember_error *err)
{
    const struct ember_conf *conf = ps->conf;
    struct ember_buf         first = EMBER_BUF_INIT;
    int                      nbad = 0;
    size_t                   i, j;

    check_block(slot->global, NULL, p, slot->name, &first, &nbad);
    for (i = 0; i < conf->nroutes; i++)
        for (j = 0; j < conf->routes[i].nsteps; j++)
            if (strcmp(conf->routes[i].steps[j].plugin, slot->name) == 0)
                check_block(&conf->routes[i].steps[j].block, conf->routes[i].path, p,
                            slot->name, &first, &nbad);
    if (nbad > 0) {
        if (nbad > 1)
            ember_fail(err, 500, "plugin \"%s\": %s: a setting its directive table refuses: "
                       "%s (and %d more)", slot->name, slot->path, ember_buf_str(&first),
                       nbad - 1);
        else
            ember_fail(err, 500, "plugin \"%s\": %s: a setting its directive table refuses: "
                       "%s", slot->name, slot->path, ember_buf_str(&first));
    }
    ember_buf_free(&first);
    return nbad > 0 ? EMBER_ERROR : EMBER_OK;
}

/* Step 2: run the plugin's init, once.  On success slot->state is set. */
static int init_plugin(struct ember_plugins *ps, struct ember_plugin_slot *slot,
                       const struct ember_plugin *p, struct ember_error *err)
{
    struct ember_error perr;
    void              *state = NULL;

    if (p->init == NULL) {
        slot->state = NULL;
        return EMBER_OK;
    }
    ember_error_clear(&perr);
    if (p->init(&state, ps->host, slot->global, &perr) != EMBER_OK)
        return ember_fail(err, 500, "plugin \"%s\": %s: init failed: %s", slot->name,
                          slot->path, perr.message[0] ? perr.message : "(no message)");
    slot->state = state;
    return EMBER_OK;
}

void ember_plugins_set_retry(struct ember_plugins *ps, int64_t first_ms, int64_t max_ms)
{
    ps->retry_first_ms = first_ms;
    ps->retry_max_ms = max_ms;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The slot failed to load with err: when to try again, and say so once. */
static void backoff(struct ember_plugins *ps, struct slot *s, const struct ember_error *err)
{
    int64_t delay = ps->retry_first_ms;
    unsigned i;

    s->fails++;
    for (i = 1; i < s->fails && delay < ps->retry_max_ms; i++)
        delay *= 2;
    if (delay > ps->retry_max_ms)
        delay = ps->retry_max_ms;
    s->retry_at = monotonic_ms() + delay;
    s->last = *err;
    if (!s->noted && delay > 0) {
        s->noted = 1;
        ember_log(EMBER_LOG_WARN, "plugin \"%s\" failed to load; it is tried again after "
                  "%lld ms, then after twice as long each time it fails (at most %lld s); "
                  "until then its routes get 500 at once", s->pub.name, (long long) delay,
                  (long long) (ps->retry_max_ms / 1000));
    }
}

int ember_plugin_load(struct ember_plugins *ps, struct ember_plugin_slot *slot,
                      struct ember_error *err)
{
    const struct ember_plugin *p = NULL;
    struct slot               *s = (struct slot *) slot;    /* pub is its first member */

    if (slot->plugin != NULL)
        return EMBER_OK;
    if (s->fails > 0 && monotonic_ms() < s->retry_at) {
        /* within the backoff: the last failure again, nothing mapped */
        *err = s->last;
        return EMBER_ERROR;
    }

    if (strchr(ps->dirs, ':') != NULL) {
        /* several directories: the file may be in any of them */
        free(slot->path);
        slot->path = resolve_path(ps->dirs, slot->name);
    }

    if (map_plugin(slot, &p, err) != EMBER_OK) {
        err->public_message = NULL;
        backoff(ps, s, err);
        return EMBER_ERROR;
    }
    ember_journey_mark2("dlopen", slot->name);
    if ((ember_schema_find(slot->name) == NULL && check_settings(ps, slot, p, err) != EMBER_OK)
        || init_plugin(ps, slot, p, err) != EMBER_OK) {
        dlclose(slot->dl);
        slot->dl = NULL;
        slot->state = NULL;
        err->public_message = NULL;
        backoff(ps, s, err);
        return EMBER_ERROR;
    }
    slot->plugin = p;
    s->fails = 0;
    ember_journey_mark2("init", slot->name);
    return EMBER_OK;
}

/* The next name of a comma-separated list, blanks trimmed, or NULL at the
   end; *p moves past it.  Empty items are skipped.  Caller frees it. */
static char *next_name(const char **p)
{
    while (**p != '\0') {
        const char *s = *p;
        size_t      len = strcspn(s, ",");
        size_t      b = 0, e = len;

        *p = s + len + (s[len] == ',');
        while (b < e && (s[b] == ' ' || s[b] == '\t'))
            b++;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
            e--;
        if (e > b)
            return ember_xstrndup(s + b, e - b);
    }
    return NULL;
}

int ember_plugins_preload(struct ember_plugins *ps, const char *list, struct ember_error *err)
{
    const char *p;
    char       *name;
    size_t      i;

    if (list == NULL || *list == '\0')
        return EMBER_OK;
    if (strcmp(list, "all") == 0) {
        for (i = 0; i < ps->n; i++)
            if (ember_plugin_load(ps, &ps->slots[i]->pub, err) != EMBER_OK)
                return EMBER_ERROR;
        return EMBER_OK;
    }

    /* every name first, so a typo fails before anything is loaded */
    p = list;
    for (name = next_name(&p); name != NULL; name = next_name(&p)) {
        if (find_slot(ps, name) == NULL) {
            struct ember_buf known = EMBER_BUF_INIT;

            for (i = 0; i < ps->n; i++)
                ember_buf_printf(&known, "%s%s", i ? " " : "", ps->slots[i]->pub.name);
            ember_fail(err, 500, "EMBER_PRELOAD: unknown plugin \"%s\" (configured: %s)",
                       name, ps->n ? ember_buf_str(&known) : "none");
            ember_buf_free(&known);
            free(name);
            err->public_message = NULL;
            return EMBER_ERROR;
        }
        free(name);
    }

    p = list;
    for (name = next_name(&p); name != NULL; name = next_name(&p)) {
        int rc = ember_plugin_load(ps, &find_slot(ps, name)->pub, err);

        free(name);
        if (rc != EMBER_OK)
            return EMBER_ERROR;
    }
    return EMBER_OK;
}

void ember_plugins_free(struct ember_plugins *ps)
{
    size_t i;

    if (ps == NULL)
        return;
    /* last loaded-by-config-order first, like a stack of inits */
    for (i = ps->n; i-- > 0;) {
        struct ember_plugin_slot *slot = &ps->slots[i]->pub;

        if (slot->plugin != NULL && slot->plugin->fini != NULL)
            slot->plugin->fini(slot->state);
        if (slot->dl != NULL) {
#ifndef EMBER_ASAN
            dlclose(slot->dl);
#endif
            /* with sanitizers the object stays mapped, so LeakSanitizer
               can still name the plugin's functions in its report */
        }
        free(slot->path);
        free(ps->slots[i]);
    }
    free(ps->slots);
    free(ps->dirs);
    free(ps);
}
