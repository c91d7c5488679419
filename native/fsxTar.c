// The one tar header encoder of a layer (POSIX ustar + pax, deterministic): only the fields a
// layer needs, no atime/ctime, empty uname/gname, pax records only where ustar cannot hold a
// value. layerTar's directory scans (fsxScan.c) write the common entries with it on a pool
// thread; src/layer/tarHeader.ts calls it (tarHeader) for the entries left to JS, so both give
// the same bytes by construction.
#include "fsx.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512
// Largest values that fit the ustar octal fields (7 and 11 digits).
#define MAX_OCTAL7 07777777ULL
#define MAX_OCTAL11 077777777777LL

int fsx_reserve(struct fsx_bytes *b, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  return 0;
}

int fsx_put(struct fsx_bytes *b, const void *src, size_t n) {
  if (fsx_reserve(b, n) != 0) return -1;
  if (n) memcpy(b->p + b->len, src, n);
  b->len += n;
  return 0;
}

/** Zero-padded octal, NUL-terminated, filling the field; digits beyond it are dropped. */
static void octal(unsigned char *b, size_t len, uint64_t v) {
  b[len - 1] = 0;
  for (size_t i = len - 1; i-- > 0;) {
    b[i] = (unsigned char)('0' + (v & 7));
    v >>= 3;
  }
}

static void ustar_block(unsigned char *b, const char *name, size_t name_len, uint32_t mode, uint64_t uid, uint64_t gid, uint64_t size,
                        uint64_t mtime, char typeflag, const char *link, size_t link_len, uint64_t devmajor, uint64_t devminor) {
  memset(b, 0, BLOCK);
  memcpy(b, name, name_len > 100 ? 100 : name_len);
  octal(b + 100, 8, mode);
  octal(b + 108, 8, uid);
  octal(b + 116, 8, gid);
  octal(b + 124, 12, size);
  octal(b + 136, 12, mtime);
  b[156] = (unsigned char)typeflag;
  memcpy(b + 157, link, link_len > 100 ? 100 : link_len);
  memcpy(b + 257, "ustar\0" "00", 8);
  // uname (265) and gname (297) stay empty: numeric ids only.
  octal(b + 329, 8, devmajor);
  octal(b + 337, 8, devminor);
  // The checksum is computed with its own field as spaces.
  memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < BLOCK; i++) sum += b[i];
  char digits[8];
  snprintf(digits, sizeof digits, "%06o", sum);
  memcpy(b + 148, digits, 6);
  b[154] = 0;
  b[155] = ' ';
}

/** Fits a ustar name field as it is: at most 100 bytes, ASCII, no NUL. */
static bool plain(const char *s, size_t len) {
  if (len > 100) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == 0 || c >= 0x80) return false;
  }
  return true;
}

struct record {
  const char *key;
  size_t klen;
  const char *val;
  size_t vlen;
};

