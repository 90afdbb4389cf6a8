/*
 * The data path of asyncio's streams: StreamReader, StreamWriter and
 * StreamReaderProtocol.
 *
 * asyncio.streams hands its three pure-Python classes to _stream_types(),
 * which makes a subclass of each, as transport.c does for the socket
 * transport: the attributes the data path reads become C fields seen from
 * Python as ordinary attributes, and the methods a connection runs for
 * every message are replaced:
 *
 *   - StreamReader: feed_data(), feed_eof(), exception(), at_eof(),
 *     _wakeup_waiter(), _maybe_resume_transport(), and the coroutine
 *     methods read(), readexactly(), readline(), readuntil() and
 *     _wait_for_data();
 *   - StreamWriter: write() and drain();
 *   - StreamReaderProtocol: data_received().
 *
 * A coroutine method returns a stream operation (StreamOp), an awaitable
 * that runs the pure method's body as a small state machine: it completes
 * at once when the buffer already holds what is asked for, and otherwise
 * awaits what the body awaits (the reader's _wait_for_data(), its waiter
 * future, sleep(0), the protocol's _drain_helper()), delegating to it as
 * `await` does.  Operations are coroutines for asyncio (registered as
 * collections.abc.Coroutine: a task can run one) and behave as one towards
 * send(), throw() and close() (refused while the operation runs), `await`
 * (refused while another awaits it) and the garbage collector (a warning
 * for one never awaited, a close for one suspended).  Where the body
 * calls a method of the reader that a subclass overrides, the override is
 * called.
 */

#include "module.h"

static inline reader_fields *
reader_fields_of(asyncio_state *st, PyObject *self)
{
    return (reader_fields *)((char *)self + st->streams.reader_offset);
}

static inline writer_fields *
writer_fields_of(asyncio_state *st, PyObject *self)
{
    return (writer_fields *)((char *)self + st->streams.writer_offset);
}

static const char *const protocol_field_names[PROTOCOL_NFIELDS] = {
    "_paused", "_connection_lost", "_stream_reader_wr",
};

/* protocol.<field `which`> (new reference).  A protocol of the C class
   keeps its fields in the object: they are read from there while the
   generic getattr would find the class's member, not a subclass's
   attribute of that name. */
static PyObject *
protocol_field(asyncio_state *st, PyObject *protocol, int which)
{
    streams_state *ss = &st->streams;
    PyObject *name = ss->protocol_names[which];
    PyTypeObject *tp = Py_TYPE(protocol);
    if (ss->ProtocolType == NULL || !PyObject_TypeCheck(protocol,
                                                        ss->ProtocolType)
        || tp->tp_getattro != PyObject_GenericGetAttr
        || _PyType_Lookup(tp, name) != ss->protocol_own[which]) {
        return PyObject_GetAttr(protocol, name);
    }
    PyObject **fields = (PyObject **)((char *)protocol
                                      + ss->protocol_offset);
    return Py_XNewRef(field_value(protocol, fields[which],
                                  protocol_field_names[which]));
}

/* Set a field to a new reference, dropping the old one last. */
static inline void
streams_set(PyObject **field, PyObject *value)
{
    Py_XSETREF(*field, value);
}

/* Whether self's method `which` is the C type's own: not overridden. */
static inline int
streams_own(asyncio_state *st, PyObject *self, int which)
{
    return _PyType_Lookup(Py_TYPE(self), st->streams.reader_names[which])
           == st->streams.reader_own[which];
}

/* asyncio.exceptions' IncompleteReadError and LimitOverrunError. */
static int
streams_load_exceptions(streams_state *ss)
{
    if (import_once(&ss->IncompleteReadError, "asyncio.exceptions",
                    "IncompleteReadError") < 0
        || import_once(&ss->LimitOverrunError, "asyncio.exceptions",
                       "LimitOverrunError") < 0) {
        return -1;
    }
    return 0;
}

/* `raise obj`: an exception instance or class, else TypeError. */
static void
streams_raise_object(PyObject *obj)
{
    if (PyExceptionInstance_Check(obj)) {
        raise_instance(obj);
    }
    else if (PyExceptionClass_Check(obj)) {
        PyErr_SetNone(obj);
    }
    else {
        PyErr_SetString(PyExc_TypeError,
                        "exceptions must derive from BaseException");
    }
}

/* Raise cls(*args) built from the Py_BuildValue format. */
static void
streams_raise(PyObject *cls, const char *format, ...)
{
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    if (args == NULL) {
        return;
    }
    PyObject *exc = PyObject_Call(cls, args, NULL);
    Py_DECREF(args);
    if (exc != NULL) {
        raise_instance(exc);
        Py_DECREF(exc);
    }
}


/* ---------- The reader's buffer ---------- */

/* len(self._buffer), or -1 with an exception set. */
static Py_ssize_t
reader_buffer_len(PyObject *self, reader_fields *f)
{
    PyObject *buffer = field_value(self, f->buffer, "_buffer");
    if (buffer == NULL) {
        return -1;
    }
    if (PyByteArray_CheckExact(buffer)) {
        return PyByteArray_GET_SIZE(buffer);
    }
    Py_INCREF(buffer);
    Py_ssize_t n = PyObject_Size(buffer);
    Py_DECREF(buffer);
    return n;
}

/* The first n bytes of the buffer as bytes, taken out of it (all of them
   when n is -1 or more than there are): bytes(self._buffer[:n]) then
   del self._buffer[:n]. */
static PyObject *
reader_buffer_take(PyObject *self, reader_fields *f, Py_ssize_t n)
{
    PyObject *buffer = field_value(self, f->buffer, "_buffer");
    if (buffer == NULL) {
        return NULL;
    }
    Py_INCREF(buffer);
    PyObject *data;
    if (PyByteArray_CheckExact(buffer)) {
        Py_ssize_t len = PyByteArray_GET_SIZE(buffer);
        if (n < 0 || n > len) {
            n = len;
        }
        data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(buffer), n);
    }
    else {
        PyObject *part = PySequence_GetSlice(buffer, 0,
                                             n < 0 ? PY_SSIZE_T_MAX : n);
        data = part != NULL ? PyBytes_FromObject(part) : NULL;
        Py_XDECREF(part);
    }
    if (data != NULL && PyByteArray_CheckExact(buffer)
        && n == PyByteArray_GET_SIZE(buffer)) {
        /* all of it, the usual case: del does no more than this (it too
           refuses while the buffer is exported) */
        if (PyByteArray_Resize(buffer, 0) < 0) {
            Py_CLEAR(data);
        }
    }
    else if (data != NULL
             && PySequence_DelSlice(buffer, 0,
                                    n < 0 ? PY_SSIZE_T_MAX : n) < 0) {
        Py_CLEAR(data);
    }
    Py_DECREF(buffer);
    return data;
}

/* self._buffer.extend(data) */
static int
reader_buffer_extend(asyncio_state *st, PyObject *self, reader_fields *f,
                     PyObject *data)
{
    PyObject *buffer = field_value(self, f->buffer, "_buffer");
    if (buffer == NULL) {
        return -1;
    }
    if (PyByteArray_CheckExact(buffer) && PyBytes_CheckExact(data)) {
        Py_ssize_t old = PyByteArray_GET_SIZE(buffer);
        Py_ssize_t more = PyBytes_GET_SIZE(data);
        if (PyByteArray_Resize(buffer, old + more) < 0) {
            return -1;
        }
        memcpy(PyByteArray_AS_STRING(buffer) + old, PyBytes_AS_STRING(data),
               more);
        return 0;
    }
    Py_INCREF(buffer);
    int rc = drop_result(PyObject_CallMethodOneArg(
        buffer, st->streams.str_extend, data));
    Py_DECREF(buffer);
    return rc;
}

/* `value OP factor * self._limit` (factor 1 or 2, OP Py_GT or Py_LE) as
   the pure class compares: the limit may be any number that compares
   with an int.  1 (true), 0, or -1 with an exception set. */
static int
reader_compare_limit(PyObject *self, reader_fields *f, Py_ssize_t value,
                     int factor, int cmp)
{
    assert(factor == 1 || factor == 2);
    assert(cmp == Py_GT || cmp == Py_LE);
    PyObject *limit = field_value(self, f->limit, "_limit");
    if (limit == NULL) {
        return -1;
    }
    if (PyLong_CheckExact(limit)) {
        /* An int beyond the range of a Py_ssize_t is clipped to it, which
           keeps its order with any size; twice the limit is not computed,
           as it may overflow. */
        Py_ssize_t n = PyNumber_AsSsize_t(limit, NULL);
        if (n == -1 && PyErr_Occurred()) {
            return -1;
        }
        int greater;
        if (factor == 1) {
            greater = value > n;
        }
        else if (n > PY_SSIZE_T_MAX / 2) {
            greater = 0;        /* 2 * n is above any Py_ssize_t */
        }
        else if (n < PY_SSIZE_T_MIN / 2) {
            greater = 1;        /* and here below any */
        }
        else {
            greater = value > 2 * n;
        }
        return cmp == Py_GT ? greater : !greater;
    }
    /* anything else (a float, a Fraction, an int subclass) as Python
       does it: `2 * limit`, then the comparison */
    Py_INCREF(limit);
    PyObject *bound = limit;
    if (factor == 2) {
        PyObject *two = PyLong_FromLong(2);
        bound = two != NULL ? PyNumber_Multiply(two, limit) : NULL;
        Py_XDECREF(two);
        Py_DECREF(limit);
        if (bound == NULL) {
            return -1;
        }
    }
    PyObject *v = PyLong_FromSsize_t(value);
    int rc = v != NULL ? PyObject_RichCompareBool(v, bound, cmp) : -1;
    Py_XDECREF(v);
    Py_DECREF(bound);
    return rc;
}


/* ---------- StreamReader: the methods feeding it ---------- */

/* _wakeup_waiter(): wake up the read waiting for data or EOF. */
static int
reader_wakeup_waiter_impl(asyncio_state *st, PyObject *self)
{
    reader_fields *f = reader_fields_of(st, self);
    PyObject *waiter = field_value(self, f->waiter, "_waiter");
    if (waiter == NULL || waiter == Py_None) {
        return waiter == NULL ? -1 : 0;
    }
    Py_INCREF(waiter);
    streams_set(&f->waiter, Py_NewRef(Py_None));
    int rc;
    if (Future_IsNative(st, waiter)) {
        FutureObject *fut = (FutureObject *)waiter;
        rc = fut->fut_state == STATE_CANCELLED
             ? 0 : future_set_result_impl(st, fut, Py_None);
    }
    else {
        rc = call_truth(PyObject_CallMethodNoArgs(
            waiter, st->streams.str_cancelled));
        if (rc == 0) {
            rc = drop_result(PyObject_CallMethodOneArg(
                waiter, st->streams.str_set_result, Py_None));
        }
    }
    Py_DECREF(waiter);
    return rc < 0 ? -1 : 0;
}

