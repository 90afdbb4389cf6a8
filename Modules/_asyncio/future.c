/*
 * Future and its await iterator.
 *
 * asyncio.Future in C, with the behaviour of the pure-Python class in
 * Lib/asyncio/futures.py.  A future keeps its first callback outside any
 * list, Future(loop=...) is a vectorcall that builds no keyword dict, and
 * the await iterator comes from a per-module freelist.  Also
 * futures._set_result_unless_cancelled(), the callback that settles a
 * future later.
 */

#include "module.h"

/* Add tp to the classes Future_IsNative() knows: 0, or -1 when there is
   no room (FUTURE_NATIVE_TYPES is too small). */
int
future_add_native_type(asyncio_state *st, PyTypeObject *tp)
{
    for (int i = 0; i < FUTURE_NATIVE_TYPES; i++) {
        if (st->future.native[i] == NULL) {
            st->future.native[i] = tp;
            return 0;
        }
    }
    PyErr_SetString(PyExc_SystemError, "too many native future types");
    return -1;
}

static PyObject *
future_state_name(asyncio_state *st, FutureObject *fut)
{
    return st->future.state_names[fut->fut_state];
}

/* Make the first callback and its context the objects they stand for
   where the future kept them in a smaller form (see FutureObject): the
   wakeup callable of the task, the copy of a context.  0, or -1 on
   error. */
static int
future_realize_callback0(asyncio_state *st, FutureObject *fut)
{
    if (fut->fut_wakes0) {
        PyObject *cb, *ctx;
        if (st->future.wakeup_of(st, fut->fut_callback0, &cb, &ctx) < 0) {
            return -1;
        }
        fut->fut_wakes0 = 0;
        Py_SETREF(fut->fut_callback0, cb);
        Py_XSETREF(fut->fut_context0, ctx);
    }
    return context_realize(&fut->fut_context0, &fut->fut_vars0);
}

/* Whether the future has no callback at all, so that a new one goes into
   the first callback's fields. */
static inline int
future_has_no_callbacks(FutureObject *fut)
{
    return fut->fut_callback0 == NULL
           && (fut->fut_callbacks == NULL
               || PyList_GET_SIZE(fut->fut_callbacks) == 0);
}

/* Drop the first callback. */
static void
future_clear_callback0(FutureObject *fut)
{
    fut->fut_wakes0 = 0;
    Py_CLEAR(fut->fut_callback0);
    Py_CLEAR(fut->fut_context0);
    Py_CLEAR(fut->fut_vars0);
}

/* Ask the loop to call every callback, dropping them from the future.
   The callbacks are moved out first so that whatever the loop does
   (including re-entering this future) cannot touch what we iterate. */
static int
future_schedule_callbacks(asyncio_state *st, FutureObject *fut)
{
    if (future_realize_callback0(st, fut) < 0) {
        return -1;
    }
    PyObject *cb0 = fut->fut_callback0;
    PyObject *ctx0 = fut->fut_context0;
    PyObject *list = fut->fut_callbacks;
    fut->fut_callback0 = NULL;
    fut->fut_context0 = NULL;
    fut->fut_callbacks = NULL;
    if (cb0 == NULL && list == NULL) {
        return 0;
    }
    PyObject *loop = Py_NewRef(fut->fut_loop);
    int rc = 0;
    if (cb0 != NULL) {
        rc = loop_call_soon(st, loop, cb0, (PyObject *)fut, ctx0);
    }
    if (list != NULL) {
        for (Py_ssize_t i = 0;
             rc == 0 && i + 1 < PyList_GET_SIZE(list); i += 2) {
            rc = loop_call_soon(st, loop, PyList_GET_ITEM(list, i),
                           (PyObject *)fut, PyList_GET_ITEM(list, i + 1));
        }
    }
    Py_DECREF(loop);
    Py_XDECREF(cb0);
    Py_XDECREF(ctx0);
    Py_XDECREF(list);
    return rc;
}

/* Hand `context` (a new dict we consume, or NULL with an exception set
   when making it failed), with fut's source traceback added, to the loop's
   call_exception_handler(), as Future.__del__ and Task.__del__ do.  Never
   raises: a failure goes to sys.unraisablehook. */
void
future_report_to_loop(asyncio_state *st, FutureObject *fut, PyObject *context)
{
    PyObject *res = NULL;
    if (context == NULL) {
        goto done;
    }
    if (fut->fut_source_tb != NULL && PyObject_IsTrue(fut->fut_source_tb)
        && PyDict_SetItemString(context, "source_traceback",
                                fut->fut_source_tb) < 0) {
        goto done;
    }
    PyObject *loop = Py_NewRef(fut->fut_loop);
    res = PyObject_CallMethodOneArg(loop, st->str_call_exception_handler,
                                    context);
    Py_DECREF(loop);
done:
    if (res == NULL && PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)fut);
    }
    Py_XDECREF(res);
    Py_XDECREF(context);
}

/* Run report(st, self) for a finaliser, keeping the current exception. */
void
future_report_from_finalizer(PyObject *self,
                      void (*report)(asyncio_state *, FutureObject *))
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    asyncio_state *st = state_of(self);
    if (st != NULL) {
        report(st, (FutureObject *)self);
    }
    else {
        PyErr_WriteUnraisable(self);
    }
    PyErr_Restore(type, value, tb);
}

/* Report an exception that was set and never retrieved. */
static void
future_report_unretrieved(asyncio_state *st, FutureObject *fut)
{
    PyObject *context = NULL, *msg = NULL;
    PyObject *name = PyType_GetName(Py_TYPE(fut));
    if (name == NULL) {
        goto done;
    }
    msg = PyUnicode_FromFormat("%U exception was never retrieved", name);
    Py_DECREF(name);
    if (msg == NULL) {
        goto done;
    }
    context = PyDict_New();
    if (context == NULL
        || PyDict_SetItemString(context, "message", msg) < 0
        || PyDict_SetItemString(context, "exception",
                                fut->fut_exception != NULL
                                ? fut->fut_exception : Py_None) < 0
        || PyDict_SetItemString(context, "future", (PyObject *)fut) < 0) {
        Py_CLEAR(context);
    }
done:
    Py_XDECREF(msg);
    future_report_to_loop(st, fut, context);
}

