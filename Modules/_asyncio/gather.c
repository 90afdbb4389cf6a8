/*
 * gather: _gather() and _GatheringFuture
 *
 * asyncio.gather() hands its arguments to _gather(), which does what the
 * pure-Python body does: wrap each distinct argument in a future (a task
 * for a coroutine), add one done callback to each that is not done yet,
 * and return a _GatheringFuture over them, having counted the children
 * that were done already (an eager task that finished, say) without a
 * turn of the loop, as 3.12 does.  The done callback is a GatherCallback
 * object holding the pure version's closure (the children, their count,
 * how many finished, return_exceptions and the outer future), so a gather
 * costs two objects instead of a function, its cells and a dict that
 * lives as long as the children.  A child that gather() made (a task for
 * a coroutine argument) and that finished with a result before gather()
 * returned is let go, its result kept in its place: in a tree of eager
 * tasks most children are such, and would otherwise stay alive until
 * their last sibling is done (see gather_release_finished()).  Outside a
 * running loop, and when tasks._GatheringFuture is not ours, _gather()
 * declines and the pure-Python body runs (with its warnings pointing at
 * the right frame, or making whatever class was patched in).
 */

#include "module.h"

typedef struct {
    FutureObject gf_future;
    PyObject *gf_children;          /* _children */
    PyObject *gf_released;          /* NULL, or the callback's released */
    int gf_cancel_requested;        /* _cancel_requested */
} GatheringFutureObject;

typedef struct {
    PyObject_HEAD
    PyObject *outer;                /* NULL until made, as in bpo-46672 */
    PyObject *children;             /* list */
    /* NULL, or a tuple as long as children that holds, where children
       holds st->gather.released, the result of the child let go there */
    PyObject *released;
    PyObject *return_exceptions;
    Py_ssize_t nfuts;
    Py_ssize_t nfinished;
    vectorcallfunc vectorcall;
} GatherCallbackObject;

#define Gathering_CheckExact(st, obj) \
    Py_IS_TYPE((obj), (st)->gather.GatheringFutureType)

/* ---------- gather: what it asks of any future ---------- */

/* fut.cancelled(); -1 on error. */
static int
gather_child_cancelled(asyncio_state *st, PyObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return ((FutureObject *)fut)->fut_state == STATE_CANCELLED;
    }
    return call_truth(PyObject_CallMethodNoArgs(fut, st->str_cancelled));
}

/* fut.exception(), new reference. */
static PyObject *
gather_child_exception(asyncio_state *st, PyObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return future_exception_impl(st, (FutureObject *)fut);
    }
    return PyObject_CallMethodNoArgs(fut, st->gather.str_exception);
}

/* fut._make_cancelled_error(), new reference. */
static PyObject *
gather_child_cancelled_error(asyncio_state *st, PyObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return future_make_cancelled_error(st, (FutureObject *)fut);
    }
    return PyObject_CallMethodNoArgs(fut, st->str_make_cancelled_error);
}

/* What a child contributes to the results: CancelledError(msg or ''),
   its exception, or its result (new reference). */
static PyObject *
gather_child_outcome(asyncio_state *st, PyObject *fut)
{
    int cancelled = gather_child_cancelled(st, fut);
    if (cancelled < 0) {
        return NULL;
    }
    if (cancelled) {
        /* A new exception, not _make_cancelled_error(): it goes into a
           list, so it gets no __context__. */
        PyObject *msg;
        if (Future_IsNative(st, fut)) {
            msg = new_ref_or_none(((FutureObject *)fut)->fut_cancel_msg);
        }
        else {
            msg = PyObject_GetAttr(fut, st->gather.str_cancel_message);
        }
        if (msg == NULL) {
            return NULL;
        }
        if (msg == Py_None) {
            Py_SETREF(msg, PyUnicode_FromStringAndSize(NULL, 0));
            if (msg == NULL) {
                return NULL;
            }
        }
        PyObject *exc = PyObject_CallOneArg(st->CancelledError, msg);
        Py_DECREF(msg);
        return exc;
    }
    PyObject *res = gather_child_exception(st, fut);
    if (res == Py_None) {
        Py_DECREF(res);
        if (Future_IsNative(st, fut)) {
            return future_result_impl(st, (FutureObject *)fut);
        }
        return PyObject_CallMethodNoArgs(fut, st->str_result);
    }
    return res;
}