/* self._wakeup_waiter(), the override when there is one. */
static int
reader_wakeup_waiter(asyncio_state *st, PyObject *self)
{
    if (streams_own(st, self, READER_WAKEUP_WAITER)) {
        return reader_wakeup_waiter_impl(st, self);
    }
    return drop_result(PyObject_CallMethodNoArgs(
        self, st->streams.reader_names[READER_WAKEUP_WAITER]));
}

/* transport.<name>() of the reader's transport. */
static int
reader_transport_call(asyncio_state *st, PyObject *self, reader_fields *f,
                      PyObject *name)
{
    PyObject *transport = field_value(self, f->transport, "_transport");
    if (transport == NULL) {
        return -1;
    }
    Py_INCREF(transport);
    int rc = drop_result(PyObject_CallMethodNoArgs(transport, name));
    Py_DECREF(transport);
    return rc;
}

/* _maybe_resume_transport(): reading resumes once the buffer is back
   within the limit. */
static int
reader_maybe_resume_impl(asyncio_state *st, PyObject *self)
{
    reader_fields *f = reader_fields_of(st, self);
    int paused = field_truth(self, f->paused, "_paused");
    if (paused <= 0) {
        return paused;
    }
    Py_ssize_t len = reader_buffer_len(self, f);
    if (len < 0) {
        return -1;
    }
    /* len(self._buffer) <= self._limit */
    int within = reader_compare_limit(self, f, len, 1, Py_LE);
    if (within <= 0) {
        return within;
    }
    streams_set(&f->paused, Py_NewRef(Py_False));
    return reader_transport_call(st, self, f,
                                 st->streams.str_resume_reading);
}

static int
reader_maybe_resume(asyncio_state *st, PyObject *self)
{
    if (streams_own(st, self, READER_MAYBE_RESUME)) {
        return reader_maybe_resume_impl(st, self);
    }
    return drop_result(PyObject_CallMethodNoArgs(
        self, st->streams.reader_names[READER_MAYBE_RESUME]));
}

static int
reader_feed_data_impl(asyncio_state *st, PyObject *self, PyObject *data)
{
    reader_fields *f = reader_fields_of(st, self);
    int eof = field_truth(self, f->eof, "_eof");
    if (eof < 0) {
        return -1;
    }
    if (eof && !Py_OptimizeFlag) {
        PyErr_SetString(PyExc_AssertionError, "feed_data after feed_eof");
        return -1;
    }
    int nonempty = object_truth(data);
    if (nonempty <= 0) {
        return nonempty;
    }
    if (reader_buffer_extend(st, self, f, data) < 0
        || reader_wakeup_waiter(st, self) < 0) {
        return -1;
    }
    /* too much buffered: pause the transport, if it can be paused */
    PyObject *transport = field_value(self, f->transport, "_transport");
    if (transport == NULL) {
        return -1;
    }
    if (transport == Py_None) {
        return 0;
    }
    int paused = field_truth(self, f->paused, "_paused");
    if (paused != 0) {
        return paused;
    }
    Py_ssize_t len = reader_buffer_len(self, f);
    if (len < 0) {
        return -1;
    }
    /* len(self._buffer) > 2 * self._limit */
    int over = reader_compare_limit(self, f, len, 2, Py_GT);
    if (over <= 0) {
        return over;
    }
    if (reader_transport_call(st, self, f,
                              st->streams.str_pause_reading) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_NotImplementedError)) {
            return -1;
        }
        /* it cannot be paused: forget it, and buffer whatever comes */
        PyErr_Clear();
        streams_set(&f->transport, Py_NewRef(Py_None));
        return 0;
    }
    streams_set(&f->paused, Py_NewRef(Py_True));
    return 0;
}

static PyObject *
reader_feed_data(CMETHOD_ARGS)
{
    static const char *const names[] = {"data"};
    PyObject *data;
    if (parse_args("feed_data", args, PyVectorcall_NARGS(nargsf), kwnames,
                   names, 1, 1, 1, &data) < 0) {
        return NULL;
    }
    return none_or_error(reader_feed_data_impl(cls_state(cls), op, data));
}