/* Drop the references a future holds but its loop and __dict__. */
static void
future_clear_state(FutureObject *fut)
{
    future_clear_callback0(fut);
    Py_CLEAR(fut->fut_callbacks);
    Py_CLEAR(fut->fut_result);
    Py_CLEAR(fut->fut_exception);
    Py_CLEAR(fut->fut_exception_tb);
    Py_CLEAR(fut->fut_source_tb);
    Py_CLEAR(fut->fut_cancel_msg);
    Py_CLEAR(fut->fut_cancelled_exc);
}

/* Drop all state, as for a new future (used by a repeated __init__). */
static void
future_reset(FutureObject *fut)
{
    fut->fut_state = STATE_PENDING;
    fut->fut_log_tb = 0;
    fut->fut_blocking = 0;
    future_clear_state(fut);
}

/* Future(loop=...) without building a keyword dict: the vectorcall of the
   exact type.  Subclasses, and calls this does not handle, go through the
   ordinary tp_new + tp_init. */
static PyObject *
future_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf,
                  PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    asyncio_state *st = state_of_type((PyTypeObject *)type);
    if (st == NULL) {
        return NULL;
    }
    static const char *const names[] = {"loop"};
    PyObject *loop = NULL;
    if (type != (PyObject *)st->future.FutureType || nargs != 0
        || !vectorcall_kwargs_fast(args, kwnames, names, 1, &loop)) {
        return _PyObject_MakeTpCall(PyThreadState_Get(), type, args, nargs,
                                    kwnames);
    }
    return future_new(st, loop);
}

