/*
 * /etc/subuid and /etc/subgid for `tsbuild-helper enter --auto`: the same rules as
 * src/isolation/idmap.ts (parseSubidFile, findSubidRanges, buildIdMap), which the JS side uses
 * for `enter` with explicit maps. Keep the two in step; test/integration/launcher/ compares them
 * through /proc/self/uid_map.
 *
 * No fixed-size buffers: lines come from getline(), map lines are allocated to fit.
 */
#ifndef TSBUILD_SUBID_H
#define TSBUILD_SUBID_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBID_MAX_ID 0xffffffffULL

struct subid_range {
  unsigned long long start, count;
};

struct subid_ranges {
  struct subid_range *items;
  size_t n, cap;
};

/* Digits only, at most 2^32-1 (idmap.ts parseId). */
static bool subid_parse_id(const char *s, size_t len, unsigned long long *out) {
  if (len == 0) return false;
  unsigned long long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (unsigned long long)(s[i] - '0');
    if (v > SUBID_MAX_ID) return false;
  }
  *out = v;
  return true;
}

static bool subid_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

/* Appends the line's range when it is well formed and owned by `name` or `uid_text`; comments,
 * blank and malformed lines are skipped (shadow-utils does the same), duplicates kept once.
 * Returns false only when out of memory. */
static bool subid_take_line(char *line, size_t len, const char *name, const char *uid_text,
                            struct subid_ranges *out) {
  while (len > 0 && subid_space(line[len - 1])) len--;
  while (len > 0 && subid_space(*line)) line++, len--;
  if (len == 0 || line[0] == '#') return true;
  const char *c1 = memchr(line, ':', len);
  if (c1 == NULL) return true;
  const char *c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line));
  if (c2 == NULL || memchr(c2 + 1, ':', len - (size_t)(c2 + 1 - line)) != NULL) return true;
  size_t owner_len = (size_t)(c1 - line);
  unsigned long long start, count;
  if (owner_len == 0 || !subid_parse_id(c1 + 1, (size_t)(c2 - c1 - 1), &start) ||
      !subid_parse_id(c2 + 1, len - (size_t)(c2 + 1 - line), &count) || count == 0 ||
      start + count - 1 > SUBID_MAX_ID)
    return true;
  bool mine = (name != NULL && strlen(name) == owner_len && memcmp(line, name, owner_len) == 0) ||
              (strlen(uid_text) == owner_len && memcmp(line, uid_text, owner_len) == 0);
  if (!mine) return true;
  for (size_t i = 0; i < out->n; i++)
    if (out->items[i].start == start && out->items[i].count == count) return true;
  if (out->n == out->cap) {
    size_t cap = out->cap == 0 ? 4 : out->cap * 2;
    struct subid_range *next = realloc(out->items, cap * sizeof *next);
    if (next == NULL) return false;
    out->items = next;
    out->cap = cap;
  }
  out->items[out->n++] = (struct subid_range){start, count};
  return true;
}

/* The ranges of `name` (may be NULL) or `uid` in `path`, in file order; a missing file has none. */
static bool subid_read(const char *path, const char *name, unsigned uid, struct subid_ranges *out) {
  char uid_text[16];
  snprintf(uid_text, sizeof uid_text, "%u", uid);
  FILE *f = fopen(path, "re");
  if (f == NULL) return true;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  bool ok = true;
  while (ok && (n = getline(&line, &cap, f)) >= 0) ok = subid_take_line(line, (size_t)n, name, uid_text, out);
  free(line);
  fclose(f);
  return ok;
}

/* buildIdMap: container 0 is `host_id`, container 1.. the ranges back to back (while they fit).
 * Each map line is "CONTAINER HOST COUNT", allocated; *lines gets n + 1 entries at most. */
static bool subid_map_lines(unsigned host_id, const struct subid_ranges *r, char ***lines, size_t *n) {
  char **out = calloc(r->n + 1, sizeof *out);
  if (out == NULL) return false;
  size_t k = 0;
  unsigned long long next = 1;
  for (size_t i = 0; i <= r->n; i++) {
    unsigned long long c = 0, h = host_id, size = 1;
    if (i > 0) {
      if (next + r->items[i - 1].count - 1 > SUBID_MAX_ID - 1) break;
      c = next;
      h = r->items[i - 1].start;
      size = r->items[i - 1].count;
      next += size;
    }
    if (asprintf(&out[k], "%llu %llu %llu", c, h, size) < 0) return false;
    k++;
  }
  *lines = out;
  *n = k;
  return true;
}

#endif
