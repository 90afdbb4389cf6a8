/*
 * Task: a coroutine wrapped in a Future.
 *
 * asyncio.Task in C, with the behaviour of the pure-Python class in
 * Lib/asyncio/tasks.py.  A step sends into the coroutine with
 * PyIter_Send(), blocks on the module's futures without calling their
 * methods, and hands the loop recycled callback objects instead of bound
 * methods; Task(coro, ...) is a vectorcall.
 */

#include "module.h"

static PyObject *task_step_impl(asyncio_state *st, TaskObject *task,
                                PyObject *exc);
static int task_cancel_impl(asyncio_state *st, FutureObject *fut,
                            PyObject *msg);

/* ---------- Task: the callables it hands to the loop and futures ----------
 *
 * The pure Task passes bound methods, self.__step and self.__wakeup.  These
 * objects play that part: they keep the task alive exactly as long as the
 * loop or a future holds them, are named like the bound methods
 * (__qualname__ "Task.__step" / "Task.__wakeup", which is what asyncio's
 * reprs and debug messages show), compare equal like bound methods, and
 * are called through vectorcall without building a bound-method object.
 */

enum { TASK_CB_STEP, TASK_CB_WAKEUP };

typedef struct taskcallbackobject {
    PyObject_HEAD
    TaskObject *task;
    int kind;
    vectorcallfunc vectorcall;
} TaskCallbackObject;

static void
task_callback_dealloc(PyObject *self)
{
    freelist_object_dealloc(self, ASYNCIO_OFFSET(task.callback_freelist),
                            ASYNCIO_OFFSET(task.TaskCallbackType));
}

static PyObject *
task_wakeup_impl(asyncio_state *st, TaskObject *task, PyObject *fut)
{
    PyObject *res;
    if (Future_IsNative(st, fut)) {
        res = future_result_impl(st, (FutureObject *)fut);
    }
    else {
        res = PyObject_CallMethodNoArgs(fut, st->str_result);
    }
    if (res != NULL) {
        /* As in the pure version, the result is not passed on: the
           coroutine reads it from the future when it resumes. */
        Py_DECREF(res);
        return task_step_impl(st, task, NULL);
    }
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return NULL;
    }
    res = task_step_impl(st, task, exc);
    Py_DECREF(exc);
    return res;
}

static PyObject *
task_callback_vectorcall(PyObject *self, PyObject *const *args,
                         size_t nargsf, PyObject *kwnames)
{
    TaskCallbackObject *cb = (TaskCallbackObject *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    const char *name = cb->kind == TASK_CB_STEP ? "__step" : "__wakeup";
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes no keyword arguments", name);
        return NULL;
    }
    asyncio_state *st = state_of(cb->task);
    if (st == NULL) {
        return NULL;
    }
    /* The task must outlive the call even if the loop drops this. */
    PyObject *task = Py_NewRef(cb->task);
    PyObject *res = NULL;
    if (cb->kind == TASK_CB_STEP) {
        if (nargs > 1) {
            PyErr_Format(PyExc_TypeError,
                         "__step() takes at most 1 argument (%zd given)",
                         nargs);
        }
        else {
            PyObject *exc = nargs == 1 && args[0] != Py_None ? args[0]
                                                             : NULL;
            res = task_step_impl(st, (TaskObject *)task, exc);
        }
    }
    else if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "__wakeup() takes exactly 1 argument (%zd given)",
                     nargs);
    }
    else {
        res = task_wakeup_impl(st, (TaskObject *)task, args[0]);
    }
    Py_DECREF(task);
    return res;
}

static PyObject *
task_callback_new(asyncio_state *st, TaskObject *task, int kind)
{
    TaskCallbackObject *cb = (TaskCallbackObject *)freelist_new(
        &st->task.callback_freelist, st->task.TaskCallbackType);
    if (cb == NULL) {
        return NULL;
    }
    cb->task = (TaskObject *)Py_NewRef(task);
    cb->kind = kind;
    cb->vectorcall = task_callback_vectorcall;
    PyObject_GC_Track(cb);
    return (PyObject *)cb;
}

/* The task's context: a new reference (None for a task not initialised),
   made again from its variables if the task kept only those (see
   task_keep_vars()); NULL on error. */
static PyObject *
task_context_ref(TaskObject *task)
{
    return context_ref(&task->task_context, &task->task_context_vars);
}

/* The task's __wakeup and context, for a future that kept just the task
   (see future_add_wakeup()). */
static int
task_wakeup_of(asyncio_state *st, PyObject *task, PyObject **wakeup,
               PyObject **context)
{
    *context = task_context_ref((TaskObject *)task);
    if (*context == NULL) {
        return -1;
    }
    *wakeup = task_callback_new(st, (TaskObject *)task, TASK_CB_WAKEUP);
    if (*wakeup == NULL) {
        Py_CLEAR(*context);
        return -1;
    }
    return 0;
}

static PyObject *
task_callback_get_qualname(PyObject *self, void *Py_UNUSED(c))
{
    return PyUnicode_FromString(((TaskCallbackObject *)self)->kind
                                == TASK_CB_STEP ? "Task.__step"
                                                : "Task.__wakeup");
}

static PyObject *
task_callback_get_name(PyObject *self, void *Py_UNUSED(c))
{
    return PyUnicode_FromString(((TaskCallbackObject *)self)->kind
                                == TASK_CB_STEP ? "__step" : "__wakeup");
}

static PyObject *
task_callback_get_self(PyObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(((TaskCallbackObject *)self)->task);
}

static PyObject *
task_callback_repr(PyObject *self)
{
    TaskCallbackObject *cb = (TaskCallbackObject *)self;
    return PyUnicode_FromFormat("<bound method Task.%s of %R>",
                                cb->kind == TASK_CB_STEP ? "__step"
                                                         : "__wakeup",
                                (PyObject *)cb->task);
}

static PyObject *
task_callback_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !Py_IS_TYPE(b, Py_TYPE(a))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    TaskCallbackObject *x = (TaskCallbackObject *)a;
    TaskCallbackObject *y = (TaskCallbackObject *)b;
    int eq = x->task == y->task && x->kind == y->kind;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static Py_hash_t
task_callback_hash(PyObject *self)
{
    TaskCallbackObject *cb = (TaskCallbackObject *)self;
    Py_hash_t h = _Py_HashPointer(cb->task) ^ cb->kind;
    return h == -1 ? -2 : h;
}

/* What inspect.signature() shows, as for the bound methods these stand
   for: __step(exc=None), __wakeup(future).  The arguments are taken by
   position only, as 3.11's own accelerator takes its wakeup's. */