PyObject *
future_new(asyncio_state *st, PyObject *loop)
{
    PyTypeObject *tp = st->future.FutureType;
    PyObject *self = tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (future_init_impl(st, (FutureObject *)self, loop) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

int
future_init_impl(asyncio_state *st, FutureObject *fut, PyObject *loop)
{
    if (loop == NULL || loop == Py_None) {
        loop = get_event_loop(st);
        if (loop == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(loop);
    }
    /* __init__ on a done future starts it afresh; an exception it was
       holding unretrieved is reported rather than silently lost. */
    if (fut->fut_log_tb && fut->fut_loop != NULL) {
        fut->fut_log_tb = 0;
        future_report_unretrieved(st, fut);
    }
    future_reset(fut);
    Py_XSETREF(fut->fut_loop, loop);

    int is_debug = loop_get_debug(st, loop);
    if (is_debug < 0) {
        return -1;
    }
    if (is_debug) {
        if (ensure_helpers(st) < 0) {
            return -1;
        }
        PyFrameObject *frame = PyEval_GetFrame();   /* the caller's frame */
        if (frame != NULL) {
            PyObject *tb = PyObject_CallOneArg(st->extract_stack,
                                               (PyObject *)frame);
            if (tb == NULL) {
                return -1;
            }
            Py_XSETREF(fut->fut_source_tb, tb);
        }
    }
    return 0;
}

PyObject *
future_make_cancelled_error_impl(asyncio_state *st, FutureObject *fut)
{
    if (fut->fut_cancelled_exc != NULL) {
        PyObject *exc = fut->fut_cancelled_exc;
        fut->fut_cancelled_exc = NULL;
        return exc;
    }
    if (ensure_helpers(st) < 0) {
        return NULL;
    }
    if (fut->fut_cancel_msg == NULL || fut->fut_cancel_msg == Py_None) {
        return PyObject_CallNoArgs(st->CancelledError);
    }
    return PyObject_CallOneArg(st->CancelledError, fut->fut_cancel_msg);
}

/* _make_cancelled_error honouring an override in a subclass. */
PyObject *
future_make_cancelled_error(asyncio_state *st, FutureObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return future_make_cancelled_error_impl(st, fut);
    }
    return PyObject_CallMethodNoArgs((PyObject *)fut,
                                     st->str_make_cancelled_error);
}

static void
future_raise_cancelled(asyncio_state *st, FutureObject *fut)
{
    PyObject *exc = future_make_cancelled_error_impl(st, fut);
    if (exc != NULL) {
        raise_instance(exc);
        Py_DECREF(exc);
    }
}

/* 0 if fut is finished, else -1 with the CancelledError of a cancelled
   future or InvalidStateError(not_ready) raised (result(), exception()). */
static inline int
future_check_finished(asyncio_state *st, FutureObject *fut,
                      const char *not_ready)
{
    if (fut->fut_state == STATE_FINISHED) {
        return 0;
    }
    if (fut->fut_state == STATE_CANCELLED) {
        future_raise_cancelled(st, fut);
    }
    else if (ensure_helpers(st) == 0) {
        PyErr_SetString(st->InvalidStateError, not_ready);
    }
    return -1;
}

PyObject *
future_result_impl(asyncio_state *st, FutureObject *fut)
{
    if (future_check_finished(st, fut, "Result is not ready.") < 0) {
        return NULL;
    }
    fut->fut_log_tb = 0;
    if (fut->fut_exception != NULL) {
        /* Raise with the traceback saved when the exception was set, like
           exception.with_traceback(tb), so that tracebacks do not grow with
           every await.  The saved traceback is then dropped: it is part of
           the exception's traceback from now on, and keeping it here would
           tie this future into a cycle with the frames of whoever awaited
           it (later raises start from an empty traceback). */
        PyObject *exc = Py_NewRef(fut->fut_exception);
        PyObject *tb = fut->fut_exception_tb;
        fut->fut_exception_tb = NULL;
        int rc = PyException_SetTraceback(exc, tb != NULL ? tb : Py_None);
        Py_XDECREF(tb);
        if (rc < 0) {
            Py_DECREF(exc);
            return NULL;
        }
        raise_instance(exc);
        Py_DECREF(exc);
        return NULL;
    }
    return new_ref_or_none(fut->fut_result);
}

static int
future_check_settable(asyncio_state *st, FutureObject *fut)
{
    if (fut->fut_loop == NULL) {
        return raise_uninitialized();
    }
    if (fut->fut_state != STATE_PENDING) {
        if (ensure_helpers(st) == 0) {
            raise_formatted(st->InvalidStateError, "%U: %R",
                            future_state_name(st, fut), (PyObject *)fut);
        }
        return -1;
    }
    return 0;
}

int
future_set_result_impl(asyncio_state *st, FutureObject *fut, PyObject *res)
{
    if (future_check_settable(st, fut) < 0) {
        return -1;
    }
    Py_XSETREF(fut->fut_result, Py_NewRef(res));
    fut->fut_state = STATE_FINISHED;
    return future_schedule_callbacks(st, fut);
}

/* Set an exception instance (already checked). */
int
future_set_exception_obj(asyncio_state *st, FutureObject *fut, PyObject *exc)
{
    if (future_check_settable(st, fut) < 0) {
        return -1;
    }
    PyObject *tb = PyException_GetTraceback(exc);   /* new or NULL */
    Py_XSETREF(fut->fut_exception, Py_NewRef(exc));
    Py_XSETREF(fut->fut_exception_tb, tb);
    fut->fut_state = STATE_FINISHED;
    if (future_schedule_callbacks(st, fut) < 0) {
        return -1;
    }
    fut->fut_log_tb = 1;
    return 0;
}

int
future_set_exception_impl(asyncio_state *st, FutureObject *fut,
                          PyObject *exc)
{
    if (future_check_settable(st, fut) < 0) {
        return -1;
    }
    if (PyType_Check(exc)) {
        exc = PyObject_CallNoArgs(exc);
        if (exc == NULL) {
            return -1;
        }
    }
    else {
        Py_INCREF(exc);
    }
    int rc = -1;
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_Format(PyExc_TypeError,
                     "exception must derive from BaseException, not %.200s",
                     Py_TYPE(exc)->tp_name);
    }
    else if (Py_IS_TYPE(exc, (PyTypeObject *)PyExc_StopIteration)) {
        PyErr_SetString(PyExc_TypeError,
                        "StopIteration interacts badly with generators "
                        "and cannot be raised into a Future");
    }
    else {
        rc = future_set_exception_obj(st, fut, exc);
    }
    Py_DECREF(exc);
    return rc;
}

/* Future.cancel(): 1 if cancelled now, 0 if already done, -1 on error. */
int
future_cancel_impl(asyncio_state *st, FutureObject *fut, PyObject *msg)
{
    fut->fut_log_tb = 0;
    if (fut->fut_loop == NULL) {
        return raise_uninitialized();
    }
    if (fut->fut_state != STATE_PENDING) {
        return 0;
    }
    fut->fut_state = STATE_CANCELLED;
    Py_XINCREF(msg);
    Py_XSETREF(fut->fut_cancel_msg, msg);
    if (future_schedule_callbacks(st, fut) < 0) {
        return -1;
    }
    return 1;
}

int
future_add_done_callback_impl(asyncio_state *st, FutureObject *fut,
                              PyObject *fn, PyObject *ctx)
{
    if (fut->fut_loop == NULL) {
        return raise_uninitialized();
    }
    if (fut->fut_state != STATE_PENDING) {
        return loop_call_soon(st, fut->fut_loop, fn, (PyObject *)fut,
                         ctx != NULL ? ctx : Py_None);
    }
    if (future_has_no_callbacks(fut)) {
        if (context_keep(ctx, &fut->fut_context0, &fut->fut_vars0) < 0) {
            return -1;
        }
        fut->fut_wakes0 = 0;
        fut->fut_callback0 = Py_NewRef(fn);
        return 0;
    }
    ctx = context_or_copy(ctx);
    if (ctx == NULL) {
        return -1;
    }
    if (fut->fut_callbacks == NULL) {
        fut->fut_callbacks = PyList_New(0);
        if (fut->fut_callbacks == NULL) {
            Py_DECREF(ctx);
            return -1;
        }
    }
    int rc = PyList_Append(fut->fut_callbacks, fn);
    if (rc == 0) {
        rc = PyList_Append(fut->fut_callbacks, ctx);
        if (rc < 0) {
            /* keep the list in pairs */
            Py_ssize_t n = PyList_GET_SIZE(fut->fut_callbacks);
            (void)PyList_SetSlice(fut->fut_callbacks, n - 1, n, NULL);
        }
    }
    Py_DECREF(ctx);
    return rc;
}

int
future_add_wakeup(asyncio_state *st, FutureObject *fut, PyObject *task)
{
    if (fut->fut_state == STATE_PENDING && fut->fut_loop != NULL
        && future_has_no_callbacks(fut)) {
        fut->fut_wakes0 = 1;
        fut->fut_callback0 = Py_NewRef(task);
        return 0;
    }
    PyObject *wakeup, *ctx;
    if (st->future.wakeup_of(st, task, &wakeup, &ctx) < 0) {
        return -1;
    }
    int rc = future_add_done_callback_impl(st, fut, wakeup, ctx);
    Py_DECREF(wakeup);
    Py_DECREF(ctx);
    return rc;
}

/* Remove every callback equal to fn.  Comparisons run arbitrary code that
   may add, remove or schedule callbacks, so we hold references to what we
   compare and re-read sizes on every step. */
static Py_ssize_t
future_remove_done_callback_impl(asyncio_state *st, FutureObject *fut,
                                 PyObject *fn)
{
    Py_ssize_t removed = 0;
    if (future_realize_callback0(st, fut) < 0) {
        return -1;
    }
    if (fut->fut_callback0 != NULL) {
        PyObject *cb = Py_NewRef(fut->fut_callback0);
        int eq = PyObject_RichCompareBool(cb, fn, Py_EQ);
        if (eq < 0) {
            Py_DECREF(cb);
            return -1;
        }
        if (eq && fut->fut_callback0 == cb) {
            future_clear_callback0(fut);
            removed++;
        }
        Py_DECREF(cb);
    }
    if (fut->fut_callbacks == NULL) {
        return removed;
    }
    PyObject *list = Py_NewRef(fut->fut_callbacks);
    PyObject *kept = PyList_New(0);
    if (kept == NULL) {
        Py_DECREF(list);
        return -1;
    }
    Py_ssize_t removed_here = 0;
    for (Py_ssize_t i = 0; i + 1 < PyList_GET_SIZE(list); i += 2) {
        PyObject *cb = Py_NewRef(PyList_GET_ITEM(list, i));
        PyObject *ctx = Py_NewRef(PyList_GET_ITEM(list, i + 1));
        int eq = PyObject_RichCompareBool(cb, fn, Py_EQ);
        int rc = 0;
        if (eq == 0) {
            rc = PyList_Append(kept, cb);
            if (rc == 0) {
                rc = PyList_Append(kept, ctx);
            }
        }
        else if (eq > 0) {
            removed_here++;
        }
        Py_DECREF(cb);
        Py_DECREF(ctx);
        if (eq < 0 || rc < 0) {
            Py_DECREF(kept);
            Py_DECREF(list);
            return -1;
        }
    }
    int rc = 0;
    /* Only write back if the future still owns this list; otherwise the
       callbacks were scheduled or replaced while we compared. */
    if (removed_here && fut->fut_callbacks == list) {
        rc = PyList_SetSlice(list, 0, PY_SSIZE_T_MAX, kept);
    }
    Py_DECREF(kept);
    Py_DECREF(list);
    if (rc < 0) {
        return -1;
    }
    return removed + removed_here;
}


/* ---------- Future: Python methods ---------- */

/* RuntimeError when self, a future or task that __init__ made already,
   is still pending: a second __init__ would start it afresh under the
   feet of whoever awaits it, dropping their callbacks (a task doing that
   to itself hung asyncio.run(), gh-142615).  A done one may be made
   afresh, as 3.11 allows. */
int
future_check_not_pending(PyObject *self)
{
    FutureObject *fut = (FutureObject *)self;
    if (fut->fut_loop == NULL || fut->fut_state != STATE_PENDING) {
        return 0;
    }
    PyObject *name = PyType_GetName(Py_TYPE(self));
    if (name != NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "__init__() called again on a pending %U", name);
        Py_DECREF(name);
    }
    return -1;
}

