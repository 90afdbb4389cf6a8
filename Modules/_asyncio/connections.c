/*
 * The selector loop's side of connections: accepting them, making their
 * transports, connecting sockets, and keeping other readers and writers
 * off the transports' descriptors.
 *
 * _SelectorLoopCore (loop.c) gets these methods of BaseSelectorEventLoop
 * in C:
 *   - _accept_connection(), run when a listening socket is readable, and
 *     _make_socket_transport(), which a new connection's transport comes
 *     from;
 *   - _ensure_fd_no_transport(), which asks the loop's map of transports
 *     (transport.c) whether a transport owns a descriptor, and the public
 *     add_reader(), remove_reader(), add_writer() and remove_writer() that
 *     call it;
 *   - _sock_connect(), _sock_connect_cb() and _sock_write_done(), which
 *     sock_connect() (and so create_connection()) runs around the
 *     connect() call.
 * A call with arguments the methods are not usually given goes to the
 * pure-Python method (selector_events._py_selector_methods), so its errors
 * read the same.
 */

#include "module.h"

#include <errno.h>
#ifndef MS_WINDOWS
#  include <arpa/inet.h>
#  include <netinet/in.h>
#  include <sys/socket.h>
#endif


/* ---------- Helpers ---------- */

/* Whether a method was called with n positional arguments and no
   keywords, the way the loop calls it. */
static inline int
connections_positional(size_t nargsf, PyObject *kwnames, Py_ssize_t n)
{
    return PyVectorcall_NARGS(nargsf) == n
           && (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0);
}

/* asyncio.selector_events is imported: it made the transport type, which
   loaded what accepting, making transports and connecting use. */
static int
connections_ready(transport_state *ts)
{
    if (ts->py_module == NULL) {
        PyObject *mod = PyImport_ImportModule("asyncio.selector_events");
        if (mod == NULL) {
            return -1;
        }
        Py_DECREF(mod);
        if (ts->py_module == NULL) {
            PyErr_SetString(PyExc_RuntimeError,
                            "asyncio.selector_events made no socket "
                            "transport class");
            return -1;
        }
    }
    return 0;
}

/* self._ensure_fd_no_transport(fd): the loop's own method or an
   override. */
static int
connections_call_ensure(asyncio_state *st, PyObject *self, PyObject *fd)
{
    return drop_result(call_method_with_self(
        st->connections.str_ensure_fd_no_transport, self, &fd, 1));
}

/* raise ValueError(f"Invalid file object: {fd!r}") from None, in the
   handling of the exception being raised; what repr(fd) raises instead
   keeps that exception as its context, unsuppressed, as in the pure
   method */
static void
connections_invalid_fd(PyObject *fd)
{
    PyObject *context = fetch_exception();
    PyObject *msg = PyUnicode_FromFormat("Invalid file object: %R", fd);
    PyObject *exc = msg != NULL ? PyObject_CallOneArg(PyExc_ValueError, msg)
                                : NULL;
    Py_XDECREF(msg);
    int from_none = exc != NULL;
    if (exc == NULL) {
        exc = fetch_exception();
    }
    if (exc == NULL) {
        Py_XDECREF(context);
        return;
    }
    PyException_SetContext(exc, context);
    if (from_none) {
        PyException_SetCause(exc, NULL);
    }
    raise_instance(exc);
    Py_DECREF(exc);
}


/* ---------- Descriptors and transports ---------- */

/* The descriptor of fd as the pure method finds it: fd itself when it is
   an int, else int(fd.fileno()).  New reference, or NULL. */
