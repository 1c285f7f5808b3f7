/*
 * Exact-recall PDQ range search: the compiled backend of index/pdq_index.py (multi-index hashing with paired
 * substrings). Every answer is verified with the full 256-bit distance, so recall is exact for any radius.
 *
 * Why this layout. A 256-bit code is 16 substrings of 16 bits (little-endian uint16 words), paired into 8 chunks
 * of 32 bits: chunk j = substrings (2j, 2j+1). If d(q, x) <= r then some chunk has distance <= c = r / 8
 * (pigeonhole over 8 chunks), and within that chunk one half has distance <= h = c / 2. So x sits, in the table
 * of that half, in a bucket within h bits of the query's half (17 probes when h = 1), and the two halves'
 * distances sum to <= c. Each table stores, per code and in bucket order, its id (4 bytes) and the *other* half
 * of its chunk (2 bytes, the "partner"): scanning a bucket checks the partner contiguously (16 per AVX2 step)
 * and only codes whose whole 32-bit chunk is within c reach the random-access full check. At 10M uniform codes
 * and r = 31: 272 buckets of ~150 codes are scanned (41k partner checks, sequential memory) and ~100 codes are
 * fetched and verified, instead of ~41k random fetches for plain 16-bit MIH. Memory: 32 + 16 * 6 bytes per code.
 *
 * Functions (buffers are filled in place; the GIL is released while working):
 *   build(codes, offsets, ids, partners)
 *       codes: N*32 bytes; offsets: uint32[16][65537] (written: bucket starts per table);
 *       ids: uint32[16][N]; partners: uint16[16][N] (written, in bucket order, ids ascending within a bucket).
 *   search(codes, offsets, ids, partners, tail, queries, radius) -> (lims, ids, distances) as bytes
 *       CSR answer: query q's hits are ids[lims[q]:lims[q+1]] (int64, ascending) and distances (int32).
 *       `tail` (T*32 bytes) are codes added since the build, brute-forced, ids N..N+T-1.
 *       Radii >= 48 are answered by a linear scan (probing would touch most buckets anyway).
 *   join(codes, offsets, ids, partners, tail, queries, qoffsets, qids, qpartners, radius) -> same CSR answer
 *       The same answers for many queries at once: the queries get their own tables (built by `build`), and
 *       each index table is streamed once, bucket by bucket, against the query buckets within h bits, so the
 *       index's memory is read sequentially instead of once per query at random.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __x86_64__
#include <immintrin.h>
#endif

#define TABLES 16
#define BUCKETS 65536
#define LINEAR_FROM 48 /* radius from which a linear scan beats probing */

typedef struct {
    void *data;
    size_t len, cap, item;
} vec;

static int vec_reserve(vec *v, size_t more) {
    if (v->len + more <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 1024;
    while (cap < v->len + more) cap *= 2;
    void *data = realloc(v->data, cap * v->item);
    if (!data) return -1;
    v->data = data;
    v->cap = cap;
    return 0;
}

static inline int dist256(const uint64_t *a, const uint64_t *b) {
    return __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]) + __builtin_popcountll(a[2] ^ b[2]) +
           __builtin_popcountll(a[3] ^ b[3]);
}

static inline uint16_t substring(const unsigned char *code, int t) {
    return (uint16_t)(code[2 * t] | (code[2 * t + 1] << 8));
}

/* --- building ------------------------------------------------------------------------------------------------ */

static void build_tables(const unsigned char *codes, size_t n, uint32_t *offsets, uint32_t *ids, uint16_t *partners) {
    memset(offsets, 0, sizeof(uint32_t) * TABLES * (BUCKETS + 1));
    for (size_t i = 0; i < n; i++) {
        const unsigned char *code = codes + 32 * i;
        for (int t = 0; t < TABLES; t++) offsets[(size_t)t * (BUCKETS + 1) + substring(code, t) + 1]++;
    }
    uint32_t *next = malloc(sizeof(uint32_t) * BUCKETS);
    for (int t = 0; t < TABLES; t++) {
        uint32_t *off = offsets + (size_t)t * (BUCKETS + 1);
        for (int b = 0; b < BUCKETS; b++) off[b + 1] += off[b];
        if (!next) continue;
        memcpy(next, off, sizeof(uint32_t) * BUCKETS);
        uint32_t *tid = ids + (size_t)t * n;
        uint16_t *tpart = partners + (size_t)t * n;
        for (size_t i = 0; i < n; i++) {
            const unsigned char *code = codes + 32 * i;
            uint32_t at = next[substring(code, t)]++;
            tid[at] = (uint32_t)i;
            tpart[at] = substring(code, t ^ 1);
        }
    }
    free(next);
}