static int
future_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", NULL};
    PyObject *loop = NULL;
    if (PyTuple_GET_SIZE(args) != 0
        || !init_kwargs_fast(kwds, (const char *const *)kwlist, 1, &loop)) {
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$O:Future", kwlist,
                                         &loop)) {
            return -1;
        }
    }
    asyncio_state *st = state_of(self);
    if (st == NULL || future_check_not_pending(self) < 0) {
        return -1;
    }
    return future_init_impl(st, (FutureObject *)self, loop);
}

static PyObject *
future_result(PyObject *self, PyObject *Py_UNUSED(arg))
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return future_result_impl(st, (FutureObject *)self);
}

/* exception(): new reference, None when the future has a result. */
PyObject *
future_exception_impl(asyncio_state *st, FutureObject *fut)
{
    if (future_check_finished(st, fut, "Exception is not set.") < 0) {
        return NULL;
    }
    fut->fut_log_tb = 0;
    return new_ref_or_none(fut->fut_exception);
}

static PyObject *
future_exception(PyObject *self, PyObject *Py_UNUSED(arg))
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return future_exception_impl(st, (FutureObject *)self);
}

/* set_result() and set_exception(), by their `impl`. */
static inline PyObject *
future_set_method(PyObject *self, PyObject *arg,
                  int (*impl)(asyncio_state *, FutureObject *, PyObject *))
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return none_or_error(impl(st, (FutureObject *)self, arg));
}

static PyObject *
future_set_result(PyObject *self, PyObject *result)
{
    return future_set_method(self, result, future_set_result_impl);
}

static PyObject *
future_set_exception(PyObject *self, PyObject *exc)
{
    return future_set_method(self, exc, future_set_exception_impl);
}

static PyObject *
future_add_done_callback(PyObject *self, PyObject *const *args,
                         Py_ssize_t nargs, PyObject *kwnames)
{
    /* fn is positional-only and context keyword-only, as in 3.11's
       own accelerator. */
    static const char *const names[] = {"context"};
    PyObject *context;
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "add_done_callback() takes exactly 1 positional "
                     "argument (%zd given)", nargs);
        return NULL;
    }
    if (parse_args("add_done_callback", args + 1, 0, kwnames, names, 1, 0,
                   0, &context) < 0) {
        return NULL;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return none_or_error(future_add_done_callback_impl(
        st, (FutureObject *)self, args[0], context));
}

static PyObject *
future_remove_done_callback(PyObject *self, PyObject *fn)
{
    FutureObject *fut = (FutureObject *)self;
    if (fut->fut_loop == NULL) {
        raise_uninitialized();
        return NULL;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    Py_ssize_t n = future_remove_done_callback_impl(st, fut, fn);
    if (n < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

/* cancel(msg=None) of Future and of Task, by their `impl`. */
PyObject *
future_cancel_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames,
              int (*impl)(asyncio_state *, FutureObject *, PyObject *))
{
    static const char *const names[] = {"msg"};
    PyObject *msg;
    if (parse_args("cancel", args, nargs, kwnames, names, 1, 1, 0,
                   &msg) < 0) {
        return NULL;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    int rc = impl(st, (FutureObject *)self, msg);
    if (rc < 0) {
        return NULL;
    }
    return PyBool_FromLong(rc);
}

static PyObject *
future_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames)
{
    return future_cancel_method(self, args, nargs, kwnames,
                                future_cancel_impl);
}

static PyObject *
future_cancelled(PyObject *self, PyObject *Py_UNUSED(arg))
{
    return PyBool_FromLong(
        ((FutureObject *)self)->fut_state == STATE_CANCELLED);
}

static PyObject *
future_done(PyObject *self, PyObject *Py_UNUSED(arg))
{
    return PyBool_FromLong(
        ((FutureObject *)self)->fut_state != STATE_PENDING);
}

static PyObject *
future_get_loop(PyObject *self, PyObject *Py_UNUSED(arg))
{
    FutureObject *fut = (FutureObject *)self;
    if (fut->fut_loop == NULL) {
        raise_uninitialized();
        return NULL;
    }
    return Py_NewRef(fut->fut_loop);
}

static PyObject *
future__make_cancelled_error(PyObject *self, PyObject *Py_UNUSED(arg))
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return future_make_cancelled_error_impl(st, (FutureObject *)self);
}

static PyObject *
future__repr_info(PyObject *self, PyObject *Py_UNUSED(arg))
{
    asyncio_state *st = state_of(self);
    if (st == NULL
        || import_once(&st->future.repr_info, "asyncio.base_futures",
                       "_future_repr_info") < 0) {
        return NULL;
    }
    return PyObject_CallOneArg(st->future.repr_info, self);
}

/* __repr__ shared by Future and Task: "<ClassName info...>" from
   self._repr_info(), with "..." on recursion (reprlib.recursive_repr).
   When asyncio's helpers cannot be imported (interpreter shutdown) fall
   back to the class name and state, so repr never fails for that. */
PyObject *
future_tp_repr(PyObject *self)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    PyObject *name = PyType_GetName(Py_TYPE(self));
    if (name == NULL) {
        return NULL;
    }
    if (((FutureObject *)self)->fut_loop == NULL) {
        /* never initialised: asyncio's repr helpers expect a full object */
        PyObject *res = PyUnicode_FromFormat(
            "<%U %U>", name, future_state_name(st, (FutureObject *)self));
        Py_DECREF(name);
        return res;
    }
    int rc = Py_ReprEnter(self);
    if (rc != 0) {
        Py_DECREF(name);
        return rc > 0 ? PyUnicode_FromString("...") : NULL;
    }
    PyObject *res = NULL;
    PyObject *info = PyObject_CallMethodNoArgs(self, st->future.str_repr_info);
    if (info == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ImportError)
            || _Py_IsFinalizing()) {
            PyErr_Clear();
            PyObject *state = future_state_name(
                st, (FutureObject *)self);
            res = PyUnicode_FromFormat("<%U %U>", name, state);
        }
        goto done;
    }
    PyObject *sep = PyUnicode_FromString(" ");
    if (sep == NULL) {
        Py_DECREF(info);
        goto done;
    }
    PyObject *joined = PyUnicode_Join(sep, info);
    Py_DECREF(sep);
    Py_DECREF(info);
    if (joined == NULL) {
        goto done;
    }
    res = PyUnicode_FromFormat("<%U %U>", name, joined);
    Py_DECREF(joined);
