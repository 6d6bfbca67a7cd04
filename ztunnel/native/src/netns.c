/* Entering and leaving a network namespace on the calling thread. Only this thread moves
 * (setns affects the caller alone), and sockets keep the namespace they were created in, so
 * the thread can go straight back after socket()/bind()/listen(). */
#include "weft_native.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int weft_netns_enter(const char *path, int *saved, const char **failed_call) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    *failed_call = "open";
    return errno;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(self);
    *failed_call = "open";
    return err;
  }
  /* CLONE_NEWNET makes the kernel refuse (EINVAL) anything that is not a network namespace. */
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(self);
    *failed_call = "setns";
    return err;
  }
  close(target);
  *saved = self;
  return 0;
}

void weft_netns_leave(napi_env env, int saved) {
  (void)env;
  if (setns(saved, CLONE_NEWNET) != 0) {
    char message[128];
    snprintf(message, sizeof message, "cannot return to the original network namespace: %s", strerror(errno));
    napi_fatal_error("weft_native", NAPI_AUTO_LENGTH, message, NAPI_AUTO_LENGTH);
  }
  close(saved);
}
