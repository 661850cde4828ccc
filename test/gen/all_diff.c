/*
 * The C side of test/gen/differential.test.ts, built against the XDR
 * routines rpcgen writes for test/fixtures/gen/all.x.
 *
 *   all_diff gen SEED COUNT   value i (0 <= i < COUNT) drawn from the seed,
 *                             encoded by rpcgen's xdr_all_types, one hex
 *                             line each
 *   all_diff echo             each hex line of stdin decoded by
 *                             xdr_all_types (all bytes must be used) and
 *                             encoded again; "ERROR" when decoding fails
 *
 * The draws mirror test/gen/random-values.ts exactly: the same xorshift32
 * generator, the same order of draws, the same rule per type.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "all.h"

static uint32_t state;

static uint32_t next(void) {
  uint32_t x = state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return state = x;
}

static void seed(uint32_t s, uint32_t i) {
  state = s ^ (uint32_t)(i * 0x9e3779b9u);
  if (state == 0) state = 1;
}

static uint32_t upto(uint32_t max) { return next() % ((max < 8 ? max : 8) + 1); } /* a length */
static uint32_t count(uint32_t max) { return next() % ((max < 3 ? max : 3) + 1); } /* an array count */
static int32_t i32(void) { return (int32_t)next(); }
static int64_t i64(void) { uint64_t hi = next(); uint64_t lo = next(); return (int64_t)((hi << 32) | lo); }
static float f32(void) { return (float)((int32_t)(next() & 0xffffff) - 0x800000) / 16.0f; }
static double f64(void) { double a = (double)i32() * 1024.0; return a + (double)(next() & 0xff) / 256.0; }
static void bytes(char *p, uint32_t n) { for (uint32_t k = 0; k < n; k++) p[k] = (char)(next() & 0xff); }
static char *str(uint32_t max) {
  uint32_t n = upto(max);
  char *s = malloc(n + 1);
  for (uint32_t k = 0; k < n; k++) s[k] = (char)('a' + next() % 26);
  s[n] = 0;
  return s;
}
static color pick_color(void) {
  static const color all[] = { RED, GREEN, BLUE, NEGATIVE, BIG };
  return all[next() % 5];
}

static void gen_by_int(by_int *v) {
  /* candidates: 1, 2, 3, NEG, default */
  switch (next() % 5) {
    case 0: v->kind = 1; v->by_int_u.one = i32(); break;
    case 1: v->kind = 2; v->by_int_u.two_or_three = str(SMALL); break;
    case 2: v->kind = 3; v->by_int_u.two_or_three = str(SMALL); break;
    case 3: v->kind = NEG; break;
    default:
      do v->kind = i32(); while (v->kind == 1 || v->kind == 2 || v->kind == 3 || v->kind == NEG);
      v->by_int_u.other = i64();
  }
}

