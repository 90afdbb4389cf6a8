/* Future and its await iterator (future.c). */

typedef enum {
    STATE_PENDING,
    STATE_CANCELLED,
    STATE_FINISHED
} fut_state;

typedef struct {
    PyObject_HEAD
    PyObject *fut_loop;
    /* The first callback lives in these fields, the others in fut_callbacks
       as a flat list [fn, ctx, fn, ctx, ...]; a future awaited by one task
       then needs no list.  The list is never shared with Python code.
       The first callback may be kept in a smaller form until the loop is
       to call it or Python code reads it (future_realize_callback0()):
       when fut_wakes0 is set, fut_callback0 is a task, the callback is
       its wakeup and the context its own (future_add_wakeup()), and
       fut_context0 is NULL; when fut_vars0 is set, the context is a copy
       of the one add_done_callback() ran in, to be made of these
       variables (see context_realize()), and fut_context0 is NULL.  A
       task waiting for a future then costs no object of its own, and
       holds the only reference to its context. */
    PyObject *fut_callback0;
    PyObject *fut_context0;
    PyObject *fut_vars0;
    PyObject *fut_callbacks;
    PyObject *fut_result;
    PyObject *fut_exception;
    PyObject *fut_exception_tb;
    PyObject *fut_source_tb;
    PyObject *fut_cancel_msg;
    PyObject *fut_cancelled_exc;
    PyObject *fut_dict;
    PyObject *fut_weakreflist;
    fut_state fut_state;
    int fut_log_tb;
    int fut_blocking;
    int fut_wakes0;
} FutureObject;

/* How many classes of the module are futures whose instances of the exact
   class the internals may handle through the Future's internals rather
   than by calling their methods: Future, Task and _GatheringFuture
   (which overrides only cancel(), which they never bypass). */
#define FUTURE_NATIVE_TYPES 3

typedef struct {
    PyTypeObject *FutureType;
    PyTypeObject *FutureIterType;
    /* the classes above, as the parts add them (future_add_native_type());
       NULL where there is none */
    PyTypeObject *native[FUTURE_NATIVE_TYPES];
    /* await iterators kept for reuse; see freelist_new() */
    freelist iter_freelist;
    /* a task's wakeup callable and its context, new references (the
       task part's); 0, or -1 on error */
    int (*wakeup_of)(asyncio_state *st, PyObject *task, PyObject **wakeup,
                     PyObject **context);
    PyObject *repr_info;          /* base_futures._future_repr_info */
    PyObject *str_repr_info;
    PyObject *str_set_result;
    PyObject *state_names[3];     /* "PENDING", "CANCELLED", "FINISHED" */
} future_state;

extern const asyncio_part future_part;

static inline int
future_type_is_native(const future_state *fs, PyTypeObject *tp)
{
    return tp == fs->native[0] || tp == fs->native[1] || tp == fs->native[2];
}

/* Exactly one of our future classes: internals may replace method calls.
   Future_CheckExact: exactly a Future. */
#define Future_IsNative(st, obj) \
    future_type_is_native(&(st)->future, Py_TYPE(obj))
#define Future_CheckExact(st, obj) Py_IS_TYPE((obj), (st)->future.FutureType)

int future_add_native_type(asyncio_state *st, PyTypeObject *tp);

int future_check_not_pending(PyObject *self);
/* Future(loop=loop), loop None or NULL for the current one: new
   reference. */
PyObject *future_new(asyncio_state *st, PyObject *loop);
int future_init_impl(asyncio_state *st, FutureObject *fut, PyObject *loop);
PyObject *future_result_impl(asyncio_state *st, FutureObject *fut);
PyObject *future_exception_impl(asyncio_state *st, FutureObject *fut);
int future_set_result_impl(asyncio_state *st, FutureObject *fut,
                           PyObject *res);
int future_set_exception_impl(asyncio_state *st, FutureObject *fut,
                              PyObject *exc);
int future_set_exception_obj(asyncio_state *st, FutureObject *fut,
                             PyObject *exc);
int future_cancel_impl(asyncio_state *st, FutureObject *fut, PyObject *msg);
int future_add_done_callback_impl(asyncio_state *st, FutureObject *fut,
                                  PyObject *fn, PyObject *ctx);
/* add_done_callback(<task's wakeup>, context=<task's context>) */
int future_add_wakeup(asyncio_state *st, FutureObject *fut, PyObject *task);
PyObject *future_make_cancelled_error_impl(asyncio_state *st,
                                           FutureObject *fut);
PyObject *future_make_cancelled_error(asyncio_state *st, FutureObject *fut);

/* cancel(msg=None) of Future and its subclasses, by their `impl`. */
PyObject *future_cancel_method(
    PyObject *self, PyObject *const *args, Py_ssize_t nargs,
    PyObject *kwnames,
    int (*impl)(asyncio_state *, FutureObject *, PyObject *));

/* Hand `context` (a new dict, consumed; NULL when making it failed) to
   the loop's exception handler, as Future.__del__ does. */
void future_report_to_loop(asyncio_state *st, FutureObject *fut,
                           PyObject *context);
void future_report_from_finalizer(
    PyObject *self, void (*report)(asyncio_state *, FutureObject *));

/* The slots subclasses in other parts build on. */
PyObject *future_tp_repr(PyObject *self);
int future_traverse(PyObject *self, visitproc visit, void *arg);
int future_clear(PyObject *self);
void future_finalize(PyObject *self);
void future_dealloc_impl(PyObject *self, inquiry clear);
