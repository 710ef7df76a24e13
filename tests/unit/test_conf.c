/*
 * test_conf.c - the config parser and the plugin schemas: the shipped
 * config parses, the parsed structure is exact, and every error comes out
 * with its exact "file:line: message".
 *
 * Most cases use the test plugin `probe` (always in the schema table,
 * accepted with EMBER_TEST_PLUGINS=1), so they hold whatever plugins the
 * build includes; cases on auth/db/response depend on EMBER_WITH_*.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "schema.h"
#include "../tap.h"

#if defined(EMBER_WITH_AUTH) && defined(EMBER_WITH_DB) && defined(EMBER_WITH_RESPONSE)
#define ALL_PLUGINS 1
#endif

/* Parse text as "t.conf"; errors into errs (reset first). */
static int parse(struct ember_conf **conf, const char *text, struct ember_buf *errs)
{
    ember_buf_reset(errs);
    return ember_conf_parse(conf, "t.conf", text, strlen(text), errs);
}

/* text must fail with exactly `expected` (every line, in order). */
static void fails(const char *text, const char *expected, const char *name)
{
    struct ember_buf   errs = EMBER_BUF_INIT;
    struct ember_conf *conf = (struct ember_conf *) 1;
    int                rc = parse(&conf, text, &errs);

    is_int(rc, EMBER_ERROR, "%s: fails", name);
    ok(conf == NULL, "%s: no conf", name);
    is_str(ember_buf_str(&errs), expected, "%s: message", name);
    ember_conf_free(conf);
    ember_buf_free(&errs);
}

/* text must parse with no errors; the caller frees the conf. */
static struct ember_conf *parses(const char *text, const char *name)
{
    struct ember_buf   errs = EMBER_BUF_INIT;
    struct ember_conf *conf = NULL;
    int                rc = parse(&conf, text, &errs);

    is_int(rc, EMBER_OK, "%s: parses", name);
    is_str(ember_buf_str(&errs), "", "%s: no errors", name);
    ember_buf_free(&errs);
    return conf;
}

static void test_schema(void)
{
    const struct ember_plugin_schema *s;

    unsetenv("EMBER_TEST_PLUGINS");
#ifdef ALL_PLUGINS
    is_str(ember_schema_built(), "auth db response", "schema: built list");
#endif
#if !defined(EMBER_WITH_AUTH) && !defined(EMBER_WITH_DB) && !defined(EMBER_WITH_RESPONSE)
    is_str(ember_schema_built(), "none", "schema: nothing built");
#endif
    ok(ember_schema_find("probe") == NULL, "schema: probe hidden without EMBER_TEST_PLUGINS");
    setenv("EMBER_TEST_PLUGINS", "0", 1);
    ok(ember_schema_find("probe") == NULL, "schema: probe hidden with EMBER_TEST_PLUGINS=0");
    setenv("EMBER_TEST_PLUGINS", "1", 1);
    s = ember_schema_find("probe");
    ok(s != NULL && s->test_only == 1 && s->d[5].name == NULL
       && s->d[4].name != NULL, "schema: probe, test-only, 5 directives");
    ok(strstr(ember_schema_built(), "probe") == NULL, "schema: probe never in the built list");
    ok(s && ember_schema_directive(s->d, "echo") != NULL
       && strcmp(ember_schema_directive(s->d, "echo")->values, "on|off") == 0
       && ember_schema_directive(s->d, "echo")->scope == EMBER_SCOPE_ROUTE,
       "schema: probe echo is route-only, on|off");
    ok(s && ember_schema_directive(s->d, "nope") == NULL, "schema: unknown directive -> NULL");
    ok(ember_schema_find("nope") == NULL, "schema: unknown plugin -> NULL");
#ifdef EMBER_WITH_DB
    s = ember_schema_find("db");
    ok(s && s->test_only == 0 && ember_schema_directive(s->d, "result")
       && strcmp(ember_schema_directive(s->d, "result")->values, "one|many|none") == 0,
       "schema: db result one|many|none");
#else
    ok(ember_schema_find("db") == NULL, "schema: db not built");
#endif
#ifdef EMBER_WITH_AUTH
    s = ember_schema_find("auth");
    ok(s && ember_schema_directive(s->d, "require_claims")
       && ember_schema_directive(s->d, "require_claims")->multi == 1, "schema: auth require_claims multi");
#else
    ok(ember_schema_find("auth") == NULL, "schema: auth not built");
#endif
}

