/*
 * Safe Browsing (v4 "URLs and Hashing") canonicalization, lookup expressions, their SHA-256 and the lookup of those
 * digests in a URL list: the compiled core of urls/ and urllist/checker.py (issue 19: >= 200,000 URLs/s a core).
 *
 * This is the one canonicalizer of the product. Python keeps only what a library does better and what is rare:
 * an internationalised host (non-ASCII bytes after unescaping) is handed to host.py's `punycode` (the `idna`
 * package, UTS 46), an IPv6 literal to host.py's `bracketed_ipv6`/`ipv6` (the `ipaddress` module); what they
 * return goes on through the same C steps. tests/urls/reference.py is the readable pure-Python statement of the
 * same rules, kept only as the differential oracle (tests/urls/test_differential.py); docs/architecture.md says why.
 *
 * The steps, in the order the official test list forces (canonical.py's docstring tells them in prose):
 *   1. the fragment is cut on the raw bytes, before unescaping (`/ab%23cd` keeps `%23cd`);
 *   2. ASCII whitespace trimmed at both ends, then every TAB, CR and LF removed;
 *   3. percent-unescaped until nothing changes, in one linear pass (unescape_fixed_point);
 *   4. parsed leniently: `scheme:` (http and https only, then `//`; none: http), the query from the first `?`,
 *      `\` before it read as `/`, the host up to the first `/`, userinfo up to the last `@` dropped, the port dropped;
 *   5. the host: dots collapsed and trimmed, IPv4 in any legacy spelling as four decimal octets, ASCII lowercased;
 *      the path: `.` and `..` resolved, `//` collapsed, empty is `/`;
 *   6. every byte <= 0x20, >= 0x7F, `#` and `%` escaped as %XX (uppercase hex) in host, path and query.
 *
 * An expression is `host/path` without the scheme; in the canonical URL every host suffix is directly followed by
 * every path prefix (`scheme://HOST/PATH?QUERY`), so each expression is a substring and is hashed in place.
 *
 * Functions (the GIL is held throughout: a URL takes microseconds):
 *   configure(max_bytes, url_error, punycode, bracketed_ipv6, ipv6, too_long, too_long_escaped)
 *   canonicalize(url: str | bytes) -> str                      raises url_error(reason, url)
 *   expressions(canonical: str) -> list[str]
 *   url_hashes(url: str | bytes) -> list[bytes]                SHA-256 of each expression
 *   unescape(raw: bytes) -> bytes                              step 3 alone (tests compare it with whole passes)
 *   DigestTable(mapping: dict[bytes, object], default=None, refused=None)
 *                                                              32-byte digest -> value, built once
 *     .check(url) -> value | default                           every expression hashed and looked up, the first
 *                                                              hit kept: listed and unlisted take the same steps;
 *                                                              a refusal (url_error) is refused(exc)'s answer when
 *                                                              `refused` is given, else raised
 *     .digests() -> list[bytes], len()
 *
 * SHA-256 is OpenSSL's libcrypto, the library Python's hashlib itself calls: the same digests by construction, its
 * SHA-NI / AVX2 code chosen for the CPU at run time, and no cryptographic code of ours to maintain.
 */

#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Update/Final: 55 ns a call, EVP's 90 (measured) */
#include <Python.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STACK_BYTES 2048 /* inputs up to this size are worked on in stack buffers, longer ones on the heap */
#define MAX_EXPRESSIONS 30
#define HOST_SUFFIXES 4 /* config.URL_HOST_SUFFIXES, checked by configure() */
#define PATH_PREFIXES 3 /* config.URL_PATH_PREFIXES */

/* ---- configuration (set once by canonical.py) ---- */

static Py_ssize_t max_bytes = -1;
static PyObject *url_error, *py_punycode, *py_bracketed_ipv6, *py_ipv6, *msg_too_long, *msg_too_long_escaped;

static int configured(void) {
    if (max_bytes >= 0) return 1;
    PyErr_SetString(PyExc_RuntimeError, "hashwarden.urls._urlc used before configure() (import hashwarden.urls)");
    return 0;
}

/* Raise url_error(reason, url); reason is a new reference (or NULL, an error already set). Returns -1. */
static int refuse(PyObject *reason, PyObject *url) {
    if (reason == NULL) return -1;
    PyObject *exc = PyObject_CallFunctionObjArgs(url_error, reason, url, NULL);
    Py_DECREF(reason);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return -1;
}

static int refuse_text(const char *reason, PyObject *url) { return refuse(PyUnicode_FromString(reason), url); }

static int refuse_object(PyObject *reason, PyObject *url) {
    Py_INCREF(reason);
    return refuse(reason, url);
}

