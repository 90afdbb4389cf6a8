/*
 * The selector loop's side of connections: the map of transports, and
 * connecting a socket.
 *
 * BaseSelectorEventLoop keeps its transports in loop._transports, a
 * weakref.WeakValueDictionary from file descriptor to transport.  A socket
 * transport enters itself there when it is made, and the loop looks there
 * (_ensure_fd_no_transport()) before it lets a reader or a writer watch a
 * descriptor, so that nothing else reads or writes a transport's socket.
 * Through WeakValueDictionary's Python methods each of those is two or
 * three frames, and a look-up of a free descriptor raises and catches a
 * KeyError: for a service that sets up a connection per request, that
 * costs about as much as the request's reads and writes.  Here the map is
 * read and written on its own dict, as its methods would do it, while it
 * is a WeakValueDictionary whose methods, and KeyedRef's, are still the
 * ones weakref defines; any other map is used as a mapping.
 *
 * _SelectorLoopCore gains, in C, _ensure_fd_no_transport() and the public
 * add_reader(), remove_reader(), add_writer() and remove_writer() that
 * call it; and _sock_connect(), _sock_connect_cb() and _sock_write_done(),
 * which sock_connect() (and so create_connection()) runs around the
 * connect() call.  A plain non-blocking socket.socket is connected with
 * its connect_ex(), so the usual "in progress" costs no exception.  A
 * call with arguments the methods are not usually given goes to the
 * pure-Python method (selector_events._py_selector_methods), so its
 * errors read the same.
 */

#include "module.h"

#include <errno.h>


/* ---------- The map of transports ---------- */

/* weakref's WeakValueDictionary and KeyedRef, with their methods as they
   are now; when weakref does not have them as expected every map is used
   as a mapping (map_loaded -1). */
static int
connections_load_map(connections_state *cs)
{
    PyObject *mod = PyImport_ImportModule("weakref");
    if (mod == NULL) {
        return -1;
    }
    PyObject *wvd = PyObject_GetAttrString(mod, "WeakValueDictionary");
    PyObject *kr = wvd != NULL ? PyObject_GetAttrString(mod, "KeyedRef")
                               : NULL;
    if (kr == NULL) {
        Py_XDECREF(wvd);
        Py_DECREF(mod);
        return -1;
    }
    PyObject *found[4] = {NULL, NULL, NULL, NULL};
    if (PyType_Check(wvd) && PyType_Check(kr)
        && PyType_IsSubtype((PyTypeObject *)kr, &_PyWeakref_RefType)) {
        found[0] = _PyType_Lookup((PyTypeObject *)wvd, cs->str_getitem);
        found[1] = _PyType_Lookup((PyTypeObject *)wvd, cs->str_setitem);
        found[2] = _PyType_Lookup((PyTypeObject *)kr, cs->str_new);
        found[3] = _PyType_Lookup((PyTypeObject *)kr, cs->str_init);
    }
    if (found[0] == NULL || found[1] == NULL || found[2] == NULL
        || found[3] == NULL) {
        cs->map_loaded = -1;
        Py_DECREF(kr);
        Py_DECREF(wvd);
        Py_DECREF(mod);
        return 0;
    }
    Py_XSETREF(cs->wvd_getitem, Py_NewRef(found[0]));
    Py_XSETREF(cs->wvd_setitem, Py_NewRef(found[1]));
    Py_XSETREF(cs->keyedref_new, Py_NewRef(found[2]));
    Py_XSETREF(cs->keyedref_init, Py_NewRef(found[3]));
    Py_XSETREF(cs->weakref_dict, Py_NewRef(PyModule_GetDict(mod)));
    Py_XSETREF(cs->keyedref_type, kr);
    Py_XSETREF(cs->wvd_type, wvd);
    cs->map_loaded = 1;
    Py_DECREF(mod);
    return 0;
}

/* Whether map can be read (or, when setting, written) on its own dict:
   it is a WeakValueDictionary whose __getitem__ (__setitem__) is still
   weakref's, and no removal waits to be committed (the method would
   commit it first).  1 with *data its dict (new reference), 0 to use map
   as a mapping, -1 on error. */
