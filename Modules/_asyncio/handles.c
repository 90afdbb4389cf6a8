/*
 * Handle and TimerHandle
 *
 * The objects call_soon(), call_later() and call_at() return and the
 * ready queue holds: a callback with its arguments and context.  Both
 * types share one struct (a plain Handle leaves the timer fields unused)
 * and so one traverse, clear and dealloc.  Plain handles are made and
 * dropped once per callback; their memory is kept in a freelist.
 *
 * A handle the loop core makes allocates nothing else when it can help
 * it, since every object that outlives a few callbacks costs the cyclic
 * GC a visit or three: a single argument is kept as it is (_args builds
 * the 1-tuple when read), and instead of a copy of the current context
 * the handle keeps that context's variables, from which the copy is made
 * when the callback runs or _context is read.
 */

#include "module.h"

/* The freelist of exact Handles (see freelist_at()). */
static freelist *
handle_freelist(asyncio_state *st, PyTypeObject *tp)
{
    return freelist_at(st, tp, ASYNCIO_OFFSET(handles.freelist),
                       ASYNCIO_OFFSET(handles.HandleType));
}


/* Memory for a handle of type tp, its fields NULL, not yet tracked. */
static HandleObject *
handle_alloc(asyncio_state *st, PyTypeObject *tp)
{
    HandleObject *h;
    freelist *fl = handle_freelist(st, tp);
    if (fl != NULL) {
        h = (HandleObject *)freelist_new(fl, tp);
    }
    else {
        h = (HandleObject *)tp->tp_alloc(tp, 0);
        if (h != NULL) {
            /* tp_alloc tracks the object; its fields are still NULL */
            PyObject_GC_UnTrack(h);
        }
    }
    if (h == NULL) {
        return NULL;
    }
    memset((char *)h + sizeof(PyObject), 0,
           sizeof(HandleObject) - sizeof(PyObject));
    return h;
}

/* asyncio.constants.DEBUG_STACK_DEPTH as read now (tests change it):
   0, or -1 with an exception set. */
int
debug_stack_depth(Py_ssize_t *limit)
{
    PyObject *depth = import_attr("asyncio.constants", "DEBUG_STACK_DEPTH");
    if (depth == NULL) {
        return -1;
    }
    *limit = PyNumber_AsSsize_t(depth, PyExc_OverflowError);
    Py_DECREF(depth);
    return *limit == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The handle's traceback in debug mode: the stack of the Python code that
   is running, i.e. the code that asked for the handle.  The pure-Python
   classes and loop methods take DEBUG_STACK_DEPTH frames from their own
   frames outwards, then drop those frames from the end; C functions have
   no frame, so the traceback is taken `drop` frames shorter instead.
   `debug` is loop.get_debug() when the caller knows it, else -1. */
static int
handle_set_source_traceback(asyncio_state *st, HandleObject *h, int drop,
                            int debug)
{
    if (debug < 0) {
        debug = loop_get_debug(st, h->h_loop);
    }
    if (debug <= 0) {
        return debug;
    }
    Py_ssize_t limit;
    if (ensure_helpers(st) < 0 || debug_stack_depth(&limit) < 0) {
        return -1;
    }
    PyObject *frame = (PyObject *)PyEval_GetFrame();
    h->h_source_tb = PyObject_CallFunction(
        st->extract_stack, "On", frame != NULL ? frame : Py_None,
        limit > drop ? limit - drop : 0);
    return h->h_source_tb == NULL ? -1 : 0;
}

/* The arguments as one object, as a Python method takes them: a new
   reference. */
PyObject *
cb_args_object(const cb_args *a)
{
    if (a->obj != NULL) {
        return Py_NewRef(a->obj);
    }
    PyObject *tuple = PyTuple_New(a->n);
    if (tuple == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < a->n; i++) {
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(a->items[i]));
    }
    return tuple;
}

/* handle._context: a new reference, None when it has none.  A copy of
   the context call_soon() found is made on first use. */
static PyObject *
handle_context(HandleObject *h)
{
    return context_ref(&h->h_context, &h->h_vars);
}

/* handle._args: a new reference, None when it has none.  A single
   argument gets its tuple on first use. */
static PyObject *
handle_args(HandleObject *h)
{
    if (h->h_arg != NULL) {
        PyObject *tuple = PyTuple_Pack(1, h->h_arg);
        if (tuple == NULL) {
            return NULL;
        }
        Py_CLEAR(h->h_arg);
        Py_XSETREF(h->h_args, tuple);
    }
    return new_ref_or_none(h->h_args);
}

/* A new Handle (when == NULL) or TimerHandle, as the loop core makes;
   context NULL or None means a copy of the current context; `drop` and
   `debug` are for its traceback (see handle_set_source_traceback()). */
