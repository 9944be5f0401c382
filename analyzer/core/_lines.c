/* The exchange store's lines, rewritten for the report's exchanges section: the C twin of
 * analyzer/core/readback.py's put_run_py (built with the compiled core by setup.py, used
 * only with it; the pure core runs the Python twin, and tests hold the two to the same
 * bytes: tests/test_store.py).
 *
 * A run is the encoded lines of one connection's exchanges, each ending in "\n" and each
 * starting with the same head, {"connection":"C7" (everything before the first ","). The
 * report wants each line's head swapped for the final one and the lines joined by a
 * separator: one pass with memchr, where the Python twin needs a slice, a replace and
 * concatenations (three copies).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static int
bytes_arg(PyObject *o, const char *what)
{
    if (!PyBytes_Check(o)) {
        PyErr_Format(PyExc_TypeError, "put_run: %s must be bytes", what);
        return 0;
    }
    return 1;
}

/* put_run(out, win, s, e, prefix, cid, lead, sep) -> int
 *
 * Appends to the bytearray ``out`` exactly what
 *     head = prefix + cid.encode() + b'"'
 *     lead + head + blob[i:-1].replace(b"\n" + blob[:i], sep + head)
 * gives, where blob = win[s:e] (0 <= s <= e <= len(win), else ValueError) and i is the
 * index of its first "," (ValueError when it has none, as bytes.index). Returns the
 * number of bytes appended. */
static PyObject *
put_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "put_run() takes 8 arguments");
        return NULL;
    }
    PyObject *out = args[0], *win = args[1], *prefix = args[4], *cid = args[5];
    PyObject *lead = args[6], *sep = args[7];
    if (!PyByteArray_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "put_run: out must be a bytearray");
        return NULL;
    }
    if (!bytes_arg(win, "win") || !bytes_arg(prefix, "prefix") || !bytes_arg(lead, "lead")
        || !bytes_arg(sep, "sep"))
        return NULL;
    if (!PyUnicode_Check(cid)) {
        PyErr_SetString(PyExc_TypeError, "put_run: cid must be str");
        return NULL;
    }
    Py_ssize_t s = PyLong_AsSsize_t(args[2]);
    if (s == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t e = PyLong_AsSsize_t(args[3]);
    if (e == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(win);
    if (s < 0 || s > e || e > n) {
        PyErr_SetString(PyExc_ValueError, "put_run: the run is not within the window");
        return NULL;
    }
    const char *b = PyBytes_AS_STRING(win) + s;
    Py_ssize_t len = e - s;
    const char *comma = len > 0 ? memchr(b, ',', (size_t)len) : NULL;
    if (comma == NULL) {
        PyErr_SetString(PyExc_ValueError, "subsection not found");
        return NULL;
    }
    Py_ssize_t cidlen;  /* (after the run's checks: the Python twin's order of errors) */
    const char *cidb = PyUnicode_AsUTF8AndSize(cid, &cidlen);
    if (cidb == NULL)
        return NULL;
    Py_ssize_t i = comma - b;                 /* the old head: b[0:i] */
    Py_ssize_t bend = len - 1 > i ? len - 1 : i;  /* the body: b[i:bend] (blob[i:-1]) */
    const char *pb = PyBytes_AS_STRING(prefix), *lb = PyBytes_AS_STRING(lead);
    const char *sb = PyBytes_AS_STRING(sep);
    Py_ssize_t pl = PyBytes_GET_SIZE(prefix), ll = PyBytes_GET_SIZE(lead);
    Py_ssize_t sl = PyBytes_GET_SIZE(sep);
    Py_ssize_t hl = pl + cidlen + 1;          /* the new head: prefix, cid, '"' */

    /* At most: lead, head, the body, and per newline in it a separator and a head in
     * place of the newline (a match replaces 1 + i bytes by sl + hl). */
    Py_ssize_t newlines = 0;
    for (const char *p = b + i, *end = b + bend; p < end;) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        if (q == NULL)
            break;
        newlines++;
        p = q + 1;
    }
    Py_ssize_t grow = sl + hl;
    if (newlines && grow > (PY_SSIZE_T_MAX - ll - hl - len) / newlines) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t bound = ll + hl + (bend - i) + newlines * grow;
    Py_ssize_t at = PyByteArray_GET_SIZE(out);
    if (bound > PY_SSIZE_T_MAX - at) {
        PyErr_NoMemory();
        return NULL;
    }
    /* Grown to at least twice what it holds, so a section built run by run reallocates
     * (and copies) a logarithmic number of times, not once per ~1/8 of its size: the
     * cut to what was written below keeps that room (a bytearray keeps its allocation
     * when it shrinks to no less than half of it). */
    Py_ssize_t want = at + bound;
    if (want > ((PyByteArrayObject *)out)->ob_alloc - 1 && at <= PY_SSIZE_T_MAX / 2
        && 2 * at > want)
        want = 2 * at;
    if (PyByteArray_Resize(out, want) < 0)
        return NULL;
    char *w = PyByteArray_AS_STRING(out) + at, *w0 = w;
    /* (win stays alive and unchanged: bytes; out is another object) */
    memcpy(w, lb, (size_t)ll); w += ll;
#define PUT_HEAD() do { memcpy(w, pb, (size_t)pl); w += pl; \
        memcpy(w, cidb, (size_t)cidlen); w += cidlen; *w++ = '"'; } while (0)
    PUT_HEAD();
    const char *p = b + i, *end = b + bend;
    while (p < end) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        if (q == NULL) {
            memcpy(w, p, (size_t)(end - p));
            w += end - p;
            break;
        }
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        /* "\n" + the old head here (all of it before the body's end)? replaced */
        if (end - (q + 1) >= i && memcmp(q + 1, b, (size_t)i) == 0) {
            memcpy(w, sb, (size_t)sl); w += sl;
            PUT_HEAD();
            p = q + 1 + i;
        } else {
            *w++ = '\n';
            p = q + 1;
        }
    }
