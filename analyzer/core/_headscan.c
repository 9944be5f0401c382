/* The header-block scan of analyzer/core/http1.py (_scan_head_py, _scan_fields,
 * _field_line, _colon) in C: the same answer, without a compiled loop per byte.
 *
 * scan(buf, s, e, fast, is_request, software) -> (le, sp1, sp2, spaces, end, fields) | None
 *
 * The first line of the block at buf[s] ends at le (its LF, or e); sp1, sp2 are its
 * first two spaces (-1: none) and spaces how many it has. The block ends at end: not
 * fast, e; fast, the first CRLFCRLF. fields is a flat tuple (code, a, z, ...): per
 * field of interest, in order, its code (http1._CODE_NAMES) and its value buf[s+a:s+z],
 * stripped of ASCII whitespace (a = z = 0 for the fields only present). Every offset is
 * from s (-1 stays -1): a header block's are mostly small, Python's cached ints, not
 * objects made per call. None when the fast path gives up: no CRLFCRLF, a line past
 * MAX_HEAD or an empty line (LF LF) before it, a request line without " HTTP/" (fast),
 * or a block longer than MAX_HEAD.
 *
 * http1.py keeps the reference in Python (the pure build runs it); tests/test_http1.py
 * and tests/fuzz/fuzz_headscan.py hold the two to the same answer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_HEAD (64 * 1024) /* http1.MAX_HEAD */

enum {
    F_CONTENT_LENGTH, F_CONNECTION, F_TRANSFER_ENCODING, F_KEEP_ALIVE, F_UPGRADE,
    F_USER_AGENT, F_SERVER, F_VIA, F_X_FORWARDED_FOR, F_X_REAL_IP, F_FORWARDED,
};

typedef struct {
    Py_ssize_t *v;
    Py_ssize_t n, cap;
    Py_ssize_t local[96];
} Fields;