static PyObject *
task_callback_get_signature(PyObject *self, void *Py_UNUSED(c))
{
    static const char *const step[] = {"exc"};
    static const char *const wakeup[] = {"future"};
    int is_step = ((TaskCallbackObject *)self)->kind == TASK_CB_STEP;
    return make_signature("POSITIONAL_ONLY", is_step ? step : wakeup, 1,
                          is_step);
}

static PyGetSetDef task_callback_getsets[] = {
    {"__qualname__", task_callback_get_qualname, NULL, NULL, NULL},
    {"__name__", task_callback_get_name, NULL, NULL, NULL},
    {"__self__", task_callback_get_self, NULL, NULL, NULL},
    {"__signature__", task_callback_get_signature, NULL, NULL, NULL},
    {NULL}
};

static PyMemberDef task_callback_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(TaskCallbackObject, vectorcall), READONLY},
    {NULL}
};

static PyType_Slot task_callback_slots[] = {
    {Py_tp_dealloc, task_callback_dealloc},
    {Py_tp_traverse, freelist_object_traverse},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_repr, task_callback_repr},
    {Py_tp_richcompare, task_callback_richcompare},
    {Py_tp_hash, task_callback_hash},
    {Py_tp_getset, task_callback_getsets},
    {Py_tp_members, task_callback_members},
    {0, NULL}
};

static PyType_Spec task_callback_spec = {
    .name = "_asyncio.TaskCallback",
    .basicsize = sizeof(TaskCallbackObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
              | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION
              | Py_TPFLAGS_HAVE_VECTORCALL),
    .slots = task_callback_slots,
};

static int
task_schedule_step(asyncio_state *st, TaskObject *task, PyObject *exc)
{
    PyObject *cb = task_callback_new(st, task, TASK_CB_STEP);
    if (cb == NULL) {
        return -1;
    }
    PyObject *ctx = task_context_ref(task);
    if (ctx == NULL) {
        Py_DECREF(cb);
        return -1;
    }
    PyObject *loop = Py_NewRef(task->task_future.fut_loop);
    int rc = loop_call_soon(st, loop, cb, exc, ctx);
    Py_DECREF(ctx);
    Py_DECREF(loop);
    Py_DECREF(cb);
    return rc;
}

/* Schedule a step that throws RuntimeError(formatted message). */
static int
task_schedule_error(asyncio_state *st, TaskObject *task, const char *fmt,
                    ...)
{
    va_list vargs;
    va_start(vargs, fmt);
    PyObject *exc = new_exception_v(PyExc_RuntimeError, fmt, vargs);
    va_end(vargs);
    if (exc == NULL) {
        return -1;
    }
    int rc = task_schedule_step(st, task, exc);
    Py_DECREF(exc);
    return rc;
}

/* futures._get_loop(): fut.get_loop() if it exists, else fut._loop. */
PyObject *
get_future_loop(asyncio_state *st, PyObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return new_ref_or_none(((FutureObject *)fut)->fut_loop);
    }
    PyObject *getter;
    if (_PyObject_LookupAttr(fut, st->task.str_get_loop, &getter) < 0) {
        return NULL;
    }
    if (getter != NULL) {
        PyObject *res = PyObject_CallNoArgs(getter);
        Py_DECREF(getter);
        return res;
    }
    return PyObject_GetAttr(fut, st->task.str_loop);
}

/* fut.cancel(msg=msg) for any future; C internals for ours. */
int
future_cancel_any(asyncio_state *st, PyObject *fut, PyObject *msg)
{
    if (Future_CheckExact(st, fut)) {
        return future_cancel_impl(st, (FutureObject *)fut, msg);
    }
    if (Task_CheckExact(st, fut)) {
        return task_cancel_impl(st, (FutureObject *)fut, msg);
    }
    PyObject *stack[2] = {fut, msg != NULL ? msg : Py_None};
    return call_truth(PyObject_VectorcallMethod(st->str_cancel, stack, 1,
                                                st->task.kw_msg));
}

/* The coroutine yielded `result`, a future-like object whose
   _asyncio_future_blocking was `blocking_obj` (not None), or one of our
   own futures when that is NULL.  The corresponding branch of the pure
   Task.__step. */
static int
task_handle_future(asyncio_state *st, TaskObject *task, PyObject *loop,
                   PyObject *result, PyObject *blocking_obj)
{
    int native = blocking_obj == NULL;
    PyObject *fut_loop = get_future_loop(st, result);
    if (fut_loop == NULL) {
        return -1;
    }
    int same = fut_loop == loop;
    Py_DECREF(fut_loop);
    if (!same) {
        return task_schedule_error(
            st, task, "Task %R got Future %R attached to a different loop",
            (PyObject *)task, result);
    }
    int blocking;
    if (native) {
        blocking = ((FutureObject *)result)->fut_blocking;
    }
    else {
        /* the value read once by the caller, as the pure version does */
        blocking = PyObject_IsTrue(blocking_obj);
        if (blocking < 0) {
            return -1;
        }
    }
    if (!blocking) {
        return task_schedule_error(
            st, task,
            "yield was used instead of yield from in task %R with %R",
            (PyObject *)task, result);
    }
    if (result == (PyObject *)task) {
        return task_schedule_error(st, task,
                                   "Task cannot await on itself: %R",
                                   (PyObject *)task);
    }
    int rc;
    if (native) {
        ((FutureObject *)result)->fut_blocking = 0;
        rc = future_add_wakeup(st, (FutureObject *)result, (PyObject *)task);
    }
    else {
        PyObject *wakeup, *ctx;
        rc = task_wakeup_of(st, (PyObject *)task, &wakeup, &ctx);
        if (rc == 0) {
            rc = PyObject_SetAttr(result, st->str_blocking, Py_False);
            if (rc == 0) {
                PyObject *stack[3] = {result, wakeup, ctx};
                rc = drop_result(PyObject_VectorcallMethod(
                    st->str_add_done_callback, stack, 2, st->kw_context));
            }
            Py_DECREF(wakeup);
            Py_DECREF(ctx);
        }
    }
    if (rc < 0) {
        return -1;
    }
    Py_XSETREF(task->task_fut_waiter, Py_NewRef(result));
    if (task->task_must_cancel) {
        PyObject *msg = task->task_future.fut_cancel_msg;
        Py_XINCREF(msg);
        rc = future_cancel_any(st, result, msg);
        Py_XDECREF(msg);
        if (rc < 0) {
            return -1;
        }
        if (rc) {
            task->task_must_cancel = 0;
        }
    }
    return 0;
}

