/* Errors thrown by the addon, shaped like Node's errno exceptions so callers can switch on
 * err.code ("ENOENT", "EPERM", ...) exactly as they do for net and fs errors. */
#include "weft_native.h"

#include <stdio.h>
#include <string.h>

bool weft_pending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

static void set_string(napi_env env, napi_value object, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok) {
    napi_set_named_property(env, object, key, v);
  }
}

void weft_throw_errno(napi_env env, const char *syscall, int err, const char *detail) {
  const char *name = strerrorname_np(err);
  char code[32];
  if (name == NULL) {
    snprintf(code, sizeof code, "E%d", err);
    name = code;
  }
  char message[512];
  if (detail != NULL && detail[0] != '\0') {
    snprintf(message, sizeof message, "%s %s (%s) %s", syscall, name, strerror(err), detail);
  } else {
    snprintf(message, sizeof message, "%s %s (%s)", syscall, name, strerror(err));
  }
  napi_value msg, error, errno_value;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return;
  if (napi_create_error(env, NULL, msg, &error) != napi_ok) return;
  set_string(env, error, "code", name);
  set_string(env, error, "syscall", syscall);
  if (napi_create_int32(env, -err, &errno_value) == napi_ok) {
    napi_set_named_property(env, error, "errno", errno_value);
  }
  napi_throw(env, error);
}

void weft_throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
}