static PyObject *
connections_fileno(asyncio_state *st, PyObject *fd)
{
    /* isinstance(fd, int), which a __class__ property can answer */
    int is_int = PyLong_Check(fd)
                 ? 1 : PyObject_IsInstance(fd, (PyObject *)&PyLong_Type);
    if (is_int != 0) {
        return is_int < 0 ? NULL : Py_NewRef(fd);
    }
    PyObject *res = PyObject_CallMethodNoArgs(fd, st->transport.str_fileno);
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
    PyObject *fileno = connections_fileno(st, fd);
    if (fileno == NULL) {
        return -1;
    }
    PyObject *map = PyObject_GetAttr(loop, st->transport.str_transports);
    PyObject *transport = NULL;
    int found = map != NULL ? transport_map_get(&st->transport, map, fileno,
                                                &transport) : -1;
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
    PyObject *res = call_method_with_self(st->loop.str_handler[which],
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
    return call_method_with_self(st->loop.str_handler[2 + which], self,
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


/* ---------- Accepting connections ----------
 *
 * _accept_connection(): the listening socket is readable, so accept up
 * to `backlog` connections and start a task of the loop's
 * _accept_connection2() for each, as the pure method does.  A plain
 * listening socket.socket is accepted as socket.socket.accept() does it,
 * but with the socket's family and type read as ints (the method converts
 * them to enums for the new socket's constructor, which stores ints), and
 * the accept queue running dry ends the loop without a Python frame to
 * catch the BlockingIOError. */

/* `*first, *second = pair` as an assignment unpacks (new references):
   0, or -1 with the statement's error. */
static int
accept_unpack2(PyObject *pair, PyObject **first, PyObject **second)
{
    if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2) {
        *first = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
        *second = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
        return 0;
    }
    PyObject *it = PyObject_GetIter(pair);
    if (it == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)
            && Py_TYPE(pair)->tp_iter == NULL && !PySequence_Check(pair)) {
            PyErr_Format(PyExc_TypeError,
                         "cannot unpack non-iterable %.200s object",
                         Py_TYPE(pair)->tp_name);
        }
        return -1;
    }
    PyObject *items[3] = {NULL, NULL, NULL};
    int n = 0;
    while (n < 3 && (items[n] = PyIter_Next(it)) != NULL) {
        n++;
    }
    Py_DECREF(it);
    if (!PyErr_Occurred()) {
        if (n < 2) {
            PyErr_Format(PyExc_ValueError,
                         "not enough values to unpack (expected 2, got %d)",
                         n);
        }
        else if (n > 2) {
            PyErr_SetString(PyExc_ValueError,
                            "too many values to unpack (expected 2)");
        }
    }
    if (PyErr_Occurred()) {
        for (int i = 0; i < n; i++) {
            Py_DECREF(items[i]);
        }
        return -1;
    }
    *first = items[0];
    *second = items[1];
    return 0;
}

/* socket.socket.accept() of a plain socket: the new socket.socket, made
   from _accept()'s descriptor with sock's family, type and proto; and,
   while there is no default timeout, blocking if sock has a timeout
   (so that it does not inherit a platform's non-blocking flag). */
static PyObject *
accept_plain(asyncio_state *st, PyObject *sock, PyObject **addr)
{
    transport_state *ts = &st->transport;
    connections_state *cs = &st->connections;
    PyObject *pair = PyObject_CallMethodNoArgs(sock, cs->str__accept);
    if (pair == NULL) {
        return NULL;
    }
    PyObject *fd;
    int rc = accept_unpack2(pair, &fd, addr);
    Py_DECREF(pair);
    if (rc < 0) {
        return NULL;
    }
    PyObject *stack[4] = {NULL, NULL, NULL, fd};
    PyObject *conn = NULL;
    stack[0] = Py_TYPE(ts->sock_family)->tp_descr_get(ts->sock_family,
                                                      sock, NULL);
    stack[1] = stack[0] != NULL
        ? Py_TYPE(ts->sock_type)->tp_descr_get(ts->sock_type, sock, NULL)
        : NULL;
    stack[2] = stack[1] != NULL
        ? Py_TYPE(ts->sock_proto)->tp_descr_get(ts->sock_proto, sock, NULL)
        : NULL;
    if (stack[2] != NULL) {
        conn = PyObject_Vectorcall(ts->socket_type, stack, 3, ts->kw_fileno);
    }
    for (int i = 0; i < 4; i++) {
        Py_XDECREF(stack[i]);
    }
    PyObject *fn = conn != NULL
        ? PyObject_GetAttr(ts->socket_module, cs->str_getdefaulttimeout)
        : NULL;
    PyObject *deftimeout = fn != NULL ? PyObject_CallNoArgs(fn) : NULL;
    Py_XDECREF(fn);
    int block = 0;
    if (deftimeout == Py_None) {
        block = call_truth(PyObject_CallMethodNoArgs(sock,
                                                     cs->str_gettimeout));
    }
    else if (deftimeout == NULL) {
        block = -1;
    }
    Py_XDECREF(deftimeout);
    if (block > 0) {
        block = drop_result(PyObject_CallMethodOneArg(
            conn, cs->str_setblocking, Py_True));
    }
    if (block < 0) {
        Py_CLEAR(conn);
        Py_CLEAR(*addr);
    }
    return conn;
}