static void gen_all(all_types *v) {
  memset(v, 0, sizeof *v);
  v->a = i32();
  v->b = next();
  v->c = i64();
  v->d = (u_quad_t)i64();
  v->e = f32();
  v->f = f64();
  v->g = next() & 1;
  bytes(v->h, OCTLEN);
  v->i.t_opaque_len = upto(HEXLEN);
  v->i.t_opaque_val = malloc(v->i.t_opaque_len + 1);
  bytes(v->i.t_opaque_val, v->i.t_opaque_len);
  v->j.t_opaque_any_len = upto(0xffffffffu);
  v->j.t_opaque_any_val = malloc(v->j.t_opaque_any_len + 1);
  bytes(v->j.t_opaque_any_val, v->j.t_opaque_any_len);
  v->k = str(HEXLEN);
  v->l = str(0xffffffffu);
  for (int k = 0; k < SMALL; k++) v->m[k] = i32();
  v->n.t_array_len = count(SMALL);
  v->n.t_array_val = malloc(sizeof(color) * (v->n.t_array_len + 1));
  for (u_int k = 0; k < v->n.t_array_len; k++) v->n.t_array_val[k] = pick_color();
  if (next() & 1) {
    v->o = malloc(sizeof *v->o);
    *v->o = str(HEXLEN);
  }
  v->p.c = (char)(next() & 0xff);
  v->p.uc = next() & 0xff;
  v->p.s = (short)(next() & 0xffff);
  v->p.us = next() & 0xffff;
  v->q = pick_color();
  gen_by_int(&v->r);
  uint32_t which = next() % 4; /* candidates: RED, GREEN, BLUE, default */
  if (which == 0) {
    v->s.c = RED;
  } else if (which < 3) {
    v->s.c = which == 1 ? GREEN : BLUE;
    t_opaque *d = &v->s.by_enum_u.data;
    d->t_opaque_len = upto(HEXLEN);
    d->t_opaque_val = malloc(d->t_opaque_len + 1);
    bytes(d->t_opaque_val, d->t_opaque_len);
  } else {
    v->s.c = next() % 2 == 0 ? NEGATIVE : BIG; /* the members no case names */
    v->s.by_enum_u.other = next();
  }
  if (next() % 2 == 0) { /* candidates: TRUE, FALSE */
    v->t.b = 1;
    v->t.by_bool_u.d = f64();
  } else {
    v->t.b = 0;
  }
  if (next() % 2 == 0) { /* candidates: 0, 0xffffffff */
    v->u.u = 0;
    v->u.by_uint_u.f = f32();
  } else {
    v->u.u = 0xffffffffu;
    for (int k = 0; k < SMALL; k++) v->u.by_uint_u.a[k] = i32();
  }
  list **tail = &v->v;
  while (next() & 1) {
    *tail = calloc(1, sizeof **tail);
    (*tail)->value = i32();
    tail = &(*tail)->next;
  }
  v->w[0] = i32();
  v->w[1] = i32();
  v->x.x_len = count(3);
  v->x.x_val = malloc(sizeof(quad_t) * (v->x.x_len + 1));
  for (u_int k = 0; k < v->x.x_len; k++) v->x.x_val[k] = i64();
  if (next() & 1) {
    v->y = malloc(sizeof *v->y);
    v->y->c = (char)(next() & 0xff);
    v->y->uc = next() & 0xff;
    v->y->s = (short)(next() & 0xffff);
    v->y->us = next() & 0xffff;
  }
  v->z.z_len = count(2);
  v->z.z_val = calloc(v->z.z_len + 1, sizeof(by_int));
  for (u_int k = 0; k < v->z.z_len; k++) gen_by_int(&v->z.z_val[k]);
}

static char buf[1 << 20];

static void put_hex(const char *p, u_int n) {
  static const char digits[] = "0123456789abcdef";
  for (u_int k = 0; k < n; k++) {
    putchar(digits[(unsigned char)p[k] >> 4]);
    putchar(digits[(unsigned char)p[k] & 15]);
  }
  putchar('\n');
}

/* Encodes `v` and prints it; 0 when rpcgen's routine refuses. */
static int encode(all_types *v) {
  XDR x;
  xdrmem_create(&x, buf, sizeof buf, XDR_ENCODE);
  if (!xdr_all_types(&x, v)) return 0;
  put_hex(buf, xdr_getpos(&x));
  xdr_destroy(&x);
  return 1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "gen") == 0) {
    uint32_t s = (uint32_t)strtoul(argv[2], NULL, 0);
    long n = strtol(argv[3], NULL, 0);
    for (long i = 0; i < n; i++) {
      all_types v;
      seed(s, (uint32_t)i);
      gen_all(&v);
      if (!encode(&v)) { fprintf(stderr, "xdr_all_types refused value %ld\n", i); return 1; }
      xdr_free((xdrproc_t)xdr_all_types, (char *)&v);
    }
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "echo") == 0) {
    static char line[1 << 21];
    static char in[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
      size_t len = strcspn(line, "\n");
      u_int n = 0;
      for (size_t k = 0; k + 1 < len + 1 && k < len; k += 2) in[n++] = (char)(hexval(line[k]) << 4 | hexval(line[k + 1]));
      all_types v;
      memset(&v, 0, sizeof v);
      XDR x;
      xdrmem_create(&x, in, n, XDR_DECODE);
      if (!xdr_all_types(&x, &v) || xdr_getpos(&x) != n) {
        puts("ERROR");
      } else if (!encode(&v)) {
        puts("ERROR");
      }
      xdr_destroy(&x);
      xdr_free((xdrproc_t)xdr_all_types, (char *)&v);
    }
    return 0;
  }
  fprintf(stderr, "usage: all_diff gen SEED COUNT | all_diff echo\n");
  return 2;
}