static int cmp_keys(const struct record *a, const struct record *b) {
  size_t n = a->klen < b->klen ? a->klen : b->klen;
  int c = memcmp(a->key, b->key, n);
  return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

static size_t decimal_digits(size_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

// As Go's archive/tar names them (dir/PaxHeaders.0/base); only cosmetic, but stable. Anything
// outside printable ASCII becomes one '_' per UTF-16 unit, as the JS encoder this replaced did.
static size_t pax_header_name(const char *path, size_t len, char *out) {
  if (len > 0 && path[len - 1] == '/') len--;
  size_t slash = len;
  while (slash > 0 && path[slash - 1] != '/') slash--;
  const char *dir = slash == 0 ? "." : path;
  size_t dir_len = slash == 0 ? 1 : slash - 1;
  size_t n = 0;
  const char *parts[3] = { dir, "/PaxHeaders.0/", path + slash };
  size_t lens[3] = { dir_len, 14, len - slash };
  for (int p = 0; p < 3; p++) {
    for (size_t i = 0; i < lens[p] && n < 100; i++) {
      unsigned char c = (unsigned char)parts[p][i];
      if (c >= 0x80 && c < 0xc0) continue;
      if (c >= 0x20 && c <= 0x7e) out[n++] = (char)c;
      else {
        out[n++] = '_';
        if (c >= 0xf0 && n < 100) out[n++] = '_';
      }
    }
  }
  return n;
}

int fsx_tar_header(struct fsx_bytes *out, const struct fsx_tar_entry *e) {
  size_t nrec = 0, nx = e->nxattrs;
  struct record *recs = malloc((6 + nx) * sizeof *recs);
  char *xkeys = NULL;
  char size_s[24], uid_s[24], gid_s[24], mtime_s[24];
  if (!recs) return -1;
  bool pax_name = !plain(e->path, e->path_len), pax_link = !plain(e->link, e->link_len);
  bool big_size = e->size > (uint64_t)MAX_OCTAL11, big_uid = e->uid > MAX_OCTAL7, big_gid = e->gid > MAX_OCTAL7;
  bool odd_mtime = e->mtime < 0 || e->mtime > MAX_OCTAL11;
  if (pax_name) recs[nrec++] = (struct record){ "path", 4, e->path, e->path_len };
  if (pax_link) recs[nrec++] = (struct record){ "linkpath", 8, e->link, e->link_len };
  if (big_size) recs[nrec++] = (struct record){ "size", 4, size_s, (size_t)snprintf(size_s, sizeof size_s, "%llu", (unsigned long long)e->size) };
  if (big_uid) recs[nrec++] = (struct record){ "uid", 3, uid_s, (size_t)snprintf(uid_s, sizeof uid_s, "%llu", (unsigned long long)e->uid) };
  if (big_gid) recs[nrec++] = (struct record){ "gid", 3, gid_s, (size_t)snprintf(gid_s, sizeof gid_s, "%llu", (unsigned long long)e->gid) };
  if (odd_mtime) recs[nrec++] = (struct record){ "mtime", 5, mtime_s, (size_t)snprintf(mtime_s, sizeof mtime_s, "%lld", (long long)e->mtime) };
  if (nx > 0) {
    size_t total = 0;
    for (size_t i = 0; i < nx; i++) total += 13 + e->xattrs[i].klen;
    if (!(xkeys = malloc(total))) {
      free(recs);
      return -1;
    }
    char *k = xkeys;
    for (size_t i = 0; i < nx; i++) {
      memcpy(k, "SCHILY.xattr.", 13);
      memcpy(k + 13, e->xattrs[i].key, e->xattrs[i].klen);
      recs[nrec++] = (struct record){ k, 13 + e->xattrs[i].klen, e->xattrs[i].val, e->xattrs[i].vlen };
      k += 13 + e->xattrs[i].klen;
    }
  }
  // Records sorted by key (stable: insertion sort; there are a handful).
  for (size_t i = 1; i < nrec; i++) {
    struct record r = recs[i];
    size_t j = i;
    for (; j > 0 && cmp_keys(&recs[j - 1], &r) > 0; j--) recs[j] = recs[j - 1];
    recs[j] = r;
  }
  int bad = 0;
  if (nrec > 0) {
    // "<len> <key>=<value>\n", where <len> counts the whole record including its own digits.
    size_t body = 0;
    for (size_t i = 0; i < nrec; i++) {
      size_t rest = recs[i].klen + recs[i].vlen + 3;
      size_t len = rest + decimal_digits(rest);
      if (decimal_digits(len) != decimal_digits(rest)) len = rest + decimal_digits(len);
      body += len;
    }
    size_t pad = (BLOCK - body % BLOCK) % BLOCK;
    size_t start = out->len;
    unsigned char block[BLOCK];
    char name[100];
    size_t name_len = pax_header_name(e->path, e->path_len, name);
    ustar_block(block, name, name_len, 0644, 0, 0, body, 0, 'x', "", 0, 0, 0);
    bad = fsx_put(out, block, BLOCK);
    for (size_t i = 0; i < nrec && !bad; i++) {
      size_t rest = recs[i].klen + recs[i].vlen + 3;
      size_t len = rest + decimal_digits(rest);
      if (decimal_digits(len) != decimal_digits(rest)) len = rest + decimal_digits(len);
      char lead[24];
      int n = snprintf(lead, sizeof lead, "%zu ", len);
      bad = fsx_put(out, lead, (size_t)n) || fsx_put(out, recs[i].key, recs[i].klen) || fsx_put(out, "=", 1) ||
            fsx_put(out, recs[i].val, recs[i].vlen) || fsx_put(out, "\n", 1);
    }
    static const char zeros[BLOCK];
    if (!bad) bad = fsx_put(out, zeros, pad);
    if (bad) out->len = start;
  }
  if (!bad) {
    unsigned char block[BLOCK];
    ustar_block(block, e->path, e->path_len, e->mode & 07777, big_uid ? 0 : e->uid, big_gid ? 0 : e->gid,
                e->type == '0' && !big_size ? e->size : 0, odd_mtime ? 0 : (uint64_t)e->mtime, e->type, e->link, e->link_len,
                e->devmajor, e->devminor);
    bad = fsx_put(out, block, BLOCK);
  }
  free(xkeys);
  free(recs);
  return bad ? -1 : 0;
}

static bool get_u64(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d < 18446744073709551616.0)) return false;
  *out = (uint64_t)d;
  return true;
}