/* conn, addr = sock.accept(): new references, or -1 on error. */
static int
accept_one(asyncio_state *st, PyObject *sock, PyObject **conn,
           PyObject **addr)
{
    transport_state *ts = &st->transport;
    connections_state *cs = &st->connections;
    *conn = *addr = NULL;
    if (Py_IS_TYPE(sock, (PyTypeObject *)ts->socket_type)) {
        *conn = accept_plain(st, sock, addr);
        return *conn != NULL ? 0 : -1;
    }
    PyObject *pair = PyObject_CallMethodNoArgs(sock, cs->str_accept);
    if (pair == NULL) {
        return -1;
    }
    int rc = accept_unpack2(pair, conn, addr);
    Py_DECREF(pair);
    return rc;
}

/* if self._debug: logger.debug("%r got a new connection from %r: %r",
   server, addr, conn) */
static int
accept_log(asyncio_state *st, PyObject *self, PyObject *server,
           PyObject *addr, PyObject *conn)
{
    transport_state *ts = &st->transport;
    connections_state *cs = &st->connections;
    int debug = call_truth(PyObject_GetAttr(self, cs->str_debug_attr));
    if (debug <= 0) {
        return debug;
    }
    PyObject *logger = PyObject_GetAttrString(ts->py_module, "logger");
    if (logger == NULL) {
        return -1;
    }
    int rc = drop_result(PyObject_CallMethod(
        logger, "debug", "sOOO", "%r got a new connection from %r: %r",
        server, addr, conn));
    Py_DECREF(logger);
    return rc;
}

/* 1 when the errno of exc says the process or the system ran out of
   descriptors or memory, 0 when not, -1 on error. */
static int
accept_out_of_resources(PyObject *exc)
{
    PyObject *code = PyObject_GetAttrString(exc, "errno");
    if (code == NULL) {
        return -1;
    }
    int res = 0;
    if (PyLong_Check(code)) {
        long value = PyLong_AsLong(code);
        if (value == -1 && PyErr_Occurred()) {
            PyErr_Clear();   /* too large: not one of them */
        }
        res = 0
#ifdef EMFILE
              || value == EMFILE
#endif
#ifdef ENFILE
              || value == ENFILE
#endif
#ifdef ENOBUFS
              || value == ENOBUFS
#endif
#ifdef ENOMEM
              || value == ENOMEM
#endif
              ;
    }
    Py_DECREF(code);
    return res;
}

/* Out of resources: report exc to the loop's exception handler, stop
   accepting on sock, and start again after ACCEPT_RETRY_DELAY. */
static int
accept_pause(asyncio_state *st, PyObject *self, PyObject *exc,
             PyObject *const *a)
{
    transport_state *ts = &st->transport;
    connections_state *cs = &st->connections;
    PyObject *sock = a[1];
    PyObject *wrapper_cls = transport_global(ts, ts->str_trsock,
                                             ts->str_transport_socket);
    PyObject *wrapper = wrapper_cls != NULL
        ? PyObject_CallOneArg(wrapper_cls, sock) : NULL;
    Py_XDECREF(wrapper_cls);
    PyObject *context = wrapper != NULL
        ? Py_BuildValue("{sssOsO}",
                        "message", "socket.accept() out of system resource",
                        "exception", exc, "socket", wrapper)
        : NULL;
    Py_XDECREF(wrapper);
    if (context == NULL
        || drop_result(PyObject_CallMethod(
               self, "call_exception_handler", "O", context)) < 0) {
        Py_XDECREF(context);
        return -1;
    }
    Py_DECREF(context);
    PyObject *fd = PyObject_CallMethodNoArgs(sock, ts->str_fileno);
    int rc = fd != NULL ? drop_result(PyObject_CallMethodOneArg(
                              self, ts->str_remove_reader, fd)) : -1;
    Py_XDECREF(fd);
    if (rc < 0) {
        return -1;
    }
    PyObject *delay = transport_global(ts, ts->str_constants,
                                       cs->str_accept_retry_delay);
    PyObject *start = delay != NULL
        ? PyObject_GetAttrString(self, "_start_serving") : NULL;
    rc = start == NULL ? -1 : drop_result(PyObject_CallMethod(
        self, "call_later", "OOOOOOOOO", delay, start, a[0], a[1], a[2],
        a[3], a[4], a[5], a[6]));
    Py_XDECREF(start);
    Py_XDECREF(delay);
    return rc;
}