/* The typed check of one directive (schema.c), against a table of every type. */
static const struct ember_directive typed[] = {
    EMBER_DIRECTIVE("n",    EMBER_SCOPE_BOTH,   1, 2, 0, EMBER_T_INT, -5, 9223372036854775807L, NULL)
    EMBER_DIRECTIVE("pos",  EMBER_SCOPE_BOTH,   1, 1, 0, EMBER_T_INT, 1, 10, NULL)
    EMBER_DIRECTIVE("e",    EMBER_SCOPE_GLOBAL, 1, 1, 0, EMBER_T_ENUM, 0, 0, "a|bb")
    EMBER_DIRECTIVE("ei",   EMBER_SCOPE_ROUTE,  1, 3, 0, EMBER_T_ENUMI, 0, 0, "HS256|RS256")
    EMBER_DIRECTIVE("env",  EMBER_SCOPE_BOTH,   1, 1, 1, EMBER_T_ENV, 0, 0, NULL)
    EMBER_DIRECTIVE("path", EMBER_SCOPE_BOTH,   1, 1, 0, EMBER_T_PATH, 0, 0, NULL)
    EMBER_DIRECTIVE("url",  EMBER_SCOPE_BOTH,   1, 1, 0, EMBER_T_URL, 0, 0, "https|http")
    EMBER_DIRECTIVE("any",  EMBER_SCOPE_BOTH,   0, 1, 0, EMBER_T_STRING, 0, 0, NULL)
    EMBER_DIRECTIVES_END
};

/* check one directive `name v` (route scope unless global); the reason, or "" */
static const char *check1(const char *name, int route, const char *v, int prev)
{
    static struct ember_buf why = EMBER_BUF_INIT;
    const char             *argv[2] = { v, NULL };

    ember_buf_reset(&why);
    if (ember_schema_check(typed, "t", route, name, v ? 1 : 0, argv, prev, &why) == 0
        && why.len != 0)
        return "(0 with a reason)";
    return ember_buf_str(&why);
}

static void test_types(void)
{
    is_str(check1("n", 1, "0", 0), "", "INT: 0");
    is_str(check1("n", 1, "-5", 0), "", "INT: min");
    is_str(check1("n", 1, "-6", 0), "directive \"n\": expected an integer from -5 to "
           "9223372036854775807, got \"-6\"", "INT: below min");
    is_str(check1("n", 1, "9223372036854775807", 0), "", "INT: LONG_MAX");
    ok(*check1("n", 1, "9223372036854775808", 0) != '\0', "INT: LONG_MAX + 1 refused");
    ok(*check1("n", 1, "99999999999999999999999", 0) != '\0', "INT: overflow refused");
    ok(*check1("n", 1, "", 0) != '\0', "INT: empty refused");
    ok(*check1("n", 1, "-", 0) != '\0', "INT: a lone - refused");
    ok(*check1("n", 1, "+1", 0) != '\0', "INT: + refused");
    ok(*check1("n", 1, " 1", 0) != '\0', "INT: blank refused");
    ok(*check1("n", 1, "1x", 0) != '\0', "INT: trailing junk refused");
    is_str(check1("pos", 1, "-1", 0), "directive \"pos\": expected an integer from 1 to 10, "
           "got \"-1\"", "INT: no - when min >= 0");
    is_str(check1("pos", 1, "010", 0), "", "INT: leading zeros");
    is_str(check1("e", 0, "bb", 0), "", "ENUM: a value");
    is_str(check1("e", 0, "b", 0), "directive \"e\": expected one of a|bb, got \"b\"",
           "ENUM: a prefix is not a value");
    is_str(check1("e", 0, "BB", 0), "directive \"e\": expected one of a|bb, got \"BB\"",
           "ENUM: case counts");
    is_str(check1("ei", 1, "hs256", 0), "", "ENUMI: any case");
    {
        static struct ember_buf why = EMBER_BUF_INIT;
        const char *argv[] = { "HS256", "rs256", "XS1", NULL };

        is_int(ember_schema_check(typed, "t", 1, "ei", 3, argv, 0, &why), -1,
               "every argument is checked");
        is_str(ember_buf_str(&why), "directive \"ei\": expected one of HS256|RS256, got \"XS1\"",
               "... and the wrong one named");
        ember_buf_free(&why);
    }
    is_str(check1("env", 1, "_A1", 0), "", "ENV: _A1");
    ok(*check1("env", 1, "A-B", 0) != '\0', "ENV: A-B refused");
    ok(*check1("env", 1, "", 0) != '\0', "ENV: empty refused");
    is_str(check1("path", 1, "x", 0), "", "PATH: x");
    is_str(check1("path", 1, "", 0), "directive \"path\": expected a file path, got \"\"",
           "PATH: empty refused");
    is_str(check1("url", 1, "HTTPS://h/x", 0), "", "URL: scheme in any case");
    is_str(check1("url", 1, "ftp://h", 0), "directive \"url\": expected a URL (https://... or "
           "http://...), got \"ftp://h\"", "URL: another scheme refused");
    ok(*check1("url", 1, "https://", 0) != '\0', "URL: nothing after :// refused");
    ok(*check1("url", 1, "h", 0) != '\0', "URL: no scheme refused");
    is_str(check1("any", 1, "\x01\"", 0), "", "STRING: anything");
    is_str(check1("any", 1, NULL, 0), "", "STRING: 0 arguments allowed");
    is_str(check1("e", 1, "a", 0), "directive \"e\" of plugin \"t\" is a global setting: put "
           "it in \"plugin t { ... }\"", "scope: global only");
    is_str(check1("ei", 0, "HS256", 0), "directive \"ei\" of plugin \"t\" is a route setting: "
           "put it in a route's \"t { ... }\" block", "scope: route only");
    is_str(check1("pos", 1, "1", 7), "directive \"pos\" repeated (first at line 7)",
           "repeated");
    is_str(check1("env", 1, "A", 7), "", "multi may repeat");
    is_str(check1("zz\n", 1, "1", 0), "unknown directive \"zz\\n\" for plugin \"t\"",
           "unknown, shown escaped");
    is_str(check1("pos", 1, NULL, 0), "directive \"pos\" takes 1 argument, got 0", "argc");
}