static PyObject *
reader_feed_eof(CMETHOD_ARGS)
{
    if (check_no_args("feed_eof", nargsf, kwnames) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    streams_set(&reader_fields_of(st, op)->eof, Py_NewRef(Py_True));
    return none_or_error(reader_wakeup_waiter(st, op));
}

static PyObject *
reader__wakeup_waiter(CMETHOD_ARGS)
{
    if (check_no_args("_wakeup_waiter", nargsf, kwnames) < 0) {
        return NULL;
    }
    return none_or_error(reader_wakeup_waiter_impl(cls_state(cls), op));
}

static PyObject *
reader__maybe_resume_transport(CMETHOD_ARGS)
{
    if (check_no_args("_maybe_resume_transport", nargsf, kwnames) < 0) {
        return NULL;
    }
    return none_or_error(reader_maybe_resume_impl(cls_state(cls), op));
}

static PyObject *
reader_exception(CMETHOD_ARGS)
{
    if (check_no_args("exception", nargsf, kwnames) < 0) {
        return NULL;
    }
    reader_fields *f = reader_fields_of(cls_state(cls), op);
    return Py_XNewRef(field_value(op, f->exception, "_exception"));
}

static PyObject *
reader_at_eof(CMETHOD_ARGS)
{
    if (check_no_args("at_eof", nargsf, kwnames) < 0) {
        return NULL;
    }
    reader_fields *f = reader_fields_of(cls_state(cls), op);
    /* self._eof and not self._buffer: a false _eof is the result, the
       value read before bool() ran, which may have deleted the field */
    PyObject *eof = Py_XNewRef(field_value(op, f->eof, "_eof"));
    if (eof == NULL) {
        return NULL;
    }
    int at_end = object_truth(eof);
    if (at_end <= 0) {
        if (at_end < 0) {
            Py_CLEAR(eof);
        }
        return eof;
    }
    Py_DECREF(eof);
    int buffered = field_truth(op, f->buffer, "_buffer");
    return buffered < 0 ? NULL : PyBool_FromLong(!buffered);
}


/* ---------- Stream operations: the awaitables ---------- */

enum {
    OP_READ,            /* read(n) */
    OP_READEXACTLY,     /* readexactly(n) */
    OP_READUNTIL,       /* readuntil(separator) */
    OP_READLINE,        /* readline() */
    OP_WAIT,            /* _wait_for_data(func_name) */
    OP_DRAIN,           /* StreamWriter.drain() */
};

/* What an operation awaits (StreamOpObject.awaiting). */
enum {
    AWAIT_NOTHING,
    AWAIT_DATA,         /* reader._wait_for_data(...) */
    AWAIT_WAITER,       /* the waiter future of _wait_for_data() */
    AWAIT_BLOCK,        /* read(-1): reader.read(limit) */
    AWAIT_LINE,         /* readline(): reader.readuntil(b'\n') */
    AWAIT_SLEEP,        /* drain(): sleep(0) */
    AWAIT_DRAINED,      /* drain(): protocol._drain_helper() */
};

static const char *const op_names[] = {
    "StreamReader.read", "StreamReader.readexactly",
    "StreamReader.readuntil", "StreamReader.readline",
    "StreamReader._wait_for_data", "StreamWriter.drain",
};

typedef struct {
    PyObject_HEAD
    PyObject *self;             /* the reader, or the writer for drain() */
    PyObject *arg;              /* n, separator or func_name */
    PyObject *sub;              /* the iterator awaited, or NULL */
    PyObject *blocks;           /* read(-1): the blocks read so far */
    PyObject *origin;           /* cr_origin: where it was made, or NULL */
    Py_ssize_t offset;          /* readuntil(): bytes known not to match */
    int op;
    int awaiting;
    int started;
    int finished;
    /* inside send(), throw() or close(): a coroutine's frame is executing,
       and refuses to be entered again */
    int running;
} StreamOpObject;

/* What one step of an operation came to. */
typedef enum {
    STEP_DONE,          /* *out: the result */
    STEP_FAILED,        /* an exception is set */
    STEP_AWAIT,         /* *out: an awaitable to await (awaiting set) */
} op_step;

/* A coroutine's cr_origin for an operation made now: (filename, line
   number, function name) of the Python frames calling us, the innermost
   first, at most depth of them. */
static PyObject *
op_origin(int depth)
{
    PyObject *frames = PyList_New(0);
    if (frames == NULL) {
        return NULL;
    }
    PyFrameObject *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    while (frame != NULL && PyList_GET_SIZE(frames) < depth) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *entry = Py_BuildValue("(OiO)", code->co_filename,
                                        PyFrame_GetLineNumber(frame),
                                        code->co_name);
        Py_DECREF(code);
        if (entry == NULL || PyList_Append(frames, entry) < 0) {
            Py_XDECREF(entry);
            Py_DECREF(frame);
            Py_DECREF(frames);
            return NULL;
        }
        Py_DECREF(entry);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    PyObject *origin = PyList_AsTuple(frames);
    Py_DECREF(frames);
    return origin;
}

static PyObject *
op_new(asyncio_state *st, int kind, PyObject *self, PyObject *arg)
{
    /* sys.set_coroutine_origin_tracking_depth() (asyncio's debug mode)
       asks coroutines to note where they were made, which the "never
       awaited" warning shows */
    int depth = PyThreadState_Get()->coroutine_origin_tracking_depth;
    PyObject *origin = NULL;
    if (depth > 0 && (origin = op_origin(depth)) == NULL) {
        return NULL;
    }
    StreamOpObject *op = PyObject_GC_New(StreamOpObject, st->streams.OpType);
    if (op == NULL) {
        Py_XDECREF(origin);
        return NULL;
    }
    op->self = Py_NewRef(self);
    op->arg = Py_XNewRef(arg);
    op->sub = NULL;
    op->blocks = NULL;
    op->origin = origin;
    op->offset = 0;
    op->op = kind;
    op->awaiting = AWAIT_NOTHING;
    op->started = 0;
    op->finished = 0;
    op->running = 0;
    PyObject_GC_Track(op);
    return (PyObject *)op;
}

/* `raise self._exception` when the reader has one: 1 (raised), 0, -1. */
static int
op_raise_reader_exception(PyObject *self, reader_fields *f)
{
    PyObject *exc = field_value(self, f->exception, "_exception");
    if (exc == NULL) {
        return -1;
    }
    if (exc == Py_None) {
        return 0;
    }
    streams_raise_object(exc);
    return 1;
}

/* self._wait_for_data(func_name): our own operation, or the override's.
   func_name is one of the interned names of the state. */
static PyObject *
op_wait_for_data(asyncio_state *st, StreamOpObject *op, PyObject *func)
{
    PyObject *res;
    if (streams_own(st, op->self, READER_WAIT_FOR_DATA)) {
        res = op_new(st, OP_WAIT, op->self, func);
    }
    else {
        res = PyObject_CallMethodOneArg(
            op->self, st->streams.reader_names[READER_WAIT_FOR_DATA], func);
    }
    op->awaiting = AWAIT_DATA;
    return res;
}

/* The end of a read: resume the transport if it was paused, return
   data. */
static op_step
op_done_with(asyncio_state *st, StreamOpObject *op, PyObject *data,
             PyObject **out)
{
    if (data == NULL) {
        return STEP_FAILED;
    }
    if (reader_maybe_resume(st, op->self) < 0) {
        Py_DECREF(data);
        return STEP_FAILED;
    }
    *out = data;
    return STEP_DONE;
}

/* IncompleteReadError(bytes(self._buffer), expected) after a
   self._buffer.clear(). */
static op_step
op_incomplete(asyncio_state *st, StreamOpObject *op, reader_fields *f,
              PyObject *expected)
{
    PyObject *partial = reader_buffer_take(op->self, f, -1);
    if (partial == NULL) {
        return STEP_FAILED;
    }
    if (streams_load_exceptions(&st->streams) == 0) {
        streams_raise(st->streams.IncompleteReadError, "(OO)", partial,
                      expected);
    }
    Py_DECREF(partial);
    return STEP_FAILED;
}

static op_step
op_readexactly(asyncio_state *st, StreamOpObject *op, PyObject **out)
{
    reader_fields *f = reader_fields_of(st, op->self);
    Py_ssize_t n = PyNumber_AsSsize_t(op->arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred()) {
        return STEP_FAILED;
    }
    if (!op->started) {
        if (n < 0) {
            PyErr_SetString(PyExc_ValueError,
                            "readexactly size can not be less than zero");
            return STEP_FAILED;
        }
        int raised = op_raise_reader_exception(op->self, f);
        if (raised != 0) {
            return STEP_FAILED;
        }
        if (n == 0) {
            *out = PyBytes_FromStringAndSize(NULL, 0);
            return *out != NULL ? STEP_DONE : STEP_FAILED;
        }
    }
    Py_ssize_t len = reader_buffer_len(op->self, f);
    if (len < 0) {
        return STEP_FAILED;
    }
    if (len < n) {
        int eof = field_truth(op->self, f->eof, "_eof");
        if (eof != 0) {
            return eof < 0 ? STEP_FAILED : op_incomplete(st, op, f, op->arg);
        }
        *out = op_wait_for_data(st, op, st->streams.str_readexactly);
        return *out != NULL ? STEP_AWAIT : STEP_FAILED;
    }
    return op_done_with(st, op, reader_buffer_take(op->self, f, n), out);
}

static op_step
op_read(asyncio_state *st, StreamOpObject *op, PyObject *value,
        PyObject **out)
{
    reader_fields *f = reader_fields_of(st, op->self);
    if (op->awaiting == AWAIT_BLOCK) {
        /* read(-1): a block came back; the end is an empty one */
        int nonempty = object_truth(value);
        if (nonempty < 0) {
            return STEP_FAILED;
        }
        if (!nonempty) {
            PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
            *out = empty != NULL ? _PyBytes_Join(empty, op->blocks) : NULL;
            Py_XDECREF(empty);
            return *out != NULL ? STEP_DONE : STEP_FAILED;
        }
        if (PyList_Append(op->blocks, value) < 0) {
            return STEP_FAILED;
        }
    }
    Py_ssize_t n = PyNumber_AsSsize_t(op->arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred()) {
        return STEP_FAILED;
    }
    if (!op->started) {
        int raised = op_raise_reader_exception(op->self, f);
        if (raised != 0) {
            return STEP_FAILED;
        }
        if (n == 0) {
            *out = PyBytes_FromStringAndSize(NULL, 0);
            return *out != NULL ? STEP_DONE : STEP_FAILED;
        }
    }
    if (n < 0) {
        /* until EOF, a block of at most the limit at a time, as
           self.read(self._limit) */
        if (op->blocks == NULL && (op->blocks = PyList_New(0)) == NULL) {
            return STEP_FAILED;
        }
        PyObject *limit = Py_XNewRef(field_value(op->self, f->limit,
                                                 "_limit"));
        if (limit == NULL) {
            return STEP_FAILED;
        }
        op->awaiting = AWAIT_BLOCK;
        *out = PyObject_CallMethodOneArg(
            op->self, st->streams.reader_names[READER_READ], limit);
        Py_DECREF(limit);
        return *out != NULL ? STEP_AWAIT : STEP_FAILED;
    }
    if (op->awaiting == AWAIT_NOTHING) {
        int buffered = field_truth(op->self, f->buffer, "_buffer");
        int eof = buffered == 0 ? field_truth(op->self, f->eof, "_eof")
                                : 0;
        if (buffered < 0 || eof < 0) {
            return STEP_FAILED;
        }
        if (!buffered && !eof) {
            *out = op_wait_for_data(st, op,
                                    st->streams.reader_names[READER_READ]);
            return *out != NULL ? STEP_AWAIT : STEP_FAILED;
        }
    }
    return op_done_with(st, op, reader_buffer_take(op->self, f, n), out);
}

/* buffer.find(separator, offset) */
static Py_ssize_t
op_find(PyObject *buffer, PyObject *separator, Py_ssize_t offset)
{
    PyObject *res = PyObject_CallMethod(buffer, "find", "On", separator,
                                        offset);
    if (res == NULL) {
        return -2;
    }
    Py_ssize_t i = PyLong_AsSsize_t(res);
    Py_DECREF(res);
    return i == -1 && PyErr_Occurred() ? -2 : i;
}

static op_step
op_readuntil(asyncio_state *st, StreamOpObject *op, PyObject **out)
{
    reader_fields *f = reader_fields_of(st, op->self);
    Py_ssize_t seplen = PyObject_Size(op->arg);
    if (seplen < 0) {
        return STEP_FAILED;
    }
    if (!op->started) {
        if (seplen == 0) {
            PyErr_SetString(PyExc_ValueError,
                            "Separator should be at least one-byte string");
            return STEP_FAILED;
        }
        int raised = op_raise_reader_exception(op->self, f);
        if (raised != 0) {
            return STEP_FAILED;
        }
    }
    if (streams_load_exceptions(&st->streams) < 0) {
        return STEP_FAILED;
    }
    Py_ssize_t isep;
    for (;;) {
        Py_ssize_t buflen = reader_buffer_len(op->self, f);
        if (buflen < 0) {
            return STEP_FAILED;
        }
        if (buflen - op->offset >= seplen) {
            /* len() may have run code that deleted the field: read it
               again, as self._buffer.find() does */
            PyObject *buffer = Py_XNewRef(field_value(op->self, f->buffer,
                                                      "_buffer"));
            if (buffer == NULL) {
                return STEP_FAILED;
            }
            isep = op_find(buffer, op->arg, op->offset);
            Py_DECREF(buffer);
            if (isep == -2) {
                return STEP_FAILED;
            }
            if (isep != -1) {
                break;
            }
            op->offset = buflen + 1 - seplen;
            int over = reader_compare_limit(op->self, f, op->offset, 1,
                                            Py_GT);
            if (over < 0) {
                return STEP_FAILED;
            }
            if (over) {
                streams_raise(st->streams.LimitOverrunError, "(sn)",
                              "Separator is not found, and chunk exceed "
                              "the limit", op->offset);
                return STEP_FAILED;
            }
        }
        /* a whole separator may have come with the EOF: EOF is looked at
           after the buffer */
        int eof = field_truth(op->self, f->eof, "_eof");
        if (eof != 0) {
            return eof < 0 ? STEP_FAILED
                           : op_incomplete(st, op, f, Py_None);
        }
        *out = op_wait_for_data(st, op,
                                st->streams.reader_names[READER_READUNTIL]);
        return *out != NULL ? STEP_AWAIT : STEP_FAILED;
    }
    int over = reader_compare_limit(op->self, f, isep, 1, Py_GT);
    if (over < 0) {
        return STEP_FAILED;
    }
    if (over) {
        streams_raise(st->streams.LimitOverrunError, "(sn)",
                      "Separator is found, but chunk is longer than limit",
                      isep);
        return STEP_FAILED;
    }
    return op_done_with(st, op,
                        reader_buffer_take(op->self, f, isep + seplen), out);
}

static op_step
op_readline(asyncio_state *st, StreamOpObject *op, PyObject *value,
            PyObject **out)
{
    if (op->awaiting == AWAIT_LINE) {
        *out = Py_NewRef(value);
        return STEP_DONE;
    }
    PyObject *sep = PyBytes_FromStringAndSize("\n", 1);
    if (sep == NULL) {
        return STEP_FAILED;
    }
    op->awaiting = AWAIT_LINE;
    *out = PyObject_CallMethodOneArg(
        op->self, st->streams.reader_names[READER_READUNTIL], sep);
    Py_DECREF(sep);
    return *out != NULL ? STEP_AWAIT : STEP_FAILED;
}

/* readline()'s `except` clauses around `await self.readuntil(sep)`: 1
   when the error became the operation's result (*out), 0 when an error is
   to propagate. */
static int
op_readline_failed(asyncio_state *st, StreamOpObject *op, PyObject **out)
{
    streams_state *ss = &st->streams;
    if (streams_load_exceptions(ss) < 0) {
        return 0;
    }
    if (PyErr_ExceptionMatches(ss->IncompleteReadError)) {
        PyObject *exc = fetch_exception();
        *out = exc != NULL ? PyObject_GetAttrString(exc, "partial") : NULL;
        Py_XDECREF(exc);
        return *out != NULL;
    }
    if (!PyErr_ExceptionMatches(ss->LimitOverrunError)) {
        return 0;
    }
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return 0;
    }
    /* raised inside the except clause: exc is its __context__ */
    PyObject *saved = PyErr_GetHandledException();
    PyErr_SetHandledException(exc);
    reader_fields *f = reader_fields_of(st, op->self);
    PyObject *buffer = Py_XNewRef(field_value(op->self, f->buffer,
                                              "_buffer"));
    PyObject *consumed = buffer != NULL
        ? PyObject_GetAttrString(exc, "consumed") : NULL;
    int rc = -1;
    if (consumed != NULL) {
        /* the line with its newline goes, else everything */
        PyObject *starts = PyObject_CallMethod(buffer, "startswith", "yO",
                                               "\n", consumed);
        int found = call_truth(starts);
        if (found > 0) {
            PyObject *one = PyLong_FromLong(1);
            PyObject *end = one != NULL ? PyNumber_Add(consumed, one) : NULL;
            Py_ssize_t n = end != NULL ? PyNumber_AsSsize_t(end, NULL) : -1;
            Py_XDECREF(one);
            Py_XDECREF(end);
            rc = n < 0 && PyErr_Occurred() ? -1
                 : PySequence_DelSlice(buffer, 0, n);
        }
        else if (found == 0) {
            rc = PySequence_DelSlice(buffer, 0, PY_SSIZE_T_MAX);
        }
        Py_DECREF(consumed);
    }
    Py_XDECREF(buffer);
    if (rc == 0 && reader_maybe_resume(st, op->self) == 0) {
        /* raise ValueError(e.args[0]) */
        PyObject *args = PyObject_GetAttrString(exc, "args");
        PyObject *first = args != NULL ? PySequence_GetItem(args, 0) : NULL;
        if (first != NULL) {
            PyErr_SetObject(PyExc_ValueError, first);
        }
        Py_XDECREF(first);
        Py_XDECREF(args);
    }
    PyErr_SetHandledException(saved);
    Py_XDECREF(saved);
    Py_DECREF(exc);
    return 0;
}