/* --- scanning one bucket's partners -------------------------------------------------------------------------- */

/* A bucket scan writes the *positions* (in the table's bucket order) of the codes whose partner half is within
 * `budget` of `qb`, not their ids: the caller reads the ids once it has prefetched them (an id read at once is a
 * cache miss the scan would wait on). */
typedef size_t (*scan_fn)(const uint16_t *, size_t, size_t, uint16_t, int, uint32_t *);

static size_t scan_plain(const uint16_t *part, size_t s, size_t e, uint16_t qb, int budget, uint32_t *out) {
    size_t k = 0;
    for (size_t i = s; i < e; i++)
        if (__builtin_popcount((unsigned)(part[i] ^ qb)) <= budget) out[k++] = (uint32_t)i;
    return k;
}

#ifdef __x86_64__
__attribute__((target("avx2,popcnt"))) static size_t scan_avx2(const uint16_t *part, size_t s, size_t e, uint16_t qb,
                                                                 int budget, uint32_t *out) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                         2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi8(1);
    const __m256i q = _mm256_set1_epi16((short)qb), limit = _mm256_set1_epi16((short)budget);
    size_t k = 0, i = s;
    for (; i + 16 <= e; i += 16) {
        const __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(part + i)), q);
        const __m256i bytes = _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x, low)),
                                              _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), low)));
        const __m256i count = _mm256_maddubs_epi16(bytes, ones);
        unsigned pass = ~(unsigned)_mm256_movemask_epi8(_mm256_cmpgt_epi16(count, limit));
        while (pass) {
            const int bit = __builtin_ctz(pass);
            out[k++] = (uint32_t)(i + (size_t)(bit >> 1));
            pass &= ~(3u << bit);
        }
    }
    for (; i < e; i++)
        if (__builtin_popcount((unsigned)(part[i] ^ qb)) <= budget) out[k++] = (uint32_t)i;
    return k;
}
#endif

static scan_fn scan_bucket = scan_plain;

/* --- probes ------------------------------------------------------------------------------------------------- */

typedef struct {
    uint16_t mask[BUCKETS];
    uint8_t weight[BUCKETS];
    int count;
} probes;

/* Every 16-bit mask with at most h bits set, by weight. */
static void make_probes(probes *p, int h) {
    p->count = 0;
    for (int w = 0; w <= h && w <= 16; w++)
        for (int m = 0; m < BUCKETS; m++)
            if (__builtin_popcount((unsigned)m) == w) {
                p->mask[p->count] = (uint16_t)m;
                p->weight[p->count++] = (uint8_t)w;
            }
}

/* --- answers ------------------------------------------------------------------------------------------------ */

typedef struct {
    vec lims, ids, dists;
} answer;

static int answer_push(answer *a, int64_t id, int32_t d) {
    if (vec_reserve(&a->ids, 1) || vec_reserve(&a->dists, 1)) return -1;
    ((int64_t *)a->ids.data)[a->ids.len++] = id;
    ((int32_t *)a->dists.data)[a->dists.len++] = d;
    return 0;
}

static int answer_close(answer *a) {
    if (vec_reserve(&a->lims, 1)) return -1;
    ((int64_t *)a->lims.data)[a->lims.len++] = (int64_t)a->ids.len;
    return 0;
}