/* Act on what the coroutine yielded (a new reference we consume). */
static int
task_handle_yield(asyncio_state *st, TaskObject *task, PyObject *loop,
                  PyObject *result)
{
    int rc;
    if (Future_IsNative(st, result)) {
        rc = task_handle_future(st, task, loop, result, NULL);
    }
    else if (result == Py_None) {
        /* a bare yield gives up control for one loop iteration */
        rc = task_schedule_step(st, task, NULL);
    }
    else {
        PyObject *blocking;
        rc = _PyObject_LookupAttr(result, st->str_blocking, &blocking);
        if (rc >= 0) {
            if (blocking != NULL && blocking != Py_None) {
                rc = task_handle_future(st, task, loop, result, blocking);
            }
            else if (PyGen_CheckExact(result)) {
                rc = task_schedule_error(
                    st, task,
                    "yield was used instead of yield from for generator "
                    "in task %R with %R", (PyObject *)task, result);
            }
            else {
                rc = task_schedule_error(st, task,
                                         "Task got bad yield: %R", result);
            }
            Py_XDECREF(blocking);
        }
    }
    Py_DECREF(result);
    return rc;
}

/* Run the coroutine one step: coro.send(None) or coro.throw(exc).
   Returns PYGEN_* with *result set (or an exception for PYGEN_ERROR). */
static PySendResult
task_send(asyncio_state *st, PyObject *coro, PyObject *exc,
          PyObject **result)
{
    PyObject *res;
    if (exc == NULL) {
        if (PyCoro_CheckExact(coro) || PyGen_CheckExact(coro)) {
            return PyIter_Send(coro, Py_None, result);
        }
        res = PyObject_CallMethodOneArg(coro, st->task.str_send, Py_None);
    }
    else {
        res = PyObject_CallMethodOneArg(coro, st->task.str_throw, exc);
    }
    if (res != NULL) {
        *result = res;
        return PYGEN_NEXT;
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        if (_PyGen_FetchStopIterationValue(result) == 0) {
            return PYGEN_RETURN;
        }
    }
    *result = NULL;
    return PYGEN_ERROR;
}

/* The coroutine ended with an exception (currently raised).  Returns -1
   if the exception must propagate (KeyboardInterrupt, SystemExit) or on
   failure, else 0 with the exception consumed. */
static int
task_handle_error(asyncio_state *st, TaskObject *task)
{
    FutureObject *fut = &task->task_future;
    if (ensure_helpers(st) < 0) {
        return -1;
    }
    if (PyErr_ExceptionMatches(st->CancelledError)) {
        /* kept so that _make_cancelled_error() can chain it later */
        PyObject *exc = fetch_exception();
        Py_XSETREF(fut->fut_cancelled_exc, exc);
        return future_cancel_impl(st, fut, NULL) < 0 ? -1 : 0;
    }
    int reraise = exception_propagates();
    PyObject *exc = fetch_exception();
    if (exc == NULL) {
        return -1;
    }
    int rc = future_set_exception_obj(st, fut, exc);
    if (rc == 0 && reraise) {
        raise_instance(exc);
        rc = -1;
    }
    Py_DECREF(exc);
    return rc;
}

/* The body of a step, with the task current: send None (exc NULL) or
   throw exc into coro, then act on what it did.  0, or -1 with an
   exception set. */
static int
task_run_step(asyncio_state *st, TaskObject *task, PyObject *loop,
              PyObject *coro, PyObject *exc)
{
    FutureObject *fut = &task->task_future;
    PyObject *result;
    PySendResult status = task_send(st, coro, exc, &result);
    if (status == PYGEN_NEXT) {
        return task_handle_yield(st, task, loop, result);
    }
    if (status == PYGEN_ERROR) {
        return task_handle_error(st, task);
    }
    int rc;
    if (task->task_must_cancel) {
        /* cancelled right before the coroutine returned */
        task->task_must_cancel = 0;
        PyObject *msg = fut->fut_cancel_msg;
        Py_XINCREF(msg);
        rc = future_cancel_impl(st, fut, msg) < 0 ? -1 : 0;
        Py_XDECREF(msg);
    }
    else {
        rc = future_set_result_impl(st, fut, result);
    }
    Py_DECREF(result);
    return rc;
}