static void test_shipped(void)
{
    const char        *srcdir = getenv("top_srcdir");
    char               path[4096];
    struct ember_buf   errs = EMBER_BUF_INIT;
    struct ember_conf *conf = NULL;
    int                rc;

    snprintf(path, sizeof(path), "%s/conf/ember.conf", srcdir ? srcdir : "..");
    unsetenv("EMBER_TEST_PLUGINS");
    rc = ember_conf_load(&conf, path, &errs);
    setenv("EMBER_TEST_PLUGINS", "1", 1);
#ifdef ALL_PLUGINS
    {
        const struct ember_conf_route     *r;
        const struct ember_conf_block     *b;
        const struct ember_conf_directive *d;

        is_int(rc, EMBER_OK, "ember.conf: parses");
        is_str(ember_buf_str(&errs), "", "ember.conf: no errors");
        if (conf == NULL) {
            ember_buf_free(&errs);
            return;
        }
        is_str(conf->file, path, "ember.conf: file as given");
        is_int(conf->log_level, EMBER_LOG_INFO, "ember.conf: log_level info");
        is_int(conf->strip_stage, EMBER_STRIP_AUTO, "ember.conf: strip_stage default auto");
        ok(conf->plugin_dir == NULL, "ember.conf: plugin_dir default");
        is_int(conf->server_timing, 0, "ember.conf: server_timing default off");
        is_int((long long) conf->nplugins, 2, "ember.conf: 2 plugin blocks");
        b = ember_conf_plugin(conf, "auth");
        ok(b != NULL && b->line == 6 && b->n == 4, "ember.conf: plugin auth at 6, 4 settings");
        d = ember_conf_find(b, "secret_env");
        ok(d && d->argc == 1 && strcmp(d->argv[0], "JWT_SECRET") == 0 && d->line == 8
           && d->argv[1] == NULL && strcmp(d->file, path) == 0,
           "ember.conf: auth secret_env JWT_SECRET at 8 (comment dropped)");
        ok(ember_conf_plugin(conf, "response") == NULL, "ember.conf: no plugin response block");
        is_int((long long) conf->nroutes, 5, "ember.conf: 5 routes");
        r = &conf->routes[1];
        is_str(r->method, "GET", "ember.conf: route 2 method");
        is_str(r->path, "/items/{id}", "ember.conf: route 2 template");
        is_int(r->line, 25, "ember.conf: route 2 line");
        is_int((long long) r->nsteps, 3, "ember.conf: route 2 has 3 steps");
        if (r->nsteps == 3) {
            is_str(r->steps[0].plugin, "auth", "ember.conf: step 1 auth");
            is_int((long long) r->steps[0].block.n, 0, "ember.conf: auth has no route settings");
            is_int(r->steps[0].block.line, 26, "ember.conf: auth step line");
            is_str(r->steps[1].plugin, "db", "ember.conf: step 2 db");
            is_int(r->steps[1].block.line, 27, "ember.conf: db block line");
            is_str(r->steps[1].block.name, "db", "ember.conf: db block name");
            d = ember_conf_find(&r->steps[1].block, "sql");
            is_str(d ? d->argv[0] : NULL, "SELECT id, name, price FROM items WHERE id = $1",
                   "ember.conf: sql single-quoted, verbatim");
            d = ember_conf_find(&r->steps[1].block, "result");
            is_str(d ? d->argv[0] : NULL, "one", "ember.conf: result one");
            is_str(r->steps[2].plugin, "response", "ember.conf: step 3 response");
        }
        r = &conf->routes[3];
        d = ember_conf_find(&r->steps[1].block, "bind");
        ok(r->line == 49 && strcmp(r->method, "POST") == 0 && d && d->argc == 3
           && strcmp(d->argv[2], "claim:sub") == 0,
           "ember.conf: POST /items binds 3 values");
    }
#else
    ok(rc == EMBER_ERROR && strstr(ember_buf_str(&errs), "unknown plugin") != NULL,
       "ember.conf: needs auth, db and response");
#endif
    ember_conf_free(conf);
    ember_buf_free(&errs);
}