/* ---------- gather: the done callback ---------- */

/* The result of the child released at children[i] (new reference). */
static PyObject *
gather_released_result(asyncio_state *st, GatherCallbackObject *cb,
                       Py_ssize_t i)
{
    if (cb->released == NULL || i >= PyTuple_GET_SIZE(cb->released)) {
        /* only a list taken with gc.get_referents() could get here */
        PyErr_SetString(PyExc_RuntimeError,
                        "gather(): the children list was changed behind "
                        "its back");
        return NULL;
    }
    return Py_NewRef(PyTuple_GET_ITEM(cb->released, i));
}

/* Every child is done: the results in argument order to the outer future,
   or, when it was cancelled meanwhile, the CancelledError of the last
   child (the pure version's loop variable). */
static int
gather_finish(asyncio_state *st, GatherCallbackObject *cb, PyObject *outer,
              PyObject *fut)
{
    PyObject *results = PyList_New(0);
    if (results == NULL) {
        return -1;
    }
    PyObject *last = Py_NewRef(fut);
    PyObject *children = Py_NewRef(cb->children);
    int rc = 0;
    /* the list is outer._children too: re-read its size on every step */
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(children); i++) {
        Py_SETREF(last, Py_NewRef(PyList_GET_ITEM(children, i)));
        PyObject *res = last == st->gather.released
                        ? gather_released_result(st, cb, i)
                        : gather_child_outcome(st, last);
        rc = res != NULL ? PyList_Append(results, res) : -1;
        Py_XDECREF(res);
    }
    Py_DECREF(children);
    if (rc == 0) {
        GatheringFutureObject *gf = (GatheringFutureObject *)outer;
        if (gf->gf_cancel_requested) {
            /* gather() itself was cancelled: that wins over
               return_exceptions (bpo-32684); a released child would
               have made a plain CancelledError() */
            PyObject *exc = last == st->gather.released
                            ? PyObject_CallNoArgs(st->CancelledError)
                            : gather_child_cancelled_error(st, last);
            rc = exc != NULL ? future_set_exception_impl(
                                   st, (FutureObject *)outer, exc)
                             : -1;
            Py_XDECREF(exc);
        }
        else {
            rc = future_set_result_impl(st, (FutureObject *)outer, results);
        }
    }
    Py_DECREF(last);
    Py_DECREF(results);
    return rc;
}

/* The pure version's _done_callback(fut). */
static int
gather_child_done(asyncio_state *st, GatherCallbackObject *cb, PyObject *fut)
{
    cb->nfinished++;
    PyObject *outer = cb->outer;
    if (outer == NULL
        || ((FutureObject *)outer)->fut_state != STATE_PENDING) {
        /* nobody will look at it: mark the exception retrieved */
        int cancelled = gather_child_cancelled(st, fut);
        if (cancelled != 0) {
            return cancelled;
        }
        return drop_result(gather_child_exception(st, fut));
    }
    int return_exceptions = PyObject_IsTrue(cb->return_exceptions);
    if (return_exceptions < 0) {
        return -1;
    }
    if (!return_exceptions) {
        int cancelled = gather_child_cancelled(st, fut);
        if (cancelled < 0) {
            return -1;
        }
        PyObject *exc = cancelled ? gather_child_cancelled_error(st, fut)
                                  : gather_child_exception(st, fut);
        if (exc == NULL) {
            return -1;
        }
        int rc = 0;
        if (exc != Py_None) {
            rc = future_set_exception_impl(st, (FutureObject *)outer, exc);
            Py_DECREF(exc);
            return rc < 0 ? -1 : 1;
        }
        Py_DECREF(exc);
    }
    if (cb->nfinished == cb->nfuts) {
        return gather_finish(st, cb, outer, fut);
    }
    return 0;
}