/* The pure method's except clauses, for the error set: 1 when the accept
   queue is empty (stop, return None), 0 when handled (go on), -1 when
   the error propagates. */
static int
accept_failed(asyncio_state *st, PyObject *self, PyObject *const *a)
{
    if (PyErr_ExceptionMatches(PyExc_BlockingIOError)
        || PyErr_ExceptionMatches(PyExc_InterruptedError)
        || PyErr_ExceptionMatches(PyExc_ConnectionAbortedError)) {
        PyErr_Clear();
        return 1;
    }
    if (!PyErr_ExceptionMatches(PyExc_OSError)) {
        return -1;
    }
    PyObject *exc = fetch_exception();
    int out = accept_out_of_resources(exc);
    if (out == 0) {
        /* raise: the event loop will catch, log and ignore it */
        PyObject *tb = PyException_GetTraceback(exc);
        PyErr_Restore(Py_NewRef(Py_TYPE(exc)), exc, tb);
        return -1;
    }
    int rc = out < 0 ? -1 : accept_pause(st, self, exc, a);
    Py_DECREF(exc);
    return rc;
}

/* self.create_task(self._accept_connection2(protocol_factory, conn,
   {'peername': addr}, sslcontext, server, ssl_handshake_timeout,
   ssl_shutdown_timeout)) */
