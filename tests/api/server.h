/*
 * server.h - a Lambda Runtime API on 127.0.0.1 for the route-case runner.
 *
 * Single-threaded: the runner calls api_server_poll() in its own waiting
 * loops.  HTTP/1.1 with keep-alive, Content-Length or chunked request
 * bodies.  One invocation at a time: api_server_offer() queues it, the
 * next `GET /2018-06-01/runtime/invocation/next` (held open until then)
 * receives it, and every POST about it is recorded for the runner.
 */
#ifndef EMBER_TEST_API_SERVER_H
#define EMBER_TEST_API_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <ember/plugin.h>

/* Lambda refuses a synchronous response larger than this (bytes). */
#define API_MAX_RESPONSE  6291556

struct api_server;

/* One invocation to hand out.  Copied by api_server_offer. */
struct api_invocation {
    const char *request_id;
    const char *event;
    size_t      event_len;
    int64_t     deadline_ms;    /* epoch ms */
    const char *function_arn;
    const char *trace_id;
    const char *fault;          /* on the response POST: NULL, "close", "413", "500" */
};

enum api_post_kind {
    API_POST_RESPONSE = 1,
    API_POST_ERROR,
    API_POST_INIT_ERROR
};

/* One POST the bootstrap made, and what the server answered. */
struct api_post {
    enum api_post_kind  kind;
    char               *error_type;    /* Lambda-Runtime-Function-Error-Type, or NULL */
    char               *body;          /* NUL-terminated */
    size_t              len;
    int                 answered;      /* status sent back; 0 = connection dropped (fault) */
};

/* Listen on 127.0.0.1, an ephemeral port. */
int  api_server_create(struct api_server **s, struct ember_error *err);
void api_server_free(struct api_server *s);
int  api_server_port(const struct api_server *s);

/* Close every client connection (the bootstrap was restarted or killed). */
void api_server_drop_clients(struct api_server *s);

/* Make inv the current invocation, forgetting the POSTs of the previous one. */
void api_server_offer(struct api_server *s, const struct api_invocation *inv);
/* Forget the current invocation (nothing to hand out). */
void api_server_withdraw(struct api_server *s);

/* Serve for at most timeout_ms (returns earlier when something happened). */
void api_server_poll(struct api_server *s, int timeout_ms);

/* The current invocation was handed out. */
int  api_server_delivered(const struct api_server *s);
/* A GET .../next is held open with nothing to hand out: the bootstrap is idle. */
int  api_server_idle(const struct api_server *s);
/* The POSTs about the current invocation, in order. Borrowed. */
size_t                 api_server_nposts(const struct api_server *s);
const struct api_post *api_server_post(const struct api_server *s, size_t i);
/* The last /runtime/init/error POST since the last drop_clients, or NULL. */
const struct api_post *api_server_init_error(const struct api_server *s);
void api_server_clear_init_error(struct api_server *s);

/* Things worth telling (stray or malformed requests), one per line; "" if none. */
const char *api_server_notes(const struct api_server *s);
void        api_server_clear_notes(struct api_server *s);

#endif