/* _wait_for_data(func_name): the first step, up to `await self._waiter`. */
static op_step
op_wait(asyncio_state *st, StreamOpObject *op, PyObject **out)
{
    if (op->awaiting == AWAIT_WAITER) {
        /* finally: self._waiter = None */
        streams_set(&reader_fields_of(st, op->self)->waiter,
                    Py_NewRef(Py_None));
        *out = Py_NewRef(Py_None);
        return STEP_DONE;
    }
    reader_fields *f = reader_fields_of(st, op->self);
    PyObject *waiter = field_value(op->self, f->waiter, "_waiter");
    if (waiter == NULL) {
        return STEP_FAILED;
    }
    if (waiter != Py_None) {
        PyErr_Format(PyExc_RuntimeError,
                     "%U() called while another coroutine is already "
                     "waiting for incoming data", op->arg);
        return STEP_FAILED;
    }
    int eof = field_truth(op->self, f->eof, "_eof");
    if (eof < 0) {
        return STEP_FAILED;
    }
    if (eof && !Py_OptimizeFlag) {
        PyErr_SetString(PyExc_AssertionError, "_wait_for_data after EOF");
        return STEP_FAILED;
    }
    /* waiting while paused would never end: resume reading */
    int paused = field_truth(op->self, f->paused, "_paused");
    if (paused < 0) {
        return STEP_FAILED;
    }
    if (paused) {
        streams_set(&f->paused, Py_NewRef(Py_False));
        if (reader_transport_call(st, op->self, f,
                                  st->streams.str_resume_reading) < 0) {
            return STEP_FAILED;
        }
    }
    PyObject *loop = field_value(op->self, f->loop, "_loop");
    if (loop == NULL) {
        return STEP_FAILED;
    }
    PyObject *fut = PyObject_CallMethodNoArgs(loop,
                                              st->streams.str_create_future);
    if (fut == NULL) {
        return STEP_FAILED;
    }
    streams_set(&f->waiter, Py_NewRef(fut));
    op->awaiting = AWAIT_WAITER;
    *out = fut;
    return STEP_AWAIT;
}

/* drain(): the reader's exception, sleep(0) while the transport closes,
   then the protocol's _drain_helper(), which a running (not paused)
   connection passes without waiting. */
static op_step
op_drain(asyncio_state *st, StreamOpObject *op, PyObject **out)
{
    streams_state *ss = &st->streams;
    writer_fields *f = writer_fields_of(st, op->self);
    if (op->awaiting == AWAIT_DRAINED) {
        *out = Py_NewRef(Py_None);
        return STEP_DONE;
    }
    if (op->awaiting == AWAIT_NOTHING) {
        PyObject *reader = field_value(op->self, f->reader, "_reader");
        if (reader == NULL) {
            return STEP_FAILED;
        }
        if (reader != Py_None) {
            PyObject *exc;
            if (ss->ReaderType != NULL
                && PyObject_TypeCheck(reader, ss->ReaderType)
                && streams_own(st, reader, READER_EXCEPTION)) {
                exc = Py_XNewRef(field_value(
                    reader, reader_fields_of(st, reader)->exception,
                    "_exception"));
            }
            else {
                Py_INCREF(reader);
                exc = PyObject_CallMethodNoArgs(
                    reader, ss->reader_names[READER_EXCEPTION]);
                Py_DECREF(reader);
            }
            if (exc == NULL) {
                return STEP_FAILED;
            }
            if (exc != Py_None) {
                streams_raise_object(exc);
                Py_DECREF(exc);
                return STEP_FAILED;
            }
            Py_DECREF(exc);
        }
        PyObject *transport = field_value(op->self, f->transport,
                                          "_transport");
        if (transport == NULL) {
            return STEP_FAILED;
        }
        Py_INCREF(transport);
        int closing = transport_closing(st, transport);
        if (closing == -2) {
            closing = call_truth(PyObject_CallMethodNoArgs(
                transport, ss->str_is_closing));
        }
        Py_DECREF(transport);
        if (closing < 0) {
            return STEP_FAILED;
        }
        if (closing) {
            /* let connection_lost() run first */
            if (import_once(&ss->sleep, "asyncio.tasks", "sleep") < 0) {
                return STEP_FAILED;
            }
            PyObject *zero = PyLong_FromLong(0);
            *out = zero != NULL ? PyObject_CallOneArg(ss->sleep, zero)
                                : NULL;
            Py_XDECREF(zero);
            op->awaiting = AWAIT_SLEEP;
            return *out != NULL ? STEP_AWAIT : STEP_FAILED;
        }
    }
    PyObject *protocol = field_value(op->self, f->protocol, "_protocol");
    if (protocol == NULL) {
        return STEP_FAILED;
    }
    Py_INCREF(protocol);
    if (_PyType_Lookup(Py_TYPE(protocol), ss->str_drain_helper)
        == ss->py_drain_helper) {
        /* FlowControlMixin._drain_helper() up to its wait */
        PyObject *lost = protocol_field(st, protocol,
                                        PROTOCOL_CONNECTION_LOST);
        int lost_truth = call_truth(lost);
        int paused = lost_truth == 0 ? call_truth(protocol_field(
            st, protocol, PROTOCOL_PAUSED)) : 0;
        if (lost_truth > 0) {
            PyErr_SetString(PyExc_ConnectionResetError, "Connection lost");
        }
        if (lost_truth != 0 || paused < 0) {
            Py_DECREF(protocol);
            return STEP_FAILED;
        }
        if (!paused) {
            Py_DECREF(protocol);
            *out = Py_NewRef(Py_None);
            return STEP_DONE;
        }
    }
    *out = PyObject_CallMethodNoArgs(protocol, ss->str_drain_helper);
    Py_DECREF(protocol);
    op->awaiting = AWAIT_DRAINED;
    return *out != NULL ? STEP_AWAIT : STEP_FAILED;
}

/* One step of the operation, given what the last awaitable returned
   (value, borrowed; None at the start). */
static op_step
op_advance(asyncio_state *st, StreamOpObject *op, PyObject *value,
           PyObject **out)
{
    op_step r;
    switch (op->op) {
    case OP_READ:
        r = op_read(st, op, value, out);
        break;
    case OP_READEXACTLY:
        r = op_readexactly(st, op, out);
        break;
    case OP_READUNTIL:
        r = op_readuntil(st, op, out);
        break;
    case OP_READLINE:
        r = op_readline(st, op, value, out);
        break;
    case OP_WAIT:
        r = op_wait(st, op, out);
        break;
    default:
        r = op_drain(st, op, out);
        break;
    }
    op->started = 1;
    return r;
}

/* What awaiting obj iterates: obj for a coroutine, else obj.__await__()
   (which must be an iterator and no coroutine), as `await` takes it. */