#undef PUT_HEAD
    Py_ssize_t wrote = w - w0;
    if (PyByteArray_Resize(out, at + wrote) < 0)
        return NULL;
    return PyLong_FromSsize_t(wrote);
}

/* The bytes no scalar of orjson's holds (keyed). */
static const unsigned char not_scalar[256] = {
    ['['] = 1, ['{'] = 1, ['"'] = 1, [']'] = 1, ['}'] = 1, [':'] = 1,
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1,
};

/* keyed(arr, heads) -> bytes
 *
 * The JSON array arr, [v0,v1,...], as orjson encodes a tuple of scalars (numbers,
 * strings, true, false, null: no array or object inside, no space between), made the
 * JSON object {"k0":v0,"k1":v1,...} and a newline, where heads[i] is the bytes "ki":
 * (a key, encoded, and its colon). The same bytes orjson gives for the dict of those
 * keys and values with OPT_APPEND_NEWLINE, without a dict filled per line. Its input is
 * orjson's own output (core/spool.py), so only the structure is checked: ValueError when
 * arr is not an array of exactly len(heads) values, none an array or an object; the
 * values' own syntax is taken as orjson wrote it. */
static PyObject *
keyed(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "keyed() takes 2 arguments");
        return NULL;
    }
    PyObject *arr = args[0], *heads = args[1];
    if (!bytes_arg(arr, "arr"))
        return NULL;
    if (!PyTuple_Check(heads)) {
        PyErr_SetString(PyExc_TypeError, "keyed: heads must be a tuple of bytes");
        return NULL;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(heads), hsum = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *h = PyTuple_GET_ITEM(heads, i);
        if (!bytes_arg(h, "each head"))
            return NULL;
        hsum += PyBytes_GET_SIZE(h);
    }
    const char *a = PyBytes_AS_STRING(arr);
    Py_ssize_t n = PyBytes_GET_SIZE(arr);
    if (k == 0 || n < 3 || a[0] != '[' || a[n - 1] != ']')
        goto bad;
    /* "{" + per value its head and itself + the commas + "}" + "\n": the array's bytes
     * less its brackets, the heads, three */
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + hsum + 1);
    if (out == NULL)
        return NULL;
    char *w = PyBytes_AS_STRING(out);
    *w++ = '{';
    Py_ssize_t p = 1, i = 0;
    for (;;) {
        if (i >= k)
            goto bad_out;
        Py_ssize_t start = p;
        if (p < n - 1 && a[p] == '"') {
            /* the closing quote: the next one after an even run of backslashes */
            p++;
            for (;;) {
                const char *q = p < n - 1 ? memchr(a + p, '"', (size_t)(n - 1 - p)) : NULL;
                if (q == NULL)
                    goto bad_out;
                Py_ssize_t at = q - a, back = at;
                while (back > p && a[back - 1] == '\\')
                    back--;
                p = at + 1;
                if ((at - back) % 2 == 0)
                    break; /* (an odd run escapes the quote: go on past it) */
            }
        }
        else {
            while (p < n - 1 && a[p] != ',') {
                /* (orjson writes no space, and a scalar has no bracket, quote or colon) */
                if (not_scalar[(unsigned char)a[p]])
                    goto bad_out;
                p++;
            }
        }
        if (p == start)
            goto bad_out; /* an empty value */
        PyObject *h = PyTuple_GET_ITEM(heads, i);
        memcpy(w, PyBytes_AS_STRING(h), (size_t)PyBytes_GET_SIZE(h));
        w += PyBytes_GET_SIZE(h);
        memcpy(w, a + start, (size_t)(p - start));
        w += p - start;
        i++;
        if (p == n - 1)
            break; /* the closing bracket */
        if (a[p] != ',')
            goto bad_out;
        *w++ = ',';
        p++;
    }
    if (i != k)
        goto bad_out;
    *w++ = '}';
    *w++ = '\n';
    if (w - PyBytes_AS_STRING(out) != n + hsum + 1)
        goto bad_out; /* (cannot happen: the sizes add up) */
    return out;
bad_out:
    Py_DECREF(out);
bad:
    PyErr_SetString(PyExc_ValueError, "keyed: not a flat JSON array of one value per head");
    return NULL;
}

static PyMethodDef methods[] = {
    {"put_run", (PyCFunction)(void (*)(void))put_run, METH_FASTCALL,
     "put_run(out, win, s, e, prefix, cid, lead, sep) -> int: a run's lines, their heads "
     "swapped, appended to out (analyzer.core.readback.put_run_py says what)."},
    {"keyed", (PyCFunction)(void (*)(void))keyed, METH_FASTCALL,
     "keyed(arr, heads) -> bytes: a flat JSON array made the object of those keys, and "
     "a newline (the exchange store's lines)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lines",
    "The exchange store's lines rewritten for the report (analyzer/core/_lines.c).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__lines(void)
{
    return PyModule_Create(&module);
}
