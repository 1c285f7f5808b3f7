/*
 * hashwarden's PDQ engine: the PDQ perceptual hash (library flavour) of 8-bit RGB pixels, bit-identical to the
 * reference C++ core, in about one pass over the pixels.
 *
 * Why C: bit identity with the reference means reproducing its float32 arithmetic exactly, and its box filter
 * is a running sum (add the entering sample, subtract the leaving one, divide by the window) whose rounding
 * depends on the order of every operation along a whole row or column. That order cannot be vectorised in NumPy
 * without changing the result, so this file performs the very same operations per element, but in an order of
 * traversal that is cache-friendly and lets the compiler run many rows or columns side by side:
 *
 *   luma + first row pass   fused, one image row at a time, into one float buffer (no full-size luma buffer);
 *   first column pass       in place, all columns at once (SIMD), keeping the rows still needed in a ring;
 *   second row pass         running sums along each row, keeping only the 64 columns the decimation samples;
 *   second column pass      on those 64 columns only, keeping only the 64 sampled rows.
 *
 * Every element still sees exactly the reference's sequence of float operations, so the 64x64 buffer, the
 * quality, the DCT and the hash are identical. Build with -ffp-contract=off and without -ffast-math: a fused
 * multiply-add or a reassociation would change the rounding.
 *
 * Memory: one float per pixel (plus the caller's RGB), so a 12000x12000 image needs ~576 MB here.
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

/*
 * One row of luma from pixels of `pixel_size` bytes: 1 = grey (R = G = B), 3 = RGB, 4 = RGBX/RGBA (4th ignored).
 * Written as plain double arithmetic (vectorisable); the tables serve the grey case, where it is cheaper.
 */