static PyObject *
op_awaitable_iter(PyObject *obj)
{
    if (PyCoro_CheckExact(obj)) {
        return Py_NewRef(obj);
    }
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    if (am == NULL || am->am_await == NULL) {
        PyErr_Format(PyExc_TypeError,
                     "object %.100s can't be used in 'await' expression",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyObject *it = am->am_await(obj);
    if (it != NULL && (PyCoro_CheckExact(it) || !PyIter_Check(it))) {
        PyErr_Format(PyExc_TypeError,
                     "__await__() returned %s",
                     PyCoro_CheckExact(it) ? "a coroutine"
                                           : "non-iterator");
        Py_CLEAR(it);
    }
    return it;
}

/* The awaited thing failed with the exception raised: what the body does
   about it (a `finally`, readline's `except`).  PYGEN_RETURN with *result
   when the operation goes on or ends with a result, PYGEN_ERROR when the
   exception propagates. */
static PySendResult
op_sub_failed(asyncio_state *st, StreamOpObject *op, PyObject **result)
{
    int awaiting = op->awaiting;
    op->awaiting = AWAIT_NOTHING;
    if (awaiting == AWAIT_WAITER) {
        /* finally: self._waiter = None (keeping the exception) */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        streams_set(&reader_fields_of(st, op->self)->waiter,
                    Py_NewRef(Py_None));
        PyErr_Restore(type, value, tb);
    }
    else if (awaiting == AWAIT_LINE && op_readline_failed(st, op, result)) {
        return PYGEN_RETURN;
    }
    *result = NULL;
    return PYGEN_ERROR;
}

/* Run the operation from where it stands until it yields (PYGEN_NEXT),
   returns or fails.  `value` is what the last awaitable returned; `failed`
   says it raised instead (the exception is set). */
static PySendResult
op_run(asyncio_state *st, StreamOpObject *op, PyObject *value, int failed,
       PyObject **result)
{
    PyObject *held = Py_NewRef(value);
    PySendResult status;
    for (;;) {
        if (failed) {
            status = op_sub_failed(st, op, result);
            if (status == PYGEN_RETURN) {
                /* readline() turned the error into its result */
                break;
            }
            break;
        }
        PyObject *out = NULL;
        op_step step = op_advance(st, op, held, &out);
        Py_SETREF(held, NULL);
        if (step == STEP_DONE) {
            *result = out;
            status = PYGEN_RETURN;
            break;
        }
        if (step == STEP_FAILED) {
            *result = NULL;
            status = PYGEN_ERROR;
            break;
        }
        PyObject *sub = op_awaitable_iter(out);
        Py_DECREF(out);
        if (sub == NULL) {
            failed = 1;
            continue;
        }
        op->sub = Py_NewRef(sub);
        PyObject *res;
        status = PyIter_Send(sub, Py_None, &res);
        Py_DECREF(sub);
        if (status == PYGEN_NEXT) {
            *result = res;
            return PYGEN_NEXT;
        }
        Py_CLEAR(op->sub);
        if (status == PYGEN_ERROR) {
            failed = 1;
            continue;
        }
        held = res;
    }
    Py_XDECREF(held);
    op->finished = 1;
    op->awaiting = AWAIT_NOTHING;
    return status;
}

/* Refuse to enter an operation that is running (what it awaits or a
   method it calls reached back to it), as a coroutine refuses: 0, or -1
   with ValueError set. */
static int
op_check_not_running(StreamOpObject *op)
{
    if (op->running) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return -1;
    }
    return 0;
}

static PySendResult
op_send_impl(asyncio_state *st, StreamOpObject *op, PyObject *arg,
             PyObject **result)
{
    if (op->sub == NULL) {
        return op_run(st, op, Py_None, 0, result);
    }
    /* our own reference: what runs now may drop the operation's */
    PyObject *sub = Py_NewRef(op->sub);
    PyObject *res;
    PySendResult status = PyIter_Send(sub, arg, &res);
    Py_DECREF(sub);
    if (status == PYGEN_NEXT) {
        *result = res;
        return PYGEN_NEXT;
    }
    Py_CLEAR(op->sub);
    if (status == PYGEN_ERROR) {
        return op_run(st, op, Py_None, 1, result);
    }
    status = op_run(st, op, res, 0, result);
    Py_DECREF(res);
    return status;
}

static PySendResult
op_am_send(PyObject *self, PyObject *arg, PyObject **result)
{
    StreamOpObject *op = (StreamOpObject *)self;
    *result = NULL;
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return PYGEN_ERROR;
    }
    if (!op->started && !op->finished && arg != Py_None) {
        PyErr_SetString(PyExc_TypeError,
                        "can't send non-None value to a just-started "
                        "coroutine");
        return PYGEN_ERROR;
    }
    if (op_check_not_running(op) < 0) {
        return PYGEN_ERROR;
    }
    if (op->finished) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    op->running = 1;
    PySendResult status = op_send_impl(st, op, arg, result);
    op->running = 0;
    return status;
}

/* The result of am_send as a method of an iterator or a coroutine gives
   it: the value yielded, or NULL with StopIteration(value) or the error. */
static PyObject *
op_send_result(PySendResult status, PyObject *res)
{
    if (status == PYGEN_NEXT) {
        return res;
    }
    if (status == PYGEN_RETURN) {
        if (res != Py_None || !PyErr_Occurred()) {
            (void)_PyGen_SetStopIterationValue(res);
        }
        Py_DECREF(res);
    }
    return NULL;
}

static PyObject *
op_iternext(PyObject *self)
{
    PyObject *res;
    PySendResult status = op_am_send(self, Py_None, &res);
    if (status == PYGEN_RETURN && res == Py_None) {
        /* a plain StopIteration, as a generator's __next__ ends */
        Py_DECREF(res);
        return NULL;
    }
    return op_send_result(status, res);
}

static PyObject *
op_send(PyObject *self, PyObject *arg)
{
    PyObject *res;
    PySendResult status = op_am_send(self, arg, &res);
    if (status == PYGEN_RETURN) {
        /* StopIteration carries the value, None included */
        (void)_PyGen_SetStopIterationValue(res);
        Py_DECREF(res);
        return NULL;
    }
    return op_send_result(status, res);
}

/* throw(typ[, val[, tb]]): into what the operation awaits, which may
   handle it; else the operation ends with it. */
static PyObject *
op_throw_impl(asyncio_state *st, StreamOpObject *op, PyObject *const *args,
              Py_ssize_t nargs)
{
    if (op->sub != NULL) {
        PyObject *sub = Py_NewRef(op->sub);
        PyObject *res;
        PyObject *meth = PyObject_GetAttr(sub, st->streams.str_throw);
        if (meth != NULL) {
            res = PyObject_Vectorcall(meth, args, nargs, NULL);
            Py_DECREF(meth);
        }
        else {
            res = NULL;
            if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
                /* no throw(): the exception is raised at the await */
                PyErr_Clear();
                Py_DECREF(sub);
                goto raise;
            }
        }
        Py_DECREF(sub);
        if (res != NULL) {
            return res;     /* it yielded again */
        }
        Py_CLEAR(op->sub);
        PyObject *value;
        PySendResult status;
        if (PyErr_ExceptionMatches(PyExc_StopIteration)
            && _PyGen_FetchStopIterationValue(&value) == 0) {
            status = op_run(st, op, value, 0, &res);
            Py_DECREF(value);
        }
        else {
            status = op_run(st, op, Py_None, 1, &res);
        }
        return op_send_result(status, res);
    }
raise:
    Py_CLEAR(op->sub);
    /* raised where the operation stands: a not yet started operation
       ends without running, as a coroutine does */
    {
        PyObject *type = args[0];
        PyObject *val = nargs > 1 ? args[1] : Py_None;
        PyObject *tb = nargs > 2 ? args[2] : Py_None;
        if (PyExceptionInstance_Check(type)) {
            if (val != Py_None) {
                PyErr_SetString(PyExc_TypeError,
                                "instance exception may not have a "
                                "separate value");
                return NULL;
            }
            PyErr_SetObject((PyObject *)Py_TYPE(type), type);
        }
        else if (PyExceptionClass_Check(type)) {
            PyErr_SetObject(type, val);
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "exceptions must be classes or instances deriving "
                         "from BaseException, not %.200s",
                         Py_TYPE(type)->tp_name);
            return NULL;
        }
        if (tb != Py_None && PyTraceBack_Check(tb)) {
            PyObject *t, *v, *old_tb;
            PyErr_Fetch(&t, &v, &old_tb);
            Py_XDECREF(old_tb);
            PyErr_Restore(t, v, Py_NewRef(tb));
        }
    }
    if (op->started && !op->finished) {
        PyObject *res;
        PySendResult status = op_run(st, op, Py_None, 1, &res);
        return op_send_result(status, res);
    }
    op->finished = 1;
    return NULL;
}

static PyObject *
op_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    StreamOpObject *op = (StreamOpObject *)self;
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "throw expected at least 1 argument%s, got %zd",
                     nargs > 3 ? " and at most 3" : "", nargs);
        return NULL;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL || op_check_not_running(op) < 0) {
        return NULL;
    }
    op->running = 1;
    PyObject *res = op_throw_impl(st, op, args, nargs);
    op->running = 0;
    return res;
}

/* close(): the awaited thing is closed, and a `finally` of the body
   runs. */
static PyObject *
op_close(PyObject *self, PyObject *Py_UNUSED(arg))
{
    StreamOpObject *op = (StreamOpObject *)self;
    asyncio_state *st = state_of(self);
    if (st == NULL || op_check_not_running(op) < 0) {
        return NULL;
    }
    int rc = 0;
    if (op->sub != NULL) {
        PyObject *sub = op->sub;
        op->sub = NULL;
        PyObject *close = PyObject_GetAttr(sub, st->streams.str_close);
        if (close != NULL) {
            op->running = 1;
            rc = drop_result(PyObject_CallNoArgs(close));
            op->running = 0;
            Py_DECREF(close);
        }
        else if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
        }
        else {
            rc = -1;
        }
        Py_DECREF(sub);
    }
    if (op->awaiting == AWAIT_WAITER) {
        streams_set(&reader_fields_of(st, op->self)->waiter,
                    Py_NewRef(Py_None));
    }
    op->awaiting = AWAIT_NOTHING;
    op->finished = 1;
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

/* `await op`.  A coroutine that is suspended in an await of its own is
   being awaited by someone: a second awaiter would take the first one's
   wake-ups, so it is refused, as `await` refuses it for a coroutine.  (A
   running one is let through, to meet "already executing" in send().) */
static PyObject *
op_await(PyObject *self)
{
    StreamOpObject *op = (StreamOpObject *)self;
    if (op->sub != NULL && !op->running) {
        PyErr_SetString(PyExc_RuntimeError,
                        "coroutine is being awaited already");
        return NULL;
    }
    return Py_NewRef(self);
}

static PyObject *
op_get_qualname(PyObject *self, void *Py_UNUSED(c))
{
    return PyUnicode_FromString(op_names[((StreamOpObject *)self)->op]);
}

static PyObject *
op_get_name(PyObject *self, void *Py_UNUSED(c))
{
    const char *name = op_names[((StreamOpObject *)self)->op];
    return PyUnicode_FromString(strchr(name, '.') + 1);
}

static PyObject *
op_get_await(PyObject *self, void *Py_UNUSED(c))
{
    return new_ref_or_none(((StreamOpObject *)self)->sub);
}

static PyObject *
op_get_origin(PyObject *self, void *Py_UNUSED(c))
{
    return new_ref_or_none(((StreamOpObject *)self)->origin);
}

static PyObject *
op_get_running(PyObject *self, void *Py_UNUSED(c))
{
    return PyBool_FromLong(((StreamOpObject *)self)->running);
}

static PyObject *
op_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<stream operation %s at %p>",
                                op_names[((StreamOpObject *)self)->op],
                                self);
}