static PyObject *
task_step_impl(asyncio_state *st, TaskObject *task, PyObject *exc)
{
    FutureObject *fut = &task->task_future;
    if (fut->fut_loop == NULL || task->task_coro == NULL) {
        raise_uninitialized();
        return NULL;
    }
    if (fut->fut_state != STATE_PENDING) {
        if (ensure_helpers(st) == 0) {
            raise_formatted(st->InvalidStateError,
                            "_step(): already done: %R, %R",
                            (PyObject *)task, exc != NULL ? exc : Py_None);
        }
        return NULL;
    }
    Py_XINCREF(exc);
    if (task->task_must_cancel) {
        if (ensure_helpers(st) < 0) {
            Py_XDECREF(exc);
            return NULL;
        }
        int is_cancel = exc != NULL && PyObject_TypeCheck(
            exc, (PyTypeObject *)st->CancelledError);
        if (!is_cancel) {
            PyObject *cexc = future_make_cancelled_error(st, fut);
            if (cexc == NULL) {
                Py_XDECREF(exc);
                return NULL;
            }
            Py_XSETREF(exc, cexc);
        }
        task->task_must_cancel = 0;
    }
    Py_CLEAR(task->task_fut_waiter);

    /* Held across the step: a re-entrant __init__ may replace them. */
    PyObject *loop = Py_NewRef(fut->fut_loop);
    PyObject *coro = Py_NewRef(task->task_coro);
    Py_INCREF(task);

    int rc = enter_task(st, loop, (PyObject *)task);
    if (rc == 0) {
        rc = task_run_step(st, task, loop, coro, exc);

        /* finally: _leave_task(); its error replaces a pending one */
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        int left = leave_task(st, loop, (PyObject *)task);
        restore_unless(left < 0, et, ev, etb);
        if (left < 0) {
            rc = -1;
        }
    }
    Py_XDECREF(exc);
    Py_DECREF(coro);
    Py_DECREF(loop);
    Py_DECREF(task);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
task_cancel_impl(asyncio_state *st, FutureObject *fut, PyObject *msg)
{
    TaskObject *task = (TaskObject *)fut;
    fut->fut_log_tb = 0;
    if (fut->fut_state != STATE_PENDING) {
        return 0;
    }
    task->task_num_cancels_requested++;
    if (task->task_fut_waiter != NULL) {
        PyObject *waiter = Py_NewRef(task->task_fut_waiter);
        int rc = future_cancel_any(st, waiter, msg);
        Py_DECREF(waiter);
        if (rc != 0) {
            /* Leave _fut_waiter: it may be a task that ignores the
               cancellation, to be cancelled again later. */
            return rc;
        }
    }
    task->task_must_cancel = 1;
    Py_XINCREF(msg);
    Py_XSETREF(fut->fut_cancel_msg, msg);
    return 1;
}

/* iscoroutine() with a fast path for native coroutines. */
static int
is_coroutine(asyncio_state *st, PyObject *coro)
{
    if (PyCoro_CheckExact(coro)) {
        return 1;
    }
    if (import_once(&st->task.iscoroutine, "asyncio.coroutines",
                    "iscoroutine") < 0) {
        return -1;
    }
    return call_truth(PyObject_CallOneArg(st->task.iscoroutine, coro));
}


/* ---------- Task: the eager first step ----------
 *
 * A task made with eager_start=True while its loop runs takes its first
 * step inside the constructor (3.12's eager tasks), as a scheduled step
 * would run it: in the task's context, as the loop's current task, and
 * registered.  The task that was current (the one creating this one, if
 * any) is current again afterwards.  A coroutine that returns or raises
 * in that step leaves a done task that the loop never saw, and the task
 * drops its coroutine, which nothing will resume; one that suspends goes
 * on as any task does from then on.
 *
 * An eager step that makes an eager task runs that task's step within its
 * own, on the C stack.  Past TASK_EAGER_MAX_DEPTH such steps in a thread
 * the new task's coroutine gets a RecursionError at its start instead, so
 * that deep chains fail as Python recursion does, not by overflowing the C
 * stack (with the default recursion limit, Python's own check comes first;
 * a raised one would let eager steps nest until the stack runs out).
 */

#define TASK_EAGER_MAX_DEPTH 1000

/* How deeply eager steps nest in this thread.  The limit is about the
   thread's C stack, so the count is the thread's, whichever interpreter
   or module instance runs on it; a C thread-local is read without a
   call. */
#ifdef _MSC_VER
static __declspec(thread) unsigned int task_eager_depth;
#else
static _Thread_local unsigned int task_eager_depth;
#endif

/* A RecursionError for a task whose eager step would nest too deep: a
   new reference, NULL with an exception set on error. */
static PyObject *
task_eager_too_deep(void)
{
    return PyObject_CallFunction(
        PyExc_RecursionError, "s",
        "maximum nesting depth of eager task steps ("
        Py_STRINGIFY(TASK_EAGER_MAX_DEPTH) ") exceeded");
}

/* What BaseEventLoop.is_running() returns for loop, read without the
   call: 1 or 0, or -1 when it cannot be read that way (the method is
   overridden or shadowed, attribute access is customised, _thread_id is
   missing), or -2 with an exception set. */
static int
task_base_loop_is_running(asyncio_state *st, PyObject *loop)
{
    task_state *ts = &st->task;
    PyTypeObject *tp = Py_TYPE(loop);
    PyObject **dictptr = _PyObject_GetDictPtr(loop);
    if (dictptr == NULL || *dictptr == NULL) {
        return -1;
    }
    /* A type or dict gets a new version tag, never given to another,
       with every change: the answer found for these two still holds. */
    uint64_t dict_version = ((PyDictObject *)*dictptr)->ma_version_tag;
    if (dict_version == ts->running_dict_version
        && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
        && tp->tp_version_tag == ts->running_tp_version) {
        return ts->running;
    }
    if (tp->tp_getattro != PyObject_GenericGetAttr) {
        return -1;
    }
    if (ts->base_is_running == NULL) {
        PyObject *cls = import_attr("asyncio.base_events", "BaseEventLoop");
        if (cls == NULL) {
            return -2;
        }
        ts->base_is_running = PyObject_GetAttr(cls, ts->str_is_running);
        Py_DECREF(cls);
        if (ts->base_is_running == NULL) {
            return -2;
        }
    }
    if (_PyType_Lookup(tp, ts->str_is_running) != ts->base_is_running
        || _PyType_Lookup(tp, ts->str_thread_id) != NULL) {
        return -1;
    }
    if (PyDict_GetItemWithError(*dictptr, ts->str_is_running) != NULL) {
        return -1;
    }
    PyObject *thread_id = NULL;
    if (!PyErr_Occurred()) {
        thread_id = PyDict_GetItemWithError(*dictptr, ts->str_thread_id);
    }
    if (thread_id == NULL) {
        return PyErr_Occurred() ? -2 : -1;
    }
    ts->running = thread_id != Py_None;
    if (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) {
        ts->running_tp_version = tp->tp_version_tag;
        ts->running_dict_version = dict_version;
    }
    return ts->running;
}

/* loop.is_running(): 1, 0, or -1 on error.  An event loop of asyncio's
   answers from its _thread_id, as the method does, without a call. */
static int
task_loop_is_running(asyncio_state *st, PyObject *loop)
{
    int running = task_base_loop_is_running(st, loop);
    if (running >= 0) {
        return running;
    }
    if (running == -2) {
        return -1;
    }
    return call_truth(PyObject_CallMethodNoArgs(loop,
                                                st->task.str_is_running));
}

/* Between its steps a task needs its Context only as the thing its next
   step runs in, and for get_context(); a finished one only for
   get_context().  In a tree of eager tasks there are many such tasks at
   once: the children of a gather() or a TaskGroup stay alive, done, until
   the last of their siblings is, and those still running wait with the
   future they await keeping just the task (future_add_wakeup()).  After
   its eager step, when nothing else holds the Context (no reference, no
   weak reference, not entered), the task keeps only its variables, which
   task_context_ref() makes a Context of again when one is needed: one
   object fewer per task for every collection of the garbage collector to
   go over. */
static void
task_keep_vars(TaskObject *task)
{
    if (task->task_context == NULL) {
        return;
    }
    task->task_context_vars = context_vars_if_sole(task->task_context);
    if (task->task_context_vars != NULL) {
        Py_CLEAR(task->task_context);
    }
}

/* What the eager step leaves to undo, in reverse order: make prev
   current again, let a finished task go, leave the context.  Each part
   runs even if one before failed; the last error is the one raised, as
   with nested finally: blocks. */
static int
task_eager_leave(asyncio_state *st, TaskObject *task, PyObject *loop,
                 PyObject *ctx, PyObject *prev)
{
    PyObject *cur;
    int rc = swap_current_task(st, loop, prev, &cur);
    Py_XDECREF(cur);
    if (task->task_future.fut_state != STATE_PENDING) {
        /* done without the loop: no need to keep it in all_tasks() */
        registry_unlink(&task->task_registered);
        Py_CLEAR(task->task_coro);
    }
    PyObject *et = NULL, *ev = NULL, *etb = NULL;
    if (rc < 0) {
        PyErr_Fetch(&et, &ev, &etb);
    }
    int exited = PyContext_Exit(ctx);
    if (et != NULL) {
        restore_unless(exited < 0, et, ev, etb);
    }
    return exited < 0 ? -1 : rc;
}

static int
task_eager_start(asyncio_state *st, TaskObject *task)
{
    PyObject *ctx = task->task_context;
    /* First, so that a context in use elsewhere (the running task's own,
       say) fails the constructor before anything has changed. */
    if (PyContext_Enter(ctx) < 0) {
        /* nobody gets this task, and its coroutine never ran */
        task->task_log_destroy_pending = 0;
        return -1;
    }
    /* Held across the step, like the references a scheduled step holds;
       the step may drop the task's own. */
    Py_INCREF(ctx);
    Py_INCREF(task);
    PyObject *loop = Py_NewRef(task->task_future.fut_loop);
    PyObject *coro = Py_NewRef(task->task_coro);
    PyObject *prev, *too_deep = NULL;
    int rc = 0;
    int counted = task_eager_depth < TASK_EAGER_MAX_DEPTH;
    if (counted) {
        task_eager_depth++;
    }
    else {
        too_deep = task_eager_too_deep();
        rc = too_deep != NULL ? 0 : -1;
    }
    if (rc == 0) {
        rc = register_task(st, (PyObject *)task);
    }
    if (rc == 0) {
        rc = swap_current_task(st, loop, (PyObject *)task, &prev);
    }
    if (rc == 0) {
        rc = task_run_step(st, task, loop, coro, too_deep);
        PyObject *et = NULL, *ev = NULL, *etb = NULL;
        if (rc < 0) {
            /* (KeyboardInterrupt, SystemExit) the constructor raises the
               task's exception, and nobody gets the task to retrieve it */
            task->task_future.fut_log_tb = 0;
            PyErr_Fetch(&et, &ev, &etb);
        }
        int left = task_eager_leave(st, task, loop, ctx, prev);
        if (et != NULL) {
            restore_unless(left < 0, et, ev, etb);
        }
        if (left < 0) {
            rc = -1;
        }
        Py_XDECREF(prev);
    }
    else {
        registry_unlink(&task->task_registered);
        task->task_log_destroy_pending = 0;
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        (void)PyContext_Exit(ctx);
        PyErr_Restore(et, ev, etb);
    }
    if (counted) {
        task_eager_depth--;
    }
    Py_XDECREF(too_deep);
    Py_DECREF(coro);
    Py_DECREF(loop);
    Py_DECREF(ctx);
    task_keep_vars(task);
    Py_DECREF(task);
    return rc;
}


/* ---------- Task: Python methods ---------- */

static int task_init_impl(asyncio_state *st, TaskObject *task,
                          PyObject *coro, PyObject *loop, PyObject *name,
                          PyObject *context, PyObject *eager_start);

static const char *const task_kwnames[TASK_NKW] = {
    "loop", "name", "context", "eager_start"};

/* vectorcall_kwargs_fast() for Task's keywords, which callers pass as
   interned strings: compared by identity first. */
static int
task_kwargs_fast(asyncio_state *st, PyObject *const *kwvalues,
                 PyObject *kwnames, PyObject **out)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int i = 0;
        while (i < TASK_NKW && key != st->task.kwnames[i]) {
            i++;
        }
        if (i == TASK_NKW || out[i] != NULL) {
            for (int j = 0; j < TASK_NKW; j++) {
                out[j] = NULL;
            }
            return vectorcall_kwargs_fast(kwvalues, kwnames, task_kwnames,
                                          TASK_NKW, out);
        }
        out[i] = kwvalues[k];
    }
    return 1;
}

