/*
 * runtime.c - fuzz target: core/runtime.c's reader of Runtime API answers
 * (status line, headers, Content-Length / chunked / to-the-close bodies,
 * the request id and deadline headers), through its real entry points:
 * ember_runtime_next, then ember_runtime_respond and ember_runtime_error
 * for the id it got.
 *
 * The socket calls are the linker's (--wrap=socket,connect,sendmsg,recv,
 * close, see build.sh): the "server" is the fuzz input.  Input layout:
 *   byte 0     how the bytes arrive: 0 = all at once, else recv(2) returns
 *              at most that many bytes at a time (splits every boundary)
 *   then       the answers to the three requests, back to back, as one
 *              stream; an answer may close the connection (EOF), and the
 *              client reconnects and reads on from the same stream.
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fuzz.h"
#include "runtime.h"

#define FAKE_FD 1000

static const uint8_t *in;
static size_t         in_len, in_step;

int     __real_close(int fd);
int     __wrap_socket(int domain, int type, int protocol);
int     __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags);
int     __wrap_close(int fd);

int __wrap_socket(int domain, int type, int protocol)
{
    (void) domain; (void) type; (void) protocol;
    return FAKE_FD;
}

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    (void) sa; (void) len;
    if (fd != FAKE_FD || in_len == 0) {
        errno = ECONNREFUSED;
        return -1;
    }
    return 0;
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    size_t i, n = 0;

    (void) flags;
    if (fd != FAKE_FD) {
        errno = EBADF;
        return -1;
    }
    for (i = 0; i < msg->msg_iovlen; i++)
        n += msg->msg_iov[i].iov_len;
    return (ssize_t) n;
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
    size_t k;

    (void) flags;
    if (fd != FAKE_FD) {
        errno = EBADF;
        return -1;
    }
    if (in_len == 0)
        return 0;                       /* EOF */
    k = n < in_len ? n : in_len;
    if (in_step && k > in_step)
        k = in_step;
    memcpy(buf, in, k);
    in += k;
    in_len -= k;
    return (ssize_t) k;
}

int __wrap_close(int fd)
{
    if (fd == FAKE_FD)
        return 0;
    return __real_close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ember_runtime    *rt;
    struct ember_invocation  inv;
    struct ember_error       err;

    if (size == 0)
        return 0;
    fz_quiet();
    in_step = data[0];
    in = data + 1;
    in_len = size - 1;
    memset(&err, 0, sizeof(err));
    if (ember_runtime_create(&rt, "127.0.0.1:9001", &err) != EMBER_OK)
        abort();
    if (ember_runtime_next(rt, &inv, &err) == EMBER_OK) {
        if (inv.request_id == NULL || inv.request_id[0] == '\0' || inv.event == NULL
            || strlen(inv.event) > inv.event_len)
            abort();
        ember_runtime_respond(rt, inv.request_id, "{}", 2, &err);
        ember_runtime_error(rt, inv.request_id, "Runtime.Fuzz", "fuzz", &err);
        ember_invocation_clear(&inv);
    } else {
        ember_runtime_error(rt, NULL, "Runtime.Fuzz", err.message, &err);
    }
    ember_runtime_free(rt);
    return 0;
}