done:
    Py_ReprLeave(self);
    Py_DECREF(name);
    return res;
}


/* ---------- Future: attributes ---------- */

static PyObject *
future_get_blocking(PyObject *self, void *Py_UNUSED(c))
{
    FutureObject *fut = (FutureObject *)self;
    return PyBool_FromLong(fut->fut_loop != NULL && fut->fut_blocking);
}

static int
future_set_log_traceback(PyObject *self, PyObject *val, void *Py_UNUSED(c))
{
    int b = assigned_truth(val);
    if (b < 0) {
        return -1;
    }
    if (b) {
        PyErr_SetString(PyExc_ValueError,
                        "_log_traceback can only be set to False");
        return -1;
    }
    ((FutureObject *)self)->fut_log_tb = 0;
    return 0;
}

static PyObject *
future_get_state(PyObject *self, void *Py_UNUSED(c))
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return Py_NewRef(future_state_name(st, (FutureObject *)self));
}

static int
future_set_cancel_message(PyObject *self, PyObject *val, void *Py_UNUSED(c))
{
    if (check_not_deleted(val) < 0) {
        return -1;
    }
    Py_XSETREF(((FutureObject *)self)->fut_cancel_msg, Py_NewRef(val));
    return 0;
}

/* _callbacks as the pure-Python class shows it: a list of (fn, context)
   pairs.  A fresh list; the future's own storage is never exposed. */
