/* Handle and TimerHandle (handles.c). */

typedef struct {
    PyObject_HEAD
    /* first: links the freelist; None (NULL) once cancelled */
    PyObject *h_callback;
    PyObject *h_args;       /* NULL (None) when h_arg holds the argument */
    PyObject *h_arg;        /* the only argument, until _args is read */
    PyObject *h_loop;
    PyObject *h_context;    /* NULL (None) when h_vars stands for it */
    PyObject *h_vars;       /* the variables of a context not made yet */
    PyObject *h_source_tb;
    PyObject *h_repr;
    PyObject *h_weakreflist;
    PyObject *h_when;       /* TimerHandle only */
    int h_cancelled;
    int h_scheduled;        /* TimerHandle only */
} HandleObject;

typedef struct {
    PyTypeObject *HandleType;
    PyTypeObject *TimerHandleType;
    freelist freelist;            /* exact Handles kept for reuse */
    /* format_helpers._format_callback_source, imported on first use */
    PyObject *format_callback_source;
    PyObject *str_timer_handle_cancelled;
} handles_state;

extern const asyncio_part handles_part;

#define Handle_Check(st, op) PyObject_TypeCheck((op), (st)->handles.HandleType)
#define TimerHandle_Check(st, op) \
    PyObject_TypeCheck((op), (st)->handles.TimerHandleType)

/* A callback's positional arguments as the loop core got them: the object
   handed to _call_soon() (obj), or else the vector of call_soon(),
   call_later() and call_at(). */
typedef struct {
    PyObject *obj;
    PyObject *const *items;
    Py_ssize_t n;
} cb_args;

PyObject *cb_args_object(const cb_args *a);

/* A new Handle (when == NULL) or TimerHandle, as the loop core makes;
   context NULL or None means a copy of the current context.  The handle's
   source traceback in debug mode (see handle_set_source_traceback()) is
   `drop` frames shorter than the stack; `debug` is loop.get_debug() when
   the caller knows it, else -1. */
HandleObject *handle_new(asyncio_state *st, PyObject *when,
                         PyObject *callback, const cb_args *args,
                         PyObject *loop, PyObject *context, int drop,
                         int debug);
/* handle.cancel(), without a call for a plain Handle: 0 or -1. */
int handle_cancel_any(asyncio_state *st, PyObject *handle);
/* Handle._run(): 0, or -1 when an exception propagates. */
int handle_run(asyncio_state *st, HandleObject *h);
/* asyncio.constants.DEBUG_STACK_DEPTH as read now. */
int debug_stack_depth(Py_ssize_t *limit);
