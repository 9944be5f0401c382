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
 * scan_into(buf, s, e, fast, is_request, software, headers, cls) -> the same five numbers
 * | None: what http1._scan_head uses. The fields go straight into headers and cls as
 * http1._put puts them (configure() hands over http1's tables: names, kinds, the value
 * bound, the interned values), one call per block with no offsets boxed and no slice
 * per value.
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

/* The scan both entry points share: the arguments checked, the first line and the
 * fields of the block at buf[s]. Returns 1 (scanned: the numbers and f filled), 0 (the
 * fast path gives up: None), -1 (an exception is set). f->v is to be freed by the
 * caller when it is not f->local, whatever the result. */
typedef struct {
    const unsigned char *b;
    Py_ssize_t s, le, sp1, sp2, spaces, end;
} Scan;

static int
scan_core(PyObject *const *args, Scan *r, Fields *f)
{
    f->v = f->local;
    f->n = 0;
    f->cap = (Py_ssize_t)(sizeof(f->local) / sizeof(f->local[0]));
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan: buf must be bytes");
        return -1;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t s = PyLong_AsSsize_t(args[1]);
    if (s == -1 && PyErr_Occurred())
        return -1;
    Py_ssize_t e = PyLong_AsSsize_t(args[2]);
    if (e == -1 && PyErr_Occurred())
        return -1;
    int fast = PyObject_IsTrue(args[3]);
    int is_request = PyObject_IsTrue(args[4]);
    int software = PyObject_IsTrue(args[5]);
    if (fast < 0 || is_request < 0 || software < 0)
        return -1;
    if (s < 0 || e > size || s > e) {
        PyErr_SetString(PyExc_IndexError, "scan: s and e must be within buf");
        return -1;
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
        return 0;
    Py_ssize_t end = scan_fields(b, s, p, e, fast, software, f);
    if (end == -2)
        return -1;
    if (end < 0 || end - s > MAX_HEAD)
        return 0;
    r->b = b;
    r->s = s;
    r->le = p;
    r->sp1 = sp1;
    r->sp2 = sp2;
    r->spaces = spaces;
    r->end = end;
    return 1;
}

/* (le, sp1, sp2, spaces, end), offsets from s (-1 stays -1): a header block's are mostly
 * under 257, Python's cached ints. With fields (not NULL) a sixth item, that tuple. */
static PyObject *
scanned(const Scan *r, PyObject *fields)
{
    Py_ssize_t s = r->s;
    Py_ssize_t values[5] = {r->le - s, r->sp1 < 0 ? -1 : r->sp1 - s,
                            r->sp2 < 0 ? -1 : r->sp2 - s, r->spaces, r->end - s};
    PyObject *out = PyTuple_New(fields != NULL ? 6 : 5);
    if (out == NULL) {
        Py_XDECREF(fields);
        return NULL;
    }
    if (fields != NULL)
        PyTuple_SET_ITEM(out, 5, fields);
    for (int i = 0; i < 5; i++) {
        PyObject *x = PyLong_FromSsize_t(values[i]);
        if (x == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, x);
    }
    return out;
}

static PyObject *scan_block(PyObject *const *args, PyObject *headers, PyObject *cls);

static PyObject *
scan(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "scan(buf, s, e, fast, is_request, software)");
        return NULL;
    }
    return scan_block(args, NULL, NULL);
}

/* What scan_into puts its fields in with: http1's _CODE_NAMES and _CODE_KINDS (by code),
 * its kinds' numbers, MAX_SOFTWARE, and _interned with its bound (configure()). */
static struct {
    PyObject *names, *interned, *one, *comma;
    long kinds[16];
    long framing, length, present;
    Py_ssize_t max_software, interned_max;
} put;

static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8 || !PyTuple_Check(args[0]) || !PyTuple_Check(args[1])
        || !PyDict_Check(args[6])) {
        PyErr_SetString(PyExc_TypeError, "configure(names, kinds, framing, length, present, "
                                         "max_software, interned, interned_max)");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(args[0]);
    if (n != F_FORWARDED + 1 || PyTuple_GET_SIZE(args[1]) != n) {
        PyErr_SetString(PyExc_ValueError, "configure: one name and one kind per code");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(args[0], i))) {
            PyErr_SetString(PyExc_TypeError, "configure: names must be str");
            return NULL;
        }
        put.kinds[i] = PyLong_AsLong(PyTuple_GET_ITEM(args[1], i));
        if (put.kinds[i] == -1 && PyErr_Occurred())
            return NULL;
    }
    put.framing = PyLong_AsLong(args[2]);
    put.length = PyLong_AsLong(args[3]);
    put.present = PyLong_AsLong(args[4]);
    put.max_software = PyLong_AsSsize_t(args[5]);
    put.interned_max = PyLong_AsSsize_t(args[7]);
    if (PyErr_Occurred())
        return NULL;
    if (put.one == NULL) {
        put.one = PyUnicode_InternFromString("1");
        put.comma = PyUnicode_InternFromString(", ");
        if (put.one == NULL || put.comma == NULL)
            return NULL;
    }
    Py_INCREF(args[0]);
    Py_XSETREF(put.names, args[0]);
    Py_INCREF(args[6]);
    Py_XSETREF(put.interned, args[6]);
    Py_RETURN_NONE;
}

