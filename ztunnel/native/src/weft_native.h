/* Shared declarations of the weft_native addon: socket calls Node.js lacks (network
 * namespaces, SO_MARK, IP_TRANSPARENT, SO_ORIGINAL_DST), exposed through plain N-API. */
#ifndef WEFT_NATIVE_H
#define WEFT_NATIVE_H

#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

/* Throws an Error shaped like Node's own errno errors: message "<syscall> <ENAME> (<text>)
 * [detail]", with code, errno (negative, as libuv reports it) and syscall properties. */
void weft_throw_errno(napi_env env, const char *syscall, int err, const char *detail);
/* Throws a TypeError with code ERR_INVALID_ARG_VALUE. */
void weft_throw_type(napi_env env, const char *message);
/* True when a JS exception is pending (after a failed napi call). */
bool weft_pending(napi_env env);

/* Reading arguments. Each returns false with a pending exception when the value is not usable. */
bool weft_arg_fd(napi_env env, napi_value value, int *out);
bool weft_arg_u32(napi_env env, napi_value value, const char *name, uint32_t *out);
/* Optional object properties: *present tells whether the property was given (not undefined/null). */
bool weft_prop(napi_env env, napi_value object, const char *key, napi_value *out, bool *present);
bool weft_prop_bool(napi_env env, napi_value object, const char *key, bool *out);
bool weft_prop_u32(napi_env env, napi_value object, const char *key, uint32_t *out, bool *present);
/* An IPv4 address property ("a.b.c.d") plus an optional port property, as a sockaddr. */
bool weft_prop_endpoint(napi_env env, napi_value object, const char *what, bool port_required,
                        struct sockaddr_in *out);
/* Copies a JS string into a heap buffer (free() it). */
bool weft_string(napi_env env, napi_value value, const char *name, char **out);

/* Moves the calling thread into the network namespace at path. On success *saved holds an fd
 * of the previous namespace for weft_netns_leave. Returns 0 or an errno; *failed_call names
 * the call that failed. */
int weft_netns_enter(const char *path, int *saved, const char **failed_call);
/* Returns the thread to the saved namespace and closes the fd; aborts the process if that is
 * impossible, because a main thread stuck in a pod's namespace would misroute everything. */
void weft_netns_leave(napi_env env, int saved);

napi_value weft_open_socket_in_netns(napi_env env, napi_callback_info info);
napi_value weft_trim_memory(napi_env env, napi_callback_info info);
napi_value weft_get_original_dst(napi_env env, napi_callback_info info);
napi_value weft_set_mark(napi_env env, napi_callback_info info);
napi_value weft_get_mark(napi_env env, napi_callback_info info);
napi_value weft_set_transparent(napi_env env, napi_callback_info info);
napi_value weft_get_bind_address_no_port(napi_env env, napi_callback_info info);

#endif