/* ---- a byte buffer on the stack while it is small ---- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    uint8_t *heap;
} buf;

static void buf_init(buf *b, uint8_t *stack, size_t cap) {
    b->p = stack;
    b->len = 0;
    b->cap = cap;
    b->heap = NULL;
}

static int buf_reserve(buf *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap * 2;
    while (cap < b->len + more) cap *= 2;
    uint8_t *p = b->heap ? realloc(b->heap, cap) : malloc(cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->heap == NULL) memcpy(p, b->p, b->len);
    b->p = b->heap = p;
    b->cap = cap;
    return 0;
}

static void buf_free(buf *b) { free(b->heap); }

static inline void put(buf *b, const void *data, size_t n) { /* room reserved by the caller */
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

/* ---- bytes ---- */

static const char HEX_UPPER[] = "0123456789ABCDEF";

static inline int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static inline int needs_escape(uint8_t c) { return c <= 0x20 || c >= 0x7F || c == '#' || c == '%'; }

static inline int is_space(uint8_t c) { /* bytes.strip(): ASCII whitespace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const uint8_t *find_last(const uint8_t *p, size_t n, uint8_t c) {
    while (n > 0) {
        if (p[--n] == c) return p + n;
    }
    return NULL;
}

/* The fixed point of percent-unescaping in one pass, in place: after each byte written, an escape it completes is
 * decoded, and so on backwards while decoding completes another. Two escapes never overlap, so the result is the
 * fixed point of repeated whole passes (`%252541` -> `%2541` -> `%41` -> `A`), in time linear in n. */
static size_t unescape_fixed_point(uint8_t *p, size_t n) {
    const uint8_t *first = memchr(p, '%', n);
    if (first == NULL) return n;
    size_t out = first - p;
    for (size_t i = out; i < n; i++) {
        p[out++] = p[i];
        while (out >= 3 && p[out - 3] == '%') {
            int hi = hex_value(p[out - 2]), lo = hex_value(p[out - 1]);
            if (hi < 0 || lo < 0) break;
            out -= 2;
            p[out - 1] = (uint8_t)(hi << 4 | lo);
        }
    }
    return out;
}

/* Append `n` bytes escaped; refuse when the canonical URL would pass max_bytes. */
static int put_escaped(buf *out, const uint8_t *p, size_t n, PyObject *url) {
    if (buf_reserve(out, 3 * n) < 0) return -1;
    uint8_t *o = out->p + out->len;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (needs_escape(c)) {
            *o++ = '%';
            *o++ = HEX_UPPER[c >> 4];
            *o++ = HEX_UPPER[c & 15];
        } else {
            *o++ = c;
        }
    }
    out->len = o - out->p;
    if ((Py_ssize_t)out->len > max_bytes) return refuse_object(msg_too_long_escaped, url);
    return 0;
}

/* ---- host ---- */

/* Runs of dots collapsed to one, leading and trailing dots removed, in place. */
static size_t clean_dots(uint8_t *p, size_t n) {
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '.' && (out == 0 || p[out - 1] == '.')) continue;
        p[out++] = p[i];
    }
    if (out > 0 && p[out - 1] == '.') out--;
    return out;
}

/* A part of a legacy IPv4 address as C's strtoul reads it (`0x` hex, a leading `0` octal, else decimal); -1 when
 * it is no number or has more than 11 significant digits (2^32 has 10 decimal, 11 octal, 8 hex). */
static int64_t ipv4_part(const uint8_t *p, size_t n) {
    int base = 10;
    if (n >= 2 && p[0] == '0' && (p[1] | 0x20) == 'x') {
        base = 16;
        p += 2;
        n -= 2;
    } else if (n > 1 && p[0] == '0') {
        base = 8;
        p += 1;
        n -= 1;
    }
    if (n == 0) return -1;
    while (n > 0 && p[0] == '0') {
        p++;
        n--;
    }
    if (n > 11) return -1;
    int64_t value = 0;
    for (size_t i = 0; i < n; i++) {
        int digit = hex_value(p[i]);
        if (digit < 0 || digit >= base) return -1;
        value = value * base + digit;
    }
    return value;
}

/* Four decimal octets written to `out` if the host is an IPv4 address in any legacy spelling (`3279880203`,
 * `0xc37f000b`, `0303.0177.0.013`, `195.127.11`: the last part fills the remaining bytes); 0 when it is a name.
 * A part out of range makes a name (`276.2.3`), as inet_aton and browsers read it (Go's client reduces it). */