static PyObject *answer_result(answer *a) {
    const char *none = "";
    return Py_BuildValue("(y#y#y#)", a->lims.data ? (const char *)a->lims.data : none, (Py_ssize_t)(a->lims.len * 8),
                         a->ids.data ? (const char *)a->ids.data : none, (Py_ssize_t)(a->ids.len * 8),
                         a->dists.data ? (const char *)a->dists.data : none, (Py_ssize_t)(a->dists.len * 4));
}

static void answer_free(answer *a) {
    free(a->lims.data);
    free(a->ids.data);
    free(a->dists.data);
}

/* Sorts v[0..n) ascending; `tmp` holds n more. Insertion sort for a few, else a radix sort by bytes (a search's
 * ~100 candidates sorted by qsort's comparator calls were a tenth of its time), skipping the bytes all share. */
static void sort_u32(uint32_t *v, size_t n, uint32_t *tmp) {
    if (n < 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            size_t j = i;
            while (j && v[j - 1] > x) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return;
    }
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((v[i] >> shift) & 0xff) + 1]++;
        if (count[((v[0] >> shift) & 0xff) + 1] == n) continue;
        for (int b = 0; b < 256; b++) count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++) tmp[count[(v[i] >> shift) & 0xff]++] = v[i];
        memcpy(v, tmp, n * sizeof(uint32_t));
    }
}

/* --- the index as buffers ------------------------------------------------------------------------------------ */

typedef struct {
    const unsigned char *codes;
    size_t n;
    const uint32_t *offsets, *ids;
    const uint16_t *partners;
} tables;

/* Buckets probed per table, at most: every 16-bit mask of weight <= 2 (h = c / 2 with c = radius / 8 <= 5 below
 * LINEAR_FROM). */
#define MAX_PROBES 137

/* How many buckets ahead of the one scanned its partners are prefetched. */
#define AHEAD 8 /* 4, 8, 16 and 32 measured within noise of each other at 10M */

/* Candidates (unique ids, ascending) of one query in the tables, chunks within c, half-probes from `p`.
 *
 * Written for memory latency, which is all the time a search takes at 10M codes (the tables are far larger than
 * the caches): each of the 16 x 17 probes reads a bucket offset, then the bucket's partners (about 5 cache lines),
 * and each survivor its id, all cache misses. Taken one after the other the search waited on each in turn (perf
 * put 48 % of it on the partner loads and 37 % on the id loads). So: every bucket offset is prefetched, then read;
 * the buckets are scanned while the partners of the bucket AHEAD of the current one are prefetched; the scans
 * yield positions, whose ids are prefetched all together and read last. */
static int candidates(const tables *x, const unsigned char *query, const probes *p, int c, vec *cand) {
    cand->len = 0;
    const int np = p->count;
    if (np > MAX_PROBES) return -1;
    uint16_t bucket[TABLES * MAX_PROBES];
    uint32_t start[TABLES * MAX_PROBES], end[TABLES * MAX_PROBES];
    size_t found_in[TABLES]; /* end of table t's positions in cand */
    const int count = TABLES * np;
    for (int t = 0; t < TABLES; t++) {
        const uint16_t qa = substring(query, t);
        const uint32_t *off = x->offsets + (size_t)t * (BUCKETS + 1);
        for (int k = 0; k < np; k++) {
            bucket[t * np + k] = qa ^ p->mask[k];
            __builtin_prefetch(off + bucket[t * np + k]);
        }
    }
    for (int j = 0; j < count; j++) {
        const uint32_t *off = x->offsets + (size_t)(j / np) * (BUCKETS + 1);
        start[j] = off[bucket[j]];
        end[j] = off[bucket[j] + 1];
    }
    for (int j = 0; j < count && j < AHEAD; j++)
        for (uint32_t i = start[j]; i < end[j]; i += 32) __builtin_prefetch(x->partners + (size_t)(j / np) * x->n + i);
    for (int t = 0; t < TABLES; t++) {
        const uint16_t qb = substring(query, t ^ 1);
        const uint16_t *part = x->partners + (size_t)t * x->n;
        for (int k = 0; k < np; k++) {
            const int j = t * np + k;
            if (j + AHEAD < count) {
                const uint16_t *ahead = x->partners + (size_t)((j + AHEAD) / np) * x->n;
                for (uint32_t i = start[j + AHEAD]; i < end[j + AHEAD]; i += 32) __builtin_prefetch(ahead + i);
            }
            if (start[j] == end[j]) continue;
            if (vec_reserve(cand, end[j] - start[j])) return -1; /* a bucket's worth: bounded by its size */
            cand->len += scan_bucket(part, start[j], end[j], qb, c - p->weight[k], (uint32_t *)cand->data + cand->len);
        }
        found_in[t] = cand->len;
    }
    if (vec_reserve(cand, cand->len)) return -1; /* the sort's scratch, after the candidates */
    uint32_t *v = cand->data;
    for (int t = 0, i = 0; t < TABLES; t++)
        for (const uint32_t *tid = x->ids + (size_t)t * x->n; (size_t)i < found_in[t]; i++) __builtin_prefetch(tid + v[i]);
    for (int t = 0, i = 0; t < TABLES; t++)
        for (const uint32_t *tid = x->ids + (size_t)t * x->n; (size_t)i < found_in[t]; i++) v[i] = tid[v[i]];
    sort_u32(v, cand->len, v + cand->len);
    size_t u = 0;
    for (size_t i = 0; i < cand->len; i++)
        if (!u || v[u - 1] != v[i]) v[u++] = v[i];
    cand->len = u;
    return 0;
}

