/*
 * The shared service bootstrap against real PostgreSQL and Redis: configuration from the
 * environment (bad values and unknown arguments exit 2), the node id, /readyz turning
 * ready once both stores are connected, and SIGTERM-style draining that stops the
 * service's own parts before the base and lets service_run() return.
 */
#include "vp_test.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "voepy/http_client.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/ops.h"
#include "voepy/service.h"

struct test_config {
    struct service_common common;
    long extra;
};

static const struct config_var vars[] = {
    SERVICE_COMMON_VARS(struct test_config, common, "0"),
    CONFIG_INT(struct test_config, extra, "VOEPY_TEST_EXTRA", "7", 0, 10, "a service's own"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static void set_env(void)
{
    setenv("VOEPY_PG_DSN", vp_test_env("VOEPY_TEST_PG_DSN"), 1);
    setenv("VOEPY_REDIS_HOST", vp_test_env("VOEPY_TEST_REDIS_HOST"), 1);
    setenv("VOEPY_REDIS_PORT", vp_test_env("VOEPY_TEST_REDIS_PORT"), 1);
    setenv("VOEPY_OPS_PORT", "0", 1);
    setenv("VOEPY_LOG_LEVEL", "warn", 1);
    unsetenv("VOEPY_NODE_ID");
    unsetenv("VOEPY_TEST_EXTRA");
}

/* Run service_load_config in a child; returns its exit status. */
static int load_in_child(int argc, char **argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct test_config cfg;
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        service_load_config("test", &cfg, vars, NVARS, argc, argv);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_config_errors_exit_2(void **state)
{
    (void)state;
    set_env();
    char *ok[] = {"test"};
    assert_int_equal(load_in_child(1, ok), 0);
    char *help[] = {"test", "--help"};
    assert_int_equal(load_in_child(2, help), 0);
    char *unknown[] = {"test", "--frobnicate"};
    assert_int_equal(load_in_child(2, unknown), 2);
    setenv("VOEPY_PG_POOL", "999", 1);
    assert_int_equal(load_in_child(1, ok), 2);
    unsetenv("VOEPY_PG_POOL");
    setenv("VOEPY_TEST_EXTRA", "eleven", 1);
    assert_int_equal(load_in_child(1, ok), 2);
    unsetenv("VOEPY_TEST_EXTRA");
}

/* The service's own part: polls /readyz until ready, then asks for a drain. */
struct probe {
    struct service *svc;
    struct httpc *http;
    uv_timer_t timer;
    char url[64];
    long last_status;
    bool became_ready, drained_hook, stopped_hook, base_alive_at_stop;
    int id;
};

static void readyz_cb(const struct httpc_response *res, void *arg)
{
    struct probe *p = arg;
    p->last_status = res->http_status;
    if (res->http_status == 200 && !p->became_ready) {
        p->became_ready = true;
        assert_non_null(strstr(res->body, "ready"));
        lifecycle_shutdown(p->svc->lc, true); /* what SIGTERM does */
    }
}

static void poll_cb(uv_timer_t *t)
{
    struct probe *p = t->data;
    if (lifecycle_state(p->svc->lc) != LIFECYCLE_RUNNING)
        return;
    struct httpc_request rq = {.method = "GET", .url = p->url, .timeout_ms = 2000};
    httpc_send(p->http, &rq, readyz_cb, p);
}

static void drain_hook(struct lifecycle *lc, int id, void *arg)
{
    struct probe *p = arg;
    p->drained_hook = true;
    lifecycle_drained(lc, id);
}

static void stop_hook(void *arg)
{
    struct probe *p = arg;
    p->stopped_hook = true;
    /* Stop hooks of the service run before the base's: its stores are still open. */
    p->base_alive_at_stop = p->svc->pg != NULL && p->svc->redis != NULL && p->svc->ops != NULL;
    uv_close((uv_handle_t *)&p->timer, NULL);
    httpc_close(p->http, NULL, NULL);
}

static void test_start_ready_drain(void **state)
{
    (void)state;
    set_env();
    static struct test_config cfg;
    char *argv[] = {"test"};
    service_load_config("test", &cfg, vars, NVARS, 1, argv);
    assert_int_equal(cfg.extra, 7);
    static struct service svc;
    assert_int_equal(service_start(&svc, "test-svc", &cfg.common, SERVICE_PG | SERVICE_REDIS), 0);
    /* No VOEPY_NODE_ID: "<service>-<host>-<random>". */
    assert_int_equal(strncmp(svc.node_id, "test-svc-", 9), 0);
    assert_true(strlen(svc.node_id) > 16);
    assert_non_null(svc.pg);
    assert_non_null(svc.redis);

    static struct probe p;
    p.svc = &svc;
    snprintf(p.url, sizeof(p.url), "http://127.0.0.1:%d/readyz", ops_port(svc.ops));
    assert_int_equal(httpc_create(&p.http, svc.loop, NULL), 0);
    uv_timer_init(svc.loop, &p.timer);
    p.timer.data = &p;
    uv_timer_start(&p.timer, poll_cb, 0, 50);
    p.id = lifecycle_add(svc.lc, &(struct lifecycle_hooks){drain_hook, stop_hook, &p});

    assert_int_equal(service_run(&svc), 0); /* returns once everything has closed */
    assert_true(p.became_ready);
    assert_true(p.drained_hook);
    assert_true(p.stopped_hook);
    assert_true(p.base_alive_at_stop);
    config_free(&cfg, vars, NVARS);
}

static void test_node_id_from_env(void **state)
{
    (void)state;
    set_env();
    setenv("VOEPY_NODE_ID", "cc-7", 1);
    setenv("VOEPY_LOG_LEVEL", "info", 1);
    static struct test_config cfg;
    char *argv[] = {"test"};
    service_load_config("test", &cfg, vars, NVARS, 1, argv);
    static struct service svc;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    vlog_set_output(f);
    assert_int_equal(service_start(&svc, "test-svc", &cfg.common, 0), 0);
    vlog_set_output(NULL);
    fclose(f);
    /* The effective configuration, once, under the service's own name, secrets masked. */
    const char *line = strstr(out, "\"event\":\"config.effective\"");
    assert_non_null(line);
    assert_null(strstr(line + 1, "\"event\":\"config.effective\""));
    assert_non_null(
        strstr(out, "\"service\":\"test-svc\",\"node\":\"cc-7\",\"event\":\"config.effective\""));
    assert_non_null(strstr(line, "\"VOEPY_TEST_EXTRA\":7"));
    assert_non_null(strstr(line, "\"VOEPY_PG_DSN\":\"***\""));
    assert_null(strstr(out, vp_test_env("VOEPY_TEST_PG_DSN")));
    free(out);
    assert_string_equal(svc.node_id, "cc-7");
    assert_null(svc.pg); /* not asked for */
    assert_null(svc.redis);
    lifecycle_shutdown(svc.lc, false);
    assert_int_equal(service_run(&svc), 0);
    config_free(&cfg, vars, NVARS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors_exit_2),
        cmocka_unit_test(test_start_ready_drain),
        cmocka_unit_test(test_node_id_from_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
