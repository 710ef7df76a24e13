/*
 * proc.c - running the bootstraps: the environment Lambda gives (plus
 * ember's own variables), fork + execve with the clock read just before the
 * fork, what /proc says of a process, and its end.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "xalloc.h"

#define MAX_ENV 32

/* The environment of one process of row in blk. Caller frees each string and the array. */
static char **child_env(const struct ember_bench *b, const struct ember_bench_block *blk,
                        const struct ember_bench_row *row)
{
    char      **env = ember_xmalloc(MAX_ENV * sizeof(char *));
    const char *db = blk->db_url != NULL ? blk->db_url : getenv("DATABASE_URL");
    int         n = 0, i;

    env[n++] = ember_xasprintf("AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", b->port);
    env[n++] = ember_xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    env[n++] = ember_xstrdup("AWS_LAMBDA_FUNCTION_NAME=ember-bench");
    env[n++] = ember_xstrdup("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512");
    env[n++] = ember_xstrdup("AWS_LAMBDA_FUNCTION_VERSION=$LATEST");
    env[n++] = ember_xstrdup("AWS_REGION=us-east-1");
    env[n++] = ember_xstrdup("TZ=:UTC");
    if (row->kind == EMBER_BENCH_EMBER) {
        env[n++] = ember_xstrdup("AWS_LAMBDA_LOG_FORMAT=JSON");
        if (b->task_root != NULL) {
            env[n++] = ember_xasprintf("LAMBDA_TASK_ROOT=%s", b->task_root);
            env[n++] = ember_xasprintf("LD_LIBRARY_PATH=%s/lib", b->task_root);
        } else {
            env[n++] = ember_xasprintf("EMBER_CONF=%s", b->o.conf);
            if (!strcmp(row->name, "alt") && b->o.alt_plugin_dir != NULL)
                env[n++] = ember_xasprintf("EMBER_PLUGIN_DIR=%s", b->o.alt_plugin_dir);
            else
                env[n++] = ember_xasprintf("EMBER_PLUGIN_DIR=%s", b->o.plugin_dir);
        }
    }
    if (row->kind == EMBER_BENCH_EMBER || blk->route == EMBER_BENCH_ITEMS) {
        env[n++] = ember_xasprintf("JWT_SECRET=%s", b->secret);
        if (db != NULL)
            env[n++] = ember_xasprintf("DATABASE_URL=%s", db);
    }
    for (i = 0; row->env[i] != NULL && n < MAX_ENV - 1; i++)
        env[n++] = ember_xstrdup(row->env[i]);
    env[n] = NULL;
    return env;
}

static void free_env(char **env)
{
    char **e;

    for (e = env; *e != NULL; e++)
        free(*e);
    free(env);
}

pid_t ember_bench_spawn(struct ember_bench *b, const struct ember_bench_block *blk,
                        const struct ember_bench_row *row, int64_t *t_spawn)
{
    char      **env = child_env(b, blk, row);
    char       *argv[2];
    const char *tr = row->kind == EMBER_BENCH_EMBER ? b->task_root : NULL;
    const char *log = row->kind == EMBER_BENCH_EMBER ? b->logfile : "/dev/null";
    pid_t       pid;
    int         logfd, nul;

    logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (logfd < 0 || nul < 0)
        ember_bench_die("%s: %s", log, strerror(errno));
    argv[0] = (char *) row->path;
    argv[1] = NULL;
    *b->exec_stamp = 0;
    /* t0: just before the spawn, where an outside timer takes it (the fork
       and the child's way to execve are part of every cold start alike) */
    *t_spawn = ember_bench_now_ns();
    pid = fork();
    if (pid < 0)
        ember_bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(logfd, 2);
        if (tr != NULL && chdir(tr) != 0)
            _exit(126);
        *b->exec_stamp = ember_bench_now_ns();
        execve(row->path, argv, env);
        _exit(127);
    }
    close(logfd);
    close(nul);
    free_env(env);
    return pid;
}

void ember_bench_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

long ember_bench_vm_hwm(pid_t pid)
{
    char  path[64], line[256];
    FILE *f;
    long  kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* Minor page faults of pid so far (/proc/PID/stat field 10), -1 if unreadable. */
long ember_bench_min_faults(pid_t pid)
{
    char  path[64], buf[1024], *p;
    FILE *f;
    long  v = -1;
    int   i;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) != NULL) {
        p = strrchr(buf, ')');          /* the name may hold spaces */
        for (i = 2; p != NULL && i < 10; i++)
            p = strchr(p + 1, ' ');
        if (p != NULL)
            v = strtol(p + 1, NULL, 10);
    }
    fclose(f);
    return v;
}

/* Keeps /proc/PID/smaps of the row's last process: where its RSS is. */
void ember_bench_save_smaps(struct ember_bench *b, const struct ember_bench_block *blk,
                            const struct ember_bench_row *row, pid_t pid)
{
    char   src[64], *dst;
    char   tmp[8192];
    FILE  *in, *out;
    size_t n;

    snprintf(src, sizeof(src), "/proc/%d/smaps", (int) pid);
    dst = ember_xasprintf("%s/smaps-%s-%s.txt", b->o.out, blk->name, row->name);
    in = fopen(src, "r");
    out = fopen(dst, "w");
    while (in != NULL && out != NULL && (n = fread(tmp, 1, sizeof(tmp), in)) > 0)
        fwrite(tmp, 1, n, out);
    if (in != NULL)
        fclose(in);
    if (out != NULL)
        fclose(out);
    free(dst);
}