static int
connections_plain(connections_state *cs, PyObject *map, int setting,
                  PyObject **data)
{
    *data = NULL;
    if (cs->map_loaded >= 0 && cs->wvd_type == NULL
        && connections_load_map(cs) < 0) {
        return -1;
    }
    if (cs->map_loaded < 0
        || !Py_IS_TYPE(map, (PyTypeObject *)cs->wvd_type)
        || _PyType_Lookup(Py_TYPE(map),
                          setting ? cs->str_setitem : cs->str_getitem)
           != (setting ? cs->wvd_setitem : cs->wvd_getitem)) {
        return 0;
    }
    PyObject *pending = PyObject_GetAttr(map, cs->str_pending_removals);
    if (pending == NULL) {
        return -1;
    }
    int idle = PyList_CheckExact(pending) && PyList_GET_SIZE(pending) == 0;
    Py_DECREF(pending);
    if (!idle) {
        return 0;
    }
    PyObject *d = PyObject_GetAttr(map, cs->str_data);
    if (d == NULL) {
        return -1;
    }
    if (!PyDict_CheckExact(d)) {
        Py_DECREF(d);
        return 0;
    }
    *data = d;
    return 1;
}

/* Whether weakref.KeyedRef is still the class connections_load_map() found,
   with its __new__ and __init__: 1, 0, -1 on error. */
