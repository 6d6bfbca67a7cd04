/* Per-socket calls on fds Node.js already owns: the NAT original destination of a
 * redirected connection, and the mark / transparency / bind options of ztunnel's own sockets. */
#include "weft_native.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static bool fd_args(napi_env env, napi_callback_info info, size_t want, int *fd, napi_value *second) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    weft_throw_type(env, want == 1 ? "missing fd argument" : "missing arguments");
    return false;
  }
  if (!weft_arg_fd(env, argv[0], fd)) return false;
  if (second != NULL) *second = argv[1];
  return true;
}

napi_value weft_get_original_dst(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_args(env, info, 1, &fd, NULL)) return NULL;
  struct sockaddr_in dst;
  socklen_t len = sizeof dst;
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) {
    weft_throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno, NULL);
    return NULL;
  }
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text);
  napi_value result, address, port;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_uint32(env, ntohs(dst.sin_port), &port);
  napi_set_named_property(env, result, "address", address);
  napi_set_named_property(env, result, "port", port);
  return result;
}

napi_value weft_set_mark(napi_env env, napi_callback_info info) {
  int fd;
  napi_value mark_value;
  uint32_t mark;
  if (!fd_args(env, info, 2, &fd, &mark_value) || !weft_arg_u32(env, mark_value, "mark", &mark)) return NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
    weft_throw_errno(env, "setsockopt(SO_MARK)", errno, NULL);
  }
  return NULL;
}

napi_value weft_get_mark(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_args(env, info, 1, &fd, NULL)) return NULL;
  uint32_t mark = 0;
  socklen_t len = sizeof mark;
  if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) != 0) {
    weft_throw_errno(env, "getsockopt(SO_MARK)", errno, NULL);
    return NULL;
  }
  napi_value result;
  napi_create_uint32(env, mark, &result);
  return result;
}

napi_value weft_set_transparent(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_args(env, info, 1, &fd, NULL)) return NULL;
  int on = 1;
  if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on) != 0) {
    weft_throw_errno(env, "setsockopt(IP_TRANSPARENT)", errno, NULL);
  }
  return NULL;
}

napi_value weft_get_bind_address_no_port(napi_env env, napi_callback_info info) {
  int fd;
  if (!fd_args(env, info, 1, &fd, NULL)) return NULL;
  int on = 0;
  socklen_t len = sizeof on;
  if (getsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &on, &len) != 0) {
    weft_throw_errno(env, "getsockopt(IP_BIND_ADDRESS_NO_PORT)", errno, NULL);
    return NULL;
  }
  napi_value result;
  napi_get_boolean(env, on != 0, &result);
  return result;
}