HandleObject *
handle_new(asyncio_state *st, PyObject *when, PyObject *callback,
           const cb_args *args, PyObject *loop, PyObject *context, int drop,
           int debug)
{
    HandleObject *h = handle_alloc(st, when == NULL
                                       ? st->handles.HandleType
                                       : st->handles.TimerHandleType);
    if (h == NULL) {
        return NULL;
    }
    h->h_when = Py_XNewRef(when);
    h->h_loop = Py_NewRef(loop);
    h->h_callback = Py_NewRef(callback);
    if (args->obj == NULL && args->n == 1) {
        h->h_arg = Py_NewRef(args->items[0]);
    }
    else {
        h->h_args = cb_args_object(args);
    }
    PyObject_GC_Track(h);
    if ((h->h_arg == NULL && h->h_args == NULL)
        /* a copy of the current context is made in handle_context() */
        || context_keep(context, &h->h_context, &h->h_vars) < 0
        || handle_set_source_traceback(st, h, drop, debug) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

static PyObject *
handle_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwds)
{
    asyncio_state *st = state_of_type(tp);
    if (st == NULL) {
        return NULL;
    }
    HandleObject *h = handle_alloc(st, tp);
    if (h != NULL) {
        PyObject_GC_Track(h);
    }
    return (PyObject *)h;
}

/* Handle.__init__ and TimerHandle.__init__ (with_when) share this. */
static int
handle_init_impl(PyObject *self, PyObject *args, PyObject *kwds,
                 int with_when)
{
    static char *handle_kwlist[] = {"callback", "args", "loop", "context",
                                    NULL};
    static char *timer_kwlist[] = {"when", "callback", "args", "loop",
                                   "context", NULL};
    HandleObject *h = (HandleObject *)self;
    PyObject *when = NULL, *callback, *cbargs, *loop, *context = Py_None;
    int ok = with_when
        ? PyArg_ParseTupleAndKeywords(args, kwds, "OOOO|O:TimerHandle",
                                      timer_kwlist, &when, &callback,
                                      &cbargs, &loop, &context)
        : PyArg_ParseTupleAndKeywords(args, kwds, "OOO|O:Handle",
                                      handle_kwlist, &callback, &cbargs,
                                      &loop, &context);
    if (!ok) {
        return -1;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return -1;
    }
    context = context_or_copy(context);
    if (context == NULL) {
        return -1;
    }
    Py_XSETREF(h->h_context, context);
    Py_CLEAR(h->h_vars);
    Py_XSETREF(h->h_loop, Py_NewRef(loop));
    Py_XSETREF(h->h_callback, Py_NewRef(callback));
    Py_XSETREF(h->h_args, Py_NewRef(cbargs));
    Py_CLEAR(h->h_arg);
    h->h_cancelled = 0;
    Py_CLEAR(h->h_repr);
    Py_CLEAR(h->h_source_tb);
    /* TimerHandle.__init__ drops its own frame */
    if (handle_set_source_traceback(st, h, with_when, -1) < 0) {
        return -1;
    }
    if (with_when) {
        Py_XSETREF(h->h_when, Py_NewRef(when));
        h->h_scheduled = 0;
    }
    return 0;
}

static int
handle_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    return handle_init_impl(self, args, kwds, 0);
}

static int
timer_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    return handle_init_impl(self, args, kwds, 1);
}

/* ---------- Handle: running the callback ---------- */

/* tuple(args) for `f(*args)`: a new reference. */
static PyObject *
handle_star_args(PyObject *args)
{
    if (PyTuple_Check(args)) {
        return Py_NewRef(args);
    }
    if (Py_TYPE(args)->tp_iter == NULL && !PySequence_Check(args)) {
        /* what `ctx.run(cb, *args)` says */
        PyErr_Format(PyExc_TypeError,
                     "Value after * must be an iterable, not %.200s",
                     Py_TYPE(args)->tp_name);
        return NULL;
    }
    return PySequence_Tuple(args);
}

/* ctx.run(callback, *args) for a context that is not a Context: the
   pure-Python class calls whatever run() it has. */
static PyObject *
handle_call_in_foreign_context(PyObject *ctx, PyObject *callback,
                               PyObject *args)
{
    PyObject *run = PyObject_GetAttrString(ctx, "run");
    if (run == NULL) {
        return NULL;
    }
    PyObject *res = NULL;
    PyObject *argtuple = handle_star_args(args);
    if (argtuple != NULL) {
        PyObject *head = PyTuple_Pack(1, callback);
        PyObject *all = head != NULL ? PySequence_Concat(head, argtuple)
                                     : NULL;
        Py_XDECREF(head);
        if (all != NULL) {
            res = PyObject_Call(run, all, NULL);
            Py_DECREF(all);
        }
        Py_DECREF(argtuple);
    }
    Py_DECREF(run);
    return res;
}