static void test_structure(void)
{
    struct ember_conf                 *conf;
    const struct ember_conf_directive *d;
    const struct ember_conf_route     *r;

    conf = parses("# a comment line\n"
                  "\n"
                  "log_level  DEBUG   # trailing comment\n"
                  "strip_stage prod\n"
                  "plugin_dir \"/opt/my plugins\"\n"
                  "server_timing on\n"
                  "plugin probe {\n"
                  "    record '/tmp/x y'\n"
                  "}\n"
                  "route get /a/{id} {\n"
                  "    probe {\n"
                  "        answer 200 \"a \\\"q\\\" \\\\ b\\nc\\td\"\n"
                  "        maps 'it''s' \"#not a comment\" 'b\\' a#comment\n"
                  "        echo on\n"
                  "        fail ''\n"
                  "    }\n"
                  "}\n"
                  "\t route\tANY / {   \r\n"
                  "  probe {}\r\n"
                  "}\n"
                  "route pAtCh /b {\n"
                  "  probe { }\n"
                  "}\n"
                  , "structure");
    if (conf == NULL)
        return;
    is_int(conf->log_level, EMBER_LOG_DEBUG, "structure: log_level DEBUG (any case)");
    is_int(conf->strip_stage, EMBER_STRIP_NAME, "structure: strip_stage NAME");
    is_str(conf->strip_stage_name, "prod", "structure: stage name");
    is_str(conf->plugin_dir, "/opt/my plugins", "structure: quoted path with a space");
    is_int(conf->server_timing, 1, "structure: server_timing on");
    is_int((long long) conf->nplugins, 1, "structure: one plugin block");
    ok(conf->plugins[0].line == 7 && strcmp(conf->plugins[0].name, "probe") == 0
       && strcmp(conf->plugins[0].file, "t.conf") == 0, "structure: plugin probe at 7");
    d = ember_conf_find(ember_conf_plugin(conf, "probe"), "record");
    is_str(d ? d->argv[0] : NULL, "/tmp/x y", "structure: single quotes verbatim");
    ok(ember_conf_find(NULL, "record") == NULL, "structure: conf_find(NULL) is NULL");
    is_int((long long) conf->nroutes, 3, "structure: 3 routes (a broken block is not one)");
    r = &conf->routes[0];
    ok(strcmp(r->method, "GET") == 0 && strcmp(r->path, "/a/{id}") == 0 && r->line == 10
       && strcmp(r->file, "t.conf") == 0 && r->nsteps == 1, "structure: route get -> GET");
    is_int((long long) r->steps[0].block.n, 4, "structure: 4 settings");
    d = &r->steps[0].block.d[0];
    ok(strcmp(d->name, "answer") == 0 && d->argc == 2 && d->line == 12
       && strcmp(d->argv[0], "200") == 0 && d->argv[2] == NULL, "structure: answer 200 ...");
    is_str(d->argv[1], "a \"q\" \\ b\nc\td", "structure: double-quote escapes");
    d = &r->steps[0].block.d[1];
    is_int(d->argc, 4, "structure: maps has 4 arguments");
    if (d->argc == 4) {
        is_str(d->argv[0], "its", "structure: adjacent quoted parts join");
        is_str(d->argv[1], "#not a comment", "structure: # inside quotes");
        is_str(d->argv[2], "b\\", "structure: no escapes in single quotes");
        is_str(d->argv[3], "a", "structure: # after a word starts a comment");
    }
    d = &r->steps[0].block.d[3];
    ok(strcmp(d->name, "fail") == 0 && d->argc == 1 && strcmp(d->argv[0], "") == 0,
       "structure: '' is an empty argument");
    r = &conf->routes[1];
    ok(strcmp(r->method, "ANY") == 0 && strcmp(r->path, "/") == 0 && r->line == 18
       && r->nsteps == 1 && r->steps[0].block.n == 0 && r->steps[0].block.line == 19,
       "structure: CRLF, tabs, probe {}");
    r = &conf->routes[2];
    ok(strcmp(r->method, "PATCH") == 0, "structure: method stored upper-case");
    ember_conf_free(conf);

    conf = parses("", "empty file");
    ok(conf && conf->nroutes == 0 && conf->nplugins == 0 && conf->log_level == -1
       && conf->strip_stage == EMBER_STRIP_AUTO && conf->strip_stage_name == NULL
       && conf->plugin_dir == NULL && conf->server_timing == 0, "empty file: defaults");
    ember_conf_free(conf);

    conf = parses("strip_stage off\n", "strip_stage off");
    ok(conf && conf->strip_stage == EMBER_STRIP_OFF && conf->strip_stage_name == NULL,
       "strip_stage off");
    ember_conf_free(conf);

    conf = parses("\xef\xbb\xbfstrip_stage auto\n", "UTF-8 BOM skipped");
    ok(conf && conf->strip_stage == EMBER_STRIP_AUTO && conf->strip_stage_name == NULL,
       "strip_stage auto");
    ember_conf_free(conf);
}