/* A new instance of the exact Task class, initialised. */
static PyObject *
task_new(asyncio_state *st, PyObject *coro, PyObject *loop, PyObject *name,
         PyObject *context, PyObject *eager_start)
{
    PyTypeObject *tp = st->task.TaskType;
    PyObject *self = tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    if (task_init_impl(st, (TaskObject *)self, coro, loop, name, context,
                       eager_start) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

PyObject *
task_new_eager(asyncio_state *st, PyObject *loop, PyObject *coro,
               PyObject *context)
{
    return task_new(st, coro, loop, Py_None, context, Py_True);
}

/* Task(coro, loop=..., name=..., context=..., eager_start=...) without
   building a keyword dict: the vectorcall of the exact type (see
   future_vectorcall()). */
static PyObject *
task_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf,
                PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    asyncio_state *st = state_of_type((PyTypeObject *)type);
    if (st == NULL) {
        return NULL;
    }
    PyObject *kw[TASK_NKW] = {NULL, NULL, NULL, NULL};
    if (type != (PyObject *)st->task.TaskType || nargs != 1
        || !task_kwargs_fast(st, args + nargs, kwnames, kw)) {
        return _PyObject_MakeTpCall(PyThreadState_Get(), type, args, nargs,
                                    kwnames);
    }
    return task_new(st, args[0], kw[0], kw[1] != NULL ? kw[1] : Py_None,
                    kw[2] != NULL ? kw[2] : Py_None,
                    kw[3] != NULL ? kw[3] : Py_False);
}

/* eager_task_factory(loop, coro, *, name=None, context=None): what
   create_eager_task_factory(Task) makes, in C, so that the loop core can
   recognise it (see loop_create_task()). */
static PyObject *
task_eager_task_factory(PyObject *module, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"loop", "coro", "name", "context"};
    PyObject *a[4];
    if (parse_args("eager_task_factory", args, nargs, kwnames, names, 4, 2,
                   2, a) < 0) {
        return NULL;
    }
    return task_new(get_module_state(module), a[1], a[0],
                    a[2] != NULL ? a[2] : Py_None,
                    a[3] != NULL ? a[3] : Py_None, Py_True);
}

static PyMethodDef task_functions[] = {
    FASTCALL_KW("eager_task_factory", task_eager_task_factory,
                PyDoc_STR("eager_task_factory($module, /, loop, coro, *, "
                          "name=None, context=None)\n--\n\n"
                          "A task factory for loop.set_task_factory() that "
                          "makes every task\neager: Task(coro, loop=loop, "
                          "name=name, context=context,\neager_start=True).")),
    {NULL, NULL}
};

