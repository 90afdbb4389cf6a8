/*
 * The event loop's core: _EventLoopCore
 *
 * A C base class of asyncio.BaseEventLoop.  It keeps the attributes the
 * hot path reads on every callback (_ready, _scheduled, _stopping,
 * _closed, _debug) in C fields, and provides time, get_debug,
 * _check_closed, call_soon, _call_soon, call_later, call_at, _run_once
 * and create_task; base_events.py drops its pure-Python versions of those
 * from BaseEventLoop and keeps them in base_events._py_hot_path.
 *
 * Where a pure-Python method calls another method of the loop, the C one
 * takes a shortcut only when that method is the core's own, neither
 * overridden by a subclass nor shadowed on the instance
 * (core_method_is_own()), so loops such as test_utils.TestLoop and mocks
 * see the calls they expect.  The other parts of the module reach a
 * core loop through loop_shortcuts, which this part fills in.
 */

#include "module.h"

#ifdef HAVE_SYS_EPOLL_H
#  include <sys/epoll.h>
#endif
#ifdef HAVE_SYS_SOCKET_H
#  include <sys/socket.h>
#endif

typedef struct {
    PyObject_HEAD
    PyObject *ready;            /* _ready: collections.deque of handles */
    PyObject *scheduled;        /* _scheduled: heap (list) of timers */
    PyObject *stopping;         /* _stopping */
    PyObject *closed;           /* _closed */
    PyObject *debug;            /* _debug */
    PyObject *current_task;     /* what _current_tasks[loop] would hold */
    /* Which core methods the loop leaves as the core's own (a bit per
       CORE_* method), valid while the type's version tag and the instance
       dict's version stay as recorded: see core_own_mask(). */
    int own_mask;               /* -1: not known */
    unsigned int own_tp_version;
    uint64_t own_dict_version;
    /* A byte was written to the self-pipe since the loop last looked at
       its ready queue: see core_write_to_self(). */
    int wakeup_pending;
    /* loop._selector, and for an EpollSelector its _selector and
       _fd_to_key, as read when the two objects were at these versions:
       see core_selector_refs(). */
    PyObject *sel;
    PyObject *sel_poller;
    PyObject *sel_fd_to_key;
    unsigned int sel_loop_tp_version;
    unsigned int sel_tp_version;
    uint64_t sel_loop_dict_version;
    uint64_t sel_dict_version;
} LoopCoreObject;

/* Timers over this count are cleaned up eagerly once more than this
   fraction of them is cancelled (base_events._MIN_SCHEDULED_TIMER_HANDLES
   and _MIN_CANCELLED_TIMER_HANDLES_FRACTION). */
#define CORE_MIN_SCHEDULED_TIMER_HANDLES 100
#define CORE_MIN_CANCELLED_TIMER_HANDLES_FRACTION 0.5
/* base_events.MAXIMUM_SELECT_TIMEOUT: one day */
#define CORE_MAXIMUM_SELECT_TIMEOUT (24 * 3600)

/* The selector loop's _process_events and selectors.EpollSelector, which
   the core's shortcut in core_poll() is for.  They live in modules that
   import this one, hence the late import; until it succeeds (or on
   systems without epoll) there is no shortcut. */
static void
core_load_selector_refs(asyncio_state *st)
{
    if (st->loop.selector_refs_loaded) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *cls = import_attr("asyncio.selector_events",
                                "BaseSelectorEventLoop");
    /* the selector loop's methods the core stands in for, as its class
       has them (_add_callback is BaseEventLoop's) */
    static const int which[] = {
        CORE_PROCESS_EVENTS, CORE_WRITE_TO_SELF, CORE_ADD_CALLBACK,
        CORE_IS_CLOSED
    };
    PyObject *meths[Py_ARRAY_LENGTH(which)] = {NULL};
    int found = cls != NULL;
    for (size_t i = 0; found && i < Py_ARRAY_LENGTH(which); i++) {
        meths[i] = Py_XNewRef(_PyType_Lookup((PyTypeObject *)cls,
                                             st->loop.own_names[which[i]]));
        found = meths[i] != NULL;
    }
    Py_XDECREF(cls);
    PyObject *sock = found ? import_attr("socket", "socket") : NULL;
    if (sock != NULL) {
        for (size_t i = 0; i < Py_ARRAY_LENGTH(which); i++) {
            Py_XSETREF(st->loop.own_methods[which[i]], meths[i]);
            meths[i] = NULL;
        }
        Py_XSETREF(st->loop.socket_type, sock);
        PyObject *sel = import_attr("selectors", "EpollSelector");
        Py_XSETREF(st->loop.epoll_selector_type, sel);
        PyObject *key = sel != NULL ? import_attr("selectors", "SelectorKey")
                                    : NULL;
        if (key != NULL && !(PyType_Check(key)
                             && PyType_IsSubtype((PyTypeObject *)key,
                                                 &PyTuple_Type))) {
            Py_CLEAR(key);
        }
        Py_XSETREF(st->loop.selector_key_type, key);
        PyObject *epoll = sel != NULL ? import_attr("select", "epoll") : NULL;
        Py_XSETREF(st->loop.epoll_type, epoll);
        PyObject *fileno = epoll != NULL
            ? PyObject_GetAttrString(epoll, "fileno") : NULL;
        Py_XSETREF(st->loop.epoll_fileno, fileno);
        st->loop.selector_refs_loaded = 1;
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(which); i++) {
        Py_XDECREF(meths[i]);
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

/* A bit per CORE_* method that the loop finds as the core's own: not
   overridden by its class, not shadowed on the instance.  Looking the
   methods up costs more than the shortcuts save, so the answer is kept
   until the class (or a base) or the instance dict changes.  -1 on
   error. */
static int
core_own_mask_lookup(asyncio_state *st, LoopCoreObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    core_load_selector_refs(st);
    int mask = 0;
    for (int i = 0; i < CORE_NOWN; i++) {
        PyObject *meth = NULL;
        int unbound = _PyObject_GetMethod((PyObject *)self,
                                          st->loop.own_names[i], &meth);
        if (meth == NULL) {
            return -1;
        }
        if (unbound && meth == st->loop.own_methods[i]) {
            mask |= 1 << i;
        }
        Py_DECREF(meth);
    }
    /* the lookups assign the type a version tag */
    if (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) {
        self->own_mask = mask;
        self->own_tp_version = tp->tp_version_tag;
        self->own_dict_version = dict_version_of((PyObject *)self);
        st->loop.type_version = tp->tp_version_tag;
    }
    return mask;
}

static inline int
core_own_mask(asyncio_state *st, LoopCoreObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->own_mask >= 0
        && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
        && tp->tp_version_tag == self->own_tp_version
        && dict_version_of((PyObject *)self) == self->own_dict_version) {
        return self->own_mask;
    }
    return core_own_mask_lookup(st, self);
}

/* Whether loop is an _EventLoopCore. */
static inline int
core_check(asyncio_state *st, PyObject *loop)
{
    PyTypeObject *tp = Py_TYPE(loop);
    int tagged = (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) != 0;
    if (tagged && tp->tp_version_tag == st->loop.type_version) {
        return 1;
    }
    if (tagged && tp->tp_version_tag == st->loop_core.other_version) {
        return 0;
    }
    int is_core = PyObject_TypeCheck(loop, st->loop.LoopCoreType);
    if (!is_core && tagged) {
        st->loop_core.other_version = tp->tp_version_tag;
    }
    return is_core;
}

/* Where a loop core keeps its current task; NULL for other loops. */
static PyObject **
core_current_task_slot(asyncio_state *st, PyObject *loop)
{
    return core_check(st, loop) ? &((LoopCoreObject *)loop)->current_task
                                : NULL;
}

/* 1 when loop.<core_own_names[which]> is the core's own method, 0 when it
   is something else or loop is no core loop, -1 on error. */
static inline int
core_method_is_own(asyncio_state *st, PyObject *loop, int which)
{
    if (!core_check(st, loop)) {
        return 0;
    }
    int mask = core_own_mask(st, (LoopCoreObject *)loop);
    return mask < 0 ? -1 : (mask >> which) & 1;
}

/* A core field as the attribute it stands for: a new reference, or NULL
   with AttributeError while it is unset. */
static PyObject *
core_field(LoopCoreObject *self, PyObject *value, const char *name)
{
    return Py_XNewRef(field_value((PyObject *)self, value, name));
}

/* time.monotonic() */
static PyObject *
core_monotonic(void)
{
    return PyFloat_FromDouble(
        _PyTime_AsSecondsDouble(_PyTime_GetMonotonicClock()));
}

/* loop.time(): new reference. */
static PyObject *
core_loop_time(asyncio_state *st, LoopCoreObject *self)
{
    int own = core_method_is_own(st, (PyObject *)self, CORE_TIME);
    if (own < 0) {
        return NULL;
    }
    if (own) {
        return core_monotonic();
    }
    return PyObject_CallMethodNoArgs((PyObject *)self,
                                     st->loop.own_names[CORE_TIME]);
}

/* loop._check_closed(); `own` tells whether that is the core's own
   method, -1 for not known. */
static int
core_check_closed(asyncio_state *st, LoopCoreObject *self, int own)
{
    if (own < 0) {
        own = core_method_is_own(st, (PyObject *)self, CORE_CHECK_CLOSED);
        if (own < 0) {
            return -1;
        }
    }
    if (!own) {
        return drop_result(PyObject_CallMethodNoArgs(
            (PyObject *)self, st->loop.own_names[CORE_CHECK_CLOSED]));
    }
    int closed = field_truth((PyObject *)self, self->closed, "_closed");
    if (closed > 0) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    return closed;
}

/* What call_soon() and call_at() check first: self._check_closed(), then
   in debug mode self._check_thread() (unless the method is
   call_soon_threadsafe) and self._check_callback(method).  Returns the
   loop's own-method mask (core_own_mask()) as it is after the checks, or
   -1 on error; *debug gets loop.get_debug() when that is the core's own,
   else -1. */
static int
core_schedule_checks(asyncio_state *st, LoopCoreObject *self,
                     PyObject *callback, const char *method, int *debug)
{
    int check_thread = strcmp(method, "call_soon_threadsafe") != 0;
    PyObject *loop = (PyObject *)self;
    int mask = core_own_mask(st, self);
    if (mask < 0
        || core_check_closed(st, self,
                             (mask >> CORE_CHECK_CLOSED) & 1) < 0) {
        return -1;
    }
    int on = field_truth((PyObject *)self, self->debug, "_debug");
    if (on < 0) {
        return -1;
    }
    if (on) {
        if ((check_thread
             && drop_result(PyObject_CallMethod(loop, "_check_thread",
                                                NULL)) < 0)
            || drop_result(PyObject_CallMethod(loop, "_check_callback", "Os",
                                               callback, method)) < 0) {
            return -1;
        }
    }
    if (on || !(mask & (1 << CORE_CHECK_CLOSED))
        || !PyBool_Check(self->debug)) {
        /* Python code ran, and may have changed the methods */
        mask = core_own_mask(st, self);
    }
    *debug = mask >= 0 && (mask & (1 << CORE_GET_DEBUG)) ? on : -1;
    return mask;
}

/* `if handle._source_traceback: del handle._source_traceback[-1]`, for a
   handle made by a Python method, whose own frame ends the traceback. */
static int
core_drop_last_frame(asyncio_state *st, PyObject *handle)
{
    PyObject *tb = PyObject_GetAttr(handle, st->loop.str_source_traceback);
    int truth = tb != NULL ? PyObject_IsTrue(tb) : -1;
    if (truth > 0) {
        PyObject *last = PyLong_FromLong(-1);
        truth = last != NULL ? PyObject_DelItem(tb, last) : -1;
        Py_XDECREF(last);
    }
    Py_XDECREF(tb);
    return truth < 0 ? -1 : 0;
}

/* handle._cancelled of any handle. */
static int
core_handle_cancelled(asyncio_state *st, PyObject *handle)
{
    if (Handle_Check(st, handle)) {
        return ((HandleObject *)handle)->h_cancelled;
    }
    return call_truth(PyObject_GetAttr(handle, st->loop.str_cancelled_attr));
}

/* handle._scheduled = flag */
static int
core_handle_set_scheduled(asyncio_state *st, PyObject *handle, int flag)
{
    if (TimerHandle_Check(st, handle)) {
        ((HandleObject *)handle)->h_scheduled = flag;
        return 0;
    }
    return PyObject_SetAttr(handle, st->loop.str_scheduled_attr,
                            flag ? Py_True : Py_False);
}

/* handle._when: new reference. */
static PyObject *
core_handle_when(asyncio_state *st, PyObject *handle)
{
    if (TimerHandle_Check(st, handle)) {
        return new_ref_or_none(((HandleObject *)handle)->h_when);
    }
    return PyObject_GetAttr(handle, st->loop.str_when_attr);
}

/* handle._run() */
static int
core_handle_run(asyncio_state *st, PyObject *handle)
{
    if (Py_IS_TYPE(handle, st->handles.HandleType)
        || Py_IS_TYPE(handle, st->handles.TimerHandleType)) {
        return handle_run(st, (HandleObject *)handle);
    }
    return drop_result(PyObject_CallMethodNoArgs(handle, st->loop.str_run));
}

/* self._ready.append(handle) */
static int
core_ready_append(asyncio_state *st, LoopCoreObject *self, PyObject *handle)
{
    PyObject *ready = core_field(self, self->ready, "_ready");
    if (ready == NULL) {
        return -1;
    }
    PyObject *res;
    if (Py_IS_TYPE(ready, st->loop.deque_type)) {
        PyObject *stack[2] = {ready, handle};
        res = PyObject_Vectorcall(st->loop.deque_append, stack, 2, NULL);
    }
    else {
        res = PyObject_CallMethodOneArg(ready, st->loop.str_append, handle);
    }
    Py_DECREF(ready);
    return drop_result(res);
}

/* self._ready.popleft(): new reference. */
static PyObject *
core_ready_popleft(asyncio_state *st, LoopCoreObject *self)
{
    PyObject *ready = core_field(self, self->ready, "_ready");
    if (ready == NULL) {
        return NULL;
    }
    PyObject *res;
    if (Py_IS_TYPE(ready, st->loop.deque_type)) {
        res = PyObject_Vectorcall(st->loop.deque_popleft, &ready, 1, NULL);
    }
    else {
        res = PyObject_CallMethodNoArgs(ready, st->loop.str_popleft);
    }
    Py_DECREF(ready);
    return res;
}

/* Arguments of `name(fixed..., *args, context=None)`: fixed[] (borrowed;
   required, positional or by keyword when not given positionally), the
   rest as a vector in *rest, context borrowed or NULL.  -1 on error. */
static int
core_parse_varargs(const char *fname, PyObject *const *args,
                   size_t nargsf, PyObject *kwnames, int nfixed,
                   const char *const *names, PyObject **fixed,
                   cb_args *rest, PyObject **context)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    *context = NULL;
    for (int i = 0; i < nfixed; i++) {
        fixed[i] = i < nargs ? args[i] : NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        PyObject **slot = NULL;
        if (PyUnicode_CompareWithASCIIString(key, "context") == 0) {
            slot = context;
        }
        for (int i = 0; slot == NULL && i < nfixed; i++) {
            if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) {
                slot = &fixed[i];
            }
        }
        if (slot == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%S'",
                         fname, key);
            return -1;
        }
        if (*slot != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got multiple values for argument '%S'",
                         fname, key);
            return -1;
        }
        *slot = args[nargs + k];
    }
    for (int i = 0; i < nfixed; i++) {
        if (fixed[i] == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required positional argument '%s'",
                         fname, names[i]);
            return -1;
        }
    }
    rest->obj = NULL;
    rest->items = args + nfixed;
    rest->n = nargs > nfixed ? nargs - nfixed : 0;
    return 0;
}

