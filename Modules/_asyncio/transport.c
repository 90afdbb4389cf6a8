/*
 * The socket transport's data path: _SelectorSocketTransport, and the
 * loop's map of transports, which every transport enters itself into.
 *
 * asyncio.selector_events hands its pure-Python _SelectorSocketTransport
 * to _socket_transport_type(), which makes a subclass of it.  The subclass
 * replaces the methods a connection runs for every read and write
 * (_read_ready, _read_ready__data_received, _read_ready__get_buffer,
 * write, _write_ready, and is_closing and get_extra_info, which protocols
 * ask before writing) and once in its life (the constructor,
 * _read_ready__on_eof, close, _call_connection_lost, _add_reader), and
 * keeps the attributes they read in C fields, which Python code, the
 * inherited methods included, sees as ordinary attributes (members of the
 * type).  Everything else, abort(), repr(), flow control limits and
 * errors, stays the pure class's, and so behaves as it does; a subclass
 * that overrides a method gets its override called.
 *
 * A plain socket.socket is read and written with recv() and send() on its
 * file descriptor, with MSG_DONTWAIT (a transport's socket is non-blocking;
 * the GIL is let go only for large transfers); a socket of any other type
 * (a subclass, a mock) is read and written through its methods, as the
 * pure class does.  The loop's side of a connection (accepting it, making
 * its transport, connecting) is in connections.c.
 */

#include "module.h"

#ifdef HAVE_SYS_SOCKET_H
#  include <sys/socket.h>
#endif

#if defined(HAVE_SYS_SOCKET_H) && defined(MSG_DONTWAIT)
#  define TRANSPORT_SYSCALLS 1
#else
#  define TRANSPORT_SYSCALLS 0
#endif

/* Transfers larger than this let other threads run meanwhile. */
#define TRANSPORT_GIL_FREE_SIZE (64 * 1024)

static inline transport_fields *
transport_fields_of(asyncio_state *st, PyObject *self)
{
    return (transport_fields *)((char *)self + st->transport.fields_offset);
}

/* The object in a slot of the pure class (borrowed; NULL when unset). */
static inline PyObject *
transport_slot(PyObject *self, Py_ssize_t offset)
{
    return *(PyObject **)((char *)self + offset);
}

/* getattr(getattr(selector_events, modname), name): what the pure code
   reads through a module global of selector_events (constants.X,
   base_events.X, ...), read as it does, at the time of the call. */
PyObject *
transport_global(transport_state *ts, PyObject *modname, PyObject *name)
{
    PyObject *mod = PyObject_GetAttr(ts->py_module, modname);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_GetAttr(mod, name);
    Py_DECREF(mod);
    return res;
}


/* ---------- Errors ---------- */

/* After a failed socket call: 1 when it only means "not now"
   (BlockingIOError, InterruptedError: cleared), -1 when the exception
   must propagate (SystemExit, KeyboardInterrupt), else 0: the protocol's
   _fatal_error() is to hear of it. */
static int
transport_error_kind(void)
{
    if (PyErr_ExceptionMatches(PyExc_BlockingIOError)
        || PyErr_ExceptionMatches(PyExc_InterruptedError)) {
        PyErr_Clear();
        return 1;
    }
    if (exception_propagates()) {
        return -1;
    }
    return 0;
}

/* Make exc the exception being handled, as inside the pure methods'
   `except` clauses, where sys.exc_info() is exc and an exception raised
   gets exc as its __context__; returns what to restore. */
static PyObject *
transport_handling(PyObject *exc)
{
    PyObject *saved = PyErr_GetHandledException();
    PyErr_SetHandledException(exc);
    return saved;
}

static void
transport_handled(PyObject *saved)
{
    PyErr_SetHandledException(saved);
    Py_XDECREF(saved);
}

/* self._fatal_error(exc, message): 0, or -1 when that call raised. */
static int
transport_call_fatal_error(asyncio_state *st, PyObject *self, PyObject *exc,
                           const char *message)
{
    PyObject *msg = PyUnicode_FromString(message);
    if (msg == NULL) {
        return -1;
    }
    PyObject *stack[3] = {self, exc, msg};
    PyObject *res = PyObject_VectorcallMethod(st->transport.str_fatal_error,
                                              stack, 3, NULL);
    Py_DECREF(msg);
    return drop_result(res);
}

/* self._fatal_error(exc, message) for the exception being raised, which it
   consumes.  0, or -1 when that call raised. */
static int
transport_fatal_error(asyncio_state *st, PyObject *self,
                      const char *message)
{
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return -1;
    }
    PyObject *saved = transport_handling(exc);
    int rc = transport_call_fatal_error(st, self, exc, message);
    transport_handled(saved);
    Py_DECREF(exc);
    return rc;
}

/* The end of a failed call in a pure `try` whose `except BaseException`
   calls _fatal_error(exc, message): 0, or -1 to propagate. */
static int
transport_failed(asyncio_state *st, PyObject *self, const char *message)
{
    if (exception_propagates()) {
        return -1;
    }
    return transport_fatal_error(st, self, message);
}


/* ---------- The socket ---------- */

#if TRANSPORT_SYSCALLS
/* The file descriptor of sock when it is a plain, open socket.socket, whose
   system calls can then be made directly; -1 otherwise (no exception). */
static int
transport_plain_fd(asyncio_state *st, PyObject *sock)
{
    transport_state *ts = &st->transport;
    if (ts->socket_type == NULL
        || !Py_IS_TYPE(sock, (PyTypeObject *)ts->socket_type)) {
        return -1;
    }
    PyObject *fdobj = ts->sock_fileno_func != NULL
                      ? ts->sock_fileno_func(sock, NULL)
                      : PyObject_CallOneArg(ts->sock_fileno, sock);
    long fd = fdobj != NULL ? PyLong_AsLong(fdobj) : -1;
    Py_XDECREF(fdobj);
    if (fd < 0 || fd > INT_MAX) {
        /* closed (-1): its methods raise what they raise */
        PyErr_Clear();
        return -1;
    }
    return (int)fd;
}

/* recv(), or send() when `out`, on a non-blocking descriptor, retried
   after a signal as the socket methods do (PEP 475): the count, or -1 with
   an exception set, or -2 (no exception) for "would block".  A large
   transfer lets other threads run meanwhile when `shared_buf` is 0; a
   buffer other threads may use too (the scratch buffer) keeps the GIL. */
static Py_ssize_t
transport_syscall(int fd, char *buf, Py_ssize_t len, int out, int shared_buf)
{
    for (;;) {
        ssize_t n;
        if (len > TRANSPORT_GIL_FREE_SIZE && !shared_buf) {
            Py_BEGIN_ALLOW_THREADS
            n = out ? send(fd, buf, (size_t)len, MSG_DONTWAIT)
                    : recv(fd, buf, (size_t)len, MSG_DONTWAIT);
            Py_END_ALLOW_THREADS
        }
        else {
            n = out ? send(fd, buf, (size_t)len, MSG_DONTWAIT)
                    : recv(fd, buf, (size_t)len, MSG_DONTWAIT);
        }
        if (n >= 0) {
            return n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return -2;
        }
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
    }
}
#endif

#if TRANSPORT_SYSCALLS
/* A read of a plain socket for sock.recv(len).  A bytes object of len
   bytes cut down to what came, as socket.recv() makes, costs an
   allocation of len (max_size: 256 KiB) and a reallocation per read; a
   connection exchanging small messages instead reads into the module's
   scratch buffer and copies what came.  Copying is cheaper than the
   allocation only for small reads: a connection whose last read brought
   more than TRANSPORT_SCRATCH_READ bytes (bulk data) reads straight into
   the bytes, as socket.recv() does.  The scratch buffer serves every
   transport of the interpreter, in whatever thread its loop runs: it is
   read into, and copied out of, without letting go of the GIL.  A read
   interrupted by a signal runs the Python signal handlers before it
   retries, and so may a garbage collection while the bytes are made; a
   read they start meanwhile finds the buffer busy and reads into bytes
   of its own. */
#define TRANSPORT_SCRATCH_READ 4096

static PyObject *
transport_recv_plain(asyncio_state *st, transport_fields *f, int fd,
                     Py_ssize_t len, int *again)
{
    transport_state *ts = &st->transport;
    char *buf;
    PyObject *data = NULL;
    int bulk = f->last_read > TRANSPORT_SCRATCH_READ || ts->scratch_busy;
    if (!bulk && ts->scratch_size < len) {
        char *scratch = PyMem_Realloc(ts->scratch, len);
        if (scratch == NULL) {
            bulk = 1;       /* no room: as socket.recv() does */
        }
        else {
            ts->scratch = scratch;
            ts->scratch_size = len;
        }
    }
    if (bulk) {
        data = PyBytes_FromStringAndSize(NULL, len);
        if (data == NULL) {
            return NULL;
        }
        buf = PyBytes_AS_STRING(data);
    }
    else {
        buf = ts->scratch;
        ts->scratch_busy = 1;
    }
    Py_ssize_t n = transport_syscall(fd, buf, len, 0, !bulk);
    if (!bulk) {
        data = n < 0 ? NULL : PyBytes_FromStringAndSize(buf, n);
        ts->scratch_busy = 0;
    }
    if (n < 0) {
        Py_XDECREF(data);
        *again = n == -2;
        return NULL;
    }
    f->last_read = n;
    if (!bulk) {
        return data;
    }
    if (n != len && _PyBytes_Resize(&data, n) < 0) {
        return NULL;
    }
    return data;
}
#endif

/* sock.recv(size): new bytes; NULL with *again set and no exception when
   there is nothing to read now, NULL with an exception on error. */
static PyObject *
transport_recv(asyncio_state *st, transport_fields *f, PyObject *sock,
               PyObject *size, int *again)
{
    *again = 0;
#if TRANSPORT_SYSCALLS
    Py_ssize_t len = PyLong_CheckExact(size) ? PyLong_AsSsize_t(size) : -1;
    int fd = len >= 0 ? transport_plain_fd(st, sock) : -1;
    if (fd >= 0) {
        return transport_recv_plain(st, f, fd, len, again);
    }
    PyErr_Clear();
#endif
    PyObject *data = PyObject_CallMethodOneArg(sock, st->transport.str_recv,
                                               size);
    if (data == NULL && transport_error_kind() == 1) {
        *again = 1;
    }
    return data;
}

/* The count a socket's send() or recv_into() method returned (stolen
   reference): -1 with an exception set when it is not a number of bytes.
   The pure code would slice with a negative one, losing bytes silently;
   here it is an error of the socket, which the transport reports as
   fatal. */