static int ipv4(const uint8_t *p, size_t n, buf *out) {
    size_t starts[5], ends[5], parts = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '.') {
            if (parts == 4) return 0;
            starts[parts] = start;
            ends[parts++] = i;
            start = i + 1;
        }
    }
    uint8_t octets[4];
    size_t filled = 0;
    for (size_t k = 0; k < parts; k++) {
        int64_t value = ipv4_part(p + starts[k], ends[k] - starts[k]);
        size_t width = k == parts - 1 ? 5 - parts : 1;
        if (value < 0 || value >= (int64_t)1 << (8 * width)) return 0;
        for (size_t b = width; b-- > 0;) octets[filled++] = (uint8_t)(value >> (8 * b));
    }
    if (buf_reserve(out, 16) < 0) return -1;
    out->len += sprintf((char *)out->p + out->len, "%u.%u.%u.%u", octets[0], octets[1], octets[2], octets[3]);
    return 1;
}

/* The host's bytes after the last '@' (userinfo dropped) and before the port: through host.py for an IPv6
 * literal or a name with non-ASCII bytes, then cleaned and written, escaped, to `out`. */
static int put_host(buf *out, uint8_t *host, size_t n, PyObject *url) {
    const uint8_t *at = find_last(host, n, '@');
    if (at != NULL) {
        n -= at + 1 - host;
        host = (uint8_t *)at + 1;
    }
    PyObject *converted = NULL;
    if (n > 0 && host[0] == '[') {
        converted = PyObject_CallFunction(py_bracketed_ipv6, "y#O", host, (Py_ssize_t)n, url);
    } else {
        const uint8_t *colon = find_last(host, n, ':');
        if (colon != NULL) {
            size_t at_colon = colon - host;
            if (memchr(host, ':', at_colon) != NULL) { /* more than one colon without brackets: IPv6 written bare */
                converted = PyObject_CallFunction(py_ipv6, "y#O", host, (Py_ssize_t)n, url);
            } else {
                for (size_t i = at_colon + 1; i < n; i++) {
                    if (!is_digit(host[i])) {
                        PyObject *port = PyUnicode_DecodeUTF8((const char *)colon + 1, n - at_colon - 1,
                                                              "backslashreplace");
                        if (port == NULL) return -1;
                        PyObject *reason = PyUnicode_FromFormat("port %R is not a number", port);
                        Py_DECREF(port);
                        return refuse(reason, url);
                    }
                }
                n = at_colon;
            }
        }
    }
    if (converted != NULL || PyErr_Occurred()) { /* an IPv6 literal: host.py's answer is the host */
        if (converted == NULL) return -1;
        int failed = !PyBytes_Check(converted);
        if (failed) PyErr_SetString(PyExc_TypeError, "host.py's IPv6 conversion did not return bytes");
        else failed = put_escaped(out, (uint8_t *)PyBytes_AS_STRING(converted), PyBytes_GET_SIZE(converted), url);
        Py_DECREF(converted);
        return failed ? -1 : 0;
    }
    int ascii = 1;
    for (size_t i = 0; i < n; i++) ascii &= host[i] < 0x80;
    uint8_t *name = host;
    if (!ascii) { /* an internationalised name: host.py (idna, UTS 46) gives its ASCII form */
        n = clean_dots(host, n);
        converted = PyObject_CallFunction(py_punycode, "y#", host, (Py_ssize_t)n);
        if (converted == NULL) return -1;
        if (!PyBytes_Check(converted)) {
            Py_DECREF(converted);
            PyErr_SetString(PyExc_TypeError, "host.py's punycode did not return bytes");
            return -1;
        }
        n = PyBytes_GET_SIZE(converted);
        name = malloc(n ? n : 1);
        if (name == NULL) {
            Py_DECREF(converted);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(name, PyBytes_AS_STRING(converted), n);
        Py_DECREF(converted);
        for (size_t i = 0; i < n; i++) {
            if (strchr("/?#@:%\\[]", name[i]) != NULL && name[i] != 0) {
                free(name);
                return refuse_text("internationalised host maps to a URL delimiter (/ ? # @ : % \\ [ ]), as fullwidth "
                                   "forms do; browsers refuse such a host",
                                   url);
            }
        }
    }
    int result = 0;
    n = clean_dots(name, n);
    if (n == 0) {
        result = refuse_text("no host", url);
    } else if (memchr(name, '[', n) != NULL || memchr(name, ']', n) != NULL) {
        result = refuse_text("'[' or ']' in a host that is not an IPv6 literal", url);
    } else {
        result = ipv4(name, n, out);
        if (result == 0) {
            for (size_t i = 0; i < n; i++) {
                if (name[i] >= 'A' && name[i] <= 'Z') name[i] |= 0x20;
            }
            result = put_escaped(out, name, n, url);
        } else if (result == 1) {
            result = 0;
        }
    }
    if (name != host) free(name);
    return result;
}

/* ---- path ---- */

/* `/./` and `/../` resolved (never above the root), runs of `/` collapsed, in place; a path ending in `/`, `/.`
 * or `/..` names a directory and keeps a trailing `/` (`/a/b/..` is `/a/`). `p` starts with '/'. */
static size_t clean_path(uint8_t *p, size_t n) {
    int dirty = 0;
    for (size_t i = 0; i + 1 < n && !dirty; i++) dirty = p[i] == '/' && (p[i + 1] == '/' || p[i + 1] == '.');
    if (!dirty) return n;
    size_t out = 0, i = 1, kept = 0;
    int directory = 0;
    while (i <= n) {
        size_t end = i;
        while (end < n && p[end] != '/') end++;
        size_t len = end - i;
        if (len == 2 && p[i] == '.' && p[i + 1] == '.') {
            if (kept > 0) {
                while (p[--out] != '/') {
                }
                kept--;
            }
            directory = 1;
        } else if (len == 0 || (len == 1 && p[i] == '.')) {
            directory = 1;
        } else {
            p[out++] = '/';
            memmove(p + out, p + i, len);
            out += len;
            kept++;
            directory = 0;
        }
        i = end + 1;
    }
    if (kept == 0) {
        p[0] = '/';
        return 1;
    }
    if (directory) p[out++] = '/';
    return out;
}

/* ---- the whole URL ---- */

/* The canonical URL of `in` (n bytes) appended to `out`; `work` is scratch of at least n bytes. */
static int canonical(const uint8_t *in, size_t n, PyObject *url, uint8_t *work, buf *out) {
    const uint8_t *hash = memchr(in, '#', n);
    if (hash != NULL) n = hash - in;
    size_t start = 0;
    while (start < n && is_space(in[start])) start++;
    while (n > start && is_space(in[n - 1])) n--;
    size_t m = 0;
    for (size_t i = start; i < n; i++) {
        uint8_t c = in[i];
        if (c != '\t' && c != '\r' && c != '\n') work[m++] = c;
    }
    m = unescape_fixed_point(work, m);
    if (m == 0) return refuse_text("empty URL", url);

    /* The scheme as Safe Browsing's Go client reads it: a letter, then letters, digits, `+`, `-`, `.` up to a
     * `:`, where a `:` followed by a port (`www.abc.com:80/`) is not a scheme's. */
    size_t scheme_len = 0, rest = 0;
    for (size_t i = 0; i < m; i++) {
        uint8_t c = work[i], lower = c | 0x20;
        if (lower >= 'a' && lower <= 'z') continue;
        if (i > 0 && (is_digit(c) || c == '+' || c == '-' || c == '.')) continue;
        if (c == ':' && i > 0) {
            size_t j = i + 1;
            while (j < m && is_digit(work[j])) j++;
            if (j > i + 1 && (j == m || work[j] == '/')) continue;
            scheme_len = i;
            rest = i + 1;
        }
        break;
    }
    const uint8_t *question = memchr(work + rest, '?', m - rest);
    size_t rest_end = question ? (size_t)(question - work) : m;
    for (size_t i = rest; i < rest_end; i++) {
        if (work[i] == '\\') work[i] = '/';
    }
    if (buf_reserve(out, 8) < 0) return -1;
    if (scheme_len == 0) {
        put(out, "http://", 7);
    } else {
        for (size_t i = 0; i < scheme_len; i++) work[i] |= (work[i] >= 'A' && work[i] <= 'Z') ? 0x20 : 0;
        int https = scheme_len == 5 && memcmp(work, "https", 5) == 0;
        if (!https && !(scheme_len == 4 && memcmp(work, "http", 4) == 0)) {
            PyObject *scheme = PyUnicode_DecodeASCII((const char *)work, scheme_len, "strict");
            if (scheme == NULL) return -1;
            PyObject *reason = PyUnicode_FromFormat("scheme %R is not http or https", scheme);
            Py_DECREF(scheme);
            return refuse(reason, url);
        }
        if (rest_end - rest < 2 || work[rest] != '/' || work[rest + 1] != '/')
            return refuse_text(https ? "no '//' after 'https:'" : "no '//' after 'http:'", url);
        rest += 2;
        put(out, https ? "https://" : "http://", https ? 8 : 7);
    }
    const uint8_t *slash = memchr(work + rest, '/', rest_end - rest);
    size_t host_end = slash ? (size_t)(slash - work) : rest_end;
    if (host_end == rest) return refuse_text("no host", url);
    if (put_host(out, work + rest, host_end - rest, url) < 0) return -1;
    if (host_end == rest_end) {
        if (buf_reserve(out, 1) < 0) return -1;
        put(out, "/", 1);
    } else {
        size_t path = clean_path(work + host_end, rest_end - host_end);
        if (put_escaped(out, work + host_end, path, url) < 0) return -1;
    }
    if (question != NULL) {
        if (buf_reserve(out, 1) < 0) return -1;
        put(out, "?", 1);
        if (put_escaped(out, work + rest_end + 1, m - rest_end - 1, url) < 0) return -1;
    }
    if ((Py_ssize_t)out->len > max_bytes) return refuse_object(msg_too_long_escaped, url);
    return 0;
}

/* The bytes of a str (UTF-8; a surrogateescape'd byte gives back its byte) or of a bytes-like object, refused
 * when longer than max_bytes. `*owned` is set when a new object holds them (release it). */
static int input_bytes(PyObject *url, const uint8_t **data, size_t *n, PyObject **owned, Py_buffer *view) {
    *owned = NULL;
    view->obj = NULL;
    if (PyUnicode_Check(url)) {
        if (PyUnicode_GET_LENGTH(url) > max_bytes) return refuse_object(msg_too_long, url);
        if (PyUnicode_IS_ASCII(url)) {
            *data = PyUnicode_DATA(url);
            *n = PyUnicode_GET_LENGTH(url);
            return 0;
        }
        PyObject *encoded = PyUnicode_AsEncodedString(url, "utf-8", "surrogateescape");
        if (encoded == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
            PyErr_Clear();
            return refuse_text("holds a lone surrogate, not text that UTF-8 can encode", url);
        }
        *owned = encoded;
        *data = (const uint8_t *)PyBytes_AS_STRING(encoded);
        *n = PyBytes_GET_SIZE(encoded);
    } else if (PyBytes_Check(url)) {
        *data = (const uint8_t *)PyBytes_AS_STRING(url);
        *n = PyBytes_GET_SIZE(url);
    } else {
        if (PyObject_GetBuffer(url, view, PyBUF_SIMPLE) < 0) return -1;
        *data = view->buf;
        *n = view->len;
    }
    if ((Py_ssize_t)*n > max_bytes) {
        if (view->obj) PyBuffer_Release(view);
        Py_XDECREF(*owned);
        return refuse_object(msg_too_long, url);
    }
    return 0;
}

/* canonical() on a Python object: the canonical URL in `out` (its storage must outlive the call). */
static int canonical_of(PyObject *url, buf *out) {
    if (!configured()) return -1;
    const uint8_t *data;
    size_t n;
    PyObject *owned;
    Py_buffer view;
    if (input_bytes(url, &data, &n, &owned, &view) < 0) return -1;
    uint8_t stack[STACK_BYTES];
    uint8_t *work = n <= STACK_BYTES ? stack : malloc(n);
    int result = -1;
    if (work == NULL) PyErr_NoMemory();
    else result = canonical(data, n, url, work, out);
    if (work != stack) free(work);
    if (view.obj) PyBuffer_Release(&view);
    Py_XDECREF(owned);
    return result;
}

/* ---- expressions ---- */

typedef struct {
    const uint8_t *base; /* the canonical URL; every expression is base[start[i]:end[i]] */
    size_t count, start[MAX_EXPRESSIONS], end[MAX_EXPRESSIONS];
} expression_set;

static int is_ipv4_dotted(const uint8_t *p, size_t n) { /* [0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ */
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || p[i] != '.') return 0;
            i++;
        }
        size_t digits = i;
        while (i < n && is_digit(p[i])) i++;
        if (i == digits) return 0;
    }
    return i == n;
}