static PyObject *
gather_callback_vectorcall(PyObject *self, PyObject *const *args,
                           size_t nargsf, PyObject *kwnames)
{
    static const char *const names[] = {"fut"};
    PyObject *fut;
    if (parse_args("_done_callback", args, PyVectorcall_NARGS(nargsf),
                   kwnames, names, 1, 1, 1, &fut) < 0) {
        return NULL;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL || ensure_helpers(st) < 0) {
        return NULL;
    }
    /* what the callback reaches must outlive the call */
    Py_INCREF(self);
    PyObject *outer = Py_XNewRef(((GatherCallbackObject *)self)->outer);
    int rc = gather_child_done(st, (GatherCallbackObject *)self, fut);
    Py_XDECREF(outer);
    Py_DECREF(self);
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
gather_callback_get_qualname(PyObject *self, void *Py_UNUSED(c))
{
    return PyUnicode_FromString("gather.<locals>._done_callback");
}

static PyObject *
gather_callback_get_name(PyObject *self, void *Py_UNUSED(c))
{
    return PyUnicode_FromString("_done_callback");
}

static PyObject *
gather_callback_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<function gather.<locals>._done_callback "
                                "at %p>", self);
}

static int
gather_callback_traverse(PyObject *self, visitproc visit, void *arg)
{
    GatherCallbackObject *cb = (GatherCallbackObject *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(cb->outer);
    Py_VISIT(cb->children);
    Py_VISIT(cb->released);
    Py_VISIT(cb->return_exceptions);
    return 0;
}

static int
gather_callback_clear(PyObject *self)
{
    GatherCallbackObject *cb = (GatherCallbackObject *)self;
    Py_CLEAR(cb->outer);
    Py_CLEAR(cb->children);
    Py_CLEAR(cb->released);
    Py_CLEAR(cb->return_exceptions);
    return 0;
}

static void
gather_callback_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)gather_callback_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* What inspect.signature() shows for the pure version's closure,
   _done_callback(fut). */
static PyObject *
gather_callback_get_signature(PyObject *self, void *Py_UNUSED(c))
{
    static const char *const names[] = {"fut"};
    return make_signature("POSITIONAL_OR_KEYWORD", names, 1, 0);
}

static PyGetSetDef gather_callback_getsets[] = {
    {"__qualname__", gather_callback_get_qualname, NULL, NULL, NULL},
    {"__name__", gather_callback_get_name, NULL, NULL, NULL},
    {"__signature__", gather_callback_get_signature, NULL, NULL, NULL},
    {NULL}
};

static PyMemberDef gather_callback_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(GatherCallbackObject, vectorcall), READONLY},
    {NULL}
};

static PyType_Slot gather_callback_slots[] = {
    {Py_tp_dealloc, gather_callback_dealloc},
    {Py_tp_traverse, gather_callback_traverse},
    {Py_tp_clear, gather_callback_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_repr, gather_callback_repr},
    {Py_tp_getset, gather_callback_getsets},
    {Py_tp_members, gather_callback_members},
    {0, NULL}
};

/* Not creatable from Python (no tp_new): made only by _gather(). */
static PyType_Spec gather_callback_spec = {
    .name = "_asyncio.GatherCallback",
    .basicsize = sizeof(GatherCallbackObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = gather_callback_slots,
};

/* ---------- gather: _gather() ---------- */

/* tasks._ensure_future(arg, loop=loop) with loop None for "not known
   yet" (new reference).  Coroutines and our futures are done here; the
   rest goes to the Python function. */
static PyObject *
gather_ensure_future(asyncio_state *st, PyObject *arg, PyObject *loop,
                     PyObject *running)
{
    if (PyCoro_CheckExact(arg)) {
        PyObject *task = loop_create_task(
            st, loop != Py_None ? loop : running, arg);
        if (task == NULL && PyErr_ExceptionMatches(PyExc_RuntimeError)) {
            /* a closed loop: nobody will await the coroutine */
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyObject *res = PyObject_CallMethodNoArgs(arg,
                                                      st->gather.str_close);
            if (res == NULL) {
                _PyErr_ChainExceptions(type, value, tb);
            }
            else {
                Py_DECREF(res);
                PyErr_Restore(type, value, tb);
            }
        }
        return task;
    }
    PyObject *fut_loop;
    if (Future_IsNative(st, arg)
        && (fut_loop = ((FutureObject *)arg)->fut_loop) != NULL) {
        if (loop != Py_None && loop != fut_loop) {
            PyErr_SetString(PyExc_ValueError,
                            "The future belongs to a different loop than "
                            "the one specified as the loop argument");
            return NULL;
        }
        return Py_NewRef(arg);
    }
    PyObject *ensure = tasks_attr(st, st->gather.str_ensure_future);
    if (ensure == NULL) {
        return NULL;
    }
    PyObject *stack[2] = {arg, loop};
    PyObject *fut = PyObject_Vectorcall(ensure, stack, 1, st->kw_loop);
    Py_DECREF(ensure);
    return fut;
}

/* fut.add_done_callback(cb) */
static int
gather_add_callback(asyncio_state *st, PyObject *fut, PyObject *cb)
{
    if (Future_IsNative(st, fut)) {
        return future_add_done_callback_impl(st, (FutureObject *)fut, cb,
                                             NULL);
    }
    return drop_result(PyObject_CallMethodOneArg(
        fut, st->str_add_done_callback, cb));
}

/* fut.done(); -1 on error. */
static int
gather_child_is_done(asyncio_state *st, PyObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return ((FutureObject *)fut)->fut_state != STATE_PENDING;
    }
    return call_truth(PyObject_CallMethodNoArgs(fut, st->str_done));
}