static int
fields_add(Fields *f, Py_ssize_t code, Py_ssize_t a, Py_ssize_t z)
{
    if (f->n + 3 > f->cap) {
        Py_ssize_t cap = f->cap * 2;
        Py_ssize_t *v = PyMem_Malloc(cap * sizeof(Py_ssize_t));
        if (v == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(v, f->v, f->n * sizeof(Py_ssize_t));
        if (f->v != f->local)
            PyMem_Free(f->v);
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = code;
    f->v[f->n++] = a;
    f->v[f->n++] = z;
    return 0;
}

/* _colon: where the ':' is when b[p:e] starts with name (lower case; ASCII letters
 * matched without regard to case, '-' as is) and [ \t]*:, else -1. */
static Py_ssize_t
colon(const unsigned char *b, Py_ssize_t p, Py_ssize_t e, const char *name, Py_ssize_t n)
{
    if (p + n > e)
        return -1;
    for (Py_ssize_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)name[k], x = b[p + k];
        if (x != c && (c == 45 || (x | 0x20) != c))
            return -1;
    }
    Py_ssize_t j = p + n;
    while (j < e && (b[j] == 32 || b[j] == 9))
        j++;
    if (j >= e || b[j] != 58)
        return -1;
    return j;
}

#define WS(c) ((c) == 32 || (9 <= (c) && (c) <= 13))

/* _field_line: the line at b[p] of the block at b[s]; returns where to look on (its
 * value's end, or p), or -2 on an error (memory). A value is noted by its offsets from s;
 * a field only present by 0, 0. */
static Py_ssize_t
field_line(const unsigned char *b, Py_ssize_t s, Py_ssize_t p, Py_ssize_t e, int software,
           Fields *f)
{
    int c = b[p] | 0x20;
    int code, present = 0;
    Py_ssize_t j;
    if (c == 'c') {
        code = F_CONTENT_LENGTH;
        j = colon(b, p, e, "content-length", 14);
        if (j < 0) {
            code = F_CONNECTION;
            j = colon(b, p, e, "connection", 10);
        }
    }
    else if (c == 't') {
        code = F_TRANSFER_ENCODING;
        j = colon(b, p, e, "transfer-encoding", 17);
    }
    else if (c == 'k') {
        code = F_KEEP_ALIVE;
        j = colon(b, p, e, "keep-alive", 10);
    }
    else if (c == 'u') {
        if (p + 1 < e && (b[p + 1] | 0x20) == 'p') {
            code = F_UPGRADE;
            j = colon(b, p, e, "upgrade", 7);
        }
        else if (!software)
            return p;
        else {
            code = F_USER_AGENT;
            j = colon(b, p, e, "user-agent", 10);
        }
    }
    else if (!software)
        return p;
    else if (c == 's') {
        code = F_SERVER;
        j = colon(b, p, e, "server", 6);
    }
    else if (c == 'v') {
        code = F_VIA;
        j = colon(b, p, e, "via", 3);
    }
    else if (c == 'x') {
        present = 1;
        code = F_X_FORWARDED_FOR;
        j = colon(b, p, e, "x-forwarded-for", 15);
        if (j < 0) {
            code = F_X_REAL_IP;
            j = colon(b, p, e, "x-real-ip", 9);
        }
    }
    else if (c == 'f') {
        present = 1;
        code = F_FORWARDED;
        j = colon(b, p, e, "forwarded", 9);
    }
    else
        return p;
    if (j < 0)
        return p;
    Py_ssize_t k = j + 1;
    while (k < e && b[k] != 13 && b[k] != 10)
        k++;
    if (present)
        return fields_add(f, code, 0, 0) < 0 ? -2 : k;
    Py_ssize_t a = j + 1, z = k;
    while (a < k && WS(b[a]))
        a++;
    while (z > a && WS(b[z - 1]))
        z--;
    return fields_add(f, code, a - s, z - s) < 0 ? -2 : k;
}

/* _scan_fields: the block's end (see the header comment), -1, or -2 on an error. */
static Py_ssize_t
scan_fields(const unsigned char *b, Py_ssize_t s, Py_ssize_t p, Py_ssize_t e, int fast,
            int software, Fields *f)
{
    Py_ssize_t end = fast ? -1 : e;
    while (p < e) {
        if (b[p] != 10) {
            const unsigned char *q = memchr(b + p, 10, (size_t)(e - p));
            if (q == NULL)
                break;
            p = q - b;
        }
        if (fast) {
            if (p - 1 >= s && b[p - 1] == 13 && p + 2 < e && b[p + 1] == 13 && b[p + 2] == 10)
                return p - 1; /* the first CRLFCRLF */
            if (p - s > MAX_HEAD + 1)
                return -1; /* any end farther on is too far */
        }
        p += 1; /* a line starts here */
        if (p >= e)
            break;
        if (fast && b[p] == 10)
            return -1; /* an empty line: the slow path ends the block there */
        p = field_line(b, s, p, e, software, f);
        if (p == -2)
            return -2;
    }
    return end;
}

static PyObject *
scan(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "scan(buf, s, e, fast, is_request, software)");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan: buf must be bytes");
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t s = PyLong_AsSsize_t(args[1]);
    if (s == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t e = PyLong_AsSsize_t(args[2]);
    if (e == -1 && PyErr_Occurred())
        return NULL;
    int fast = PyObject_IsTrue(args[3]);
    int is_request = PyObject_IsTrue(args[4]);
    int software = PyObject_IsTrue(args[5]);
    if (fast < 0 || is_request < 0 || software < 0)
        return NULL;
    if (s < 0 || e > size || s > e) {
        PyErr_SetString(PyExc_IndexError, "scan: s and e must be within buf");
        return NULL;
    }
    /* the first line: its end, its first two spaces, whether " HTTP/" follows one */
    Py_ssize_t sp1 = -1, sp2 = -1, spaces = 0, p = s;
    int http = 0;
    for (; p < e; p++) {
        unsigned char c = b[p];
        if (c == 10)
            break;
        if (c == 32) {
            spaces++;
            if (sp1 < 0)
                sp1 = p;
            else if (sp2 < 0)
                sp2 = p;
            if (!http && p + 5 < e && b[p + 1] == 72 && b[p + 2] == 84 && b[p + 3] == 84
                && b[p + 4] == 80 && b[p + 5] == 47)
                http = 1;
        }
    }
    if (fast && is_request && !http)
        Py_RETURN_NONE;
    Py_ssize_t le = p;
    Fields f;
    f.v = f.local;
    f.n = 0;
    f.cap = (Py_ssize_t)(sizeof(f.local) / sizeof(f.local[0]));
    Py_ssize_t end = scan_fields(b, s, p, e, fast, software, &f);
    PyObject *out = NULL;
    if (end == -2)
        goto done;
    if (end < 0 || end - s > MAX_HEAD) {
        out = Py_None;
        Py_INCREF(out);
        goto done;
    }
    /* offsets from s (the fields' already): a header block's are mostly under 257,
     * Python's cached ints */
    PyObject *fields = PyTuple_New(f.n);
    if (fields == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < f.n; i += 3) {
        PyObject *code = PyLong_FromSsize_t(f.v[i]);
        PyObject *a = PyLong_FromSsize_t(f.v[i + 1]);
        PyObject *z = PyLong_FromSsize_t(f.v[i + 2]);
        if (code == NULL || a == NULL || z == NULL) {
            Py_XDECREF(code);
            Py_XDECREF(a);
            Py_XDECREF(z);
            Py_DECREF(fields);
            goto done;
        }
        PyTuple_SET_ITEM(fields, i, code);
        PyTuple_SET_ITEM(fields, i + 1, a);
        PyTuple_SET_ITEM(fields, i + 2, z);
    }
    Py_ssize_t values[5] = {le - s, sp1 < 0 ? -1 : sp1 - s, sp2 < 0 ? -1 : sp2 - s,
                            spaces, end - s};
    out = PyTuple_New(6);
    if (out == NULL) {
        Py_DECREF(fields);
        goto done;
    }
    PyTuple_SET_ITEM(out, 5, fields);
    for (int i = 0; i < 5; i++) {
        PyObject *x = PyLong_FromSsize_t(values[i]);
        if (x == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyTuple_SET_ITEM(out, i, x);
    }
done:
    if (f.v != f.local)
        PyMem_Free(f.v);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(buf, s, e, fast, is_request, software): the header block at buf[s] "
     "(analyzer.core.http1._scan_head)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_headscan",
    "The header-block scan of analyzer.core.http1 in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__headscan(void)
{
    return PyModule_Create(&module);
}