/* The host-suffix x path-prefix expressions of a canonical URL, most specific host first: the exact host and
 * the suffixes of its last five labels (never the bare top-level label; none for an IP address), times the
 * root, up to three directory prefixes, the exact path and the path with its query (an empty query adds
 * nothing). Returns -1 (an error set) when `c` has no `scheme://` or no host. */
static int expressions_of(const uint8_t *c, size_t n, PyObject *given, expression_set *set) {
    size_t host = 0;
    while (host + 2 < n && !(c[host] == ':' && c[host + 1] == '/' && c[host + 2] == '/')) host++;
    if (host + 2 >= n) return refuse_text("not a canonical URL (no scheme://)", given);
    host += 3;
    const uint8_t *slash = memchr(c + host, '/', n - host);
    if (slash == NULL || slash == c + host) return refuse_text("not a canonical URL (no host/)", given);
    size_t host_end = slash - c;
    const uint8_t *question = memchr(slash, '?', c + n - slash);
    size_t path_end = question ? (size_t)(question - c) : n;

    size_t hosts[1 + HOST_SUFFIXES], nhosts = 0;
    hosts[nhosts++] = host;
    uint8_t last = c[host_end - 1];
    int address = (is_digit(last) || last == ']') && (c[host] == '[' || is_ipv4_dotted(c + host, host_end - host));
    if (!address) {
        const uint8_t *dot = find_last(c + host, host_end - host, '.');
        for (int k = 0; k < HOST_SUFFIXES && dot != NULL && dot > c + host; k++) {
            dot = find_last(c + host, dot - (c + host), '.');
            if (dot == NULL) break;
            hosts[nhosts++] = dot + 1 - c;
        }
    }
    size_t paths[3 + PATH_PREFIXES], npaths = 0;
    paths[npaths++] = host_end + 1; /* the root */
    if (path_end != host_end + 1) {
        size_t s = host_end;
        for (int k = 0; k < PATH_PREFIXES; k++) {
            const uint8_t *next = memchr(c + s + 1, '/', path_end - s - 1);
            if (next == NULL || (size_t)(next - c) == path_end - 1) break;
            s = next - c;
            paths[npaths++] = s + 1;
        }
        paths[npaths++] = path_end;
    }
    if (question != NULL && path_end + 1 < n) paths[npaths++] = n;
    set->base = c;
    set->count = 0;
    for (size_t h = 0; h < nhosts; h++) {
        for (size_t p = 0; p < npaths; p++) {
            set->start[set->count] = hosts[h];
            set->end[set->count++] = paths[p];
        }
    }
    return 0;
}