static Py_ssize_t
transport_method_count(PyObject *res, const char *method)
{
    Py_ssize_t n = PyNumber_AsSsize_t(res, PyExc_OverflowError);
    if (n < 0 && !PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError,
                     "socket.%s() returned %zd, not a number of bytes",
                     method, n);
    }
    Py_DECREF(res);
    return n < 0 ? -1 : n;
}

/* sock.recv_into(buf): the count; -1 with *again set and no exception when
   there is nothing to read now, -1 with an exception on error. */
static Py_ssize_t
transport_recv_into(asyncio_state *st, PyObject *sock, PyObject *buf,
                    int *again)
{
    *again = 0;
#if TRANSPORT_SYSCALLS
    int fd = transport_plain_fd(st, sock);
    Py_buffer view;
    if (fd >= 0 && PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE) == 0) {
        Py_ssize_t n = transport_syscall(fd, view.buf, view.len, 0, 0);
        PyBuffer_Release(&view);
        *again = n == -2;
        return n < 0 ? -1 : n;
    }
    /* not writable, say: the method raises what it raises */
    PyErr_Clear();
#endif
    PyObject *res = PyObject_CallMethodOneArg(
        sock, st->transport.str_recv_into, buf);
    if (res == NULL) {
        *again = transport_error_kind() == 1;
        return -1;
    }
    return transport_method_count(res, "recv_into");
}

/* sock.send(data) where data's bytes are view (NULL: data has no simple
   buffer): the count; -1 with *again set and no exception when nothing
   can be sent now, -1 with an exception on error. */
static Py_ssize_t
transport_send(asyncio_state *st, PyObject *sock, PyObject *data,
               Py_buffer *view, int *again)
{
    *again = 0;
#if TRANSPORT_SYSCALLS
    int fd = view != NULL ? transport_plain_fd(st, sock) : -1;
    if (fd >= 0) {
        Py_ssize_t n = transport_syscall(fd, view->buf, view->len, 1, 0);
        *again = n == -2;
        return n < 0 ? -1 : n;
    }
#endif
    PyObject *res = PyObject_CallMethodOneArg(sock, st->transport.str_send,
                                              data);
    if (res == NULL) {
        *again = transport_error_kind() == 1;
        return -1;
    }
    return transport_method_count(res, "send");
}


/* self._loop.<name>(self._sock_fd[, self._write_ready]): the loop's
   _add_writer(), _remove_writer() and _remove_reader() for the socket */
static int
transport_loop_fd_call(asyncio_state *st, PyObject *self, PyObject *name,
                       int add)
{
    transport_fields *f = transport_fields_of(st, self);
    PyObject *loop = transport_slot(self, st->transport.loop_offset);
    if (field_value(self, loop, "_loop") == NULL
        || field_value(self, f->sock_fd, "_sock_fd") == NULL) {
        return -1;
    }
    PyObject *stack[3] = {Py_NewRef(loop), Py_NewRef(f->sock_fd), NULL};
    if (add) {
        stack[2] = PyObject_GetAttr(self, st->transport.str_write_ready);
        if (stack[2] == NULL) {
            Py_DECREF(stack[0]);
            Py_DECREF(stack[1]);
            return -1;
        }
    }
    PyObject *res = PyObject_VectorcallMethod(name, stack, 2 + add, NULL);
    for (int i = 0; i < 2 + add; i++) {
        Py_DECREF(stack[i]);
    }
    return drop_result(res);
}


/* ---------- Reading ---------- */

/* self._read_ready__on_eof(), and the calls of the protocol's methods,
   by name: `self.<name>(*args)` / `protocol.<name>(*args)`. */
static PyObject *
transport_call(PyObject *obj, PyObject *name, PyObject *arg)
{
    if (arg == NULL) {
        return PyObject_CallMethodNoArgs(obj, name);
    }
    return PyObject_CallMethodOneArg(obj, name, arg);
}

/* _conn_lost: 1 when set (nothing more is read or written), 0, -1. */
static inline int
transport_conn_lost(PyObject *self, transport_fields *f)
{
    return field_truth(self, f->conn_lost, "_conn_lost");
}

/* self._conn_lost += 1 */
static int
transport_count_lost(PyObject *self, transport_fields *f)
{
    PyObject *lost = field_value(self, f->conn_lost, "_conn_lost");
    if (lost == NULL) {
        return -1;
    }
    /* held: an __iadd__ may assign _conn_lost */
    Py_INCREF(lost);
    PyObject *one = PyLong_FromLong(1);
    PyObject *more = one != NULL ? PyNumber_InPlaceAdd(lost, one) : NULL;
    Py_XDECREF(one);
    Py_DECREF(lost);
    if (more == NULL) {
        return -1;
    }
    Py_XSETREF(f->conn_lost, more);
    return 0;
}

/* protocol.<name>(arg), the protocol read at the time of the call: its
   result, or NULL with the exception raised. */
static PyObject *
transport_protocol_call(PyObject *self, transport_fields *f, PyObject *name,
                        PyObject *arg)
{
    PyObject *protocol = field_value(self, f->protocol, "_protocol");
    if (protocol == NULL) {
        return NULL;
    }
    Py_INCREF(protocol);
    PyObject *res = transport_call(protocol, name, arg);
    Py_DECREF(protocol);
    return res;
}

/* self.max_size, the size of a read, as the pure code reads it.  It is a
   class attribute unless a subclass or the instance says otherwise, which
   the generic getattr finds in the type after a miss in the instance
   dict: about 150 instructions per read.  A class attribute found so is
   kept, borrowed, with the type's version tag and the instance dict's
   version (PEP 509).  While neither changes, the type's dicts still hold
   it and the instance does not hide it, so reading it again would give
   it: the type attribute cache relies on the same. */
static PyObject *
transport_max_size(transport_state *ts, PyObject *self, transport_fields *f)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (f->max_size != NULL
        && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
        && tp->tp_version_tag == f->max_size_tp_version
        && dict_version_of(self) == f->max_size_dict_version) {
        return Py_NewRef(f->max_size);
    }
    f->max_size = NULL;
    PyObject *size = PyObject_GetAttr(self, ts->str_max_size);
    if (size == NULL || tp->tp_getattro != PyObject_GenericGetAttr
        || _PyType_Lookup(tp, ts->str_max_size) != size
        || Py_TYPE(size)->tp_descr_get != NULL) {
        return size;
    }
    /* (the look-up in the instance dict may run a key's __eq__) */
    uint64_t dict_version = dict_version_of(self);
    if (!loop_instance_has(self, ts->str_max_size)
        && dict_version_of(self) == dict_version
        && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
        && _PyType_Lookup(tp, ts->str_max_size) == size) {
        f->max_size = size;
        f->max_size_tp_version = tp->tp_version_tag;
        f->max_size_dict_version = dict_version;
    }
    return size;
}

static int
transport_read_data(asyncio_state *st, PyObject *self)
{
    transport_state *ts = &st->transport;
    transport_fields *f = transport_fields_of(st, self);
    int lost = transport_conn_lost(self, f);
    if (lost != 0) {
        return lost < 0 ? -1 : 0;
    }
    PyObject *sock = field_value(self, f->sock, "_sock");
    if (sock == NULL) {
        return -1;
    }
    Py_INCREF(sock);
    PyObject *size = transport_max_size(ts, self, f);
    PyObject *data = NULL;
    int again = 0;
    if (size != NULL) {
        data = transport_recv(st, f, sock, size, &again);
        Py_DECREF(size);
    }
    Py_DECREF(sock);
    if (data == NULL) {
        if (again) {
            return 0;
        }
        return transport_failed(st, self,
                                "Fatal read error on socket transport");
    }
    int nonempty = object_truth(data);
    if (nonempty <= 0) {
        Py_DECREF(data);
        return nonempty < 0 ? -1 : drop_result(
            transport_call(self, ts->str_on_eof, NULL));
    }
    PyObject *res = transport_protocol_call(self, f, ts->str_data_received,
                                            data);
    Py_DECREF(data);
    if (res == NULL) {
        return transport_failed(
            st, self, "Fatal error: protocol.data_received() call failed.");
    }
    Py_DECREF(res);
    return 0;
}

static int
transport_read_buffered(asyncio_state *st, PyObject *self)
{
    transport_state *ts = &st->transport;
    transport_fields *f = transport_fields_of(st, self);
    int lost = transport_conn_lost(self, f);
    if (lost != 0) {
        return lost < 0 ? -1 : 0;
    }
    PyObject *minus_one = PyLong_FromLong(-1);
    if (minus_one == NULL) {
        return -1;
    }
    PyObject *buf = transport_protocol_call(self, f, ts->str_get_buffer,
                                            minus_one);
    Py_DECREF(minus_one);
    if (buf != NULL) {
        Py_ssize_t len = PyObject_Size(buf);
        if (len == 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "get_buffer() returned an empty buffer");
        }
        if (len <= 0) {
            Py_CLEAR(buf);
        }
    }
    if (buf == NULL) {
        return transport_failed(
            st, self, "Fatal error: protocol.get_buffer() call failed.");
    }
    PyObject *sock = field_value(self, f->sock, "_sock");
    Py_ssize_t n = -1;
    int again = 0;
    if (sock != NULL) {
        Py_INCREF(sock);
        n = transport_recv_into(st, sock, buf, &again);
        Py_DECREF(sock);
    }
    Py_DECREF(buf);
    if (n < 0) {
        if (again) {
            return 0;
        }
        return transport_failed(st, self,
                                "Fatal read error on socket transport");
    }
    if (n == 0) {
        return drop_result(transport_call(self, ts->str_on_eof, NULL));
    }
    PyObject *nbytes = PyLong_FromSsize_t(n);
    if (nbytes == NULL) {
        return -1;
    }
    PyObject *res = transport_protocol_call(self, f, ts->str_buffer_updated,
                                            nbytes);
    Py_DECREF(nbytes);
    if (res == NULL) {
        return transport_failed(
            st, self, "Fatal error: protocol.buffer_updated() call failed.");
    }
    Py_DECREF(res);
    return 0;
}

static PyObject *
transport__read_ready__data_received(CMETHOD_ARGS)
{
    if (check_no_args("_read_ready__data_received", nargsf, kwnames) < 0) {
        return NULL;
    }
    return none_or_error(transport_read_data(cls_state(cls), op));
}

static PyObject *
transport__read_ready__get_buffer(CMETHOD_ARGS)
{
    if (check_no_args("_read_ready__get_buffer", nargsf, kwnames) < 0) {
        return NULL;
    }
    return none_or_error(transport_read_buffered(cls_state(cls), op));
}

/* _read_ready__on_eof(): the peer sends no more.  The protocol's
   eof_received() says whether the transport stays open for writing (the
   loop stops reading it) or closes. */
