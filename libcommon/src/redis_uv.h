/*
 * redis_uv.h - drive a hiredis 0.14 async context from a libuv loop (private to vp_redis).
 *
 * Debian's hiredis ships adapters/libuv.h, but it drops poll callbacks with status < 0:
 * a refused connect then never reaches hiredis, no callback fires and the context leaks.
 * This adapter hands such events to hiredis with the events we had registered, so that
 * hiredis itself reads the socket error and reports it through its connect/disconnect
 * callbacks.
 */
#ifndef VOEPY_REDIS_UV_H
#define VOEPY_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/*
 * Attach ac (fresh from redisAsyncConnect, ac->err == 0) to loop. Call it before
 * redisAsyncSetConnectCallback, which asks for the first write event. From then on
 * hiredis owns the adapter: it is released through hiredis' cleanup hook when the
 * context is freed, its uv handle in a uv_close callback. Returns 0 or VP_E_IO (then
 * nothing is attached and the caller still frees ac).
 */
int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