__attribute__((target_clones("popcnt", "default"))) static int search_one(const tables *x, const unsigned char *tail, size_t nt, const unsigned char *query, int radius,
                      const probes *p, vec *cand, answer *out) {
    uint64_t q[4];
    memcpy(q, query, 32);
    if (radius >= LINEAR_FROM) {
        for (size_t i = 0; i < x->n; i++) {
            uint64_t v[4];
            memcpy(v, x->codes + 32 * i, 32);
            const int d = dist256(q, v);
            if (d <= radius && answer_push(out, (int64_t)i, d)) return -1;
        }
    } else if (x->n) {
        if (candidates(x, query, p, radius / 8, cand)) return -1;
        const uint32_t *v = cand->data;
        for (size_t i = 0; i < cand->len && i < 16; i++) __builtin_prefetch(x->codes + 32 * (size_t)v[i]);
        for (size_t i = 0; i < cand->len; i++) {
            if (i + 16 < cand->len) __builtin_prefetch(x->codes + 32 * (size_t)v[i + 16]);
            uint64_t code[4];
            memcpy(code, x->codes + 32 * (size_t)v[i], 32);
            const int d = dist256(q, code);
            if (d <= radius && answer_push(out, (int64_t)v[i], d)) return -1;
        }
    }
    for (size_t i = 0; i < nt; i++) {
        uint64_t v[4];
        memcpy(v, tail + 32 * i, 32);
        const int d = dist256(q, v);
        if (d <= radius && answer_push(out, (int64_t)(x->n + i), d)) return -1;
    }
    return answer_close(out);
}

/* --- join: many queries at once ------------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Every (query, code) pair within `radius`, as CSR. Each index table is read once, bucket after bucket; the
 * queries' own table (small, cache-resident) supplies the query buckets within h bits of it. Pairs found through
 * several tables are verified again and deduplicated at the end (sorted by query, then id). */