/* A new child gets the done callback, or, when it is done already (an
   eager task that finished, a done future), goes to *done_p (a list made
   on first use), whose children _gather() hands to the callback itself
   once the outer future exists: no loop turn for them (3.12). */
static int
gather_watch_child(asyncio_state *st, GatherCallbackObject *cb,
                   PyObject *fut, PyObject **done_p)
{
    int done = gather_child_is_done(st, fut);
    if (done <= 0) {
        return done < 0 ? -1 : gather_add_callback(st, fut, (PyObject *)cb);
    }
    if (*done_p == NULL && (*done_p = PyList_New(0)) == NULL) {
        return -1;
    }
    return PyList_Append(*done_p, fut);
}

/* How many arguments gather() compares by identity, at most, to find
   duplicates before it keeps a dict of them (see gather_seen()). */
#define GATHER_SCAN_MAX 16

/* Whether arg compares and hashes by identity: an exact coroutine or one
   of our exact future classes (none defines __eq__ or __hash__). */
static int
gather_identity_keyed(asyncio_state *st, PyObject *arg)
{
    return PyCoro_CheckExact(arg) || Future_IsNative(st, arg);
}

/* The child made for items[i] if it repeats an earlier argument: a new
   reference, NULL (no exception) if it does not, NULL with an exception
   set on error.  The pure body keeps a dict from arguments to children
   (arg_to_fut); while every argument so far compares by identity and
   there are few, comparing pointers finds the same, without the dict,
   which is made (*seen_p) from the arguments so far as soon as an
   argument could have an __eq__ or __hash__ of its own, so that those
   run as in the pure body. */
static PyObject *
gather_seen(asyncio_state *st, GatherCallbackObject *cb, PyObject *items,
            Py_ssize_t i, PyObject **seen_p)
{
    PyObject *arg = PyTuple_GET_ITEM(items, i);
    if (*seen_p == NULL
        && (i >= GATHER_SCAN_MAX || !gather_identity_keyed(st, arg))) {
        PyObject *seen = PyDict_New();
        if (seen == NULL) {
            return NULL;
        }
        for (Py_ssize_t j = 0; j < i; j++) {
            if (PyDict_SetItem(seen, PyTuple_GET_ITEM(items, j),
                               PyList_GET_ITEM(cb->children, j)) < 0) {
                Py_DECREF(seen);
                return NULL;
            }
        }
        *seen_p = seen;
    }
    if (*seen_p == NULL) {
        for (Py_ssize_t j = 0; j < i; j++) {
            if (PyTuple_GET_ITEM(items, j) == arg) {
                return Py_NewRef(PyList_GET_ITEM(cb->children, j));
            }
        }
        return NULL;
    }
    int dup = PyDict_Contains(*seen_p, arg);
    if (dup <= 0) {
        return NULL;
    }
    return PyObject_GetItem(*seen_p, arg);
}

/* items[i] of gather(): its child future, new or seen before (new
   reference); cb->children holds those of the items before it.  loop is
   *loop_p, which the first new child sets. */
