/* Argument reading for the addon: every value from JavaScript is checked before any system
 * call, so a bad option never leaves the thread inside another network namespace. */
#include "weft_native.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool weft_arg_fd(napi_env env, napi_value value, int *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    weft_throw_type(env, "fd must be a number");
    return false;
  }
  int32_t fd;
  if (napi_get_value_int32(env, value, &fd) != napi_ok || fd < 0) {
    weft_throw_type(env, "fd must be a non-negative integer");
    return false;
  }
  *out = fd;
  return true;
}

bool weft_arg_u32(napi_env env, napi_value value, const char *name, uint32_t *out) {
  napi_valuetype type;
  double d;
  char message[128];
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number ||
      napi_get_value_double(env, value, &d) != napi_ok || d < 0 || d > 4294967295.0 ||
      d != (double)(uint32_t)d) {
    snprintf(message, sizeof message, "%s must be an integer in 0..2^32-1", name);
    weft_throw_type(env, message);
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

bool weft_prop(napi_env env, napi_value object, const char *key, napi_value *out, bool *present) {
  napi_value v;
  napi_valuetype type;
  if (napi_get_named_property(env, object, key, &v) != napi_ok || napi_typeof(env, v, &type) != napi_ok) {
    return false;
  }
  *present = type != napi_undefined && type != napi_null;
  *out = v;
  return true;
}

bool weft_prop_bool(napi_env env, napi_value object, const char *key, bool *out) {
  napi_value v;
  bool present;
  if (!weft_prop(env, object, key, &v, &present)) return false;
  if (!present) {
    *out = false;
    return true;
  }
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    char message[128];
    snprintf(message, sizeof message, "option %s must be a boolean", key);
    weft_throw_type(env, message);
    return false;
  }
  return true;
}

bool weft_prop_u32(napi_env env, napi_value object, const char *key, uint32_t *out, bool *present) {
  napi_value v;
  if (!weft_prop(env, object, key, &v, present)) return false;
  if (!*present) return true;
  return weft_arg_u32(env, v, key, out);
}

bool weft_string(napi_env env, napi_value value, const char *name, char **out) {
  size_t len;
  char message[128];
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    snprintf(message, sizeof message, "%s must be a string", name);
    weft_throw_type(env, message);
    return false;
  }
  char *buf = malloc(len + 1);
  if (buf == NULL) {
    napi_throw_error(env, "ERR_MEMORY_ALLOCATION_FAILED", "out of memory");
    return false;
  }
  napi_get_value_string_utf8(env, value, buf, len + 1, &len);
  if (strlen(buf) != len) {
    free(buf);
    snprintf(message, sizeof message, "%s must not contain NUL characters", name);
    weft_throw_type(env, message);
    return false;
  }
  *out = buf;
  return true;
}

bool weft_prop_endpoint(napi_env env, napi_value object, const char *what, bool port_required,
                        struct sockaddr_in *out) {
  char message[160];
  napi_value address;
  bool present;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  if (!weft_prop(env, object, "address", &address, &present)) return false;
  if (!present) {
    snprintf(message, sizeof message, "%s.address is required", what);
    weft_throw_type(env, message);
    return false;
  }
  char text[64];
  size_t len;
  if (napi_get_value_string_utf8(env, address, text, sizeof text, &len) != napi_ok ||
      inet_pton(AF_INET, text, &out->sin_addr) != 1) {
    snprintf(message, sizeof message, "%s.address must be an IPv4 address", what);
    weft_throw_type(env, message);
    return false;
  }
  uint32_t port = 0;
  if (!weft_prop_u32(env, object, "port", &port, &present)) return false;
  if ((!present && port_required) || port > 65535) {
    snprintf(message, sizeof message, "%s.port must be an integer in 0..65535", what);
    weft_throw_type(env, message);
    return false;
  }
  out->sin_port = htons((uint16_t)port);
  return true;
}