__attribute__((target_clones("popcnt", "default"))) static int join_all(const tables *x, const tables *qt,
                                                                        const unsigned char *tail, size_t nt,
                                                                        int radius, const probes *p, answer *out) {
    const int c = radius / 8;
    vec pairs = {NULL, 0, 0, 8}, cand = {NULL, 0, 0, 4};
    int failed = 0;
    for (int t = 0; t < TABLES && !failed; t++) {
        const uint32_t *xoff = x->offsets + (size_t)t * (BUCKETS + 1), *qoff = qt->offsets + (size_t)t * (BUCKETS + 1);
        const uint16_t *xpart = x->partners + (size_t)t * x->n, *qpart = qt->partners + (size_t)t * qt->n;
        const uint32_t *xid = x->ids + (size_t)t * x->n, *qid = qt->ids + (size_t)t * qt->n;
        for (int b = 0; b < BUCKETS && !failed; b++) {
            const size_t xs = xoff[b], xe = xoff[b + 1];
            if (xs == xe) continue;
            if (vec_reserve(&cand, xe - xs)) {
                failed = 1;
                break;
            }
            for (int k = 0; k < p->count && !failed; k++) {
                const uint16_t qb = (uint16_t)b ^ p->mask[k];
                const int budget = c - p->weight[k];
                for (size_t j = qoff[qb]; j < qoff[qb + 1] && !failed; j++) {
                    const size_t found = scan_bucket(xpart, xs, xe, qpart[j], budget, cand.data);
                    if (!found) continue;
                    uint64_t q[4];
                    memcpy(q, qt->codes + 32 * (size_t)qid[j], 32);
                    for (size_t i = 0; i < found; i++) {
                        const uint32_t id = xid[((uint32_t *)cand.data)[i]];
                        uint64_t v[4];
                        memcpy(v, x->codes + 32 * (size_t)id, 32);
                        if (dist256(q, v) <= radius) {
                            if (vec_reserve(&pairs, 1)) {
                                failed = 1;
                                break;
                            }
                            ((uint64_t *)pairs.data)[pairs.len++] = ((uint64_t)qid[j] << 32) | id;
                        }
                    }
                }
            }
        }
    }
    if (!failed) qsort(pairs.data, pairs.len, sizeof(uint64_t), cmp_u64);
    const uint64_t *pv = pairs.data;
    size_t at = 0;
    for (size_t q = 0; q < qt->n && !failed; q++) {
        uint64_t qc[4];
        memcpy(qc, qt->codes + 32 * q, 32);
        for (; at < pairs.len && (pv[at] >> 32) == q; at++) {
            if (at && pv[at] == pv[at - 1]) continue;
            const uint32_t id = (uint32_t)pv[at];
            uint64_t v[4];
            memcpy(v, x->codes + 32 * (size_t)id, 32);
            failed |= answer_push(out, id, dist256(qc, v));
        }
        for (size_t i = 0; i < nt && !failed; i++) {
            uint64_t v[4];
            memcpy(v, tail + 32 * i, 32);
            const int d = dist256(qc, v);
            if (d <= radius) failed |= answer_push(out, (int64_t)(x->n + i), d);
        }
        failed |= answer_close(out);
    }
    free(pairs.data);
    free(cand.data);
    return failed ? -1 : 0;
}

/* --- Python ------------------------------------------------------------------------------------------------- */

static void release(Py_buffer *views, int count) {
    for (int i = 0; i < count; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
}

/* The index held in four buffers (codes, offsets, ids, partners: v[0..3]) as `tables`, its sizes checked. */
static int open_tables(Py_buffer *v, tables *t) {
    if (v[0].len % 32) {
        PyErr_SetString(PyExc_ValueError, "codes are not whole 32-byte PDQ codes");
        return -1;
    }
    t->n = (size_t)v[0].len / 32;
    if (t->n >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "2^32 codes or more: split the index");
        return -1;
    }
    if ((size_t)v[1].len != sizeof(uint32_t) * TABLES * (BUCKETS + 1) ||
        (size_t)v[2].len != sizeof(uint32_t) * TABLES * t->n || (size_t)v[3].len != sizeof(uint16_t) * TABLES * t->n) {
        PyErr_SetString(PyExc_ValueError, "index tables do not match the number of codes");
        return -1;
    }
    t->codes = v[0].buf;
    t->offsets = v[1].buf;
    t->ids = v[2].buf;
    t->partners = v[3].buf;
    return 0;
}

