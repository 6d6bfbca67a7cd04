/* openSocketInNetns: a non-blocking IPv4 TCP socket created inside a network namespace,
 * with its options set and optionally bound or listening, returned as a plain fd that
 * Node.js adopts (net.Server#listen({ fd }) or new net.Socket({ fd })). */
#include "weft_native.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IP_FREEBIND
#define IP_FREEBIND 15
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

typedef struct {
  bool has_listen;
  bool has_bind;
  struct sockaddr_in addr;
  uint32_t backlog;
  bool has_mark;
  uint32_t mark;
  bool transparent;
  bool freebind;
  bool reuse_addr;
  bool reuse_port;
} socket_plan;

static bool read_plan(napi_env env, napi_value opts, socket_plan *plan) {
  memset(plan, 0, sizeof *plan);
  plan->backlog = 511;
  napi_valuetype type;
  if (napi_typeof(env, opts, &type) != napi_ok || type != napi_object) {
    weft_throw_type(env, "options must be an object");
    return false;
  }
  napi_value listen, bind;
  if (!weft_prop(env, opts, "listen", &listen, &plan->has_listen)) return false;
  if (!weft_prop(env, opts, "bind", &bind, &plan->has_bind)) return false;
  if (plan->has_listen && plan->has_bind) {
    weft_throw_type(env, "give either listen or bind, not both");
    return false;
  }
  if (plan->has_listen) {
    if (!weft_prop_endpoint(env, listen, "listen", true, &plan->addr)) return false;
    bool has_backlog;
    uint32_t backlog;
    if (!weft_prop_u32(env, listen, "backlog", &backlog, &has_backlog)) return false;
    if (has_backlog) plan->backlog = backlog > 65535 ? 65535 : backlog;
  }
  if (plan->has_bind && !weft_prop_endpoint(env, bind, "bind", false, &plan->addr)) return false;
  if (!weft_prop_u32(env, opts, "mark", &plan->mark, &plan->has_mark)) return false;
  return weft_prop_bool(env, opts, "transparent", &plan->transparent) &&
         weft_prop_bool(env, opts, "freebind", &plan->freebind) &&
         weft_prop_bool(env, opts, "reuseAddr", &plan->reuse_addr) &&
         weft_prop_bool(env, opts, "reusePort", &plan->reuse_port);
}

static int set_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

/* A client socket bound to a source address with port 0 (the caller's address, for the app)
 * gets its port at connect(), chosen by the whole 4-tuple, instead of at bind(): bind() must
 * find a port no other socket on that address holds, TIME_WAIT ones included, and that search
 * grows with every short connection the caller closed in the last minute. A kernel without
 * the option (before Linux 4.2) binds the old way; only a real failure is reported. */
static bool set_bind_no_port(int fd) {
  if (set_int(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1) == 0) return true;
  return errno == ENOPROTOOPT;
}

/* Creates the socket in the current namespace. Returns the fd, or -1 with *err and *call set. */
static int create_socket(const socket_plan *plan, int *err, const char **call) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    *call = "socket";
    return -1;
  }
  const char *failed = NULL;
  if (plan->has_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &plan->mark, sizeof plan->mark) != 0) {
    failed = "setsockopt(SO_MARK)";
  } else if (plan->transparent && set_int(fd, SOL_IP, IP_TRANSPARENT, 1) != 0) {
    failed = "setsockopt(IP_TRANSPARENT)";
  } else if (plan->freebind && set_int(fd, SOL_IP, IP_FREEBIND, 1) != 0) {
    failed = "setsockopt(IP_FREEBIND)";
  } else if (plan->reuse_addr && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) {
    failed = "setsockopt(SO_REUSEADDR)";
  } else if (plan->reuse_port && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) {
    failed = "setsockopt(SO_REUSEPORT)";
  } else if (plan->has_bind && plan->addr.sin_port == 0 && !set_bind_no_port(fd)) {
    failed = "setsockopt(IP_BIND_ADDRESS_NO_PORT)";
  } else if ((plan->has_bind || plan->has_listen) &&
             bind(fd, (const struct sockaddr *)&plan->addr, sizeof plan->addr) != 0) {
    failed = "bind";
  } else if (plan->has_listen && listen(fd, (int)plan->backlog) != 0) {
    failed = "listen";
  }
  if (failed != NULL) {
    *err = errno;
    *call = failed;
    close(fd);
    return -1;
  }
  return fd;
}

napi_value weft_open_socket_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    weft_throw_type(env, "openSocketInNetns(netnsPath, options) needs two arguments");
    return NULL;
  }
  /* A null path means the current namespace: the same options, no namespace switch. */
  napi_valuetype path_type;
  if (napi_typeof(env, argv[0], &path_type) != napi_ok) return NULL;
  char *path = NULL;
  if (path_type != napi_null && !weft_string(env, argv[0], "netnsPath", &path)) return NULL;

  socket_plan plan;
  if (!read_plan(env, argv[1], &plan)) {
    free(path);
    return NULL;
  }

  int saved = -1, err = 0, fd = -1;
  const char *call = NULL;
  if (path != NULL) {
    err = weft_netns_enter(path, &saved, &call);
  }
  if (err == 0) {
    fd = create_socket(&plan, &err, &call);
    if (saved >= 0) weft_netns_leave(env, saved);
  }
  if (fd < 0) {
    char detail[300];
    if (path != NULL) {
      snprintf(detail, sizeof detail, "in network namespace %s", path);
    } else {
      detail[0] = '\0';
    }
    weft_throw_errno(env, call, err, detail);
    free(path);
    return NULL;
  }
  free(path);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}