static PyObject *
gather_child(asyncio_state *st, GatherCallbackObject *cb, PyObject *items,
             Py_ssize_t i, PyObject **seen_p, PyObject **loop_p,
             PyObject *running, PyObject **done_p)
{
    PyObject *arg = PyTuple_GET_ITEM(items, i);
    PyObject *fut = gather_seen(st, cb, items, i, seen_p);
    if (fut != NULL || PyErr_Occurred()) {
        return fut;
    }
    fut = gather_ensure_future(st, arg, *loop_p, running);
    if (fut == NULL) {
        return NULL;
    }
    if (*loop_p == Py_None) {
        PyObject *loop = get_future_loop(st, fut);
        if (loop == NULL) {
            goto error;
        }
        Py_SETREF(*loop_p, loop);
    }
    if (fut != arg) {
        /* made here for arg: nobody else can await it, so its being
           destroyed pending is not worth a warning */
        if (Task_CheckExact(st, fut)) {
            ((TaskObject *)fut)->task_log_destroy_pending = 0;
        }
        else if (PyObject_SetAttr(fut, st->gather.str_log_destroy_pending,
                                  Py_False) < 0) {
            goto error;
        }
    }
    cb->nfuts++;
    if ((*seen_p != NULL && PyDict_SetItem(*seen_p, arg, fut) < 0)
        || gather_watch_child(st, cb, fut, done_p) < 0) {
        goto error;
    }
    return fut;
error:
    Py_DECREF(fut);
    return NULL;
}

static PyObject *gathering_new(asyncio_state *st, PyObject *children,
                               PyObject *loop);

/* The done callback's work for the children that were done when
   gathered, in their order: the last one may finish outer before
   gather() returns it. */
static int
gather_done_children(asyncio_state *st, GatherCallbackObject *cb,
                     PyObject *done)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(done); i++) {
        PyObject *fut = Py_NewRef(PyList_GET_ITEM(done, i));
        int rc = gather_child_done(st, cb, fut);
        Py_DECREF(fut);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* Whether gather() may let go of child, which it made: a future of ours
   that finished with a result and would give nothing else to the outer
   future (no exception, and a plain CancelledError() from
   _make_cancelled_error(), which gather_finish() may ask of the last
   child). */
static int
gather_child_releasable(asyncio_state *st, PyObject *child)
{
    if (!Future_IsNative(st, child)) {
        return 0;
    }
    FutureObject *fut = (FutureObject *)child;
    return fut->fut_state == STATE_FINISHED && fut->fut_exception == NULL
           && fut->fut_cancelled_exc == NULL
           && (fut->fut_cancel_msg == NULL || fut->fut_cancel_msg == Py_None);
}

/* Let go of the children that _gather() made for items and that had
   finished with a result when it watched them (eager tasks; done is
   gather_watch_child()'s list of the done ones, in order): each one's
   place in the children list takes st->gather.released, and its result
   goes to the same place in cb->released, a tuple.  Unless its coroutine
   kept it somewhere, nothing else holds such a task once done is dropped
   (the pure version's children list would keep it alive until the last
   sibling is done), so it is freed then, after this has finished; no
   Python code runs here, so the tuple is filled before anything could
   see it.  Reading outer._children puts done futures with those results
   back in their places (gathering_restore_children()).  A repeated
   argument keeps its child in its later places. */
static int
gather_release_finished(asyncio_state *st, GatherCallbackObject *cb,
                        PyObject *items, PyObject *done)
{
    PyObject *children = cb->children;
    Py_ssize_t n = Py_MIN(PyList_GET_SIZE(children),
                          PyTuple_GET_SIZE(items));
    Py_ssize_t i = 0;
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(done); j++, i++) {
        PyObject *child = PyList_GET_ITEM(done, j);
        while (i < n && PyList_GET_ITEM(children, i) != child) {
            i++;
        }
        if (i == n) {
            break;
        }
        if (child == PyTuple_GET_ITEM(items, i)
            || !gather_child_releasable(st, child)) {
            continue;
        }
        if (cb->released == NULL) {
            cb->released = PyTuple_New(n);
            if (cb->released == NULL) {
                return -1;
            }
            for (Py_ssize_t k = 0; k < n; k++) {
                PyTuple_SET_ITEM(cb->released, k, Py_NewRef(Py_None));
            }
            Py_XSETREF(((GatheringFutureObject *)cb->outer)->gf_released,
                       Py_NewRef(cb->released));
        }
        Py_SETREF(PyTuple_GET_ITEM(cb->released, i),
                  Py_NewRef(((FutureObject *)child)->fut_result));
        /* done still holds the child */
        Py_SETREF(PyList_GET_ITEM(children, i),
                  Py_NewRef(st->gather.released));
    }
    return 0;
}