static int
connections_keyedref_plain(connections_state *cs)
{
    PyObject *kr = PyDict_GetItemWithError(cs->weakref_dict,
                                           cs->str_keyedref);
    if (kr == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return kr == cs->keyedref_type
           && _PyType_Lookup((PyTypeObject *)kr, cs->str_new)
              == cs->keyedref_new
           && _PyType_Lookup((PyTypeObject *)kr, cs->str_init)
              == cs->keyedref_init;
}

/* map[key], as _ensure_fd_no_transport() asks it: 1 with *value (new
   reference), 0 when there is none (map raised KeyError, cleared), -1 on
   error. */
static int
connections_map_get(connections_state *cs, PyObject *map, PyObject *key,
                    PyObject **value)
{
    *value = NULL;
    PyObject *data;
    int plain = connections_plain(cs, map, 0, &data);
    if (plain < 0) {
        return -1;
    }
    PyObject *o;
    if (plain) {
        /* o = self.data[key](); a dead reference is a KeyError */
        PyObject *ref = PyDict_GetItemWithError(data, key);
        Py_XINCREF(ref);
        Py_DECREF(data);
        if (ref == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        o = PyObject_CallNoArgs(ref);
        Py_DECREF(ref);
        if (o == Py_None) {
            Py_DECREF(o);
            return 0;
        }
    }
    else {
        o = PyObject_GetItem(map, key);
        if (o == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            return 0;
        }
    }
    if (o == NULL) {
        return -1;
    }
    *value = o;
    return 1;
}

int
connections_map_set(asyncio_state *st, PyObject *map, PyObject *key,
                    PyObject *transport)
{
    connections_state *cs = &st->connections;
    PyObject *data;
    int plain = connections_plain(cs, map, 1, &data);
    if (plain > 0) {
        plain = connections_keyedref_plain(cs);
        if (plain <= 0) {
            Py_DECREF(data);
        }
    }
    if (plain <= 0) {
        return plain < 0 ? -1 : PyObject_SetItem(map, key, transport);
    }
    /* data[key] = KeyedRef(transport, self._remove, key), with what
       KeyedRef's __new__ does (weakref.ref's __new__, then the key; its
       __init__ only checks the arguments ref's __new__ took) */
    PyObject *remove = PyObject_GetAttr(map, cs->str_remove);
    PyObject *args = remove != NULL ? PyTuple_Pack(2, transport, remove)
                                    : NULL;
    Py_XDECREF(remove);
    PyObject *ref = args != NULL ? _PyWeakref_RefType.tp_new(
        (PyTypeObject *)cs->keyedref_type, args, NULL) : NULL;
    Py_XDECREF(args);
    int rc = -1;
    if (ref != NULL && PyObject_SetAttr(ref, cs->str_key, key) == 0) {
        rc = PyDict_SetItem(data, key, ref);
    }
    Py_XDECREF(ref);
    Py_DECREF(data);
    return rc;
}


/* ---------- Helpers ---------- */

/* Whether a method was called with n positional arguments and no
   keywords, the way the loop calls it. */
static inline int
connections_positional(size_t nargsf, PyObject *kwnames, Py_ssize_t n)
{
    return PyVectorcall_NARGS(nargsf) == n
           && (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0);
}

/* self.<name>(*args) */
static PyObject *
connections_call_method(PyObject *name, PyObject *self,
                        PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *small[8];
    PyObject **stack = small;
    if (nargs + 1 > (Py_ssize_t)Py_ARRAY_LENGTH(small)) {
        stack = PyMem_New(PyObject *, nargs + 1);
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
    }
    stack[0] = self;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        stack[i + 1] = args[i];
    }
    PyObject *res = PyObject_VectorcallMethod(
        name, stack, (nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return res;
}

/* self._ensure_fd_no_transport(fd): the loop's own method or an
   override. */
static int
connections_call_ensure(asyncio_state *st, PyObject *self, PyObject *fd)
{
    return drop_result(connections_call_method(
        st->connections.str_ensure_fd_no_transport, self, &fd, 1));
}

/* raise ValueError(f"Invalid file object: {fd!r}") from None, in the
   handling of the exception being raised */
static void
connections_invalid_fd(PyObject *fd)
{
    PyObject *context = fetch_exception();
    raise_formatted(PyExc_ValueError, "Invalid file object: %R", fd);
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        Py_XDECREF(context);
        return;
    }
    PyException_SetContext(exc, context);
    PyException_SetCause(exc, NULL);       /* from None */
    raise_instance(exc);
    Py_DECREF(exc);
}


/* ---------- Descriptors and transports ---------- */

/* The descriptor of fd as the pure method finds it: fd itself when it is
   an int, else int(fd.fileno()).  New reference, or NULL. */
static PyObject *
connections_fileno(connections_state *cs, PyObject *fd)
{
    if (PyLong_Check(fd)) {
        return Py_NewRef(fd);
    }
    PyObject *res = PyObject_CallMethodNoArgs(fd, cs->str_fileno);
    PyObject *fileno = res != NULL ? PyNumber_Long(res) : NULL;
    Py_XDECREF(res);
    if (fileno == NULL
        && (PyErr_ExceptionMatches(PyExc_AttributeError)
            || PyErr_ExceptionMatches(PyExc_TypeError)
            || PyErr_ExceptionMatches(PyExc_ValueError))) {
        connections_invalid_fd(fd);
    }
    return fileno;
}

/* _ensure_fd_no_transport(fd): RuntimeError when a transport that is not
   closing has fd. */
static int
connections_ensure(asyncio_state *st, PyObject *loop, PyObject *fd)
{
    connections_state *cs = &st->connections;
    PyObject *fileno = connections_fileno(cs, fd);
    if (fileno == NULL) {
        return -1;
    }
    PyObject *map = PyObject_GetAttr(loop, cs->str_transports);
    PyObject *transport = NULL;
    int found = map != NULL
                ? connections_map_get(cs, map, fileno, &transport) : -1;
    Py_XDECREF(map);
    Py_DECREF(fileno);
    if (found <= 0) {
        return found;
    }
    int closing = call_truth(PyObject_CallMethodNoArgs(transport,
                                                       cs->str_is_closing));
    if (closing == 0) {
        raise_formatted(PyExc_RuntimeError,
                        "File descriptor %R is used by transport %R",
                        fd, transport);
    }
    Py_DECREF(transport);
    return closing > 0 ? 0 : -1;
}

static PyObject *
connections__ensure_fd_no_transport(CMETHOD_ARGS)
{
    asyncio_state *st = cls_state(cls);
    if (!connections_positional(nargsf, kwnames, 1)) {
        return loop_call_py_selector_method(
            st, op, st->connections.str_ensure_fd_no_transport, args,
            nargsf, kwnames);
    }
    return none_or_error(connections_ensure(st, op, args[0]));
}

/* add_reader(fd, callback, *args) and add_writer() (which 0 and 1):
   _ensure_fd_no_transport(fd), then the private method; None. */
static PyObject *
connections_add_handler(asyncio_state *st, PyObject *self, int which,
                        PyObject *const *args, size_t nargsf,
                        PyObject *kwnames)
{
    connections_state *cs = &st->connections;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0)) {
        return loop_call_py_selector_method(
            st, self, which == 0 ? cs->str_add_reader : cs->str_add_writer,
            args, nargsf, kwnames);
    }
    if (connections_call_ensure(st, self, args[0]) < 0) {
        return NULL;
    }
    PyObject *res = connections_call_method(st->loop.str_handler[which],
                                            self, args, nargs);
    return none_or_error(drop_result(res));
}