static PyObject *
future_get_callbacks(PyObject *self, void *Py_UNUSED(c))
{
    FutureObject *fut = (FutureObject *)self;
    asyncio_state *st = state_of(self);
    if (st == NULL || future_realize_callback0(st, fut) < 0) {
        return NULL;
    }
    PyObject *res = PyList_New(0);
    if (res == NULL) {
        return NULL;
    }
    if (fut->fut_callback0 != NULL) {
        PyObject *pair = PyTuple_Pack(2, fut->fut_callback0,
                                      fut->fut_context0);
        if (pair == NULL || PyList_Append(res, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(res);
            return NULL;
        }
        Py_DECREF(pair);
    }
    PyObject *list = fut->fut_callbacks;
    for (Py_ssize_t i = 0;
         list != NULL && i + 1 < PyList_GET_SIZE(list); i += 2) {
        PyObject *pair = PyTuple_Pack(2, PyList_GET_ITEM(list, i),
                                      PyList_GET_ITEM(list, i + 1));
        if (pair == NULL || PyList_Append(res, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(res);
            return NULL;
        }
        Py_DECREF(pair);
    }
    return res;
}


/* ---------- Future: object lifetime ---------- */

int
future_traverse(PyObject *self, visitproc visit, void *arg)
{
    FutureObject *fut = (FutureObject *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(fut->fut_loop);
    Py_VISIT(fut->fut_callback0);
    Py_VISIT(fut->fut_context0);
    Py_VISIT(fut->fut_vars0);
    Py_VISIT(fut->fut_callbacks);
    Py_VISIT(fut->fut_result);
    Py_VISIT(fut->fut_exception);
    Py_VISIT(fut->fut_exception_tb);
    Py_VISIT(fut->fut_source_tb);
    Py_VISIT(fut->fut_cancel_msg);
    Py_VISIT(fut->fut_cancelled_exc);
    Py_VISIT(fut->fut_dict);
    return 0;
}

int
future_clear(PyObject *self)
{
    FutureObject *fut = (FutureObject *)self;
    Py_CLEAR(fut->fut_loop);
    future_clear_state(fut);
    Py_CLEAR(fut->fut_dict);
    return 0;
}

/* PEP 442 finaliser: report an exception nobody retrieved. */
void
future_finalize(PyObject *self)
{
    FutureObject *fut = (FutureObject *)self;
    if (!fut->fut_log_tb || fut->fut_loop == NULL) {
        return;
    }
    fut->fut_log_tb = 0;
    future_report_from_finalizer(self, future_report_unretrieved);
}

/* tp_dealloc of Future and Task, which differ in their tp_clear. */
void
future_dealloc_impl(PyObject *self, inquiry clear)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (PyObject_CallFinalizerFromDealloc(self) < 0) {
        return;     /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    if (((FutureObject *)self)->fut_weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    (void)clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static void
future_dealloc(PyObject *self)
{
    future_dealloc_impl(self, future_clear);
}

static PyObject *future_new_iter(PyObject *self);

PyDoc_STRVAR(future_result_doc,
"result($self, /)\n--\n\n"
"Return the result the future was finished with.\n\n"
"If the future was finished with an exception, that exception is\n"
"raised instead; CancelledError if it was cancelled, and\n"
"InvalidStateError if it is not done yet.");

PyDoc_STRVAR(future_exception_doc,
"exception($self, /)\n--\n\n"
"Return the exception the future was finished with, or None.\n\n"
"None means that the future has a result.  Only a done future can\n"
"answer: CancelledError is raised if it was cancelled, and\n"
"InvalidStateError if it is not done yet.");

PyDoc_STRVAR(future_set_result_doc,
"set_result($self, result, /)\n--\n\n"
"Finish the future with result and schedule its done callbacks.\n\n"
"InvalidStateError is raised if the future is done already.");

PyDoc_STRVAR(future_set_exception_doc,
"set_exception($self, exception, /)\n--\n\n"
"Finish the future with an exception and schedule its done callbacks.\n\n"
"exception is an exception instance, or a class that is called without\n"
"arguments to make one; StopIteration is refused with TypeError, since it\n"
"cannot travel through a coroutine.  InvalidStateError is raised if the\n"
"future is done already.");

PyDoc_STRVAR(future_add_done_callback_doc,
"add_done_callback($self, fn, /, *, context=None)\n--\n\n"
"Have fn(future) called once the future is done.\n\n"
"The call goes through the event loop's call_soon(), in context (a\n"
"contextvars.Context; a copy of the current one when None).  If the\n"
"future is done already, the call is scheduled at once.");

PyDoc_STRVAR(future_remove_done_callback_doc,
"remove_done_callback($self, fn, /)\n--\n\n"
"Take fn out of the done callbacks, as many times as it was added.\n\n"
"Return the number of callbacks removed.");

PyDoc_STRVAR(future_cancel_doc,
"cancel($self, /, msg=None)\n--\n\n"
"Cancel the future and schedule its done callbacks.\n\n"
"Return False, changing nothing, when the future is done already.\n"
"Otherwise the future becomes cancelled, keeping msg for the\n"
"CancelledError it raises from then on, and True is returned.");

PyDoc_STRVAR(future_cancelled_doc,
"cancelled($self, /)\n--\n\n"
"Tell whether the future was cancelled.");

PyDoc_STRVAR(future_done_doc,
"done($self, /)\n--\n\n"
"Tell whether the future is done.\n\n"
"A future is done once it has a result or an exception, or once it was\n"
"cancelled.");

PyDoc_STRVAR(future_get_loop_doc,
"get_loop($self, /)\n--\n\n"
"Return the loop this future belongs to.");

PyDoc_STRVAR(future__make_cancelled_error_doc,
"_make_cancelled_error($self, /)\n--\n\n"
"Return the CancelledError to raise for this cancelled future.\n\n"
"That is the error saved when the cancellation happened, if any, or else\n"
"a new one carrying the cancel message.  The saved error is forgotten,\n"
"so call this once per cancellation handled.");

PyDoc_STRVAR(future__repr_info_doc,
"_repr_info($self, /)\n--\n\n"
"Return the list of words repr() shows after the class name.");

PyDoc_STRVAR(future_class_getitem_doc,
"__class_getitem__($type, item, /)\n--\n\n"
"Return the class parameterised by item (see PEP 585).");

static PyMethodDef future_methods[] = {
    {"result", future_result, METH_NOARGS, future_result_doc},
    {"exception", future_exception, METH_NOARGS, future_exception_doc},
    {"set_result", future_set_result, METH_O, future_set_result_doc},
    {"set_exception", future_set_exception, METH_O,
     future_set_exception_doc},
    {"add_done_callback",
     (PyCFunction)(void (*)(void))future_add_done_callback,
     METH_FASTCALL | METH_KEYWORDS, future_add_done_callback_doc},
    {"remove_done_callback", future_remove_done_callback, METH_O,
     future_remove_done_callback_doc},
    {"cancel", (PyCFunction)(void (*)(void))future_cancel,
     METH_FASTCALL | METH_KEYWORDS, future_cancel_doc},
    {"cancelled", future_cancelled, METH_NOARGS, future_cancelled_doc},
    {"done", future_done, METH_NOARGS, future_done_doc},
    {"get_loop", future_get_loop, METH_NOARGS, future_get_loop_doc},
    {"_make_cancelled_error", future__make_cancelled_error, METH_NOARGS,
     future__make_cancelled_error_doc},
    {"_repr_info", future__repr_info, METH_NOARGS, future__repr_info_doc},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     future_class_getitem_doc},
    {NULL, NULL}
};

static PyGetSetDef future_getsets[] = {
    {"_state", future_get_state, NULL, NULL, NULL},
    {"_asyncio_future_blocking", future_get_blocking, set_flag_field, NULL,
     FIELD(FutureObject, fut_blocking)},
    {"_log_traceback", get_flag_field, future_set_log_traceback, NULL,
     FIELD(FutureObject, fut_log_tb)},
    {"_loop", get_object_field, NULL, NULL, FIELD(FutureObject, fut_loop)},
    {"_callbacks", future_get_callbacks, NULL, NULL, NULL},
    {"_result", get_object_field, NULL, NULL,
     FIELD(FutureObject, fut_result)},
    {"_exception", get_object_field, NULL, NULL,
     FIELD(FutureObject, fut_exception)},
    {"_source_traceback", get_object_field, NULL, NULL,
     FIELD(FutureObject, fut_source_tb)},
    {"_cancel_message", get_object_field, future_set_cancel_message, NULL,
     FIELD(FutureObject, fut_cancel_msg)},
    {NULL}
};

static PyMemberDef future_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(FutureObject, fut_dict),
     READONLY},
    {"__weaklistoffset__", T_PYSSIZET,
     offsetof(FutureObject, fut_weakreflist), READONLY},
    {NULL}
};

PyDoc_STRVAR(future_doc,
"Future(*, loop=None)\n--\n\n"
"The outcome of an operation that has not finished yet.\n\n"
"A future starts out pending and is finished once: with a result, with\n"
"an exception, or by being cancelled.  It belongs to an event loop: loop,\n"
"or when that is None the current event loop.\n\n"
"Its interface mostly follows concurrent.futures.Future, except that:\n\n"
"- it is not thread-safe: use it from its event loop's thread;\n"
"- result() and exception() take no timeout, and raise\n"
"  InvalidStateError instead of waiting when the future is not done;\n"
"- done callbacks, added with add_done_callback(), are always run\n"
"  through the event loop's call_soon();\n"
"- concurrent.futures.wait() and as_completed() cannot take it.");

static PyType_Slot future_slots[] = {
    {Py_tp_doc, (void *)future_doc},
    {Py_tp_dealloc, future_dealloc},
    {Py_tp_repr, future_tp_repr},
    {Py_tp_traverse, future_traverse},
    {Py_tp_clear, future_clear},
    {Py_tp_iter, future_new_iter},
    {Py_am_await, future_new_iter},
    {Py_tp_methods, future_methods},
    {Py_tp_getset, future_getsets},
    {Py_tp_members, future_members},
    {Py_tp_init, future_tp_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_finalize, future_finalize},
    {0, NULL}
};

static PyType_Spec future_spec = {
    .name = "_asyncio.Future",
    .basicsize = sizeof(FutureObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE
              | Py_TPFLAGS_IMMUTABLETYPE),
    .slots = future_slots,
};


/* ======================================================================
 * FutureIter: the iterator returned by Future.__await__ / __iter__
 *
 * It behaves like the generator of the pure-Python __await__:
 *     if not self.done():
 *         self._asyncio_future_blocking = True
 *         yield self
 *     if not self.done():
 *         raise RuntimeError("await wasn't used with future")
 *     return self.result()
 * ====================================================================== */

typedef struct {
    PyObject_HEAD
    FutureObject *future;   /* NULL once finished; freelist link when free */
    int yielded;
} FutureIterObject;

static void
futureiter_dealloc(PyObject *self)
{
    freelist_object_dealloc(self, ASYNCIO_OFFSET(future.iter_freelist),
                            ASYNCIO_OFFSET(future.FutureIterType));
}

static PyObject *
future_new_iter(PyObject *self)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    FutureIterObject *it = (FutureIterObject *)freelist_new(
        &st->future.iter_freelist, st->future.FutureIterType);
    if (it == NULL) {
        return NULL;
    }
    it->future = (FutureObject *)Py_NewRef(self);
    it->yielded = 0;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

/* done() for any future: internal state for ours, else the method. */
static int
future_is_done(asyncio_state *st, FutureObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return fut->fut_state != STATE_PENDING;
    }
    PyObject *res = PyObject_CallMethodNoArgs((PyObject *)fut, st->str_done);
    if (res == NULL) {
        return -1;
    }
    int done = PyObject_IsTrue(res);
    Py_DECREF(res);
    return done;
}

static PySendResult
futureiter_am_send(PyObject *self, PyObject *Py_UNUSED(arg),
                   PyObject **presult)
{
    FutureIterObject *it = (FutureIterObject *)self;
    FutureObject *fut = it->future;
    if (fut == NULL) {
        *presult = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        *presult = NULL;
        return PYGEN_ERROR;
    }
    /* a subclass's done() or _asyncio_future_blocking setter may close
       this iterator, which drops its reference */
    Py_INCREF(fut);
    int native = Future_IsNative(st, fut);
    int done = future_is_done(st, fut);
    if (done < 0) {
        goto error;
    }
    if (!done) {
        if (!it->yielded) {
            it->yielded = 1;
            if (native) {
                fut->fut_blocking = 1;
            }
            else if (PyObject_SetAttr((PyObject *)fut, st->str_blocking,
                                      Py_True) < 0) {
                goto error;
            }
            *presult = (PyObject *)fut;
            return PYGEN_NEXT;
        }
        PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        goto error;
    }
    /* Finished: the iterator is exhausted whatever result() does. */
    Py_CLEAR(it->future);
    PyObject *res;
    if (native) {
        res = future_result_impl(st, fut);
    }
    else {
        res = PyObject_CallMethodNoArgs((PyObject *)fut, st->str_result);
    }
    Py_DECREF(fut);
    if (res == NULL) {
        *presult = NULL;
        return PYGEN_ERROR;
    }
    *presult = res;
    return PYGEN_RETURN;

error:
    Py_CLEAR(it->future);
    Py_DECREF(fut);
    *presult = NULL;
    return PYGEN_ERROR;
}

static PyObject *
futureiter_iternext(PyObject *self)
{
    PyObject *res;
    switch (futureiter_am_send(self, Py_None, &res)) {
    case PYGEN_NEXT:
        return res;
    case PYGEN_RETURN:
        if (res != Py_None) {
            (void)_PyGen_SetStopIterationValue(res);
        }
        Py_DECREF(res);
        return NULL;
    default:
        return NULL;
    }
}

static PyObject *
futureiter_send(PyObject *self, PyObject *arg)
{
    PyObject *res;
    switch (futureiter_am_send(self, arg, &res)) {
    case PYGEN_NEXT:
        return res;
    case PYGEN_RETURN:
        (void)_PyGen_SetStopIterationValue(res);
        Py_DECREF(res);
        return NULL;
    default:
        return NULL;
    }
}

/* throw(value), throw(type[, value[, traceback]]): validated like a
   generator's throw(); the exception then propagates out and the iterator
   is finished, as for the pure-Python generator. */
static PyObject *
futureiter_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "throw expected at least 1 argument%s, got %zd",
                     nargs > 3 ? " and at most 3" : "", nargs);
        return NULL;
    }
    PyObject *type = args[0];
    PyObject *val = nargs > 1 ? args[1] : Py_None;
    PyObject *tb = nargs > 2 ? args[2] : Py_None;

    if (tb != Py_None && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback object");
        return NULL;
    }
    if (PyExceptionClass_Check(type)) {
        Py_INCREF(type);
        val = val == Py_None ? NULL : Py_NewRef(val);
        tb = tb == Py_None ? NULL : Py_NewRef(tb);
        PyErr_NormalizeException(&type, &val, &tb);
        if (PyErr_Occurred()) {
            /* instantiating the class failed */
            Py_XDECREF(type);
            Py_XDECREF(val);
            Py_XDECREF(tb);
            return NULL;
        }
    }
    else if (PyExceptionInstance_Check(type)) {
        if (val != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate "
                            "value");
            return NULL;
        }
        val = Py_NewRef(type);
        type = Py_NewRef(PyExceptionInstance_Class(type));
        if (tb == Py_None) {
            tb = PyException_GetTraceback(val);
        }
        else {
            Py_INCREF(tb);
        }
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from "
                     "BaseException, not %.200s", Py_TYPE(type)->tp_name);
        return NULL;
    }
    Py_CLEAR(((FutureIterObject *)self)->future);
    PyErr_Restore(type, val, tb);
    return NULL;
}