/* callback(*argv[:argc]) inside ctx, a Context. */
static PyObject *
handle_call_in_context(PyObject *ctx, PyObject *callback,
                       PyObject *const *argv, Py_ssize_t argc)
{
    if (PyContext_Enter(ctx) < 0) {
        return NULL;
    }
    PyObject *res = PyObject_Vectorcall(callback, argv, argc, NULL);
    if (PyContext_Exit(ctx) < 0) {
        Py_CLEAR(res);
    }
    return res;
}

/* callback(*args) inside ctx. */
static PyObject *
handle_call(PyObject *ctx, PyObject *callback, PyObject *args)
{
    if (!PyContext_CheckExact(ctx)) {
        return handle_call_in_foreign_context(ctx, callback, args);
    }
    PyObject *argtuple = handle_star_args(args);
    if (argtuple == NULL) {
        return NULL;
    }
    PyObject *res = handle_call_in_context(ctx, callback,
                                           &PyTuple_GET_ITEM(argtuple, 0),
                                           PyTuple_GET_SIZE(argtuple));
    Py_DECREF(argtuple);
    return res;
}

/* callback(arg) inside ctx: handle_call() without the tuple. */
static PyObject *
handle_call_one(PyObject *ctx, PyObject *callback, PyObject *arg)
{
    if (PyContext_CheckExact(ctx)) {
        return handle_call_in_context(ctx, callback, &arg, 1);
    }
    PyObject *args = PyTuple_Pack(1, arg);
    PyObject *res = args != NULL ? handle_call(ctx, callback, args) : NULL;
    Py_XDECREF(args);
    return res;
}

/* format_helpers._format_callback_source(h._callback, h._args), with the
   fields as they are now (a callback may cancel its handle). */
static PyObject *
handle_callback_source(asyncio_state *st, HandleObject *h)
{
    if (import_once(&st->handles.format_callback_source,
                    "asyncio.format_helpers",
                    "_format_callback_source") < 0) {
        return NULL;
    }
    PyObject *args = handle_args(h);
    if (args == NULL) {
        return NULL;
    }
    PyObject *cb = new_ref_or_none(h->h_callback);
    PyObject *source = PyObject_CallFunctionObjArgs(
        st->handles.format_callback_source, cb, args, NULL);
    Py_DECREF(cb);
    Py_DECREF(args);
    return source;
}

/* The callback raised: hand the exception to the loop's handler with the
   context dict of the pure-Python class.  SystemExit and KeyboardInterrupt
   propagate.  -1 when an exception propagates. */
static int
handle_report_exception(asyncio_state *st, HandleObject *h)
{
    if (exception_propagates()) {
        return -1;
    }
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return -1;
    }
    int rc = -1;
    PyObject *context = NULL, *msg = NULL;
    PyObject *source = handle_callback_source(st, h);
    if (source == NULL) {
        goto done;
    }
    msg = PyUnicode_FromFormat("Exception in callback %S", source);
    Py_DECREF(source);
    if (msg == NULL) {
        goto done;
    }
    context = Py_BuildValue("{sOsOsO}", "message", msg, "exception", exc,
                            "handle", (PyObject *)h);
    if (context == NULL) {
        goto done;
    }
    if (h->h_source_tb != NULL) {
        PyObject *tb = Py_NewRef(h->h_source_tb);
        int truth = PyObject_IsTrue(tb);
        if (truth > 0) {
            truth = PyDict_SetItemString(context, "source_traceback", tb);
        }
        Py_DECREF(tb);
        if (truth < 0) {
            goto done;
        }
    }
    PyObject *loop = new_ref_or_none(h->h_loop);
    rc = drop_result(PyObject_CallMethodOneArg(
        loop, st->str_call_exception_handler, context));
    Py_DECREF(loop);
done:
    if (rc < 0) {
        /* raised while handling exc, as in the pure `except` clause */
        PyObject *tb = PyException_GetTraceback(exc);
        _PyErr_ChainExceptions(Py_NewRef(Py_TYPE(exc)), exc, tb);
    }
    else {
        Py_DECREF(exc);
    }
    Py_XDECREF(msg);
    Py_XDECREF(context);
    return rc;
}

/* Handle._run(): 0, or -1 when an exception propagates. */
int
handle_run(asyncio_state *st, HandleObject *h)
{
    /* the callback may cancel the handle, which drops these fields */
    PyObject *res = NULL;
    PyObject *ctx = handle_context(h);
    if (ctx != NULL) {
        PyObject *cb = new_ref_or_none(h->h_callback);
        if (h->h_arg != NULL) {
            PyObject *arg = Py_NewRef(h->h_arg);
            res = handle_call_one(ctx, cb, arg);
            Py_DECREF(arg);
        }
        else {
            PyObject *args = new_ref_or_none(h->h_args);
            res = handle_call(ctx, cb, args);
            Py_DECREF(args);
        }
        Py_DECREF(cb);
        Py_DECREF(ctx);
    }
    if (res != NULL) {
        Py_DECREF(res);
        return 0;
    }
    Py_INCREF(h);
    int rc = handle_report_exception(st, h);
    Py_DECREF(h);
    return rc;
}