static int
transport_read_eof(asyncio_state *st, PyObject *self)
{
    transport_state *ts = &st->transport;
    transport_fields *f = transport_fields_of(st, self);
    PyObject *loop = transport_slot(self, ts->loop_offset);
    if (field_value(self, loop, "_loop") == NULL) {
        return -1;
    }
    Py_INCREF(loop);
    int debug = loop_get_debug(st, loop);
    Py_DECREF(loop);
    if (debug < 0) {
        return -1;
    }
    if (debug) {
        PyObject *logger = PyObject_GetAttrString(ts->py_module, "logger");
        if (logger == NULL || drop_result(PyObject_CallMethod(
                logger, "debug", "sO", "%r received EOF", self)) < 0) {
            Py_XDECREF(logger);
            return -1;
        }
        Py_DECREF(logger);
    }
    PyObject *keep_open = transport_protocol_call(
        self, f, ts->str_eof_received, NULL);
    if (keep_open == NULL) {
        return transport_failed(
            st, self, "Fatal error: protocol.eof_received() call failed.");
    }
    int keep = PyObject_IsTrue(keep_open);
    Py_DECREF(keep_open);
    if (keep != 0) {
        return keep < 0 ? -1 : transport_loop_fd_call(
            st, self, ts->str_remove_reader, 0);
    }
    return drop_result(PyObject_CallMethodNoArgs(self, ts->str_close));
}

static PyObject *
transport__read_ready__on_eof(CMETHOD_ARGS)
{
    if (check_no_args("_read_ready__on_eof", nargsf, kwnames) < 0) {
        return NULL;
    }
    return none_or_error(transport_read_eof(cls_state(cls), op));
}

/* _read_ready(): self._read_ready_cb(), which set_protocol() made the bound
   _read_ready__data_received or _read_ready__get_buffer; ours are run
   without a call through Python. */
static PyObject *
transport__read_ready(CMETHOD_ARGS)
{
    if (check_no_args("_read_ready", nargsf, kwnames) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    transport_fields *f = transport_fields_of(st, op);
    PyObject *cb = field_value(op, f->read_ready_cb, "_read_ready_cb");
    if (cb == NULL) {
        return NULL;
    }
    if (PyCFunction_Check(cb) && PyCFunction_GET_SELF(cb) == op) {
        PyCFunction meth = PyCFunction_GET_FUNCTION(cb);
        if (meth == (PyCFunction)(void (*)(void))
                       transport__read_ready__data_received) {
            return none_or_error(transport_read_data(st, op));
        }
        if (meth == (PyCFunction)(void (*)(void))
                       transport__read_ready__get_buffer) {
            return none_or_error(transport_read_buffered(st, op));
        }
    }
    Py_INCREF(cb);
    PyObject *res = PyObject_CallNoArgs(cb);
    Py_DECREF(cb);
    return res;
}


/* ---------- Writing ---------- */

/* Whether self._maybe_resume_protocol() would do nothing: the protocol is
   not paused and the method is the pure class's. */
static int
transport_resume_is_idle(asyncio_state *st, PyObject *self)
{
    transport_state *ts = &st->transport;
    PyObject *paused = transport_slot(self, ts->protocol_paused_offset);
    return paused == Py_False
           && _PyType_Lookup(Py_TYPE(self), ts->str_maybe_resume_protocol)
              == ts->py_maybe_resume_protocol;
}

/* logger.warning('socket.send() raised exception.') once enough writes
   went to a lost connection; then _conn_lost += 1.  The logger and the
   threshold are read from the pure class's module, as its code does. */
static int
transport_write_lost(asyncio_state *st, PyObject *self,
                     transport_fields *f)
{
    transport_state *ts = &st->transport;
    PyObject *limit = transport_global(ts, ts->str_constants,
                                       ts->str_log_threshold);
    if (limit == NULL) {
        return -1;
    }
    /* the caller's test of _conn_lost ran its __bool__, which may have
       deleted it */
    PyObject *lost = Py_XNewRef(field_value(self, f->conn_lost,
                                            "_conn_lost"));
    int over = lost == NULL ? -1 : PyObject_RichCompareBool(lost, limit,
                                                            Py_GE);
    Py_XDECREF(lost);
    Py_DECREF(limit);
    if (over > 0) {
        PyObject *logger = PyObject_GetAttrString(ts->py_module, "logger");
        over = logger == NULL ? -1 : drop_result(PyObject_CallMethod(
            logger, "warning", "s", "socket.send() raised exception."));
        Py_XDECREF(logger);
    }
    return over < 0 ? -1 : transport_count_lost(self, f);
}

/* self._buffer.extend(data[start:]); view is data's buffer when data is a
   plain bytes-like object, else NULL. */
static int
transport_buffer_extend(asyncio_state *st, PyObject *self,
                        transport_fields *f, PyObject *data,
                        Py_buffer *view, Py_ssize_t start)
{
    PyObject *buffer = field_value(self, f->buffer, "_buffer");
    if (buffer == NULL) {
        return -1;
    }
    if (view != NULL && PyByteArray_CheckExact(buffer) && buffer != data) {
        Py_ssize_t old = PyByteArray_GET_SIZE(buffer);
        Py_ssize_t more = view->len - start;
        if (PyByteArray_Resize(buffer, old + more) < 0) {
            return -1;
        }
        memcpy(PyByteArray_AS_STRING(buffer) + old,
               (char *)view->buf + start, more);
        return 0;
    }
    Py_INCREF(buffer);
    PyObject *rest = data;
    Py_INCREF(rest);
    if (start != 0) {
        Py_SETREF(rest, PySequence_GetSlice(data, start, PY_SSIZE_T_MAX));
    }
    int rc = -1;
    if (rest != NULL) {
        rc = drop_result(PyObject_CallMethodOneArg(
            buffer, st->transport.str_extend, rest));
        Py_DECREF(rest);
    }
    Py_DECREF(buffer);
    return rc;
}

/* Whether data's buffer can stand for data in send() and slicing: a plain
   bytes or bytearray, or a one-dimensional byte memoryview (slicing any
   other memoryview counts its items, not its bytes, as the pure code
   does). */
static int
transport_simple_bytes(PyObject *data)
{
    if (PyBytes_CheckExact(data) || PyByteArray_CheckExact(data)) {
        return 1;
    }
    if (PyMemoryView_Check(data) && Py_IS_TYPE(data, &PyMemoryView_Type)) {
        Py_buffer *b = PyMemoryView_GET_BUFFER(data);
        return b->ndim == 1 && b->itemsize == 1;
    }
    return 0;
}

static int
transport_write_impl(asyncio_state *st, PyObject *self, PyObject *data)
{
    transport_state *ts = &st->transport;
    transport_fields *f = transport_fields_of(st, self);
    if (!PyBytes_Check(data) && !PyByteArray_Check(data)
        && !PyMemoryView_Check(data)) {
        PyObject *name = PyType_GetName(Py_TYPE(data));
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "data argument must be a bytes-like object, "
                         "not %R", name);
            Py_DECREF(name);
        }
        return -1;
    }
    int eof = field_truth(self, f->eof, "_eof");
    if (eof != 0) {
        if (eof > 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Cannot call write() after write_eof()");
        }
        return -1;
    }
    if (field_value(self, f->empty_waiter, "_empty_waiter") == NULL) {
        return -1;
    }
    if (f->empty_waiter != Py_None) {
        PyErr_SetString(PyExc_RuntimeError,
                        "unable to write; sendfile is in progress");
        return -1;
    }
    int nonempty = object_truth(data);
    if (nonempty <= 0) {
        return nonempty;
    }
    int lost = transport_conn_lost(self, f);
    if (lost != 0) {
        return lost < 0 ? -1 : transport_write_lost(st, self, f);
    }
    int buffered = field_truth(self, f->buffer, "_buffer");
    if (buffered < 0) {
        return -1;
    }
    Py_buffer view;
    int have_view = transport_simple_bytes(data)
                    && PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) == 0;
    PyErr_Clear();
    int rc = 0;
    Py_ssize_t start = 0;
    if (!buffered) {
        /* the pure code's optimisation: try to send at once */
        PyObject *sock = field_value(self, f->sock, "_sock");
        if (sock == NULL) {
            rc = -1;
            goto done;
        }
        Py_INCREF(sock);
        int again;
        Py_ssize_t n = transport_send(st, sock, data,
                                      have_view ? &view : NULL, &again);
        Py_DECREF(sock);
        if (n < 0 && !again) {
            rc = transport_failed(st, self,
                                  "Fatal write error on socket transport");
            goto done;
        }
        if (n > 0) {
            /* data = data[n:]; if not data: return */
            Py_ssize_t len = have_view ? view.len : PyObject_Size(data);
            if (len < 0) {
                rc = -1;
                goto done;
            }
            start = n < len ? n : len;
            if (start == len) {
                goto done;
            }
        }
        /* not all was written: register the write handler */
        rc = transport_loop_fd_call(st, self, ts->str_add_writer, 1);
        if (rc < 0) {
            goto done;
        }
    }
    rc = transport_buffer_extend(st, self, f, data,
                                 have_view ? &view : NULL, start);
    /* data is the caller's again before pause_writing() runs, which may
       reuse it (the pure code buffered a copy of its rest) */
    if (have_view) {
        PyBuffer_Release(&view);
        have_view = 0;
    }
    if (rc == 0) {
        rc = drop_result(PyObject_CallMethodNoArgs(
            self, ts->str_maybe_pause_protocol));
    }
done:
    if (have_view) {
        PyBuffer_Release(&view);
    }
    return rc;
}

static PyObject *
transport_write(CMETHOD_ARGS)
{
    static const char *const names[] = {"data"};
    PyObject *data;
    if (parse_args("write", args, PyVectorcall_NARGS(nargsf), kwnames,
                   names, 1, 1, 1, &data) < 0) {
        return NULL;
    }
    return none_or_error(transport_write_impl(cls_state(cls), op, data));
}

/* The buffer was sent: the writer goes, a waiting sendfile() learns it,
   and a close() or write_eof() that waited for it happens now. */
static int
transport_write_done(asyncio_state *st, PyObject *self, transport_fields *f)
{
    transport_state *ts = &st->transport;
    if (transport_loop_fd_call(st, self, ts->str_remove_writer, 0) < 0) {
        return -1;
    }
    PyObject *waiter = field_value(self, f->empty_waiter,
                                       "_empty_waiter");
    if (waiter == NULL) {
        return -1;
    }
    if (waiter != Py_None
        && drop_result(transport_call(waiter, ts->str_set_result,
                                      Py_None)) < 0) {
        return -1;
    }
    int closing = field_truth(self, f->closing, "_closing");
    if (closing != 0) {
        return closing < 0 ? -1 : drop_result(transport_call(
            self, ts->str_call_connection_lost, Py_None));
    }
    int eof = field_truth(self, f->eof, "_eof");
    if (eof <= 0) {
        return eof;
    }
    PyObject *sock = field_value(self, f->sock, "_sock");
    if (sock == NULL) {
        return -1;
    }
    PyObject *how = PyLong_FromLong(
#ifdef SHUT_WR
        SHUT_WR
#else
        1
#endif
    );
    if (how == NULL) {
        return -1;
    }
    Py_INCREF(sock);
    int rc = drop_result(transport_call(sock, ts->str_shutdown, how));
    Py_DECREF(sock);
    Py_DECREF(how);
    return rc;
}