static PyObject *
futureiter_close(PyObject *self, PyObject *Py_UNUSED(arg))
{
    Py_CLEAR(((FutureIterObject *)self)->future);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(futureiter_send_doc,
"send($self, value, /)\n--\n\n"
"Resume the await, as a generator's send() does; value is ignored.\n\n"
"While the future is pending, the first call yields the future itself\n"
"(the task that awaits it then waits for it), and a second one raises\n"
"RuntimeError.  Once the future is done, StopIteration carries its\n"
"result, or result() raises.");

PyDoc_STRVAR(futureiter_throw_doc,
"throw($self, typ, val=None, tb=None, /)\n--\n\n"
"Raise an exception at the await, as a generator's throw() does.\n\n"
"typ is an exception class (made into an instance from val) or an\n"
"instance; tb, if not None, becomes its traceback.  The exception\n"
"propagates to the caller and the iterator is finished.");

PyDoc_STRVAR(futureiter_close_doc,
"close($self, /)\n--\n\n"
"Finish the iterator, as a generator's close() does.\n\n"
"The future itself is left as it is.");

static PyMethodDef futureiter_methods[] = {
    {"send", futureiter_send, METH_O, futureiter_send_doc},
    {"throw", (PyCFunction)(void (*)(void))futureiter_throw, METH_FASTCALL,
     futureiter_throw_doc},
    {"close", futureiter_close, METH_NOARGS, futureiter_close_doc},
    {NULL, NULL}
};

PyDoc_STRVAR(futureiter_doc,
"What awaiting a Future iterates over.\n\n"
"It yields the future while the future is pending, once, and then\n"
"returns the future's result.");

static PyType_Slot futureiter_slots[] = {
    {Py_tp_doc, (void *)futureiter_doc},
    {Py_tp_dealloc, futureiter_dealloc},
    {Py_tp_traverse, freelist_object_traverse},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, futureiter_iternext},
    {Py_am_send, futureiter_am_send},
    {Py_tp_methods, futureiter_methods},
    {0, NULL}
};