static int
task_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"coro", "loop", "name", "context",
                             "eager_start", NULL};
    PyObject *coro, *kw[TASK_NKW] = {NULL, Py_None, Py_None, Py_False};
    if (PyTuple_GET_SIZE(args) == 1
        && init_kwargs_fast(kwds, task_kwnames, TASK_NKW, kw)) {
        coro = PyTuple_GET_ITEM(args, 0);
    }
    else if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OOOO:Task",
                                          kwlist, &coro, &kw[0], &kw[1],
                                          &kw[2], &kw[3])) {
        return -1;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL || future_check_not_pending(self) < 0) {
        return -1;
    }
    return task_init_impl(st, (TaskObject *)self, coro, kw[0], kw[1], kw[2],
                          kw[3]);
}

static int
task_init_impl(asyncio_state *st, TaskObject *task, PyObject *coro,
               PyObject *loop, PyObject *name, PyObject *context,
               PyObject *eager_start)
{
    PyObject *self = (PyObject *)task;
    if (future_init_impl(st, &task->task_future, loop) < 0) {
        return -1;
    }
    /* a repeated __init__ (of a done task) starts the task afresh */
    task->task_must_cancel = 0;
    task->task_num_cancels_requested = 0;
    Py_CLEAR(task->task_fut_waiter);

    int iscoro = is_coroutine(st, coro);
    if (iscoro < 0) {
        return -1;
    }
    if (!iscoro) {
        /* nothing to report when this half-made task is destroyed */
        task->task_log_destroy_pending = 0;
        PyErr_Format(PyExc_TypeError, "a coroutine was expected, got %R",
                     coro);
        return -1;
    }
    task->task_log_destroy_pending = 1;

    if (name == Py_None) {
        Py_CLEAR(task->task_name);
        task->task_name_num = ++st->task.name_counter;
    }
    else {
        PyObject *s = PyUnicode_CheckExact(name) ? Py_NewRef(name)
                                                 : PyObject_Str(name);
        if (s == NULL) {
            return -1;
        }
        Py_XSETREF(task->task_name, s);
    }
    context = context_or_copy(context);
    if (context == NULL) {
        return -1;
    }
    Py_XSETREF(task->task_context, context);
    Py_CLEAR(task->task_context_vars);
    Py_XSETREF(task->task_coro, Py_NewRef(coro));

    /* eager_start only counts while the loop runs: a task made before
       run_until_complete(), say, starts as any other */
    int eager = eager_start == Py_False ? 0 : PyObject_IsTrue(eager_start);
    if (eager > 0) {
        eager = task_loop_is_running(st, task->task_future.fut_loop);
    }
    if (eager < 0) {
        return -1;
    }
    if (eager) {
        return task_eager_start(st, task);
    }
    if (task_schedule_step(st, task, NULL) < 0) {
        return -1;
    }
    return register_task(st, self);
}

static PyObject *
task_get_coro(PyObject *self, PyObject *Py_UNUSED(arg))
{
    return new_ref_or_none(((TaskObject *)self)->task_coro);
}

static PyObject *
task_get_context(PyObject *self, PyObject *Py_UNUSED(arg))
{
    return task_context_ref((TaskObject *)self);
}