// A malloc'd copy of a JS string and its UTF-8 length (which may hold NUL bytes).
static char *get_string(napi_env env, napi_value v, size_t *len) {
  if (napi_get_value_string_utf8(env, v, NULL, 0, len) != napi_ok) return NULL;
  char *s = malloc(*len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, *len + 1, len);
  return s;
}

// tarHeader(path: string, typeflag: number, mode, uid, gid, size, mtime, linkpath: string,
//           devmajor, devminor, xattrs: Array<[string, Buffer]>): Buffer (pax header if any, then ustar)
static napi_value js_tar_header(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct fsx_tar_entry e = { 0 };
  struct fsx_tar_xattr *xattrs = NULL;
  char **keys = NULL;
  char *path = NULL, *link = NULL;
  uint32_t typeflag = 0, nx = 0;
  uint64_t mode = 0;
  bool is_array = false;
  napi_value result = NULL;
  const char *problem = "tarHeader(path, typeflag, mode, uid, gid, size, mtime, linkpath, devmajor, devminor, xattrs) got a bad argument";
  if (argc < 11) goto fail;
  napi_is_array(env, argv[10], &is_array);
  if (!(path = get_string(env, argv[0], &e.path_len)) || napi_get_value_uint32(env, argv[1], &typeflag) != napi_ok ||
      !get_u64(env, argv[2], &mode) || !get_u64(env, argv[3], &e.uid) || !get_u64(env, argv[4], &e.gid) || !get_u64(env, argv[5], &e.size) ||
      napi_get_value_int64(env, argv[6], &e.mtime) != napi_ok || !(link = get_string(env, argv[7], &e.link_len)) ||
      !get_u64(env, argv[8], &e.devmajor) || !get_u64(env, argv[9], &e.devminor) || !is_array ||
      napi_get_array_length(env, argv[10], &nx) != napi_ok) {
    goto fail;
  }
  e.path = path;
  e.link = link;
  e.type = (char)typeflag;
  e.mode = (uint32_t)mode;
  xattrs = calloc(nx ? nx : 1, sizeof *xattrs);
  keys = calloc(nx ? nx : 1, sizeof *keys);
  if (!xattrs || !keys) {
    problem = "out of memory";
    goto fail;
  }
  for (uint32_t i = 0; i < nx; i++) {
    napi_value pair, key, value;
    void *data;
    size_t vlen;
    if (napi_get_element(env, argv[10], i, &pair) != napi_ok || napi_get_element(env, pair, 0, &key) != napi_ok ||
        napi_get_element(env, pair, 1, &value) != napi_ok || !(keys[i] = get_string(env, key, &xattrs[i].klen)) ||
        napi_get_buffer_info(env, value, &data, &vlen) != napi_ok) {
      goto fail;
    }
    xattrs[i] = (struct fsx_tar_xattr){ keys[i], xattrs[i].klen, data, vlen };
  }
  e.xattrs = xattrs;
  e.nxattrs = nx;
  struct fsx_bytes out = { 0 };
  if (fsx_tar_header(&out, &e) != 0) {
    free(out.p);
    problem = "out of memory";
    goto fail;
  }
  void *dst;
  napi_create_buffer_copy(env, out.len, out.p, &dst, &result);
  free(out.p);
  goto done;
fail:
  result = fsx_reject_args(env, problem);
done:
  for (uint32_t i = 0; keys && i < nx; i++) free(keys[i]);
  free(keys);
  free(xattrs);
  free(path);
  free(link);
  return result;
}

void fsx_register_tar(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "tarHeader", NULL, js_tar_header, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