/* remove_reader(fd) and remove_writer(fd) (which 0 and 1):
   _ensure_fd_no_transport(fd), then the private method's result. */
static PyObject *
connections_remove_handler(asyncio_state *st, PyObject *self, int which,
                           PyObject *const *args, size_t nargsf,
                           PyObject *kwnames)
{
    connections_state *cs = &st->connections;
    if (!connections_positional(nargsf, kwnames, 1)) {
        return loop_call_py_selector_method(
            st, self,
            which == 0 ? cs->str_remove_reader : cs->str_remove_writer,
            args, nargsf, kwnames);
    }
    if (connections_call_ensure(st, self, args[0]) < 0) {
        return NULL;
    }
    return connections_call_method(st->loop.str_handler[2 + which], self,
                                   args, 1);
}

static PyObject *
connections_add_reader(CMETHOD_ARGS)
{
    return connections_add_handler(cls_state(cls), op, 0, args, nargsf,
                                   kwnames);
}

static PyObject *
connections_add_writer(CMETHOD_ARGS)
{
    return connections_add_handler(cls_state(cls), op, 1, args, nargsf,
                                   kwnames);
}

static PyObject *
connections_remove_reader(CMETHOD_ARGS)
{
    return connections_remove_handler(cls_state(cls), op, 0, args, nargsf,
                                      kwnames);
}

static PyObject *
connections_remove_writer(CMETHOD_ARGS)
{
    return connections_remove_handler(cls_state(cls), op, 1, args, nargsf,
                                      kwnames);
}


/* ---------- Connecting ----------
 *
 * sock_connect() resolves the address, makes a future and calls
 * _sock_connect(fut, sock, address), which starts the connection: done
 * at once, or going on in the background, when the loop waits for the
 * socket to be writable (_sock_connect_cb()) and then stops watching it
 * (_sock_write_done(), a done callback of the future). */

/* socket.socket, what it has of _socket.socket, and socket.SOL_SOCKET and
   socket.SO_ERROR, when first needed */
static int
connections_load_connect(connections_state *cs)
{
    if (cs->so_error_args != NULL) {
        return 0;
    }
    PyObject *base = NULL, *level = NULL, *option = NULL;
    if (import_once(&base, "_socket", "socket") < 0) {
        return -1;
    }
    PyObject *connect = _PyType_Lookup((PyTypeObject *)base,
                                       cs->str_connect);
    PyObject *connect_ex = _PyType_Lookup((PyTypeObject *)base,
                                          cs->str_connect_ex);
    Py_XSETREF(cs->sock_connect, Py_XNewRef(connect));
    Py_XSETREF(cs->sock_connect_ex, Py_XNewRef(connect_ex));
    Py_DECREF(base);
    if (import_once(&cs->socket_type, "socket", "socket") < 0
        || import_once(&level, "socket", "SOL_SOCKET") < 0
        || import_once(&option, "socket", "SO_ERROR") < 0) {
        Py_XDECREF(level);
        return -1;
    }
    cs->so_error_args = PyTuple_Pack(2, level, option);
    Py_DECREF(level);
    Py_DECREF(option);
    return cs->so_error_args != NULL ? 0 : -1;
}

#ifndef MS_WINDOWS
/* Whether address is one whose errors connect() and connect_ex() word
   alike: a tuple (host, port[, flowinfo[, scope_id]]), as the resolved
   addresses of sock_connect() are, with a str host and the numbers in
   range (the socket module names the method in the errors of other
   kinds and of numbers out of range). */
