/*
 * sipp_child.h - SIPp as a child process of a loop-based test: a far end on a free
 * loopback port running one scenario of tests/integration/sip for one call.
 */
#ifndef SIPP_CHILD_H
#define SIPP_CHILD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

struct sipp_child {
    uv_process_t proc;
    bool exited;
    int64_t status;
    int port;       /* its SIP port */
    int media_port; /* its RTP port (echo) */
};

static bool sipp_port_free(int type, int port)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/*
 * A port free for TCP and UDP on 127.0.0.1 right now, with port + 2 free for UDP too (RTP
 * echo), different from avoid. Chosen at random below the kernel's ephemeral range
 * (32768 and up on Debian), so that no bind(port 0) of a test running beside this one
 * (PostgreSQL, Redis, a service) can be handed the same port between this check and
 * SIPp's own bind: SIPp exits 254 when its bind fails.
 */
static inline int sipp_free_port(int avoid)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)uv_hrtime();
    for (;;) {
        int port = 20000 + (int)(rand_r(&seed) % 12000);
        if (port >= avoid - 2 && port <= avoid + 2)
            continue;
        if (sipp_port_free(SOCK_STREAM, port) && sipp_port_free(SOCK_DGRAM, port) &&
            sipp_port_free(SOCK_DGRAM, port + 2))
            return port;
    }
}

static void sipp_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct sipp_child *c = p->data;
    c->exited = true;
    c->status = sig ? 128 + sig : status;
    uv_close((uv_handle_t *)p, NULL);
}

/*
 * Start `sipp -sf <dir>/<scenario>` for one call; extra is NULL-terminated. Returns the
 * uv_spawn result.
 */
static inline int sipp_start(uv_loop_t *loop, struct sipp_child *c, const char *scenario, bool tcp,
                             const char *const *extra)
{
    char sf[512], port[16], mport[16];
    memset(c, 0, sizeof(*c));
    c->port = sipp_free_port(0);
    c->media_port = sipp_free_port(c->port);
    snprintf(sf, sizeof(sf), "%s/%s", VOEPY_SIP_SCENARIOS, scenario);
    snprintf(port, sizeof(port), "%d", c->port);
    snprintf(mport, sizeof(mport), "%d", c->media_port);
    const char *args[40] = {
        "sipp",           "-sf",      sf,    "-i", "127.0.0.1", "-p",       port,       "-mi",
        "127.0.0.1",      "-mp",      mport, "-m", "1",         "-nostdin", "-timeout", "30s",
        "-timeout_error", "-rtp_echo"};
    int n = 18;
    if (tcp) {
        args[n++] = "-t";
        args[n++] = "t1";
    }
    for (int i = 0; extra && extra[i] && n < 38; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
    uv_process_options_t o = {.exit_cb = sipp_exit_cb,
                              .file = "sipp",
                              .args = (char **)args,
                              .cwd = "/tmp",
                              .stdio_count = 3,
                              .stdio = stdio};
    c->proc.data = c;
    return uv_spawn(loop, &c->proc, &o);
}

static inline void sipp_kill(struct sipp_child *c)
{
    if (!c->exited)
        uv_process_kill(&c->proc, SIGKILL);
}

#endif