/* ---------- _EventLoopCore: scheduling callbacks ---------- */

/* _call_soon(callback, args, context): a new handle appended to _ready.
   drop and debug: see handle_new(). */
static PyObject *
core_call_soon_impl(asyncio_state *st, LoopCoreObject *self,
                    PyObject *callback, const cb_args *args,
                    PyObject *context, int drop, int debug)
{
    HandleObject *h = handle_new(st, NULL, callback, args, (PyObject *)self,
                                 context, drop, debug);
    if (h == NULL) {
        return NULL;
    }
    if (core_ready_append(st, self, (PyObject *)h) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return (PyObject *)h;
}

/* The handle of call_soon() and call_soon_threadsafe() after their checks
   (core_schedule_checks() gave mask and debug): self._call_soon(). */
static PyObject *
core_call_soon_checked(asyncio_state *st, LoopCoreObject *self, int mask,
                       PyObject *callback, const cb_args *args,
                       PyObject *context, int debug)
{
    PyObject *op = (PyObject *)self;
    if (mask & (1 << CORE__CALL_SOON)) {
        return core_call_soon_impl(st, self, callback, args, context, 2,
                                   debug);
    }
    PyObject *tuple = cb_args_object(args);
    if (tuple == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_CallMethodObjArgs(
        op, st->loop.own_names[CORE__CALL_SOON], callback, tuple,
        context ? context : Py_None, NULL);
    Py_DECREF(tuple);
    if (res != NULL && core_drop_last_frame(st, res) < 0) {
        Py_CLEAR(res);
    }
    return res;
}

/* call_soon(callback, *args, context=context): the new handle. */
static PyObject *
core_call_soon_args(asyncio_state *st, LoopCoreObject *self,
                    PyObject *callback, const cb_args *args,
                    PyObject *context)
{
    int debug;
    int mask = core_schedule_checks(st, self, callback, "call_soon", &debug);
    if (mask < 0) {
        return NULL;
    }
    return core_call_soon_checked(st, self, mask, callback, args, context,
                                  debug);
}

/* self._write_to_self() for call_soon_threadsafe().  The byte on the
   self-pipe is there to wake the loop from its poll, so the core writes
   it only when none was written since the loop last read its ready queue
   before polling (see core__run_once()), which spares the threads that
   hand work to a loop a system call each, and the GIL switch Python's
   socket.send() makes.  It writes from C, with the GIL held (the socket
   is non-blocking), when the method is the selector loop's own and
   _csock a plain socket; anything else is left to the method. */
static int
core_write_to_self(asyncio_state *st, LoopCoreObject *self)
{
    int mask = core_own_mask(st, self);
    if (mask < 0) {
        return -1;
    }
    int own = (mask >> CORE_WRITE_TO_SELF) & 1;
    /* the flag is only reset by the core's own _run_once() */
    int coalesce = own && ((mask >> CORE__RUN_ONCE) & 1);
    if (coalesce && self->wakeup_pending) {
        return 0;
    }
    PyObject *loop = (PyObject *)self;
#if defined(HAVE_SYS_SOCKET_H) && defined(MSG_DONTWAIT)
    if (own) {
        PyObject *csock = PyObject_GetAttr(loop, st->loop.str_csock);
        if (csock == NULL) {
            return -1;
        }
        int written = 0;
        if (csock == Py_None) {
            written = 1;        /* the method does nothing either */
        }
        else if (Py_IS_TYPE(csock, (PyTypeObject *)st->loop.socket_type)) {
            PyObject *fdobj = PyObject_CallMethodNoArgs(csock,
                                                        st->loop.str_fileno);
            int fd = fdobj != NULL ? PyObject_AsFileDescriptor(fdobj) : -1;
            Py_XDECREF(fdobj);
            if (fd < 0) {
                /* closed: the method swallows the error */
                PyErr_Clear();
            }
            else {
                static const char zero = 0;
                ssize_t n;
                do {
                    n = send(fd, &zero, 1, MSG_DONTWAIT);
                } while (n < 0 && errno == EINTR);
                written = n == 1;
            }
        }
        Py_DECREF(csock);
        if (written) {
            self->wakeup_pending = coalesce;
            return 0;
        }
    }
#endif
    /* a failed write is the method's to report (it logs in debug mode);
       a second byte costs nothing but a spurious wakeup */
    return drop_result(PyObject_CallMethodNoArgs(
        loop, st->loop.own_names[CORE_WRITE_TO_SELF]));
}

static PyObject *
core_call_soon_threadsafe(CMETHOD_ARGS)
{
    static const char *const names[] = {"callback"};
    asyncio_state *st = cls_state(cls);
    LoopCoreObject *self = (LoopCoreObject *)op;
    PyObject *callback, *context;
    cb_args rest;
    int debug, mask;
    if (core_parse_varargs("call_soon_threadsafe", args, nargsf, kwnames, 1,
                           names, &callback, &rest, &context) < 0
        || (mask = core_schedule_checks(st, self, callback,
                                        "call_soon_threadsafe",
                                        &debug)) < 0) {
        return NULL;
    }
    PyObject *handle = core_call_soon_checked(st, self, mask, callback,
                                              &rest, context, debug);
    if (handle != NULL && core_write_to_self(st, self) < 0) {
        Py_CLEAR(handle);
    }
    return handle;
}

static PyObject *
core_call_soon(CMETHOD_ARGS)
{
    static const char *const names[] = {"callback"};
    PyObject *callback, *context;
    cb_args rest;
    if (core_parse_varargs("call_soon", args, nargsf, kwnames, 1, names,
                           &callback, &rest, &context) < 0) {
        return NULL;
    }
    return core_call_soon_args(cls_state(cls), (LoopCoreObject *)op,
                               callback, &rest, context);
}

/* loop.call_soon(fn[, arg], context=ctx) for the call_soon() helper when
   that method is the core's own: the call without a method lookup and
   argument parsing.  Holds its arguments as the helper does. */
static int
core_call_soon_direct(asyncio_state *st, PyObject *loop, PyObject *fn,
                      PyObject *arg, PyObject *ctx)
{
    Py_INCREF(loop);
    Py_INCREF(fn);
    Py_XINCREF(arg);
    Py_XINCREF(ctx);
    cb_args rest = {NULL, &arg, arg != NULL};
    PyObject *res = core_call_soon_args(st, (LoopCoreObject *)loop, fn,
                                        &rest, ctx);
    Py_XDECREF(ctx);
    Py_XDECREF(arg);
    Py_DECREF(fn);
    Py_DECREF(loop);
    return drop_result(res);
}

static PyObject *
core__call_soon(CMETHOD_ARGS)
{
    static const char *const names[] = {"callback", "args", "context"};
    PyObject *a[3];
    if (parse_args("_call_soon", args, PyVectorcall_NARGS(nargsf), kwnames,
                   names, 3, 3, 3, a) < 0) {
        return NULL;
    }
    cb_args cbargs = {a[1], NULL, 0};
    return core_call_soon_impl(cls_state(cls), (LoopCoreObject *)op,
                               a[0], &cbargs, a[2], 1, -1);
}

/* call_at(when, callback, *args, context=None). */
static PyObject *
core_call_at_impl(asyncio_state *st, LoopCoreObject *self, PyObject *when,
                  PyObject *callback, const cb_args *args, PyObject *context,
                  int drop)
{
    if (when == Py_None) {
        PyErr_SetString(PyExc_TypeError, "when cannot be None");
        return NULL;
    }
    int debug;
    if (core_schedule_checks(st, self, callback, "call_at", &debug) < 0) {
        return NULL;
    }
    HandleObject *timer = handle_new(st, when, callback, args,
                                     (PyObject *)self, context, drop, debug);
    if (timer == NULL) {
        return NULL;
    }
    PyObject *heap = core_field(self, self->scheduled, "_scheduled");
    if (heap == NULL) {
        Py_DECREF(timer);
        return NULL;
    }
    PyObject *res = PyObject_CallFunctionObjArgs(st->loop.heappush, heap,
                                                 timer, NULL);
    Py_DECREF(heap);
    if (drop_result(res) < 0) {
        Py_DECREF(timer);
        return NULL;
    }
    timer->h_scheduled = 1;
    return (PyObject *)timer;
}

static PyObject *
core_call_at(CMETHOD_ARGS)
{
    static const char *const names[] = {"when", "callback"};
    PyObject *fixed[2], *context;
    cb_args rest;
    if (core_parse_varargs("call_at", args, nargsf, kwnames, 2, names,
                           fixed, &rest, &context) < 0) {
        return NULL;
    }
    return core_call_at_impl(cls_state(cls), (LoopCoreObject *)op,
                             fixed[0], fixed[1], &rest, context, 2);
}

/* self.call_at(when, callback, *args, context=context) when call_at is
   not the core's own; args is a vector. */
static PyObject *
core_call_at_method(asyncio_state *st, LoopCoreObject *self, PyObject *when,
                    PyObject *callback, const cb_args *args,
                    PyObject *context)
{
    Py_ssize_t n = args->n;
    PyObject **stack = PyMem_Malloc((n + 4) * sizeof(PyObject *));
    if (stack == NULL) {
        return PyErr_NoMemory();
    }
    stack[0] = (PyObject *)self;
    stack[1] = when;
    stack[2] = callback;
    for (Py_ssize_t i = 0; i < n; i++) {
        stack[3 + i] = args->items[i];
    }
    stack[3 + n] = context != NULL ? context : Py_None;
    PyObject *res = PyObject_VectorcallMethod(
        st->loop.own_names[CORE_CALL_AT], stack, 3 + n, st->kw_context);
    PyMem_Free(stack);
    if (res != NULL && core_drop_last_frame(st, res) < 0) {
        Py_CLEAR(res);
    }
    return res;
}

static PyObject *
core_call_later(CMETHOD_ARGS)
{
    static const char *const names[] = {"delay", "callback"};
    asyncio_state *st = cls_state(cls);
    LoopCoreObject *self = (LoopCoreObject *)op;
    PyObject *fixed[2], *context;
    cb_args rest;
    if (core_parse_varargs("call_later", args, nargsf, kwnames, 2, names,
                           fixed, &rest, &context) < 0) {
        return NULL;
    }
    PyObject *res = NULL, *now = NULL, *when = NULL;
    int own;
    if (fixed[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "delay must not be None");
        goto done;
    }
    if ((now = core_loop_time(st, self)) == NULL
        || (when = PyNumber_Add(now, fixed[0])) == NULL
        || (own = core_method_is_own(st, op, CORE_CALL_AT)) < 0) {
        goto done;
    }
    res = own ? core_call_at_impl(st, self, when, fixed[1], &rest, context,
                                  3)
              : core_call_at_method(st, self, when, fixed[1], &rest,
                                    context);
done:
    Py_XDECREF(now);
    Py_XDECREF(when);
    return res;
}

/* ---------- _EventLoopCore: one turn of the loop ---------- */

/* Many timers are cancelled: keep the others in a new heap. */
static int
core_rebuild_timer_heap(asyncio_state *st, LoopCoreObject *self)
{
    PyObject *heap = core_field(self, self->scheduled, "_scheduled");
    if (heap == NULL) {
        return -1;
    }
    PyObject *kept = PyList_New(0);
    PyObject *it = kept != NULL ? PyObject_GetIter(heap) : NULL;
    Py_DECREF(heap);
    if (it == NULL) {
        Py_XDECREF(kept);
        return -1;
    }
    PyObject *timer;
    int rc = 0;
    while (rc == 0 && (timer = PyIter_Next(it)) != NULL) {
        rc = core_handle_cancelled(st, timer);
        if (rc > 0) {
            rc = core_handle_set_scheduled(st, timer, 0);
        }
        else if (rc == 0) {
            rc = PyList_Append(kept, timer);
        }
        Py_DECREF(timer);
    }
    Py_DECREF(it);
    if (rc < 0 || PyErr_Occurred()
        || drop_result(PyObject_CallOneArg(st->loop.heapify, kept)) < 0) {
        Py_DECREF(kept);
        return -1;
    }
    Py_XSETREF(self->scheduled, kept);
    PyObject *zero = PyLong_FromLong(0);
    rc = zero != NULL ? PyObject_SetAttr((PyObject *)self,
                                         st->loop.str_timer_cancelled, zero)
                      : -1;
    Py_XDECREF(zero);
    return rc;
}

/* The head of the timer heap: cancelled timers leave it, all of them at
   once (rebuilding the heap) when they are many. */
static int
core_drop_cancelled_timers(asyncio_state *st, LoopCoreObject *self)
{
    PyObject *heap = core_field(self, self->scheduled, "_scheduled");
    if (heap == NULL) {
        return -1;
    }
    Py_ssize_t n = PyObject_Size(heap);
    Py_DECREF(heap);
    if (n < 0) {
        return -1;
    }
    PyObject *loop = (PyObject *)self;
    if (n > CORE_MIN_SCHEDULED_TIMER_HANDLES) {
        PyObject *count = PyObject_GetAttr(loop, st->loop.str_timer_cancelled);
        if (count == NULL) {
            return -1;
        }
        PyObject *nobj = PyLong_FromSsize_t(n);
        PyObject *frac = nobj ? PyNumber_TrueDivide(count, nobj) : NULL;
        Py_DECREF(count);
        Py_XDECREF(nobj);
        PyObject *limit = frac ? PyFloat_FromDouble(
            CORE_MIN_CANCELLED_TIMER_HANDLES_FRACTION) : NULL;
        int many = limit ? PyObject_RichCompareBool(frac, limit, Py_GT) : -1;
        Py_XDECREF(frac);
        Py_XDECREF(limit);
        if (many < 0) {
            return -1;
        }
        if (many) {
            return core_rebuild_timer_heap(st, self);
        }
    }
    for (;;) {
        heap = core_field(self, self->scheduled, "_scheduled");
        if (heap == NULL) {
            return -1;
        }
        int nonempty = object_truth(heap);
        PyObject *first = nonempty > 0 ? PySequence_GetItem(heap, 0) : NULL;
        int cancelled = first ? core_handle_cancelled(st, first)
                              : (nonempty < 0 ? -1 : 0);
        Py_XDECREF(first);
        if (cancelled <= 0) {
            Py_DECREF(heap);
            return cancelled;
        }
        PyObject *count = PyObject_GetAttr(loop, st->loop.str_timer_cancelled);
        PyObject *one = PyLong_FromLong(1);
        PyObject *less = count && one ? PyNumber_Subtract(count, one) : NULL;
        Py_XDECREF(count);
        Py_XDECREF(one);
        int rc = less ? PyObject_SetAttr(loop, st->loop.str_timer_cancelled,
                                         less)
                      : -1;
        Py_XDECREF(less);
        PyObject *timer = rc == 0 ? PyObject_CallOneArg(st->loop.heappop, heap)
                                  : NULL;
        Py_DECREF(heap);
        if (timer == NULL) {
            return -1;
        }
        rc = core_handle_set_scheduled(st, timer, 0);
        Py_DECREF(timer);
        if (rc < 0) {
            return -1;
        }
    }
}

/* The timeout of the selector: 0 when callbacks are ready or the loop is
   stopping, the time to the first timer (at most a day), else None. */
static PyObject *
core_select_timeout(asyncio_state *st, LoopCoreObject *self)
{
    int busy = field_truth((PyObject *)self, self->ready, "_ready");
    if (busy == 0) {
        busy = field_truth((PyObject *)self, self->stopping, "_stopping");
    }
    if (busy != 0) {
        return busy < 0 ? NULL : PyLong_FromLong(0);
    }
    PyObject *heap = core_field(self, self->scheduled, "_scheduled");
    if (heap == NULL) {
        return NULL;
    }
    int timers = object_truth(heap);
    PyObject *first = timers > 0 ? PySequence_GetItem(heap, 0) : NULL;
    Py_DECREF(heap);
    if (first == NULL) {
        return timers < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *when = core_handle_when(st, first);
    Py_DECREF(first);
    PyObject *now = when ? core_loop_time(st, self) : NULL;
    PyObject *wait = now ? PyNumber_Subtract(when, now) : NULL;
    Py_XDECREF(when);
    Py_XDECREF(now);
    if (wait == NULL) {
        return NULL;
    }
    /* min(max(0, wait), MAXIMUM_SELECT_TIMEOUT) */
    PyObject *zero = PyLong_FromLong(0);
    PyObject *day = PyLong_FromLong(CORE_MAXIMUM_SELECT_TIMEOUT);
    PyObject *res = NULL;
    int positive = zero && day ? PyObject_RichCompareBool(wait, zero, Py_GT)
                               : -1;
    if (positive >= 0) {
        res = Py_NewRef(positive ? wait : zero);
        int over = PyObject_RichCompareBool(day, res, Py_LT);
        if (over != 0) {
            Py_SETREF(res, over > 0 ? Py_NewRef(day) : NULL);
        }
    }
    Py_DECREF(wait);
    Py_XDECREF(zero);
    Py_XDECREF(day);
    return res;
}

#ifdef HAVE_SYS_EPOLL_H

/* Room for this many events on the stack; more go to the heap. */
#define CORE_EPOLL_STACK_EVENTS 64

/* What EpollSelector.select() reports for an epoll event: selectors'
   EVENT_READ (1) and EVENT_WRITE (2). */
static long
core_epoll_mask(uint32_t event)
{
    long mask = 0;
    if (event & ~EPOLLIN) {
        mask |= 2;
    }
    if (event & ~EPOLLOUT) {
        mask |= 1;
    }
    return mask;
}

/* The selector key of fd (borrowed), or NULL (no exception) when fd has
   none any more. */
static PyObject *
core_key_of(PyObject *fd_to_key, int fd)
{
    PyObject *fdobj = PyLong_FromLong(fd);
    if (fdobj == NULL) {
        return NULL;
    }
    PyObject *key = PyDict_GetItemWithError(fd_to_key, fdobj);
    Py_DECREF(fdobj);
    return key;
}

/* The (key, events & key.events) list EpollSelector.select() returns. */
static PyObject *
core_epoll_event_list(asyncio_state *st, PyObject *fd_to_key,
                      struct epoll_event *events, int n)
{
    PyObject *ready = PyList_New(0);
    for (int i = 0; ready != NULL && i < n; i++) {
        PyObject *key = core_key_of(fd_to_key, events[i].data.fd);
        if (key == NULL) {
            if (PyErr_Occurred()) {
                Py_CLEAR(ready);
            }
            continue;
        }
        Py_INCREF(key);
        PyObject *wanted = PyObject_GetAttr(key, st->loop.str_events);
        PyObject *got = wanted != NULL
            ? PyLong_FromLong(core_epoll_mask(events[i].events)) : NULL;
        PyObject *both = got != NULL ? PyNumber_And(got, wanted) : NULL;
        PyObject *pair = both != NULL ? PyTuple_Pack(2, key, both) : NULL;
        if (pair == NULL || PyList_Append(ready, pair) < 0) {
            Py_CLEAR(ready);
        }
        Py_XDECREF(pair);
        Py_XDECREF(both);
        Py_XDECREF(got);
        Py_XDECREF(wanted);
        Py_DECREF(key);
    }
    return ready;
}

/* The descriptor of the selector's epoll object, or -1 with an exception
   set.  fileno() of a closed epoll object raises what its methods would;
   the type's own method, found once, spares a lookup per call. */
static int
core_epoll_fd(asyncio_state *st, PyObject *poller)
{
    PyObject *fdobj = PyObject_CallOneArg(st->loop.epoll_fileno, poller);
    int epfd = fdobj != NULL ? PyObject_AsFileDescriptor(fdobj) : -1;
    Py_XDECREF(fdobj);
    return epfd;
}

/* epoll_wait() on the selector's epoll object, as EpollSelector.select()
   and epoll.poll() do together: the GIL let go, the timeout in seconds
   (negative: none) rounded up to milliseconds, the wait resumed after a
   signal with the time left (PEP 475).  The number of events, or -1 with
   an exception set. */
static int
core_epoll_wait(asyncio_state *st, PyObject *poller, double timeout,
                struct epoll_event *events, int maxevents)
{
    int epfd = core_epoll_fd(st, poller);
    if (epfd < 0) {
        return -1;
    }
    _PyTime_t deadline = 0;
    int ms = -1;
    if (timeout >= 0) {
        double wait = ceil(timeout * 1e3);
        ms = wait < (double)INT_MAX ? (int)wait : INT_MAX;
        deadline = _PyTime_GetMonotonicClock()
                   + _PyTime_FromNanoseconds((_PyTime_t)ms * 1000000);
    }
    for (;;) {
        int n;
        Py_BEGIN_ALLOW_THREADS
        n = epoll_wait(epfd, events, maxevents, ms);
        Py_END_ALLOW_THREADS
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
        if (ms > 0) {
            _PyTime_t left = deadline - _PyTime_GetMonotonicClock();
            if (left <= 0) {
                return 0;
            }
            ms = (int)_PyTime_AsMilliseconds(left, _PyTime_ROUND_CEILING);
        }
    }
}

/* One (key, mask) of the selector loop's _process_events(): the reader
   and the writer of a ready file descriptor join the ready queue, or
   leave the selector when cancelled. */
static int
core_process_key(asyncio_state *st, LoopCoreObject *self, PyObject *key,
                 long mask)
{
    static const long which[2] = {1, 2};    /* EVENT_READ, EVENT_WRITE */
    PyObject *data = PyTuple_GET_ITEM(key, 3);
    for (int i = 0; i < 2; i++) {
        PyObject *handle = PyTuple_GET_ITEM(data, i);
        if (!(mask & which[i]) || handle == Py_None) {
            continue;
        }
        Py_INCREF(handle);
        int rc = core_handle_cancelled(st, handle);
        if (rc > 0) {
            /* self._remove_reader(fileobj) / _remove_writer(fileobj) */
            rc = drop_result(PyObject_CallMethodOneArg(
                (PyObject *)self, i == 0 ? st->loop.str_remove_reader
                                         : st->loop.str_remove_writer,
                PyTuple_GET_ITEM(key, 0)));
        }
        else if (rc == 0) {
            rc = core_ready_append(st, self, handle);
        }
        Py_DECREF(handle);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* Whether key is a selector key of the shape _process_events() reads:
   (fileobj, fd, events, (reader, writer)). */
static int
core_plain_key(PyObject *key)
{
    if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 4) {
        return 0;
    }
    PyObject *data = PyTuple_GET_ITEM(key, 3);
    return PyTuple_CheckExact(data) && PyTuple_GET_SIZE(data) == 2
           && PyLong_CheckExact(PyTuple_GET_ITEM(key, 2));
}

/* The selector loop's _process_events() over the epoll events, without
   building their list: each key is read as _process_events() reads it.
   From a key of another shape on (data that is not a (reader, writer)
   pair), the rest goes to the Python method, which raises what it
   raises. */
static int
core_process_epoll_events(asyncio_state *st, LoopCoreObject *self,
                          PyObject *fd_to_key, struct epoll_event *events,
                          int n)
{
    for (int i = 0; i < n; i++) {
        PyObject *key = core_key_of(fd_to_key, events[i].data.fd);
        if (key == NULL) {
            if (PyErr_Occurred()) {
                return -1;
            }
            continue;
        }
        if (!core_plain_key(key)) {
            PyObject *rest = core_epoll_event_list(st, fd_to_key,
                                                   events + i, n - i);
            if (rest == NULL) {
                return -1;
            }
            PyObject *res = PyObject_CallMethodOneArg(
                (PyObject *)self, st->loop.str_process_events, rest);
            Py_DECREF(rest);
            return drop_result(res);
        }
        long mask = core_epoll_mask(events[i].events)
                    & PyLong_AsLong(PyTuple_GET_ITEM(key, 2));
        Py_INCREF(key);
        int rc = mask == -1 && PyErr_Occurred()
                 ? -1 : core_process_key(st, self, key, mask);
        Py_DECREF(key);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* The timeout as EpollSelector.select() takes it, in seconds: None is -1
   (no limit), nothing below 0.  -1 with an exception set (in *err) when
   it is no number. */
static double
core_timeout_seconds(PyObject *timeout, int *err)
{
    *err = 0;
    if (timeout == Py_None) {
        return -1.0;
    }
    double t = PyFloat_AsDouble(timeout);
    if (t == -1.0 && PyErr_Occurred()) {
        *err = 1;
    }
    return t > 0 ? t : 0.0;
}

/* Wait in epoll_wait() and hand the ready file descriptors to
   _process_events(): the core's own when `own`, else the method. */
static int
core_epoll_poll(asyncio_state *st, LoopCoreObject *self, PyObject *poller,
                PyObject *fd_to_key, double timeout, int own)
{
    struct epoll_event stack_events[CORE_EPOLL_STACK_EVENTS];
    struct epoll_event *events = stack_events;
    Py_ssize_t nkeys = PyObject_Size(fd_to_key);
    if (nkeys < 0) {
        return -1;
    }
    /* max(len(self._fd_to_key), 1), as EpollSelector.select() asks */
    int maxevents = nkeys > 1 ? (nkeys < INT_MAX ? (int)nkeys : INT_MAX) : 1;
    if (maxevents > CORE_EPOLL_STACK_EVENTS) {
        events = PyMem_New(struct epoll_event, maxevents);
        if (events == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    int rc = -1;
    int n = core_epoll_wait(st, poller, timeout, events, maxevents);
    if (n >= 0 && own) {
        /* (our own _process_events([]) does nothing) */
        rc = core_process_epoll_events(st, self, fd_to_key, events, n);
    }
    else if (n >= 0) {
        PyObject *list = core_epoll_event_list(st, fd_to_key, events, n);
        PyObject *res = list != NULL ? PyObject_CallMethodOneArg(
            (PyObject *)self, st->loop.str_process_events, list) : NULL;
        Py_XDECREF(list);
        rc = drop_result(res);
    }
    if (events != stack_events) {
        PyMem_Free(events);
    }
    return rc;
}
#endif

/* Whether obj.<name> is an entry of obj's instance dict that the generic
   getattr finds, with no descriptor on the type: as long as the type and
   the dict keep their versions, it is then the same object. */
static int
core_plain_instance_attr(PyObject *obj, PyObject *name)
{
    PyTypeObject *tp = Py_TYPE(obj);
    return tp->tp_getattro == PyObject_GenericGetAttr
           && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
           && _PyType_Lookup(tp, name) == NULL;
}

/* Whether obj's instance dict has an entry `name`. */
int
loop_instance_has(PyObject *obj, PyObject *name)
{
    PyObject **dictptr = _PyObject_GetDictPtr(obj);
    if (dictptr == NULL || *dictptr == NULL) {
        return 0;
    }
    PyObject *found = PyDict_GetItemWithError(*dictptr, name);
    if (found == NULL) {
        PyErr_Clear();
    }
    return found != NULL;
}

/* Whether the core's copies of loop._selector (and its _selector and
   _fd_to_key) are still what reading the attributes would give. */
static int
core_selector_refs_valid(LoopCoreObject *self)
{
    if (self->sel == NULL) {
        return 0;
    }
    PyTypeObject *ltp = Py_TYPE(self), *stp = Py_TYPE(self->sel);
    return (ltp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
           && ltp->tp_version_tag == self->sel_loop_tp_version
           && (stp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
           && stp->tp_version_tag == self->sel_tp_version
           && dict_version_of((PyObject *)self) == self->sel_loop_dict_version
           && dict_version_of(self->sel) == self->sel_dict_version;
}

/* loop._selector in *selector and, when that is an EpollSelector, its
   _selector and _fd_to_key in *poller and *fd_to_key (else NULL): new
   references.  The loop reads them on every turn, so the core keeps them
   while they are plain instance attributes of objects whose types and
   instance dicts keep their versions (PEP 509). */
static int
core_selector_refs(asyncio_state *st, LoopCoreObject *self,
                   PyObject **selector, PyObject **poller,
                   PyObject **fd_to_key)
{
    *poller = *fd_to_key = NULL;
    if (core_selector_refs_valid(self)) {
        *selector = Py_NewRef(self->sel);
        *poller = Py_XNewRef(self->sel_poller);
        *fd_to_key = Py_XNewRef(self->sel_fd_to_key);
        return 0;
    }
    PyObject *loop = (PyObject *)self;
    *selector = PyObject_GetAttr(loop, st->loop.str_selector);
    if (*selector == NULL) {
        return -1;
    }
    PyObject *sel = *selector;
    /* an EpollSelector whose select() is its class's own */
    PyObject *epoll_type = st->loop.epoll_selector_type;
    int epoll = epoll_type != NULL
                && Py_IS_TYPE(sel, (PyTypeObject *)epoll_type)
                && !loop_instance_has(sel, st->loop.str_select);
    if (epoll) {
        *fd_to_key = PyObject_GetAttr(sel, st->loop.str_fd_to_key);
        *poller = *fd_to_key != NULL
                  ? PyObject_GetAttr(sel, st->loop.str_selector) : NULL;
    }
    if (epoll && *poller == NULL) {
        Py_CLEAR(*fd_to_key);
        Py_CLEAR(*selector);
        return -1;
    }
    int keep = core_plain_instance_attr(loop, st->loop.str_selector)
               && core_plain_instance_attr(sel, st->loop.str_selector)
               && core_plain_instance_attr(sel, st->loop.str_fd_to_key);
    Py_XSETREF(self->sel, keep ? Py_NewRef(sel) : NULL);
    Py_XSETREF(self->sel_poller, keep ? Py_XNewRef(*poller) : NULL);
    Py_XSETREF(self->sel_fd_to_key, keep ? Py_XNewRef(*fd_to_key) : NULL);
    if (keep) {
        self->sel_loop_tp_version = Py_TYPE(loop)->tp_version_tag;
        self->sel_tp_version = Py_TYPE(sel)->tp_version_tag;
        self->sel_loop_dict_version = dict_version_of((PyObject *)self);
        self->sel_dict_version = dict_version_of(sel);
    }
    return 0;
}

/* Wait for I/O: self._process_events(self._selector.select(timeout)).
   With an EpollSelector the core waits in epoll_wait() itself, and with
   the selector loop's own _process_events() it queues the readers and
   writers of the ready file descriptors without building the list of
   events: a ready socket is served without a Python frame between
   epoll_wait() and the transport's _read_ready(). */
static int
core_poll(asyncio_state *st, LoopCoreObject *self, PyObject *timeout)
{
    PyObject *loop = (PyObject *)self;
    PyObject *selector, *poller, *fd_to_key;
    if (core_selector_refs(st, self, &selector, &poller, &fd_to_key) < 0) {
        return -1;
    }
    int rc = -1;
#ifdef HAVE_SYS_EPOLL_H
    if (poller != NULL
        && Py_IS_TYPE(poller, (PyTypeObject *)st->loop.epoll_type)) {
        int err;
        double seconds = core_timeout_seconds(timeout, &err);
        int own = err ? -1 : core_method_is_own(st, loop,
                                                CORE_PROCESS_EVENTS);
        if (own > 0) {
            own = core_method_is_own(st, loop, CORE_ADD_CALLBACK);
        }
        if (own >= 0) {
            rc = core_epoll_poll(st, self, poller, fd_to_key, seconds, own);
        }
        goto done;
    }
#endif
    PyObject *events = PyObject_CallMethodOneArg(selector, st->loop.str_select,
                                                 timeout);
    if (events != NULL) {
        rc = drop_result(PyObject_CallMethodOneArg(
            loop, st->loop.str_process_events, events));
        Py_DECREF(events);
    }
#ifdef HAVE_SYS_EPOLL_H
done:
#endif
    Py_DECREF(selector);
    Py_XDECREF(poller);
    Py_XDECREF(fd_to_key);
    return rc;
}

/* Move the timers that are due (within the clock's resolution) to the
   ready queue. */
static int
core_move_due_timers(asyncio_state *st, LoopCoreObject *self)
{
    int own_time = core_method_is_own(st, (PyObject *)self, CORE_TIME);
    if (own_time < 0) {
        return -1;
    }
    if (own_time) {
        /* with no timers, reading the clock changes nothing */
        int timers = field_truth((PyObject *)self, self->scheduled,
                                 "_scheduled");
        if (timers <= 0) {
            return timers;
        }
    }
    PyObject *now = core_loop_time(st, self);
    if (now == NULL) {
        return -1;
    }
    PyObject *res = PyObject_GetAttr((PyObject *)self,
                                     st->loop.str_clock_resolution);
    PyObject *end = res ? PyNumber_Add(now, res) : NULL;
    Py_DECREF(now);
    Py_XDECREF(res);
    if (end == NULL) {
        return -1;
    }
    int rc = 0;
    for (;;) {
        PyObject *heap = core_field(self, self->scheduled, "_scheduled");
        if (heap == NULL) {
            rc = -1;
            break;
        }
        int timers = object_truth(heap);
        PyObject *first = timers > 0 ? PySequence_GetItem(heap, 0) : NULL;
        PyObject *when = first ? core_handle_when(st, first) : NULL;
        Py_XDECREF(first);
        int due;
        if (when == NULL) {
            due = timers > 0 ? -1 : timers;
        }
        else if (PyFloat_CheckExact(when) && PyFloat_CheckExact(end)) {
            /* not `when >= end`, as the pure code asks: a NaN is due */
            due = !(PyFloat_AS_DOUBLE(when) >= PyFloat_AS_DOUBLE(end));
        }
        else {
            due = PyObject_RichCompareBool(when, end, Py_GE);
            due = due < 0 ? -1 : !due;
        }
        Py_XDECREF(when);
        PyObject *timer = due > 0 ? PyObject_CallOneArg(st->loop.heappop, heap)
                                  : NULL;
        Py_DECREF(heap);
        if (due <= 0) {
            rc = due;
            break;
        }
        if (timer == NULL
            || core_handle_set_scheduled(st, timer, 0) < 0
            || core_ready_append(st, self, timer) < 0) {
            Py_XDECREF(timer);
            rc = -1;
            break;
        }
        Py_DECREF(timer);
    }
    Py_DECREF(end);
    return rc;
}

/* Run a handle in debug mode: _current_handle is set meanwhile, and a
   callback slower than slow_callback_duration is logged. */
static int
core_run_debug(asyncio_state *st, LoopCoreObject *self, PyObject *handle)
{
    PyObject *loop = (PyObject *)self;
    if (PyObject_SetAttr(loop, st->loop.str_current_handle, handle) < 0) {
        return -1;
    }
    PyObject *t0 = core_loop_time(st, self);
    int rc = t0 != NULL ? core_handle_run(st, handle) : -1;
    PyObject *t1 = rc == 0 ? core_loop_time(st, self) : NULL;
    PyObject *dt = t1 ? PyNumber_Subtract(t1, t0) : NULL;
    PyObject *limit = dt ? PyObject_GetAttrString(
        loop, "slow_callback_duration") : NULL;
    int slow = limit ? PyObject_RichCompareBool(dt, limit, Py_GE) : -1;
    if (slow > 0) {
        PyObject *mod = PyImport_ImportModule("asyncio.base_events");
        PyObject *logger = mod ? PyObject_GetAttrString(mod, "logger")
                               : NULL;
        PyObject *desc = logger ? PyObject_CallMethod(
            mod, "_format_handle", "O", handle) : NULL;
        slow = drop_result(desc ? PyObject_CallMethod(
            logger, "warning", "sOO", "Executing %s took %.3f seconds",
            desc, dt) : NULL);
        Py_XDECREF(mod);
        Py_XDECREF(logger);
        Py_XDECREF(desc);
    }
    if (rc == 0 && slow < 0) {
        rc = -1;
    }
    Py_XDECREF(t0);
    Py_XDECREF(t1);
    Py_XDECREF(dt);
    Py_XDECREF(limit);
    /* finally: self._current_handle = None */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    int failed = PyObject_SetAttr(loop, st->loop.str_current_handle, Py_None);
    restore_unless(failed < 0, type, value, tb);
    return failed < 0 ? -1 : rc;
}

/* Run the callbacks that were ready when the drain began; those they
   schedule wait for the next turn. */
static int
core_run_ready(asyncio_state *st, LoopCoreObject *self)
{
    PyObject *ready = core_field(self, self->ready, "_ready");
    if (ready == NULL) {
        return -1;
    }
    Py_ssize_t ntodo = PyObject_Size(ready);
    Py_DECREF(ready);
    if (ntodo < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < ntodo; i++) {
        PyObject *handle = core_ready_popleft(st, self);
        if (handle == NULL) {
            return -1;
        }
        int rc = core_handle_cancelled(st, handle);
        if (rc == 0) {
            rc = field_truth((PyObject *)self, self->debug, "_debug");
            if (rc == 0) {
                rc = core_handle_run(st, handle);
            }
            else if (rc > 0) {
                rc = core_run_debug(st, self, handle);
            }
        }
        Py_DECREF(handle);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
core__run_once(CMETHOD_ARGS)
{
    if (check_no_args("_run_once", nargsf, kwnames) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    LoopCoreObject *self = (LoopCoreObject *)op;
    if (core_drop_cancelled_timers(st, self) < 0) {
        return NULL;
    }
    /* Before the ready queue is looked at: a thread that adds to it from
       now on writes to the self-pipe (core_write_to_self()). */
    self->wakeup_pending = 0;
    PyObject *timeout = core_select_timeout(st, self);
    if (timeout == NULL) {
        return NULL;
    }
    int rc = core_poll(st, self, timeout);
    Py_DECREF(timeout);
    if (rc < 0 || core_move_due_timers(st, self) < 0
        || core_run_ready(st, self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---------- The selector loop: readers and writers ----------
 *
 * _SelectorLoopCore, a C base class of selector_events'
 * BaseSelectorEventLoop, provides _add_reader(), _remove_reader(),
 * _add_writer() and _remove_writer().  With an open EpollSelector used as
 * its class has it (no method replaced on the instance) and a file
 * descriptor given as an int, they keep the selector's key table and its
 * epoll registration themselves, as the selector's register(), modify()
 * and unregister() would; anything else goes to the pure-Python methods
 * (selector_events._py_selector_methods), which run as they always did.
 * In debug mode a handle's source traceback starts at the method's
 * caller, the C method having no frame of its own. */

#ifdef HAVE_SYS_EPOLL_H
/* Whether sel is an open EpollSelector whose methods are its class's:
   1, 0 (no), -1 on error. */
static int
core_selector_is_plain(asyncio_state *st, PyObject *sel)
{
    /* the methods an instance may shadow, which take it off the path */
    for (size_t i = 0; i < Py_ARRAY_LENGTH(st->loop.str_selector_methods);
         i++) {
        if (loop_instance_has(sel, st->loop.str_selector_methods[i])) {
            return 0;
        }
    }
    PyObject *map = PyObject_GetAttr(sel, st->loop.str_map);
    if (map == NULL) {
        return -1;
    }
    Py_DECREF(map);
    return map != Py_None;
}

/* SelectorKey(fileobj, fd, events, (reader, writer)), made as
   key._replace() and the selector's register() make it. */
static PyObject *
core_selector_key(asyncio_state *st, PyObject *fileobj, PyObject *fd,
                  long events, PyObject *reader, PyObject *writer)
{
    PyObject *data = PyTuple_Pack(2, reader, writer);
    PyObject *mask = data != NULL ? PyLong_FromLong(events) : NULL;
    PyObject *items = mask != NULL ? PyTuple_Pack(4, fileobj, fd, mask, data)
                                   : NULL;
    PyObject *args = items != NULL ? PyTuple_Pack(1, items) : NULL;
    PyObject *key = args != NULL ? PyTuple_Type.tp_new(
        (PyTypeObject *)st->loop.selector_key_type, args, NULL) : NULL;
    Py_XDECREF(args);
    Py_XDECREF(items);
    Py_XDECREF(mask);
    Py_XDECREF(data);
    return key;
}

/* epoll_ctl() for selectors' events (EVENT_READ 1, EVENT_WRITE 2), as
   select.epoll's register(), modify() and unregister() call it: 0, or -1
   with OSError set. */
static int
core_epoll_ctl(int epfd, int op, int fd, long events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = ((events & 1) ? EPOLLIN : 0) | ((events & 2) ? EPOLLOUT : 0);
    ev.data.fd = fd;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = epoll_ctl(epfd, op, fd, &ev);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        if (op == EPOLL_CTL_DEL && errno == EBADF) {
            return 0;   /* closed already: nothing to remove */
        }
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* Drop fd's key after epoll refused it, keeping the error raised: a
   failed register() or modify() leaves fd unregistered. */
static void
core_forget_key(PyObject *fd_to_key, PyObject *fd)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (PyDict_DelItem(fd_to_key, fd) < 0) {
        PyErr_Clear();
    }
    PyErr_Restore(type, value, tb);
}

/* The fast path's view of the loop's selector: 1 with its epoll
   descriptor in *epfd and _fd_to_key in *fd_to_key (new reference), or 0
   when the pure-Python method is to run, or -1. */
static int
core_selector_fast(asyncio_state *st, LoopCoreObject *self, PyObject *fd,
                   int *epfd, PyObject **fd_to_key)
{
    *fd_to_key = NULL;
    if (!PyLong_CheckExact(fd) || Py_SIZE(fd) < 0
        || st->loop.selector_key_type == NULL) {
        return 0;
    }
    /* a descriptor epoll cannot take: the pure method raises OverflowError
       and leaves the selector as it was */
    int overflow;
    long value = PyLong_AsLongAndOverflow(fd, &overflow);
    if (overflow || value > INT_MAX) {
        return 0;
    }
    PyObject *sel, *poller;
    if (core_selector_refs(st, self, &sel, &poller, fd_to_key) < 0) {
        return -1;
    }
    int plain = poller != NULL
                && Py_IS_TYPE(poller, (PyTypeObject *)st->loop.epoll_type)
                ? core_selector_is_plain(st, sel) : 0;
    if (plain > 0) {
        *epfd = core_epoll_fd(st, poller);
        if (*epfd < 0) {
            plain = -1;
        }
    }
    Py_DECREF(sel);
    Py_XDECREF(poller);
    if (plain <= 0) {
        Py_CLEAR(*fd_to_key);
    }
    return plain;
}

/* fd's key in *key (new reference, NULL for none) with its events in
   *mask and its (reader, writer) in handlers[]: 0, or -1 with an
   exception set. */
static int
core_key_for(PyObject *fd_to_key, PyObject *fd, PyObject **key, long *mask,
             PyObject **handlers)
{
    *mask = 0;
    handlers[0] = handlers[1] = Py_None;
    *key = Py_XNewRef(PyDict_GetItemWithError(fd_to_key, fd));
    if (*key == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    if (!core_plain_key(*key)) {
        PyErr_SetString(PyExc_TypeError,
                        "cannot unpack the selector key's data");
        Py_CLEAR(*key);
        return -1;
    }
    *mask = PyLong_AsLong(PyTuple_GET_ITEM(*key, 2));
    handlers[0] = PyTuple_GET_ITEM(PyTuple_GET_ITEM(*key, 3), 0);
    handlers[1] = PyTuple_GET_ITEM(PyTuple_GET_ITEM(*key, 3), 1);
    return *mask == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The key of fd with events `mask` and handlers[], as register() (no
   old key) or modify() leave it, epoll told of a change of events. */
static int
core_set_key(asyncio_state *st, PyObject *fd_to_key, int epfd, PyObject *fd,
             PyObject *old_key, long old_mask, long mask,
             PyObject **handlers)
{
    PyObject *fileobj = old_key != NULL ? PyTuple_GET_ITEM(old_key, 0) : fd;
    PyObject *key = core_selector_key(st, fileobj, fd, mask, handlers[0],
                                      handlers[1]);
    if (key == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(fd_to_key, fd, key);
    Py_DECREF(key);
    if (rc == 0 && (old_key == NULL || mask != old_mask)
        && core_epoll_ctl(epfd, old_key == NULL ? EPOLL_CTL_ADD
                                                : EPOLL_CTL_MOD,
                          (int)PyLong_AsLong(fd), mask) < 0) {
        core_forget_key(fd_to_key, fd);
        rc = -1;
    }
    return rc;
}
#endif

/* The pure-Python selector loop's method `name` (borrowed), for what the
   core does not do itself. */
static PyObject *
core_py_selector_method(asyncio_state *st, PyObject *name)
{
    if (import_once(&st->loop.py_selector_methods,
                    "asyncio.selector_events", "_py_selector_methods") < 0) {
        return NULL;
    }
    PyObject *func = PyDict_GetItemWithError(st->loop.py_selector_methods,
                                             name);
    if (func == NULL && !PyErr_Occurred()) {
        PyErr_SetObject(PyExc_KeyError, name);
    }
    return func;
}

/* The pure-Python method `name` called with self and args (see loop.h). */
PyObject *
loop_call_py_selector_method(asyncio_state *st, PyObject *self,
                             PyObject *name, PyObject *const *args,
                             size_t nargsf, PyObject *kwnames)
{
    PyObject *pure = core_py_selector_method(st, name);
    if (pure == NULL) {
        return NULL;
    }
    return call_function_with_self(pure, self, args, nargsf, kwnames);
}

/* _add_reader(fd, callback, *args) (which 0) and _add_writer() (1). */
static PyObject *
core_add_handler(asyncio_state *st, LoopCoreObject *self, int which,
                 PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
#ifdef HAVE_SYS_EPOLL_H
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    int epfd;
    PyObject *fd_to_key;
    int fast = 0;
    if (nargs >= 2 && (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0)) {
        fast = core_selector_fast(st, self, args[0], &epfd, &fd_to_key);
    }
    if (fast < 0) {
        return NULL;
    }
    if (fast) {
        PyObject *fd = args[0];
        cb_args rest = {NULL, args + 2, nargs - 2};
        HandleObject *handle = NULL;
        PyObject *key = NULL, *handlers[2], *old = NULL;
        long mask = 0, bit = which == 0 ? 1 : 2;
        int rc = -1;
        if (core_check_closed(st, self, -1) < 0
            || (handle = handle_new(st, NULL, args[1], &rest,
                                    (PyObject *)self, NULL, 0, -1)) == NULL
            || core_key_for(fd_to_key, fd, &key, &mask, handlers) < 0) {
            goto done;
        }
        old = Py_NewRef(handlers[which]);
        handlers[which] = (PyObject *)handle;
        rc = core_set_key(st, fd_to_key, epfd, fd, key, mask, mask | bit,
                          handlers);
        if (rc == 0 && old != Py_None) {
            rc = handle_cancel_any(st, old);
        }
    done:
        Py_XDECREF(old);
        Py_XDECREF(key);
        Py_DECREF(fd_to_key);
        if (rc < 0) {
            Py_XDECREF(handle);
            return NULL;
        }
        return (PyObject *)handle;
    }
#endif
    return loop_call_py_selector_method(st, (PyObject *)self,
                                        st->loop.str_handler[which], args,
                                        nargsf, kwnames);
}

/* _remove_reader(fd) (which 0) and _remove_writer(fd) (1): whether there
   was one. */
static PyObject *
core_remove_handler(asyncio_state *st, LoopCoreObject *self, int which,
                    PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
#ifdef HAVE_SYS_EPOLL_H
    int epfd;
    PyObject *fd_to_key;
    int fast = 0;
    if (PyVectorcall_NARGS(nargsf) == 1
        && (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0)) {
        fast = core_selector_fast(st, self, args[0], &epfd, &fd_to_key);
    }
    if (fast < 0) {
        return NULL;
    }
    /* the pure method asks is_closed() first */
    int own = fast ? core_method_is_own(st, (PyObject *)self,
                                        CORE_IS_CLOSED) : 0;
    if (own < 0) {
        Py_DECREF(fd_to_key);
        return NULL;
    }
    if (fast && !own) {
        Py_CLEAR(fd_to_key);
    }
    if (fast && own) {
        PyObject *fd = args[0], *res = NULL, *key = NULL, *handlers[2];
        PyObject *old = NULL;
        long mask, bit = which == 0 ? 1 : 2;
        int closed = field_truth((PyObject *)self, self->closed, "_closed");
        if (closed != 0) {
            res = closed < 0 ? NULL : Py_NewRef(Py_False);
            goto done;
        }
        if (core_key_for(fd_to_key, fd, &key, &mask, handlers) < 0) {
            goto done;
        }
        if (key == NULL) {
            res = Py_NewRef(Py_False);
            goto done;
        }
        old = Py_NewRef(handlers[which]);
        handlers[which] = Py_None;
        int rc;
        if (!(mask & ~bit)) {
            /* unregister(): the key goes, epoll's errors are ignored */
            rc = PyDict_DelItem(fd_to_key, fd);
            if (rc == 0 && core_epoll_ctl(epfd, EPOLL_CTL_DEL,
                                          (int)PyLong_AsLong(fd), 0) < 0) {
                if (PyErr_ExceptionMatches(PyExc_OSError)) {
                    PyErr_Clear();
                }
                else {
                    rc = -1;
                }
            }
        }
        else {
            rc = core_set_key(st, fd_to_key, epfd, fd, key, mask,
                              mask & ~bit, handlers);
        }
        if (rc == 0 && old != Py_None) {
            rc = handle_cancel_any(st, old);
        }
        if (rc == 0) {
            res = PyBool_FromLong(old != Py_None);
        }
    done:
        Py_XDECREF(old);
        Py_XDECREF(key);
        Py_DECREF(fd_to_key);
        return res;
    }
#endif
    return loop_call_py_selector_method(st, (PyObject *)self,
                                        st->loop.str_handler[2 + which],
                                        args, nargsf, kwnames);
}

static PyObject *
core__add_reader(CMETHOD_ARGS)
{
    return core_add_handler(cls_state(cls), (LoopCoreObject *)op, 0, args,
                            nargsf, kwnames);
}

static PyObject *
core__add_writer(CMETHOD_ARGS)
{
    return core_add_handler(cls_state(cls), (LoopCoreObject *)op, 1, args,
                            nargsf, kwnames);
}

static PyObject *
core__remove_reader(CMETHOD_ARGS)
{
    return core_remove_handler(cls_state(cls), (LoopCoreObject *)op, 0,
                               args, nargsf, kwnames);
}

static PyObject *
core__remove_writer(CMETHOD_ARGS)
{
    return core_remove_handler(cls_state(cls), (LoopCoreObject *)op, 1,
                               args, nargsf, kwnames);
}

/* ---------- _EventLoopCore: small methods ---------- */

static PyObject *
core_time(CMETHOD_ARGS)
{
    if (check_no_args("time", nargsf, kwnames) < 0) {
        return NULL;
    }
    return core_monotonic();
}

static PyObject *
core_get_debug(CMETHOD_ARGS)
{
    if (check_no_args("get_debug", nargsf, kwnames) < 0) {
        return NULL;
    }
    LoopCoreObject *self = (LoopCoreObject *)op;
    return core_field(self, self->debug, "_debug");
}

static PyObject *
core__check_closed(CMETHOD_ARGS)
{
    if (check_no_args("_check_closed", nargsf, kwnames) < 0) {
        return NULL;
    }
    LoopCoreObject *self = (LoopCoreObject *)op;
    int closed = field_truth((PyObject *)self, self->closed, "_closed");
    if (closed > 0) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
    }
    return closed != 0 ? NULL : Py_NewRef(Py_None);
}

/* ---------- _EventLoopCore: tasks ---------- */

/* asyncio.tasks.<name>, read on every call so that patching the module
   works as with the pure-Python code (new reference). */
PyObject *
tasks_attr(asyncio_state *st, PyObject *name)
{
    if (import_once(&st->loop.tasks_module, "asyncio.tasks", NULL) < 0) {
        return NULL;
    }
    return PyObject_GetAttr(st->loop.tasks_module, name);
}

/* base_events._py_hot_path[name], the pure-Python method, kept in *cache
   for what the core hands back to it (borrowed reference). */
static PyObject *
core_py_method(PyObject **cache, PyObject *name)
{
    if (*cache == NULL) {
        PyObject *methods = import_attr("asyncio.base_events",
                                        "_py_hot_path");
        if (methods == NULL) {
            return NULL;
        }
        *cache = PyObject_GetItem(methods, name);
        Py_DECREF(methods);
    }
    return *cache;
}

/* The pure-Python BaseEventLoop.create_task (borrowed reference). */
static PyObject *
core_py_create_task(asyncio_state *st)
{
    return core_py_method(&st->loop.py_create_task,
                          st->loop.own_names[CORE_CREATE_TASK]);
}

/* loop._task_factory in *factory (borrowed), found without running any
   code: 1, or 0 when it is anything but a plain instance attribute (a
   descriptor or a __getattribute__ could have side effects, which the
   pure-Python create_task would run after _check_closed()); -1 on
   error. */
static int
core_task_factory(asyncio_state *st, LoopCoreObject *self,
                  PyObject **factory)
{
    PyTypeObject *tp = Py_TYPE(self);
    *factory = NULL;
    if (tp->tp_getattro != PyObject_GenericGetAttr
        || _PyType_Lookup(tp, st->loop.str_task_factory) != NULL) {
        return 0;
    }
    PyObject **dictptr = _PyObject_GetDictPtr((PyObject *)self);
    if (dictptr == NULL || *dictptr == NULL) {
        return 0;
    }
    *factory = PyDict_GetItemWithError(*dictptr, st->loop.str_task_factory);
    if (*factory == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return 1;
}

/* create_task() with this module's eager_task_factory as the task
   factory, which makes the task the pure method would, without its
   frames: _check_closed(), the eager task, then its name, which the
   pure method sets after the factory (so after the eager step). */
static PyObject *
core_create_eager_task(asyncio_state *st, LoopCoreObject *self,
                       PyObject *coro, PyObject *name, PyObject *context)
{
    if (core_check_closed(st, self, -1) < 0) {
        return NULL;
    }
    PyObject *task = task_new_eager(st, (PyObject *)self, coro, context);
    if (task != NULL && name != Py_None
        && drop_result(PyObject_CallMethodOneArg(
               task, st->loop.str_set_name, name)) < 0) {
        Py_CLEAR(task);
    }
    return task;
}

/* The pure-Python create_task takes DEBUG_STACK_DEPTH frames counting its
   own, then removes its own; our Task took them from the caller.  When the
   limit cut the stack, that is one outer frame more than the pure method
   keeps. */
static int
core_trim_task_traceback(PyObject *task)
{
    PyObject *tb = ((FutureObject *)task)->fut_source_tb;
    if (tb == NULL || !PyList_Check(tb) || PyList_GET_SIZE(tb) == 0) {
        return 0;       /* not in debug mode */
    }
    Py_ssize_t limit;
    if (debug_stack_depth(&limit) < 0) {
        return -1;
    }
    if (PyList_GET_SIZE(tb) >= limit) {
        return PySequence_DelItem(tb, 0);
    }
    return 0;
}

/* create_task(coro, name=name, context=context).  The core makes the task
   itself in the common cases, no task factory and tasks.Task our Task, or
   this module's eager_task_factory outside debug mode; the other cases,
   where the task factory or a Python class runs, go to the pure-Python
   method, so that the frames they see (and the source traceback trimmed
   after them) are the same.  Which case it is is found without running
   code: the pure method checks for a closed loop first. */
static PyObject *
core_create_task_impl(asyncio_state *st, LoopCoreObject *self,
                      PyObject *coro, PyObject *name, PyObject *context)
{
    PyObject *loop = (PyObject *)self;
    PyObject *cls = NULL, *factory;
    int fast = core_task_factory(st, self, &factory);
    if (fast < 0) {
        return NULL;
    }
    if (fast && factory == st->task.eager_factory) {
        /* (in debug mode the tasks' source tracebacks show the pure
           method's frame) */
        int debug = loop_get_debug(st, loop);
        if (debug < 0) {
            return NULL;
        }
        if (!debug) {
            return core_create_eager_task(st, self, coro, name, context);
        }
    }
    if (fast && factory == Py_None) {
        cls = tasks_attr(st, st->loop.str_Task);
        if (cls == NULL) {
            return NULL;
        }
    }
    if (cls != (PyObject *)st->task.TaskType) {
        Py_XDECREF(cls);
        PyObject *pure = core_py_create_task(st);
        if (pure == NULL) {
            return NULL;
        }
        PyObject *stack[4] = {loop, coro, name, context};
        return PyObject_Vectorcall(pure, stack, 2, st->loop.kw_name_context);
    }
    PyObject *task = NULL;
    if (core_check_closed(st, self, -1) == 0) {
        PyObject *stack[4] = {coro, loop, name, context};
        task = PyObject_Vectorcall(cls, stack, 1, st->loop.kw_task_init);
        if (task != NULL && core_trim_task_traceback(task) < 0) {
            Py_CLEAR(task);
        }
    }
    Py_DECREF(cls);
    return task;
}

static PyObject *
core_create_task(CMETHOD_ARGS)
{
    static const char *const names[] = {"coro", "name", "context"};
    PyObject *a[3];
    if (parse_args("create_task", args, PyVectorcall_NARGS(nargsf),
                   kwnames, names, 3, 1, 1, a) < 0) {
        return NULL;
    }
    return core_create_task_impl(cls_state(cls), (LoopCoreObject *)op,
                                 a[0], a[1] != NULL ? a[1] : Py_None,
                                 a[2] != NULL ? a[2] : Py_None);
}

/* loop.create_task(coro), by the core when that is the core's own. */
PyObject *
loop_create_task(asyncio_state *st, PyObject *loop, PyObject *coro)
{
    int own = core_method_is_own(st, loop, CORE_CREATE_TASK);
    if (own < 0) {
        return NULL;
    }
    if (own) {
        return core_create_task_impl(st, (LoopCoreObject *)loop, coro,
                                     Py_None, Py_None);
    }
    return PyObject_CallMethodOneArg(loop,
                                     st->loop.own_names[CORE_CREATE_TASK],
                                     coro);
}

/* ---------- _EventLoopCore: futures ---------- */

static int core_get_debug_shortcut(asyncio_state *st, PyObject *loop);

/* asyncio.futures.Future (new reference), read at each call as
   base_events reads it, so that a patched class is the one made; the
   module's dict is asked again only once it has changed. */
static PyObject *
core_future_class(loop_state *ls)
{
    if (import_once(&ls->futures_module, "asyncio.futures", NULL) < 0) {
        return NULL;
    }
    PyObject *futures = ls->futures_module;
    PyObject *dict = PyModule_GetDict(futures);
    uint64_t version = ((PyDictObject *)dict)->ma_version_tag;
    if (ls->future_class == NULL || version != ls->futures_dict_version) {
        PyObject *cls = PyObject_GetAttr(futures, ls->str_Future);
        if (cls == NULL) {
            return NULL;
        }
        Py_XSETREF(ls->future_class, cls);
        ls->futures_dict_version = version;
    }
    return Py_NewRef(ls->future_class);
}

/* create_future(): futures.Future(loop=self), the class read on every
   call as base_events reads it.  Locks, queues, streams and sleep() each
   make one per wait, so our Future is made here without a frame.  In
   debug mode the pure method runs: the future's source traceback shows
   its frame. */
static PyObject *
core_create_future(CMETHOD_ARGS)
{
    if (check_no_args("create_future", nargsf, kwnames) < 0) {
        return NULL;
    }
    asyncio_state *st = cls_state(cls);
    /* LOOP_NOT_CORE: get_debug() is overridden, and left to the pure
       method, which calls it once (in Future.__init__) */
    int debug = core_get_debug_shortcut(st, op);
    if (debug < 0) {
        return NULL;
    }
    if (debug) {
        PyObject *meth = core_py_method(&st->loop.py_create_future,
                                        st->loop.str_create_future);
        return meth == NULL ? NULL : PyObject_CallOneArg(meth, op);
    }
    PyObject *fcls = core_future_class(&st->loop);
    if (fcls == NULL) {
        return NULL;
    }
    PyObject *fut;
    if (fcls == (PyObject *)st->future.FutureType) {
        fut = future_new(st, op);
    }
    else {
        fut = PyObject_Vectorcall(fcls, &op, 0, st->kw_loop);
    }
    Py_DECREF(fcls);
    return fut;
}


/* ---------- _EventLoopCore: object lifetime and type ---------- */

static int
core_traverse(PyObject *op, visitproc visit, void *arg)
{
    LoopCoreObject *self = (LoopCoreObject *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->ready);
    Py_VISIT(self->scheduled);
    Py_VISIT(self->stopping);
    Py_VISIT(self->closed);
    Py_VISIT(self->debug);
    Py_VISIT(self->current_task);
    Py_VISIT(self->sel);
    Py_VISIT(self->sel_poller);
    Py_VISIT(self->sel_fd_to_key);
    return 0;
}

static int
core_clear(PyObject *op)
{
    LoopCoreObject *self = (LoopCoreObject *)op;
    Py_CLEAR(self->ready);
    Py_CLEAR(self->scheduled);
    Py_CLEAR(self->stopping);
    Py_CLEAR(self->closed);
    Py_CLEAR(self->debug);
    Py_CLEAR(self->current_task);
    Py_CLEAR(self->sel);
    Py_CLEAR(self->sel_poller);
    Py_CLEAR(self->sel_fd_to_key);
    return 0;
}

static PyObject *
core_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    /* Arguments are refused as object() refuses them: unless a subclass
       defines __init__ to take them (BaseEventLoop's subclasses do). */
    if (tp->tp_init == PyBaseObject_Type.tp_init
        && (PyTuple_GET_SIZE(args) != 0
            || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0))) {
        PyErr_Format(PyExc_TypeError, "%.200s() takes no arguments",
                     tp->tp_name);
        return NULL;
    }
    LoopCoreObject *self = (LoopCoreObject *)tp->tp_alloc(tp, 0);
    if (self != NULL) {
        self->own_mask = -1;
    }
    return (PyObject *)self;
}

static void
core_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)core_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

PyDoc_STRVAR(core_time_doc,
"time($self, /)\n--\n\n"
"Return the current time on the event loop's clock, in seconds.\n\n"
"A float from a monotonic clock.  Only differences between two times\n"
"mean something: the clock's epoch, precision, accuracy and drift may\n"
"be different from one event loop to another.");

PyDoc_STRVAR(core_get_debug_doc,
"get_debug($self, /)\n--\n\n"
"Tell whether the event loop is in debug mode.");

PyDoc_STRVAR(core__check_closed_doc,
"_check_closed($self, /)\n--\n\n"
"Raise RuntimeError if the event loop is closed.");

PyDoc_STRVAR(core_call_soon_doc,
"call_soon($self, /, callback, *args, context=None)\n--\n\n"
"Schedule callback(*args) for the next turn of the loop.\n\n"
"Callbacks run in the order they were scheduled, each of them once, in\n"
"context (a copy of the current contextvars.Context when None).  Return\n"
"a Handle, whose cancel() keeps the callback from running.\n\n"
"RuntimeError is raised if the loop is closed.  In debug mode, so is\n"
"RuntimeError when the loop is running in another thread, and TypeError\n"
"when callback is a coroutine, a coroutine function or not callable.");

PyDoc_STRVAR(core__call_soon_doc,
"_call_soon($self, /, callback, args, context)\n--\n\n"
"Append a Handle for callback(*args) to the ready queue and return it.\n\n"
"The scheduling step of call_soon(), without its checks.");

PyDoc_STRVAR(core_call_soon_threadsafe_doc,
"call_soon_threadsafe($self, /, callback, *args, context=None)\n--\n\n"
"Do what call_soon() does, from any thread.\n\n"
"The loop is woken up if it is waiting for I/O, so that the callback\n"
"runs without waiting for that to end.");

PyDoc_STRVAR(core_call_later_doc,
"call_later($self, /, delay, callback, *args, context=None)\n--\n\n"
"Schedule callback(*args) for delay seconds from now.\n\n"
"delay is an int or a float, counted from the loop's time().  Each\n"
"callback runs once; the order of callbacks scheduled for the very same\n"
"time is not defined.  context is as for call_soon().  Return a\n"
"TimerHandle, whose cancel() keeps the callback from running.");

PyDoc_STRVAR(core_call_at_doc,
"call_at($self, /, when, callback, *args, context=None)\n--\n\n"
"Schedule callback(*args) for the time when.\n\n"
"when is an absolute time on the loop's clock, the one time() reads;\n"
"otherwise this is call_later().");

PyDoc_STRVAR(core_create_task_doc,
"create_task($self, /, coro, *, name=None, context=None)\n--\n\n"
"Schedule the coroutine coro in a new task and return the task.\n\n"
"Without a task factory (see set_task_factory()) the task is\n"
"asyncio.Task(coro, loop=self, name=name, context=context).  Otherwise\n"
"the factory makes it, given context when that is not None, and the\n"
"task is then named name.  RuntimeError is raised if the loop is\n"
"closed.");

PyDoc_STRVAR(core_create_future_doc,
"create_future($self, /)\n--\n\n"
"Return a new pending future bound to this loop.\n\n"
"The future is asyncio.futures.Future(loop=self); libraries that bring\n"
"their own future type override this method.");

PyDoc_STRVAR(core__run_once_doc,
"_run_once($self, /)\n--\n\n"
"Run one turn of the event loop.\n\n"
"Poll for I/O, waiting until the earliest timer is due at most, and not\n"
"at all when callbacks are ready or the loop is stopping; queue the\n"
"callbacks of the I/O events and of the timers now due; then run the\n"
"callbacks ready at that point (those they schedule wait for the next\n"
"turn).  Cancelled timers are dropped on the way.");

static PyMethodDef core_methods[] = {
    CMETHOD("time", core_time, core_time_doc),
    CMETHOD("get_debug", core_get_debug, core_get_debug_doc),
    CMETHOD("_check_closed", core__check_closed, core__check_closed_doc),
    CMETHOD("call_soon", core_call_soon, core_call_soon_doc),
    CMETHOD("_call_soon", core__call_soon, core__call_soon_doc),
    CMETHOD("call_soon_threadsafe", core_call_soon_threadsafe,
            core_call_soon_threadsafe_doc),
    CMETHOD("call_later", core_call_later, core_call_later_doc),
    CMETHOD("call_at", core_call_at, core_call_at_doc),
    CMETHOD("create_task", core_create_task, core_create_task_doc),
    CMETHOD("create_future", core_create_future, core_create_future_doc),
    CMETHOD("_run_once", core__run_once, core__run_once_doc),
    {NULL, NULL}
};

#define CORE_MEMBER(name, field) \
    {name, T_OBJECT_EX, offsetof(LoopCoreObject, field), 0, NULL}

static PyMemberDef core_members[] = {
    CORE_MEMBER("_ready", ready),
    CORE_MEMBER("_scheduled", scheduled),
    CORE_MEMBER("_stopping", stopping),
    CORE_MEMBER("_closed", closed),
    CORE_MEMBER("_debug", debug),
    {NULL}
};

static PyType_Slot core_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "_EventLoopCore()\n--\n\n"
        "The C core of asyncio.BaseEventLoop: the ready queue, the timer\n"
        "heap and one turn of the loop.\n\n"
        "BaseEventLoop derives from it.  Where one of its methods calls\n"
        "another method of the loop, it takes a shortcut only when that\n"
        "method is the core's own, neither overridden in a subclass nor set\n"
        "on the instance.")},
    {Py_tp_dealloc, core_dealloc},
    {Py_tp_traverse, core_traverse},
    {Py_tp_clear, core_clear},
    {Py_tp_methods, core_methods},
    {Py_tp_members, core_members},
    {Py_tp_new, core_tp_new},
    {0, NULL}
};

static PyType_Spec core_spec = {
    .name = "_asyncio._EventLoopCore",
    .basicsize = sizeof(LoopCoreObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = core_slots,
};

int
loop_add_selector_methods(asyncio_state *st, PyMethodDef *defs)
{
    PyTypeObject *core = st->loop.SelectorLoopCoreType;
    for (PyMethodDef *def = defs; def->ml_name != NULL; def++) {
        PyObject *descr = PyDescr_NewMethod(core, def);
        if (descr == NULL) {
            return -1;
        }
        int rc = PyObject_SetAttrString((PyObject *)core, def->ml_name,
                                        descr);
        Py_DECREF(descr);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

static PyMethodDef selector_core_methods[] = {
    CMETHOD("_add_reader", core__add_reader,
            PyDoc_STR("_add_reader($self, fd, callback, /, *args)\n--\n\n"
                      "Call callback(*args) whenever fd is readable; return "
                      "its handle.\n\n"
                      "A reader fd had before is cancelled.")),
    CMETHOD("_add_writer", core__add_writer,
            PyDoc_STR("_add_writer($self, fd, callback, /, *args)\n--\n\n"
                      "Call callback(*args) whenever fd is writable; return "
                      "its handle.\n\n"
                      "A writer fd had before is cancelled.")),
    CMETHOD("_remove_reader", core__remove_reader,
            PyDoc_STR("_remove_reader($self, fd, /)\n--\n\n"
                      "Stop watching fd for reading; True if it had a "
                      "reader.")),
    CMETHOD("_remove_writer", core__remove_writer,
            PyDoc_STR("_remove_writer($self, fd, /)\n--\n\n"
                      "Stop watching fd for writing; True if it had a "
                      "writer.")),
    {NULL, NULL}
};

static PyType_Slot selector_core_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "_SelectorLoopCore()\n--\n\n"
        "The C base of asyncio's BaseSelectorEventLoop: its readers and "
        "writers.")},
    {Py_tp_methods, selector_core_methods},
    {0, NULL}
};

static PyType_Spec selector_core_spec = {
    .name = "_asyncio._SelectorLoopCore",
    .basicsize = sizeof(LoopCoreObject),
    /* the collector's slots come from _EventLoopCore */
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = selector_core_slots,
};




/* ---------- The shortcuts for the other parts ---------- */

static int
core_call_soon_shortcut(asyncio_state *st, PyObject *loop, PyObject *fn,
                        PyObject *arg, PyObject *ctx)
{
    int own = core_method_is_own(st, loop, CORE_CALL_SOON);
    if (own <= 0) {
        return own < 0 ? -1 : LOOP_NOT_CORE;
    }
    return core_call_soon_direct(st, loop, fn, arg, ctx);
}

static int
core_get_debug_shortcut(asyncio_state *st, PyObject *loop)
{
    int own = core_method_is_own(st, loop, CORE_GET_DEBUG);
    if (own <= 0) {
        return own < 0 ? -1 : LOOP_NOT_CORE;
    }
    LoopCoreObject *self = (LoopCoreObject *)loop;
    return field_truth((PyObject *)self, self->debug, "_debug");
}


/* ---------- The part ---------- */

static int
loop_exec(PyObject *module, asyncio_state *st)
{
    loop_state *ls = &st->loop;
    ls->LoopCoreType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &core_spec, NULL);
    if (ls->LoopCoreType == NULL
        || PyModule_AddType(module, ls->LoopCoreType) < 0) {
        return -1;
    }
    ls->SelectorLoopCoreType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &selector_core_spec, (PyObject *)ls->LoopCoreType);
    if (ls->SelectorLoopCoreType == NULL
        || PyModule_AddType(module, ls->SelectorLoopCoreType) < 0) {
        return -1;
    }
    /* interned, as the names of a call written in Python are: compared by
       identity first by the callee */
    PyObject **kw = st->task.kwnames;
    ls->kw_task_init = PyTuple_Pack(3, kw[0], kw[1], kw[2]);
    ls->kw_name_context = PyTuple_Pack(2, kw[1], kw[2]);
    if (ls->kw_task_init == NULL || ls->kw_name_context == NULL) {
        return -1;
    }
    /* the selector loop's methods come later: core_load_selector_refs() */
    for (int i = 0; i < CORE_PROCESS_EVENTS; i++) {
        PyObject *meth = PyDict_GetItemWithError(ls->LoopCoreType->tp_dict,
                                                 ls->own_names[i]);
        if (meth == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, ls->own_names[i]);
            }
            return -1;
        }
        ls->own_methods[i] = Py_NewRef(meth);
    }
    ls->deque_type = (PyTypeObject *)import_attr("collections", "deque");
    if (ls->deque_type == NULL
        || (ls->deque_append = PyObject_GetAttrString(
                (PyObject *)ls->deque_type, "append")) == NULL
        || (ls->deque_popleft = PyObject_GetAttrString(
                (PyObject *)ls->deque_type, "popleft")) == NULL
        || (ls->heappush = import_attr("heapq", "heappush")) == NULL
        || (ls->heappop = import_attr("heapq", "heappop")) == NULL
        || (ls->heapify = import_attr("heapq", "heapify")) == NULL) {
        return -1;
    }
    st->loop_core.call_soon = core_call_soon_shortcut;
    st->loop_core.get_debug = core_get_debug_shortcut;
    st->loop_core.current_task_slot = core_current_task_slot;
    return 0;
}

static void
loop_clear(asyncio_state *st)
{
    st->loop_core.call_soon = NULL;
    st->loop_core.get_debug = NULL;
    st->loop_core.current_task_slot = NULL;
    st->loop_core.other_version = 0;
}

static void
loop_free(asyncio_state *st)
{
    loop_state *ls = &st->loop;
    Py_CLEAR(ls->deque_type);
    Py_CLEAR(ls->deque_append);
    Py_CLEAR(ls->deque_popleft);
    Py_CLEAR(ls->heappush);
    Py_CLEAR(ls->heappop);
    Py_CLEAR(ls->heapify);
    Py_CLEAR(ls->kw_task_init);
    Py_CLEAR(ls->kw_name_context);
}

static const asyncio_name loop_names[] = {
    ASYNCIO_NAME(loop.own_names[CORE_TIME], "time"),
    ASYNCIO_NAME(loop.own_names[CORE_GET_DEBUG], "get_debug"),
    ASYNCIO_NAME(loop.own_names[CORE_CHECK_CLOSED], "_check_closed"),
    ASYNCIO_NAME(loop.own_names[CORE__CALL_SOON], "_call_soon"),
    ASYNCIO_NAME(loop.own_names[CORE_CALL_AT], "call_at"),
    ASYNCIO_NAME(loop.own_names[CORE_CREATE_TASK], "create_task"),
    ASYNCIO_NAME(loop.own_names[CORE_CALL_SOON], "call_soon"),
    ASYNCIO_NAME(loop.own_names[CORE__RUN_ONCE], "_run_once"),
    ASYNCIO_NAME(loop.own_names[CORE_PROCESS_EVENTS], "_process_events"),
    ASYNCIO_NAME(loop.own_names[CORE_WRITE_TO_SELF], "_write_to_self"),
    ASYNCIO_NAME(loop.own_names[CORE_ADD_CALLBACK], "_add_callback"),
    ASYNCIO_NAME(loop.own_names[CORE_IS_CLOSED], "is_closed"),
    ASYNCIO_NAME(loop.str_handler[0], "_add_reader"),
    ASYNCIO_NAME(loop.str_handler[1], "_add_writer"),
    ASYNCIO_NAME(loop.str_handler[2], "_remove_reader"),
    ASYNCIO_NAME(loop.str_handler[3], "_remove_writer"),
    ASYNCIO_NAME(loop.str_map, "_map"),
    ASYNCIO_NAME(loop.str_selector_methods[0], "register"),
    ASYNCIO_NAME(loop.str_selector_methods[1], "modify"),
    ASYNCIO_NAME(loop.str_selector_methods[2], "unregister"),
    ASYNCIO_NAME(loop.str_selector_methods[3], "get_key"),
    ASYNCIO_NAME(loop.str_selector_methods[4], "_fileobj_lookup"),
    ASYNCIO_NAME(loop.str_Future, "Future"),
    ASYNCIO_NAME(loop.str_Task, "Task"),
    ASYNCIO_NAME(loop.str_create_future, "create_future"),
    ASYNCIO_NAME(loop.str_append, "append"),
    ASYNCIO_NAME(loop.str_cancelled_attr, "_cancelled"),
    ASYNCIO_NAME(loop.str_clock_resolution, "_clock_resolution"),
    ASYNCIO_NAME(loop.str_csock, "_csock"),
    ASYNCIO_NAME(loop.str_current_handle, "_current_handle"),
    ASYNCIO_NAME(loop.str_events, "events"),
    ASYNCIO_NAME(loop.str_fd_to_key, "_fd_to_key"),
    ASYNCIO_NAME(loop.str_fileno, "fileno"),
    ASYNCIO_NAME(loop.str_popleft, "popleft"),
    ASYNCIO_NAME(loop.str_process_events, "_process_events"),
    ASYNCIO_NAME(loop.str_remove_reader, "_remove_reader"),
    ASYNCIO_NAME(loop.str_remove_writer, "_remove_writer"),
    ASYNCIO_NAME(loop.str_run, "_run"),
    ASYNCIO_NAME(loop.str_scheduled_attr, "_scheduled"),
    ASYNCIO_NAME(loop.str_select, "select"),
    ASYNCIO_NAME(loop.str_selector, "_selector"),
    ASYNCIO_NAME(loop.str_source_traceback, "_source_traceback"),
    ASYNCIO_NAME(loop.str_set_name, "set_name"),
    ASYNCIO_NAME(loop.str_task_factory, "_task_factory"),
    ASYNCIO_NAME(loop.str_timer_cancelled, "_timer_cancelled_count"),
    ASYNCIO_NAME(loop.str_when_attr, "_when"),
};

static const size_t loop_refs[] = {
    ASYNCIO_OFFSET(loop.LoopCoreType),
    ASYNCIO_OFFSET(loop.SelectorLoopCoreType),
    ASYNCIO_OFFSET(loop.selector_key_type),
    ASYNCIO_OFFSET(loop.py_selector_methods),
    ASYNCIO_OFFSET(loop.own_methods[CORE_TIME]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_GET_DEBUG]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_CHECK_CLOSED]),
    ASYNCIO_OFFSET(loop.own_methods[CORE__CALL_SOON]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_CALL_AT]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_CREATE_TASK]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_CALL_SOON]),
    ASYNCIO_OFFSET(loop.own_methods[CORE__RUN_ONCE]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_PROCESS_EVENTS]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_WRITE_TO_SELF]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_ADD_CALLBACK]),
    ASYNCIO_OFFSET(loop.own_methods[CORE_IS_CLOSED]),
    ASYNCIO_OFFSET(loop.socket_type),
    ASYNCIO_OFFSET(loop.epoll_selector_type),
    ASYNCIO_OFFSET(loop.epoll_type),
    ASYNCIO_OFFSET(loop.epoll_fileno),
    ASYNCIO_OFFSET(loop.tasks_module),
    ASYNCIO_OFFSET(loop.py_create_task),
    ASYNCIO_OFFSET(loop.futures_module),
    ASYNCIO_OFFSET(loop.future_class),
    ASYNCIO_OFFSET(loop.py_create_future),
};

const asyncio_part loop_part = {
    .names = loop_names,
    .nnames = Py_ARRAY_LENGTH(loop_names),
    .exec = loop_exec,
    .refs = loop_refs,
    .nrefs = Py_ARRAY_LENGTH(loop_refs),
    .clear = loop_clear,
    .free = loop_free,
};