static PyObject *
gather__gather(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "_gather() takes exactly 2 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    PyObject *items = args[0];
    if (!PyTuple_Check(items)) {
        PyErr_Format(PyExc_TypeError,
                     "_gather() argument 1 must be tuple, not %T", items);
        return NULL;
    }
    asyncio_state *st = get_module_state(module);
    int err;
    PyObject *running = get_running_loop_borrowed(st, &err);
    if (err < 0) {
        return NULL;
    }
    if (running == NULL || PyTuple_GET_SIZE(items) == 0) {
        Py_RETURN_NONE;
    }
    /* the pure body makes whatever tasks._GatheringFuture is then */
    PyObject *cls = tasks_attr(st, st->gather.str_gathering_future);
    if (cls == NULL) {
        return NULL;
    }
    Py_DECREF(cls);
    if (cls != (PyObject *)st->gather.GatheringFutureType) {
        Py_RETURN_NONE;
    }
    Py_INCREF(running);
    if (ensure_helpers(st) < 0) {
        Py_DECREF(running);
        return NULL;
    }
    GatherCallbackObject *cb = PyObject_GC_New(GatherCallbackObject,
                                               st->gather.GatherCallbackType);
    if (cb == NULL) {
        Py_DECREF(running);
        return NULL;
    }
    cb->outer = NULL;
    cb->children = PyList_New(0);
    cb->released = NULL;
    cb->return_exceptions = Py_NewRef(args[1]);
    cb->nfuts = 0;
    cb->nfinished = 0;
    cb->vectorcall = gather_callback_vectorcall;
    PyObject_GC_Track(cb);

    PyObject *outer = NULL;
    PyObject *loop = Py_NewRef(Py_None);
    PyObject *seen = NULL;          /* arg_to_fut, when needed */
    PyObject *done_children = NULL;
    if (cb->children == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        PyObject *fut = gather_child(st, cb, items, i, &seen, &loop,
                                     running, &done_children);
        if (fut == NULL) {
            goto done;
        }
        int rc = PyList_Append(cb->children, fut);
        Py_DECREF(fut);
        if (rc < 0) {
            goto done;
        }
    }
    outer = gathering_new(st, cb->children, loop);
    if (outer != NULL) {
        cb->outer = Py_NewRef(outer);
        if (done_children != NULL
            && (gather_done_children(st, cb, done_children) < 0
                || (((FutureObject *)outer)->fut_state == STATE_PENDING
                    && gather_release_finished(st, cb, items,
                                               done_children) < 0))) {
            Py_CLEAR(outer);
        }
    }
done:
    Py_XDECREF(done_children);
    Py_XDECREF(seen);
    Py_DECREF(loop);
    Py_DECREF(cb);
    Py_DECREF(running);
    return outer;
}

/* ---------- gather: _GatheringFuture ---------- */

static int
gathering_init_impl(asyncio_state *st, GatheringFutureObject *gf,
                    PyObject *children, PyObject *loop)
{
    if (loop == Py_None && !Py_OptimizeFlag) {
        PyErr_SetNone(PyExc_AssertionError);    /* assert loop is not None */
        return -1;
    }
    if (future_check_not_pending((PyObject *)gf) < 0
        || future_init_impl(st, &gf->gf_future, loop) < 0) {
        return -1;
    }
    Py_XSETREF(gf->gf_children, Py_NewRef(children));
    Py_CLEAR(gf->gf_released);
    gf->gf_cancel_requested = 0;
    return 0;
}

static PyObject *
gathering_new(asyncio_state *st, PyObject *children, PyObject *loop)
{
    PyTypeObject *tp = st->gather.GatheringFutureType;
    PyObject *self = tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (gathering_init_impl(st, (GatheringFutureObject *)self, children,
                            loop) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

static int
gathering_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"children", "loop", NULL};
    PyObject *children, *loop = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$O:_GatheringFuture",
                                     kwlist, &children, &loop)) {
        return -1;
    }
    if (loop == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "_GatheringFuture.__init__() missing 1 required "
                        "keyword-only argument: 'loop'");
        return -1;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return -1;
    }
    return gathering_init_impl(st, (GatheringFutureObject *)self, children,
                               loop);
}

/* cancel(msg): cancel the children rather than this future, which
   _gather()'s callback then finishes with CancelledError.  1 if some child
   took the cancellation. */