static PyObject *
task_get_name(PyObject *self, PyObject *Py_UNUSED(arg))
{
    TaskObject *task = (TaskObject *)self;
    if (task->task_name == NULL) {
        if (task->task_name_num == 0) {
            Py_RETURN_NONE;     /* never initialised */
        }
        task->task_name = PyUnicode_FromFormat("Task-%llu",
                                               task->task_name_num);
        if (task->task_name == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(task->task_name);
}

static PyObject *
task_set_name(PyObject *self, PyObject *value)
{
    PyObject *s = PyUnicode_CheckExact(value) ? Py_NewRef(value)
                                              : PyObject_Str(value);
    if (s == NULL) {
        return NULL;
    }
    Py_XSETREF(((TaskObject *)self)->task_name, s);
    Py_RETURN_NONE;
}

static PyObject *
task_set_result(PyObject *self, PyObject *Py_UNUSED(arg))
{
    PyErr_SetString(PyExc_RuntimeError,
                    "Task does not support set_result operation");
    return NULL;
}

static PyObject *
task_set_exception(PyObject *self, PyObject *Py_UNUSED(arg))
{
    PyErr_SetString(PyExc_RuntimeError,
                    "Task does not support set_exception operation");
    return NULL;
}

static PyObject *
task_cancel(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    return future_cancel_method(self, args, nargs, kwnames, task_cancel_impl);
}

static PyObject *
task_cancelling(PyObject *self, PyObject *Py_UNUSED(arg))
{
    TaskObject *task = (TaskObject *)self;
    return PyLong_FromSsize_t(task->task_num_cancels_requested);
}

static PyObject *
task_uncancel(PyObject *self, PyObject *Py_UNUSED(arg))
{
    TaskObject *task = (TaskObject *)self;
    if (task->task_num_cancels_requested > 0) {
        task->task_num_cancels_requested--;
    }
    return PyLong_FromSsize_t(task->task_num_cancels_requested);
}

/* asyncio.base_tasks.<name>, kept in the field of asyncio_state at
   `offset` once imported: borrowed, or NULL with an exception set. */
static PyObject *
task_base_helper(PyObject *self, size_t offset, const char *name)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    PyObject **slot = state_ref(st, offset);
    if (import_once(slot, "asyncio.base_tasks", name) < 0) {
        return NULL;
    }
    return *slot;
}

static PyObject *
task_get_stack(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames)
{
    static const char *const names[] = {"limit"};
    PyObject *limit;
    if (parse_args("get_stack", args, nargs, kwnames, names, 1, 0, 0,
                   &limit) < 0) {
        return NULL;
    }
    PyObject *get_stack = task_base_helper(
        self, ASYNCIO_OFFSET(task.get_stack), "_task_get_stack");
    if (get_stack == NULL) {
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(get_stack, self,
                                        limit != NULL ? limit : Py_None,
                                        NULL);
}

static PyObject *
task_print_stack(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames)
{
    static const char *const names[] = {"limit", "file"};
    PyObject *argv[2];
    if (parse_args("print_stack", args, nargs, kwnames, names, 2, 0, 0,
                   argv) < 0) {
        return NULL;
    }
    PyObject *print_stack = task_base_helper(
        self, ASYNCIO_OFFSET(task.print_stack), "_task_print_stack");
    if (print_stack == NULL) {
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(
        print_stack, self, argv[0] != NULL ? argv[0] : Py_None,
        argv[1] != NULL ? argv[1] : Py_None, NULL);
}

static PyObject *
task__repr_info(PyObject *self, PyObject *Py_UNUSED(arg))
{
    PyObject *repr_info = task_base_helper(
        self, ASYNCIO_OFFSET(task.repr_info), "_task_repr_info");
    if (repr_info == NULL) {
        return NULL;
    }
    return PyObject_CallOneArg(repr_info, self);
}


/* ---------- Task: attributes ---------- */

static PyObject *
task_get_num_cancels(PyObject *self, void *Py_UNUSED(c))
{
    TaskObject *task = (TaskObject *)self;
    return PyLong_FromSsize_t(task->task_num_cancels_requested);
}


/* ---------- Task: object lifetime ---------- */

static int
task_traverse(PyObject *self, visitproc visit, void *arg)
{
    TaskObject *task = (TaskObject *)self;
    Py_VISIT(task->task_fut_waiter);
    Py_VISIT(task->task_coro);
    Py_VISIT(task->task_name);
    Py_VISIT(task->task_context);
    Py_VISIT(task->task_context_vars);
    return future_traverse(self, visit, arg);
}

static int
task_clear(PyObject *self)
{
    TaskObject *task = (TaskObject *)self;
    registry_unlink(&task->task_registered);
    Py_CLEAR(task->task_fut_waiter);
    Py_CLEAR(task->task_coro);
    Py_CLEAR(task->task_name);
    Py_CLEAR(task->task_context);
    Py_CLEAR(task->task_context_vars);
    return future_clear(self);
}

static void
task_report_pending(asyncio_state *st, FutureObject *fut)
{
    PyObject *context = PyDict_New();
    if (context == NULL
        || PyDict_SetItemString(context, "task", (PyObject *)fut) < 0) {
        Py_CLEAR(context);
    }
    else {
        PyObject *msg = PyUnicode_FromString(
            "Task was destroyed but it is pending!");
        if (msg == NULL
            || PyDict_SetItemString(context, "message", msg) < 0) {
            Py_CLEAR(context);
        }
        Py_XDECREF(msg);
    }
    future_report_to_loop(st, fut, context);
}

/* PEP 442 finaliser: report a task destroyed while pending, then an
   unretrieved exception (both, like Task.__del__ + Future.__del__). */
static void
task_finalize(PyObject *self)
{
    TaskObject *task = (TaskObject *)self;
    FutureObject *fut = &task->task_future;
    /* A task the GC found unreachable has left the _all_tasks WeakSet
       before finalisers run, even if one of them resurrects it: it leaves
       the ring now for the same reason. */
    registry_unlink(&task->task_registered);
    if (fut->fut_loop != NULL && fut->fut_state == STATE_PENDING
        && task->task_log_destroy_pending) {
        task->task_log_destroy_pending = 0;
        future_report_from_finalizer(self, task_report_pending);
    }
    future_finalize(self);
}

static void
task_dealloc(PyObject *self)
{
    future_dealloc_impl(self, task_clear);
}

PyDoc_STRVAR(task_get_coro_doc,
"get_coro($self, /)\n--\n\n"
"Return the coroutine the task runs.");

PyDoc_STRVAR(task_get_context_doc,
"get_context($self, /)\n--\n\n"
"Return the contextvars.Context the task's coroutine runs in.");

PyDoc_STRVAR(task_get_name_doc,
"get_name($self, /)\n--\n\n"
"Return the task's name.\n\n"
"A task made without a name is called Task-N, N numbering such tasks.");

PyDoc_STRVAR(task_set_name_doc,
"set_name($self, value, /)\n--\n\n"
"Rename the task to str(value).");

PyDoc_STRVAR(task_set_result_doc,
"set_result($self, result, /)\n--\n\n"
"Refuse with RuntimeError: a task's result is what its coroutine\n"
"returns.");

PyDoc_STRVAR(task_set_exception_doc,
"set_exception($self, exception, /)\n--\n\n"
"Refuse with RuntimeError: a task's exception is what its coroutine\n"
"raises.");

PyDoc_STRVAR(task_cancel_doc,
"cancel($self, /, msg=None)\n--\n\n"
"Ask the task to cancel itself.\n\n"
"At its next step, the task's coroutine gets a CancelledError (carrying\n"
"msg) raised where it waits: the future it waits on is cancelled, or the\n"
"error is thrown in.  The coroutine may catch it to clean up, or to\n"
"refuse the cancellation altogether, and go on to return a value or\n"
"raise something else.  So unlike Future.cancel() this promises nothing:\n"
"the task only becomes cancelled when a CancelledError comes out of its\n"
"coroutine (even without a call to cancel()), and right after cancel()\n"
"returns, cancelled() is still False unless the task was cancelled\n"
"before.\n\n"
"Return False if the task is done already.  Otherwise add one to the\n"
"number of cancellation requests the task has (see cancelling()) and\n"
"return True.");

PyDoc_STRVAR(task_cancelling_doc,
"cancelling($self, /)\n--\n\n"
"Return the number of cancellation requests the task has.\n\n"
"Each cancel() of a task that is not done adds one; uncancel() takes\n"
"one away.");

PyDoc_STRVAR(task_uncancel_doc,
"uncancel($self, /)\n--\n\n"
"Take one away from the number of cancellation requests the task has.\n\n"
"Meant for whoever asked for a cancellation with cancel(), once they have\n"
"dealt with it.  The number does not go below zero.  Return the number\n"
"left.");

PyDoc_STRVAR(task_get_stack_doc,
"get_stack($self, /, *, limit=None)\n--\n\n"
"Return the frames of the task's coroutine, oldest first.\n\n"
"For a coroutine that has not finished, that is where it is suspended:\n"
"only its own frame, as a suspended frame has no caller to follow.\n"
"For one that raised, the frames of the exception's traceback; for one\n"
"that returned or was cancelled, an empty list.\n\n"
"limit, when not None, caps the number of frames: the newest ones of a\n"
"stack are kept but the oldest ones of a traceback, as in the traceback\n"
"module.");

PyDoc_STRVAR(task_print_stack_doc,
"print_stack($self, /, *, limit=None, file=None)\n--\n\n"
"Print the frames get_stack() returns, formatted as the traceback\n"
"module does.\n\n"
"limit is handed to get_stack().  The output goes to file, sys.stderr\n"
"when None.");

PyDoc_STRVAR(task__repr_info_doc,
"_repr_info($self, /)\n--\n\n"
"Return the list of words repr() shows after the class name.");

PyDoc_STRVAR(task_class_getitem_doc,
"__class_getitem__($type, item, /)\n--\n\n"
"Return the class parameterised by item (see PEP 585).");

static PyMethodDef task_methods[] = {
    {"get_coro", task_get_coro, METH_NOARGS, task_get_coro_doc},
    {"get_context", task_get_context, METH_NOARGS, task_get_context_doc},
    {"get_name", task_get_name, METH_NOARGS, task_get_name_doc},
    {"set_name", task_set_name, METH_O, task_set_name_doc},
    {"set_result", task_set_result, METH_O, task_set_result_doc},
    {"set_exception", task_set_exception, METH_O, task_set_exception_doc},
    {"cancel", (PyCFunction)(void (*)(void))task_cancel,
     METH_FASTCALL | METH_KEYWORDS, task_cancel_doc},
    {"cancelling", task_cancelling, METH_NOARGS, task_cancelling_doc},
    {"uncancel", task_uncancel, METH_NOARGS, task_uncancel_doc},
    {"get_stack", (PyCFunction)(void (*)(void))task_get_stack,
     METH_FASTCALL | METH_KEYWORDS, task_get_stack_doc},
    {"print_stack", (PyCFunction)(void (*)(void))task_print_stack,
     METH_FASTCALL | METH_KEYWORDS, task_print_stack_doc},
    {"_repr_info", task__repr_info, METH_NOARGS, task__repr_info_doc},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     task_class_getitem_doc},
    {NULL, NULL}
};

static PyGetSetDef task_getsets[] = {
    {"_log_destroy_pending", get_flag_field, set_flag_field, NULL,
     FIELD(TaskObject, task_log_destroy_pending)},
    {"_must_cancel", get_flag_field, NULL, NULL,
     FIELD(TaskObject, task_must_cancel)},
    {"_coro", get_object_field, NULL, NULL, FIELD(TaskObject, task_coro)},
    {"_fut_waiter", get_object_field, NULL, NULL,
     FIELD(TaskObject, task_fut_waiter)},
    {"_num_cancels_requested", task_get_num_cancels, NULL, NULL, NULL},
    {NULL}
};

PyDoc_STRVAR(task_doc,
"Task(coro, *, loop=None, name=None, context=None, eager_start=False)\n"
"--\n\n"
"A future that runs a coroutine on an event loop.\n\n"
"Making a task schedules the first step of coro on loop (the current\n"
"event loop when None).  A step runs the coroutine until it is suspended\n"
"on a future; the task waits for that future to be done and the next\n"
"step resumes the coroutine with its outcome.  When the coroutine\n"
"returns or raises, the task is done with that result or exception.\n\n"
"With eager_start true and loop running, the first step runs at once,\n"
"inside the constructor, instead of being scheduled; a coroutine that\n"
"finishes there leaves the task done before it is returned.\n\n"
"name is the task's name (see get_name()).  context is the\n"
"contextvars.Context the coroutine runs in: a copy of the current one\n"
"when None.  Tasks are meant to be made with asyncio.create_task() or\n"
"loop.create_task() rather than by calling the class; like futures, they\n"
"are not thread-safe.");

static PyType_Slot task_slots[] = {
    {Py_tp_doc, (void *)task_doc},
    {Py_tp_dealloc, task_dealloc},
    {Py_tp_repr, future_tp_repr},
    {Py_tp_traverse, task_traverse},
    {Py_tp_clear, task_clear},
    {Py_tp_methods, task_methods},
    {Py_tp_getset, task_getsets},
    {Py_tp_init, task_tp_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_finalize, task_finalize},
    {0, NULL}
};

static PyType_Spec task_spec = {
    .name = "_asyncio.Task",
    .basicsize = sizeof(TaskObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE
              | Py_TPFLAGS_IMMUTABLETYPE),
    .slots = task_slots,
};




/* ---------- The part ---------- */

static int
task_exec(PyObject *module, asyncio_state *st)
{
    /* a task callback links the freelist through its task field */
    Py_BUILD_ASSERT(offsetof(TaskCallbackObject, task)
                    == offsetof(FreelistObject, ref));
    task_state *ts = &st->task;
    ts->TaskType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &task_spec, (PyObject *)st->future.FutureType);
    if (ts->TaskType == NULL) {
        return -1;
    }
    /* No type slot exists for this in 3.11: calling the exact class skips
       building a keyword dict (see task_vectorcall()). */
    ts->TaskType->tp_vectorcall = task_vectorcall;
    ts->TaskCallbackType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &task_callback_spec, NULL);
    if (ts->TaskCallbackType == NULL) {
        return -1;
    }
    st->future.wakeup_of = task_wakeup_of;
    ts->kw_msg = Py_BuildValue("(s)", "msg");
    if (ts->kw_msg == NULL
        || future_add_native_type(st, ts->TaskType) < 0) {
        return -1;
    }
    registry_set_linked_type(st, ts->TaskType,
                             offsetof(TaskObject, task_registered));
    if (PyModule_AddType(module, ts->TaskType) < 0
        || PyModule_AddFunctions(module, task_functions) < 0) {
        return -1;
    }
    /* the loop core knows this one by identity */
    ts->eager_factory = PyObject_GetAttrString(module, "eager_task_factory");
    return ts->eager_factory != NULL ? 0 : -1;
}