/* The send of the buffer failed with the exception being raised: the
   writer goes, the buffer is dropped, _fatal_error() hears of it, and a
   waiting sendfile() gets the exception. */
static int
transport_write_failed(asyncio_state *st, PyObject *self,
                       transport_fields *f)
{
    transport_state *ts = &st->transport;
    if (exception_propagates()) {
        return -1;
    }
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return -1;
    }
    PyObject *saved = transport_handling(exc);
    int rc = transport_loop_fd_call(st, self, ts->str_remove_writer, 0);
    if (rc == 0) {
        PyObject *buffer = field_value(self, f->buffer, "_buffer");
        rc = buffer == NULL ? -1 : drop_result(
            transport_call(buffer, ts->str_clear, NULL));
    }
    if (rc == 0) {
        rc = transport_call_fatal_error(
            st, self, exc, "Fatal write error on socket transport");
    }
    if (rc == 0) {
        PyObject *waiter = field_value(self, f->empty_waiter,
                                           "_empty_waiter");
        if (waiter == NULL) {
            rc = -1;
        }
        else if (waiter != Py_None) {
            Py_INCREF(waiter);
            rc = drop_result(transport_call(waiter, ts->str_set_exception,
                                            exc));
            Py_DECREF(waiter);
        }
    }
    transport_handled(saved);
    Py_DECREF(exc);
    return rc;
}

static int
transport_write_ready_impl(asyncio_state *st, PyObject *self)
{
    transport_fields *f = transport_fields_of(st, self);
    int buffered = field_truth(self, f->buffer, "_buffer");
    if (buffered < 0) {
        return -1;
    }
    if (!buffered && !Py_OptimizeFlag) {
        PyErr_SetString(PyExc_AssertionError, "Data should not be empty");
        return -1;
    }
    int lost = transport_conn_lost(self, f);
    if (lost != 0) {
        return lost < 0 ? -1 : 0;
    }
    PyObject *sock = Py_XNewRef(field_value(self, f->sock, "_sock"));
    if (sock == NULL) {
        return -1;
    }
    /* (the tests above ran code that may have deleted _buffer) */
    PyObject *buffer = Py_XNewRef(field_value(self, f->buffer, "_buffer"));
    if (buffer == NULL) {
        Py_DECREF(sock);
        return -1;
    }
    Py_buffer view;
    int have_view = PyByteArray_CheckExact(buffer)
                    && PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE) == 0;
    int again;
    Py_ssize_t n = transport_send(st, sock, buffer,
                                  have_view ? &view : NULL, &again);
    if (have_view) {
        PyBuffer_Release(&view);
    }
    Py_DECREF(sock);
    Py_DECREF(buffer);
    if (n < 0) {
        return again ? 0 : transport_write_failed(st, self, f);
    }
    int rc = 0;
    if (n > 0) {
        /* del self._buffer[:n] */
        buffer = field_value(self, f->buffer, "_buffer");
        if (buffer == NULL) {
            return -1;
        }
        Py_INCREF(buffer);
        rc = PySequence_DelSlice(buffer, 0, n);
        Py_DECREF(buffer);
        if (rc < 0) {
            return -1;
        }
    }
    if (!transport_resume_is_idle(st, self)
        && drop_result(PyObject_CallMethodNoArgs(
               self, st->transport.str_maybe_resume_protocol)) < 0) {
        return -1;
    }
    buffered = field_truth(self, f->buffer, "_buffer");
    if (buffered != 0) {
        return buffered < 0 ? -1 : 0;
    }
    return transport_write_done(st, self, f);
}

static PyObject *
transport__write_ready(CMETHOD_ARGS)
{
    if (check_no_args("_write_ready", nargsf, kwnames) < 0) {
        return NULL;
    }
    return none_or_error(transport_write_ready_impl(cls_state(cls), op));
}


/* ---------- The loop's map of transports ----------
 *
 * BaseSelectorEventLoop keeps its transports in loop._transports, a
 * weakref.WeakValueDictionary from file descriptor to transport: a socket
 * transport enters itself there when it is made, and the loop looks there
 * (_ensure_fd_no_transport(), in connections.c) before it lets a reader or
 * a writer watch a descriptor, so that nothing else reads or writes a
 * transport's socket.  Through WeakValueDictionary's Python methods each
 * of those is two or three frames, and a look-up of a free descriptor
 * raises and catches a KeyError: for a service that sets up a connection
 * per request, that costs about as much as the request's reads and
 * writes.  Here the map is read and written on its own dict, as its
 * methods would do it, while it is a WeakValueDictionary whose methods,
 * and KeyedRef's, are still the ones weakref defines; any other map is
 * used as a mapping. */

/* weakref's WeakValueDictionary and KeyedRef, with their methods as they
   are now; when weakref does not have them as expected every map is used
   as a mapping (map_loaded -1). */
static int
transport_load_map(transport_state *ts)
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
        found[0] = _PyType_Lookup((PyTypeObject *)wvd, ts->str_getitem);
        found[1] = _PyType_Lookup((PyTypeObject *)wvd, ts->str_setitem);
        found[2] = _PyType_Lookup((PyTypeObject *)kr, ts->str_new);
        found[3] = _PyType_Lookup((PyTypeObject *)kr, ts->str_init);
    }
    if (found[0] == NULL || found[1] == NULL || found[2] == NULL
        || found[3] == NULL) {
        ts->map_loaded = -1;
        Py_DECREF(kr);
        Py_DECREF(wvd);
        Py_DECREF(mod);
        return 0;
    }
    Py_XSETREF(ts->wvd_getitem, Py_NewRef(found[0]));
    Py_XSETREF(ts->wvd_setitem, Py_NewRef(found[1]));
    Py_XSETREF(ts->keyedref_new, Py_NewRef(found[2]));
    Py_XSETREF(ts->keyedref_init, Py_NewRef(found[3]));
    Py_XSETREF(ts->weakref_dict, Py_NewRef(PyModule_GetDict(mod)));
    Py_XSETREF(ts->keyedref_type, kr);
    Py_XSETREF(ts->wvd_type, wvd);
    ts->map_loaded = 1;
    Py_DECREF(mod);
    return 0;
}

/* Whether map can be read (or, when setting, written) on its own dict:
   it is a WeakValueDictionary whose __getitem__ (__setitem__) is still
   weakref's, and no removal waits to be committed (the method would
   commit it first).  1 with *data its dict (new reference), 0 to use map
   as a mapping, -1 on error. */
