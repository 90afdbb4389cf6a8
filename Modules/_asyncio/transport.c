/*
 * The socket transport's data path: _SelectorSocketTransport.
 *
 * asyncio.selector_events hands its pure-Python _SelectorSocketTransport
 * to _socket_transport_type(), which makes a subclass of it.  The subclass
 * replaces the methods a connection runs for every read and write
 * (_read_ready, _read_ready__data_received, _read_ready__get_buffer,
 * write, _write_ready) and keeps the attributes they read in C fields,
 * which Python code, the inherited methods included, sees as ordinary
 * attributes (members of the type).  Everything else, construction,
 * close(), abort(), repr(), get_extra_info(), flow control limits, EOF and
 * the way a connection is lost, stays the pure class's, and so behaves as
 * it does; a subclass that overrides a method gets its override called.
 *
 * A plain socket.socket is read and written with recv() and send() on its
 * file descriptor, with MSG_DONTWAIT (a transport's socket is non-blocking;
 * the GIL is let go only for large transfers); a socket of any other type
 * (a subclass, a mock) is read and written through its methods, as the
 * pure class does.
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
    PyObject *fdobj = PyObject_CallOneArg(ts->sock_fileno, sock);
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
   read into, and copied out of, without letting go of the GIL. */
#define TRANSPORT_SCRATCH_READ 4096

static PyObject *
transport_recv_plain(asyncio_state *st, transport_fields *f, int fd,
                     Py_ssize_t len, int *again)
{
    transport_state *ts = &st->transport;
    char *buf;
    PyObject *data = NULL;
    int bulk = f->last_read > TRANSPORT_SCRATCH_READ;
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
    }
    Py_ssize_t n = transport_syscall(fd, buf, len, 0, !bulk);
    if (n < 0) {
        Py_XDECREF(data);
        *again = n == -2;
        return NULL;
    }
    f->last_read = n;
    if (!bulk) {
        return PyBytes_FromStringAndSize(buf, n);
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
    Py_ssize_t n = PyNumber_AsSsize_t(res, PyExc_OverflowError);
    Py_DECREF(res);
    return n;
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
    Py_ssize_t n = PyNumber_AsSsize_t(res, PyExc_OverflowError);
    Py_DECREF(res);
    return n;
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
    PyObject *size = PyObject_GetAttr(self, ts->str_max_size);
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
    int nonempty = PyObject_IsTrue(data);
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

/* self._loop.<name>(self._sock_fd[, self._write_ready]) */
static int
transport_loop_writer(asyncio_state *st, PyObject *self, PyObject *name,
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
    PyObject *constants = PyObject_GetAttrString(ts->py_module, "constants");
    PyObject *limit = constants != NULL ? PyObject_GetAttrString(
        constants, "LOG_THRESHOLD_FOR_CONNLOST_WRITES") : NULL;
    Py_XDECREF(constants);
    if (limit == NULL) {
        return -1;
    }
    PyObject *lost = Py_NewRef(f->conn_lost);
    int over = PyObject_RichCompareBool(lost, limit, Py_GE);
    Py_DECREF(limit);
    if (over > 0) {
        PyObject *logger = PyObject_GetAttrString(ts->py_module, "logger");
        over = logger == NULL ? -1 : drop_result(PyObject_CallMethod(
            logger, "warning", "s", "socket.send() raised exception."));
        Py_XDECREF(logger);
    }
    PyObject *one = over >= 0 ? PyLong_FromLong(1) : NULL;
    PyObject *more = one != NULL ? PyNumber_InPlaceAdd(lost, one) : NULL;
    Py_XDECREF(one);
    Py_DECREF(lost);
    if (more == NULL) {
        return -1;
    }
    Py_XSETREF(f->conn_lost, more);
    return 0;
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
    int nonempty = PyObject_IsTrue(data);
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
        rc = transport_loop_writer(st, self, ts->str_add_writer, 1);
        if (rc < 0) {
            goto done;
        }
    }
    rc = transport_buffer_extend(st, self, f, data,
                                 have_view ? &view : NULL, start);
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
    if (transport_loop_writer(st, self, ts->str_remove_writer, 0) < 0) {
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
    int rc = transport_loop_writer(st, self, ts->str_remove_writer, 0);
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
    PyObject *buffer = Py_NewRef(f->buffer);
    if (sock == NULL) {
        Py_DECREF(buffer);
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

/* socket.socket and _socket.socket.fileno. */
static int
transport_load_socket(transport_state *ts)
{
    if (ts->socket_type != NULL) {
        return 0;
    }
    PyObject *sock = import_attr("socket", "socket");
    PyObject *base = sock != NULL ? import_attr("_socket", "socket") : NULL;
    PyObject *fileno = base != NULL ? PyObject_GetAttrString(base, "fileno")
                                    : NULL;
    Py_XDECREF(base);
    if (fileno == NULL) {
        Py_XDECREF(sock);
        return -1;
    }
    ts->socket_type = sock;
    ts->sock_fileno = fileno;
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
    ASYNCIO_NAME(transport.str_add_writer, "_add_writer"),
    ASYNCIO_NAME(transport.str_buffer_updated, "buffer_updated"),
    ASYNCIO_NAME(transport.str_call_connection_lost,
                 "_call_connection_lost"),
    ASYNCIO_NAME(transport.str_clear, "clear"),
    ASYNCIO_NAME(transport.str_data_received, "data_received"),
    ASYNCIO_NAME(transport.str_extend, "extend"),
    ASYNCIO_NAME(transport.str_fatal_error, "_fatal_error"),
    ASYNCIO_NAME(transport.str_get_buffer, "get_buffer"),
    ASYNCIO_NAME(transport.str_maybe_pause_protocol,
                 "_maybe_pause_protocol"),
    ASYNCIO_NAME(transport.str_maybe_resume_protocol,
                 "_maybe_resume_protocol"),
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
};

static const size_t transport_refs[] = {
    ASYNCIO_OFFSET(transport.TransportType),
    ASYNCIO_OFFSET(transport.py_maybe_resume_protocol),
    ASYNCIO_OFFSET(transport.socket_type),
    ASYNCIO_OFFSET(transport.sock_fileno),
    ASYNCIO_OFFSET(transport.py_module),
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
