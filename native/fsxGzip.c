// gzipMember: one Buffer compressed into one complete gzip member (RFC 1952) by libdeflate, on
// the libuv thread pool, so several layer segments compress at once (src/layer/adaptiveGzip.ts).
// libdeflate compresses whole buffers, which is what a segment is, about twice as fast as
// zlib's streaming deflate at level 1. Its output depends only on the bytes, the level and
// libdeflate's version.
#include "fsx.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gzip_work {
  napi_deferred deferred;
  napi_async_work async;
  // The input stays a JS Buffer, held by input_ref and never written to while the work runs.
  napi_ref input_ref;
  const char *in;
  size_t in_len;
  int level;
  char *out;
  size_t out_len;
  int err;           // errno-style, 0 on success
  const char *call;  // the libdeflate or libc call that failed
};

static void free_gzip(struct gzip_work *w) {
  free(w->out);
  free(w);
}

// A compressor per call: allocating one costs nothing next to compressing a segment, and no
// memory outlives the call.
static void execute(napi_env env, void *data) {
  (void)env;
  struct gzip_work *w = data;
  struct libdeflate_compressor *c = libdeflate_alloc_compressor(w->level);
  if (!c) { w->err = ENOMEM; w->call = "libdeflate_alloc_compressor"; return; }
  size_t bound = libdeflate_gzip_compress_bound(c, w->in_len);
  w->out = malloc(bound);
  if (!w->out) {
    w->err = ENOMEM; w->call = "malloc";
  } else {
    w->out_len = libdeflate_gzip_compress(c, w->in, w->in_len, w->out, bound);
    // Cannot happen with the bound's room; reported rather than returned as an empty member.
    if (w->out_len == 0) { w->err = ENOBUFS; w->call = "libdeflate_gzip_compress"; }
    else {
      // The bound is above the input's size; the member is usually far smaller.
      char *fit = realloc(w->out, w->out_len);
      if (fit) w->out = fit;
    }
  }
  libdeflate_free_compressor(c);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct gzip_work *w = data;
  if (status != napi_ok && w->err == 0) { w->err = ECANCELED; w->call = "async work"; }
  if (w->err != 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "compressing a gzip member of %zu bytes (level %d): %s: %s", w->in_len, w->level, w->call, strerror(w->err));
    napi_value code, text, error;
    napi_create_string_utf8(env, fsx_errno_code(w->err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &error);
    napi_reject_deferred(env, w->deferred, error);
  } else {
    napi_resolve_deferred(env, w->deferred, fsx_take_buffer(env, &w->out, w->out_len));
  }
  napi_delete_async_work(env, w->async);
  napi_delete_reference(env, w->input_ref);
  free_gzip(w);
}

// gzipMember(data: Buffer, level: number): Promise<Buffer>   (level 0 stores, 1-12 compress)
// The caller must not change `data` until the promise settles.
static napi_value js_gzip_member(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buf = false;
  int32_t level;
  if (argc < 2 || napi_is_buffer(env, argv[0], &is_buf) != napi_ok || !is_buf) return fsx_reject_args(env, "gzipMember(data, level) expects a Buffer");
  if (napi_get_value_int32(env, argv[1], &level) != napi_ok || level < 0 || level > 12) return fsx_reject_args(env, "gzipMember: level must be a whole number from 0 to 12");
  struct gzip_work *w = calloc(1, sizeof *w);
  if (!w) return fsx_reject_args(env, "out of memory");
  void *in;
  napi_get_buffer_info(env, argv[0], &in, &w->in_len);
  w->in = in;
  w->level = level;
  if (napi_create_reference(env, argv[0], 1, &w->input_ref) != napi_ok) {
    free_gzip(w);
    return fsx_reject_args(env, "gzipMember: cannot hold the input");
  }
  return fsx_queue(env, "fsx.gzipMember", execute, complete, w, &w->deferred, &w->async);
}

void fsx_register_gzip(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "gzipMember", NULL, js_gzip_member, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