static int
connections_simple_address(PyObject *address)
{
    static const unsigned long long limits[] = {0xffff, 0xfffff, UINT_MAX};
    if (!PyTuple_CheckExact(address) || PyTuple_GET_SIZE(address) < 2
        || PyTuple_GET_SIZE(address) > 4
        || !PyUnicode_CheckExact(PyTuple_GET_ITEM(address, 0))) {
        return 0;
    }
    for (Py_ssize_t i = 1; i < PyTuple_GET_SIZE(address); i++) {
        PyObject *n = PyTuple_GET_ITEM(address, i);
        if (!PyLong_CheckExact(n)) {
            return 0;
        }
        unsigned long long v = PyLong_AsUnsignedLongLong(n);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        if (v > limits[i - 1]) {
            return 0;
        }
    }
    return 1;
}
#endif

/* Whether sock.connect_ex(address) can stand for sock.connect(address):
   sock is a plain socket.socket whose class still has _socket.socket's
   connect and connect_ex, it has no timeout (with one, connect_ex()
   reports a time-out as EWOULDBLOCK where connect() raises TimeoutError),
   and the address is a simple one.  1, 0, -1 on error. */
static int
connections_plain_socket(connections_state *cs, PyObject *sock,
                         PyObject *address)
{
#ifdef MS_WINDOWS
    /* connect_ex() gives Winsock's codes; connect() is asked instead */
    return 0;
#else
    if (cs->sock_connect == NULL || cs->sock_connect_ex == NULL
        || !Py_IS_TYPE(sock, (PyTypeObject *)cs->socket_type)
        || _PyType_Lookup(Py_TYPE(sock), cs->str_connect)
           != cs->sock_connect
        || _PyType_Lookup(Py_TYPE(sock), cs->str_connect_ex)
           != cs->sock_connect_ex
        || !connections_simple_address(address)) {
        return 0;
    }
    PyObject *timeout = PyObject_CallMethodNoArgs(sock, cs->str_gettimeout);
    if (timeout == NULL) {
        return -1;
    }
    int rc = PyFloat_CheckExact(timeout)
             && PyFloat_AS_DOUBLE(timeout) == 0.0;
    Py_DECREF(timeout);
    return rc;
#endif
}

/* The exception being raised is one the pure methods take to mean that
   the connection goes on (BlockingIOError, InterruptedError): cleared. */
static int
connections_in_progress(void)
{
    if (PyErr_ExceptionMatches(PyExc_BlockingIOError)
        || PyErr_ExceptionMatches(PyExc_InterruptedError)) {
        PyErr_Clear();
        return 1;
    }
    return 0;
}

/* sock.connect(address): 0 when connected, 1 when the connection goes on
   in the background (connect() would raise BlockingIOError or
   InterruptedError), -1 with the exception connect() raises. */