static inline void sha256(const uint8_t *p, size_t n, uint8_t digest[32]) {
#ifndef OPENSSL_NO_DEPRECATED_3_0
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, p, n);
    SHA256_Final(digest, &ctx);
#else
    unsigned int len;
    EVP_Digest(p, n, digest, &len, EVP_sha256(), NULL);
#endif
}

/* ---- module functions ---- */

static PyObject *py_configure(PyObject *self, PyObject *args) {
    Py_ssize_t limit;
    PyObject *error, *puny, *bracketed, *bare, *long_msg, *escaped_msg;
    int suffixes, prefixes;
    if (!PyArg_ParseTuple(args, "nOOOOUUii", &limit, &error, &puny, &bracketed, &bare, &long_msg, &escaped_msg,
                          &suffixes, &prefixes))
        return NULL;
    if (suffixes != HOST_SUFFIXES || prefixes != PATH_PREFIXES) {
        PyErr_Format(PyExc_ValueError, "_urlc is compiled for %d host suffixes and %d path prefixes, not %d and %d",
                     HOST_SUFFIXES, PATH_PREFIXES, suffixes, prefixes);
        return NULL;
    }
    PyObject *objects[] = {error, puny, bracketed, bare, long_msg, escaped_msg};
    PyObject **slots[] = {&url_error, &py_punycode, &py_bracketed_ipv6, &py_ipv6, &msg_too_long, &msg_too_long_escaped};
    for (int i = 0; i < 6; i++) {
        Py_INCREF(objects[i]);
        Py_XSETREF(*slots[i], objects[i]);
    }
    max_bytes = limit;
    Py_RETURN_NONE;
}