static PyType_Spec futureiter_spec = {
    .name = "_asyncio.FutureIter",
    .basicsize = sizeof(FutureIterObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
              | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION),
    .slots = futureiter_slots,
};


/* ---------- futures._set_result_unless_cancelled() ----------
 *
 * The callback transports and sleep() schedule to settle a future later:
 * it gets its result unless it was cancelled meanwhile.  An exact Future
 * is settled here; any other object's cancelled() and set_result() are
 * called, as the pure function calls them. */

static PyObject *
future__set_result_unless_cancelled(PyObject *module, PyObject *const *args,
                                    Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"fut", "result"};
    PyObject *a[2];
    if (parse_args("_set_result_unless_cancelled", args, nargs, kwnames,
                   names, 2, 2, 2, a) < 0) {
        return NULL;
    }
    asyncio_state *st = get_module_state(module);
    PyObject *fut = a[0], *result = a[1];
    if (Future_CheckExact(st, fut)) {
        FutureObject *f = (FutureObject *)fut;
        if (f->fut_state == STATE_CANCELLED) {
            Py_RETURN_NONE;
        }
        return none_or_error(future_set_result_impl(st, f, result));
    }
    int cancelled = call_truth(PyObject_CallMethodNoArgs(fut,
                                                         st->str_cancelled));
    if (cancelled != 0) {
        return cancelled < 0 ? NULL : Py_NewRef(Py_None);
    }
    return none_or_error(drop_result(PyObject_CallMethodOneArg(
        fut, st->future.str_set_result, result)));
}

static PyMethodDef future_functions[] = {
    FASTCALL_KW("_set_result_unless_cancelled",
                future__set_result_unless_cancelled,
                PyDoc_STR("_set_result_unless_cancelled($module, /, fut, "
                          "result)\n--\n\n"
                          "Give fut its result, unless it was cancelled "
                          "meanwhile.\n\n"
                          "Transports and sleep() schedule this to settle a "
                          "future later.")),
    {NULL, NULL}
};

/* ---------- The part ---------- */

static int
future_exec(PyObject *module, asyncio_state *st)
{
    /* the await iterator links the freelist through its future field */
    Py_BUILD_ASSERT(offsetof(FutureIterObject, future)
                    == offsetof(FreelistObject, ref));
    future_state *fs = &st->future;
    fs->FutureType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &future_spec, NULL);
    if (fs->FutureType == NULL) {
        return -1;
    }
    /* No type slot exists for this in 3.11: calling the exact class skips
       building a keyword dict (see future_vectorcall()). */
    fs->FutureType->tp_vectorcall = future_vectorcall;
    fs->FutureIterType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &futureiter_spec, NULL);
    if (fs->FutureIterType == NULL) {
        return -1;
    }
    if (future_add_native_type(st, fs->FutureType) < 0
        || PyModule_AddFunctions(module, future_functions) < 0) {
        return -1;
    }
    return PyModule_AddType(module, fs->FutureType);
}

static void
future_part_clear(asyncio_state *st)
{
    freelist_clear(&st->future.iter_freelist);
    for (int i = 0; i < FUTURE_NATIVE_TYPES; i++) {
        st->future.native[i] = NULL;
    }
}

static const asyncio_name future_names[] = {
    ASYNCIO_NAME(future.str_repr_info, "_repr_info"),
    ASYNCIO_NAME(future.str_set_result, "set_result"),
    ASYNCIO_NAME(future.state_names[STATE_PENDING], "PENDING"),
    ASYNCIO_NAME(future.state_names[STATE_CANCELLED], "CANCELLED"),
    ASYNCIO_NAME(future.state_names[STATE_FINISHED], "FINISHED"),
};

static const size_t future_refs[] = {
    ASYNCIO_OFFSET(future.FutureType),
    ASYNCIO_OFFSET(future.FutureIterType),
    ASYNCIO_OFFSET(future.repr_info),
};

const asyncio_part future_part = {
    .names = future_names,
    .nnames = Py_ARRAY_LENGTH(future_names),
    .exec = future_exec,
    .refs = future_refs,
    .nrefs = Py_ARRAY_LENGTH(future_refs),
    .clear = future_part_clear,
};