static void test_errors(void)
{
    const char *built = ember_schema_built();
    char        want[512];

    /* top level */
    fails("foo bar\n",
          "t.conf:1: unknown directive \"foo\" (expected log_level, strip_stage, plugin_dir, "
          "server_timing, plugin or route)\n", "unknown top-level");
    fails("log_level info debug\n",
          "t.conf:1: directive \"log_level\" takes 1 argument, got 2\n", "argc 2");
    fails("log_level\n", "t.conf:1: directive \"log_level\" takes 1 argument, got 0\n", "argc 0");
    fails("log_level loud\n",
          "t.conf:1: directive \"log_level\": expected one of "
          "trace|debug|info|warn|error|fatal, got \"loud\"\n", "log_level value");
    fails("server_timing yes\n",
          "t.conf:1: directive \"server_timing\": expected one of on|off, got \"yes\"\n",
          "server_timing value");
    fails("strip_stage a/b\n",
          "t.conf:1: directive \"strip_stage\": expected auto, off or a stage name "
          "(without \"/\"), got \"a/b\"\n", "strip_stage value");
    fails("plugin_dir ''\n", "t.conf:1: directive \"plugin_dir\": empty path\n", "empty path");
    fails("log_level info\n\nlog_level debug\n",
          "t.conf:3: directive \"log_level\" repeated (first at line 1)\n", "repeated top-level");
    fails("log_level info {\n  route GET x\n}\n",
          "t.conf:1: directive \"log_level\" takes no block\n", "top-level takes no block");
    fails("password hunter2\n",
          "t.conf:1: directive \"password\": secrets must not be written in the config file; "
          "pass them in the environment (e.g. secret_env NAME)\n", "top-level password");

    /* lexical */
    fails("plugin_dir \"abc\n",
          "t.conf:1: unterminated quote (a quoted argument must end on its line)\n",
          "unterminated double quote");
    fails("plugin_dir 'abc\n",
          "t.conf:1: unterminated quote (a quoted argument must end on its line)\n",
          "unterminated single quote");
    fails("plugin_dir \"a\\qb\"\n",
          "t.conf:1: unknown escape \"\\q\" in a double-quoted argument "
          "(use \\\\ for a backslash)\n", "unknown escape");
    {
        struct ember_buf   errs = EMBER_BUF_INIT;
        struct ember_conf *conf = NULL;
        int                rc = ember_conf_parse(&conf, "t.conf", "log_level info\nx\0y\n", 19,
                                                 &errs);

        is_int(rc, EMBER_ERROR, "NUL byte: fails");
        is_str(ember_buf_str(&errs), "t.conf:2: unexpected NUL byte\n", "NUL byte: message");
        ember_buf_free(&errs);
    }
    fails("route GET \"/a {\n  probe\n  dbx\n}\nlog_level info\n",
          "t.conf:1: unterminated quote (a quoted argument must end on its line)\n",
          "broken line ending in { skips its block");

    /* braces */
    fails("route GET /a {\n  probe\n",
          "t.conf:1: block opened here is not closed: missing \"}\" at end of file\n",
          "missing } at end of file");
    fails("route GET /a {\n  probe {\n    echo on\n",
          "t.conf:1: block opened here is not closed: missing \"}\" at end of file\n"
          "t.conf:2: block opened here is not closed: missing \"}\" at end of file\n",
          "two blocks open at end of file");
    fails("}\n", "t.conf:1: unexpected \"}\" (no block is open)\n", "extra }");
    fails("plugin probe {\n  record x\nroute GET /a {\n  probe\n}\n",
          "t.conf:1: block opened here is not closed: missing \"}\" before line 3\n",
          "missing } noticed at the next top-level block");
    fails("route GET /a {\n  probe { echo on }\n}\n",
          "t.conf:2: \"}\" must be on a line of its own\n", "} not alone");
    fails("route GET /a\n{\n  probe\n}\n",
          "t.conf:1: directive \"route\" needs a block: route METHOD TEMPLATE { ... }\n"
          "t.conf:2: \"{\" must end the line that opens a block\n", "{ on its own line");
    fails("route GET /a {\n  probe x {\n    anything goes\n  }\n}\n",
          "t.conf:2: route \"/a\": plugin \"probe\" takes no arguments here; put its settings "
          "in a block: probe { ... }\n", "step with arguments");

    /* routes */
    fails("route FETCH /a {\n  probe\n}\n",
          "t.conf:1: route \"/a\": unknown method \"FETCH\" (expected GET, HEAD, POST, PUT, "
          "PATCH, DELETE, OPTIONS or ANY)\n", "unknown method");
    fails("route GET /a {\n}\n",
          "t.conf:1: route \"/a\": no plugins (a route needs at least one step)\n", "empty route");
    fails("route GET /a {}\n",
          "t.conf:1: route \"/a\": no plugins (a route needs at least one step)\n",
          "empty route {}");
    fails("route /a {\n  dbx\n}\n",
          "t.conf:1: directive \"route\" takes 2 arguments, got 1\n", "route argc, block skipped");
    snprintf(want, sizeof(want), "t.conf:3: route \"/items/{id}\": unknown plugin \"dbx\" "
             "(built: %s; no dbx.so in /nonexistent/ember-plugins)\n", built);
    fails("route GET /items/{id} {\n  probe\n  dbx\n}\n", want, "unknown plugin in a route");
#ifdef ALL_PLUGINS
    fails("route GET /items/{id} {\n  dbx\n}\n",
          "t.conf:2: route \"/items/{id}\": unknown plugin \"dbx\" (built: auth db response"
          "; no dbx.so in /nonexistent/ember-plugins)\n",
          "unknown plugin in a route, exact built list");
#endif
    fails("route GET /a {\n  probe\n  probe {\n    echo on\n  }\n}\n",
          "t.conf:3: route \"/a\": plugin \"probe\" repeated in the chain (first at line 2)\n",
          "same plugin twice in a chain");

    /* plugin blocks */
    snprintf(want, sizeof(want), "t.conf:1: unknown plugin \"dbx\" (built: %s; no dbx.so in "
             "/nonexistent/ember-plugins)\n",
             built);
    fails("plugin dbx {\n  whatever 1 2 3\n}\n", want, "unknown plugin block, contents skipped");
    unsetenv("EMBER_TEST_PLUGINS");
    snprintf(want, sizeof(want), "t.conf:1: unknown plugin \"probe\" (built: %s)\n"
             "t.conf:5: route \"/a\": unknown plugin \"probe\" (built: %s)\n", built, built);
    fails("plugin probe {\n  record x\n}\nroute GET /a {\n  probe\n}\n", want,
          "probe unknown without EMBER_TEST_PLUGINS=1");
    setenv("EMBER_TEST_PLUGINS", "1", 1);
    fails("plugin probe {\n  record x\n}\nplugin probe {\n  echo on\n}\n",
          "t.conf:4: plugin \"probe\" repeated (first at line 1)\n"
          "t.conf:5: directive \"echo\" of plugin \"probe\" is a route setting: put it in a "
          "route's \"probe { ... }\" block\n", "duplicate plugin block, still validated");
    fails("plugin probe {\n  foo 1\n}\n",
          "t.conf:2: unknown directive \"foo\" for plugin \"probe\"\n", "unknown directive");
    fails("route GET /a {\n  probe {\n    foo\n  }\n}\n",
          "t.conf:3: route \"/a\": unknown directive \"foo\" for plugin \"probe\"\n",
          "unknown directive in a route");
    fails("route GET /a {\n  probe {\n    record x\n  }\n}\n",
          "t.conf:3: route \"/a\": directive \"record\" of plugin \"probe\" is a global "
          "setting: put it in \"plugin probe { ... }\"\n", "global directive in a route");
    fails("plugin probe {\n  answer 200\n}\n",
          "t.conf:2: directive \"answer\" of plugin \"probe\" is a route setting: put it in a "
          "route's \"probe { ... }\" block\n", "route directive in a plugin block");
    fails("route GET /a {\n  probe {\n    answer 200 x y\n  }\n}\n",
          "t.conf:3: route \"/a\": directive \"answer\" takes 1 to 2 arguments, got 3\n",
          "plugin directive argc range");
    fails("plugin probe {\n  record\n}\n",
          "t.conf:2: directive \"record\" takes 1 argument, got 0\n", "plugin directive argc");
    fails("route GET /a {\n  probe {\n    echo maybe\n  }\n}\n",
          "t.conf:3: route \"/a\": directive \"echo\": expected one of on|off, got \"maybe\"\n",
          "value not allowed");
    fails("route GET /a {\n  probe {\n    echo on\n    echo off\n  }\n}\n",
          "t.conf:4: route \"/a\": directive \"echo\" repeated (first at line 3)\n",
          "non-multi directive repeated");
    fails("plugin probe {\n  record x {\n    y\n  }\n}\n",
          "t.conf:2: directive \"record\" takes no block\n", "plugin directive takes no block");
    fails("plugin probe {\n  jwt_secret abc\n  password x\n  secret y\n  secret_env X\n}\n",
          "t.conf:2: directive \"jwt_secret\": secrets must not be written in the config file; "
          "pass them in the environment (e.g. secret_env NAME)\n"
          "t.conf:3: directive \"password\": secrets must not be written in the config file; "
          "pass them in the environment (e.g. secret_env NAME)\n"
          "t.conf:4: directive \"secret\": secrets must not be written in the config file; "
          "pass them in the environment (e.g. secret_env NAME)\n"
          "t.conf:5: unknown directive \"secret_env\" for plugin \"probe\"\n",
          "secrets refused, secret_env is an ordinary name");
    fails("route GET /a {\n  probe {\n    answer \"x\\ny\" 1\n    echo \"a\\tb\\\"\"\n  }\n}\n",
          "t.conf:4: route \"/a\": directive \"echo\": expected one of on|off, "
          "got \"a\\tb\\\"\"\n", "values shown escaped on one line");

#ifdef EMBER_WITH_AUTH
    fails("plugin auth {\n  foo 1\n}\n",
          "t.conf:2: unknown directive \"foo\" for plugin \"auth\"\n", "auth: unknown directive");
    fails("plugin auth {\n  client_secret abc\n}\n",
          "t.conf:2: directive \"client_secret\": secrets must not be written in the config "
          "file; pass them in the environment (e.g. secret_env NAME)\n", "auth: *_secret");
    {
        struct ember_conf *conf = parses("plugin auth {\n  secret_env JWT_SECRET\n"
                                         "  require_claims exp\n  require_claims sub iat\n}\n",
                                         "auth: multi directive repeats, secret_env accepted");
        const struct ember_conf_block *b = conf ? ember_conf_plugin(conf, "auth") : NULL;

        ok(b && b->n == 3 && b->d[2].argc == 2 && strcmp(b->d[2].argv[1], "iat") == 0,
           "auth: both require_claims kept, in order");
        ember_conf_free(conf);
    }
#endif
#ifdef EMBER_WITH_DB
    fails("route GET /a {\n  db {\n    sql 'SELECT 1'\n    result two\n  }\n}\n",
          "t.conf:4: route \"/a\": directive \"result\": expected one of one|many|none, "
          "got \"two\"\n", "db: result two");
    fails("plugin db {\n  sql 'SELECT 1'\n}\n",
          "t.conf:2: directive \"sql\" of plugin \"db\" is a route setting: put it in a "
          "route's \"db { ... }\" block\n", "db: sql in plugin block");
#endif
}