static PyObject *py_build(PyObject *self, PyObject *args) {
    Py_buffer v[4] = {{0}};
    if (!PyArg_ParseTuple(args, "y*w*w*w*", &v[0], &v[1], &v[2], &v[3])) {
        release(v, 4);
        return NULL;
    }
    tables t;
    if (open_tables(v, &t)) {
        release(v, 4);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS build_tables(t.codes, t.n, v[1].buf, v[2].buf, v[3].buf);
    Py_END_ALLOW_THREADS release(v, 4);
    Py_RETURN_NONE;
}

static PyObject *py_search(PyObject *self, PyObject *args) {
    Py_buffer v[6] = {{0}};
    int radius;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*i", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &radius)) {
        release(v, 6);
        return NULL;
    }
    tables x;
    if (open_tables(v, &x) || v[4].len % 32 || v[5].len % 32 || radius < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "tail or queries are not whole PDQ codes, or radius < 0");
        release(v, 6);
        return NULL;
    }
    const size_t nq = (size_t)v[5].len / 32;
    probes *p = malloc(sizeof(probes));
    answer out = {{NULL, 0, 0, 8}, {NULL, 0, 0, 8}, {NULL, 0, 0, 4}};
    vec cand = {NULL, 0, 0, 4};
    int failed = !p || vec_reserve(&out.lims, nq + 1);
    if (!failed) {
        ((int64_t *)out.lims.data)[out.lims.len++] = 0;
        Py_BEGIN_ALLOW_THREADS make_probes(p, (radius / 8 > 32 ? 32 : radius / 8) / 2);
        for (size_t q = 0; q < nq && !failed; q++)
            failed = search_one(&x, v[4].buf, (size_t)v[4].len / 32, (const unsigned char *)v[5].buf + 32 * q, radius,
                                p, &cand, &out);
        Py_END_ALLOW_THREADS
    }
    release(v, 6);
    free(p);
    free(cand.data);
    PyObject *result = failed ? PyErr_NoMemory() : answer_result(&out);
    answer_free(&out);
    return result;
}

static PyObject *py_join(PyObject *self, PyObject *args) {
    Py_buffer v[9] = {{0}};
    int radius;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*i", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
                          &radius)) {
        release(v, 9);
        return NULL;
    }
    tables x, qt;
    if (open_tables(v, &x) || open_tables(v + 5, &qt) || v[4].len % 32 || radius < 0 || radius >= LINEAR_FROM) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "tail is not whole PDQ codes, or radius not in 0..47");
        release(v, 9);
        return NULL;
    }
    probes *p = malloc(sizeof(probes));
    answer out = {{NULL, 0, 0, 8}, {NULL, 0, 0, 8}, {NULL, 0, 0, 4}};
    int failed = !p || vec_reserve(&out.lims, qt.n + 1);
    if (!failed) {
        ((int64_t *)out.lims.data)[out.lims.len++] = 0;
        Py_BEGIN_ALLOW_THREADS make_probes(p, radius / 16);
        failed = join_all(&x, &qt, v[4].buf, (size_t)v[4].len / 32, radius, p, &out);
        Py_END_ALLOW_THREADS
    }
    release(v, 9);
    free(p);
    PyObject *result = failed ? PyErr_NoMemory() : answer_result(&out);
    answer_free(&out);
    return result;
}

static PyObject *py_simd(PyObject *self, PyObject *args) {
    int enable;
    if (!PyArg_ParseTuple(args, "p", &enable)) return NULL;
    const int was = scan_bucket != scan_plain;
#ifdef __x86_64__
    if (enable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        scan_bucket = scan_avx2;
    else
#endif
        scan_bucket = scan_plain;
    return PyBool_FromLong(was);
}

static PyMethodDef methods[] = {
    {"simd", py_simd, METH_VARARGS, "simd(enable) -> whether AVX2 was in use: lets tests check both bucket scans."},
    {"build", py_build, METH_VARARGS, "build(codes, offsets, ids, partners): fill the 16 tables."},
    {"search", py_search, METH_VARARGS,
     "search(codes, offsets, ids, partners, tail, queries, radius) -> (lims, ids, distances) bytes."},
    {"join", py_join, METH_VARARGS,
     "join(codes, offsets, ids, partners, tail, queries, qoffsets, qids, qpartners, radius) -> as search."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_mih", "Exact PDQ range search (multi-index hashing).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__mih(void) {
#ifdef __x86_64__
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) scan_bucket = scan_avx2;
#endif
    return PyModule_Create(&module);
}