static PyObject *py_canonicalize(PyObject *self, PyObject *url) {
    uint8_t stack[3 * STACK_BYTES];
    buf out;
    buf_init(&out, stack, sizeof stack);
    PyObject *result = NULL;
    if (canonical_of(url, &out) == 0) {
        if (PyUnicode_Check(url) && PyUnicode_IS_ASCII(url) && (size_t)PyUnicode_GET_LENGTH(url) == out.len &&
            memcmp(PyUnicode_DATA(url), out.p, out.len) == 0) {
            Py_INCREF(url); /* already canonical: the same object */
            result = url;
        } else {
            result = PyUnicode_DecodeASCII((const char *)out.p, out.len, "strict");
        }
    }
    buf_free(&out);
    return result;
}

static PyObject *py_expressions(PyObject *self, PyObject *canonical_url) {
    if (!PyUnicode_Check(canonical_url)) {
        PyErr_SetString(PyExc_TypeError, "expressions() takes the canonical URL as str");
        return NULL;
    }
    Py_ssize_t n;
    const char *c = PyUnicode_AsUTF8AndSize(canonical_url, &n);
    if (c == NULL) return NULL;
    expression_set set;
    if (expressions_of((const uint8_t *)c, n, canonical_url, &set) < 0) return NULL;
    PyObject *list = PyList_New(set.count);
    if (list == NULL) return NULL;
    for (size_t i = 0; i < set.count; i++) {
        PyObject *text = PyUnicode_DecodeUTF8(c + set.start[i], set.end[i] - set.start[i], "strict");
        if (text == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, text);
    }
    return list;
}

