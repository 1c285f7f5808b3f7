/*
 * Signature search for carving: one pass over a buffer finding where JPEG, PNG, GIF, WebP (RIFF) and ISO-BMFF
 * ("ftyp") files may start. Python's bytes.find would need one pass per signature (six passes, ~0.25 GB/s); here
 * every 16-byte block is compared against the first two bytes of all signatures at once (SSE2), and only the rare
 * blocks with a candidate are checked byte by byte, so the search runs near memory speed.
 *
 * find(buffer) -> list of (position of the signature in the buffer, signature index), in ascending position.
 * Signature indexes: 0 JPEG "FF D8 FF", 1 PNG, 2 "GIF87a", 3 "GIF89a", 4 "RIFF" (WebP checked by the caller),
 * 5 "ftyp" (the file starts 4 bytes before).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const unsigned char *SIGS[] = {(const unsigned char *)"\xff\xd8\xff", (const unsigned char *)"\x89PNG\r\n\x1a\n",
                                      (const unsigned char *)"GIF87a", (const unsigned char *)"GIF89a",
                                      (const unsigned char *)"RIFF", (const unsigned char *)"ftyp"};
static const Py_ssize_t LENS[] = {3, 8, 6, 6, 4, 4};
#define NSIG 6

static int check_at(const unsigned char *p, Py_ssize_t left, PyObject *out, Py_ssize_t pos) {
    for (int s = 0; s < NSIG; s++) {
        if (left >= LENS[s] && p[0] == SIGS[s][0] && memcmp(p, SIGS[s], (size_t)LENS[s]) == 0) {
            PyObject *hit = Py_BuildValue("(ni)", pos, s);
            if (!hit || PyList_Append(out, hit) != 0) {
                Py_XDECREF(hit);
                return -1;
            }
            Py_DECREF(hit);
        }
    }
    return 0;
}

static PyObject *py_find(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *data = view.buf;
    const Py_ssize_t n = view.len;
    PyObject *out = PyList_New(0);
    if (!out) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t i = 0;
#ifdef __SSE2__
    const __m128i f0 = _mm_set1_epi8((char)0xff), s0 = _mm_set1_epi8((char)0xd8);
    const __m128i f1 = _mm_set1_epi8((char)0x89), s1 = _mm_set1_epi8('P');
    const __m128i f2 = _mm_set1_epi8('G'), s2 = _mm_set1_epi8('I');
    const __m128i f3 = _mm_set1_epi8('R'), s3 = _mm_set1_epi8('I');
    const __m128i f4 = _mm_set1_epi8('f'), s4 = _mm_set1_epi8('t');
    for (; i + 17 <= n; i += 16) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(data + i));
        const __m128i b = _mm_loadu_si128((const __m128i *)(data + i + 1));
        __m128i m = _mm_and_si128(_mm_cmpeq_epi8(a, f0), _mm_cmpeq_epi8(b, s0));
        m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(a, f1), _mm_cmpeq_epi8(b, s1)));
        m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(a, f2), _mm_cmpeq_epi8(b, s2)));
        m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(a, f3), _mm_cmpeq_epi8(b, s3)));
        m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(a, f4), _mm_cmpeq_epi8(b, s4)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        while (mask) {
            const int bit = __builtin_ctz(mask);
            if (check_at(data + i + bit, n - i - bit, out, i + bit) != 0) goto fail;
            mask &= mask - 1;
        }
    }
#endif
    for (; i < n; i++)
        if (check_at(data + i, n - i, out, i) != 0) goto fail;
    PyBuffer_Release(&view);
    return out;
fail:
    PyBuffer_Release(&view);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"find", py_find, METH_VARARGS, "find(buffer) -> [(position, signature index)] of carving signatures."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sigscan", "Carving signature search.", -1, methods};

PyMODINIT_FUNC PyInit__sigscan(void) { return PyModule_Create(&module); }
