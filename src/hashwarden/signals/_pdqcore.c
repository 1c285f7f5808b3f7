/*
 * hashwarden's PDQ engine: the PDQ perceptual hash (library flavour) of 8-bit RGB pixels, bit-identical to the
 * reference C++ core, in about one pass over the pixels.
 *
 * Why C: bit identity with the reference means reproducing its float32 arithmetic exactly, and its box filter
 * is a running sum (add the entering sample, subtract the leaving one, divide by the window) whose rounding
 * depends on the order of every operation along a whole row or column. That order cannot be vectorised in NumPy
 * without changing the result, so this file performs the very same operations per element, but in an order of
 * traversal that is cache-friendly and lets the compiler run many rows or columns side by side, as one stream
 * down the image (`downsample`):
 *
 *   luma + first row pass   fused, a block of 16 image rows at a time, into a ring of rows;
 *   first column pass       all columns at once (SIMD), 4 output rows at a time, reading the ring as the rows
 *                           arrive, into a block of 16 rows side by side (transposed in registers);
 *   second row pass         running sums along each row of the block, divided out only at the 64 sampled columns;
 *   second column pass      on those 64 columns only, divided out only at the 64 sampled rows.
 *
 * Every element still sees exactly the reference's sequence of float operations, so the 64x64 buffer, the
 * quality, the DCT and the hash are identical. Build with -ffp-contract=off and without -ffast-math: a fused
 * multiply-add or a reassociation would change the rounding.
 *
 * Memory: a few dozen rows of floats (the column window plus two blocks) and 64 floats per row, whatever the image
 * size: the working set stays in cache, where whole-image passes (a float per pixel) streamed through memory 4 times.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <xmmintrin.h>
#endif

#define PDQ_MIN_DIM 5
#define PDQ_OUT 64
#define PDQ_DCT 16
#define LUMA_CHUNK 256
#define ROW_BLOCK 16 /* rows boxed side by side in the row passes: four SSE registers, to hide add latency */

/* Hot loops get an AVX2 clone chosen at load time (same IEEE operations per element, so the same results). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("avx2", "default")))
#else
#define HOT
#endif

static float dct_matrix[PDQ_DCT][PDQ_OUT];

static void init_dct_matrix(void) {
    const double pi = 3.14159265358979323846;
    const float scale = (float)sqrt(2.0 / 64.0);
    for (int i = 0; i < PDQ_DCT; i++) {
        for (int j = 0; j < PDQ_OUT; j++) {
            dct_matrix[i][j] = (float)(scale * cos((pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1)));
        }
    }
}

/*
 * Luma as the reference binding computes it: in double, R then G then B, rounded once to float. The products are
 * looked up (the same doubles the multiplications give), which is exact and cheaper than converting and multiplying.
 */
static double luma_r[256], luma_g[256], luma_b[256];

static void init_luma_tables(void) {
    for (int v = 0; v < 256; v++) {
        luma_r[v] = (double)v * 0.299;
        luma_g[v] = (double)v * 0.587;
        luma_b[v] = (double)v * 0.114;
    }
}

/* The luma of each of a palette's 256 RGB colours, by the very arithmetic `luma_row` applies to an RGB pixel, so an
 * image read through its palette hashes as its RGB conversion would. */
static void palette_luma(const uint8_t rgb[768], float lut[256]) {
    for (int i = 0; i < 256; i++)
        lut[i] = (float)((double)rgb[3 * i] * 0.299 + (double)rgb[3 * i + 1] * 0.587 + (double)rgb[3 * i + 2] * 0.114);
}

/*
 * One row of luma from pixels of `pixel_size` bytes: 1 = grey (R = G = B), 3 = RGB, 4 = RGBX/RGBA (4th ignored);
 * with `lut` (a palette's 256 lumas, `palette_luma`), the first byte of each pixel indexes it instead.
 * Written as plain double arithmetic (vectorisable); the tables serve the grey case, where it is cheaper.
 */
