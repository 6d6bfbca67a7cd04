/* Returning freed heap memory to the kernel: glibc keeps what a burst of traffic allocated and
 * then freed (arenas, the top of the heap) mapped until told otherwise. */
#include <malloc.h>
#include "weft_native.h"

napi_value weft_trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  /* 0: keep no padding at the top; glibc also releases whole free pages inside the heap. */
  napi_get_boolean(env, malloc_trim(0) == 1, &result);
  return result;
}