static void
task_part_clear(asyncio_state *st)
{
    freelist_clear(&st->task.callback_freelist);
}

static void
task_part_free(asyncio_state *st)
{
    Py_CLEAR(st->task.kw_msg);
}

static const asyncio_name task_names[] = {
    ASYNCIO_NAME(task.str_get_loop, "get_loop"),
    ASYNCIO_NAME(task.str_is_running, "is_running"),
    ASYNCIO_NAME(task.str_thread_id, "_thread_id"),
    ASYNCIO_NAME(task.kwnames[0], "loop"),
    ASYNCIO_NAME(task.kwnames[1], "name"),
    ASYNCIO_NAME(task.kwnames[2], "context"),
    ASYNCIO_NAME(task.kwnames[3], "eager_start"),
    ASYNCIO_NAME(task.str_loop, "_loop"),
    ASYNCIO_NAME(task.str_send, "send"),
    ASYNCIO_NAME(task.str_throw, "throw"),
};

static const size_t task_refs[] = {
    ASYNCIO_OFFSET(task.TaskType),
    ASYNCIO_OFFSET(task.TaskCallbackType),
    ASYNCIO_OFFSET(task.repr_info),
    ASYNCIO_OFFSET(task.get_stack),
    ASYNCIO_OFFSET(task.print_stack),
    ASYNCIO_OFFSET(task.iscoroutine),
    ASYNCIO_OFFSET(task.eager_factory),
    ASYNCIO_OFFSET(task.base_is_running),
};

const asyncio_part task_part = {
    .names = task_names,
    .nnames = Py_ARRAY_LENGTH(task_names),
    .exec = task_exec,
    .refs = task_refs,
    .nrefs = Py_ARRAY_LENGTH(task_refs),
    .clear = task_part_clear,
    .free = task_part_free,
};