HOT static void luma_row(const uint8_t *p, int cols, int pixel_size, const float *lut, float *out) {
    if (lut) { /* palette images: the first byte of each pixel is an index, its colour's luma looked up */
        for (int c = 0; c < cols; c++) out[c] = lut[p[(size_t)c * pixel_size]];
    } else if (pixel_size == 1) {
        for (int c = 0; c < cols; c++) out[c] = (float)(luma_r[p[c]] + luma_g[p[c]] + luma_b[p[c]]);
    } else if (pixel_size == 4) {
        for (int c = 0; c < cols; c++) {
            uint32_t v;
            memcpy(&v, p + 4 * (size_t)c, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            const int r = (int)(v & 255), g = (int)((v >> 8) & 255), b = (int)((v >> 16) & 255);
#else
            const int r = (int)(v >> 24), g = (int)((v >> 16) & 255), b = (int)((v >> 8) & 255);
#endif
            out[c] = (float)((double)r * 0.299 + (double)g * 0.587 + (double)b * 0.114);
        }
    } else {
        for (int c = 0; c < cols; c++, p += 3)
            out[c] = (float)((double)p[0] * 0.299 + (double)p[1] * 0.587 + (double)p[2] * 0.114);
    }
}

/* The reference window of a box pass: ceil(n / 128). */
static inline int window_for(int n) { return (n + 2 * PDQ_OUT - 1) / (2 * PDQ_OUT); }

/*
 * One running-sum box pass along `n` samples for `lanes` independent vectors stored interleaved
 * (sample t of lane k at in[t * lanes + k]); out has the same layout. Per lane this is the reference's
 * four-phase sequence: accumulate, write with a growing window, write with the full window, shrink.
 */
HOT static void box_interleaved(const float *in, float *out, int n, int lanes, int window, float *sum) {
    const int half = (window + 2) / 2;
    int ri = 0, li = 0, oi = 0, count = 0;
    for (int k = 0; k < lanes; k++) sum[k] = 0.0f;
    for (int t = 0; t < half - 1; t++, ri++) {
        const float *x = in + (size_t)ri * lanes;
        for (int k = 0; k < lanes; k++) sum[k] += x[k];
        count++;
    }
    for (int t = 0; t < window - half + 1; t++, ri++, oi++) {
        const float *x = in + (size_t)ri * lanes;
        float *o = out + (size_t)oi * lanes;
        count++;
        const float c = (float)count;
        for (int k = 0; k < lanes; k++) {
            sum[k] += x[k];
            o[k] = sum[k] / c;
        }
    }
    const float full = (float)count;
    for (int t = 0; t < n - window; t++, ri++, li++, oi++) {
        const float *x = in + (size_t)ri * lanes;
        const float *y = in + (size_t)li * lanes;
        float *o = out + (size_t)oi * lanes;
        for (int k = 0; k < lanes; k++) {
            sum[k] += x[k];
            sum[k] -= y[k];
            o[k] = sum[k] / full;
        }
    }
    for (int t = 0; t < half - 1; t++, li++, oi++) {
        const float *y = in + (size_t)li * lanes;
        float *o = out + (size_t)oi * lanes;
        count--;
        const float c = (float)count;
        for (int k = 0; k < lanes; k++) {
            sum[k] -= y[k];
            o[k] = sum[k] / c;
        }
    }
}

/* The 64 sample positions of the decimation along a side of n: centres, computed in double as the reference. */
static void sample_positions(int n, int *pos) {
    for (int i = 0; i < PDQ_OUT; i++) pos[i] = (int)(((i + 0.5) * n) / PDQ_OUT);
}

/*
 * Row passes box ROW_BLOCK rows side by side: their samples are interleaved into a stage (sample c of row k at
 * stage[c * ROW_BLOCK + k]), so each step of the running sums is one SIMD operation over the rows. The 4x4
 * transposes in and out of the stage are done in SSE registers where available.
 */
#ifdef __SSE2__
/* Four vectors (samples c..c+3 of four rows) transposed and stored as four stage columns, ROW_BLOCK apart. */
static inline void store_transposed4(float *dst, __m128 a, __m128 b, __m128 c, __m128 d) {
    _MM_TRANSPOSE4_PS(a, b, c, d);
    _mm_storeu_ps(dst, a);
    _mm_storeu_ps(dst + ROW_BLOCK, b);
    _mm_storeu_ps(dst + 2 * ROW_BLOCK, c);
    _mm_storeu_ps(dst + 3 * ROW_BLOCK, d);
}
#endif

static void to_stage(float *const rows_in[ROW_BLOCK], int lanes, int cols, float *stage) {
    int c = 0;
#ifdef __SSE2__
    if (lanes == ROW_BLOCK) {
        for (; c + 4 <= cols; c += 4) {
            for (int g = 0; g < ROW_BLOCK; g += 4) {
                __m128 a = _mm_loadu_ps(rows_in[g] + c), b = _mm_loadu_ps(rows_in[g + 1] + c);
                __m128 d = _mm_loadu_ps(rows_in[g + 2] + c), e = _mm_loadu_ps(rows_in[g + 3] + c);
                store_transposed4(stage + (size_t)c * ROW_BLOCK + g, a, b, d, e);
            }
        }
    }
#endif
    for (; c < cols; c++)
        for (int k = 0; k < ROW_BLOCK; k++) stage[(size_t)c * ROW_BLOCK + k] = k < lanes ? rows_in[k][c] : 0.0f;
}

static void from_stage(const float *stage, int lanes, int cols, float *const rows_out[ROW_BLOCK]) {
    int c = 0;
#ifdef __SSE2__
    if (lanes == ROW_BLOCK) {
        for (; c + 4 <= cols; c += 4) {
            for (int g = 0; g < ROW_BLOCK; g += 4) {
                const float *src = stage + (size_t)c * ROW_BLOCK + g;
                __m128 a = _mm_loadu_ps(src), b = _mm_loadu_ps(src + ROW_BLOCK);
                __m128 d = _mm_loadu_ps(src + 2 * ROW_BLOCK), e = _mm_loadu_ps(src + 3 * ROW_BLOCK);
                _MM_TRANSPOSE4_PS(a, b, d, e);
                _mm_storeu_ps(rows_out[g] + c, a);
                _mm_storeu_ps(rows_out[g + 1] + c, b);
                _mm_storeu_ps(rows_out[g + 2] + c, d);
                _mm_storeu_ps(rows_out[g + 3] + c, e);
            }
        }
    }
#endif
    for (; c < cols; c++)
        for (int k = 0; k < lanes; k++) rows_out[k][c] = stage[(size_t)c * ROW_BLOCK + k];
}

/*
 * The running sums of `box_interleaved`, but the quotient is taken only where the decimation samples: at the
 * positions `at[0..PDQ_OUT)` (ascending, possibly repeated), into out[j * lanes + k]. Every sum sees the same
 * operations in the same order, so each kept value is bit for bit the one `box_interleaved` writes there.
 */
HOT static void box_sampled(const float *in, float *out, int n, int lanes, int window, float *sum, const int *at) {
    const int half = (window + 2) / 2;
    int ri = 0, li = 0, oi = 0, count = 0, j = 0;
    for (int k = 0; k < lanes; k++) sum[k] = 0.0f;
#define EMIT(c)                                                                                                  \
    for (; j < PDQ_OUT && at[j] == oi; j++)                                                                      \
        for (int k = 0; k < lanes; k++) out[(size_t)j * lanes + k] = sum[k] / (c);
    for (int t = 0; t < half - 1; t++, ri++) {
        const float *x = in + (size_t)ri * lanes;
        for (int k = 0; k < lanes; k++) sum[k] += x[k];
        count++;
    }
    for (int t = 0; t < window - half + 1; t++, ri++, oi++) {
        const float *x = in + (size_t)ri * lanes;
        count++;
        const float c = (float)count;
        for (int k = 0; k < lanes; k++) sum[k] += x[k];
        EMIT(c)
    }
    const float full = (float)count;
    for (int t = 0; t < n - window; t++, ri++, li++, oi++) {
        const float *x = in + (size_t)ri * lanes;
        const float *y = in + (size_t)li * lanes;
        for (int k = 0; k < lanes; k++) {
            sum[k] += x[k];
            sum[k] -= y[k];
        }
        EMIT(full)
    }
    for (int t = 0; t < half - 1; t++, li++, oi++) {
        const float *y = in + (size_t)li * lanes;
        count--;
        const float c = (float)count;
        for (int k = 0; k < lanes; k++) sum[k] -= y[k];
        EMIT(c)
    }
#undef EMIT
}

/* One step of the column pass over all `cols` columns at once: add the entering row, subtract the leaving one
 * (either may be NULL), then write the mean with `divisor`. The same per-element sequence as a column's box. */
HOT static void column_step(float *sum, const float *add, const float *sub, float *out, int cols, float divisor) {
    if (add)
        for (int k = 0; k < cols; k++) sum[k] += add[k];
    if (sub)
        for (int k = 0; k < cols; k++) sum[k] -= sub[k];
    if (out)
        for (int k = 0; k < cols; k++) out[k] = sum[k] / divisor;
}

/*
 * Pass 2 for `n` (<= 4) consecutive output rows at once, over all columns: for row j, add the entering pass-1 row
 * add[j], subtract the leaving one sub[j] (either may be NULL), and divide by div[j], the very sequence
 * `column_step` applies per element. The means go straight into pass 3's stage (sample c of output row j at
 * stage[c * ROW_BLOCK + lane0 + j]; lanes of rows past `n` get 0): the transpose pass 3 needs is made in registers,
 * 4 columns x 4 rows at a time, instead of writing the rows out and reading them back to transpose them.
 */
HOT static void column_rows(float *sum, const float *const add[4], const float *const sub[4], const float div[4],
                            int n, int cols, float *stage, int lane0) {
    int c = 0;
#ifdef __SSE2__
    if (n == 4 && add[0] && add[1] && add[2] && add[3] && sub[0] && sub[1] && sub[2] && sub[3]) {
        /* the full window (all but a few rows): every row adds and subtracts */
        const __m128 d0 = _mm_set1_ps(div[0]), d1 = _mm_set1_ps(div[1]), d2 = _mm_set1_ps(div[2]),
                     d3 = _mm_set1_ps(div[3]);
        for (; c + 4 <= cols; c += 4) {
            __m128 t = _mm_loadu_ps(sum + c);
            t = _mm_sub_ps(_mm_add_ps(t, _mm_loadu_ps(add[0] + c)), _mm_loadu_ps(sub[0] + c));
            __m128 o0 = _mm_div_ps(t, d0);
            t = _mm_sub_ps(_mm_add_ps(t, _mm_loadu_ps(add[1] + c)), _mm_loadu_ps(sub[1] + c));
            __m128 o1 = _mm_div_ps(t, d1);
            t = _mm_sub_ps(_mm_add_ps(t, _mm_loadu_ps(add[2] + c)), _mm_loadu_ps(sub[2] + c));
            __m128 o2 = _mm_div_ps(t, d2);
            t = _mm_sub_ps(_mm_add_ps(t, _mm_loadu_ps(add[3] + c)), _mm_loadu_ps(sub[3] + c));
            __m128 o3 = _mm_div_ps(t, d3);
            _mm_storeu_ps(sum + c, t);
            store_transposed4(stage + (size_t)c * ROW_BLOCK + lane0, o0, o1, o2, o3);
        }
    }
#endif
    for (; c < cols; c++) {
        float t = sum[c];
        float *dst = stage + (size_t)c * ROW_BLOCK + lane0;
        for (int j = 0; j < 4; j++) {
            if (j >= n) {
                dst[j] = 0.0f;
                continue;
            }
            if (add[j]) t += add[j][c];
            if (sub[j]) t -= sub[j][c];
            dst[j] = t / div[j];
        }
        sum[c] = t;
    }
}

/*
 * The streaming state of `downsample`: pass-1 rows in a ring, pass-2 rows in a block of ROW_BLOCK, pass-3 values
 * at the 64 sampled columns of every row. Nothing image-sized is held.
 */
struct stream {
    const uint8_t *pixels;
    const float *lut;
    int rows, cols, pixel_size, wrow, produced, ring_rows;
    size_t row_stride;
    int pitch;         /* floats from one ring row to the next (`row_pitch`) */
    float *ring;       /* pass-1 rows, row r at slot r % ring_rows */
    float *stage_in, *stage_out; /* pass 1's rows side by side, before and after their box */
    float *block;      /* pass-2 rows of the current block of ROW_BLOCK, side by side for pass 3 */
    float luma[ROW_BLOCK * LUMA_CHUNK];
    float *narrow;     /* pass-3 output at the 64 sampled columns: rows x PDQ_OUT */
    const int *col_at;
    float sum[ROW_BLOCK > PDQ_OUT ? ROW_BLOCK : PDQ_OUT];
};

/* Floats from one row to the next in the ring: the width rounded up to 16 (a multiple of 64 bytes), plus 16
 * when that is a multiple of 4 KiB, so the 16 rows a transpose writes at once do not all fall on the same cache
 * sets (a 4096-pixel-wide image ran 1.5x slower without it). */
static int row_pitch(int cols) {
    const int pitch = (cols + 15) & ~15;
    return pitch % 1024 == 0 ? pitch + 16 : pitch;
}

static float *ring_row(const struct stream *s, int r) { return s->ring + (size_t)(r % s->ring_rows) * s->pitch; }

/* Pass 1 up to row `r` included: luma of ROW_BLOCK rows at a time, boxed side by side along the rows. */
static void produce_until(struct stream *s, int r) {
    while (s->produced <= r) {
        const int r0 = s->produced;
        const int lanes = s->rows - r0 < ROW_BLOCK ? s->rows - r0 : ROW_BLOCK;
        float *rows_at[ROW_BLOCK];
        for (int k = 0; k < ROW_BLOCK; k++) rows_at[k] = ring_row(s, r0 + (k < lanes ? k : 0));
        for (int c0 = 0; c0 < s->cols; c0 += LUMA_CHUNK) { /* luma through a buffer that stays in L1 */
            const int w = s->cols - c0 < LUMA_CHUNK ? s->cols - c0 : LUMA_CHUNK;
            float *luma_at[ROW_BLOCK];
            for (int k = 0; k < ROW_BLOCK; k++) luma_at[k] = s->luma + (size_t)(k < lanes ? k : 0) * LUMA_CHUNK;
            for (int k = 0; k < lanes; k++)
                luma_row(s->pixels + (size_t)(r0 + k) * s->row_stride + (size_t)c0 * s->pixel_size, w, s->pixel_size,
                         s->lut, luma_at[k]);
            to_stage(luma_at, lanes, w, s->stage_in + (size_t)c0 * ROW_BLOCK);
        }
        box_interleaved(s->stage_in, s->stage_out, s->cols, ROW_BLOCK, s->wrow, s->sum);
        from_stage(s->stage_out, lanes, s->cols, rows_at);
        s->produced += lanes;
    }
}

/* Pass 3 on the pass-2 rows [r0, r0 + lanes) held side by side in the block: box along each row, keep the 64
 * sampled columns. Lanes no row of this block wrote (the image's last, partial block) are zeroed first. */
static void finish_block(struct stream *s, int r0, int lanes) {
    float kept[PDQ_OUT * ROW_BLOCK];
    const int written = (lanes + 3) & ~3; /* `column_rows` writes lanes 4 at a time */
    if (written < ROW_BLOCK)
        for (int c = 0; c < s->cols; c++)
            memset(s->block + (size_t)c * ROW_BLOCK + written, 0, (ROW_BLOCK - written) * sizeof(float));
    box_sampled(s->block, kept, s->cols, ROW_BLOCK, s->wrow, s->sum, s->col_at);
    for (int k = 0; k < lanes; k++)
        for (int j = 0; j < PDQ_OUT; j++) s->narrow[(size_t)(r0 + k) * PDQ_OUT + j] = kept[j * ROW_BLOCK + k];
}

/*
 * The blurred, decimated 64x64 luma of an image of (rows, cols) >= (5, 5) pixels of `pixel_size` bytes, rows
 * `row_stride` bytes apart. Returns 0, or -1 when memory runs out. A 64x64 image is copied unfiltered, as the
 * reference does.
 *
 * The four passes run as one stream down the image: pass 1 makes rows a block at a time into a ring just deep
 * enough for pass 2's window (plus a block and a group of 4 rows), pass 2 (the column box, all columns at once, 4
 * output rows at a time) writes its rows side by side into a block that pass 3 boxes along the rows, keeping the 64
 * sampled columns, and pass 4 boxes those down the rows. Each element sees exactly the operations, in the order,
 * that four whole-image passes would apply, so the result is bit-identical; but the working set is a few dozen
 * rows, in cache, instead of a float per pixel.
 *
 * Pass 2 as the reference runs it, in four phases (accumulate, growing window, full window, shrinking window), is,
 * for output row oi: add pass-1 row ri = oi + half - 1 if it exists, subtract row ri - window if it exists, divide
 * by the number of rows between them (`window_rows`); rows 0 .. half - 2 are accumulated before the first output.
 */
static int downsample(const uint8_t *pixels, int rows, int cols, int pixel_size, size_t row_stride, const float *lut,
                      float out[PDQ_OUT][PDQ_OUT]) {
    if (rows == PDQ_OUT && cols == PDQ_OUT) {
        for (int i = 0; i < PDQ_OUT; i++) luma_row(pixels + i * row_stride, cols, pixel_size, lut, out[i]);
        return 0;
    }
    const int wcol = window_for(rows);
    int col_at[PDQ_OUT], row_at[PDQ_OUT];
    sample_positions(cols, col_at);
    sample_positions(rows, row_at);

    struct stream s = {pixels, lut, rows, cols, pixel_size, window_for(cols), 0, wcol + ROW_BLOCK + 4, row_stride};
    s.col_at = col_at;
    s.pitch = row_pitch(cols);
    s.ring = malloc((size_t)s.ring_rows * s.pitch * sizeof(float));
    s.block = malloc((size_t)cols * ROW_BLOCK * sizeof(float));
    s.stage_in = malloc((size_t)cols * ROW_BLOCK * sizeof(float));
    s.stage_out = malloc((size_t)cols * ROW_BLOCK * sizeof(float));
    s.narrow = malloc((size_t)rows * PDQ_OUT * sizeof(float));
    float *colsum = calloc((size_t)cols, sizeof(float));
    float kept[PDQ_OUT * PDQ_OUT], sum[PDQ_OUT];
    int status = -1;
    if (!s.ring || !s.block || !s.stage_in || !s.stage_out || !s.narrow || !colsum) goto done;

    /* Pass 2 (columns), reading pass-1 rows from the ring as pass 1 makes them. The ring holds rows li .. ri of a
     * group of 4 output rows (wcol + 3 + 1) and the block pass 1 makes past ri (ROW_BLOCK - 1): wcol + ROW_BLOCK + 4. */
    const int half = (wcol + 2) / 2;
    for (int ri = 0; ri < half - 1; ri++) {
        produce_until(&s, ri);
        column_step(colsum, ring_row(&s, ri), NULL, NULL, cols, 1.0f);
    }
    for (int o = 0; o < rows; o += 4) {
        const int n = rows - o < 4 ? rows - o : 4;
        const float *add[4] = {NULL, NULL, NULL, NULL}, *sub[4] = {NULL, NULL, NULL, NULL};
        float div[4] = {1.0f, 1.0f, 1.0f, 1.0f};
        const int last = o + n - 1 + half - 1; /* the group's last entering row */
        produce_until(&s, last < rows ? last : rows - 1);
        for (int j = 0; j < n; j++) {
            const int ri = o + j + half - 1, li = ri - wcol;
            if (ri < rows) add[j] = ring_row(&s, ri);
            if (li >= 0) sub[j] = ring_row(&s, li);
            div[j] = (float)((ri < rows ? ri : rows - 1) - (li >= 0 ? li + 1 : 0) + 1); /* rows in the window */
        }
        column_rows(colsum, add, sub, div, n, cols, s.block, o % ROW_BLOCK);
        if ((o + n) % ROW_BLOCK == 0 || o + n == rows) finish_block(&s, o - o % ROW_BLOCK, o % ROW_BLOCK + n);
    }
    /* Pass 4 (columns) on the 64 kept columns; only the 64 sampled rows are divided out. */
    box_sampled(s.narrow, kept, rows, PDQ_OUT, wcol, sum, row_at);
    for (int i = 0; i < PDQ_OUT; i++)
        for (int j = 0; j < PDQ_OUT; j++) out[i][j] = kept[i * PDQ_OUT + j];
    status = 0;
done:
    free(s.ring);
    free(s.block);
    free(s.stage_in);
    free(s.stage_out);
    free(s.narrow);
    free(colsum);
    return status;
}

/* The reference's quality heuristic: significant gradients of the 64x64 buffer, scaled and capped at 100. */
static int quality_of(float a[PDQ_OUT][PDQ_OUT]) {
    int gradient_sum = 0;
    for (int i = 0; i < PDQ_OUT - 1; i++)
        for (int j = 0; j < PDQ_OUT; j++) {
            int d = (int)(((a[i][j] - a[i + 1][j]) * 100) / 255);
            gradient_sum += abs(d);
        }
    for (int i = 0; i < PDQ_OUT; i++)
        for (int j = 0; j < PDQ_OUT - 1; j++) {
            int d = (int)(((a[i][j] - a[i][j + 1]) * 100) / 255);
            gradient_sum += abs(d);
        }
    int quality = gradient_sum / 90;
    return quality > 100 ? 100 : quality;
}

/* B = D A D^T, frequencies 1..16 in each direction, float accumulation in ascending k as the reference. */
static void dct_16(float a[PDQ_OUT][PDQ_OUT], float b[PDQ_DCT][PDQ_DCT]) {
    float t[PDQ_DCT][PDQ_OUT];
    for (int i = 0; i < PDQ_DCT; i++)
        for (int j = 0; j < PDQ_OUT; j++) {
            float s = 0.0f;
            for (int k = 0; k < PDQ_OUT; k++) s += dct_matrix[i][k] * a[k][j];
            t[i][j] = s;
        }
    for (int i = 0; i < PDQ_DCT; i++)
        for (int j = 0; j < PDQ_DCT; j++) {
            float s = 0.0f;
            for (int k = 0; k < PDQ_OUT; k++) s += t[i][k] * dct_matrix[j][k];
            b[i][j] = s;
        }
}

static int compare_floats(const void *x, const void *y) {
    const float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

/* 32 bytes, big-endian: bit k (cell k/16, k%16) set when the cell is above the lower median of the 256. */
static void hash_bits(float b[PDQ_DCT][PDQ_DCT], unsigned char out[32]) {
    float sorted[PDQ_DCT * PDQ_DCT];
    memcpy(sorted, b, sizeof(sorted));
    qsort(sorted, PDQ_DCT * PDQ_DCT, sizeof(float), compare_floats);
    const float median = sorted[PDQ_DCT * PDQ_DCT / 2 - 1];
    memset(out, 0, 32);
    for (int k = 0; k < PDQ_DCT * PDQ_DCT; k++)
        if (b[k / PDQ_DCT][k % PDQ_DCT] > median) out[31 - k / 8] |= (unsigned char)(1u << (k % 8));
}

/*
 * The 8 dihedral forms from the original's DCT by sign flips and transposition (odd index = even frequency).
 * Form order: orig, rot90, rot180, rot270, flipx, flipy, flipplus1, flipminus1.
 */
static void dihedral(float a[PDQ_DCT][PDQ_DCT], int form, float b[PDQ_DCT][PDQ_DCT]) {
    for (int i = 0; i < PDQ_DCT; i++)
        for (int j = 0; j < PDQ_DCT; j++) {
            const float v = a[i][j];
            switch (form) {
            case 0: b[i][j] = v; break;
            case 1: b[j][i] = (j & 1) ? v : -v; break;
            case 2: b[i][j] = ((i + j) & 1) ? -v : v; break;
            case 3: b[j][i] = (i & 1) ? v : -v; break;
            case 4: b[i][j] = (i & 1) ? v : -v; break;
            case 5: b[i][j] = (j & 1) ? v : -v; break;
            case 6: b[j][i] = v; break;
            default: b[j][i] = ((i + j) & 1) ? -v : v; break;
            }
        }
}

/* The C Data Interface struct (Apache Arrow), through which Pillow lends its pixels without a copy. */
struct ArrowArray {
    int64_t length, null_count, offset, n_buffers, n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

/* The first pixel of an "arrow_array" capsule: uint8 values, or fixed-size lists of them (one child). */
static const uint8_t *arrow_pixels(PyObject *capsule, Py_ssize_t expected_bytes) {
    struct ArrowArray *array = PyCapsule_GetPointer(capsule, "arrow_array");
    if (!array) return NULL;
    struct ArrowArray *values = array->n_children == 1 ? array->children[0] : array;
    if (values->n_buffers < 2 || !values->buffers[1] || values->length - values->offset < expected_bytes) {
        PyErr_SetString(PyExc_ValueError, "arrow array does not hold the expected uint8 pixels");
        return NULL;
    }
    return (const uint8_t *)values->buffers[1] + values->offset;
}

/*
 * Python: hash_pixels(source, rows, cols, pixel_size, forms[, palette]) -> (32 * forms bytes, quality).
 * `source` is a contiguous buffer of rows * cols * pixel_size bytes, or Pillow's "arrow_array" capsule of the
 * same bytes; pixel_size 1 = grey, 3 = RGB, 4 = RGBX/RGBA. With `palette` (256 RGB colours, 768 bytes), the first
 * byte of each pixel is an index into it (Pillow's P, 1 byte, and PA, 4 bytes).
 */
static PyObject *py_hash_pixels(PyObject *self, PyObject *args) {
    PyObject *source, *palette = Py_None;
    int rows, cols, pixel_size, forms;
    if (!PyArg_ParseTuple(args, "Oiiii|O", &source, &rows, &cols, &pixel_size, &forms, &palette)) return NULL;
    float lut[256];
    const float *use_lut = NULL;
    if (palette != Py_None) {
        Py_buffer colours;
        if (PyObject_GetBuffer(palette, &colours, PyBUF_C_CONTIGUOUS) != 0) return NULL;
        if (colours.len != 768) {
            PyBuffer_Release(&colours);
            PyErr_Format(PyExc_ValueError, "a palette is 256 RGB colours (768 bytes), got %zd bytes", colours.len);
            return NULL;
        }
        palette_luma(colours.buf, lut);
        PyBuffer_Release(&colours);
        use_lut = lut;
    }
    if (rows < 0 || cols < 0 || forms < 1 || forms > 8 || (pixel_size != 1 && pixel_size != 3 && pixel_size != 4)) {
        PyErr_SetString(PyExc_ValueError, "need rows, cols >= 0, pixel_size 1, 3 or 4, and forms 1 to 8");
        return NULL;
    }
    const Py_ssize_t expected = (Py_ssize_t)rows * cols * pixel_size;
    Py_buffer view = {0};
    const uint8_t *pixels;
    if (PyCapsule_CheckExact(source)) {
        pixels = arrow_pixels(source, expected);
        if (!pixels) return NULL;
    } else {
        if (PyObject_GetBuffer(source, &view, PyBUF_C_CONTIGUOUS) != 0) return NULL;
        if (view.len != expected) {
            PyBuffer_Release(&view);
            PyErr_Format(PyExc_ValueError, "pixels hold %zd bytes, expected %zd", view.len, expected);
            return NULL;
        }
        pixels = view.buf;
    }
    unsigned char hashes[8 * 32];
    memset(hashes, 0, sizeof(hashes));
    int quality = 0, failed = 0;
    if (rows >= PDQ_MIN_DIM && cols >= PDQ_MIN_DIM) {
        float down[PDQ_OUT][PDQ_OUT], dct[PDQ_DCT][PDQ_DCT], form_dct[PDQ_DCT][PDQ_DCT];
        Py_BEGIN_ALLOW_THREADS
        failed = downsample(pixels, rows, cols, pixel_size, (size_t)cols * pixel_size, use_lut, down);
        if (!failed) {
            quality = quality_of(down);
            dct_16(down, dct);
            for (int f = 0; f < forms; f++) {
                dihedral(dct, f, form_dct);
                hash_bits(form_dct, hashes + 32 * f);
            }
        }
        Py_END_ALLOW_THREADS
    }
    if (view.obj) PyBuffer_Release(&view);
    if (failed) return PyErr_NoMemory();
    return Py_BuildValue("(y#i)", (const char *)hashes, (Py_ssize_t)(32 * forms), quality);
}

static PyMethodDef methods[] = {
    {"hash_pixels", py_hash_pixels, METH_VARARGS,
     "hash_pixels(source, rows, cols, pixel_size, forms[, palette]) -> (hashes, quality): PDQ of rows x cols pixels "
     "of pixel_size bytes (1 grey, 3 RGB, 4 RGBX/RGBA) from a buffer or a Pillow arrow_array capsule; with palette "
     "(768 bytes, 256 RGB colours) the first byte of a pixel indexes it; `forms` (1-8) dihedral forms, 32 bytes "
     "each, in the order orig, rot90, rot180, rot270, flipx, flipy, flipplus1, flipminus1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pdqcore", "hashwarden's PDQ engine (C core).", -1, methods};

PyMODINIT_FUNC PyInit__pdqcore(void) {
    init_dct_matrix();
    init_luma_tables();
    return PyModule_Create(&module);
}