/* Canonicalize `url` and hash its expressions into `digests`; returns how many, or -1. */
static int hashes_of(PyObject *url, uint8_t digests[MAX_EXPRESSIONS][32]) {
    uint8_t stack[3 * STACK_BYTES];
    buf out;
    buf_init(&out, stack, sizeof stack);
    expression_set set;
    int count = -1;
    if (canonical_of(url, &out) == 0 && expressions_of(out.p, out.len, url, &set) == 0) {
        for (size_t i = 0; i < set.count; i++) sha256(set.base + set.start[i], set.end[i] - set.start[i], digests[i]);
        count = (int)set.count;
    }
    buf_free(&out);
    return count;
}

static PyObject *py_url_hashes(PyObject *self, PyObject *url) {
    uint8_t digests[MAX_EXPRESSIONS][32];
    int count = hashes_of(url, digests);
    if (count < 0) return NULL;
    PyObject *list = PyList_New(count);
    if (list == NULL) return NULL;
    for (int i = 0; i < count; i++) {
        PyObject *digest = PyBytes_FromStringAndSize((const char *)digests[i], 32);
        if (digest == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, digest);
    }
    return list;
}

static PyObject *py_unescape(PyObject *self, PyObject *raw) {
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "unescape() takes bytes");
        return NULL;
    }
    PyObject *copy = PyBytes_FromStringAndSize(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
    if (copy == NULL) return NULL;
    size_t n = unescape_fixed_point((uint8_t *)PyBytes_AS_STRING(copy), PyBytes_GET_SIZE(copy));
    PyObject *result = PyBytes_FromStringAndSize(PyBytes_AS_STRING(copy), n);
    Py_DECREF(copy);
    return result;
}

/* ---- DigestTable: open addressing on the digests' own bits (SHA-256 output, uniform whoever chose the URL) ---- */

typedef struct {
    PyObject_HEAD
    size_t count, mask;
    uint8_t (*keys)[32];
    PyObject **values, *default_value, *refused;
    uint64_t *slots; /* 0: empty; else fingerprint (digest bytes 8..11) << 32 | index + 1 */
} DigestTable;

static inline uint64_t slot_of(const uint8_t *digest) {
    uint64_t h;
    memcpy(&h, digest, 8);
    return h;
}

static inline uint64_t fingerprint_of(const uint8_t *digest) {
    uint32_t f;
    memcpy(&f, digest + 8, 4);
    return (uint64_t)f << 32;
}

static PyObject *table_lookup(DigestTable *t, const uint8_t *digest) {
    uint64_t fp = fingerprint_of(digest);
    for (size_t i = slot_of(digest) & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = t->slots[i];
        if (s == 0) return NULL;
        if ((s & 0xFFFFFFFF00000000ull) == fp && memcmp(t->keys[(s & 0xFFFFFFFF) - 1], digest, 32) == 0)
            return t->values[(s & 0xFFFFFFFF) - 1];
    }
}

static void table_dealloc(DigestTable *t) {
    if (t->values) {
        for (size_t i = 0; i < t->count; i++) Py_XDECREF(t->values[i]);
    }
    Py_XDECREF(t->default_value);
    Py_XDECREF(t->refused);
    free(t->keys);
    free(t->values);
    free(t->slots);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static int table_init(DigestTable *t, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"mapping", "default", "refused", NULL};
    PyObject *mapping, *default_value = Py_None, *refused = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|OO", keywords, &PyDict_Type, &mapping, &default_value,
                                     &refused))
        return -1;
    if (t->slots != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a DigestTable is built once");
        return -1;
    }
    size_t n = PyDict_GET_SIZE(mapping), cap = 16;
    if (n > 0xFFFFFFF0u) {
        PyErr_SetString(PyExc_ValueError, "a DigestTable holds at most 2^32 - 16 digests");
        return -1;
    }
    while (cap < 2 * n) cap *= 2; /* load at most 1/2: short probe runs */
    t->keys = malloc((n ? n : 1) * 32);
    t->values = calloc(n ? n : 1, sizeof(PyObject *));
    t->slots = calloc(cap, sizeof(uint64_t));
    if (!t->keys || !t->values || !t->slots) {
        PyErr_NoMemory();
        return -1;
    }
    t->mask = cap - 1;
    Py_INCREF(default_value);
    t->default_value = default_value;
    if (refused != Py_None) {
        Py_INCREF(refused);
        t->refused = refused;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) != 32) {
            PyErr_Format(PyExc_ValueError, "a URL list digest is 32 bytes (SHA-256), got %R", key);
            return -1;
        }
        size_t index = t->count;
        memcpy(t->keys[index], PyBytes_AS_STRING(key), 32);
        Py_INCREF(value);
        t->values[index] = value;
        t->count++;
        size_t i = slot_of(t->keys[index]) & t->mask;
        while (t->slots[i] != 0) i = (i + 1) & t->mask;
        t->slots[i] = fingerprint_of(t->keys[index]) | (index + 1);
    }
    return 0;
}