/* http1._put of one field: its value, b[a:z], into headers (and cls) as its kind says. */
static int
put_field(const unsigned char *b, Py_ssize_t code, Py_ssize_t a, Py_ssize_t z,
          PyObject *headers, PyObject *cls)
{
    PyObject *name = PyTuple_GET_ITEM(put.names, code);
    long kind = put.kinds[code];
    if (kind == put.present)
        return PyDict_SetItem(headers, name, put.one);
    PyObject *v;
    if (kind == put.framing) { /* _str: one str object per value seen */
        PyObject *key = PyBytes_FromStringAndSize((const char *)b + a, z - a);
        if (key == NULL)
            return -1;
        v = PyDict_GetItemWithError(put.interned, key);
        if (v != NULL)
            Py_INCREF(v);
        else if (PyErr_Occurred()) {
            Py_DECREF(key);
            return -1;
        }
        else {
            v = PyUnicode_DecodeLatin1((const char *)b + a, z - a, NULL);
            if (v != NULL && PyDict_GET_SIZE(put.interned) < put.interned_max
                && PyDict_SetItem(put.interned, key, v) < 0)
                Py_CLEAR(v);
        }
        Py_DECREF(key);
    }
    else if (kind == put.length) {
        v = PyUnicode_DecodeLatin1((const char *)b + a, z - a, NULL);
        if (v != NULL && PyList_Append(cls, v) < 0)
            Py_CLEAR(v);
    }
    else {
        Py_ssize_t n = z - a < put.max_software ? z - a : put.max_software;
        v = PyUnicode_DecodeLatin1((const char *)b + a, n < 0 ? 0 : n, NULL);
    }
    if (v == NULL)
        return -1;
    PyObject *old = PyDict_GetItemWithError(headers, name);
    if (old == NULL && PyErr_Occurred()) {
        Py_DECREF(v);
        return -1;
    }
    if (old != NULL) { /* old + ", " + v */
        PyObject *joined = PyUnicode_Concat(old, put.comma);
        if (joined != NULL)
            PyUnicode_Append(&joined, v);
        Py_DECREF(v);
        if (joined == NULL)
            return -1;
        v = joined;
    }
    int rc = PyDict_SetItem(headers, name, v);
    Py_DECREF(v);
    return rc;
}

/* scan_into(buf, s, e, fast, is_request, software, headers, cls)
 *     -> (le, sp1, sp2, spaces, end) | None
 * scan's numbers, its fields put into headers and cls as http1._put puts them (the
 * tables configure() was given). */
static PyObject *
scan_into(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "scan_into(buf, s, e, fast, is_request, software, headers, cls)");
        return NULL;
    }
    if (put.names == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "scan_into: configure() first");
        return NULL;
    }
    if (!PyDict_Check(args[6]) || !PyList_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "scan_into: headers must be a dict, cls a list");
        return NULL;
    }
    return scan_block(args, args[6], args[7]);
}

/* Both entry points: the block scanned; its fields as a tuple after the numbers (headers
 * NULL: scan), or put into headers and cls (scan_into). */
static PyObject *
scan_block(PyObject *const *args, PyObject *headers, PyObject *cls)
{
    Scan r;
    Fields f;
    PyObject *out = NULL;
    int got = scan_core(args, &r, &f);
    if (got < 0)
        goto done;
    if (got == 0) {
        out = Py_None;
        Py_INCREF(out);
        goto done;
    }
    if (headers != NULL) {
        for (Py_ssize_t i = 0; i < f.n; i += 3) {
            if (put_field(r.b, f.v[i], r.s + f.v[i + 1], r.s + f.v[i + 2], headers, cls) < 0)
                goto done;
        }
        out = scanned(&r, NULL);
        goto done;
    }
    /* offsets from s (the fields' already) */
    PyObject *fields = PyTuple_New(f.n);
    if (fields == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < f.n; i++) {
        PyObject *x = PyLong_FromSsize_t(f.v[i]);
        if (x == NULL) {
            Py_DECREF(fields);
            goto done;
        }
        PyTuple_SET_ITEM(fields, i, x);
    }
    out = scanned(&r, fields);
done:
    if (f.v != f.local)
        PyMem_Free(f.v);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(buf, s, e, fast, is_request, software): the header block at buf[s] "
     "(analyzer.core.http1._scan_head)."},
    {"scan_into", (PyCFunction)(void (*)(void))scan_into, METH_FASTCALL,
     "scan_into(buf, s, e, fast, is_request, software, headers, cls): scan's numbers, "
     "its fields put into headers and cls (analyzer.core.http1._scan_head)."},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "configure(names, kinds, framing, length, present, max_software, interned, "
     "interned_max): the tables scan_into puts fields in with (http1's)."},
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