static int
transport_map_plain(transport_state *ts, PyObject *map, int setting,
                    PyObject **data)
{
    *data = NULL;
    if (ts->map_loaded >= 0 && ts->wvd_type == NULL
        && transport_load_map(ts) < 0) {
        return -1;
    }
    if (ts->map_loaded < 0
        || !Py_IS_TYPE(map, (PyTypeObject *)ts->wvd_type)
        || _PyType_Lookup(Py_TYPE(map),
                          setting ? ts->str_setitem : ts->str_getitem)
           != (setting ? ts->wvd_setitem : ts->wvd_getitem)) {
        return 0;
    }
    PyObject *pending = PyObject_GetAttr(map, ts->str_pending_removals);
    if (pending == NULL) {
        return -1;
    }
    int idle = PyList_CheckExact(pending) && PyList_GET_SIZE(pending) == 0;
    Py_DECREF(pending);
    if (!idle) {
        return 0;
    }
    PyObject *d = PyObject_GetAttr(map, ts->str_data);
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

/* Whether weakref.KeyedRef is still the class transport_load_map() found,
   with its __new__ and __init__: 1, 0, -1 on error. */
static int
transport_keyedref_plain(transport_state *ts)
{
    PyObject *kr = PyDict_GetItemWithError(ts->weakref_dict,
                                           ts->str_keyedref);
    if (kr == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return kr == ts->keyedref_type
           && _PyType_Lookup((PyTypeObject *)kr, ts->str_new)
              == ts->keyedref_new
           && _PyType_Lookup((PyTypeObject *)kr, ts->str_init)
              == ts->keyedref_init;
}

/* map[key], as _ensure_fd_no_transport() asks it: 1 with *value (new
   reference), 0 when there is none (map raised KeyError, cleared), -1 on
   error. */
int
transport_map_get(transport_state *ts, PyObject *map, PyObject *key,
                  PyObject **value)
{
    *value = NULL;
    PyObject *data;
    int plain = transport_map_plain(ts, map, 0, &data);
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

static int
transport_map_set(transport_state *ts, PyObject *map, PyObject *key,
                  PyObject *transport)
{
    PyObject *data;
    int plain = transport_map_plain(ts, map, 1, &data);
    if (plain > 0) {
        plain = transport_keyedref_plain(ts);
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
    PyObject *remove = PyObject_GetAttr(map, ts->str_remove);
    PyObject *args = remove != NULL ? PyTuple_Pack(2, transport, remove)
                                    : NULL;
    Py_XDECREF(remove);
    PyObject *ref = args != NULL ? _PyWeakref_RefType.tp_new(
        (PyTypeObject *)ts->keyedref_type, args, NULL) : NULL;
    Py_XDECREF(args);
    int rc = -1;
    if (ref != NULL && PyObject_SetAttr(ref, ts->str_key, key) == 0) {
        rc = PyDict_SetItem(data, key, ref);
    }
    Py_XDECREF(ref);
    Py_DECREF(data);
    return rc;
}


/* ---------- Construction ----------
 *
 * The pure class's constructor runs _SelectorSocketTransport.__init__,
 * _SelectorTransport.__init__, _FlowControlMixin.__init__ and
 * BaseTransport.__init__, and in them set_protocol(),
 * _set_write_buffer_limits() and base_events._set_nodelay(), whose
 * socket.family and socket.type convert ints to enums: a seventh of the
 * instructions of a connection that carries one request (tcp_churn).
 * transport_tp_init() does the same steps in the same order, with the
 * same calls of whatever may run Python code (the socket's and the
 * protocol's methods, the extra mapping, trsock.TransportSocket,
 * server._attach(), loop._transports, loop.call_soon()), for the type
 * itself called with positional arguments, as the loop calls it, while
 * the type's __init__, set_protocol, _set_write_buffer_limits and
 * _buffer_factory and base_events._set_nodelay are those the type was
 * made with.  Otherwise (a subclass, keywords, something replaced) the
 * pure __init__ runs. */

/* Store value (a new reference) in the slot at offset. */
static inline void
transport_set_slot(PyObject *self, Py_ssize_t offset, PyObject *value)
{
    PyObject **slot = (PyObject **)((char *)self + offset);
    Py_XSETREF(*slot, value);
}

/* 1 when the C constructor may serve self, 0 when the pure one must. */
static int
transport_init_in_c(transport_state *ts, PyObject *self, PyObject *args,
                    PyObject *kwds)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    return tp == ts->TransportType
           && (kwds == NULL || PyDict_GET_SIZE(kwds) == 0)
           && nargs >= 3 && nargs <= 6
           && ts->py_init != NULL && ts->py_set_protocol != NULL
           && ts->py_set_write_buffer_limits != NULL
           && ts->py_buffer_factory != NULL
           && _PyType_Lookup(tp->tp_base, ts->str_init) == ts->py_init
           && _PyType_Lookup(tp, ts->str_set_protocol)
              == ts->py_set_protocol
           && _PyType_Lookup(tp, ts->str_set_write_buffer_limits)
              == ts->py_set_write_buffer_limits
           && _PyType_Lookup(tp, ts->str_buffer_factory)
              == ts->py_buffer_factory;
}

/* The pure class's __init__(self, *args, **kwds), as it is now. */
static int
transport_init_pure(transport_state *ts, PyObject *self, PyObject *args,
                    PyObject *kwds)
{
    PyObject *init = _PyType_Lookup(ts->TransportType->tp_base,
                                    ts->str_init);
    if (init == NULL) {
        PyErr_Format(PyExc_TypeError, "%R has no __init__",
                     ts->TransportType->tp_base);
        return -1;
    }
    Py_INCREF(init);
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    PyObject *full = PyTuple_New(nargs + 1);
    if (full == NULL) {
        Py_DECREF(init);
        return -1;
    }
    PyTuple_SET_ITEM(full, 0, Py_NewRef(self));
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(full, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
    }
    PyObject *res = PyObject_Call(init, full, kwds);
    Py_DECREF(full);
    Py_DECREF(init);
    return drop_result(res);
}

/* extra[key] = sock.<method>(), or None when the call raises OSError. */
static int
transport_store_address(PyObject *extra, PyObject *key, PyObject *sock,
                        PyObject *method)
{
    PyObject *addr = PyObject_CallMethodNoArgs(sock, method);
    if (addr == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_OSError)) {
            return -1;
        }
        PyErr_Clear();
        addr = Py_NewRef(Py_None);
    }
    int rc = PyObject_SetItem(extra, key, addr);
    Py_DECREF(addr);
    return rc;
}

/* The int a getter of _socket.socket gives for sock; -1 with an exception
   set on error. */
long
transport_socket_int(PyObject *getter, PyObject *sock)
{
    PyObject *v = Py_TYPE(getter)->tp_descr_get(getter, sock, NULL);
    if (v == NULL) {
        return -1;
    }
    long res = PyLong_AsLong(v);
    Py_DECREF(v);
    return res;
}

/* base_events._set_nodelay(sock): turn Nagle's algorithm off on a TCP
   socket.  The function's own work when it is still the one the type was
   made with and sock is a plain socket; else a call of it. */
static int
transport_set_nodelay(transport_state *ts, PyObject *sock)
{
    PyObject *fn = transport_global(ts, ts->str_base_events,
                                    ts->str_set_nodelay);
    if (fn == NULL) {
        return -1;
    }
    if (fn != ts->py_set_nodelay || ts->nodelay_args == NULL
        || !Py_IS_TYPE(sock, (PyTypeObject *)ts->socket_type)) {
        int rc = drop_result(PyObject_CallOneArg(fn, sock));
        Py_DECREF(fn);
        return rc;
    }
    Py_DECREF(fn);
    long family = transport_socket_int(ts->sock_family, sock);
    if (family == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (family != ts->af_inet && family != ts->af_inet6) {
        return 0;
    }
    long type = transport_socket_int(ts->sock_type, sock);
    if (type == -1 && PyErr_Occurred()) {
        return -1;
    }
    long proto = type != ts->sock_stream ? -1
                 : transport_socket_int(ts->sock_proto, sock);
    if (proto == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (type != ts->sock_stream || proto != ts->ipproto_tcp) {
        return 0;
    }
    PyObject *stack[4] = {
        sock,
        PyTuple_GET_ITEM(ts->nodelay_args, 0),
        PyTuple_GET_ITEM(ts->nodelay_args, 1),
        PyTuple_GET_ITEM(ts->nodelay_args, 2),
    };
    return drop_result(PyObject_VectorcallMethod(
        ts->str_setsockopt, stack, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET,
        NULL));
}

/* set_protocol(protocol), the pure class's: the read callback for the kind
   of protocol, then _protocol and _protocol_connected. */
static int
transport_set_protocol(transport_state *ts, PyObject *self,
                       transport_fields *f, PyObject *protocol)
{
    PyObject *cls = transport_global(ts, ts->str_protocols,
                                     ts->str_buffered_protocol);
    if (cls == NULL) {
        return -1;
    }
    int buffered = PyObject_IsInstance(protocol, cls);
    Py_DECREF(cls);
    if (buffered < 0) {
        return -1;
    }
    PyObject *cb = PyObject_GetAttr(self, buffered
                                    ? ts->str_read_ready_get_buffer
                                    : ts->str_read_ready_data);
    if (cb == NULL) {
        return -1;
    }
    Py_XSETREF(f->read_ready_cb, cb);
    Py_XSETREF(f->protocol, Py_NewRef(protocol));
    return PyObject_SetAttr(self, ts->str_protocol_connected, Py_True);
}

/* self._loop.call_soon(fn, *args), the loop read at the time of the call,
   as the pure constructor reads it. */
static int
transport_call_soon(asyncio_state *st, PyObject *self, PyObject *fn,
                    PyObject *arg1, PyObject *arg2)
{
    PyObject *loop = transport_slot(self, st->transport.loop_offset);
    if (field_value(self, loop, "_loop") == NULL) {
        return -1;
    }
    if (arg2 == NULL) {
        Py_INCREF(loop);
        int rc = loop_call_soon(st, loop, fn, arg1, NULL);
        Py_DECREF(loop);
        return rc;
    }
    PyObject *stack[4] = {loop, fn, arg1, arg2};
    Py_INCREF(loop);
    int rc = drop_result(PyObject_VectorcallMethod(
        st->str_call_soon, stack, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET,
        NULL));
    Py_DECREF(loop);
    return rc;
}

/* The part of _SelectorTransport.__init__ after _FlowControlMixin's:
   extra, the socket and its descriptor, the protocol, the server, the
   buffer and the flags, and the loop's map of transports. */
static int
transport_init_selector(asyncio_state *st, PyObject *self,
                        transport_fields *f, PyObject *loop, PyObject *sock,
                        PyObject *protocol, PyObject *extra,
                        PyObject *server)
{
    transport_state *ts = &st->transport;
    PyObject *wrapper_cls = transport_global(ts, ts->str_trsock,
                                             ts->str_transport_socket);
    PyObject *wrapper = wrapper_cls != NULL
        ? PyObject_CallOneArg(wrapper_cls, sock) : NULL;
    Py_XDECREF(wrapper_cls);
    if (wrapper == NULL) {
        return -1;
    }
    int rc = PyObject_SetItem(extra, ts->str_socket, wrapper);
    Py_DECREF(wrapper);
    if (rc < 0 || transport_store_address(extra, ts->str_sockname, sock,
                                          ts->str_getsockname) < 0) {
        return -1;
    }
    int has_peer = PySequence_Contains(extra, ts->str_peername);
    if (has_peer < 0
        || (!has_peer
            && transport_store_address(extra, ts->str_peername, sock,
                                       ts->str_getpeername) < 0)) {
        return -1;
    }
    Py_XSETREF(f->sock, Py_NewRef(sock));
    PyObject *fd = PyObject_CallMethodNoArgs(sock, ts->str_fileno);
    if (fd == NULL) {
        return -1;
    }
    Py_XSETREF(f->sock_fd, fd);
    if (PyObject_SetAttr(self, ts->str_protocol_connected, Py_False) < 0
        || transport_set_protocol(ts, self, f, protocol) < 0
        || PyObject_SetAttr(self, ts->str_server, server) < 0) {
        return -1;
    }
    PyObject *buffer = PyByteArray_FromStringAndSize(NULL, 0);
    if (buffer == NULL) {
        return -1;
    }
    Py_XSETREF(f->buffer, buffer);
    Py_XSETREF(f->conn_lost, PyLong_FromLong(0));
    Py_XSETREF(f->closing, Py_NewRef(Py_False));
    if (server != Py_None && drop_result(PyObject_CallMethodNoArgs(
                                 server, ts->str_attach)) < 0) {
        return -1;
    }
    PyObject *transports = PyObject_GetAttr(loop, ts->str_transports);
    if (transports == NULL) {
        return -1;
    }
    /* _sock_fd, read again: server._attach() may have changed it */
    fd = field_value(self, f->sock_fd, "_sock_fd");
    Py_XINCREF(fd);
    rc = fd != NULL ? transport_map_set(ts, transports, fd, self) : -1;
    Py_XDECREF(fd);
    Py_DECREF(transports);
    return rc;
}

/* __init__(loop, sock, protocol, waiter=None, extra=None, server=None) */
static int
transport_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return -1;
    }
    transport_state *ts = &st->transport;
    if (!transport_init_in_c(ts, self, args, kwds)) {
        return transport_init_pure(ts, self, args, kwds);
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    PyObject *loop = PyTuple_GET_ITEM(args, 0);
    PyObject *sock = PyTuple_GET_ITEM(args, 1);
    PyObject *protocol = PyTuple_GET_ITEM(args, 2);
    PyObject *waiter = nargs > 3 ? PyTuple_GET_ITEM(args, 3) : Py_None;
    PyObject *extra = nargs > 4 ? PyTuple_GET_ITEM(args, 4) : Py_None;
    PyObject *server = nargs > 5 ? PyTuple_GET_ITEM(args, 5) : Py_None;
    transport_fields *f = transport_fields_of(st, self);

    Py_XSETREF(f->read_ready_cb, Py_NewRef(Py_None));
    /* BaseTransport and _FlowControlMixin: the extra mapping, the loop,
       and the default write buffer limits */
    extra = extra == Py_None ? PyDict_New() : Py_NewRef(extra);
    if (extra == NULL) {
        return -1;
    }
    transport_set_slot(self, ts->extra_offset, Py_NewRef(extra));
    transport_set_slot(self, ts->loop_offset, Py_NewRef(loop));
    transport_set_slot(self, ts->protocol_paused_offset,
                       Py_NewRef(Py_False));
    transport_set_slot(self, ts->high_water_offset,
                       Py_NewRef(ts->high_water));
    transport_set_slot(self, ts->low_water_offset, Py_NewRef(ts->low_water));
    int rc = transport_init_selector(st, self, f, loop, sock, protocol,
                                     extra, server);
    Py_DECREF(extra);
    if (rc < 0) {
        return -1;
    }
    /* _SelectorSocketTransport's own */
    Py_XSETREF(f->eof, Py_NewRef(Py_False));
    Py_XSETREF(f->paused, Py_NewRef(Py_False));
    Py_XSETREF(f->empty_waiter, Py_NewRef(Py_None));
    PyObject *sock_now = field_value(self, f->sock, "_sock");
    Py_XINCREF(sock_now);
    rc = sock_now != NULL ? transport_set_nodelay(ts, sock_now) : -1;
    Py_XDECREF(sock_now);
    if (rc < 0) {
        return -1;
    }
    /* the protocol hears of the connection before reading starts, and the
       waiter after that */
    PyObject *proto = field_value(self, f->protocol, "_protocol");
    if (proto == NULL) {
        return -1;
    }
    Py_INCREF(proto);
    PyObject *made = PyObject_GetAttr(proto, ts->str_connection_made);
    Py_DECREF(proto);
    if (made == NULL) {
        return -1;
    }
    rc = transport_call_soon(st, self, made, self, NULL);
    Py_DECREF(made);
    if (rc < 0) {
        return -1;
    }
    PyObject *add_reader = PyObject_GetAttr(self, ts->str_add_reader);
    PyObject *read_ready = add_reader != NULL
        ? PyObject_GetAttr(self, ts->str_read_ready) : NULL;
    PyObject *fd = read_ready != NULL
        ? field_value(self, f->sock_fd, "_sock_fd") : NULL;
    Py_XINCREF(fd);
    rc = fd != NULL
         ? transport_call_soon(st, self, add_reader, fd, read_ready) : -1;
    Py_XDECREF(fd);
    Py_XDECREF(read_ready);
    Py_XDECREF(add_reader);
    if (rc < 0 || waiter == Py_None) {
        return rc;
    }
    PyObject *set_result = transport_global(
        ts, ts->str_futures, ts->str_set_result_unless_cancelled);
    if (set_result == NULL) {
        return -1;
    }
    rc = transport_call_soon(st, self, set_result, waiter, Py_None);
    Py_DECREF(set_result);
    return rc;
}


/* ---------- Closing ----------
 *
 * close() and _call_connection_lost(), which every connection runs once,
 * and _add_reader(), through which a new connection starts reading: the
 * pure classes' methods (_SelectorTransport's, and _SelectorSocketTransport's
 * _call_connection_lost() around its base's), without their frames. */

/* is_closing() and get_extra_info(), which protocols ask before their
   writes (aiohttp asks both for each response), answered as the pure
   methods answer, without their frames. */
static PyObject *
transport_is_closing(CMETHOD_ARGS)
{
    if (check_no_args("is_closing", nargsf, kwnames) < 0) {
        return NULL;
    }
    transport_fields *f = transport_fields_of(cls_state(cls), op);
    return Py_XNewRef(field_value(op, f->closing, "_closing"));
}

/* Whether transport is of the C class and its method `name` is the
   class's own, `own`: the streams then run it without the call. */
static int
transport_own_method(transport_state *ts, PyObject *transport,
                     PyObject *name, PyObject *own)
{
    return ts->TransportType != NULL
           && PyObject_TypeCheck(transport, ts->TransportType)
           && _PyType_Lookup(Py_TYPE(transport), name) == own;
}

int
transport_closing(asyncio_state *st, PyObject *transport)
{
    transport_state *ts = &st->transport;
    if (!transport_own_method(ts, transport, ts->str_is_closing,
                              ts->own_is_closing)) {
        return -2;
    }
    transport_fields *f = transport_fields_of(st, transport);
    return field_truth(transport, f->closing, "_closing");
}

int
transport_write_direct(asyncio_state *st, PyObject *transport,
                       PyObject *data)
{
    transport_state *ts = &st->transport;
    if (!transport_own_method(ts, transport, ts->str_write,
                              ts->own_write)) {
        return -2;
    }
    return transport_write_impl(st, transport, data);
}

static PyObject *
transport_get_extra_info(CMETHOD_ARGS)
{
    static const char *const names[] = {"name", "default"};
    PyObject *a[2];
    if (parse_args("get_extra_info", args, PyVectorcall_NARGS(nargsf),
                   kwnames, names, 2, 2, 1, a) < 0) {
        return NULL;
    }
    transport_state *ts = &cls_state(cls)->transport;
    PyObject *extra = transport_slot(op, ts->extra_offset);
    PyObject *dflt = a[1] != NULL ? a[1] : Py_None;
    if (extra == NULL || !PyDict_CheckExact(extra)) {
        /* self._extra.get(name, default), whatever _extra is */
        PyObject *obj = PyObject_GetAttr(op, ts->str_extra);
        if (obj == NULL) {
            return NULL;
        }
        PyObject *stack[3] = {obj, a[0], dflt};
        PyObject *res = PyObject_VectorcallMethod(
            ts->str_get, stack, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_DECREF(obj);
        return res;
    }
    /* the dict's lookup may run the key's __eq__, which may drop it */
    Py_INCREF(extra);
    PyObject *value = PyDict_GetItemWithError(extra, a[0]);
    Py_XINCREF(value);
    Py_DECREF(extra);
    if (value == NULL && !PyErr_Occurred()) {
        value = Py_NewRef(dflt);
    }
    return value;
}

/* close(): stop reading; unless the write buffer still holds data (then
   _write_ready() finishes the close once it is sent), the connection is
   lost in the next loop iteration. */
static PyObject *
transport_close(CMETHOD_ARGS)
{
    if (check_no_args("close", nargsf, kwnames) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    transport_state *ts = &st->transport;
    transport_fields *f = transport_fields_of(st, op);
    int closing = field_truth(op, f->closing, "_closing");
    if (closing != 0) {
        return closing < 0 ? NULL : Py_NewRef(Py_None);
    }
    Py_XSETREF(f->closing, Py_NewRef(Py_True));
    if (transport_loop_fd_call(st, op, ts->str_remove_reader, 0) < 0) {
        return NULL;
    }
    int pending = field_truth(op, f->buffer, "_buffer");
    if (pending != 0) {
        return pending < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (transport_count_lost(op, f) < 0
        || transport_loop_fd_call(st, op, ts->str_remove_writer, 0) < 0) {
        return NULL;
    }
    PyObject *cb = PyObject_GetAttr(op, ts->str_call_connection_lost);
    if (cb == NULL) {
        return NULL;
    }
    int rc = transport_call_soon(st, op, cb, Py_None, NULL);
    Py_DECREF(cb);
    return none_or_error(rc);
}

/* The finally clause of _SelectorTransport._call_connection_lost(): the
   socket is closed, the transport lets go of it, of the protocol and of
   the loop, and detaches from its server. */
static int
transport_release(transport_state *ts, PyObject *self, transport_fields *f)
{
    PyObject *sock = field_value(self, f->sock, "_sock");
    if (sock == NULL) {
        return -1;
    }
    Py_INCREF(sock);
    int rc = drop_result(PyObject_CallMethodNoArgs(sock, ts->str_close));
    Py_DECREF(sock);
    if (rc < 0) {
        return -1;
    }
    Py_XSETREF(f->sock, Py_NewRef(Py_None));
    Py_XSETREF(f->protocol, Py_NewRef(Py_None));
    transport_set_slot(self, ts->loop_offset, Py_NewRef(Py_None));
    PyObject *server = PyObject_GetAttr(self, ts->str_server);
    if (server == NULL) {
        return -1;
    }
    if (server != Py_None) {
        rc = drop_result(PyObject_CallMethodNoArgs(server, ts->str_detach));
        if (rc == 0) {
            rc = PyObject_SetAttr(self, ts->str_server, Py_None);
        }
    }
    Py_DECREF(server);
    return rc;
}

/* _call_connection_lost(exc): the protocol hears of it (if it heard of the
   connection), then the transport lets go of everything; a sendfile()
   waiting for the buffer to empty learns that it never will. */
static PyObject *
transport__call_connection_lost(CMETHOD_ARGS)
{
    static const char *const names[] = {"exc"};
    PyObject *exc;
    if (parse_args("_call_connection_lost", args, PyVectorcall_NARGS(nargsf),
                   kwnames, names, 1, 1, 1, &exc) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    transport_state *ts = &st->transport;
    transport_fields *f = transport_fields_of(st, op);
    int rc = call_truth(PyObject_GetAttr(op, ts->str_protocol_connected));
    if (rc > 0) {
        rc = drop_result(transport_protocol_call(
            op, f, ts->str_connection_lost, exc));
    }
    /* try: ... finally: release, the finally's error taking the place of
       the try's with it as its context, as in Python */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (transport_release(ts, op, f) < 0) {
        if (type != NULL) {
            _PyErr_ChainExceptions(type, value, tb);
        }
        return NULL;
    }
    if (type != NULL) {
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    PyObject *waiter = field_value(op, f->empty_waiter, "_empty_waiter");
    if (waiter == NULL) {
        return NULL;
    }
    if (waiter == Py_None) {
        Py_RETURN_NONE;
    }
    Py_INCREF(waiter);
    PyObject *err = PyObject_CallFunction(PyExc_ConnectionError, "s",
                                          "Connection is closed by peer");
    rc = err == NULL ? -1 : drop_result(transport_call(
        waiter, ts->str_set_exception, err));
    Py_XDECREF(err);
    Py_DECREF(waiter);
    return none_or_error(rc);
}

/* _add_reader(fd, callback, *args): self._loop._add_reader(fd, callback,
   *args), unless the transport is closing. */
static PyObject *
transport__add_reader(CMETHOD_ARGS)
{
    static const char *const names[] = {"fd", "callback"};
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *given[2];
    if (nargs < 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        /* fd and callback by keyword (then there are no *args), or an
           error of the arguments */
        if (nargs > 2) {
            PyErr_Format(PyExc_TypeError,
                         "_add_reader() got an unexpected keyword "
                         "argument '%U'", PyTuple_GET_ITEM(kwnames, 0));
            return NULL;
        }
        if (parse_args("_add_reader", args, nargs, kwnames, names, 2, 2, 2,
                       given) < 0) {
            return NULL;
        }
        args = given;
        nargs = 2;
    }
    asyncio_state *st = cls_state(cls);
    transport_fields *f = transport_fields_of(st, op);
    int closing = field_truth(op, f->closing, "_closing");
    if (closing != 0) {
        return closing < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *loop = transport_slot(op, st->transport.loop_offset);
    if (field_value(op, loop, "_loop") == NULL) {
        return NULL;
    }
    /* the loop takes the place of self in front of the arguments */
    Py_INCREF(loop);
    PyObject *res = call_method_with_self(st->transport.str_add_reader, loop,
                                          args, nargs);
    Py_DECREF(loop);
    return none_or_error(drop_result(res));
}

/* ---------- The type ---------- */

static PyMethodDef transport_methods[] = {
    CMETHOD("write", transport_write,
            PyDoc_STR("write($self, /, data)\n--\n\n"
                      "Send bytes over the connection, without blocking.\n\n"
                      "What the socket takes at once is sent now; the rest "
                      "waits in the\nwrite buffer until the socket is "
                      "writable again.")),
    CMETHOD("_read_ready", transport__read_ready,
            PyDoc_STR("_read_ready($self, /)\n--\n\n"
                      "The socket is readable: hand what it has to the "
                      "protocol.")),
    CMETHOD("_read_ready__data_received",
            transport__read_ready__data_received,
            PyDoc_STR("_read_ready__data_received($self, /)\n--\n\n"
                      "Receive up to max_size bytes and pass them to "
                      "protocol.data_received().")),
    CMETHOD("_read_ready__get_buffer", transport__read_ready__get_buffer,
            PyDoc_STR("_read_ready__get_buffer($self, /)\n--\n\n"
                      "Receive into protocol.get_buffer(-1), then report "
                      "the count to\nprotocol.buffer_updated().")),
    CMETHOD("_read_ready__on_eof", transport__read_ready__on_eof,
            PyDoc_STR("_read_ready__on_eof($self, /)\n--\n\n"
                      "The peer sends no more: call "
                      "protocol.eof_received(), then stop\nreading if it "
                      "returned true, else close the transport.")),
    CMETHOD("is_closing", transport_is_closing,
            PyDoc_STR("is_closing($self, /)\n--\n\n"
                      "Whether close() or abort() was called, or the "
                      "connection was lost.")),
    CMETHOD("get_extra_info", transport_get_extra_info,
            PyDoc_STR("get_extra_info($self, /, name, default=None)\n--\n\n"
                      "What the transport knows of its connection by "
                      "name (\"peername\",\n\"socket\", ...), or "
                      "default.")),
    CMETHOD("close", transport_close,
            PyDoc_STR("close($self, /)\n--\n\n"
                      "Close the transport: stop reading, and once the "
                      "write buffer is\nsent, lose the connection "
                      "(connection_lost(None)).")),
    CMETHOD("_call_connection_lost", transport__call_connection_lost,
            PyDoc_STR("_call_connection_lost($self, /, exc)\n--\n\n"
                      "Tell the protocol the connection is lost, close "
                      "the socket and let\ngo of the protocol, the loop "
                      "and the server.")),
    CMETHOD("_add_reader", transport__add_reader,
            PyDoc_STR("_add_reader($self, /, fd, callback, *args)\n--\n\n"
                      "Have the loop call callback(*args) when fd is "
                      "readable, unless the\ntransport is closing.")),
    CMETHOD("_write_ready", transport__write_ready,
            PyDoc_STR("_write_ready($self, /)\n--\n\n"
                      "The socket is writable: send what the write buffer "
                      "holds.")),
    {NULL, NULL}
};

/* The names of the fields of transport_fields, in their order. */
static const char *const transport_field_names[TRANSPORT_NFIELDS] = {
    "_sock", "_sock_fd", "_protocol", "_buffer", "_conn_lost", "_closing",
    "_eof", "_paused", "_empty_waiter", "_read_ready_cb",
};

/* As object.__new__(), with _sock None: the pure class's destructor reads
   it even when __init__ failed before setting it (the class attribute
   the member shadows). */
static PyObject *
transport_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    asyncio_state *st = state_of_type(tp);
    if (st == NULL) {
        return NULL;
    }
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL) {
        return NULL;
    }
    PyObject *self = PyBaseObject_Type.tp_new(tp, empty, NULL);
    Py_DECREF(empty);
    if (self != NULL) {
        transport_fields_of(st, self)->sock = Py_NewRef(Py_None);
    }
    return self;
}

/* The offset of the object slot `name` (a __slots__ entry) of tp. */
static Py_ssize_t
transport_slot_offset(PyObject *tp, const char *name)
{
    PyObject *descr = PyObject_GetAttrString(tp, name);
    if (descr == NULL) {
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)
        && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX) {
        offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s is not a slot of %R", name, tp);
    }
    Py_DECREF(descr);
    return offset;
}

/* socket.<name> as a C long in *out: 1, or 0 when the module has no
   such name, -1 on error. */
static int
transport_socket_constant(PyObject *socket_module, const char *name,
                          long *out)
{
    PyObject *v = PyObject_GetAttrString(socket_module, name);
    if (v == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    *out = PyLong_AsLong(v);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 1;
}

/* What _set_nodelay() looks at and does: ts->nodelay_args stays NULL when
   the socket module lacks any of the constants (as the function then does
   nothing or fails, the C constructor calls it instead: see
   transport_set_nodelay()). */
static int
transport_load_nodelay(transport_state *ts, PyObject *socket_module,
                       PyObject *base)
{
    Py_XSETREF(ts->sock_family, PyObject_GetAttrString(base, "family"));
    Py_XSETREF(ts->sock_type, ts->sock_family != NULL
               ? PyObject_GetAttrString(base, "type") : NULL);
    Py_XSETREF(ts->sock_proto, ts->sock_type != NULL
               ? PyObject_GetAttrString(base, "proto") : NULL);
    if (ts->sock_proto == NULL) {
        return -1;
    }
    long nodelay = 0;
    int found = 1;
    const struct {
        const char *name;
        long *out;
    } wanted[] = {
        {"AF_INET", &ts->af_inet},
        {"AF_INET6", &ts->af_inet6},
        {"SOCK_STREAM", &ts->sock_stream},
        {"IPPROTO_TCP", &ts->ipproto_tcp},
        {"TCP_NODELAY", &nodelay},
    };
    for (size_t i = 0; i < Py_ARRAY_LENGTH(wanted) && found == 1; i++) {
        found = transport_socket_constant(socket_module, wanted[i].name,
                                          wanted[i].out);
    }
    if (found <= 0) {
        return found;
    }
    Py_XSETREF(ts->nodelay_args,
               Py_BuildValue("(lli)", ts->ipproto_tcp, nodelay, 1));
    return ts->nodelay_args != NULL ? 0 : -1;
}

/* socket.socket, _socket.socket.fileno and what _set_nodelay() needs. */
static int
transport_load_socket(transport_state *ts)
{
    if (ts->socket_type != NULL) {
        return 0;
    }
    PyObject *socket_module = PyImport_ImportModule("socket");
    PyObject *sock = socket_module != NULL
        ? PyObject_GetAttrString(socket_module, "socket") : NULL;
    PyObject *base = sock != NULL ? import_attr("_socket", "socket") : NULL;
    PyObject *fileno = base != NULL ? PyObject_GetAttrString(base, "fileno")
                                    : NULL;
    int rc = fileno != NULL
             ? transport_load_nodelay(ts, socket_module, base) : -1;
    Py_XDECREF(base);
    if (rc < 0) {
        Py_XDECREF(socket_module);
        Py_XDECREF(fileno);
        Py_XDECREF(sock);
        return -1;
    }
    Py_XSETREF(ts->socket_module, socket_module);
    ts->kw_fileno = Py_BuildValue("(s)", "fileno");
    if (ts->kw_fileno == NULL) {
        Py_DECREF(fileno);
        Py_DECREF(sock);
        return -1;
    }
    ts->socket_type = sock;
    ts->sock_fileno = fileno;
    /* A read or write asks each time: sock.close() and sock.detach() change
       it.  The descriptor's checks (an instance of _socket.socket, no
       arguments) hold for the sockets this is called with. */
    ts->sock_fileno_func = NULL;
    if (Py_IS_TYPE(fileno, &PyMethodDescr_Type)) {
        PyMethodDef *def = ((PyMethodDescrObject *)fileno)->d_method;
        if ((def->ml_flags & ~METH_COEXIST) == METH_NOARGS) {
            ts->sock_fileno_func = def->ml_meth;
        }
    }
    return 0;
}

/* What the pure constructor runs (see transport_init_in_c()), as base has
   it now, and the slots it sets. */
static int
transport_load_constructor(transport_state *ts, PyObject *base)
{
    ts->extra_offset = transport_slot_offset(base, "_extra");
    ts->high_water_offset = ts->extra_offset < 0 ? -1 :
        transport_slot_offset(base, "_high_water");
    ts->low_water_offset = ts->high_water_offset < 0 ? -1 :
        transport_slot_offset(base, "_low_water");
    if (ts->low_water_offset < 0) {
        return -1;
    }
    PyTypeObject *tp = (PyTypeObject *)base;
    PyObject *init = _PyType_Lookup(tp, ts->str_init);
    PyObject *set_protocol = _PyType_Lookup(tp, ts->str_set_protocol);
    PyObject *limits = _PyType_Lookup(tp, ts->str_set_write_buffer_limits);
    PyObject *factory = _PyType_Lookup(tp, ts->str_buffer_factory);
    PyObject *nodelay = transport_global(ts, ts->str_base_events,
                                         ts->str_set_nodelay);
    if (nodelay == NULL) {
        return -1;
    }
    if (ts->high_water == NULL) {
        ts->high_water = PyLong_FromLong(64 * 1024);
        ts->low_water = PyLong_FromLong(16 * 1024);
        if (ts->high_water == NULL || ts->low_water == NULL) {
            Py_DECREF(nodelay);
            return -1;
        }
    }
    /* factory must be bytearray for the C constructor to make one; a
       lookup that fails leaves NULL, which no later lookup matches */
    Py_XSETREF(ts->py_init, Py_XNewRef(init));
    Py_XSETREF(ts->py_set_protocol, Py_XNewRef(set_protocol));
    Py_XSETREF(ts->py_set_write_buffer_limits, Py_XNewRef(limits));
    Py_XSETREF(ts->py_buffer_factory,
               factory == (PyObject *)&PyByteArray_Type
               ? Py_NewRef(factory) : NULL);
    Py_XSETREF(ts->py_set_nodelay, nodelay);
    return 0;
}

PyDoc_STRVAR(transport_doc,
"_SelectorSocketTransport(loop, sock, protocol, waiter=None, extra=None,\n"
"                         server=None)\n"
"--\n\n"
"The socket transport of the selector event loops, whose reads and writes\n"
"run in C.");

/* _socket_transport_type(base): the C type over the pure-Python class. */
static PyObject *
transport__socket_transport_type(PyObject *module, PyObject *base)
{
    asyncio_state *st = get_module_state(module);
    transport_state *ts = &st->transport;
    Py_ssize_t loop_offset = transport_slot_offset(base, "_loop");
    Py_ssize_t paused_offset = loop_offset < 0 ? -1 :
        transport_slot_offset(base, "_protocol_paused");
    if (paused_offset < 0 || transport_load_socket(ts) < 0) {
        return NULL;
    }
    PyObject *module_name = PyObject_GetAttrString(base, "__module__");
    PyObject *py_module = module_name != NULL
        ? PyImport_GetModule(module_name) : NULL;
    Py_XDECREF(module_name);
    if (py_module == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "the module of %R is not loaded",
                         base);
        }
        return NULL;
    }
    Py_XSETREF(ts->py_module, py_module);
    if (transport_load_constructor(ts, base) < 0) {
        return NULL;
    }
    PyObject *resume = _PyType_Lookup((PyTypeObject *)base,
                                      ts->str_maybe_resume_protocol);
    if (resume == NULL) {
        PyErr_Format(PyExc_TypeError, "%R has no _maybe_resume_protocol",
                     base);
        return NULL;
    }
    const fields_subclass_spec spec = {
        .name = "_asyncio._SelectorSocketTransport",
        .doc = transport_doc,
        .fields = transport_field_names,
        .nfields = TRANSPORT_NFIELDS,
        .size = sizeof(transport_fields),
        .members = ts->members,
        .methods = transport_methods,
        .tp_new = transport_tp_new,
        .tp_init = transport_tp_init,
    };
    Py_ssize_t offset;
    PyObject *type = make_fields_subclass(module, base, &spec, &offset);
    if (type == NULL) {
        return NULL;
    }
    if (ts->TransportType != NULL && offset != ts->fields_offset) {
        Py_DECREF(type);
        PyErr_SetString(PyExc_TypeError,
                        "a socket transport type of another layout "
                        "exists");
        return NULL;
    }
    if (lookup_own_attributes((PyTypeObject *)type, &ts->str_is_closing,
                              &ts->own_is_closing, 1) < 0
        || lookup_own_attributes((PyTypeObject *)type, &ts->str_write,
                                 &ts->own_write, 1) < 0) {
        Py_DECREF(type);
        return NULL;
    }
    ts->fields_offset = offset;
    ts->loop_offset = loop_offset;
    ts->protocol_paused_offset = paused_offset;
    Py_XSETREF(ts->py_maybe_resume_protocol, Py_NewRef(resume));
    Py_XSETREF(ts->TransportType, (PyTypeObject *)Py_NewRef(type));
    return type;
}

static PyMethodDef transport_functions[] = {
    {"_socket_transport_type", transport__socket_transport_type, METH_O,
     PyDoc_STR("_socket_transport_type($module, base, /)\n--\n\n"
               "Make the socket transport class whose data path runs in C,"
               " a subclass\nof base, the pure-Python "
               "_SelectorSocketTransport.")},
    {NULL, NULL}
};


/* ---------- The part ---------- */

static int
transport_exec(PyObject *module, asyncio_state *st)
{
    return PyModule_AddFunctions(module, transport_functions);
}

static const asyncio_name transport_names[] = {
    ASYNCIO_NAME(transport.str_add_reader, "_add_reader"),
    ASYNCIO_NAME(transport.str_add_writer, "_add_writer"),
    ASYNCIO_NAME(transport.str_attach, "_attach"),
    ASYNCIO_NAME(transport.str_buffer_updated, "buffer_updated"),
    ASYNCIO_NAME(transport.str_call_connection_lost,
                 "_call_connection_lost"),
    ASYNCIO_NAME(transport.str_clear, "clear"),
    ASYNCIO_NAME(transport.str_data_received, "data_received"),
    ASYNCIO_NAME(transport.str_eof_received, "eof_received"),
    ASYNCIO_NAME(transport.str_extend, "extend"),
    ASYNCIO_NAME(transport.str_extra, "_extra"),
    ASYNCIO_NAME(transport.str_fatal_error, "_fatal_error"),
    ASYNCIO_NAME(transport.str_get_buffer, "get_buffer"),
    ASYNCIO_NAME(transport.str_maybe_pause_protocol,
                 "_maybe_pause_protocol"),
    ASYNCIO_NAME(transport.str_maybe_resume_protocol,
                 "_maybe_resume_protocol"),
    ASYNCIO_NAME(transport.str_log_threshold,
                 "LOG_THRESHOLD_FOR_CONNLOST_WRITES"),
    ASYNCIO_NAME(transport.str_max_size, "max_size"),
    ASYNCIO_NAME(transport.str_on_eof, "_read_ready__on_eof"),
    ASYNCIO_NAME(transport.str_recv, "recv"),
    ASYNCIO_NAME(transport.str_recv_into, "recv_into"),
    ASYNCIO_NAME(transport.str_remove_writer, "_remove_writer"),
    ASYNCIO_NAME(transport.str_send, "send"),
    ASYNCIO_NAME(transport.str_set_exception, "set_exception"),
    ASYNCIO_NAME(transport.str_set_result, "set_result"),
    ASYNCIO_NAME(transport.str_shutdown, "shutdown"),
    ASYNCIO_NAME(transport.str_write_ready, "_write_ready"),
    ASYNCIO_NAME(transport.str_base_events, "base_events"),
    ASYNCIO_NAME(transport.str_buffer_factory, "_buffer_factory"),
    ASYNCIO_NAME(transport.str_buffered_protocol, "BufferedProtocol"),
    ASYNCIO_NAME(transport.str_connection_made, "connection_made"),
    ASYNCIO_NAME(transport.str_fileno, "fileno"),
    ASYNCIO_NAME(transport.str_futures, "futures"),
    ASYNCIO_NAME(transport.str_get, "get"),
    ASYNCIO_NAME(transport.str_getpeername, "getpeername"),
    ASYNCIO_NAME(transport.str_getsockname, "getsockname"),
    ASYNCIO_NAME(transport.str_init, "__init__"),
    ASYNCIO_NAME(transport.str_peername, "peername"),
    ASYNCIO_NAME(transport.str_protocol_connected, "_protocol_connected"),
    ASYNCIO_NAME(transport.str_protocols, "protocols"),
    ASYNCIO_NAME(transport.str_read_ready, "_read_ready"),
    ASYNCIO_NAME(transport.str_read_ready_data,
                 "_read_ready__data_received"),
    ASYNCIO_NAME(transport.str_read_ready_get_buffer,
                 "_read_ready__get_buffer"),
    ASYNCIO_NAME(transport.str_server, "_server"),
    ASYNCIO_NAME(transport.str_set_nodelay, "_set_nodelay"),
    ASYNCIO_NAME(transport.str_set_protocol, "set_protocol"),
    ASYNCIO_NAME(transport.str_set_result_unless_cancelled,
                 "_set_result_unless_cancelled"),
    ASYNCIO_NAME(transport.str_set_write_buffer_limits,
                 "_set_write_buffer_limits"),
    ASYNCIO_NAME(transport.str_setsockopt, "setsockopt"),
    ASYNCIO_NAME(transport.str_socket, "socket"),
    ASYNCIO_NAME(transport.str_sockname, "sockname"),
    ASYNCIO_NAME(transport.str_transport_socket, "TransportSocket"),
    ASYNCIO_NAME(transport.str_transports, "_transports"),
    ASYNCIO_NAME(transport.str_trsock, "trsock"),
    ASYNCIO_NAME(transport.str_data, "data"),
    ASYNCIO_NAME(transport.str_getitem, "__getitem__"),
    ASYNCIO_NAME(transport.str_key, "key"),
    ASYNCIO_NAME(transport.str_keyedref, "KeyedRef"),
    ASYNCIO_NAME(transport.str_new, "__new__"),
    ASYNCIO_NAME(transport.str_pending_removals, "_pending_removals"),
    ASYNCIO_NAME(transport.str_remove, "_remove"),
    ASYNCIO_NAME(transport.str_setitem, "__setitem__"),
    ASYNCIO_NAME(transport.str_close, "close"),
    ASYNCIO_NAME(transport.str_connection_lost, "connection_lost"),
    ASYNCIO_NAME(transport.str_detach, "_detach"),
    ASYNCIO_NAME(transport.str_constants, "constants"),
    ASYNCIO_NAME(transport.str_remove_reader, "_remove_reader"),
    ASYNCIO_NAME(transport.str_is_closing, "is_closing"),
    ASYNCIO_NAME(transport.str_write, "write"),
};

static const size_t transport_refs[] = {
    ASYNCIO_OFFSET(transport.TransportType),
    ASYNCIO_OFFSET(transport.py_maybe_resume_protocol),
    ASYNCIO_OFFSET(transport.own_is_closing),
    ASYNCIO_OFFSET(transport.own_write),
    ASYNCIO_OFFSET(transport.socket_type),
    ASYNCIO_OFFSET(transport.sock_fileno),
    ASYNCIO_OFFSET(transport.py_module),
    ASYNCIO_OFFSET(transport.py_init),
    ASYNCIO_OFFSET(transport.py_set_protocol),
    ASYNCIO_OFFSET(transport.py_set_write_buffer_limits),
    ASYNCIO_OFFSET(transport.py_buffer_factory),
    ASYNCIO_OFFSET(transport.py_set_nodelay),
    ASYNCIO_OFFSET(transport.high_water),
    ASYNCIO_OFFSET(transport.low_water),
    ASYNCIO_OFFSET(transport.sock_family),
    ASYNCIO_OFFSET(transport.sock_type),
    ASYNCIO_OFFSET(transport.sock_proto),
    ASYNCIO_OFFSET(transport.nodelay_args),
    ASYNCIO_OFFSET(transport.socket_module),
    ASYNCIO_OFFSET(transport.kw_fileno),
    ASYNCIO_OFFSET(transport.wvd_type),
    ASYNCIO_OFFSET(transport.wvd_getitem),
    ASYNCIO_OFFSET(transport.wvd_setitem),
    ASYNCIO_OFFSET(transport.keyedref_type),
    ASYNCIO_OFFSET(transport.keyedref_new),
    ASYNCIO_OFFSET(transport.keyedref_init),
    ASYNCIO_OFFSET(transport.weakref_dict),
};

static void
transport_free(asyncio_state *st)
{
    PyMem_Free(st->transport.scratch);
    st->transport.scratch = NULL;
    st->transport.scratch_size = 0;
}

const asyncio_part transport_part = {
    .free = transport_free,
    .names = transport_names,
    .nnames = Py_ARRAY_LENGTH(transport_names),
    .exec = transport_exec,
    .refs = transport_refs,
    .nrefs = Py_ARRAY_LENGTH(transport_refs),
};