static int
op_traverse(PyObject *self, visitproc visit, void *arg)
{
    StreamOpObject *op = (StreamOpObject *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(op->self);
    Py_VISIT(op->arg);
    Py_VISIT(op->sub);
    Py_VISIT(op->blocks);
    Py_VISIT(op->origin);
    return 0;
}

static int
op_clear(PyObject *self)
{
    StreamOpObject *op = (StreamOpObject *)self;
    Py_CLEAR(op->self);
    Py_CLEAR(op->arg);
    Py_CLEAR(op->sub);
    Py_CLEAR(op->blocks);
    Py_CLEAR(op->origin);
    return 0;
}

/* An operation collected without ever having run is an `await` forgotten:
   warn as a coroutine does (one collected while suspended is closed).
   warnings._warn_unawaited_coroutine() words it, from our __qualname__
   and cr_origin, and is what a filter or a test catching the warning of a
   coroutine expects; should it fail, a plain warning says the same but
   for the origin.  Errors, a warning turned into one included, go to
   sys.unraisablehook: a finaliser cannot raise. */
static void
op_finalize(PyObject *self)
{
    StreamOpObject *op = (StreamOpObject *)self;
    if (op->finished) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (op->started) {
        /* collected while suspended: closed, as a coroutine's frame is,
           so that what it awaits is closed and the reader lets go of its
           waiter */
        PyObject *res = op_close(self, NULL);
        if (res == NULL) {
            PyErr_WriteUnraisable(self);
        }
        Py_XDECREF(res);
        PyErr_Restore(type, value, tb);
        return;
    }
    PyObject *warn = import_attr("warnings", "_warn_unawaited_coroutine");
    PyObject *res = warn != NULL ? PyObject_CallOneArg(warn, self) : NULL;
    Py_XDECREF(warn);
    if (res != NULL) {
        Py_DECREF(res);
    }
    else {
        /* a RuntimeWarning raised is the warning, made an error */
        int warned = PyErr_ExceptionMatches(PyExc_RuntimeWarning);
        PyErr_WriteUnraisable(self);
        if (!warned
            && PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                "coroutine '%s' was never awaited",
                                op_names[op->op]) < 0) {
            PyErr_WriteUnraisable(self);
        }
    }
    PyErr_Restore(type, value, tb);
}

static void
op_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    StreamOpObject *op = (StreamOpObject *)self;
    /* (op_finalize() has nothing to do for one that finished) */
    if (!op->finished && PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;     /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    (void)op_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef op_methods[] = {
    {"send", op_send, METH_O,
     PyDoc_STR("send($self, value, /)\n--\n\n"
               "Resume the operation with value; return what it yields "
               "next, or\nraise StopIteration with its result.")},
    {"throw", (PyCFunction)(void (*)(void))op_throw, METH_FASTCALL,
     PyDoc_STR("throw($self, typ, val=None, tb=None, /)\n--\n\n"
               "Raise the exception where the operation waits.")},
    {"close", op_close, METH_NOARGS,
     PyDoc_STR("close($self, /)\n--\n\n"
               "End the operation where it waits.")},
    {NULL, NULL}
};

static PyGetSetDef op_getsets[] = {
    {"__qualname__", op_get_qualname, NULL, NULL, NULL},
    {"__name__", op_get_name, NULL, NULL, NULL},
    {"cr_await", op_get_await, NULL, NULL, NULL},
    {"cr_origin", op_get_origin, NULL, NULL, NULL},
    {"cr_running", op_get_running, NULL, NULL, NULL},
    {NULL}
};

static PyType_Slot op_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "What a stream's coroutine methods return: their body as a "
        "coroutine\nrun by _asyncio.")},
    {Py_tp_dealloc, op_dealloc},
    {Py_tp_finalize, op_finalize},
    {Py_tp_traverse, op_traverse},
    {Py_tp_clear, op_clear},
    {Py_tp_repr, op_repr},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, op_iternext},
    {Py_am_await, op_await},
    {Py_am_send, op_am_send},
    {Py_tp_methods, op_methods},
    {Py_tp_getset, op_getsets},
    {0, NULL}
};

static PyType_Spec op_spec = {
    .name = "_asyncio.StreamOp",
    .basicsize = sizeof(StreamOpObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
              | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION),
    .slots = op_slots,
};


/* ---------- StreamReader: the coroutine methods ---------- */

/* A coroutine method of the reader: an operation, made with the argument
   parsed as the pure method takes it (checks of its value wait for the
   operation to run, as in a coroutine). */
static PyObject *
reader_op(PyTypeObject *cls, PyObject *op, PyObject *const *args,
          size_t nargsf, PyObject *kwnames, int kind, const char *fname,
          const char *argname, PyObject *dflt)
{
    const char *const names[] = {argname};
    PyObject *arg = NULL;
    int n = argname != NULL;
    if (parse_args(fname, args, PyVectorcall_NARGS(nargsf), kwnames, names,
                   n, n, dflt == NULL ? n : 0, &arg) < 0) {
        return NULL;
    }
    return op_new(cls_state(cls), kind, op, arg != NULL ? arg : dflt);
}

static PyObject *
reader_read(CMETHOD_ARGS)
{
    PyObject *minus_one = PyLong_FromLong(-1);
    if (minus_one == NULL) {
        return NULL;
    }
    PyObject *res = reader_op(cls, op, args, nargsf, kwnames, OP_READ,
                              "read", "n", minus_one);
    Py_DECREF(minus_one);
    return res;
}

static PyObject *
reader_readexactly(CMETHOD_ARGS)
{
    return reader_op(cls, op, args, nargsf, kwnames, OP_READEXACTLY,
                     "readexactly", "n", NULL);
}

static PyObject *
reader_readuntil(CMETHOD_ARGS)
{
    PyObject *newline = PyBytes_FromStringAndSize("\n", 1);
    if (newline == NULL) {
        return NULL;
    }
    PyObject *res = reader_op(cls, op, args, nargsf, kwnames, OP_READUNTIL,
                              "readuntil", "separator", newline);
    Py_DECREF(newline);
    return res;
}

static PyObject *
reader_readline(CMETHOD_ARGS)
{
    return reader_op(cls, op, args, nargsf, kwnames, OP_READLINE,
                     "readline", NULL, Py_None);
}

static PyObject *
reader__wait_for_data(CMETHOD_ARGS)
{
    return reader_op(cls, op, args, nargsf, kwnames, OP_WAIT,
                     "_wait_for_data", "func_name", NULL);
}


/* ---------- StreamWriter and StreamReaderProtocol ---------- */

static PyObject *
writer_write(CMETHOD_ARGS)
{
    static const char *const names[] = {"data"};
    PyObject *data;
    if (parse_args("write", args, PyVectorcall_NARGS(nargsf), kwnames,
                   names, 1, 1, 1, &data) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    writer_fields *f = writer_fields_of(st, op);
    PyObject *transport = field_value(op, f->transport, "_transport");
    if (transport == NULL) {
        return NULL;
    }
    Py_INCREF(transport);
    int rc = transport_write_direct(st, transport, data);
    PyObject *res = rc == -2 ? PyObject_CallMethodOneArg(
                                   transport, st->streams.str_write, data)
                             : none_or_error(rc);
    Py_DECREF(transport);
    return res;
}

static PyObject *
writer_drain(CMETHOD_ARGS)
{
    if (check_no_args("drain", nargsf, kwnames) < 0) {
        return NULL;
    }
    return op_new(cls_state(cls), OP_DRAIN, op, NULL);
}

/* data_received(data): the reader, while there is one, is fed. */
static PyObject *
protocol_data_received(CMETHOD_ARGS)
{
    static const char *const names[] = {"data"};
    PyObject *data;
    if (parse_args("data_received", args, PyVectorcall_NARGS(nargsf),
                   kwnames, names, 1, 1, 1, &data) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    streams_state *ss = &st->streams;
    PyObject *reader;
    if (_PyType_Lookup(Py_TYPE(op), ss->str_stream_reader)
        == ss->py_stream_reader) {
        /* the property: the reader the weak reference still has.  It
           reads the field twice, to test it and to call it. */
        PyObject *wr = protocol_field(st, op, PROTOCOL_STREAM_READER_WR);
        if (wr == NULL) {
            return NULL;
        }
        if (wr != Py_None) {
            Py_SETREF(wr, protocol_field(st, op, PROTOCOL_STREAM_READER_WR));
            if (wr == NULL) {
                return NULL;
            }
        }
        reader = wr == Py_None ? Py_NewRef(Py_None)
                               : PyObject_CallNoArgs(wr);
        Py_DECREF(wr);
    }
    else {
        reader = PyObject_GetAttr(op, ss->str_stream_reader);
    }
    if (reader == NULL || reader == Py_None) {
        return reader;
    }
    PyObject *res;
    if (ss->ReaderType != NULL && PyObject_TypeCheck(reader, ss->ReaderType)
        && streams_own(st, reader, READER_FEED_DATA)) {
        res = none_or_error(reader_feed_data_impl(st, reader, data));
    }
    else {
        res = PyObject_CallMethodOneArg(reader, ss->str_feed_data, data);
    }
    Py_DECREF(reader);
    return res;
}


/* ---------- Coroutine methods ----------
 *
 * read() and the reader's other coroutine methods, and drain(), are C
 * functions standing in for `async def` functions of the pure classes.
 * Code looks at those as functions: asyncio.iscoroutinefunction() and
 * inspect.iscoroutinefunction() (which unittest.mock's specs go by to make
 * an AsyncMock), inspect.signature(), help(), pickle.  So the C class holds
 * each as a coroutine_method: a descriptor that calls the C function and
 * shows the pure function's __code__, __defaults__, __kwdefaults__,
 * __annotations__, names and __doc__, which makes it function-like to
 * inspect.  Looked up on an instance it gives a bound method of itself, as
 * a function does; a method call (Py_TPFLAGS_METHOD_DESCRIPTOR) needs no
 * bound method at all.  Its __wrapped__ is the pure function, whose source
 * inspect.getsource() then shows.  (Its __module__ being the function's,
 * the class coroutine_method has that attribute's descriptor for its own
 * __module__, as a Python class with a __module__ property would.)
 */

typedef struct {
    PyObject_HEAD
    PyMethodDef *cm_def;          /* the C function (CMETHOD) */
    PyTypeObject *cm_class;       /* the class it is a method of */
    PyObject *cm_func;            /* the pure function it stands in for */
    vectorcallfunc cm_vectorcall;
} CoroMethodObject;

static PyObject *
coromethod_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf,
                      PyObject *kwnames)
{
    CoroMethodObject *m = (CoroMethodObject *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    /* the errors of a method descriptor's call */
    if (nargs < 1) {
        PyErr_Format(PyExc_TypeError, "unbound method %s.%s() needs an "
                     "argument", _PyType_Name(m->cm_class),
                     m->cm_def->ml_name);
        return NULL;
    }
    if (!PyObject_TypeCheck(args[0], m->cm_class)) {
        PyErr_Format(PyExc_TypeError,
                     "descriptor '%s' for '%.100s' objects doesn't apply to "
                     "a '%.100s' object", m->cm_def->ml_name,
                     m->cm_class->tp_name, Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    PyCMethod meth = (PyCMethod)(void (*)(void))m->cm_def->ml_meth;
    return meth(args[0], m->cm_class, args + 1, (size_t)(nargs - 1),
                kwnames);
}

static PyObject *
coromethod_descr_get(PyObject *op, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(op);
    }
    return PyMethod_New(op, obj);
}

/* The pure function's attribute `name`. */
static PyObject *
coromethod_func_attr(PyObject *op, void *name)
{
    return PyObject_GetAttrString(((CoroMethodObject *)op)->cm_func,
                                  (const char *)name);
}

/* pickle and copy take a string for the name of a global: the pure
   function's __qualname__ in its __module__ finds this object again. */
static PyObject *
coromethod_reduce(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return coromethod_func_attr(op, "__qualname__");
}

static PyObject *
coromethod_repr(PyObject *op)
{
    CoroMethodObject *m = (CoroMethodObject *)op;
    return PyUnicode_FromFormat("<coroutine method '%s' of '%s' objects>",
                                m->cm_def->ml_name, m->cm_class->tp_name);
}

static int
coromethod_traverse(PyObject *op, visitproc visit, void *arg)
{
    CoroMethodObject *m = (CoroMethodObject *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(m->cm_class);
    Py_VISIT(m->cm_func);
    return 0;
}

static int
coromethod_clear(PyObject *op)
{
    CoroMethodObject *m = (CoroMethodObject *)op;
    Py_CLEAR(m->cm_class);
    Py_CLEAR(m->cm_func);
    return 0;
}

static void
coromethod_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)coromethod_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef coromethod_methods[] = {
    {"__reduce__", coromethod_reduce, METH_NOARGS, NULL},
    {NULL, NULL}
};

#define COROMETHOD_FUNC_ATTR(name) \
    {name, coromethod_func_attr, NULL, NULL, (void *)(name)}

static PyGetSetDef coromethod_getsets[] = {
    COROMETHOD_FUNC_ATTR("__name__"),
    COROMETHOD_FUNC_ATTR("__qualname__"),
    COROMETHOD_FUNC_ATTR("__module__"),
    COROMETHOD_FUNC_ATTR("__doc__"),
    COROMETHOD_FUNC_ATTR("__code__"),
    COROMETHOD_FUNC_ATTR("__defaults__"),
    COROMETHOD_FUNC_ATTR("__kwdefaults__"),
    COROMETHOD_FUNC_ATTR("__annotations__"),
    {NULL}
};

static PyMemberDef coromethod_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(CoroMethodObject, cm_vectorcall), READONLY, NULL},
    /* as functools.wraps() would set it: inspect.unwrap(), and so
       inspect.getsource(), find the pure function */
    {"__wrapped__", T_OBJECT, offsetof(CoroMethodObject, cm_func), READONLY,
     NULL},
    {NULL}
};

static PyType_Slot coromethod_slots[] = {
    {Py_tp_dealloc, coromethod_dealloc},
    {Py_tp_traverse, coromethod_traverse},
    {Py_tp_clear, coromethod_clear},
    {Py_tp_repr, coromethod_repr},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_descr_get, coromethod_descr_get},
    {Py_tp_methods, coromethod_methods},
    {Py_tp_getset, coromethod_getsets},
    {Py_tp_members, coromethod_members},
    {0, NULL}
};