HOT static void luma_row(const uint8_t *p, int cols, int pixel_size, float *out) {
    if (pixel_size == 1) {
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

/*
 * First column pass, in place over `buf` (rows x cols): the same four phases, all columns at once. Before an
 * output row overwrites its input row, the input row is saved in a ring of `window` rows, which is every input
 * row a later step still subtracts.
 */
HOT static int box_columns_in_place(float *buf, int rows, int cols, int window) {
    const int half = (window + 2) / 2;
    float *sum = calloc((size_t)cols, sizeof(float));
    float *ring = malloc((size_t)window * cols * sizeof(float));
    if (!sum || !ring) {
        free(sum);
        free(ring);
        return -1;
    }
#define ROW(r) (buf + (size_t)(r) * cols)
#define SAVED(r) (ring + (size_t)((r) % window) * cols)
    int ri = 0, li = 0, oi = 0, count = 0;
    for (int t = 0; t < half - 1; t++, ri++) {
        const float *x = ROW(ri);
        for (int k = 0; k < cols; k++) sum[k] += x[k];
        count++;
    }
    for (int t = 0; t < window - half + 1; t++, ri++, oi++) {
        const float *x = ROW(ri);
        float *o = ROW(oi);
        count++;
        const float c = (float)count;
        for (int k = 0; k < cols; k++) sum[k] += x[k];
        memcpy(SAVED(oi), o, (size_t)cols * sizeof(float));
        for (int k = 0; k < cols; k++) o[k] = sum[k] / c;
    }
    const float full = (float)count;
    for (int t = 0; t < rows - window; t++, ri++, li++, oi++) {
        const float *x = ROW(ri);
        const float *y = SAVED(li);
        float *o = ROW(oi);
        for (int k = 0; k < cols; k++) {
            sum[k] += x[k];
            sum[k] -= y[k];
        }
        memcpy(SAVED(oi), o, (size_t)cols * sizeof(float));
        for (int k = 0; k < cols; k++) o[k] = sum[k] / full;
    }
    for (int t = 0; t < half - 1; t++, li++, oi++) {
        const float *y = SAVED(li);
        float *o = ROW(oi);
        count--;
        const float c = (float)count;
        for (int k = 0; k < cols; k++) sum[k] -= y[k];
        memcpy(SAVED(oi), o, (size_t)cols * sizeof(float));
        for (int k = 0; k < cols; k++) o[k] = sum[k] / c;
    }
#undef ROW
#undef SAVED
    free(sum);
    free(ring);
    return 0;
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
static void to_stage(float *const rows_in[ROW_BLOCK], int lanes, int cols, float *stage) {
    int c = 0;
#ifdef __SSE2__
    if (lanes == ROW_BLOCK) {
        for (; c + 4 <= cols; c += 4) {
            for (int g = 0; g < ROW_BLOCK; g += 4) {
                __m128 a = _mm_loadu_ps(rows_in[g] + c), b = _mm_loadu_ps(rows_in[g + 1] + c);
                __m128 d = _mm_loadu_ps(rows_in[g + 2] + c), e = _mm_loadu_ps(rows_in[g + 3] + c);
                _MM_TRANSPOSE4_PS(a, b, d, e);
                float *dst = stage + (size_t)c * ROW_BLOCK + g;
                _mm_storeu_ps(dst, a);
                _mm_storeu_ps(dst + ROW_BLOCK, b);
                _mm_storeu_ps(dst + 2 * ROW_BLOCK, d);
                _mm_storeu_ps(dst + 3 * ROW_BLOCK, e);
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
 * The blurred, decimated 64x64 luma of an image of (rows, cols) >= (5, 5) pixels of `pixel_size` bytes, rows
 * `row_stride` bytes apart. Returns 0, or -1 when memory runs out. A 64x64 image is copied unfiltered, as the
 * reference does.
 */
static int downsample(const uint8_t *pixels, int rows, int cols, int pixel_size, size_t row_stride,
                      float out[PDQ_OUT][PDQ_OUT]) {
    if (rows == PDQ_OUT && cols == PDQ_OUT) {
        for (int i = 0; i < PDQ_OUT; i++) luma_row(pixels + i * row_stride, cols, pixel_size, out[i]);
        return 0;
    }
    const int wrow = window_for(cols), wcol = window_for(rows);
    int col_at[PDQ_OUT], row_at[PDQ_OUT];
    sample_positions(cols, col_at);
    sample_positions(rows, row_at);

    float *buf = malloc((size_t)rows * cols * sizeof(float));
    float *stage_in = malloc((size_t)cols * ROW_BLOCK * sizeof(float));
    float *stage_out = malloc((size_t)cols * ROW_BLOCK * sizeof(float));
    float *narrow = malloc((size_t)rows * PDQ_OUT * sizeof(float)); /* pass 3 output at the 64 sampled columns */
    float *narrow_out = malloc((size_t)rows * PDQ_OUT * sizeof(float));
    float sum[PDQ_OUT];
    int status = -1;
    if (!buf || !stage_in || !stage_out || !narrow || !narrow_out) goto done;

    /* Pass 1 (rows): luma of ROW_BLOCK rows, boxed side by side, back into their rows. */
    for (int r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
        const int lanes = rows - r0 < ROW_BLOCK ? rows - r0 : ROW_BLOCK;
        float *block[ROW_BLOCK];
        for (int k = 0; k < ROW_BLOCK; k++) block[k] = buf + (size_t)(r0 + (k < lanes ? k : 0)) * cols;
        for (int k = 0; k < lanes; k++) luma_row(pixels + (size_t)(r0 + k) * row_stride, cols, pixel_size, block[k]);
        to_stage(block, lanes, cols, stage_in);
        box_interleaved(stage_in, stage_out, cols, ROW_BLOCK, wrow, sum);
        from_stage(stage_out, lanes, cols, block);
    }
    /* Pass 2 (columns), all columns at once. */
    if (box_columns_in_place(buf, rows, cols, wcol) != 0) goto done;
    /* Pass 3 (rows): full running sums, but only the 64 sampled columns are kept. */
    for (int r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
        const int lanes = rows - r0 < ROW_BLOCK ? rows - r0 : ROW_BLOCK;
        float *block[ROW_BLOCK];
        for (int k = 0; k < ROW_BLOCK; k++) block[k] = buf + (size_t)(r0 + (k < lanes ? k : 0)) * cols;
        to_stage(block, lanes, cols, stage_in);
        box_interleaved(stage_in, stage_out, cols, ROW_BLOCK, wrow, sum);
        for (int k = 0; k < lanes; k++)
            for (int j = 0; j < PDQ_OUT; j++)
                narrow[(size_t)(r0 + k) * PDQ_OUT + j] = stage_out[(size_t)col_at[j] * ROW_BLOCK + k];
    }
    /* Pass 4 (columns) on the 64 kept columns; the 64 sampled rows are the result. */
    box_interleaved(narrow, narrow_out, rows, PDQ_OUT, wcol, sum);
    for (int i = 0; i < PDQ_OUT; i++)
        for (int j = 0; j < PDQ_OUT; j++) out[i][j] = narrow_out[(size_t)row_at[i] * PDQ_OUT + j];
    status = 0;
done:
    free(buf);
    free(stage_in);
    free(stage_out);
    free(narrow);
    free(narrow_out);
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
 * Python: hash_pixels(source, rows, cols, pixel_size, forms) -> (32 * forms bytes, quality).
 * `source` is a contiguous buffer of rows * cols * pixel_size bytes, or Pillow's "arrow_array" capsule of the
 * same bytes; pixel_size 1 = grey, 3 = RGB, 4 = RGBX/RGBA.
 */
static PyObject *py_hash_pixels(PyObject *self, PyObject *args) {
    PyObject *source;
    int rows, cols, pixel_size, forms;
    if (!PyArg_ParseTuple(args, "Oiiii", &source, &rows, &cols, &pixel_size, &forms)) return NULL;
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
        failed = downsample(pixels, rows, cols, pixel_size, (size_t)cols * pixel_size, down);
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
     "hash_pixels(source, rows, cols, pixel_size, forms) -> (hashes, quality): PDQ of rows x cols pixels of "
     "pixel_size bytes (1 grey, 3 RGB, 4 RGBX/RGBA) from a buffer or a Pillow arrow_array capsule; `forms` (1-8) "
     "dihedral forms, 32 bytes each, in the order orig, rot90, rot180, rot270, flipx, flipy, flipplus1, flipminus1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pdqcore", "hashwarden's PDQ engine (C core).", -1, methods};

PyMODINIT_FUNC PyInit__pdqcore(void) {
    init_dct_matrix();
    init_luma_tables();
    return PyModule_Create(&module);
}