static PyObject *
handle__run(CMETHOD_ARGS)
{
    if (check_no_args("_run", nargsf, kwnames) < 0) {
        return NULL;
    }
    return none_or_error(handle_run(cls_state(cls),
                                    (HandleObject *)op));
}

/* ---------- Handle: Python methods ---------- */

/* Handle.cancel() once _cancelled is false: in debug mode keep the repr,
   which shows the callback, then drop callback and arguments. */
static int
handle_do_cancel(asyncio_state *st, HandleObject *h)
{
    h->h_cancelled = 1;
    PyObject *loop = new_ref_or_none(h->h_loop);
    int debug = loop_get_debug(st, loop);
    Py_DECREF(loop);
    if (debug < 0) {
        return -1;
    }
    if (debug) {
        PyObject *r = PyObject_Repr((PyObject *)h);
        if (r == NULL) {
            return -1;
        }
        Py_XSETREF(h->h_repr, r);
    }
    Py_CLEAR(h->h_callback);
    Py_CLEAR(h->h_args);
    Py_CLEAR(h->h_arg);
    return 0;
}

int
handle_cancel_any(asyncio_state *st, PyObject *handle)
{
    if (Py_IS_TYPE(handle, st->handles.HandleType)) {
        HandleObject *h = (HandleObject *)handle;
        return h->h_cancelled ? 0 : handle_do_cancel(st, h);
    }
    return drop_result(PyObject_CallMethodNoArgs(handle, st->str_cancel));
}

static PyObject *
handle_cancel(CMETHOD_ARGS)
{
    if (check_no_args("cancel", nargsf, kwnames) < 0) {
        return NULL;
    }
    HandleObject *h = (HandleObject *)op;
    if (h->h_cancelled) {
        Py_RETURN_NONE;
    }
    return none_or_error(
        handle_do_cancel(cls_state(cls), h));
}

/* TimerHandle.cancel(): tell the loop first, so it can count cancelled
   timers in its heap. */
static PyObject *
timer_cancel(CMETHOD_ARGS)
{
    if (check_no_args("cancel", nargsf, kwnames) < 0) {
        return NULL;
    }
    HandleObject *h = (HandleObject *)op;
    if (h->h_cancelled) {
        Py_RETURN_NONE;
    }
    asyncio_state *st = cls_state(cls);
    PyObject *loop = new_ref_or_none(h->h_loop);
    PyObject *res = PyObject_CallMethodOneArg(
        loop, st->handles.str_timer_handle_cancelled, op);
    Py_DECREF(loop);
    if (drop_result(res) < 0) {
        return NULL;
    }
    if (h->h_cancelled) {   /* the loop's method cancelled it */
        Py_RETURN_NONE;
    }
    return none_or_error(handle_do_cancel(st, h));
}

static PyObject *
handle_cancelled(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(((HandleObject *)self)->h_cancelled);
}

static PyObject *
handle_get_context(PyObject *self, PyObject *unused)
{
    return handle_context((HandleObject *)self);
}

static PyObject *
timer_when(PyObject *self, PyObject *unused)
{
    return new_ref_or_none(((HandleObject *)self)->h_when);
}

/* The list of Handle._repr_info(): class name, "cancelled", the callback,
   where the handle was made. */