static PyType_Spec coromethod_spec = {
    .name = "_asyncio.coroutine_method",
    .basicsize = sizeof(CoroMethodObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
              | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION
              | Py_TPFLAGS_METHOD_DESCRIPTOR | Py_TPFLAGS_HAVE_VECTORCALL),
    .slots = coromethod_slots,
};

/* Make the methods of cls named in `names` (of its table `methods`)
   coroutine_methods standing in for the functions of the same names that
   base, the pure class, has.  A name whose pure attribute is no
   coroutine function keeps its plain method. */
static int
coromethod_install(streams_state *ss, PyTypeObject *cls, PyObject *base,
                   PyMethodDef *methods, const char *const *names)
{
    for (; *names != NULL; names++) {
        PyMethodDef *def = methods;
        while (def->ml_name != NULL && strcmp(def->ml_name, *names) != 0) {
            def++;
        }
        if (def->ml_name == NULL) {
            PyErr_Format(PyExc_SystemError, "%s has no C method %s",
                         cls->tp_name, *names);
            return -1;
        }
        PyObject *name = PyUnicode_InternFromString(*names);
        if (name == NULL) {
            return -1;
        }
        PyObject *func = _PyType_Lookup((PyTypeObject *)base, name);
        if (func == NULL || !PyFunction_Check(func)
            || !(((PyCodeObject *)PyFunction_GET_CODE(func))->co_flags
                 & CO_COROUTINE)) {
            Py_DECREF(name);
            continue;
        }
        CoroMethodObject *m = PyObject_GC_New(CoroMethodObject,
                                              ss->CoroMethodType);
        if (m == NULL) {
            Py_DECREF(name);
            return -1;
        }
        m->cm_def = def;
        m->cm_class = (PyTypeObject *)Py_NewRef(cls);
        m->cm_func = Py_NewRef(func);
        m->cm_vectorcall = coromethod_vectorcall;
        PyObject_GC_Track(m);
        int rc = PyObject_SetAttr((PyObject *)cls, name, (PyObject *)m);
        Py_DECREF(m);
        Py_DECREF(name);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}


/* ---------- The types ---------- */

static PyMethodDef reader_methods[] = {
    CMETHOD("feed_data", reader_feed_data,
            PyDoc_STR("feed_data($self, /, data)\n--\n\n"
                      "Add data to the buffer and wake up a waiting read; "
                      "reading pauses\nwhile more than twice the limit is "
                      "buffered.")),
    CMETHOD("feed_eof", reader_feed_eof,
            PyDoc_STR("feed_eof($self, /)\n--\n\n"
                      "Note that no more data will come, and wake up a "
                      "waiting read.")),
    CMETHOD("exception", reader_exception,
            PyDoc_STR("exception($self, /)\n--\n\n"
                      "The exception set on the stream, or None.")),
    CMETHOD("at_eof", reader_at_eof,
            PyDoc_STR("at_eof($self, /)\n--\n\n"
                      "True once feed_eof() was called and the buffer was "
                      "read out.")),
    CMETHOD("_wakeup_waiter", reader__wakeup_waiter,
            PyDoc_STR("_wakeup_waiter($self, /)\n--\n\n"
                      "Let the read waiting for data or EOF go on.")),
    CMETHOD("_maybe_resume_transport", reader__maybe_resume_transport,
            PyDoc_STR("_maybe_resume_transport($self, /)\n--\n\n"
                      "Resume the paused transport once the buffer is "
                      "within the limit.")),
    CMETHOD("_wait_for_data", reader__wait_for_data,
            PyDoc_STR("_wait_for_data($self, /, func_name)\n--\n\n"
                      "Wait for feed_data() or feed_eof(), resuming the "
                      "transport first\nif it was paused.")),
    CMETHOD("read", reader_read,
            PyDoc_STR("read($self, /, n=-1)\n--\n\n"
                      "Read at most n bytes, waiting for at least one "
                      "unless EOF came.\n\n"
                      "A negative n (the default) collects everything up "
                      "to EOF; n zero gives\nb'' at once.  The stream's "
                      "limit does not apply.")),
    CMETHOD("readexactly", reader_readexactly,
            PyDoc_STR("readexactly($self, /, n)\n--\n\n"
                      "Read n bytes, no fewer.\n\n"
                      "An EOF before that raises IncompleteReadError, whose "
                      "partial\nattribute holds what was read.  The "
                      "stream's limit does not apply.")),
    CMETHOD("readuntil", reader_readuntil,
            PyDoc_STR("readuntil($self, /, separator=b'\\n')\n--\n\n"
                      "Read up to and including separator.\n\n"
                      "The data and separator are taken out of the buffer.  "
                      "An EOF before\nthe separator raises "
                      "IncompleteReadError (the buffer is emptied into\n"
                      "its partial attribute); more than the limit before "
                      "it raises\nLimitOverrunError and leaves the data in "
                      "the buffer.")),
    CMETHOD("readline", reader_readline,
            PyDoc_STR("readline($self, /)\n--\n\n"
                      "Read one line, ending with b'\\n'.\n\n"
                      "At EOF the incomplete last line is returned (b'' "
                      "when nothing was\nleft).  A line longer than the "
                      "limit raises ValueError, dropping it\n(or the whole "
                      "buffer when no newline came) from the buffer.")),
    {NULL, NULL}
};

static PyMethodDef writer_methods[] = {
    CMETHOD("write", writer_write,
            PyDoc_STR("write($self, /, data)\n--\n\n"
                      "Write data to the transport; drain() waits for it "
                      "to go out.")),
    CMETHOD("drain", writer_drain,
            PyDoc_STR("drain($self, /)\n--\n\n"
                      "Wait until the transport's write buffer is low "
                      "enough to write more.\n\n"
                      "Meant to follow write(): w.write(data); await "
                      "w.drain().  It raises the\nreader's exception, and "
                      "ConnectionResetError once the connection is "
                      "lost.")),
    {NULL, NULL}
};

static PyMethodDef protocol_methods[] = {
    CMETHOD("data_received", protocol_data_received,
            PyDoc_STR("data_received($self, /, data)\n--\n\n"
                      "Feed the data to the stream's reader.")),
    {NULL, NULL}
};

/* the methods above that are coroutine functions in the pure classes */
static const char *const reader_coroutine_methods[] = {
    "_wait_for_data", "read", "readexactly", "readuntil", "readline", NULL,
};

static const char *const writer_coroutine_methods[] = {"drain", NULL};

static const char *const reader_field_names[READER_NFIELDS] = {
    "_buffer", "_eof", "_waiter", "_exception", "_transport", "_paused",
    "_limit", "_loop",
};

static const char *const writer_field_names[WRITER_NFIELDS] = {
    "_transport", "_protocol", "_reader", "_loop", "_complete_fut",
};

PyDoc_STRVAR(reader_doc,
"StreamReader(limit=65536, loop=None)\n--\n\n"
"A stream's reading end, whose data path runs in C.");

PyDoc_STRVAR(writer_doc,
"StreamWriter(transport, protocol, reader, loop)\n--\n\n"
"A stream's writing end, whose data path runs in C.\n\n"
"It passes write(), writelines(), write_eof(), close() and\n"
"get_extra_info() on to the transport (also its transport attribute),\n"
"and drain() waits while the transport's buffer is too full.");

PyDoc_STRVAR(protocol_doc,
"StreamReaderProtocol(stream_reader, client_connected_cb=None, "
"loop=None)\n--\n\n"
"The protocol between a transport and a StreamReader, feeding it in C.\n\n"
"A class of its own rather than methods of the reader, so that the\n"
"reader can serve other sources and offers its users no protocol\n"
"methods.  client_connected_cb, when given, gets (reader, writer) once\n"
"the connection is made, as start_server() arranges.");

/* collections.abc.Coroutine.register(tp): asyncio then takes an
   operation for a coroutine (a task can run one). */
static int
streams_register_coroutine(PyTypeObject *tp)
{
    PyObject *coroutine = import_attr("collections.abc", "Coroutine");
    if (coroutine == NULL) {
        return -1;
    }
    PyObject *res = PyObject_CallMethod(coroutine, "register", "O", tp);
    Py_DECREF(coroutine);
    return drop_result(res);
}

/* _stream_types(reader, writer, protocol): the three C subclasses. */
static PyObject *
streams__stream_types(PyObject *module, PyObject *const *args,
                      Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError,
                     "_stream_types() takes exactly 3 arguments (%zd "
                     "given)", nargs);
        return NULL;
    }
    asyncio_state *st = get_module_state(module);
    streams_state *ss = &st->streams;
    if (ss->ReaderType != NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the stream types are made already");
        return NULL;
    }
    PyObject *drain_helper = PyObject_GetAttr(args[2],
                                              ss->str_drain_helper);
    PyObject *stream_reader = drain_helper != NULL ? _PyType_Lookup(
        (PyTypeObject *)args[2], ss->str_stream_reader) : NULL;
    Py_XDECREF(drain_helper);
    if (stream_reader == NULL || !PyType_Check(args[2])) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError,
                         "%R is no StreamReaderProtocol", args[2]);
        }
        return NULL;
    }
    const fields_subclass_spec reader_spec = {
        .name = "_asyncio.StreamReader", .doc = reader_doc,
        .fields = reader_field_names, .nfields = READER_NFIELDS,
        .size = sizeof(reader_fields),
        .members = ss->reader_members, .methods = reader_methods,
    };
    const fields_subclass_spec writer_spec = {
        .name = "_asyncio.StreamWriter", .doc = writer_doc,
        .fields = writer_field_names, .nfields = WRITER_NFIELDS,
        .size = sizeof(writer_fields),
        .members = ss->writer_members, .methods = writer_methods,
    };
    const fields_subclass_spec protocol_spec = {
        .name = "_asyncio.StreamReaderProtocol", .doc = protocol_doc,
        .fields = protocol_field_names, .nfields = PROTOCOL_NFIELDS,
        .size = PROTOCOL_NFIELDS * sizeof(PyObject *),
        .members = ss->protocol_members, .methods = protocol_methods,
    };
    PyObject *reader = NULL, *writer = NULL, *protocol = NULL;
    reader = make_fields_subclass(module, args[0], &reader_spec,
                                  &ss->reader_offset);
    writer = reader != NULL ? make_fields_subclass(
        module, args[1], &writer_spec, &ss->writer_offset) : NULL;
    protocol = writer != NULL ? make_fields_subclass(
        module, args[2], &protocol_spec, &ss->protocol_offset) : NULL;
    if (protocol == NULL) {
        goto error;
    }
    if (lookup_own_attributes((PyTypeObject *)protocol, ss->protocol_names,
                              ss->protocol_own, PROTOCOL_NFIELDS) < 0) {
        goto error;
    }
    if (coromethod_install(ss, (PyTypeObject *)reader, args[0],
                           reader_methods, reader_coroutine_methods) < 0
        || coromethod_install(ss, (PyTypeObject *)writer, args[1],
                              writer_methods, writer_coroutine_methods) < 0) {
        goto error;
    }
    /* the flow control helper the drain fast path stands in for: the one
       StreamReaderProtocol has, as found through its MRO */
    PyObject *helper = _PyType_Lookup((PyTypeObject *)args[2],
                                      ss->str_drain_helper);
    if (lookup_own_attributes((PyTypeObject *)reader, ss->reader_names,
                              ss->reader_own, READER_NOWN) < 0) {
        goto error;
    }
    if (streams_register_coroutine(ss->OpType) < 0) {
        goto error;
    }
    Py_XSETREF(ss->py_drain_helper, Py_NewRef(helper));
    Py_XSETREF(ss->py_stream_reader, Py_NewRef(stream_reader));
    ss->ReaderType = (PyTypeObject *)Py_NewRef(reader);
    ss->WriterType = (PyTypeObject *)Py_NewRef(writer);
    ss->ProtocolType = (PyTypeObject *)Py_NewRef(protocol);
    return PyTuple_Pack(3, reader, writer, protocol);