static PyObject *table_check(DigestTable *t, PyObject *url) {
    if (t->slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "DigestTable not built");
        return NULL;
    }
    uint8_t digests[MAX_EXPRESSIONS][32];
    int count = hashes_of(url, digests);
    if (count < 0) {
        if (t->refused == NULL || !configured() || !PyErr_ExceptionMatches(url_error)) return NULL;
        PyObject *type, *exc, *traceback;
        PyErr_Fetch(&type, &exc, &traceback);
        PyErr_NormalizeException(&type, &exc, &traceback);
        PyObject *answer = NULL;
        if (exc != NULL) answer = PyObject_CallOneArg(t->refused, exc);
        else PyErr_SetString(PyExc_RuntimeError, "a refusal without its exception");
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(traceback);
        return answer;
    }
    for (int i = 0; i < count; i++) __builtin_prefetch(&t->slots[slot_of(digests[i]) & t->mask]);
    PyObject *found = NULL;
    for (int i = 0; i < count; i++) { /* all of them, hit or not: the same work whatever the answer */
        PyObject *value = table_lookup(t, digests[i]);
        if (found == NULL) found = value;
    }
    if (found == NULL) found = t->default_value;
    Py_INCREF(found);
    return found;
}

static PyObject *table_digests(DigestTable *t, PyObject *unused) {
    PyObject *list = PyList_New(t->count);
    if (list == NULL) return NULL;
    for (size_t i = 0; i < t->count; i++) {
        PyObject *digest = PyBytes_FromStringAndSize((const char *)t->keys[i], 32);
        if (digest == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, digest);
    }
    return list;
}

static Py_ssize_t table_len(DigestTable *t) { return t->count; }

static PyMethodDef table_methods[] = {
    {"check", (PyCFunction)table_check, METH_O,
     "check(url) -> the value of the first listed expression's digest, or the default; a refused URL: "
     "refused(exc), or the configured UrlError raised."},
    {"digests", (PyCFunction)table_digests, METH_NOARGS, "digests() -> every digest held, in insertion order."},
    {NULL}};

static PySequenceMethods table_sequence = {.sq_length = (lenfunc)table_len};

static PyTypeObject DigestTableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hashwarden.urls._urlc.DigestTable",
    .tp_basicsize = sizeof(DigestTable),
    .tp_dealloc = (destructor)table_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "DigestTable(mapping: dict[bytes, object], default=None, refused=None): 32-byte SHA-256 digests "
              "-> values, for check(url).",
    .tp_methods = table_methods,
    .tp_as_sequence = &table_sequence,
    .tp_init = (initproc)table_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef methods[] = {
    {"configure", py_configure, METH_VARARGS,
     "configure(max_bytes, url_error, punycode, bracketed_ipv6, ipv6, too_long, too_long_escaped, suffixes, "
     "prefixes)"},
    {"canonicalize", py_canonicalize, METH_O, "canonicalize(url: str | bytes) -> the Safe Browsing canonical URL."},
    {"expressions", py_expressions, METH_O, "expressions(canonical: str) -> its lookup expressions."},
    {"url_hashes", py_url_hashes, METH_O, "url_hashes(url) -> SHA-256 of each expression of the canonical URL."},
    {"unescape", py_unescape, METH_O, "unescape(raw: bytes) -> raw percent-unescaped until nothing changes."},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_urlc",
                                    "Safe Browsing canonicalization, expressions, SHA-256 and URL list lookups.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__urlc(void) {
    if (PyType_Ready(&DigestTableType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&DigestTableType);
    if (PyModule_AddObject(m, "DigestTable", (PyObject *)&DigestTableType) < 0) {
        Py_DECREF(&DigestTableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