static int
gathering_cancel_impl(asyncio_state *st, FutureObject *fut, PyObject *msg)
{
    GatheringFutureObject *gf = (GatheringFutureObject *)fut;
    int done;
    if (Gathering_CheckExact(st, fut)) {
        done = fut->fut_state != STATE_PENDING;
    }
    else {
        done = call_truth(PyObject_CallMethodNoArgs((PyObject *)fut,
                                                    st->str_done));
        if (done < 0) {
            return -1;
        }
    }
    if (done) {
        return 0;
    }
    if (gf->gf_children == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_children");
        return -1;
    }
    PyObject *it = PyObject_GetIter(gf->gf_children);
    if (it == NULL) {
        return -1;
    }
    int ret = 0;
    PyObject *child;
    while ((child = PyIter_Next(it)) != NULL) {
        if (child == st->gather.released) {
            /* finished: its cancel() would have returned False */
            Py_DECREF(child);
            continue;
        }
        int rc = future_cancel_any(st, child, msg);
        Py_DECREF(child);
        if (rc < 0) {
            ret = -1;
            break;
        }
        if (rc && ret == 0) {
            ret = 1;
        }
    }
    Py_DECREF(it);
    if (ret < 0 || PyErr_Occurred()) {
        return -1;
    }
    if (ret) {
        gf->gf_cancel_requested = 1;
    }
    return ret;
}

static PyObject *
gathering_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    return future_cancel_method(self, args, nargs, kwnames,
                                gathering_cancel_impl);
}

/* Put back, in the places of the children gather_release_finished() let
   go, done futures with their results, before Python code sees the list:
   a reader of _children finds a done future with the right result where
   a child was, though not the task itself. */
static int
gathering_restore_children(asyncio_state *st, GatheringFutureObject *gf)
{
    /* Taken from gf first: making a future may run Python code
       (loop.get_debug()), which, reading _children again, then gets the
       list as it is rather than starting over without end.  Its items
       and size are read on every step, since that code may change it. */
    PyObject *released = gf->gf_released;
    gf->gf_released = NULL;
    PyObject *children = Py_NewRef(gf->gf_children);
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(children)
                                    && i < PyTuple_GET_SIZE(released); i++) {
        if (PyList_GET_ITEM(children, i) != st->gather.released) {
            continue;
        }
        PyObject *fut = future_new(st, gf->gf_future.fut_loop);
        rc = fut != NULL ? 0 : -1;
        if (rc == 0) {
            rc = future_set_result_impl(st, (FutureObject *)fut,
                                        PyTuple_GET_ITEM(released, i));
        }
        if (rc == 0 && i < PyList_GET_SIZE(children)
            && PyList_GET_ITEM(children, i) == st->gather.released) {
            rc = PyList_SetItem(children, i, Py_NewRef(fut));
        }
        Py_XDECREF(fut);
    }
    if (rc < 0 && gf->gf_released == NULL && gf->gf_children == children) {
        /* to be tried again on the next read */
        gf->gf_released = Py_NewRef(released);
    }
    Py_DECREF(children);
    Py_DECREF(released);
    return rc;
}

/* What reading or deleting a deleted _children raises. */
static void
gathering_raise_no_children(PyObject *self)
{
    PyErr_Format(PyExc_AttributeError,
                 "'%.200s' object has no attribute '_children'",
                 Py_TYPE(self)->tp_name);
}

static PyObject *
gathering_get_children(PyObject *self, void *Py_UNUSED(closure))
{
    GatheringFutureObject *gf = (GatheringFutureObject *)self;
    if (gf->gf_children == NULL) {
        gathering_raise_no_children(self);
        return NULL;
    }
    if (gf->gf_released != NULL) {
        asyncio_state *st = state_of(self);
        if (st == NULL || gathering_restore_children(st, gf) < 0) {
            return NULL;
        }
    }
    return Py_NewRef(gf->gf_children);
}

static int
gathering_set_children(PyObject *self, PyObject *value,
                       void *Py_UNUSED(closure))
{
    GatheringFutureObject *gf = (GatheringFutureObject *)self;
    if (value == NULL && gf->gf_children == NULL) {
        gathering_raise_no_children(self);
        return -1;
    }
    Py_XSETREF(gf->gf_children, Py_XNewRef(value));
    Py_CLEAR(gf->gf_released);
    return 0;
}

static int
gathering_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((GatheringFutureObject *)self)->gf_children);
    Py_VISIT(((GatheringFutureObject *)self)->gf_released);
    return future_traverse(self, visit, arg);
}