/* Several errors of different kinds in one file: all reported, in order. */
static void test_many(void)
{
    char want[2048];

    snprintf(want, sizeof(want),
             "t.conf:1: directive \"log_level\": expected one of "
             "trace|debug|info|warn|error|fatal, got \"chatty\"\n"
             "t.conf:2: unknown directive \"colour\" (expected log_level, strip_stage, "
             "plugin_dir, server_timing, plugin or route)\n"
             "t.conf:4: unknown directive \"nope\" for plugin \"probe\"\n"
             "t.conf:5: unterminated quote (a quoted argument must end on its line)\n"
             "t.conf:7: route \"/a\": unknown method \"GRAB\" (expected GET, HEAD, POST, PUT, "
             "PATCH, DELETE, OPTIONS or ANY)\n"
             "t.conf:8: route \"/a\": unknown plugin \"dbx\" (built: %s; no dbx.so in "
             "/nonexistent/ember-plugins)\n"
             "t.conf:11: route \"/a\": directive \"echo\": expected one of on|off, got \"1\"\n"
             "t.conf:14: route \"/b\": no plugins (a route needs at least one step)\n"
             "t.conf:16: unexpected \"}\" (no block is open)\n"
             "t.conf:17: directive \"server_timing\" takes 1 argument, got 0\n"
             "t.conf:18: block opened here is not closed: missing \"}\" at end of file\n",
             ember_schema_built());
    fails("log_level chatty\n"           /* 1 */
          "colour blue\n"                /* 2 */
          "plugin probe {\n"             /* 3 */
          "  nope 1\n"                   /* 4 */
          "  record 'x\n"                /* 5 */
          "}\n"                          /* 6 */
          "route GRAB /a {\n"            /* 7 */
          "  dbx\n"                      /* 8 */
          "  probe {\n"                  /* 9 */
          "    answer 200\n"             /* 10 */
          "    echo 1\n"                 /* 11 */
          "  }\n"                        /* 12 */
          "}\n"                          /* 13 */
          "route GET /b {\n"             /* 14 */
          "}\n"                          /* 15 */
          "}\n"                          /* 16 */
          "server_timing\n"              /* 17 */
          "route GET /c {\n"             /* 18 */
          "  probe\n",                   /* 19 */
          want, "many errors, in order");
}

static void test_load(void)
{
    struct ember_buf   errs = EMBER_BUF_INIT;
    struct ember_conf *conf = (struct ember_conf *) 1;
    int                rc = ember_conf_load(&conf, "/nonexistent/x.conf", &errs);

    is_int(rc, EMBER_ERROR, "load: missing file fails");
    ok(conf == NULL, "load: no conf");
    is_str(ember_buf_str(&errs), "/nonexistent/x.conf: No such file or directory\n",
           "load: strerror message");
    ember_buf_free(&errs);
}

int main(void)
{
    setenv("EMBER_TEST_PLUGINS", "1", 1);
    /* where a name no built-in plugin has is looked for as NAME.so */
    setenv("EMBER_PLUGIN_DIR", "/nonexistent/ember-plugins", 1);
    test_schema();
    test_types();
    test_shipped();
    test_structure();
    test_errors();
    test_many();
    test_load();
    return done_testing();
}