static int
accept_start(asyncio_state *st, PyObject *self, PyObject *conn,
             PyObject *addr, PyObject *const *a)
{
    transport_state *ts = &st->transport;
    connections_state *cs = &st->connections;
    PyObject *extra = PyDict_New();
    if (extra == NULL || PyDict_SetItem(extra, ts->str_peername, addr) < 0) {
        Py_XDECREF(extra);
        return -1;
    }
    PyObject *stack[8] = {self, a[0], conn, extra, a[2], a[3], a[5], a[6]};
    PyObject *coro = PyObject_VectorcallMethod(
        cs->str_accept_connection2, stack,
        8 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(extra);
    if (coro == NULL) {
        return -1;
    }
    int rc = drop_result(PyObject_CallMethodOneArg(self, cs->str_create_task,
                                                   coro));
    Py_DECREF(coro);
    return rc;
}

/* The arguments after protocol_factory and sock, with the pure method's
   defaults: new references in a[2:7]. */
static int
accept_defaults(asyncio_state *st, PyObject **a)
{
    transport_state *ts = &st->transport;
    connections_state *cs = &st->connections;
    a[2] = Py_NewRef(a[2] != NULL ? a[2] : Py_None);
    a[3] = Py_NewRef(a[3] != NULL ? a[3] : Py_None);
    a[4] = a[4] != NULL ? Py_NewRef(a[4]) : PyLong_FromLong(100);
    a[5] = a[5] != NULL ? Py_NewRef(a[5]) : transport_global(
        ts, ts->str_constants, cs->str_ssl_handshake_timeout);
    a[6] = a[6] != NULL ? Py_NewRef(a[6]) : transport_global(
        ts, ts->str_constants, cs->str_ssl_shutdown_timeout);
    if (a[4] == NULL || a[5] == NULL || a[6] == NULL) {
        for (int i = 2; i < 7; i++) {
            Py_CLEAR(a[i]);
        }
        return -1;
    }
    return 0;
}

static PyObject *
accept_loop(asyncio_state *st, PyObject *self, PyObject *const *a)
{
    connections_state *cs = &st->connections;
    Py_ssize_t backlog = PyNumber_AsSsize_t(a[4], NULL);
    if (backlog == -1 && PyErr_Occurred()) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < backlog; i++) {
        PyObject *conn, *addr;
        int rc = accept_one(st, a[1], &conn, &addr);
        if (rc == 0) {
            rc = accept_log(st, self, a[3], addr, conn);
        }
        if (rc == 0) {
            rc = drop_result(PyObject_CallMethodOneArg(
                conn, cs->str_setblocking, Py_False));
        }
        if (rc < 0) {
            Py_XDECREF(conn);
            Py_XDECREF(addr);
            rc = accept_failed(st, self, a);
            if (rc != 0) {
                return rc > 0 ? Py_NewRef(Py_None) : NULL;
            }
            continue;
        }
        rc = accept_start(st, self, conn, addr, a);
        Py_DECREF(conn);
        Py_DECREF(addr);
        if (rc < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
connections__accept_connection(CMETHOD_ARGS)
{
    static const char *const names[] = {
        "protocol_factory", "sock", "sslcontext", "server", "backlog",
        "ssl_handshake_timeout", "ssl_shutdown_timeout",
    };
    PyObject *a[7];
    if (parse_args("_accept_connection", args, PyVectorcall_NARGS(nargsf),
                   kwnames, names, 7, 7, 2, a) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    if (connections_ready(&st->transport) < 0
        || accept_defaults(st, a) < 0) {
        return NULL;
    }
    PyObject *res = accept_loop(st, op, a);
    for (int i = 2; i < 7; i++) {
        Py_DECREF(a[i]);
    }
    return res;
}


/* ---------- Making transports ---------- */

/* BaseSelectorEventLoop._make_socket_transport(sock, protocol,
   waiter=None, *, extra=None, server=None): the class selector_events names
   _SelectorSocketTransport, read at the time of the call, made for the
   loop.  A call the method's parameters do not take goes to the pure
   method, for its error. */
static PyObject *
connections__make_socket_transport(CMETHOD_ARGS)
{
    static const char *const names[] = {
        "sock", "protocol", "waiter", "extra", "server",
    };
    asyncio_state *st = cls_state(cls);
    transport_state *ts = &st->transport;
    connections_state *cs = &st->connections;
    PyObject *a[5];
    if (parse_args("_make_socket_transport", args,
                   PyVectorcall_NARGS(nargsf), kwnames, names, 5, 3, 2,
                   a) < 0) {
        PyErr_Clear();
        return loop_call_py_selector_method(
            st, op, cs->str_make_socket_transport, args, nargsf, kwnames);
    }
    if (connections_ready(ts) < 0) {
        return NULL;
    }
    PyObject *tp = PyObject_GetAttr(ts->py_module, cs->str_transport_class);
    if (tp == NULL) {
        return NULL;
    }
    PyObject *stack[6] = {op, a[0], a[1]};
    for (int i = 2; i < 5; i++) {
        stack[i + 1] = a[i] != NULL ? a[i] : Py_None;
    }
    PyObject *res = PyObject_Vectorcall(tp, stack, 6, NULL);
    Py_DECREF(tp);
    return res;
}


/* ---------- Connecting ----------
 *
 * sock_connect() resolves the address, makes a future and calls
 * _sock_connect(fut, sock, address), which starts the connection: done
 * at once, or going on in the background, when the loop waits for the
 * socket to be writable (_sock_connect_cb()) and then stops watching it
 * (_sock_write_done(), a done callback of the future). */

/* What _socket.socket has of connect and connect_ex, and socket.SOL_SOCKET
   and socket.SO_ERROR, when first needed (socket.socket is the transport
   part's) */
static int
connections_load_connect(asyncio_state *st)
{
    connections_state *cs = &st->connections;
    if (connections_ready(&st->transport) < 0) {
        return -1;
    }
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
    PyObject *gettimeout = _PyType_Lookup((PyTypeObject *)base,
                                          cs->str_gettimeout);
    Py_XSETREF(cs->sock_connect, Py_XNewRef(connect));
    Py_XSETREF(cs->sock_connect_ex, Py_XNewRef(connect_ex));
    Py_XSETREF(cs->sock_gettimeout, Py_XNewRef(gettimeout));
    Py_DECREF(base);
    if (import_once(&level, "socket", "SOL_SOCKET") < 0
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
   sock is a plain AF_INET or AF_INET6 socket.socket whose class still has
   _socket.socket's connect and connect_ex, it has no timeout (with one,
   connect_ex() reports a time-out as EWOULDBLOCK where connect() raises
   TimeoutError; _socket.socket's own gettimeout() tells, as the pure
   method asks no method of the socket for it), and the address is a
   simple one.  1, 0, -1 on error. */
static int
connections_plain_socket(asyncio_state *st, PyObject *sock,
                         PyObject *address)
{
#ifdef MS_WINDOWS
    /* connect_ex() gives Winsock's codes; connect() is asked instead */
    return 0;
#else
    connections_state *cs = &st->connections;
    transport_state *ts = &st->transport;
    if (cs->sock_connect == NULL || cs->sock_connect_ex == NULL
        || cs->sock_gettimeout == NULL
        || !Py_IS_TYPE(sock, (PyTypeObject *)ts->socket_type)
        || _PyType_Lookup(Py_TYPE(sock), cs->str_connect)
           != cs->sock_connect
        || _PyType_Lookup(Py_TYPE(sock), cs->str_connect_ex)
           != cs->sock_connect_ex
        || !connections_simple_address(address)) {
        return 0;
    }
    /* the errors of other families' addresses name the method */
    long family = transport_socket_int(ts->sock_family, sock);
    if (family != ts->af_inet && family != ts->af_inet6) {
        if (family == -1 && PyErr_Occurred()) {
            return -1;
        }
        return 0;
    }
    PyObject *timeout = PyObject_CallOneArg(cs->sock_gettimeout, sock);
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
connections_connect(asyncio_state *st, PyObject *sock, PyObject *address)
{
    connections_state *cs = &st->connections;
    int plain = connections_plain_socket(st, sock, address);
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
connections_settle(transport_state *ts, PyObject *fut, int failed)
{
    if (!failed) {
        return PyObject_CallMethodOneArg(fut, ts->str_set_result, Py_None);
    }
    if (exception_propagates()) {
        return NULL;
    }
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallMethodOneArg(fut, ts->str_set_exception,
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
    PyObject *handle = call_method_with_self(st->loop.str_handler[1],
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
    if (connections_load_connect(st) < 0) {
        return NULL;
    }
    PyObject *fd = PyObject_CallMethodNoArgs(sock, st->transport.str_fileno);
    if (fd == NULL) {
        return NULL;
    }
    int rc = connections_connect(st, sock, address);
    PyObject *res = rc > 0
        ? connections_wait_connected(st, op, fd, fut, sock, address)
        : connections_settle(&st->transport, fut, rc < 0);
    Py_DECREF(fd);
    return none_or_error(drop_result(res));
}

#ifndef MS_WINDOWS
/* The address sock_connect() connects sock to: for an AF_INET or AF_INET6
   socket, what base_events._ipaddr_info() makes of a (host, port[,
   flowinfo[, scope_id]]) address whose host is a numeric address of the
   socket's family and whose port is an int; any address for a socket of
   another family.  New reference; NULL without an exception when the
   address needs the pure method (resolving, or its errors). */
static PyObject *
connections_resolved(asyncio_state *st, PyObject *sock, PyObject *address)
{
    transport_state *ts = &st->transport;
    long family = transport_socket_int(ts->sock_family, sock);
    if (family == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    int inet = family == ts->af_inet;
    if (!inet && family == ts->af_inet6) {
        /* base_events._HAS_IPv6, read as the pure method reads it */
        inet = call_truth(transport_global(ts, ts->str_base_events,
                                           st->connections.str_has_ipv6));
        if (inet < 0) {
            return NULL;
        }
    }
    if (!inet) {
        return Py_NewRef(address);
    }
    if (!PyTuple_CheckExact(address) || PyTuple_GET_SIZE(address) < 2
        || PyTuple_GET_SIZE(address) > 4) {
        return NULL;
    }
    PyObject *host = PyTuple_GET_ITEM(address, 0);
    PyObject *port = PyTuple_GET_ITEM(address, 1);
    if (!PyUnicode_CheckExact(host) || !PyLong_CheckExact(port)) {
        return NULL;
    }
    /* only the types and protocols _ipaddr_info() answers for */
    long type = transport_socket_int(ts->sock_type, sock);
    long proto = type == -1 && PyErr_Occurred()
                 ? -1 : transport_socket_int(ts->sock_proto, sock);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    if ((type != SOCK_STREAM && type != SOCK_DGRAM)
        || (proto != 0 && proto != IPPROTO_TCP && proto != IPPROTO_UDP)) {
        return NULL;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(host, &size);
    if (text == NULL) {
        PyErr_Clear();
        return NULL;
    }
    unsigned char packed[16];
    if ((Py_ssize_t)strlen(text) != size || strchr(text, '%') != NULL
        || inet_pton((int)family, text, packed) != 1) {
        return NULL;
    }
    if (family == ts->af_inet) {
        return PyTuple_Pack(2, host, port);
    }
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(address);
    PyObject *res = PyTuple_Pack(4, host, port,
                                 n > 2 ? PyTuple_GET_ITEM(address, 2) : zero,
                                 n > 3 ? PyTuple_GET_ITEM(address, 3) : zero);
    Py_DECREF(zero);
    return res;
}

/* Whether the pure sock_connect() would call nothing that replaces what
   _sock_connect_start() does itself: the loop's _ensure_resolved() and
   base_events._ipaddr_info() are as base_events made them, and _debug is
   off (then the pure method checks the socket's timeout).  1, 0, -1. */
static int
connections_connect_as_pure(asyncio_state *st, PyObject *self)
{
    connections_state *cs = &st->connections;
    if (cs->py_ensure_resolved == NULL) {
        PyObject *cls = import_attr("asyncio.base_events", "BaseEventLoop");
        if (cls == NULL) {
            return -1;
        }
        PyObject *fn = _PyType_Lookup((PyTypeObject *)cls,
                                      cs->str_ensure_resolved);
        Py_XSETREF(cs->py_ensure_resolved, Py_XNewRef(fn));
        Py_DECREF(cls);
        if (import_once(&cs->py_ipaddr_info, "asyncio.base_events",
                        "_ipaddr_info") < 0) {
            return -1;
        }
        if (cs->py_ensure_resolved == NULL) {
            return 0;
        }
    }
    if (_PyType_Lookup(Py_TYPE(self), cs->str_ensure_resolved)
            != cs->py_ensure_resolved
        || loop_instance_has(self, cs->str_ensure_resolved)) {
        return 0;
    }
    PyObject *info = transport_global(&st->transport,
                                      st->transport.str_base_events,
                                      cs->str_ipaddr_info);
    if (info == NULL) {
        return -1;
    }
    Py_DECREF(info);
    if (info != cs->py_ipaddr_info) {
        return 0;
    }
    int debug = call_truth(PyObject_GetAttr(self, cs->str_debug_attr));
    return debug < 0 ? -1 : !debug;
}
#endif

/* _sock_connect_start(sock, address): the part of the selector loop's
   sock_connect() before its `await` (see selector_events), for a plain
   socket.socket whose address needs no resolving: the future, made and
   handed to _sock_connect().  None when the pure method must run. */
static PyObject *
connections__sock_connect_start(CMETHOD_ARGS)
{
#ifdef MS_WINDOWS
    /* connecting goes through connect(), which the pure method calls */
    Py_RETURN_NONE;
#else
    asyncio_state *st = cls_state(cls);
    if (!connections_positional(nargsf, kwnames, 2)) {
        Py_RETURN_NONE;
    }
    PyObject *sock = args[0];
    if (connections_ready(&st->transport) < 0) {
        return NULL;
    }
    /* an exact socket.socket: base_events._check_ssl_socket() has
       nothing to refuse, and family, type and proto read as ints */
    if (!Py_IS_TYPE(sock, (PyTypeObject *)st->transport.socket_type)) {
        Py_RETURN_NONE;
    }
    int pure = connections_connect_as_pure(st, op);
    if (pure <= 0) {
        return pure < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *address = connections_resolved(st, sock, args[1]);
    if (address == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *fut = PyObject_CallMethodNoArgs(
        op, st->connections.str_create_future);
    if (fut != NULL) {
        PyObject *stack[4] = {op, fut, sock, address};
        PyObject *res = PyObject_VectorcallMethod(
            st->connections.str_sock_connect, stack,
            4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (drop_result(res) < 0) {
            Py_CLEAR(fut);
        }
    }
    Py_DECREF(address);
    return fut;
#endif
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
    if (connections_load_connect(st) < 0) {
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
    return none_or_error(drop_result(
        connections_settle(&st->transport, fut, rc < 0)));
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
    return none_or_error(drop_result(call_method_with_self(
        cs->str_remove_writer, op, args, 1)));
}


/* ---------- The methods ---------- */

static PyMethodDef connections_methods[] = {
    CMETHOD("_accept_connection", connections__accept_connection,
            PyDoc_STR("_accept_connection($self, /, protocol_factory, sock,"
                      " sslcontext=None, server=None,\n"
                      "                   backlog=100, "
                      "ssl_handshake_timeout=60.0,\n"
                      "                   ssl_shutdown_timeout=30.0)\n"
                      "--\n\n"
                      "The listening socket is readable: accept up to "
                      "backlog connections,\neach served by a task of "
                      "_accept_connection2().")),
    CMETHOD("_make_socket_transport", connections__make_socket_transport,
            PyDoc_STR("_make_socket_transport($self, /, sock, protocol, "
                      "waiter=None, *,\n"
                      "                       extra=None, server=None)\n"
                      "--\n\n"
                      "A socket transport of this loop for sock, serving "
                      "protocol.")),
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
    CMETHOD("_sock_connect_start", connections__sock_connect_start,
            PyDoc_STR("_sock_connect_start($self, sock, address, /)\n--\n\n"
                      "Start sock_connect() without a frame when address "
                      "needs no resolving:\nthe future it awaits, or None "
                      "when the pure method must run.")),
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
    ASYNCIO_NAME(connections.str_connect, "connect"),
    ASYNCIO_NAME(connections.str_connect_ex, "connect_ex"),
    ASYNCIO_NAME(connections.str_ensure_fd_no_transport,
                 "_ensure_fd_no_transport"),
    ASYNCIO_NAME(connections.str_getsockopt, "getsockopt"),
    ASYNCIO_NAME(connections.str_gettimeout, "gettimeout"),
    ASYNCIO_NAME(connections.str_is_closing, "is_closing"),
    ASYNCIO_NAME(connections.str_sock_connect, "_sock_connect"),
    ASYNCIO_NAME(connections.str_sock_connect_cb, "_sock_connect_cb"),
    ASYNCIO_NAME(connections.str_create_future, "create_future"),
    ASYNCIO_NAME(connections.str_ensure_resolved, "_ensure_resolved"),
    ASYNCIO_NAME(connections.str_ipaddr_info, "_ipaddr_info"),
    ASYNCIO_NAME(connections.str_has_ipv6, "_HAS_IPv6"),
    ASYNCIO_NAME(connections.str_sock_write_done, "_sock_write_done"),
    ASYNCIO_NAME(connections.str_add_reader, "add_reader"),
    ASYNCIO_NAME(connections.str_add_writer, "add_writer"),
    ASYNCIO_NAME(connections.str_remove_reader, "remove_reader"),
    ASYNCIO_NAME(connections.str_remove_writer, "remove_writer"),
    ASYNCIO_NAME(connections.str__accept, "_accept"),
    ASYNCIO_NAME(connections.str_accept, "accept"),
    ASYNCIO_NAME(connections.str_accept_connection2, "_accept_connection2"),
    ASYNCIO_NAME(connections.str_accept_retry_delay, "ACCEPT_RETRY_DELAY"),
    ASYNCIO_NAME(connections.str_create_task, "create_task"),
    ASYNCIO_NAME(connections.str_debug_attr, "_debug"),
    ASYNCIO_NAME(connections.str_getdefaulttimeout, "getdefaulttimeout"),
    ASYNCIO_NAME(connections.str_setblocking, "setblocking"),
    ASYNCIO_NAME(connections.str_ssl_handshake_timeout,
                 "SSL_HANDSHAKE_TIMEOUT"),
    ASYNCIO_NAME(connections.str_ssl_shutdown_timeout, "SSL_SHUTDOWN_TIMEOUT"),
    ASYNCIO_NAME(connections.str_make_socket_transport,
                 "_make_socket_transport"),
    ASYNCIO_NAME(connections.str_transport_class, "_SelectorSocketTransport"),
};

static const size_t connections_refs[] = {
    ASYNCIO_OFFSET(connections.sock_connect),
    ASYNCIO_OFFSET(connections.sock_connect_ex),
    ASYNCIO_OFFSET(connections.sock_gettimeout),
    ASYNCIO_OFFSET(connections.so_error_args),
    ASYNCIO_OFFSET(connections.py_ensure_resolved),
    ASYNCIO_OFFSET(connections.py_ipaddr_info),
    ASYNCIO_OFFSET(connections.kw_handle),
};

const asyncio_part connections_part = {
    .names = connections_names,
    .nnames = Py_ARRAY_LENGTH(connections_names),
    .exec = connections_exec,
    .refs = connections_refs,
    .nrefs = Py_ARRAY_LENGTH(connections_refs),
};