static PyObject *
handle_repr_info_list(asyncio_state *st, HandleObject *h)
{
    PyObject *name = PyType_GetName(Py_TYPE(h));
    if (name == NULL) {
        return NULL;
    }
    PyObject *info = PyList_New(1);
    if (info == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    PyList_SET_ITEM(info, 0, name);
    if (h->h_cancelled && PyList_Append(info, st->str_cancelled) < 0) {
        goto error;
    }
    if (h->h_callback != NULL && h->h_callback != Py_None) {
        PyObject *source = handle_callback_source(st, h);
        if (source == NULL || PyList_Append(info, source) < 0) {
            Py_XDECREF(source);
            goto error;
        }
        Py_DECREF(source);
    }
    if (h->h_source_tb != NULL) {
        PyObject *tb = Py_NewRef(h->h_source_tb);
        PyObject *created = NULL;
        int truth = PyObject_IsTrue(tb);
        if (truth > 0) {
            PyObject *frame = PySequence_GetItem(tb, -1);
            PyObject *file = NULL, *line = NULL;
            if (frame != NULL) {
                file = PySequence_GetItem(frame, 0);
                line = file != NULL ? PySequence_GetItem(frame, 1) : NULL;
            }
            if (line != NULL) {
                created = PyUnicode_FromFormat("created at %S:%S",
                                               file, line);
            }
            Py_XDECREF(frame);
            Py_XDECREF(file);
            Py_XDECREF(line);
            truth = created != NULL ? PyList_Append(info, created) : -1;
            Py_XDECREF(created);
        }
        Py_DECREF(tb);
        if (truth < 0) {
            goto error;
        }
    }
    return info;
error:
    Py_DECREF(info);
    return NULL;
}

static PyObject *
handle__repr_info(CMETHOD_ARGS)
{
    if (check_no_args("_repr_info", nargsf, kwnames) < 0) {
        return NULL;
    }
    return handle_repr_info_list(cls_state(cls),
                                 (HandleObject *)op);
}

/* TimerHandle._repr_info(): Handle's, with "when=..." after the name (and
   after "cancelled"). */
static PyObject *
timer__repr_info(CMETHOD_ARGS)
{
    HandleObject *h = (HandleObject *)op;
    PyObject *info = handle__repr_info(op, cls, args, nargsf, kwnames);
    if (info == NULL) {
        return NULL;
    }
    PyObject *when = new_ref_or_none(h->h_when);
    PyObject *item = PyUnicode_FromFormat("when=%S", when);
    Py_DECREF(when);
    if (item == NULL
        || PyList_Insert(info, h->h_cancelled ? 2 : 1, item) < 0) {
        Py_XDECREF(item);
        Py_DECREF(info);
        return NULL;
    }
    Py_DECREF(item);
    return info;
}

/* repr(): the kept repr of a handle cancelled in debug mode, else
   "<" + " ".join(self._repr_info()) + ">". */
static PyObject *
handle_tp_repr(PyObject *self)
{
    HandleObject *h = (HandleObject *)self;
    if (h->h_repr != NULL && h->h_repr != Py_None) {
        return Py_NewRef(h->h_repr);
    }
    PyObject *info = PyObject_CallMethod(self, "_repr_info", NULL);
    if (info == NULL) {
        return NULL;
    }
    PyObject *sep = PyUnicode_FromString(" ");
    PyObject *joined = sep != NULL ? PyUnicode_Join(sep, info) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(info);
    if (joined == NULL) {
        return NULL;
    }
    PyObject *res = PyUnicode_FromFormat("<%U>", joined);
    Py_DECREF(joined);
    return res;
}

/* ---------- TimerHandle: ordering ---------- */

static Py_hash_t
timer_tp_hash(PyObject *self)
{
    PyObject *when = new_ref_or_none(((HandleObject *)self)->h_when);
    Py_hash_t res = PyObject_Hash(when);
    Py_DECREF(when);
    return res;
}

/* Field i of the timer's __eq__ (_when, _callback, _args): a new
   reference. */
static PyObject *
timer_eq_field(HandleObject *h, int i)
{
    switch (i) {
    case 0:
        return new_ref_or_none(h->h_when);
    case 1:
        return new_ref_or_none(h->h_callback);
    default:
        return handle_args(h);
    }
}

/* `a and b and c and d` of the pure __eq__: the first false comparison
   result, or the last one.  Comparisons run arbitrary code, which may
   reassign the fields: each pair is read just before its comparison. */
static PyObject *
timer_eq(HandleObject *a, HandleObject *b)
{
    Py_INCREF(a);
    Py_INCREF(b);
    PyObject *res = NULL;
    for (int i = 0; i < 3; i++) {
        PyObject *x = timer_eq_field(a, i);
        PyObject *y = x != NULL ? timer_eq_field(b, i) : NULL;
        res = y != NULL ? PyObject_RichCompare(x, y, Py_EQ) : NULL;
        Py_XDECREF(x);
        Py_XDECREF(y);
        int truth = res != NULL ? PyObject_IsTrue(res) : -1;
        if (truth <= 0) {
            if (truth < 0) {
                Py_CLEAR(res);
            }
            goto done;
        }
        Py_DECREF(res);
    }
    res = PyBool_FromLong(a->h_cancelled == b->h_cancelled);
done:
    Py_DECREF(a);
    Py_DECREF(b);
    return res;
}

/* __lt__ and friends compare _when; __le__ and __ge__ fall back on
   self.__eq__(other) as the pure-Python class does. */
static PyObject *
timer_tp_richcompare(PyObject *self, PyObject *other, int op)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    if (!TimerHandle_Check(st, other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    HandleObject *a = (HandleObject *)self, *b = (HandleObject *)other;
    if (op == Py_EQ || op == Py_NE) {
        PyObject *eq = timer_eq(a, b);
        if (eq == NULL || op == Py_EQ) {
            return eq;
        }
        int truth = PyObject_IsTrue(eq);
        Py_DECREF(eq);
        return truth < 0 ? NULL : PyBool_FromLong(!truth);
    }
    int strict = (op == Py_LE || op == Py_LT) ? Py_LT : Py_GT;
    PyObject *x = new_ref_or_none(a->h_when);
    PyObject *y = new_ref_or_none(b->h_when);
    PyObject *res = PyObject_RichCompare(x, y, strict);
    Py_DECREF(x);
    Py_DECREF(y);
    if (res == NULL || op == strict) {
        return res;
    }
    int truth = PyObject_IsTrue(res);
    if (truth != 0) {
        if (truth < 0) {
            Py_CLEAR(res);
        }
        return res;
    }
    Py_DECREF(res);
    return PyObject_CallMethod(self, "__eq__", "O", other);
}

/* ---------- Handle: object lifetime ---------- */

static int
handle_traverse(PyObject *self, visitproc visit, void *arg)
{
    HandleObject *h = (HandleObject *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(h->h_callback);
    Py_VISIT(h->h_args);
    Py_VISIT(h->h_arg);
    Py_VISIT(h->h_loop);
    Py_VISIT(h->h_context);
    Py_VISIT(h->h_vars);
    Py_VISIT(h->h_source_tb);
    Py_VISIT(h->h_repr);
    Py_VISIT(h->h_when);
    return 0;
}

static int
handle_clear(PyObject *self)
{
    HandleObject *h = (HandleObject *)self;
    Py_CLEAR(h->h_callback);
    Py_CLEAR(h->h_args);
    Py_CLEAR(h->h_arg);
    Py_CLEAR(h->h_loop);
    Py_CLEAR(h->h_context);
    Py_CLEAR(h->h_vars);
    Py_CLEAR(h->h_source_tb);
    Py_CLEAR(h->h_repr);
    Py_CLEAR(h->h_when);
    return 0;
}

static void
handle_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (((HandleObject *)self)->h_weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    (void)handle_clear(self);
    freelist_keep_or_free(handle_freelist(dealloc_state(tp), tp), self);
    Py_DECREF(tp);
}

PyDoc_STRVAR(handle_cancel_doc,
"cancel($self, /)\n--\n\n"
"Keep the callback from running, if it has not run yet.\n\n"
"The handle is marked cancelled and lets go of the callback and its\n"
"arguments (when the loop is in debug mode, it first keeps its repr,\n"
"which shows them).  Cancelling a cancelled handle does nothing.");

PyDoc_STRVAR(handle_cancelled_doc,
"cancelled($self, /)\n--\n\n"
"Tell whether the handle was cancelled.");

PyDoc_STRVAR(handle_get_context_doc,
"get_context($self, /)\n--\n\n"
"Return the contextvars.Context the callback runs in.");

PyDoc_STRVAR(handle__run_doc,
"_run($self, /)\n--\n\n"
"Call the callback with its arguments, in its context.\n\n"
"An exception it raises goes to the loop's exception handler.");

PyDoc_STRVAR(handle__repr_info_doc,
"_repr_info($self, /)\n--\n\n"
"Return the list of words repr() shows.");

PyDoc_STRVAR(timer_cancel_doc,
"cancel($self, /)\n--\n\n"
"Keep the callback from running, if it has not run yet.\n\n"
"The loop is told first, so that it can count the cancelled timers it\n"
"holds; then, as with Handle.cancel(), the handle is marked cancelled\n"
"and lets go of the callback and its arguments.  Cancelling a cancelled\n"
"handle does nothing.");

PyDoc_STRVAR(timer_when_doc,
"when($self, /)\n--\n\n"
"Return the time the callback is scheduled for.\n\n"
"It is an absolute time on the loop's clock, which loop.time() reads.");

/* ---------- Handle: copying ---------- */

/* The pure-Python classes keep their attributes in __slots__, which
   object.__getstate__() reads, so copy.copy() of a handle works there; it
   refuses a C type with fields of its own.  __getstate__ gives what the
   pure class would: (instance dict or None, {slot name: value}), the
   names being the pure class's slots and those of Python subclasses. */
static const char *const handle_state_names[] = {
    "_callback", "_args", "_cancelled", "_loop", "_source_traceback",
    "_repr", "_context", NULL
};
static const char *const timer_state_names[] = {"_scheduled", "_when", NULL};

static int
handle_state_add(PyObject *self, PyObject *slots, PyObject *name)
{
    PyObject *value;
    if (_PyObject_LookupAttr(self, name, &value) < 0) {
        return -1;
    }
    if (value == NULL) {
        return 0;               /* an unset slot is left out, as by object */
    }
    int rc = PyDict_SetItem(slots, name, value);
    Py_DECREF(value);
    return rc;
}

static int
handle_state_add_names(PyObject *self, PyObject *slots,
                       const char *const *names)
{
    for (; *names != NULL; names++) {
        PyObject *name = PyUnicode_InternFromString(*names);
        if (name == NULL) {
            return -1;
        }
        int rc = handle_state_add(self, slots, name);
        Py_DECREF(name);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* The slots Python subclasses declare, as copyreg lists them. */
static int
handle_state_add_subclass_slots(PyObject *self, PyObject *slots)
{
    PyObject *names = _PyImport_GetModuleAttrString("copyreg", "_slotnames");
    if (names == NULL) {
        return -1;
    }
    Py_SETREF(names, PyObject_CallOneArg(names, (PyObject *)Py_TYPE(self)));
    if (names == NULL) {
        return -1;
    }
    if (!PyList_Check(names)) {
        Py_DECREF(names);
        PyErr_SetString(PyExc_TypeError,
                        "copyreg._slotnames() did not return a list");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); i++) {
        PyObject *name = Py_NewRef(PyList_GET_ITEM(names, i));
        int rc = handle_state_add(self, slots, name);
        Py_DECREF(name);
        if (rc < 0) {
            Py_DECREF(names);
            return -1;
        }
    }
    Py_DECREF(names);
    return 0;
}

static PyObject *
handle_getstate_impl(PyObject *self, const char *const *extra)
{
    PyObject *slots = PyDict_New();
    if (slots == NULL) {
        return NULL;
    }
    if (handle_state_add_names(self, slots, handle_state_names) < 0
        || (extra != NULL
            && handle_state_add_names(self, slots, extra) < 0)
        || handle_state_add_subclass_slots(self, slots) < 0)
    {
        Py_DECREF(slots);
        return NULL;
    }
    PyObject *dict = Py_None;
    PyObject **dictptr = _PyObject_GetDictPtr(self);
    if (dictptr != NULL && *dictptr != NULL && PyDict_GET_SIZE(*dictptr)) {
        dict = *dictptr;
    }
    PyObject *state = PyTuple_Pack(2, dict, slots);
    Py_DECREF(slots);
    return state;
}

static PyObject *
handle___getstate__(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return handle_getstate_impl(self, NULL);
}

static PyObject *
timer___getstate__(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return handle_getstate_impl(self, timer_state_names);
}

PyDoc_STRVAR(handle___getstate___doc,
"__getstate__($self, /)\n--\n\n"
"Return the handle's state, for copy and pickle.\n\n"
"As for the pure-Python class, whose attributes are slots: the instance\n"
"dict (or None) and a dict of the slots' values.");

static PyMethodDef handle_methods[] = {
    CMETHOD("cancel", handle_cancel, handle_cancel_doc),
    {"cancelled", handle_cancelled, METH_NOARGS, handle_cancelled_doc},
    {"get_context", handle_get_context, METH_NOARGS,
     handle_get_context_doc},
    CMETHOD("_run", handle__run, handle__run_doc),
    CMETHOD("_repr_info", handle__repr_info, handle__repr_info_doc),
    {"__getstate__", handle___getstate__, METH_NOARGS,
     handle___getstate___doc},
    {NULL, NULL}
};

static PyMethodDef timer_methods[] = {
    CMETHOD("cancel", timer_cancel, timer_cancel_doc),
    {"when", timer_when, METH_NOARGS, timer_when_doc},
    CMETHOD("_repr_info", timer__repr_info, handle__repr_info_doc),
    {"__getstate__", timer___getstate__, METH_NOARGS,
     handle___getstate___doc},
    {NULL, NULL}
};

#define HANDLE_MEMBER(name, field) \
    {name, T_OBJECT, offsetof(HandleObject, field), 0, NULL}

static PyMemberDef handle_members[] = {
    HANDLE_MEMBER("_callback", h_callback),
    HANDLE_MEMBER("_loop", h_loop),
    HANDLE_MEMBER("_source_traceback", h_source_tb),
    HANDLE_MEMBER("_repr", h_repr),
    {"__weaklistoffset__", T_PYSSIZET,
     offsetof(HandleObject, h_weakreflist), READONLY},
    {NULL}
};

static PyMemberDef timer_members[] = {
    HANDLE_MEMBER("_when", h_when),
    {NULL}
};

/* _args and _context, which a handle may keep in another form until read
   (`lazy`, which `get` turns into the attribute); assigning or deleting
   either drops that form. */
typedef struct {
    PyObject *(*get)(HandleObject *);
    size_t field;
    size_t lazy;
} handle_lazy_attr;

static const handle_lazy_attr handle_args_attr = {
    handle_args, offsetof(HandleObject, h_args), offsetof(HandleObject, h_arg)
};
static const handle_lazy_attr handle_context_attr = {
    handle_context, offsetof(HandleObject, h_context),
    offsetof(HandleObject, h_vars)
};

static PyObject *
handle_get_lazy(PyObject *self, void *closure)
{
    return ((const handle_lazy_attr *)closure)->get((HandleObject *)self);
}

static int
handle_set_lazy(PyObject *self, PyObject *val, void *closure)
{
    const handle_lazy_attr *attr = closure;
    Py_CLEAR(*(PyObject **)field_of(self, (void *)attr->lazy));
    Py_XSETREF(*(PyObject **)field_of(self, (void *)attr->field),
               Py_XNewRef(val));
    return 0;
}

/* __weakref__, which the pure class names in its __slots__: the first weak
   reference to the handle, or None. */
static PyObject *
handle_get_weakref(PyObject *self, void *Py_UNUSED(closure))
{
    PyObject *head = ((HandleObject *)self)->h_weakreflist;
    return Py_NewRef(head != NULL ? head : Py_None);
}

static PyGetSetDef handle_getsets[] = {
    {"_cancelled", get_flag_field, set_flag_field, NULL,
     FIELD(HandleObject, h_cancelled)},
    {"__weakref__", handle_get_weakref, NULL,
     PyDoc_STR("list of weak references to the object (if defined)"), NULL},
    {"_args", handle_get_lazy, handle_set_lazy, NULL,
     (void *)&handle_args_attr},
    {"_context", handle_get_lazy, handle_set_lazy, NULL,
     (void *)&handle_context_attr},
    {NULL}
};

static PyGetSetDef timer_getsets[] = {
    {"_scheduled", get_flag_field, set_flag_field, NULL,
     FIELD(HandleObject, h_scheduled)},
    {NULL}
};

static PyType_Slot handle_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "Handle(callback, args, loop, context=None)\n--\n\n"
        "A callback scheduled on an event loop, with its arguments.\n\n"
        "loop.call_soon() and the other methods that schedule a callback\n"
        "return one; its cancel() keeps the callback from running.  When it\n"
        "runs, callback(*args) is called in context, a copy of the current\n"
        "contextvars.Context when None.")},
    {Py_tp_dealloc, handle_dealloc},
    {Py_tp_repr, handle_tp_repr},
    {Py_tp_traverse, handle_traverse},
    {Py_tp_clear, handle_clear},
    {Py_tp_methods, handle_methods},
    {Py_tp_members, handle_members},
    {Py_tp_getset, handle_getsets},
    {Py_tp_init, handle_tp_init},
    {Py_tp_new, handle_tp_new},
    {0, NULL}
};

static PyType_Spec handle_spec = {
    .name = "_asyncio.Handle",
    .basicsize = sizeof(HandleObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE
              | Py_TPFLAGS_IMMUTABLETYPE),
    .slots = handle_slots,
};

static PyType_Slot timer_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "TimerHandle(when, callback, args, loop, context=None)\n--\n\n"
        "A callback scheduled on an event loop for a given time.\n\n"
        "loop.call_later() and loop.call_at() return one.  when is the time\n"
        "on the loop's clock; timer handles are ordered by it.  Otherwise a\n"
        "timer handle is a Handle.")},
    {Py_tp_dealloc, handle_dealloc},
    {Py_tp_traverse, handle_traverse},
    {Py_tp_clear, handle_clear},
    {Py_tp_hash, timer_tp_hash},
    {Py_tp_richcompare, timer_tp_richcompare},
    {Py_tp_methods, timer_methods},
    {Py_tp_members, timer_members},
    {Py_tp_getset, timer_getsets},
    {Py_tp_init, timer_tp_init},
    {0, NULL}
};