static int
gathering_clear(PyObject *self)
{
    Py_CLEAR(((GatheringFutureObject *)self)->gf_children);
    Py_CLEAR(((GatheringFutureObject *)self)->gf_released);
    return future_clear(self);
}

static void
gathering_dealloc(PyObject *self)
{
    future_dealloc_impl(self, gathering_clear);
}

static PyMethodDef gathering_methods[] = {
    {"cancel", (PyCFunction)(void (*)(void))gathering_cancel,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("cancel($self, /, msg=None)\n--\n\n"
               "Cancel the children instead of this future.\n\n"
               "Return False if this future is done already.  Otherwise "
               "call\ncancel(msg=msg) on each child and return True if "
               "any of them\naccepted.  This future is not cancelled here: "
               "the children's done\ncallbacks then finish it with a "
               "CancelledError.")},
    {NULL, NULL}
};

static PyGetSetDef gathering_getsets[] = {
    {"_children", gathering_get_children, gathering_set_children, NULL,
     NULL},
    {"_cancel_requested", get_flag_field, set_flag_field, NULL,
     FIELD(GatheringFutureObject, gf_cancel_requested)},
    {NULL}
};

static PyType_Slot gathering_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "_GatheringFuture(children, *, loop)\n--\n\n"
        "The future asyncio.gather() returns, over its children.\n\n"
        "The children's done callbacks finish it.  Its cancel() cancels the\n"
        "children rather than itself, so that, as with a task, being asked\n"
        "to cancel does not make it cancelled at once.")},
    {Py_tp_dealloc, gathering_dealloc},
    {Py_tp_traverse, gathering_traverse},
    {Py_tp_clear, gathering_clear},
    {Py_tp_finalize, future_finalize},
    {Py_tp_init, gathering_tp_init},
    {Py_tp_methods, gathering_methods},
    {Py_tp_getset, gathering_getsets},
    {0, NULL}
};

static PyType_Spec gathering_spec = {
    .name = "_asyncio._GatheringFuture",
    .basicsize = sizeof(GatheringFutureObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = gathering_slots,
};

static PyMethodDef gather_functions[] = {
    {"_gather", (PyCFunction)(void (*)(void))gather__gather, METH_FASTCALL,
     PyDoc_STR("_gather($module, coros_or_futures, return_exceptions, /)\n"
               "--\n\n"
               "The body of asyncio.gather() for a tuple of arguments: the "
               "outer\nfuture, or None, having done nothing, when the tuple "
               "is empty, no\nevent loop is running or "
               "tasks._GatheringFuture is not this\nmodule's.")},
    {NULL, NULL}
};


/* ---------- The part ---------- */

static int
gather_exec(PyObject *module, asyncio_state *st)
{
    gather_state *gs = &st->gather;
    gs->GatheringFutureType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &gathering_spec, (PyObject *)st->future.FutureType);
    if (gs->GatheringFutureType == NULL
        || PyModule_AddType(module, gs->GatheringFutureType) < 0
        || future_add_native_type(st, gs->GatheringFutureType) < 0) {
        return -1;
    }
    gs->GatherCallbackType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &gather_callback_spec, NULL);
    if (gs->GatherCallbackType == NULL) {
        return -1;
    }
    gs->released = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (gs->released == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, gather_functions);
}

static const asyncio_name gather_names[] = {
    ASYNCIO_NAME(gather.str_cancel_message, "_cancel_message"),
    ASYNCIO_NAME(gather.str_close, "close"),
    ASYNCIO_NAME(gather.str_ensure_future, "_ensure_future"),
    ASYNCIO_NAME(gather.str_exception, "exception"),
    ASYNCIO_NAME(gather.str_gathering_future, "_GatheringFuture"),
    ASYNCIO_NAME(gather.str_log_destroy_pending, "_log_destroy_pending"),
};

static const size_t gather_refs[] = {
    ASYNCIO_OFFSET(gather.GatheringFutureType),
    ASYNCIO_OFFSET(gather.GatherCallbackType),
    ASYNCIO_OFFSET(gather.released),
};

const asyncio_part gather_part = {
    .names = gather_names,
    .nnames = Py_ARRAY_LENGTH(gather_names),
    .exec = gather_exec,
    .refs = gather_refs,
    .nrefs = Py_ARRAY_LENGTH(gather_refs),
};