static int
connections_connect(connections_state *cs, PyObject *sock,
                    PyObject *address)
{
    int plain = connections_plain_socket(cs, sock, address);
    if (plain < 0) {
        return -1;
    }
    if (!plain) {
        PyObject *res = PyObject_CallMethodOneArg(sock, cs->str_connect,
                                                  address);
        if (res != NULL) {
            Py_DECREF(res);
            return 0;
        }
        return connections_in_progress() ? 1 : -1;
    }
    /* connect_ex() returns the errno connect() would raise as an
       OSError; it raises what it would raise otherwise */
    PyObject *res = PyObject_CallMethodOneArg(sock, cs->str_connect_ex,
                                              address);
    if (res == NULL) {
        return connections_in_progress() ? 1 : -1;
    }
    int err = _PyLong_AsInt(res);
    Py_DECREF(res);
    if (err == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (err == 0) {
        return 0;
    }
    if (err == EINPROGRESS || err == EAGAIN || err == EWOULDBLOCK
        || err == EALREADY || err == EINTR) {
        return 1;
    }
    errno = err;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

/* fut.set_result(None), or fut.set_exception(exc) for the exception being
   raised unless it must propagate; None or NULL. */
static PyObject *
connections_settle(connections_state *cs, PyObject *fut, int failed)
{
    if (!failed) {
        return PyObject_CallMethodOneArg(fut, cs->str_set_result, Py_None);
    }
    if (exception_propagates()) {
        return NULL;
    }
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallMethodOneArg(fut, cs->str_set_exception,
                                              exc);
    Py_DECREF(exc);
    return res;
}

/* The connection goes on: as the pure method,
       self._ensure_fd_no_transport(fd)
       handle = self._add_writer(fd, self._sock_connect_cb, fut, sock,
                                 address)
       fut.add_done_callback(
           functools.partial(self._sock_write_done, fd, handle=handle)) */
static PyObject *
connections_wait_connected(asyncio_state *st, PyObject *self, PyObject *fd,
                           PyObject *fut, PyObject *sock, PyObject *address)
{
    connections_state *cs = &st->connections;
    if (connections_call_ensure(st, self, fd) < 0) {
        return NULL;
    }
    PyObject *cb = PyObject_GetAttr(self, cs->str_sock_connect_cb);
    if (cb == NULL) {
        return NULL;
    }
    PyObject *writer_args[5] = {fd, cb, fut, sock, address};
    PyObject *handle = connections_call_method(st->loop.str_handler[1],
                                               self, writer_args, 5);
    Py_DECREF(cb);
    if (handle == NULL) {
        return NULL;
    }
    PyObject *done = PyObject_GetAttr(self, cs->str_sock_write_done);
    PyObject *partial = NULL;
    if (done != NULL) {
        PyObject *partial_type = import_attr("functools", "partial");
        if (partial_type != NULL) {
            PyObject *stack[3] = {done, fd, handle};
            partial = PyObject_Vectorcall(partial_type, stack, 2,
                                          cs->kw_handle);
            Py_DECREF(partial_type);
        }
        Py_DECREF(done);
    }
    Py_DECREF(handle);
    if (partial == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallMethodOneArg(fut, st->str_add_done_callback,
                                              partial);
    Py_DECREF(partial);
    return res;
}

static PyObject *
connections__sock_connect(CMETHOD_ARGS)
{
    asyncio_state *st = cls_state(cls);
    connections_state *cs = &st->connections;
    if (!connections_positional(nargsf, kwnames, 3)) {
        return loop_call_py_selector_method(st, op, cs->str_sock_connect,
                                            args, nargsf, kwnames);
    }
    PyObject *fut = args[0], *sock = args[1], *address = args[2];
    if (connections_load_connect(cs) < 0) {
        return NULL;
    }
    PyObject *fd = PyObject_CallMethodNoArgs(sock, cs->str_fileno);
    if (fd == NULL) {
        return NULL;
    }
    int rc = connections_connect(cs, sock, address);
    PyObject *res = rc > 0
        ? connections_wait_connected(st, op, fd, fut, sock, address)
        : connections_settle(cs, fut, rc < 0);
    Py_DECREF(fd);
    return none_or_error(drop_result(res));
}

/* err != 0 for the error getsockopt() gave: raise
   OSError(err, f'Connect call failed {address}') and return -1; 0 when
   err is 0. */
static int
connections_raise_connect_error(PyObject *err, PyObject *address)
{
    PyObject *zero = PyLong_FromLong(0);
    int failed = zero != NULL ? call_truth(PyObject_RichCompare(err, zero,
                                                                Py_NE))
                              : -1;
    Py_XDECREF(zero);
    if (failed <= 0) {
        return failed;
    }
    PyObject *text = PyObject_Format(address, NULL);
    PyObject *msg = text != NULL
        ? PyUnicode_FromFormat("Connect call failed %U", text) : NULL;
    Py_XDECREF(text);
    PyObject *exc = msg != NULL
        ? PyObject_CallFunctionObjArgs(PyExc_OSError, err, msg, NULL)
        : NULL;
    Py_XDECREF(msg);
    if (exc != NULL) {
        raise_instance(exc);
        Py_DECREF(exc);
    }
    return -1;
}

static PyObject *
connections__sock_connect_cb(CMETHOD_ARGS)
{
    asyncio_state *st = cls_state(cls);
    connections_state *cs = &st->connections;
    if (!connections_positional(nargsf, kwnames, 3)) {
        return loop_call_py_selector_method(st, op, cs->str_sock_connect_cb,
                                            args, nargsf, kwnames);
    }
    PyObject *fut = args[0], *sock = args[1], *address = args[2];
    /* the future may have been cancelled since the event came */
    int done = call_truth(PyObject_CallMethodNoArgs(fut, st->str_done));
    if (done != 0) {
        return done < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (connections_load_connect(cs) < 0) {
        return NULL;
    }
    PyObject *stack[3] = {sock, PyTuple_GET_ITEM(cs->so_error_args, 0),
                          PyTuple_GET_ITEM(cs->so_error_args, 1)};
    PyObject *err = PyObject_VectorcallMethod(
        cs->str_getsockopt, stack, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    int rc = err != NULL ? connections_raise_connect_error(err, address)
                         : -1;
    Py_XDECREF(err);
    if (rc < 0 && connections_in_progress()) {
        /* still connecting: the writer stays */
        Py_RETURN_NONE;
    }
    return none_or_error(drop_result(connections_settle(cs, fut, rc < 0)));
}

/* _sock_write_done(fd, fut, handle=None): the future is done, so the
   loop stops watching fd, unless handle (the writer) was cancelled. */
static PyObject *
connections__sock_write_done(CMETHOD_ARGS)
{
    asyncio_state *st = cls_state(cls);
    connections_state *cs = &st->connections;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *handle = Py_None;
    if (nkw == 0 && (nargs == 2 || nargs == 3)) {
        handle = nargs == 3 ? args[2] : Py_None;
    }
    else if (nkw == 1 && nargs == 2
             && PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0))
             && PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0),
                                  PyTuple_GET_ITEM(cs->kw_handle, 0)) == 0) {
        handle = args[2];
    }
    else {
        return loop_call_py_selector_method(st, op, cs->str_sock_write_done,
                                            args, nargsf, kwnames);
    }
    if (handle != Py_None) {
        int cancelled = call_truth(PyObject_CallMethodNoArgs(
            handle, st->str_cancelled));
        if (cancelled != 0) {
            return cancelled < 0 ? NULL : Py_NewRef(Py_None);
        }
    }
    return none_or_error(drop_result(connections_call_method(
        cs->str_remove_writer, op, args, 1)));
}


/* ---------- The methods ---------- */

static PyMethodDef connections_methods[] = {
    CMETHOD("_ensure_fd_no_transport", connections__ensure_fd_no_transport,
            PyDoc_STR("_ensure_fd_no_transport($self, fd, /)\n--\n\n"
                      "Raise RuntimeError if a transport that is not "
                      "closing owns fd (an int\nor an object with a "
                      "fileno() method).")),
    CMETHOD("add_reader", connections_add_reader,
            PyDoc_STR("add_reader($self, fd, callback, /, *args)\n--\n\n"
                      "Call callback(*args) whenever fd is readable.\n\n"
                      "fd must not belong to a transport.")),
    CMETHOD("remove_reader", connections_remove_reader,
            PyDoc_STR("remove_reader($self, fd, /)\n--\n\n"
                      "Stop watching fd for reading; True if a reader "
                      "was registered.")),
    CMETHOD("add_writer", connections_add_writer,
            PyDoc_STR("add_writer($self, fd, callback, /, *args)\n--\n\n"
                      "Call callback(*args) whenever fd is writable.\n\n"
                      "fd must not belong to a transport.")),
    CMETHOD("remove_writer", connections_remove_writer,
            PyDoc_STR("remove_writer($self, fd, /)\n--\n\n"
                      "Stop watching fd for writing; True if a writer "
                      "was registered.")),
    CMETHOD("_sock_connect", connections__sock_connect,
            PyDoc_STR("_sock_connect($self, fut, sock, address, /)\n--\n\n"
                      "Start connecting sock to address; fut gets the "
                      "outcome, now or once\nthe socket is writable.")),
    CMETHOD("_sock_connect_cb", connections__sock_connect_cb,
            PyDoc_STR("_sock_connect_cb($self, fut, sock, address, /)\n"
                      "--\n\n"
                      "The connecting socket is writable: settle fut "
                      "with the outcome that\nSO_ERROR reports.")),
    CMETHOD("_sock_write_done", connections__sock_write_done,
            PyDoc_STR("_sock_write_done($self, fd, fut, /, handle=None)\n"
                      "--\n\n"
                      "fut is done: stop watching fd for writing, unless "
                      "the writer's handle\nwas cancelled.")),
    {NULL, NULL}
};

static int
connections_exec(PyObject *module, asyncio_state *st)
{
    if (loop_add_selector_methods(st, connections_methods) < 0) {
        return -1;
    }
    st->connections.kw_handle = Py_BuildValue("(s)", "handle");
    return st->connections.kw_handle != NULL ? 0 : -1;
}

static const asyncio_name connections_names[] = {
    ASYNCIO_NAME(connections.str_data, "data"),
    ASYNCIO_NAME(connections.str_getitem, "__getitem__"),
    ASYNCIO_NAME(connections.str_init, "__init__"),
    ASYNCIO_NAME(connections.str_key, "key"),
    ASYNCIO_NAME(connections.str_keyedref, "KeyedRef"),
    ASYNCIO_NAME(connections.str_new, "__new__"),
    ASYNCIO_NAME(connections.str_pending_removals, "_pending_removals"),
    ASYNCIO_NAME(connections.str_remove, "_remove"),
    ASYNCIO_NAME(connections.str_setitem, "__setitem__"),
    ASYNCIO_NAME(connections.str_transports, "_transports"),
    ASYNCIO_NAME(connections.str_connect, "connect"),
    ASYNCIO_NAME(connections.str_connect_ex, "connect_ex"),
    ASYNCIO_NAME(connections.str_ensure_fd_no_transport,
                 "_ensure_fd_no_transport"),
    ASYNCIO_NAME(connections.str_fileno, "fileno"),
    ASYNCIO_NAME(connections.str_getsockopt, "getsockopt"),
    ASYNCIO_NAME(connections.str_gettimeout, "gettimeout"),
    ASYNCIO_NAME(connections.str_is_closing, "is_closing"),
    ASYNCIO_NAME(connections.str_set_exception, "set_exception"),
    ASYNCIO_NAME(connections.str_set_result, "set_result"),
    ASYNCIO_NAME(connections.str_sock_connect, "_sock_connect"),
    ASYNCIO_NAME(connections.str_sock_connect_cb, "_sock_connect_cb"),
    ASYNCIO_NAME(connections.str_sock_write_done, "_sock_write_done"),
    ASYNCIO_NAME(connections.str_add_reader, "add_reader"),
    ASYNCIO_NAME(connections.str_add_writer, "add_writer"),
    ASYNCIO_NAME(connections.str_remove_reader, "remove_reader"),
    ASYNCIO_NAME(connections.str_remove_writer, "remove_writer"),
};

static const size_t connections_refs[] = {
    ASYNCIO_OFFSET(connections.wvd_type),
    ASYNCIO_OFFSET(connections.wvd_getitem),
    ASYNCIO_OFFSET(connections.wvd_setitem),
    ASYNCIO_OFFSET(connections.keyedref_type),
    ASYNCIO_OFFSET(connections.keyedref_new),
    ASYNCIO_OFFSET(connections.keyedref_init),
    ASYNCIO_OFFSET(connections.weakref_dict),
    ASYNCIO_OFFSET(connections.socket_type),
    ASYNCIO_OFFSET(connections.sock_connect),
    ASYNCIO_OFFSET(connections.sock_connect_ex),
    ASYNCIO_OFFSET(connections.so_error_args),
    ASYNCIO_OFFSET(connections.kw_handle),
};

const asyncio_part connections_part = {
    .names = connections_names,
    .nnames = Py_ARRAY_LENGTH(connections_names),
    .exec = connections_exec,
    .refs = connections_refs,
    .nrefs = Py_ARRAY_LENGTH(connections_refs),
};
