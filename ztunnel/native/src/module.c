/* Registration of the weft_native addon's functions. */
#include "weft_native.h"

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"openSocketInNetns", NULL, weft_open_socket_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getOriginalDst", NULL, weft_get_original_dst, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMark", NULL, weft_set_mark, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getMark", NULL, weft_get_mark, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTransparent", NULL, weft_set_transparent, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getBindAddressNoPort", NULL, weft_get_bind_address_no_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"trimMemory", NULL, weft_trim_memory, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
