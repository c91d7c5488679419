/*
 * fsx.node's mounts: mountOverlay and unmount, for a build process that is already inside
 * tsbuild's namespace (the launcher entered it, or the build re-executed itself there). The
 * same code as the helper's mount-overlay and umount modes (overlay.h), without starting a
 * process per mount: each spawn from a Node process of a hundred MiB costs milliseconds.
 * Synchronous: a mount is a few system calls.
 */
#include "fsx.h"
#include "overlay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

/* Throws an Error whose message is "<detail>: <strerror>" and whose `errno` is the number. */
static napi_value throw_errno(napi_env env, int err, const char *detail) {
  char message[4600];
  snprintf(message, sizeof message, "%s: %s", detail, strerror(err));
  napi_value msg, error, num;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
  return NULL;
}

static bool get_bool(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  bool has = false, b = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return false;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
  return napi_get_value_bool(env, v, &b) == napi_ok && b;
}

static char *get_string_prop(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  bool has = false;
  napi_valuetype t;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return NULL;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  return fsx_get_string(env, v);
}

// mountOverlay({ target, lowers: string[] (top first), upper?, work?, userxattr, readonly }): void
static napi_value js_mount_overlay(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_value list;
  bool is_arr = false;
  uint32_t n = 0;
  if (argc < 1 || napi_get_named_property(env, argv[0], "lowers", &list) != napi_ok || napi_is_array(env, list, &is_arr) != napi_ok || !is_arr) {
    return fsx_reject_args(env, "mountOverlay(opts) expects { target, lowers: string[], upper?, work?, userxattr, readonly }");
  }
  napi_get_array_length(env, list, &n);
  char **lowers = calloc(n ? n : 1, sizeof *lowers);
  char *target = get_string_prop(env, argv[0], "target");
  char *upper = get_string_prop(env, argv[0], "upper");
  char *work = get_string_prop(env, argv[0], "work");
  napi_value result = NULL;
  bool ok = lowers != NULL && target != NULL && n > 0 && (upper == NULL) == (work == NULL);
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value v;
    napi_get_element(env, list, i, &v);
    ok = (lowers[i] = fsx_get_string(env, v)) != NULL;
  }
  if (!ok) {
    fsx_reject_args(env, "mountOverlay: target and at least one lower must be strings; upper and work go together");
  } else {
    struct overlay o = {
      .target = target,
      .lowers = (const char *const *)lowers,
      .nlowers = n,
      .upper = upper,
      .work = work,
      .userxattr = get_bool(env, argv[0], "userxattr"),
      .readonly = get_bool(env, argv[0], "readonly"),
    };
    char detail[4096];
    int err = overlay_mount_or_bind(&o, detail, sizeof detail);
    if (err != 0) throw_errno(env, err, detail);
    else napi_get_undefined(env, &result);
  }
  for (uint32_t i = 0; lowers != NULL && i < n; i++) free(lowers[i]);
  free(lowers);
  free(target);
  free(upper);
  free(work);
  return result;
}

// unmount(target: string): void — detached (lazily), never following a symlink at target.
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *target = argc < 1 ? NULL : fsx_get_string(env, argv[0]);
  if (target == NULL) return fsx_reject_args(env, "unmount(target) expects a string");
  napi_value result = NULL;
  if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
    char detail[4200];
    snprintf(detail, sizeof detail, "unmounting %s", target);
    throw_errno(env, errno, detail);
  } else {
    napi_get_undefined(env, &result);
  }
  free(target);
  return result;
}

void fsx_register_mount(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mountOverlay", NULL, js_mount_overlay, NULL, NULL, NULL, napi_default, NULL },
    { "unmount", NULL, js_unmount, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