error:
    Py_XDECREF(reader);
    Py_XDECREF(writer);
    Py_XDECREF(protocol);
    return NULL;
}

static PyMethodDef streams_functions[] = {
    {"_stream_types", (PyCFunction)(void (*)(void))streams__stream_types,
     METH_FASTCALL,
     PyDoc_STR("_stream_types($module, reader, writer, protocol, /)\n--\n\n"
               "Make the stream classes whose data path runs in C: "
               "subclasses of the\npure-Python StreamReader, "
               "StreamWriter and StreamReaderProtocol,\nreturned in that "
               "order.")},
    {NULL, NULL}
};


/* ---------- The part ---------- */

static int
streams_exec(PyObject *module, asyncio_state *st)
{
    st->streams.OpType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &op_spec, NULL);
    if (st->streams.OpType == NULL) {
        return -1;
    }
    st->streams.CoroMethodType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &coromethod_spec, NULL);
    if (st->streams.CoroMethodType == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, streams_functions);
}

static const asyncio_name streams_names[] = {
    ASYNCIO_NAME(streams.reader_names[READER_WAIT_FOR_DATA],
                 "_wait_for_data"),
    ASYNCIO_NAME(streams.reader_names[READER_MAYBE_RESUME],
                 "_maybe_resume_transport"),
    ASYNCIO_NAME(streams.reader_names[READER_WAKEUP_WAITER],
                 "_wakeup_waiter"),
    ASYNCIO_NAME(streams.reader_names[READER_FEED_DATA], "feed_data"),
    ASYNCIO_NAME(streams.reader_names[READER_EXCEPTION], "exception"),
    ASYNCIO_NAME(streams.reader_names[READER_READ], "read"),
    ASYNCIO_NAME(streams.reader_names[READER_READUNTIL], "readuntil"),
    ASYNCIO_NAME(streams.str_cancelled, "cancelled"),
    ASYNCIO_NAME(streams.str_close, "close"),
    ASYNCIO_NAME(streams.protocol_names[PROTOCOL_CONNECTION_LOST],
                 "_connection_lost"),
    ASYNCIO_NAME(streams.str_create_future, "create_future"),
    ASYNCIO_NAME(streams.str_drain_helper, "_drain_helper"),
    ASYNCIO_NAME(streams.str_extend, "extend"),
    ASYNCIO_NAME(streams.str_feed_data, "feed_data"),
    ASYNCIO_NAME(streams.str_is_closing, "is_closing"),
    ASYNCIO_NAME(streams.str_pause_reading, "pause_reading"),
    ASYNCIO_NAME(streams.protocol_names[PROTOCOL_PAUSED], "_paused"),
    ASYNCIO_NAME(streams.str_readexactly, "readexactly"),
    ASYNCIO_NAME(streams.str_resume_reading, "resume_reading"),
    ASYNCIO_NAME(streams.str_set_exception, "set_exception"),
    ASYNCIO_NAME(streams.str_set_result, "set_result"),
    ASYNCIO_NAME(streams.str_stream_reader, "_stream_reader"),
    ASYNCIO_NAME(streams.protocol_names[PROTOCOL_STREAM_READER_WR],
                 "_stream_reader_wr"),
    ASYNCIO_NAME(streams.str_throw, "throw"),
    ASYNCIO_NAME(streams.str_write, "write"),
};

static const size_t streams_refs[] = {
    ASYNCIO_OFFSET(streams.ReaderType),
    ASYNCIO_OFFSET(streams.WriterType),
    ASYNCIO_OFFSET(streams.ProtocolType),
    ASYNCIO_OFFSET(streams.reader_own[READER_WAIT_FOR_DATA]),
    ASYNCIO_OFFSET(streams.reader_own[READER_MAYBE_RESUME]),
    ASYNCIO_OFFSET(streams.reader_own[READER_WAKEUP_WAITER]),
    ASYNCIO_OFFSET(streams.reader_own[READER_FEED_DATA]),
    ASYNCIO_OFFSET(streams.reader_own[READER_EXCEPTION]),
    ASYNCIO_OFFSET(streams.reader_own[READER_READ]),
    ASYNCIO_OFFSET(streams.reader_own[READER_READUNTIL]),
    ASYNCIO_OFFSET(streams.protocol_own[PROTOCOL_PAUSED]),
    ASYNCIO_OFFSET(streams.protocol_own[PROTOCOL_CONNECTION_LOST]),
    ASYNCIO_OFFSET(streams.protocol_own[PROTOCOL_STREAM_READER_WR]),
    ASYNCIO_OFFSET(streams.py_stream_reader),
    ASYNCIO_OFFSET(streams.py_drain_helper),
    ASYNCIO_OFFSET(streams.OpType),
    ASYNCIO_OFFSET(streams.CoroMethodType),
    ASYNCIO_OFFSET(streams.IncompleteReadError),
    ASYNCIO_OFFSET(streams.LimitOverrunError),
    ASYNCIO_OFFSET(streams.sleep),
};

const asyncio_part streams_part = {
    .names = streams_names,
    .nnames = Py_ARRAY_LENGTH(streams_names),
    .exec = streams_exec,
    .refs = streams_refs,
    .nrefs = Py_ARRAY_LENGTH(streams_refs),
};