static PyType_Spec timer_spec = {
    .name = "_asyncio.TimerHandle",
    .basicsize = sizeof(HandleObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE
              | Py_TPFLAGS_IMMUTABLETYPE),
    .slots = timer_slots,
};


/* ---------- The part ---------- */

static int
handles_exec(PyObject *module, asyncio_state *st)
{
    /* a Handle links the freelist through its callback field */
    Py_BUILD_ASSERT(offsetof(HandleObject, h_callback)
                    == offsetof(FreelistObject, ref));
    handles_state *hs = &st->handles;
    hs->HandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &handle_spec, NULL);
    if (hs->HandleType == NULL) {
        return -1;
    }
    hs->TimerHandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &timer_spec, (PyObject *)hs->HandleType);
    if (hs->TimerHandleType == NULL) {
        return -1;
    }
    if (PyModule_AddType(module, hs->HandleType) < 0
        || PyModule_AddType(module, hs->TimerHandleType) < 0) {
        return -1;
    }
    return 0;
}

static void
handles_clear(asyncio_state *st)
{
    freelist_clear(&st->handles.freelist);
}

static const asyncio_name handles_names[] = {
    ASYNCIO_NAME(handles.str_timer_handle_cancelled,
                 "_timer_handle_cancelled"),
};

static const size_t handles_refs[] = {
    ASYNCIO_OFFSET(handles.HandleType),
    ASYNCIO_OFFSET(handles.TimerHandleType),
    ASYNCIO_OFFSET(handles.format_callback_source),
};

const asyncio_part handles_part = {
    .names = handles_names,
    .nnames = Py_ARRAY_LENGTH(handles_names),
    .exec = handles_exec,
    .refs = handles_refs,
    .nrefs = Py_ARRAY_LENGTH(handles_refs),
    .clear = handles_clear,
};
