/*
 * _asyncio: the C core of asyncio.
 *
 * Provides what asyncio.futures, asyncio.tasks and asyncio.events import:
 *   - Future and its await iterator, and the running-loop functions;
 * series: task {
 *   - Task and the task bookkeeping;
 * series: }
 * series: loop {
 *   - Handle, TimerHandle and the core of the event loop (_EventLoopCore),
 *     which asyncio.base_events uses as a base class;
 * series: }
 * series: snapshot {
 *   - the copy of a concurrent.futures.Future's state (gh-134173).
 * series: }
 * Behaviour, messages and exception types follow
 * the pure-Python classes in Lib/asyncio; where the pure-Python code calls
 * back into overridable methods, the C fast paths are only taken for the
 * exact built-in types.
 *
 * The module uses multi-phase init (PEP 489), heap types and module state
 * (PEP 573).  Python helpers that are not on a hot path (repr, stack
 * extraction, exception classes) are imported lazily from asyncio on first
 * use, because this module is itself imported while asyncio is importing.
 *
 * Allocation savings on the hot paths:
 *   - a future keeps its first callback outside any list;
 *   - the await iterator comes from a per-module freelist;
 * series: task {
 *   - so do the callables a task hands to the loop;
 * series: }
 * series: loop {
 *   - and the plain Handles the loop runs;
 * series: }
 *   - Future(loop=...) is a vectorcall that builds no keyword dict;
 * series: task {
 *   - so is Task(coro, ...);
 * series: }
 *   - the running loop is cached per thread (see asyncio_state).
 */

#include "Python.h"
#include "structmember.h"
#include "internal/pycore_context.h"   /* series: loop */

#ifdef HAVE_FORK
#  include <pthread.h>          /* pthread_atfork() */
#endif
#ifdef HAVE_SYS_EPOLL_H         /* series: loop */
#  include <sys/epoll.h>        /* series: loop */
#endif                          /* series: loop */
#ifdef HAVE_SYS_SOCKET_H        /* series: loop */
#  include <sys/socket.h>       /* series: loop */
#endif                          /* series: loop */
#include <stdint.h>


/* ======================================================================
 * Module state
 * ====================================================================== */

typedef enum {
    STATE_PENDING,
    STATE_CANCELLED,
    STATE_FINISHED
} fut_state;

typedef struct futureiterobject FutureIterObject;

/* A per-module freelist for the objects of one GC type that holds a single
   object reference: the free objects are linked through that field. */
typedef struct {
    PyObject *head;
    int len;
} freelist;

/* series: loop { */
/* A link of the ring of registered tasks of our Task class (see
   register_task()); NULL links: not registered. */
typedef struct task_link {
    struct task_link *prev;
    struct task_link *next;
} task_link;

/* The methods of the loop core (_EventLoopCore) whose overrides it
   respects: see core_method_is_own(). */
enum {
    CORE_TIME,
    CORE_GET_DEBUG,
    CORE_CHECK_CLOSED,
    CORE__CALL_SOON,
    CORE_CALL_AT,
    CORE_CREATE_TASK,
    CORE_CALL_SOON,
    CORE__RUN_ONCE,
    /* selector_events.BaseSelectorEventLoop's: */
    CORE_PROCESS_EVENTS,
    CORE_WRITE_TO_SELF,
    CORE_NOWN
};

/* series: } */
typedef struct {
    PyTypeObject *FutureType;
    PyTypeObject *FutureIterType;
/* series: task { */
    PyTypeObject *TaskType;
    PyTypeObject *TaskCallbackType;
/* series: } */
/* series: loop { */
    PyTypeObject *HandleType;
    PyTypeObject *TimerHandleType;
    PyTypeObject *LoopCoreType;
    PyTypeObject *GatheringFutureType;
    PyTypeObject *GatherCallbackType;
/* series: } */
/* series: task { */

    /* Task bookkeeping, exported as _all_tasks and _current_tasks. */
    PyObject *all_tasks;          /* weakref.WeakSet */
    PyObject *current_tasks;      /* dict: loop -> task */
/* series: } */
/* series: loop { */
    task_link native_tasks;       /* registered Tasks: the ring's head */
/* series: } */

    /* Lazily imported Python helpers; see ensure_helpers(). */
    int helpers_ready;
    PyObject *CancelledError;
    PyObject *InvalidStateError;
    PyObject *events_module;
    PyObject *future_repr_info;   /* base_futures._future_repr_info */
/* series: task { */
    PyObject *task_repr_info;     /* base_tasks._task_repr_info */
    PyObject *task_get_stack;     /* base_tasks._task_get_stack */
    PyObject *task_print_stack;   /* base_tasks._task_print_stack */
/* series: } */
    PyObject *extract_stack;      /* format_helpers.extract_stack */
/* series: task { */
    PyObject *iscoroutine;        /* coroutines.iscoroutine */
/* series: } */
/* series: loop { */
    /* format_helpers._format_callback_source */
    PyObject *format_callback_source;
/* series: } */
/* series: snapshot { */
    /* concurrent.futures objects and names for
       _copy_concurrent_future_state (gh-134173), made on first use. */
    PyObject *copy_cf_objects;
/* series: } */
/* series: loop { */

    /* The methods of _EventLoopCore that core_method_is_own() looks for,
       by name and as found in the type's dict. */
    PyObject *core_own_names[CORE_NOWN];
    PyObject *core_own_methods[CORE_NOWN];
    /* The version tag of the last type core_own_mask() found to be a
       subclass of _EventLoopCore: a type gets a new tag when it (or a
       base) changes, and tags are not reused, so an object with that tag
       is a core without a walk of the MRO.  0: none yet. */
    unsigned int core_type_version;
    /* selectors.EpollSelector, for the core's shortcut around its
       select(), and socket.socket, for its write to the self-pipe; loaded
       with the selector loop's methods in core_own_methods[] by
       core_load_selector_refs(). */
    PyObject *epoll_selector_type;
    PyObject *epoll_type;         /* select.epoll */
    PyObject *epoll_fileno;       /* select.epoll.fileno, unbound */
    PyObject *socket_type;        /* socket.socket */
    int selector_refs_loaded;

    /* asyncio.tasks, whose _ensure_future, Task and _set_task_name gather
       and create_task look up on every call, and the pure-Python
       create_task (base_events._py_hot_path), for the cases the core
       hands back to it; imported on first use. */
    PyObject *tasks_module;
    PyObject *py_create_task;

    /* What the loop core uses of collections and heapq, taken at exec:
       builtins that take part in no cycle, dropped by m_free. */
    PyTypeObject *deque_type;
    PyObject *deque_append;
    PyObject *deque_popleft;
    PyObject *heappush;
    PyObject *heappop;
    PyObject *heapify;
/* series: } */

    /* Interned names and constant tuples.  They cannot take part in
       reference cycles, so m_clear leaves them alone and code running
       after m_clear (interpreter shutdown) can still use them. */
    PyObject *str_call_soon;
    PyObject *str_call_exception_handler;
    PyObject *str_get_debug;
    PyObject *str_get_loop;  /* series: task */
    PyObject *str_loop;  /* series: task */
    PyObject *str_add_done_callback;  /* series: task */
    PyObject *str_remove_done_callback;
    PyObject *str_cancel;  /* series: task */
    PyObject *str_done;
    PyObject *str_result;
    PyObject *str_send;  /* series: task */
    PyObject *str_throw;  /* series: task */
    PyObject *str_blocking;
    PyObject *str_repr_info;
    PyObject *str_make_cancelled_error;
    PyObject *str_running_loop_key;
    PyObject *str_add;  /* series: task */
    PyObject *str_discard;  /* series: task */
    PyObject *str_get_event_loop;
    PyObject *str_get_event_loop_policy;
/* series: loop { */
    PyObject *str_cancelled;
    PyObject *str_source_traceback;
    PyObject *str_cancelled_attr;
    PyObject *str_scheduled_attr;
    PyObject *str_when_attr;
    PyObject *str_run;
    PyObject *str_append;
    PyObject *str_popleft;
    PyObject *str_timer_cancelled;
    PyObject *str_selector;
    PyObject *str_select;
    PyObject *str_process_events;
    PyObject *str_clock_resolution;
    PyObject *str_current_handle;
    PyObject *str_fd_to_key;
    PyObject *str_poll;
    PyObject *str_events;
    PyObject *str_task_factory;
    PyObject *str_Task;
    PyObject *str_ensure_future;
    PyObject *str_log_destroy_pending;
    PyObject *str_exception;
    PyObject *str_cancel_message;
    PyObject *str_close;
    PyObject *str_gathering_future;
    PyObject *str_timer_handle_cancelled;
    PyObject *str_csock;
    PyObject *str_fileno;
    PyObject *kw_loop;            /* ("loop",) */
    PyObject *kw_task_init;       /* ("loop", "name", "context") */
    PyObject *kw_name_context;    /* ("name", "context") */
/* series: } */
    PyObject *kw_context;         /* ("context",) */
    PyObject *kw_msg;             /* ("msg",) */  /* series: task */
    PyObject *state_names[3];     /* "PENDING", "CANCELLED", "FINISHED" */

    /* Cache of the running loop of the thread that last asked for it or
       set it: thread state id + fork generation + borrowed reference.
       The reference is owned by that thread's state dict, which only
       set_running_loop() changes (and updates the cache with); when the
       thread exits the dict goes, but thread state ids are never reused,
       so a stale entry is never read.  Borrowing lets a thread's loop die
       with the thread, as with the pure version's threading.local. */
    uint64_t rl_ts_id;
    uint64_t rl_fork_gen;
    PyObject *rl_loop;            /* NULL means "no running loop" */

    /* Await iterators (FutureIterType) kept for reuse; see freelist_new(). */
    freelist fi_freelist;
/* series: task { */
    /* Task callbacks (TaskCallbackType), likewise. */
    freelist tcb_freelist;
/* series: } */
    freelist h_freelist;          /* exact Handles */  /* series: loop */
/* series: task { */

    /* Counter behind the default task names "Task-N". */
    unsigned long long task_name_counter;
/* series: } */
} asyncio_state;

static struct PyModuleDef asyncio_module;

/* Bumped in the child after fork(): a running loop set before the fork is
   not running in the child.  The pure-Python version compares os.getpid()
   for the same effect; a counter avoids a system call on every lookup. */
static uint64_t fork_generation = 0;

#ifdef HAVE_FORK
static void
asyncio_after_fork_child(void)
{
    fork_generation++;
}
#endif

static inline asyncio_state *
get_module_state(PyObject *module)
{
    return (asyncio_state *)PyModule_GetState(module);
}

/* State from an instance of one of our types or of a subclass. */
static asyncio_state *
state_of_type(PyTypeObject *tp)
{
    PyObject *mod = PyType_GetModuleByDef(tp, &asyncio_module);
    if (mod == NULL) {
        return NULL;
    }
    return get_module_state(mod);
}

#define state_of(obj) state_of_type(Py_TYPE(obj))

/* State for a deallocator, which must not raise: NULL once the type has
   lost its module (type_clear() during a GC at interpreter shutdown). */
static inline asyncio_state *
dealloc_state(PyTypeObject *tp)
{
    PyObject *mod = ((PyHeapTypeObject *)tp)->ht_module;
    return mod != NULL ? get_module_state(mod) : NULL;
}


/* Import `modname` and return its attribute `name` (new reference). */
static PyObject *
import_attr(const char *modname, const char *name)
{
    PyObject *mod = PyImport_ImportModule(modname);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return res;
}

/* After PyErr_Fetch(): restore the saved exception, or drop it when
   `failed` (a newer exception is set and takes its place). */
static inline void
restore_unless(int failed, PyObject *type, PyObject *value, PyObject *tb)
{
    if (failed) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    else {
        PyErr_Restore(type, value, tb);
    }
}

/* Import the asyncio helpers we use.  Done on first need rather than at
   module exec, since asyncio imports this module half-way through its own
   import; after m_clear (interpreter shutdown) this may run again and
   fail, which callers report as an ordinary exception. */
static int import_helpers(asyncio_state *st);

static int
ensure_helpers(asyncio_state *st)
{
    if (st->helpers_ready) {
        return 0;
    }
    /* Callers may be handling an exception (a task step that caught one):
       keep it aside while importing. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    int rc = import_helpers(st);
    restore_unless(rc < 0, type, value, tb);
    return rc;
}

static int
import_helpers(asyncio_state *st)
{
#define LOAD(field, mod, name)                              \
    do {                                                    \
        if (st->field == NULL) {                            \
            st->field = import_attr(mod, name);             \
            if (st->field == NULL) {                        \
                return -1;                                  \
            }                                               \
        }                                                   \
    } while (0)
    LOAD(CancelledError, "asyncio.exceptions", "CancelledError");
    LOAD(InvalidStateError, "asyncio.exceptions", "InvalidStateError");
    if (st->events_module == NULL) {
        st->events_module = PyImport_ImportModule("asyncio.events");
        if (st->events_module == NULL) {
            return -1;
        }
    }
    LOAD(future_repr_info, "asyncio.base_futures", "_future_repr_info");
/* series: task { */
    LOAD(task_repr_info, "asyncio.base_tasks", "_task_repr_info");
    LOAD(task_get_stack, "asyncio.base_tasks", "_task_get_stack");
    LOAD(task_print_stack, "asyncio.base_tasks", "_task_print_stack");
/* series: } */
    LOAD(extract_stack, "asyncio.format_helpers", "extract_stack");
    LOAD(iscoroutine, "asyncio.coroutines", "iscoroutine");  /* series: task */
/* series: loop { */
    LOAD(format_callback_source, "asyncio.format_helpers",
         "_format_callback_source");
/* series: } */
#undef LOAD
    st->helpers_ready = 1;
    return 0;
}

static int
raise_finalized(void)
{
    PyErr_SetString(PyExc_RuntimeError, "_asyncio module is being finalized");
    return -1;
}


/* ======================================================================
 * Freelists
 *
 * FutureIter objects are made and dropped on every await, and TaskCallback
 * objects on every task step.  Their memory is kept for reuse in a freelist
 * of the module.  Such types start like a FreelistObject: their one object
 * reference comes first and links the free objects; they share their
 * tp_dealloc and tp_traverse.
 * ====================================================================== */

typedef struct {
    PyObject_HEAD
    PyObject *ref;      /* the object's reference; next free object */
} FreelistObject;

#define FREELIST_MAX 255

/* A new, untracked object of type tp (NULL once the module is cleared)
   whose fields the caller sets; memory from fl when it has some. */
static inline PyObject *
freelist_new(freelist *fl, PyTypeObject *tp)
{
    if (tp == NULL) {
        raise_finalized();
        return NULL;
    }
    PyObject *op = fl->head;
    if (op == NULL) {
        return PyObject_GC_New(PyObject, tp);
    }
    fl->head = ((FreelistObject *)op)->ref;
    fl->len--;
    /* memory from the freelist: make it a live object again */
    return PyObject_Init(op, tp);
}

/* The freelist of the module's type tp; NULL when there is none (tp has
   no freelist, or the module has been cleared). */
static inline freelist *
freelist_of(asyncio_state *st, PyTypeObject *tp)
{
    if (st == NULL) {
        return NULL;
    }
    if (tp == st->FutureIterType) {
        return &st->fi_freelist;
    }
/* series: task { */
    if (tp == st->TaskCallbackType) {
        return &st->tcb_freelist;
    }
/* series: } */
/* series: loop { */
    if (tp == st->HandleType) {
        return &st->h_freelist;
    }
/* series: } */
    return NULL;
}

/* The end of a tp_dealloc: keep the memory of the dead object op in fl,
   or free it when fl is NULL or full. */
static void
freelist_keep_or_free(freelist *fl, PyObject *op)
{
    if (fl != NULL && fl->len < FREELIST_MAX) {
        ((FreelistObject *)op)->ref = fl->head;
        fl->head = op;
        fl->len++;
    }
    else {
        Py_TYPE(op)->tp_free(op);
    }
}

/* tp_dealloc: drop the reference (which may run any code, hence the
   module's state is read after), then keep the memory or free it. */
static void
freelist_object_dealloc(PyObject *self)
{
    FreelistObject *op = (FreelistObject *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(op->ref);
    freelist_keep_or_free(freelist_of(dealloc_state(tp), tp), self);
    Py_DECREF(tp);
}

static int
freelist_object_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((FreelistObject *)self)->ref);
    return 0;
}

static void
freelist_clear(freelist *fl)
{
    while (fl->head != NULL) {
        PyObject *op = fl->head;
        fl->head = ((FreelistObject *)op)->ref;
        PyObject_GC_Del(op);
    }
    fl->len = 0;
}


/* ======================================================================
 * Small helpers
 * ====================================================================== */

/* A new reference to obj, or to None when obj is NULL. */
static inline PyObject *
new_ref_or_none(PyObject *obj)
{
    return Py_NewRef(obj != NULL ? obj : Py_None);
}

/* None, or NULL when rc (a C function's status) is -1. */
static inline PyObject *
none_or_error(int rc)
{
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The status of a call whose result is not wanted: 0, dropping the
   result, or -1 when the call raised (res is NULL). */
static inline int
drop_result(PyObject *res)
{
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

/* series: task { */
/* bool(res) of a call's result, consumed; -1 when the call raised. */
static int
call_truth(PyObject *res)
{
    if (res == NULL) {
        return -1;
    }
    int b = PyObject_IsTrue(res);
    Py_DECREF(res);
    return b;
}

/* series: } */
/* Getters and setters for instance fields: the closure is the field's
   offset, FIELD(type, name). */
#define FIELD(type, name) ((void *)offsetof(type, name))

static inline void *
field_of(PyObject *self, void *offset)
{
    return (char *)self + (size_t)offset;
}

/* An object field, None when it is NULL. */
static PyObject *
get_object_field(PyObject *self, void *offset)
{
    return new_ref_or_none(*(PyObject **)field_of(self, offset));
}

/* An int flag, as a bool. */
static PyObject *
get_flag_field(PyObject *self, void *offset)
{
    return PyBool_FromLong(*(int *)field_of(self, offset));
}

/* 0 for a value assigned to an attribute; -1 with AttributeError for a
   deletion (val NULL). */
static int
check_not_deleted(PyObject *val)
{
    if (val == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    return 0;
}

/* bool(val) of a value assigned to an attribute, or -1 with an exception
   set (a deletion, or bool() failed). */
static int
assigned_truth(PyObject *val)
{
    if (check_not_deleted(val) < 0) {
        return -1;
    }
    return PyObject_IsTrue(val);
}

/* An int flag set to bool(val). */
static int
set_flag_field(PyObject *self, PyObject *val, void *offset)
{
    int b = assigned_truth(val);
    if (b < 0) {
        return -1;
    }
    *(int *)field_of(self, offset) = b;
    return 0;
}

/* Parse fast-call arguments by name.  The first `npos` names may be given
   positionally, the first `nreq` are required; out[i] is a borrowed
   reference or NULL when not given. */
static int
parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames, const char *const *names, int n, int npos,
           int nreq, PyObject **out)
{
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
    }
    if (nargs > npos) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %d positional argument%s "
                     "(%zd given)", fname, npos, npos == 1 ? "" : "s",
                     nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        out[i] = args[i];
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = 0;
        for (int i = 0; i < n; i++) {
            if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) {
                if (out[i] != NULL) {
                    PyErr_Format(PyExc_TypeError,
                                 "%s() got multiple values for argument "
                                 "'%s'", fname, names[i]);
                    return -1;
                }
                out[i] = args[nargs + k];
                found = 1;
                break;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%S'",
                         fname, key);
            return -1;
        }
    }
    for (int i = 0; i < nreq; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required argument '%s'",
                         fname, names[i]);
            return -1;
        }
    }
    return 0;
}

/* series: loop { */
static inline int core_method_is_own(asyncio_state *st, PyObject *loop,
                                     int which);
static PyObject **core_current_task_slot(asyncio_state *st, PyObject *loop);
static int core_call_soon_direct(asyncio_state *st, PyObject *loop,
                                 PyObject *fn, PyObject *arg, PyObject *ctx);

/* series: } */
/* loop.call_soon(fn[, arg], context=ctx); ctx NULL omits the keyword.
   Every argument is held for the duration of the call: the loop may run
   arbitrary code that drops the references our callers borrowed from. */
static int
call_soon(asyncio_state *st, PyObject *loop, PyObject *fn, PyObject *arg,
          PyObject *ctx)
{
/* series: loop { */
    /* the loop core's own call_soon, without a lookup or parsing */
    int own = core_method_is_own(st, loop, CORE_CALL_SOON);
    if (own != 0) {
        return own < 0 ? -1 : core_call_soon_direct(st, loop, fn, arg, ctx);
    }
/* series: } */
    PyObject *stack[4];
    size_t nargs = 0;
    stack[nargs++] = Py_NewRef(loop);
    stack[nargs++] = Py_NewRef(fn);
    if (arg != NULL) {
        stack[nargs++] = Py_NewRef(arg);
    }
    PyObject *kwnames = NULL;
    if (ctx != NULL) {
        stack[nargs] = Py_NewRef(ctx);
        kwnames = st->kw_context;
    }
    PyObject *res = PyObject_VectorcallMethod(st->str_call_soon, stack,
                                              nargs, kwnames);
    for (size_t i = 0; i < nargs + (ctx != NULL); i++) {
        Py_DECREF(stack[i]);
    }
    return drop_result(res);
}

/* A new reference to ctx, or to a copy of the current context when ctx is
   NULL or None (what `context=None` means throughout asyncio). */
static PyObject *
context_or_copy(PyObject *ctx)
{
    if (ctx == NULL || ctx == Py_None) {
        return PyContext_CopyCurrent();
    }
    return Py_NewRef(ctx);
}

/* series: loop { */
/* The parameters of a METH_METHOD | METH_FASTCALL | METH_KEYWORDS
   function (PyCMethod), and its PyMethodDef entry. */
#define CMETHOD_ARGS \
    PyObject *op, PyTypeObject *cls, PyObject *const *args, size_t nargsf, \
    PyObject *kwnames
#define CMETHOD(name, func, doc) \
    {name, (PyCFunction)(void (*)(void))(func), \
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS, PyDoc_STR(doc)}

/* TypeError unless a PyCMethod got no arguments. */
static int
check_no_args(const char *fname, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 0
        || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_Format(PyExc_TypeError, "%s() takes no arguments", fname);
        return -1;
    }
    return 0;
}
/* series: } */

/* series: task { */
/* Fetch the current exception as a normalized instance whose
   __traceback__ is set (new reference); NULL if none. */
static PyObject *
fetch_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

/* series: } */
/* Raise an exception instance (with its own __traceback__). */
static void
raise_instance(PyObject *exc)
{
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
}

/* cls(message formatted from fmt and vargs): new reference or NULL. */
static PyObject *
new_exception_v(PyObject *cls, const char *fmt, va_list vargs)
{
    PyObject *msg = PyUnicode_FromFormatV(fmt, vargs);
    if (msg == NULL) {
        return NULL;
    }
    PyObject *exc = PyObject_CallOneArg(cls, msg);
    Py_DECREF(msg);
    return exc;
}

/* Call the exception class `cls` with a formatted message and raise. */
static void
raise_formatted(PyObject *cls, const char *fmt, ...)
{
    va_list vargs;
    va_start(vargs, fmt);
    PyObject *exc = new_exception_v(cls, fmt, vargs);
    va_end(vargs);
    if (exc == NULL) {
        return;
    }
    raise_instance(exc);
    Py_DECREF(exc);
}

/* Fast path of keyword parsing for __init__: when every key of `kwds`
   (NULL or a dict) is one of names[0..n-1], store the values in out[]
   (left alone for absent names) and return 1; else return 0 and let the
   caller fall back to PyArg_ParseTupleAndKeywords for its messages. */
static int
init_kwargs_fast(PyObject *kwds, const char *const *names, int n,
                 PyObject **out)
{
    if (kwds == NULL) {
        return 1;
    }
    if (!PyDict_CheckExact(kwds)) {
        return 0;
    }
    Py_ssize_t pos = 0, found = 0;
    PyObject *key, *value;
    while (PyDict_Next(kwds, &pos, &key, &value)) {
        if (!PyUnicode_Check(key)) {
            return 0;
        }
        int i = 0;
        while (i < n && PyUnicode_CompareWithASCIIString(key, names[i])) {
            i++;
        }
        if (i == n) {
            return 0;
        }
        out[i] = value;
        found++;
    }
    return found == PyDict_GET_SIZE(kwds);
}

/* The same for vectorcall keyword names: 1 when each one is among
   names[0..n-1] (values stored in out[]), else 0. */
static int
vectorcall_kwargs_fast(PyObject *const *kwvalues, PyObject *kwnames,
                       const char *const *names, int n, PyObject **out)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int i = 0;
        while (i < n && PyUnicode_CompareWithASCIIString(key, names[i])) {
            i++;
        }
        if (i == n || out[i] != NULL) {
            return 0;
        }
        out[i] = kwvalues[k];
    }
    return 1;
}

static int
raise_uninitialized(void)
{
    PyErr_SetString(PyExc_RuntimeError, "Future object is not initialized.");
    return -1;
}


/* ======================================================================
 * The running loop
 * ====================================================================== */

/* Return the running loop of this thread, borrowed, or NULL (with no
   exception set) when there is none; -1 in *err on failure. */
static PyObject *
get_running_loop_borrowed(asyncio_state *st, int *err)
{
    PyThreadState *ts = PyThreadState_Get();
    *err = 0;
    if (st->rl_ts_id == ts->id && st->rl_fork_gen == fork_generation) {
        return st->rl_loop;
    }
    PyObject *tsdict = PyThreadState_GetDict();
    if (tsdict == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "thread-local storage is not available");
        *err = -1;
        return NULL;
    }
    PyObject *loop = NULL;
    PyObject *item = PyDict_GetItemWithError(tsdict,
                                             st->str_running_loop_key);
    if (item == NULL) {
        if (PyErr_Occurred()) {
            *err = -1;
            return NULL;
        }
    }
    else if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
        /* (loop, fork generation at the time it was set) */
        PyObject *gen = PyTuple_GET_ITEM(item, 1);
        unsigned long long g = PyLong_AsUnsignedLongLong(gen);
        if (g == (unsigned long long)-1 && PyErr_Occurred()) {
            *err = -1;
            return NULL;
        }
        if (g == fork_generation && PyTuple_GET_ITEM(item, 0) != Py_None) {
            loop = PyTuple_GET_ITEM(item, 0);
        }
    }
    st->rl_ts_id = ts->id;
    st->rl_fork_gen = fork_generation;
    st->rl_loop = loop;
    return loop;
}

static int
set_running_loop(asyncio_state *st, PyObject *loop)
{
    PyObject *tsdict = PyThreadState_GetDict();
    if (tsdict == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "thread-local storage is not available");
        return -1;
    }
    PyObject *gen = PyLong_FromUnsignedLongLong(fork_generation);
    if (gen == NULL) {
        return -1;
    }
    PyObject *item = PyTuple_Pack(2, loop, gen);
    Py_DECREF(gen);
    if (item == NULL) {
        return -1;
    }
    /* Invalidate first: storing may free the previous loop. */
    st->rl_ts_id = 0;
    st->rl_loop = NULL;
    int rc = PyDict_SetItem(tsdict, st->str_running_loop_key, item);
    Py_DECREF(item);
    if (rc < 0) {
        return -1;
    }
    PyThreadState *ts = PyThreadState_Get();
    st->rl_ts_id = ts->id;
    st->rl_fork_gen = fork_generation;
    st->rl_loop = loop == Py_None ? NULL : loop;
    return 0;
}

/* Running loop, else the policy's loop (new reference). */
static PyObject *
get_event_loop(asyncio_state *st)
{
    int err;
    PyObject *loop = get_running_loop_borrowed(st, &err);
    if (err) {
        return NULL;
    }
    if (loop != NULL) {
        return Py_NewRef(loop);
    }
    if (ensure_helpers(st) < 0) {
        return NULL;
    }
    /* Looked up on every call, like the pure-Python version, so that
       patching asyncio.events.get_event_loop_policy is honoured. */
    PyObject *policy = PyObject_CallMethodNoArgs(
        st->events_module, st->str_get_event_loop_policy);
    if (policy == NULL) {
        return NULL;
    }
    loop = PyObject_CallMethodNoArgs(policy, st->str_get_event_loop);
    Py_DECREF(policy);
    return loop;
}

static PyObject *
asyncio__get_running_loop_func(PyObject *module, PyObject *Py_UNUSED(arg))
{
    int err;
    PyObject *loop = get_running_loop_borrowed(get_module_state(module),
                                               &err);
    if (err) {
        return NULL;
    }
    return new_ref_or_none(loop);
}

static PyObject *
asyncio_get_running_loop_func(PyObject *module, PyObject *arg)
{
    PyObject *loop = asyncio__get_running_loop_func(module, arg);
    if (loop == Py_None) {
        Py_DECREF(loop);
        PyErr_SetString(PyExc_RuntimeError, "no running event loop");
        return NULL;
    }
    return loop;
}

static PyObject *
asyncio__set_running_loop_func(PyObject *module, PyObject *loop)
{
    return none_or_error(set_running_loop(get_module_state(module), loop));
}

static PyObject *
asyncio_get_event_loop_func(PyObject *module, PyObject *Py_UNUSED(arg))
{
    return get_event_loop(get_module_state(module));
}

static PyObject *
asyncio__get_event_loop_func(PyObject *module, PyObject *const *args,
                             Py_ssize_t nargs, PyObject *kwnames)
{
    /* stacklevel is accepted for compatibility and unused, as in 3.11. */
    static const char *const names[] = {"stacklevel"};
    PyObject *stacklevel;
    if (parse_args("_get_event_loop", args, nargs, kwnames, names, 1, 1, 0,
                   &stacklevel) < 0) {
        return NULL;
    }
    if (stacklevel != NULL && !PyLong_Check(stacklevel)) {
        PyErr_Format(PyExc_TypeError,
                     "'%.200s' object cannot be interpreted as an integer",
                     Py_TYPE(stacklevel)->tp_name);
        return NULL;
    }
    return get_event_loop(get_module_state(module));
}


/* ======================================================================
 * Future
 * ====================================================================== */

typedef struct {
    PyObject_HEAD
    PyObject *fut_loop;
    /* The first callback lives in two fields, the others in fut_callbacks
       as a flat list [fn, ctx, fn, ctx, ...]; a future awaited by one task
       then needs no list.  The list is never shared with Python code. */
    PyObject *fut_callback0;
    PyObject *fut_context0;
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
} FutureObject;

#define Future_CheckExact(st, obj) \
    ((st)->FutureType != NULL && Py_IS_TYPE(obj, (st)->FutureType))
/* series: task { */
#define Task_CheckExact(st, obj) \
    ((st)->TaskType != NULL && Py_IS_TYPE(obj, (st)->TaskType))
/* series: } */
/* Exactly one of our classes: internals may replace method calls. */
/* series: loop { */
/* (_GatheringFuture overrides only cancel(), which they never replace.) */
#define Gathering_CheckExact(st, obj) \
    ((st)->GatheringFutureType != NULL \
     && Py_IS_TYPE(obj, (st)->GatheringFutureType))
#define Future_IsNative(st, obj) \
    (Future_CheckExact(st, obj) || Task_CheckExact(st, obj) \
     || Gathering_CheckExact(st, obj))
/* series: } */
/* series: task { */
/* series: until loop
#define Future_IsNative(st, obj) \
    (Future_CheckExact(st, obj) || Task_CheckExact(st, obj))
series: end */

static int task_cancel_impl(asyncio_state *st, FutureObject *task,
                            PyObject *msg);
/* series: } */
/* series: until task
#define Future_IsNative(st, obj) Future_CheckExact(st, obj)
series: end */

static PyObject *
future_state_name(asyncio_state *st, FutureObject *fut)
{
    return st->state_names[fut->fut_state];
}

/* Ask the loop to call every callback, dropping them from the future.
   The callbacks are moved out first so that whatever the loop does
   (including re-entering this future) cannot touch what we iterate. */
static int
future_schedule_callbacks(asyncio_state *st, FutureObject *fut)
{
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
        rc = call_soon(st, loop, cb0, (PyObject *)fut, ctx0);
    }
    if (list != NULL) {
        for (Py_ssize_t i = 0;
             rc == 0 && i + 1 < PyList_GET_SIZE(list); i += 2) {
            rc = call_soon(st, loop, PyList_GET_ITEM(list, i),
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
static void
report_to_loop(asyncio_state *st, FutureObject *fut, PyObject *context)
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
static void
report_from_finalizer(PyObject *self,
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
    report_to_loop(st, fut, context);
}

/* Drop the references a future holds but its loop and __dict__. */
static void
future_clear_state(FutureObject *fut)
{
    Py_CLEAR(fut->fut_callback0);
    Py_CLEAR(fut->fut_context0);
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

static int future_init_impl(asyncio_state *st, FutureObject *fut,
                            PyObject *loop);

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
    if (type != (PyObject *)st->FutureType || nargs != 0
        || !vectorcall_kwargs_fast(args, kwnames, names, 1, &loop)) {
        return _PyObject_MakeTpCall(PyThreadState_Get(), type, args, nargs,
                                    kwnames);
    }
    PyObject *self = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type,
                                                      0);
    if (self == NULL) {
        return NULL;
    }
    if (future_init_impl(st, (FutureObject *)self, loop) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

static int
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
    /* __init__ on a live future starts it afresh; an exception it was
       holding unretrieved is reported rather than silently lost. */
    if (fut->fut_log_tb && fut->fut_loop != NULL) {
        fut->fut_log_tb = 0;
        future_report_unretrieved(st, fut);
    }
    future_reset(fut);
    Py_XSETREF(fut->fut_loop, loop);

    PyObject *debug = PyObject_CallMethodNoArgs(loop, st->str_get_debug);
    if (debug == NULL) {
        return -1;
    }
    int is_debug = PyObject_IsTrue(debug);
    Py_DECREF(debug);
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

/* result(): new reference, or NULL with the future's exception raised. */
static PyObject *
future_result_impl(asyncio_state *st, FutureObject *fut);

static PyObject *
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

/* series: task { */
/* _make_cancelled_error honouring an override in a subclass. */
static PyObject *
future_make_cancelled_error(asyncio_state *st, FutureObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return future_make_cancelled_error_impl(st, fut);
    }
    return PyObject_CallMethodNoArgs((PyObject *)fut,
                                     st->str_make_cancelled_error);
}

/* series: } */
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

static PyObject *
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

static int
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
static int
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

static int
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
static int
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

static int
future_add_done_callback_impl(asyncio_state *st, FutureObject *fut,
                              PyObject *fn, PyObject *ctx)
{
    if (fut->fut_loop == NULL) {
        return raise_uninitialized();
    }
    if (fut->fut_state != STATE_PENDING) {
        return call_soon(st, fut->fut_loop, fn, (PyObject *)fut,
                         ctx != NULL ? ctx : Py_None);
    }
    ctx = context_or_copy(ctx);
    if (ctx == NULL) {
        return -1;
    }
    if (fut->fut_callback0 == NULL
        && (fut->fut_callbacks == NULL
            || PyList_GET_SIZE(fut->fut_callbacks) == 0)) {
        fut->fut_callback0 = Py_NewRef(fn);
        fut->fut_context0 = ctx;
        return 0;
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

/* Remove every callback equal to fn.  Comparisons run arbitrary code that
   may add, remove or schedule callbacks, so we hold references to what we
   compare and re-read sizes on every step. */
static Py_ssize_t
future_remove_done_callback_impl(FutureObject *fut, PyObject *fn)
{
    Py_ssize_t removed = 0;
    if (fut->fut_callback0 != NULL) {
        PyObject *cb = Py_NewRef(fut->fut_callback0);
        int eq = PyObject_RichCompareBool(cb, fn, Py_EQ);
        if (eq < 0) {
            Py_DECREF(cb);
            return -1;
        }
        if (eq && fut->fut_callback0 == cb) {
            Py_CLEAR(fut->fut_callback0);
            Py_CLEAR(fut->fut_context0);
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
    if (st == NULL) {
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
static PyObject *
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
    static const char *const names[] = {"fn", "context"};
    PyObject *argv[2];
    if (parse_args("add_done_callback", args, nargs, kwnames, names, 2, 1,
                   1, argv) < 0) {
        return NULL;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return none_or_error(future_add_done_callback_impl(
        st, (FutureObject *)self, argv[0], argv[1]));
}

static PyObject *
future_remove_done_callback(PyObject *self, PyObject *fn)
{
    FutureObject *fut = (FutureObject *)self;
    if (fut->fut_loop == NULL) {
        raise_uninitialized();
        return NULL;
    }
    Py_ssize_t n = future_remove_done_callback_impl(fut, fn);
    if (n < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

/* cancel(msg=None) of Future and of Task, by their `impl`. */
static PyObject *
cancel_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
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
    return cancel_method(self, args, nargs, kwnames, future_cancel_impl);
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

/* The state of self's module with asyncio's helpers imported, or NULL
   with an exception set. */
static asyncio_state *
state_with_helpers(PyObject *self)
{
    asyncio_state *st = state_of(self);
    if (st == NULL || ensure_helpers(st) < 0) {
        return NULL;
    }
    return st;
}

static PyObject *
future__repr_info(PyObject *self, PyObject *Py_UNUSED(arg))
{
    asyncio_state *st = state_with_helpers(self);
    if (st == NULL) {
        return NULL;
    }
    return PyObject_CallOneArg(st->future_repr_info, self);
}

/* __repr__ shared by Future and Task: "<ClassName info...>" from
   self._repr_info(), with "..." on recursion (reprlib.recursive_repr).
   When asyncio's helpers cannot be imported (interpreter shutdown) fall
   back to the class name and state, so repr never fails for that. */
static PyObject *
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
    PyObject *info = PyObject_CallMethodNoArgs(self, st->str_repr_info);
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

static int
future_traverse(PyObject *self, visitproc visit, void *arg)
{
    FutureObject *fut = (FutureObject *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(fut->fut_loop);
    Py_VISIT(fut->fut_callback0);
    Py_VISIT(fut->fut_context0);
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

static int
future_clear(PyObject *self)
{
    FutureObject *fut = (FutureObject *)self;
    Py_CLEAR(fut->fut_loop);
    future_clear_state(fut);
    Py_CLEAR(fut->fut_dict);
    return 0;
}

/* PEP 442 finaliser: report an exception nobody retrieved. */
static void
future_finalize(PyObject *self)
{
    FutureObject *fut = (FutureObject *)self;
    if (!fut->fut_log_tb || fut->fut_loop == NULL) {
        return;
    }
    fut->fut_log_tb = 0;
    report_from_finalizer(self, future_report_unretrieved);
}

/* tp_dealloc of Future and Task, which differ in their tp_clear. */
static inline void
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

static PyMethodDef future_methods[] = {
    {"result", future_result, METH_NOARGS,
     PyDoc_STR("Return the result this future represents.")},
    {"exception", future_exception, METH_NOARGS,
     PyDoc_STR("Return the exception that was set on this future.")},
    {"set_result", future_set_result, METH_O,
     PyDoc_STR("Mark the future done and set its result.")},
    {"set_exception", future_set_exception, METH_O,
     PyDoc_STR("Mark the future done and set an exception.")},
    {"add_done_callback",
     (PyCFunction)(void (*)(void))future_add_done_callback,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Add a callback to be run when the future becomes done.")},
    {"remove_done_callback", future_remove_done_callback, METH_O,
     PyDoc_STR("Remove all instances of a callback from the \"call when "
               "done\" list.\n\nReturns the number of callbacks removed.")},
    {"cancel", (PyCFunction)(void (*)(void))future_cancel,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Cancel the future and schedule callbacks.")},
    {"cancelled", future_cancelled, METH_NOARGS,
     PyDoc_STR("Return True if the future was cancelled.")},
    {"done", future_done, METH_NOARGS,
     PyDoc_STR("Return True if the future is done.")},
    {"get_loop", future_get_loop, METH_NOARGS,
     PyDoc_STR("Return the event loop the Future is bound to.")},
    {"_make_cancelled_error", future__make_cancelled_error, METH_NOARGS,
     PyDoc_STR("Create the CancelledError to raise if the Future is "
               "cancelled.")},
    {"_repr_info", future__repr_info, METH_NOARGS, NULL},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     PyDoc_STR("See PEP 585")},
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
"This class is *almost* compatible with concurrent.futures.Future.\n\n"
"    Differences:\n\n"
"    - result() and exception() do not take a timeout argument and\n"
"      raise an exception when the future isn't done yet.\n\n"
"    - Callbacks registered with add_done_callback() are always called\n"
"      via the event loop's call_soon_threadsafe().\n\n"
"    - This class is not compatible with the wait() and as_completed()\n"
"      methods in the concurrent.futures package.");

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

struct futureiterobject {
    PyObject_HEAD
    FutureObject *future;   /* NULL once finished; freelist link when free */
    int yielded;
};

_Static_assert(offsetof(FutureIterObject, future)
               == offsetof(FreelistObject, ref),
               "FutureIterObject must start like FreelistObject");

static PyObject *
future_new_iter(PyObject *self)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    FutureIterObject *it = (FutureIterObject *)freelist_new(
        &st->fi_freelist, st->FutureIterType);
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
            *presult = Py_NewRef((PyObject *)fut);
            return PYGEN_NEXT;
        }
        PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
        goto error;
    }
    /* Finished: the iterator is exhausted whatever result() does. */
    it->future = NULL;
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

static PyMethodDef futureiter_methods[] = {
    {"send", futureiter_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))futureiter_throw, METH_FASTCALL,
     NULL},
    {"close", futureiter_close, METH_NOARGS, NULL},
    {NULL, NULL}
};

static PyType_Slot futureiter_slots[] = {
    {Py_tp_dealloc, freelist_object_dealloc},
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


/* ======================================================================
 * Task bookkeeping: _register_task, _unregister_task, _enter_task,
 * _leave_task over the _all_tasks WeakSet and the _current_tasks dict.
 * ====================================================================== */

/* series: loop { */
/* Tasks of our Task class, subclasses included, are registered in a ring
   of links kept in the tasks themselves, which a task leaves when it is
   cleared or destroyed: no weak reference and no Python call per task.
   Other tasks go to the _all_tasks WeakSet; tasks.all_tasks() reads both
   (_native_tasks() below). */
static task_link *task_link_of(PyObject *task);
static PyObject *task_of_link(task_link *link);

static int
native_task_check(asyncio_state *st, PyObject *task)
{
    return st->TaskType != NULL && PyObject_TypeCheck(task, st->TaskType);
}

static void
native_task_link(asyncio_state *st, PyObject *task)
{
    task_link *link = task_link_of(task);
    task_link *head = &st->native_tasks;
    if (link->next != NULL) {
        return;     /* registered already */
    }
    link->prev = head;
    link->next = head->next;
    head->next->prev = link;
    head->next = link;
}

static void
native_task_unlink(task_link *link)
{
    if (link->next == NULL) {
        return;
    }
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->prev = link->next = NULL;
}

/* series: } */
static int
register_task(asyncio_state *st, PyObject *task)
{
/* series: loop { */
    if (native_task_check(st, task)) {
        native_task_link(st, task);
        return 0;
    }
/* series: } */
    if (st->all_tasks == NULL) {
        return raise_finalized();
    }
    return drop_result(PyObject_CallMethodOneArg(st->all_tasks, st->str_add,
                                                 task));
}

static int
unregister_task(asyncio_state *st, PyObject *task)
{
/* series: loop { */
    if (native_task_check(st, task)) {
        native_task_unlink(task_link_of(task));
        return 0;
    }
/* series: } */
    if (st->all_tasks == NULL) {
        return 0;
    }
    return drop_result(PyObject_CallMethodOneArg(st->all_tasks,
                                                 st->str_discard, task));
}

/* The current task of loop (borrowed) in *cur, NULL if none: 0, or -1
   with an exception set. */
static int
current_task(asyncio_state *st, PyObject *loop, PyObject **cur)
{
    if (st->current_tasks == NULL) {
        return raise_finalized();
    }
/* series: loop { */
    /* a loop core keeps the task it runs itself; _current_tasks still
       holds what the pure _py_enter_task() put there */
    PyObject **slot = core_current_task_slot(st, loop);
    if (slot != NULL
        && (*slot != NULL || PyDict_GET_SIZE(st->current_tasks) == 0)) {
        *cur = *slot;
        return 0;
    }
/* series: } */
    *cur = PyDict_GetItemWithError(st->current_tasks, loop);
    if (*cur == NULL && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

static int
enter_task(asyncio_state *st, PyObject *loop, PyObject *task)
{
    PyObject *cur;
    if (current_task(st, loop, &cur) < 0) {
        return -1;
    }
    if (cur != NULL && cur != Py_None) {
        Py_INCREF(cur);
        PyErr_Format(PyExc_RuntimeError,
                     "Cannot enter into task %R while another task %R "
                     "is being executed.", task, cur);
        Py_DECREF(cur);
        return -1;
    }
/* series: loop { */
    PyObject **slot = core_current_task_slot(st, loop);
    if (slot != NULL) {
        Py_XSETREF(*slot, Py_NewRef(task));
        return 0;
    }
/* series: } */
    return PyDict_SetItem(st->current_tasks, loop, task);
}

static int
leave_task(asyncio_state *st, PyObject *loop, PyObject *task)
{
    PyObject *cur;
    if (current_task(st, loop, &cur) < 0) {
        return -1;
    }
    if (cur != task) {
        cur = cur != NULL ? cur : Py_None;
        Py_INCREF(cur);
        PyErr_Format(PyExc_RuntimeError,
                     "Leaving task %R does not match the current task %R.",
                     task, cur);
        Py_DECREF(cur);
        return -1;
    }
/* series: loop { */
    PyObject **slot = core_current_task_slot(st, loop);
    if (slot != NULL && *slot != NULL) {
        Py_CLEAR(*slot);
        return 0;
    }
/* series: } */
    return PyDict_DelItem(st->current_tasks, loop);
}

static PyObject *
asyncio__register_task(PyObject *module, PyObject *task)
{
    return none_or_error(register_task(get_module_state(module), task));
}

static PyObject *
asyncio__unregister_task(PyObject *module, PyObject *task)
{
    return none_or_error(unregister_task(get_module_state(module), task));
}
/* series: loop { */

/* current_task(loop=None) */
static PyObject *
asyncio_current_task(PyObject *module, PyObject *const *args,
                     Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"loop"};
    PyObject *loop;
    if (parse_args("current_task", args, nargs, kwnames, names, 1, 1, 0,
                   &loop) < 0) {
        return NULL;
    }
    loop = loop != NULL && loop != Py_None
        ? Py_NewRef(loop) : asyncio_get_running_loop_func(module, NULL);
    if (loop == NULL) {
        return NULL;
    }
    PyObject *cur;
    int rc = current_task(get_module_state(module), loop, &cur);
    Py_DECREF(loop);
    return rc < 0 ? NULL : new_ref_or_none(cur);
}

/* The registered tasks of our Task class, as a new list.  Appending
   allocates no GC object, so no task can leave the ring during the walk. */
static PyObject *
asyncio__native_tasks(PyObject *module, PyObject *Py_UNUSED(arg))
{
    task_link *head = &get_module_state(module)->native_tasks;
    PyObject *list = PyList_New(0);
    if (list == NULL || head->next == NULL) {
        return list;
    }
    for (task_link *link = head->next; link != head; link = link->next) {
        if (PyList_Append(list, task_of_link(link)) < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}
/* series: } */

/* _enter_task(loop, task) and _leave_task(loop, task), by `func`. */
static PyObject *
loop_task_func(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames, const char *fname,
               int (*func)(asyncio_state *, PyObject *, PyObject *))
{
    static const char *const names[] = {"loop", "task"};
    PyObject *argv[2];
    if (parse_args(fname, args, nargs, kwnames, names, 2, 2, 2, argv) < 0) {
        return NULL;
    }
    return none_or_error(func(get_module_state(module), argv[0], argv[1]));
}

static PyObject *
asyncio__enter_task(PyObject *module, PyObject *const *args,
                    Py_ssize_t nargs, PyObject *kwnames)
{
    return loop_task_func(module, args, nargs, kwnames, "_enter_task",
                          enter_task);
}

static PyObject *
asyncio__leave_task(PyObject *module, PyObject *const *args,
                    Py_ssize_t nargs, PyObject *kwnames)
{
    return loop_task_func(module, args, nargs, kwnames, "_leave_task",
                          leave_task);
}


/* ======================================================================
 * Task
 * ====================================================================== */

typedef struct {
    FutureObject task_future;
    PyObject *task_fut_waiter;
    PyObject *task_coro;
    PyObject *task_name;        /* NULL: "Task-<task_name_num>", made lazily */
    PyObject *task_context;
    unsigned long long task_name_num;
    int task_must_cancel;
    int task_log_destroy_pending;
    Py_ssize_t task_num_cancels_requested;
    task_link task_registered;  /* series: loop */
} TaskObject;

static PyObject *task_step_impl(asyncio_state *st, TaskObject *task,
                                PyObject *exc);
/* series: loop { */

static task_link *
task_link_of(PyObject *task)
{
    return &((TaskObject *)task)->task_registered;
}

static PyObject *
task_of_link(task_link *link)
{
    return (PyObject *)((char *)link - offsetof(TaskObject, task_registered));
}
/* series: } */

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

_Static_assert(offsetof(TaskCallbackObject, task)
               == offsetof(FreelistObject, ref),
               "TaskCallbackObject must start like FreelistObject");

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
        &st->tcb_freelist, st->TaskCallbackType);
    if (cb == NULL) {
        return NULL;
    }
    cb->task = (TaskObject *)Py_NewRef(task);
    cb->kind = kind;
    cb->vectorcall = task_callback_vectorcall;
    PyObject_GC_Track(cb);
    return (PyObject *)cb;
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

static PyGetSetDef task_callback_getsets[] = {
    {"__qualname__", task_callback_get_qualname, NULL, NULL, NULL},
    {"__name__", task_callback_get_name, NULL, NULL, NULL},
    {"__self__", task_callback_get_self, NULL, NULL, NULL},
    {NULL}
};

static PyMemberDef task_callback_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET,
     offsetof(TaskCallbackObject, vectorcall), READONLY},
    {NULL}
};

static PyType_Slot task_callback_slots[] = {
    {Py_tp_dealloc, freelist_object_dealloc},
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
    PyObject *loop = Py_NewRef(task->task_future.fut_loop);
    PyObject *ctx = Py_NewRef(task->task_context);
    int rc = call_soon(st, loop, cb, exc, ctx);
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
static PyObject *
get_future_loop(asyncio_state *st, PyObject *fut)
{
    if (Future_IsNative(st, fut)) {
        return new_ref_or_none(((FutureObject *)fut)->fut_loop);
    }
    PyObject *getter;
    if (_PyObject_LookupAttr(fut, st->str_get_loop, &getter) < 0) {
        return NULL;
    }
    if (getter != NULL) {
        PyObject *res = PyObject_CallNoArgs(getter);
        Py_DECREF(getter);
        return res;
    }
    return PyObject_GetAttr(fut, st->str_loop);
}

/* fut.cancel(msg=msg) for any future; C internals for ours. */
static int
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
                                                st->kw_msg));
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
    PyObject *wakeup = task_callback_new(st, task, TASK_CB_WAKEUP);
    if (wakeup == NULL) {
        return -1;
    }
    int rc;
    PyObject *ctx = Py_NewRef(task->task_context);
    if (native) {
        ((FutureObject *)result)->fut_blocking = 0;
        rc = future_add_done_callback_impl(st, (FutureObject *)result,
                                           wakeup, ctx);
    }
    else {
        rc = PyObject_SetAttr(result, st->str_blocking, Py_False);
        if (rc == 0) {
            PyObject *stack[3] = {result, wakeup, ctx};
            rc = drop_result(PyObject_VectorcallMethod(
                st->str_add_done_callback, stack, 2, st->kw_context));
        }
    }
    Py_DECREF(ctx);
    Py_DECREF(wakeup);
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
        res = PyObject_CallMethodOneArg(coro, st->str_send, Py_None);
    }
    else {
        res = PyObject_CallMethodOneArg(coro, st->str_throw, exc);
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
    int reraise = PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)
                  || PyErr_ExceptionMatches(PyExc_SystemExit);
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
        PyObject *result;
        PySendResult status = task_send(st, coro, exc, &result);
        if (status == PYGEN_RETURN) {
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
        }
        else if (status == PYGEN_ERROR) {
            rc = task_handle_error(st, task);
        }
        else {
            rc = task_handle_yield(st, task, loop, result);
        }

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
    if (ensure_helpers(st) < 0) {
        return -1;
    }
    return call_truth(PyObject_CallOneArg(st->iscoroutine, coro));
}


/* ---------- Task: Python methods ---------- */

static int task_init_impl(asyncio_state *st, TaskObject *task,
                          PyObject *coro, PyObject *loop, PyObject *name,
                          PyObject *context);

/* Task(coro, loop=..., name=..., context=...) without building a keyword
   dict: the vectorcall of the exact type (see future_vectorcall()). */
static PyObject *
task_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf,
                PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    asyncio_state *st = state_of_type((PyTypeObject *)type);
    if (st == NULL) {
        return NULL;
    }
    static const char *const names[] = {"loop", "name", "context"};
    PyObject *kw[3] = {NULL, NULL, NULL};
    if (type != (PyObject *)st->TaskType || nargs != 1
        || !vectorcall_kwargs_fast(args + nargs, kwnames, names, 3, kw)) {
        return _PyObject_MakeTpCall(PyThreadState_Get(), type, args, nargs,
                                    kwnames);
    }
    PyObject *self = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type,
                                                      0);
    if (self == NULL) {
        return NULL;
    }
    if (task_init_impl(st, (TaskObject *)self, args[0], kw[0],
                       kw[1] != NULL ? kw[1] : Py_None,
                       kw[2] != NULL ? kw[2] : Py_None) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

static int
task_tp_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"coro", "loop", "name", "context", NULL};
    PyObject *coro, *kw[3] = {NULL, Py_None, Py_None};
    if (PyTuple_GET_SIZE(args) == 1
        && init_kwargs_fast(kwds, (const char *const *)kwlist + 1, 3, kw)) {
        coro = PyTuple_GET_ITEM(args, 0);
    }
    else if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$OOO:Task", kwlist,
                                          &coro, &kw[0], &kw[1], &kw[2])) {
        return -1;
    }
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return -1;
    }
    return task_init_impl(st, (TaskObject *)self, coro, kw[0], kw[1], kw[2]);
}

static int
task_init_impl(asyncio_state *st, TaskObject *task, PyObject *coro,
               PyObject *loop, PyObject *name, PyObject *context)
{
    PyObject *self = (PyObject *)task;
    if (future_init_impl(st, &task->task_future, loop) < 0) {
        return -1;
    }
    /* a repeated __init__ starts the task afresh */
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
        task->task_name_num = ++st->task_name_counter;
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
    Py_XSETREF(task->task_coro, Py_NewRef(coro));

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
    return new_ref_or_none(((TaskObject *)self)->task_context);
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
    return cancel_method(self, args, nargs, kwnames, task_cancel_impl);
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
    asyncio_state *st = state_with_helpers(self);
    if (st == NULL) {
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(st->task_get_stack, self,
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
    asyncio_state *st = state_with_helpers(self);
    if (st == NULL) {
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(
        st->task_print_stack, self, argv[0] != NULL ? argv[0] : Py_None,
        argv[1] != NULL ? argv[1] : Py_None, NULL);
}

static PyObject *
task__repr_info(PyObject *self, PyObject *Py_UNUSED(arg))
{
    asyncio_state *st = state_with_helpers(self);
    if (st == NULL) {
        return NULL;
    }
    return PyObject_CallOneArg(st->task_repr_info, self);
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
    return future_traverse(self, visit, arg);
}

static int
task_clear(PyObject *self)
{
    TaskObject *task = (TaskObject *)self;
    native_task_unlink(&task->task_registered);  /* series: loop */
    Py_CLEAR(task->task_fut_waiter);
    Py_CLEAR(task->task_coro);
    Py_CLEAR(task->task_name);
    Py_CLEAR(task->task_context);
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
    report_to_loop(st, fut, context);
}

/* PEP 442 finaliser: report a task destroyed while pending, then an
   unretrieved exception (both, like Task.__del__ + Future.__del__). */
static void
task_finalize(PyObject *self)
{
    TaskObject *task = (TaskObject *)self;
    FutureObject *fut = &task->task_future;
/* series: loop { */
    /* A task the GC found unreachable has left the _all_tasks WeakSet
       before finalisers run, even if one of them resurrects it: it leaves
       our list now for the same reason. */
    native_task_unlink(&task->task_registered);
/* series: } */
    if (fut->fut_loop != NULL && fut->fut_state == STATE_PENDING
        && task->task_log_destroy_pending) {
        task->task_log_destroy_pending = 0;
        report_from_finalizer(self, task_report_pending);
    }
    future_finalize(self);
}

static void
task_dealloc(PyObject *self)
{
    future_dealloc_impl(self, task_clear);
}

static PyMethodDef task_methods[] = {
    {"get_coro", task_get_coro, METH_NOARGS, NULL},
    {"get_context", task_get_context, METH_NOARGS, NULL},
    {"get_name", task_get_name, METH_NOARGS, NULL},
    {"set_name", task_set_name, METH_O, NULL},
    {"set_result", task_set_result, METH_O, NULL},
    {"set_exception", task_set_exception, METH_O, NULL},
    {"cancel", (PyCFunction)(void (*)(void))task_cancel,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Request that this task cancel itself.")},
    {"cancelling", task_cancelling, METH_NOARGS,
     PyDoc_STR("Return the count of the task's cancellation requests.")},
    {"uncancel", task_uncancel, METH_NOARGS,
     PyDoc_STR("Decrement the task's count of cancellation requests.")},
    {"get_stack", (PyCFunction)(void (*)(void))task_get_stack,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Return the list of stack frames for this task's "
               "coroutine.")},
    {"print_stack", (PyCFunction)(void (*)(void))task_print_stack,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Print the stack or traceback for this task's coroutine.")},
    {"_repr_info", task__repr_info, METH_NOARGS, NULL},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     PyDoc_STR("See PEP 585")},
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
"Task(coro, *, loop=None, name=None, context=None)\n--\n\n"
"A coroutine wrapped in a Future.");

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


/* ======================================================================
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
 * ====================================================================== */

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

_Static_assert(offsetof(HandleObject, h_callback)
               == offsetof(FreelistObject, ref),
               "a Handle links the freelist through its callback field");

#define Handle_Check(st, op) PyObject_TypeCheck((op), (st)->HandleType)
#define TimerHandle_Check(st, op) \
    PyObject_TypeCheck((op), (st)->TimerHandleType)

static int loop_get_debug(asyncio_state *st, PyObject *loop);

/* Memory for a handle of type tp, its fields NULL, not yet tracked. */
static HandleObject *
handle_alloc(asyncio_state *st, PyTypeObject *tp)
{
    HandleObject *h;
    freelist *fl = freelist_of(st, tp);
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
static int
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

/* A callback's positional arguments as the loop core got them: the object
   handed to _call_soon() (obj), or else the vector of call_soon(),
   call_later() and call_at(). */
typedef struct {
    PyObject *obj;
    PyObject *const *items;
    Py_ssize_t n;
} cb_args;

/* The arguments as one object, as a Python method takes them: a new
   reference. */
static PyObject *
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

/* The handle's context: `context`, or when that is NULL or None a copy of
   the current one, made later by handle_context() from the variables the
   current context has now. */
static int
handle_set_context(HandleObject *h, PyObject *context)
{
    if (context != NULL && context != Py_None) {
        h->h_context = Py_NewRef(context);
        return 0;
    }
    PyContext *current = (PyContext *)PyThreadState_Get()->context;
    if (current != NULL) {
        /* a HAMT never changes: setting a variable makes a new one */
        h->h_vars = Py_NewRef((PyObject *)current->ctx_vars);
        return 0;
    }
    h->h_context = PyContext_CopyCurrent();
    return h->h_context == NULL ? -1 : 0;
}

/* handle._context: a new reference, None when it has none.  A copy of
   the context call_soon() found is made on first use. */
static PyObject *
handle_context(HandleObject *h)
{
    if (h->h_vars != NULL) {
        PyObject *ctx = PyContext_New();
        if (ctx == NULL) {
            return NULL;
        }
        Py_SETREF(((PyContext *)ctx)->ctx_vars, (PyHamtObject *)h->h_vars);
        h->h_vars = NULL;
        Py_XSETREF(h->h_context, ctx);
    }
    return new_ref_or_none(h->h_context);
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
static HandleObject *
handle_new(asyncio_state *st, PyObject *when, PyObject *callback,
           const cb_args *args, PyObject *loop, PyObject *context, int drop,
           int debug)
{
    HandleObject *h = handle_alloc(
        st, when == NULL ? st->HandleType : st->TimerHandleType);
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
        || handle_set_context(h, context) < 0
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
    if (ensure_helpers(st) < 0) {
        return NULL;
    }
    PyObject *args = handle_args(h);
    if (args == NULL) {
        return NULL;
    }
    PyObject *cb = new_ref_or_none(h->h_callback);
    PyObject *source = PyObject_CallFunctionObjArgs(
        st->format_callback_source, cb, args, NULL);
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
    if (PyErr_ExceptionMatches(PyExc_SystemExit)
        || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
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
static int
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
    return none_or_error(handle_run(get_module_state(PyType_GetModule(cls)),
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
        handle_do_cancel(get_module_state(PyType_GetModule(cls)), h));
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
    asyncio_state *st = get_module_state(PyType_GetModule(cls));
    PyObject *loop = new_ref_or_none(h->h_loop);
    PyObject *res = PyObject_CallMethodOneArg(
        loop, st->str_timer_handle_cancelled, op);
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
    return handle_repr_info_list(get_module_state(PyType_GetModule(cls)),
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
    freelist_keep_or_free(freelist_of(dealloc_state(tp), tp), self);
    Py_DECREF(tp);
}

static PyMethodDef handle_methods[] = {
    CMETHOD("cancel", handle_cancel,
                         "Cancel the callback; does nothing if it already "
                         "ran or was cancelled."),
    {"cancelled", handle_cancelled, METH_NOARGS,
     PyDoc_STR("Return True if the handle was cancelled.")},
    {"get_context", handle_get_context, METH_NOARGS,
     PyDoc_STR("Return the contextvars.Context the callback runs in.")},
    CMETHOD("_run", handle__run, NULL),
    CMETHOD("_repr_info", handle__repr_info, NULL),
    {NULL, NULL}
};

static PyMethodDef timer_methods[] = {
    CMETHOD("cancel", timer_cancel,
                         "Cancel the callback; does nothing if it already "
                         "ran or was cancelled."),
    {"when", timer_when, METH_NOARGS,
     PyDoc_STR("Return a scheduled callback time.\n\nThe time is an "
               "absolute timestamp, using the same time\nreference as the "
               "loop's time().")},
    CMETHOD("_repr_info", timer__repr_info, NULL),
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

static PyGetSetDef handle_getsets[] = {
    {"_cancelled", get_flag_field, set_flag_field, NULL,
     FIELD(HandleObject, h_cancelled)},
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
        "Object returned by callback registration methods.")},
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
        "Object returned by timed callback registration methods.")},
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


/* ======================================================================
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
 * see the calls they expect.
 * ====================================================================== */

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

/* The version of an object's instance dict; 0 when it has none.  Every
   change to a dict gives it a new version (PEP 509). */
static uint64_t
dict_version_of(PyObject *obj)
{
    PyObject **dictptr = _PyObject_GetDictPtr(obj);
    if (dictptr == NULL || *dictptr == NULL) {
        return 0;
    }
    return ((PyDictObject *)*dictptr)->ma_version_tag;
}

/* The selector loop's _process_events and selectors.EpollSelector, which
   the core's shortcut in core_poll() is for.  They live in modules that
   import this one, hence the late import; until it succeeds (or on
   systems without epoll) there is no shortcut. */
static void
core_load_selector_refs(asyncio_state *st)
{
    if (st->selector_refs_loaded) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *cls = import_attr("asyncio.selector_events",
                                "BaseSelectorEventLoop");
    PyObject *meth = NULL, *write = NULL;
    if (cls != NULL) {
        PyObject *dict = ((PyTypeObject *)cls)->tp_dict;
        meth = PyDict_GetItemWithError(
            dict, st->core_own_names[CORE_PROCESS_EVENTS]);
        write = meth != NULL ? PyDict_GetItemWithError(
            dict, st->core_own_names[CORE_WRITE_TO_SELF]) : NULL;
        Py_XINCREF(meth);
        Py_XINCREF(write);
        Py_DECREF(cls);
    }
    PyObject *sock = write != NULL ? import_attr("socket", "socket") : NULL;
    if (sock != NULL) {
        Py_XSETREF(st->core_own_methods[CORE_PROCESS_EVENTS], meth);
        Py_XSETREF(st->core_own_methods[CORE_WRITE_TO_SELF], write);
        Py_XSETREF(st->socket_type, sock);
        meth = write = NULL;
        PyObject *sel = import_attr("selectors", "EpollSelector");
        Py_XSETREF(st->epoll_selector_type, sel);
        PyObject *epoll = sel != NULL ? import_attr("select", "epoll") : NULL;
        Py_XSETREF(st->epoll_type, epoll);
        PyObject *fileno = epoll != NULL
            ? PyObject_GetAttrString(epoll, "fileno") : NULL;
        Py_XSETREF(st->epoll_fileno, fileno);
        st->selector_refs_loaded = 1;
    }
    Py_XDECREF(meth);
    Py_XDECREF(write);
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
                                          st->core_own_names[i], &meth);
        if (meth == NULL) {
            return -1;
        }
        if (unbound && meth == st->core_own_methods[i]) {
            mask |= 1 << i;
        }
        Py_DECREF(meth);
    }
    /* the lookups assign the type a version tag */
    if (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) {
        self->own_mask = mask;
        self->own_tp_version = tp->tp_version_tag;
        self->own_dict_version = dict_version_of((PyObject *)self);
        st->core_type_version = tp->tp_version_tag;
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
    return ((tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
            && tp->tp_version_tag == st->core_type_version)
           || PyObject_TypeCheck(loop, st->LoopCoreType);
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
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError,
                     "'%.100s' object has no attribute '%s'",
                     Py_TYPE(self)->tp_name, name);
        return NULL;
    }
    return Py_NewRef(value);
}

/* bool() of a core field; -1 on error. */
static int
core_field_truth(LoopCoreObject *self, PyObject *value, const char *name)
{
    if (value == Py_True) {
        return 1;
    }
    if (value == Py_False) {
        return 0;
    }
    PyObject *obj = core_field(self, value, name);
    if (obj == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(obj);
    Py_DECREF(obj);
    return truth;
}

/* loop.get_debug() as an int, for handles and the core. */
static int
loop_get_debug(asyncio_state *st, PyObject *loop)
{
    int own = core_method_is_own(st, loop, CORE_GET_DEBUG);
    if (own < 0) {
        return -1;
    }
    if (own) {
        LoopCoreObject *self = (LoopCoreObject *)loop;
        return core_field_truth(self, self->debug, "_debug");
    }
    return call_truth(PyObject_CallMethodNoArgs(loop, st->str_get_debug));
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
                                     st->core_own_names[CORE_TIME]);
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
            (PyObject *)self, st->core_own_names[CORE_CHECK_CLOSED]));
    }
    int closed = core_field_truth(self, self->closed, "_closed");
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
    int on = core_field_truth(self, self->debug, "_debug");
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
    PyObject *tb = PyObject_GetAttr(handle, st->str_source_traceback);
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
    return call_truth(PyObject_GetAttr(handle, st->str_cancelled_attr));
}

/* handle._scheduled = flag */
static int
core_handle_set_scheduled(asyncio_state *st, PyObject *handle, int flag)
{
    if (TimerHandle_Check(st, handle)) {
        ((HandleObject *)handle)->h_scheduled = flag;
        return 0;
    }
    return PyObject_SetAttr(handle, st->str_scheduled_attr,
                            flag ? Py_True : Py_False);
}

/* handle._when: new reference. */
static PyObject *
core_handle_when(asyncio_state *st, PyObject *handle)
{
    if (TimerHandle_Check(st, handle)) {
        return new_ref_or_none(((HandleObject *)handle)->h_when);
    }
    return PyObject_GetAttr(handle, st->str_when_attr);
}

/* handle._run() */
static int
core_handle_run(asyncio_state *st, PyObject *handle)
{
    if (Py_IS_TYPE(handle, st->HandleType)
        || Py_IS_TYPE(handle, st->TimerHandleType)) {
        return handle_run(st, (HandleObject *)handle);
    }
    return drop_result(PyObject_CallMethodNoArgs(handle, st->str_run));
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
    if (Py_IS_TYPE(ready, st->deque_type)) {
        PyObject *stack[2] = {ready, handle};
        res = PyObject_Vectorcall(st->deque_append, stack, 2, NULL);
    }
    else {
        res = PyObject_CallMethodOneArg(ready, st->str_append, handle);
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
    if (Py_IS_TYPE(ready, st->deque_type)) {
        res = PyObject_Vectorcall(st->deque_popleft, &ready, 1, NULL);
    }
    else {
        res = PyObject_CallMethodNoArgs(ready, st->str_popleft);
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

static inline asyncio_state *
core_state(PyTypeObject *cls)
{
    return get_module_state(PyType_GetModule(cls));
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
        op, st->core_own_names[CORE__CALL_SOON], callback, tuple,
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
#ifndef MS_WINDOWS
    if (own) {
        PyObject *csock = PyObject_GetAttr(loop, st->str_csock);
        if (csock == NULL) {
            return -1;
        }
        int written = 0;
        if (csock == Py_None) {
            written = 1;        /* the method does nothing either */
        }
        else if (Py_IS_TYPE(csock, (PyTypeObject *)st->socket_type)) {
            PyObject *fdobj = PyObject_CallMethodNoArgs(csock,
                                                        st->str_fileno);
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
        loop, st->core_own_names[CORE_WRITE_TO_SELF]));
}

static PyObject *
core_call_soon_threadsafe(CMETHOD_ARGS)
{
    static const char *const names[] = {"callback"};
    asyncio_state *st = core_state(cls);
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
    return core_call_soon_args(core_state(cls), (LoopCoreObject *)op,
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
    return core_call_soon_impl(core_state(cls), (LoopCoreObject *)op,
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
    PyObject *res = PyObject_CallFunctionObjArgs(st->heappush, heap, timer,
                                                 NULL);
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
    return core_call_at_impl(core_state(cls), (LoopCoreObject *)op,
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
        st->core_own_names[CORE_CALL_AT], stack, 3 + n, st->kw_context);
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
    asyncio_state *st = core_state(cls);
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
        || drop_result(PyObject_CallOneArg(st->heapify, kept)) < 0) {
        Py_DECREF(kept);
        return -1;
    }
    Py_XSETREF(self->scheduled, kept);
    PyObject *zero = PyLong_FromLong(0);
    rc = zero != NULL
        ? PyObject_SetAttr((PyObject *)self, st->str_timer_cancelled, zero)
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
        PyObject *count = PyObject_GetAttr(loop, st->str_timer_cancelled);
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
        int nonempty = PyObject_IsTrue(heap);
        PyObject *first = nonempty > 0 ? PySequence_GetItem(heap, 0) : NULL;
        int cancelled = first ? core_handle_cancelled(st, first)
                              : (nonempty < 0 ? -1 : 0);
        Py_XDECREF(first);
        if (cancelled <= 0) {
            Py_DECREF(heap);
            return cancelled;
        }
        PyObject *count = PyObject_GetAttr(loop, st->str_timer_cancelled);
        PyObject *one = PyLong_FromLong(1);
        PyObject *less = count && one ? PyNumber_Subtract(count, one) : NULL;
        Py_XDECREF(count);
        Py_XDECREF(one);
        int rc = less ? PyObject_SetAttr(loop, st->str_timer_cancelled, less)
                      : -1;
        Py_XDECREF(less);
        PyObject *timer = rc == 0 ? PyObject_CallOneArg(st->heappop, heap)
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
    int busy = core_field_truth(self, self->ready, "_ready");
    if (busy == 0) {
        busy = core_field_truth(self, self->stopping, "_stopping");
    }
    if (busy != 0) {
        return busy < 0 ? NULL : PyLong_FromLong(0);
    }
    PyObject *heap = core_field(self, self->scheduled, "_scheduled");
    if (heap == NULL) {
        return NULL;
    }
    int timers = PyObject_IsTrue(heap);
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

/* selectors' (key, events & key.events) for fd, appended to ready when
   fd still has a key, as EpollSelector.select() does. */
static int
core_selector_key_ready(asyncio_state *st, PyObject *fd_to_key, int fd,
                        long mask, PyObject *ready)
{
    PyObject *fdobj = PyLong_FromLong(fd);
    if (fdobj == NULL) {
        return -1;
    }
    PyObject *key = PyDict_GetItemWithError(fd_to_key, fdobj);
    Py_DECREF(fdobj);
    if (key == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_INCREF(key);
    PyObject *wanted = PyObject_GetAttr(key, st->str_events);
    PyObject *got = wanted != NULL ? PyLong_FromLong(mask) : NULL;
    PyObject *both = got != NULL ? PyNumber_And(got, wanted) : NULL;
    PyObject *pair = both != NULL ? PyTuple_Pack(2, key, both) : NULL;
    int rc = pair != NULL ? PyList_Append(ready, pair) : -1;
    Py_XDECREF(pair);
    Py_XDECREF(both);
    Py_XDECREF(got);
    Py_XDECREF(wanted);
    Py_DECREF(key);
    return rc;
}

/* EpollSelector.select(0) in C: the list of (key, events) for the file
   descriptors that are ready now.  fd_to_key and poller are the
   selector's _fd_to_key and _selector. */
static PyObject *
core_epoll_select_now(asyncio_state *st, PyObject *selector,
                      PyObject *fd_to_key, PyObject *poller)
{
    PyObject *ready = NULL;
    struct epoll_event stack_events[CORE_EPOLL_STACK_EVENTS];
    struct epoll_event *events = stack_events;
    Py_ssize_t n = PyObject_Size(fd_to_key);
    if (n < 0) {
        return NULL;
    }
    if (st->epoll_fileno == NULL
        || !Py_IS_TYPE(poller, (PyTypeObject *)st->epoll_type)) {
        /* something else stands in for the epoll object: let the
           selector call it */
        PyObject *zero = PyLong_FromLong(0);
        ready = zero != NULL ? PyObject_CallMethodOneArg(
                                   selector, st->str_select, zero)
                             : NULL;
        Py_XDECREF(zero);
        if (ready != NULL && !PyList_Check(ready)) {
            Py_SETREF(ready, PySequence_List(ready));
        }
        goto done;
    }
    /* fileno() of a closed epoll object raises what its poll() would;
       the type's own method, found once, spares a lookup per poll */
    PyObject *fdobj = PyObject_CallOneArg(st->epoll_fileno, poller);
    int epfd = fdobj != NULL ? PyObject_AsFileDescriptor(fdobj) : -1;
    Py_XDECREF(fdobj);
    if (epfd < 0) {
        goto done;
    }
    int maxevents = n > 1 ? (n < INT_MAX ? (int)n : INT_MAX) : 1;
    if (maxevents > CORE_EPOLL_STACK_EVENTS) {
        events = PyMem_New(struct epoll_event, maxevents);
        if (events == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    /* the GIL is let go as by epoll.poll(), even for no wait */
    int nready;
    Py_BEGIN_ALLOW_THREADS
    nready = epoll_wait(epfd, events, maxevents, 0);
    Py_END_ALLOW_THREADS
    if (nready < 0) {
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            goto done;
        }
        /* as epoll.poll() with no time left, after the signal handlers */
        if (PyErr_CheckSignals() < 0) {
            goto done;
        }
        nready = 0;
    }
    ready = PyList_New(0);
    for (int i = 0; ready != NULL && i < nready; i++) {
        uint32_t event = events[i].events;
        long mask = 0;
        if (event & ~EPOLLIN) {
            mask |= 2;      /* selectors.EVENT_WRITE */
        }
        if (event & ~EPOLLOUT) {
            mask |= 1;      /* selectors.EVENT_READ */
        }
        if (core_selector_key_ready(st, fd_to_key, events[i].data.fd, mask,
                                    ready) < 0) {
            Py_CLEAR(ready);
        }
    }
done:
    if (events != stack_events) {
        PyMem_Free(events);
    }
    return ready;
}
#else
#  define core_epoll_select_now(st, selector, fd_to_key, poller) \
    (PyErr_SetString(PyExc_SystemError, "no epoll"), (PyObject *)NULL)
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
    *selector = PyObject_GetAttr(loop, st->str_selector);
    if (*selector == NULL) {
        return -1;
    }
    PyObject *sel = *selector;
    int epoll = st->epoll_selector_type != NULL
                && Py_IS_TYPE(sel, (PyTypeObject *)st->epoll_selector_type);
    if (epoll
        && ((*fd_to_key = PyObject_GetAttr(sel, st->str_fd_to_key)) == NULL
            || (*poller = PyObject_GetAttr(sel, st->str_selector)) == NULL)) {
        Py_CLEAR(*fd_to_key);
        Py_CLEAR(*selector);
        return -1;
    }
    int keep = core_plain_instance_attr(loop, st->str_selector)
               && core_plain_instance_attr(sel, st->str_selector)
               && core_plain_instance_attr(sel, st->str_fd_to_key);
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
   The common case of a busy loop on Linux, timeout 0 with an
   EpollSelector and the selector loop's own _process_events, runs no
   Python code when nothing is ready. */
static int
core_poll(asyncio_state *st, LoopCoreObject *self, PyObject *timeout)
{
    PyObject *loop = (PyObject *)self;
    PyObject *selector, *poller, *fd_to_key;
    if (core_selector_refs(st, self, &selector, &poller, &fd_to_key) < 0) {
        return -1;
    }
    int fast = 0;
#ifdef HAVE_SYS_EPOLL_H
    if (poller != NULL
        && PyLong_CheckExact(timeout) && Py_SIZE(timeout) == 0) {
        fast = core_method_is_own(st, loop, CORE_PROCESS_EVENTS);
    }
#endif
    PyObject *events = NULL;
    if (fast > 0) {
        events = core_epoll_select_now(st, selector, fd_to_key, poller);
    }
    else if (fast == 0) {
        events = PyObject_CallMethodOneArg(selector, st->str_select,
                                           timeout);
    }
    Py_DECREF(selector);
    Py_XDECREF(poller);
    Py_XDECREF(fd_to_key);
    if (events == NULL) {
        return -1;
    }
    if (fast && PyList_GET_SIZE(events) == 0) {
        Py_DECREF(events);
        return 0;
    }
    PyObject *res = PyObject_CallMethodOneArg(loop, st->str_process_events,
                                              events);
    Py_DECREF(events);
    return drop_result(res);
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
        int timers = core_field_truth(self, self->scheduled, "_scheduled");
        if (timers <= 0) {
            return timers;
        }
    }
    PyObject *now = core_loop_time(st, self);
    if (now == NULL) {
        return -1;
    }
    PyObject *res = PyObject_GetAttr((PyObject *)self,
                                     st->str_clock_resolution);
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
        int timers = PyObject_IsTrue(heap);
        PyObject *first = timers > 0 ? PySequence_GetItem(heap, 0) : NULL;
        PyObject *when = first ? core_handle_when(st, first) : NULL;
        Py_XDECREF(first);
        int due;
        if (when == NULL) {
            due = timers > 0 ? -1 : timers;
        }
        else if (PyFloat_CheckExact(when) && PyFloat_CheckExact(end)) {
            due = PyFloat_AS_DOUBLE(when) < PyFloat_AS_DOUBLE(end);
        }
        else {
            due = PyObject_RichCompareBool(when, end, Py_GE);
            due = due < 0 ? -1 : !due;
        }
        Py_XDECREF(when);
        PyObject *timer = due > 0 ? PyObject_CallOneArg(st->heappop, heap)
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
    if (PyObject_SetAttr(loop, st->str_current_handle, handle) < 0) {
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
    int failed = PyObject_SetAttr(loop, st->str_current_handle, Py_None);
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
            rc = core_field_truth(self, self->debug, "_debug");
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
    asyncio_state *st = core_state(cls);
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
    int closed = core_field_truth(self, self->closed, "_closed");
    if (closed > 0) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
    }
    return closed != 0 ? NULL : Py_NewRef(Py_None);
}

/* ---------- _EventLoopCore: tasks ---------- */

/* asyncio.tasks.<name>, read on every call so that patching the module
   works as with the pure-Python code (new reference). */
static PyObject *
tasks_attr(asyncio_state *st, PyObject *name)
{
    if (st->tasks_module == NULL) {
        st->tasks_module = PyImport_ImportModule("asyncio.tasks");
        if (st->tasks_module == NULL) {
            return NULL;
        }
    }
    return PyObject_GetAttr(st->tasks_module, name);
}

/* The pure-Python BaseEventLoop.create_task, for what the core does not
   do itself (borrowed reference). */
static PyObject *
core_py_create_task(asyncio_state *st)
{
    if (st->py_create_task == NULL) {
        PyObject *methods = import_attr("asyncio.base_events",
                                        "_py_hot_path");
        if (methods == NULL) {
            return NULL;
        }
        st->py_create_task = PyObject_GetItem(
            methods, st->core_own_names[CORE_CREATE_TASK]);
        Py_DECREF(methods);
    }
    return st->py_create_task;
}

/* Whether loop._task_factory is None, found without running any code: 0
   too when it is anything but a plain instance attribute (a descriptor or
   a __getattribute__ could have side effects, which the pure-Python
   create_task would run after _check_closed()); -1 on error. */
static int
core_task_factory_is_none(asyncio_state *st, LoopCoreObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_getattro != PyObject_GenericGetAttr
        || _PyType_Lookup(tp, st->str_task_factory) != NULL) {
        return 0;
    }
    PyObject **dictptr = _PyObject_GetDictPtr((PyObject *)self);
    if (dictptr == NULL || *dictptr == NULL) {
        return 0;
    }
    PyObject *factory = PyDict_GetItemWithError(*dictptr,
                                                st->str_task_factory);
    if (factory == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return factory == Py_None;
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
   itself in the common case, no task factory and tasks.Task our Task;
   the other cases, where the task factory or a Python class runs, go to
   the pure-Python method, so that the frames they see (and the source
   traceback trimmed after them) are the same.  Which case it is is found
   without running code: the pure method checks for a closed loop first. */
static PyObject *
core_create_task_impl(asyncio_state *st, LoopCoreObject *self,
                      PyObject *coro, PyObject *name, PyObject *context)
{
    PyObject *loop = (PyObject *)self;
    PyObject *cls = NULL;
    int fast = core_task_factory_is_none(st, self);
    if (fast < 0) {
        return NULL;
    }
    if (fast) {
        cls = tasks_attr(st, st->str_Task);
        if (cls == NULL) {
            return NULL;
        }
    }
    if (cls != (PyObject *)st->TaskType) {
        Py_XDECREF(cls);
        PyObject *pure = core_py_create_task(st);
        if (pure == NULL) {
            return NULL;
        }
        PyObject *stack[4] = {loop, coro, name, context};
        return PyObject_Vectorcall(pure, stack, 2, st->kw_name_context);
    }
    PyObject *task = NULL;
    if (core_check_closed(st, self, -1) == 0) {
        PyObject *stack[4] = {coro, loop, name, context};
        task = PyObject_Vectorcall(cls, stack, 1, st->kw_task_init);
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
    return core_create_task_impl(core_state(cls), (LoopCoreObject *)op,
                                 a[0], a[1] != NULL ? a[1] : Py_None,
                                 a[2] != NULL ? a[2] : Py_None);
}

/* loop.create_task(coro), by the core when that is the core's own. */
static PyObject *
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
                                     st->core_own_names[CORE_CREATE_TASK],
                                     coro);
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

static PyMethodDef core_methods[] = {
    CMETHOD("time", core_time,
                "Return the time according to the event loop's clock.\n\n"
                "This is a float expressed in seconds since an epoch, but "
                "the\nepoch, precision, accuracy and drift are unspecified "
                "and may\ndiffer per event loop."),
    CMETHOD("get_debug", core_get_debug, NULL),
    CMETHOD("_check_closed", core__check_closed, NULL),
    CMETHOD("call_soon", core_call_soon,
                "Arrange for a callback to be called as soon as possible."
                "\n\nThis operates as a FIFO queue: callbacks are called in "
                "the\norder in which they are registered.  Each callback "
                "will be\ncalled exactly once.\n\nAny positional arguments "
                "after the callback will be passed to\nthe callback when it "
                "is called."),
    CMETHOD("_call_soon", core__call_soon, NULL),
    CMETHOD("call_soon_threadsafe", core_call_soon_threadsafe,
                "Like call_soon(), but thread-safe."),
    CMETHOD("call_later", core_call_later,
                "Arrange for a callback to be called at a given time.\n\n"
                "Return a Handle: an opaque object with a cancel() method "
                "that\ncan be used to cancel the call.\n\nThe delay can be "
                "an int or float, expressed in seconds.  It is\nalways "
                "relative to the current time."),
    CMETHOD("call_at", core_call_at,
                "Like call_later(), but uses an absolute time.\n\nAbsolute "
                "time corresponds to the event loop's time() method."),
    CMETHOD("create_task", core_create_task,
                "Wrap a coroutine in a task scheduled on this loop; "
                "return the\ntask."),
    CMETHOD("_run_once", core__run_once,
                "Run one full iteration of the event loop.\n\nThis calls "
                "all currently ready callbacks, polls for I/O,\nschedules "
                "the resulting callbacks, and finally schedules\n'call_later' "
                "callbacks."),
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
        "The C core of asyncio.BaseEventLoop: the ready queue, the timer "
        "heap\nand one turn of the loop.")},
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


/* ======================================================================
 * gather: _gather() and _GatheringFuture
 *
 * asyncio.gather() hands its arguments to _gather(), which does what the
 * pure-Python body does: wrap each distinct argument in a future (a task
 * for a coroutine), add one done callback to each, and return a
 * _GatheringFuture over them.  The done callback is a GatherCallback
 * object holding the pure version's closure (the children, their count,
 * how many finished, return_exceptions and the outer future), so a gather
 * costs two objects instead of a function, its cells and a dict that
 * lives as long as the children.  Outside a running loop, and when
 * tasks._GatheringFuture is not ours, _gather() declines and the
 * pure-Python body runs (with its warnings pointing at the right frame,
 * or making whatever class was patched in).
 * ====================================================================== */

typedef struct {
    FutureObject gf_future;
    PyObject *gf_children;          /* _children */
    int gf_cancel_requested;        /* _cancel_requested */
} GatheringFutureObject;

typedef struct {
    PyObject_HEAD
    PyObject *outer;                /* NULL until made, as in bpo-46672 */
    PyObject *children;             /* list */
    PyObject *return_exceptions;
    Py_ssize_t nfuts;
    Py_ssize_t nfinished;
    vectorcallfunc vectorcall;
} GatherCallbackObject;

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
    return PyObject_CallMethodNoArgs(fut, st->str_exception);
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
            msg = PyObject_GetAttr(fut, st->str_cancel_message);
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
        PyObject *res = gather_child_outcome(st, last);
        rc = res != NULL ? PyList_Append(results, res) : -1;
        Py_XDECREF(res);
    }
    Py_DECREF(children);
    if (rc == 0) {
        GatheringFutureObject *gf = (GatheringFutureObject *)outer;
        if (gf->gf_cancel_requested) {
            /* gather() itself was cancelled: that wins over
               return_exceptions (bpo-32684) */
            PyObject *exc = gather_child_cancelled_error(st, last);
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
    Py_VISIT(cb->return_exceptions);
    return 0;
}

static int
gather_callback_clear(PyObject *self)
{
    GatherCallbackObject *cb = (GatherCallbackObject *)self;
    Py_CLEAR(cb->outer);
    Py_CLEAR(cb->children);
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

static PyGetSetDef gather_callback_getsets[] = {
    {"__qualname__", gather_callback_get_qualname, NULL, NULL, NULL},
    {"__name__", gather_callback_get_name, NULL, NULL, NULL},
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
            PyObject *res = PyObject_CallMethodNoArgs(arg, st->str_close);
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
    PyObject *ensure = tasks_attr(st, st->str_ensure_future);
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

/* One argument of gather(): its child future, new or seen before (new
   reference).  loop is *loop_p, which the first new child sets. */
static PyObject *
gather_child(asyncio_state *st, GatherCallbackObject *cb, PyObject *seen,
             PyObject *arg, PyObject **loop_p, PyObject *running)
{
    int dup = PyDict_Contains(seen, arg);
    if (dup != 0) {
        return dup < 0 ? NULL : PyObject_GetItem(seen, arg);
    }
    PyObject *fut = gather_ensure_future(st, arg, *loop_p, running);
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
        else if (PyObject_SetAttr(fut, st->str_log_destroy_pending,
                                  Py_False) < 0) {
            goto error;
        }
    }
    cb->nfuts++;
    if (PyDict_SetItem(seen, arg, fut) < 0
        || gather_add_callback(st, fut, (PyObject *)cb) < 0) {
        goto error;
    }
    return fut;
error:
    Py_DECREF(fut);
    return NULL;
}

static PyObject *gathering_new(asyncio_state *st, PyObject *children,
                               PyObject *loop);

static PyObject *
asyncio__gather(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
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
    PyObject *cls = tasks_attr(st, st->str_gathering_future);
    if (cls == NULL) {
        return NULL;
    }
    Py_DECREF(cls);
    if (cls != (PyObject *)st->GatheringFutureType) {
        Py_RETURN_NONE;
    }
    Py_INCREF(running);
    if (ensure_helpers(st) < 0) {
        Py_DECREF(running);
        return NULL;
    }
    GatherCallbackObject *cb = PyObject_GC_New(GatherCallbackObject,
                                               st->GatherCallbackType);
    if (cb == NULL) {
        Py_DECREF(running);
        return NULL;
    }
    cb->outer = NULL;
    cb->children = PyList_New(0);
    cb->return_exceptions = Py_NewRef(args[1]);
    cb->nfuts = 0;
    cb->nfinished = 0;
    cb->vectorcall = gather_callback_vectorcall;
    PyObject_GC_Track(cb);

    PyObject *outer = NULL;
    PyObject *loop = Py_NewRef(Py_None);
    PyObject *seen = PyDict_New();          /* arg_to_fut */
    if (cb->children == NULL || seen == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        PyObject *fut = gather_child(st, cb, seen,
                                     PyTuple_GET_ITEM(items, i), &loop,
                                     running);
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
    }
done:
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
    if (future_init_impl(st, &gf->gf_future, loop) < 0) {
        return -1;
    }
    Py_XSETREF(gf->gf_children, Py_NewRef(children));
    gf->gf_cancel_requested = 0;
    return 0;
}

static PyObject *
gathering_new(asyncio_state *st, PyObject *children, PyObject *loop)
{
    PyTypeObject *tp = st->GatheringFutureType;
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
    return cancel_method(self, args, nargs, kwnames, gathering_cancel_impl);
}

static int
gathering_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((GatheringFutureObject *)self)->gf_children);
    return future_traverse(self, visit, arg);
}

static int
gathering_clear(PyObject *self)
{
    Py_CLEAR(((GatheringFutureObject *)self)->gf_children);
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
               "Cancel the children that are not done yet; True if any "
               "was.\n\nThis future is then finished by the children's "
               "callbacks, with\nCancelledError.")},
    {NULL, NULL}
};

static PyMemberDef gathering_members[] = {
    {"_children", T_OBJECT_EX, offsetof(GatheringFutureObject, gf_children),
     0, NULL},
    {NULL}
};

static PyGetSetDef gathering_getsets[] = {
    {"_cancel_requested", get_flag_field, set_flag_field, NULL,
     FIELD(GatheringFutureObject, gf_cancel_requested)},
    {NULL}
};

static PyType_Slot gathering_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "The future that asyncio.gather() returns: its cancel() cancels "
        "the\nchildren, and it is done when they all are.")},
    {Py_tp_dealloc, gathering_dealloc},
    {Py_tp_traverse, gathering_traverse},
    {Py_tp_clear, gathering_clear},
    {Py_tp_finalize, future_finalize},
    {Py_tp_init, gathering_tp_init},
    {Py_tp_methods, gathering_methods},
    {Py_tp_members, gathering_members},
    {Py_tp_getset, gathering_getsets},
    {0, NULL}
};

static PyType_Spec gathering_spec = {
    .name = "_asyncio._GatheringFuture",
    .basicsize = sizeof(GatheringFutureObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = gathering_slots,
};


/* ======================================================================
 * _copy_concurrent_future_state(source, dest)                 gh-134173
 *
 * The C version of asyncio.futures._copy_concurrent_future_state(), which
 * asyncio/futures.py uses instead of its Python one when we provide it.
 * It copies the final state of a concurrent.futures.Future into an asyncio
 * future, in the callback that _chain_future() schedules for every
 * loop.run_in_executor() / wrap_future() result.  Contract, as in Python:
 *
 *   - *source* is read once, as concurrent.futures.Future._get_snapshot()
 *     reads it: (done, cancelled, result, exception);
 *   - False is returned, with nothing changed, when *source* is not done
 *     or *dest* is done but not cancelled; the caller's general path then
 *     raises what it always raised;
 *   - otherwise True: a cancelled *dest* is left as it is, else it gets
 *     the source's cancellation, exception or result, the three exception
 *     types of concurrent.futures becoming asyncio's as in
 *     asyncio.futures._convert_future_exc().
 *
 * Hot path, with no Python code run: *source* of the exact type
 * concurrent.futures.Future in state FINISHED, *dest* our exact Future.
 * FINISHED is final, and set_result()/set_exception() store _result or
 * _exception before they switch _state to FINISHED, so the three
 * attributes are read without the source's lock (the reasoning of
 * _get_snapshot()), and *dest* is set through the Future's internals.
 * Otherwise source._get_snapshot() is called (it takes the lock of an
 * unfinished future; a subclass may override it), and any other *dest*
 * goes through its methods.
 * ====================================================================== */

/* Items of st->copy_cf_objects, a tuple made on first use (asyncio.futures,
   our caller, has imported concurrent.futures by then). */
enum {
    CCF_FUTURE,                 /* concurrent.futures.Future */
    CCF_FINISHED,               /* concurrent.futures._base.FINISHED */
    CCF_CANCELLED_ERROR,        /* concurrent.futures.CancelledError */
    CCF_TIMEOUT_ERROR,          /* concurrent.futures.TimeoutError */
    CCF_INVALID_STATE_ERROR,    /* concurrent.futures.InvalidStateError */
    CCF_AIO_TIMEOUT_ERROR,      /* asyncio.exceptions.TimeoutError */
    CCF_STR_STATE,              /* attribute and method names */
    CCF_STR_RESULT,
    CCF_STR_EXCEPTION,
    CCF_STR_GET_SNAPSHOT,
    CCF_STR_ARGS,
    CCF_STR_CANCELLED,
    CCF_STR_SET_RESULT,
    CCF_STR_SET_EXCEPTION,
    CCF_COUNT
};

/* The tuple above (borrowed), or NULL with an exception set. */
static PyObject *
copy_cf_objects(asyncio_state *st)
{
    if (st->copy_cf_objects != NULL) {
        return st->copy_cf_objects;
    }
    if (ensure_helpers(st) < 0) {   /* asyncio's CancelledError & co. */
        return NULL;
    }
    static const char *const names[] = {
        [CCF_STR_STATE] = "_state",
        [CCF_STR_RESULT] = "_result",
        [CCF_STR_EXCEPTION] = "_exception",
        [CCF_STR_GET_SNAPSHOT] = "_get_snapshot",
        [CCF_STR_ARGS] = "args",
        [CCF_STR_CANCELLED] = "cancelled",
        [CCF_STR_SET_RESULT] = "set_result",
        [CCF_STR_SET_EXCEPTION] = "set_exception",
    };
    PyObject *objs = PyTuple_New(CCF_COUNT);
    if (objs == NULL) {
        return NULL;
    }
    PyObject *cf = PyImport_ImportModule("concurrent.futures._base");
    PyObject *aio = PyImport_ImportModule("asyncio.exceptions");
    if (cf == NULL || aio == NULL) {
        goto error;
    }
    struct { int index; PyObject *mod; const char *name; } attrs[] = {
        {CCF_FUTURE, cf, "Future"},
        {CCF_FINISHED, cf, "FINISHED"},
        {CCF_CANCELLED_ERROR, cf, "CancelledError"},
        {CCF_TIMEOUT_ERROR, cf, "TimeoutError"},
        {CCF_INVALID_STATE_ERROR, cf, "InvalidStateError"},
        {CCF_AIO_TIMEOUT_ERROR, aio, "TimeoutError"},
    };
    for (size_t i = 0; i < Py_ARRAY_LENGTH(attrs); i++) {
        PyObject *obj = PyObject_GetAttrString(attrs[i].mod, attrs[i].name);
        if (obj == NULL) {
            goto error;
        }
        PyTuple_SET_ITEM(objs, attrs[i].index, obj);
    }
    for (int i = CCF_STR_STATE; i < CCF_COUNT; i++) {
        PyObject *name = PyUnicode_InternFromString(names[i]);
        if (name == NULL) {
            goto error;
        }
        PyTuple_SET_ITEM(objs, i, name);
    }
    if (!PyType_Check(PyTuple_GET_ITEM(objs, CCF_FUTURE))) {
        PyErr_SetString(PyExc_TypeError,
                        "concurrent.futures._base.Future is not a class");
        goto error;
    }
    Py_DECREF(cf);
    Py_DECREF(aio);
    st->copy_cf_objects = objs;
    return objs;
error:
    Py_XDECREF(cf);
    Py_XDECREF(aio);
    Py_DECREF(objs);
    return NULL;
}

#define CCF(name) PyTuple_GET_ITEM(objs, CCF_ ## name)

/* asyncio.futures._convert_future_exc(): what *dest* gets for the
   source's exception (new reference). */
static PyObject *
copy_cf_convert_exc(asyncio_state *st, PyObject *objs, PyObject *exc)
{
    PyObject *type = (PyObject *)Py_TYPE(exc);
    PyObject *target;
    if (type == CCF(CANCELLED_ERROR)) {
        target = st->CancelledError;
    }
    else if (type == CCF(TIMEOUT_ERROR)) {
        target = CCF(AIO_TIMEOUT_ERROR);
    }
    else if (type == CCF(INVALID_STATE_ERROR)) {
        target = st->InvalidStateError;
    }
    else {
        return Py_NewRef(exc);
    }
    /* target(*exc.args): a new exception, as in Python. */
    PyObject *args = PyObject_GetAttr(exc, CCF(STR_ARGS));
    if (args == NULL) {
        return NULL;
    }
    PyObject *tuple = PySequence_Tuple(args);
    Py_DECREF(args);
    if (tuple == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_Call(target, tuple, NULL);
    Py_DECREF(tuple);
    return res;
}

/* Read *source* (a concurrent.futures.Future) into *done, *cancelled and
   new references *result, *exception.  0, or -1 with an exception set. */
static int
copy_cf_snapshot(PyObject *objs, PyObject *source, int *done,
                 int *cancelled, PyObject **result, PyObject **exception)
{
    *result = *exception = NULL;
    if (Py_IS_TYPE(source, (PyTypeObject *)CCF(FUTURE))) {
        PyObject *state = PyObject_GetAttr(source, CCF(STR_STATE));
        if (state == NULL) {
            return -1;
        }
        int finished = PyObject_RichCompareBool(state, CCF(FINISHED), Py_EQ);
        Py_DECREF(state);
        if (finished < 0) {
            return -1;
        }
        if (finished) {
            /* No lock: FINISHED is final (see the section comment). */
            *result = PyObject_GetAttr(source, CCF(STR_RESULT));
            if (*result == NULL) {
                return -1;
            }
            *exception = PyObject_GetAttr(source, CCF(STR_EXCEPTION));
            if (*exception == NULL) {
                Py_CLEAR(*result);
                return -1;
            }
            *done = 1;
            *cancelled = 0;
            return 0;
        }
    }
    /* Unfinished (read under the lock there), or a subclass. */
    PyObject *snap = PyObject_CallMethodNoArgs(source, CCF(STR_GET_SNAPSHOT));
    if (snap == NULL) {
        return -1;
    }
    PyObject *seq = PySequence_Fast(snap,
                                    "_get_snapshot() must return a sequence");
    Py_DECREF(snap);
    if (seq == NULL) {
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(seq) != 4) {
        PyErr_Format(PyExc_ValueError,
                     "_get_snapshot() must return 4 items, not %zd",
                     PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return -1;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if ((*done = PyObject_IsTrue(items[0])) < 0 ||
        (*cancelled = PyObject_IsTrue(items[1])) < 0) {
        Py_DECREF(seq);
        return -1;
    }
    *result = Py_NewRef(items[2]);
    *exception = Py_NewRef(items[3]);
    Py_DECREF(seq);
    return 0;
}

static PyObject *
asyncio__copy_concurrent_future_state(PyObject *module,
                                      PyObject *const *args,
                                      Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const argnames[] = {"source", "dest"};
    PyObject *argv[2];
    if (parse_args("_copy_concurrent_future_state", args, nargs, kwnames,
                   argnames, 2, 2, 2, argv) < 0) {
        return NULL;
    }
    PyObject *source = argv[0];
    PyObject *dest = argv[1];
    asyncio_state *st = get_module_state(module);
    PyObject *objs = copy_cf_objects(st);
    if (objs == NULL) {
        return NULL;
    }
    if (!PyObject_TypeCheck(source, (PyTypeObject *)CCF(FUTURE))) {
        PyErr_Format(PyExc_TypeError,
                     "source must be a concurrent.futures.Future, not %.200s",
                     Py_TYPE(source)->tp_name);
        return NULL;
    }
    /* Held for the calls below, which may run any code. */
    Py_INCREF(objs);

    int done, cancelled;
    PyObject *result, *exception, *ret = NULL;
    if (copy_cf_snapshot(objs, source, &done, &cancelled,
                         &result, &exception) < 0) {
        goto out;
    }
    if (!done) {
        ret = Py_NewRef(Py_False);
        goto finally;
    }

    int ours = Future_CheckExact(st, dest);
    FutureObject *fut = (FutureObject *)dest;
    int dest_cancelled, dest_done = 0;
    if (ours) {
        if (fut->fut_loop == NULL) {
            raise_uninitialized();
            goto finally;
        }
        dest_cancelled = fut->fut_state == STATE_CANCELLED;
        dest_done = fut->fut_state != STATE_PENDING;
    }
    else {
        dest_cancelled = call_truth(
            PyObject_CallMethodNoArgs(dest, CCF(STR_CANCELLED)));
        if (dest_cancelled < 0) {
            goto finally;
        }
        if (!dest_cancelled) {
            dest_done = call_truth(
                PyObject_CallMethodNoArgs(dest, st->str_done));
            if (dest_done < 0) {
                goto finally;
            }
        }
    }
    if (dest_cancelled || dest_done) {
        /* Cancelled: left so, copied.  Done: the caller's to report. */
        ret = Py_NewRef(dest_cancelled ? Py_True : Py_False);
        goto finally;
    }

    int rc;
    if (cancelled) {
        if (ours) {
            rc = future_cancel_impl(st, fut, NULL);
        }
        else {
            rc = drop_result(PyObject_CallMethodNoArgs(dest,
                                                       st->str_cancel));
        }
    }
    else if (exception != Py_None) {
        PyObject *exc = copy_cf_convert_exc(st, objs, exception);
        if (exc == NULL) {
            goto finally;
        }
        if (ours) {
            rc = future_set_exception_impl(st, fut, exc);
        }
        else {
            rc = drop_result(PyObject_CallMethodOneArg(
                dest, CCF(STR_SET_EXCEPTION), exc));
        }
        Py_DECREF(exc);
    }
    else {
        if (ours) {
            rc = future_set_result_impl(st, fut, result);
        }
        else {
            rc = drop_result(PyObject_CallMethodOneArg(
                dest, CCF(STR_SET_RESULT), result));
        }
    }
    if (rc >= 0) {
        ret = Py_NewRef(Py_True);
    }

finally:
    Py_DECREF(result);
    Py_DECREF(exception);
out:
    Py_DECREF(objs);
    return ret;
}

#undef CCF

/* ================== end of _copy_concurrent_future_state ============== */

/* ======================================================================
 * Module
 * ====================================================================== */

/* series: task { */
/* Whether Task is exported.  Build with -DASYNCIO_EXPORT_TASK=0 to run
   asyncio on the C Future with the pure-Python Task (the stdlib patch
   imports only what this module provides), e.g. to bisect a failure. */
#ifndef ASYNCIO_EXPORT_TASK
#  define ASYNCIO_EXPORT_TASK 1
#endif
/* series: } */

static PyMethodDef asyncio_methods[] = {
    {"get_event_loop", asyncio_get_event_loop_func, METH_NOARGS,
     PyDoc_STR("Return an asyncio event loop.")},
    {"_get_event_loop",
     (PyCFunction)(void (*)(void))asyncio__get_event_loop_func,
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"get_running_loop", asyncio_get_running_loop_func, METH_NOARGS,
     PyDoc_STR("Return the running event loop.  Raise a RuntimeError if "
               "there is none.")},
    {"_get_running_loop", asyncio__get_running_loop_func, METH_NOARGS,
     PyDoc_STR("Return the running event loop or None.")},
    {"_set_running_loop", asyncio__set_running_loop_func, METH_O,
     PyDoc_STR("Set the running event loop.")},
/* series: task { */
    {"_register_task", asyncio__register_task, METH_O,
     PyDoc_STR("Register a new task in asyncio as executed by loop.")},
    {"_unregister_task", asyncio__unregister_task, METH_O,
     PyDoc_STR("Unregister a task.")},
    {"_enter_task", (PyCFunction)(void (*)(void))asyncio__enter_task,
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"_leave_task", (PyCFunction)(void (*)(void))asyncio__leave_task,
     METH_FASTCALL | METH_KEYWORDS, NULL},
/* series: } */
/* series: loop { */
    {"current_task", (PyCFunction)(void (*)(void))asyncio_current_task,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("current_task($module, /, loop=None)\n--\n\n"
               "Return a currently executed task.")},
    {"_native_tasks", asyncio__native_tasks, METH_NOARGS,
     PyDoc_STR("The registered tasks of the C Task class, as a list.")},
    {"_gather", (PyCFunction)(void (*)(void))asyncio__gather, METH_FASTCALL,
     PyDoc_STR("_gather(coros_or_futures, return_exceptions)\n--\n\n"
               "The body of asyncio.gather() for a tuple of arguments: "
               "the outer\nfuture, or None, having done nothing, when the "
               "tuple is empty, no\nevent loop is running or "
               "tasks._GatheringFuture is not this\nmodule's.")},
/* series: } */
/* series: snapshot { */
    {"_copy_concurrent_future_state",
     (PyCFunction)(void (*)(void))asyncio__copy_concurrent_future_state,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("Copy a done concurrent.futures.Future into an asyncio "
               "future.\n\nThe C version of asyncio.futures."
               "_copy_concurrent_future_state(): False, changing nothing,\n"
               "if source is not done or dest is done and not cancelled; "
               "else True.")},
/* series: } */
    {NULL, NULL}
};

/* The references of asyncio_state that m_traverse visits and m_clear
   drops, in that order: all but the interned names and constant tuples
   (see the struct), which only m_free drops. */
static const size_t state_refs[] = {
    offsetof(asyncio_state, FutureType),
    offsetof(asyncio_state, FutureIterType),
/* series: task { */
    offsetof(asyncio_state, TaskType),
    offsetof(asyncio_state, TaskCallbackType),
/* series: } */
/* series: loop { */
    offsetof(asyncio_state, HandleType),
    offsetof(asyncio_state, TimerHandleType),
    offsetof(asyncio_state, LoopCoreType),
    offsetof(asyncio_state, core_own_methods[CORE_TIME]),
    offsetof(asyncio_state, core_own_methods[CORE_GET_DEBUG]),
    offsetof(asyncio_state, core_own_methods[CORE_CHECK_CLOSED]),
    offsetof(asyncio_state, core_own_methods[CORE__CALL_SOON]),
    offsetof(asyncio_state, core_own_methods[CORE_CALL_AT]),
    offsetof(asyncio_state, core_own_methods[CORE_CREATE_TASK]),
    offsetof(asyncio_state, core_own_methods[CORE_CALL_SOON]),
    offsetof(asyncio_state, core_own_methods[CORE__RUN_ONCE]),
    offsetof(asyncio_state, core_own_methods[CORE_PROCESS_EVENTS]),
    offsetof(asyncio_state, core_own_methods[CORE_WRITE_TO_SELF]),
    offsetof(asyncio_state, socket_type),
    offsetof(asyncio_state, epoll_selector_type),
    offsetof(asyncio_state, epoll_type),
    offsetof(asyncio_state, epoll_fileno),
    offsetof(asyncio_state, GatheringFutureType),
    offsetof(asyncio_state, GatherCallbackType),
    offsetof(asyncio_state, tasks_module),
    offsetof(asyncio_state, py_create_task),
/* series: } */
/* series: task { */
    offsetof(asyncio_state, all_tasks),
    offsetof(asyncio_state, current_tasks),
/* series: } */
    offsetof(asyncio_state, CancelledError),
    offsetof(asyncio_state, InvalidStateError),
    offsetof(asyncio_state, events_module),
    offsetof(asyncio_state, future_repr_info),
/* series: task { */
    offsetof(asyncio_state, task_repr_info),
    offsetof(asyncio_state, task_get_stack),
    offsetof(asyncio_state, task_print_stack),
/* series: } */
    offsetof(asyncio_state, extract_stack),
    offsetof(asyncio_state, iscoroutine),  /* series: task */
    offsetof(asyncio_state, format_callback_source),  /* series: loop */
    offsetof(asyncio_state, copy_cf_objects),  /* series: snapshot */
};

/* The interned names of asyncio_state, made by m_exec. */
#define STATE_NAME(field, text) {offsetof(asyncio_state, field), (text)}
static const struct {
    size_t offset;
    const char *text;
} state_names_table[] = {
    STATE_NAME(str_call_soon, "call_soon"),
    STATE_NAME(str_call_exception_handler, "call_exception_handler"),
    STATE_NAME(str_get_debug, "get_debug"),
    STATE_NAME(str_get_loop, "get_loop"),  /* series: task */
    STATE_NAME(str_loop, "_loop"),  /* series: task */
    STATE_NAME(str_add_done_callback, "add_done_callback"),  /* series: task */
    STATE_NAME(str_remove_done_callback, "remove_done_callback"),
    STATE_NAME(str_cancel, "cancel"),  /* series: task */
    STATE_NAME(str_done, "done"),
    STATE_NAME(str_result, "result"),
    STATE_NAME(str_send, "send"),  /* series: task */
    STATE_NAME(str_throw, "throw"),  /* series: task */
    STATE_NAME(str_blocking, "_asyncio_future_blocking"),
    STATE_NAME(str_repr_info, "_repr_info"),
    STATE_NAME(str_make_cancelled_error, "_make_cancelled_error"),
    STATE_NAME(str_running_loop_key, "__asyncio_running_event_loop__"),
    STATE_NAME(str_add, "add"),  /* series: task */
    STATE_NAME(str_discard, "discard"),  /* series: task */
    STATE_NAME(str_get_event_loop, "get_event_loop"),
    STATE_NAME(str_get_event_loop_policy, "get_event_loop_policy"),
/* series: loop { */
    STATE_NAME(str_cancelled, "cancelled"),
    STATE_NAME(str_source_traceback, "_source_traceback"),
    STATE_NAME(str_cancelled_attr, "_cancelled"),
    STATE_NAME(str_scheduled_attr, "_scheduled"),
    STATE_NAME(str_when_attr, "_when"),
    STATE_NAME(str_run, "_run"),
    STATE_NAME(str_append, "append"),
    STATE_NAME(str_popleft, "popleft"),
    STATE_NAME(str_timer_cancelled, "_timer_cancelled_count"),
    STATE_NAME(str_selector, "_selector"),
    STATE_NAME(str_select, "select"),
    STATE_NAME(str_process_events, "_process_events"),
    STATE_NAME(str_clock_resolution, "_clock_resolution"),
    STATE_NAME(str_current_handle, "_current_handle"),
    STATE_NAME(core_own_names[CORE_TIME], "time"),
    STATE_NAME(core_own_names[CORE_GET_DEBUG], "get_debug"),
    STATE_NAME(core_own_names[CORE_CHECK_CLOSED], "_check_closed"),
    STATE_NAME(core_own_names[CORE__CALL_SOON], "_call_soon"),
    STATE_NAME(core_own_names[CORE_CALL_AT], "call_at"),
    STATE_NAME(core_own_names[CORE_CREATE_TASK], "create_task"),
    STATE_NAME(core_own_names[CORE_CALL_SOON], "call_soon"),
    STATE_NAME(core_own_names[CORE__RUN_ONCE], "_run_once"),
    STATE_NAME(core_own_names[CORE_PROCESS_EVENTS], "_process_events"),
    STATE_NAME(core_own_names[CORE_WRITE_TO_SELF], "_write_to_self"),
    STATE_NAME(str_fd_to_key, "_fd_to_key"),
    STATE_NAME(str_poll, "poll"),
    STATE_NAME(str_events, "events"),
    STATE_NAME(str_task_factory, "_task_factory"),
    STATE_NAME(str_Task, "Task"),
    STATE_NAME(str_ensure_future, "_ensure_future"),
    STATE_NAME(str_log_destroy_pending, "_log_destroy_pending"),
    STATE_NAME(str_exception, "exception"),
    STATE_NAME(str_cancel_message, "_cancel_message"),
    STATE_NAME(str_close, "close"),
    STATE_NAME(str_gathering_future, "_GatheringFuture"),
    STATE_NAME(str_timer_handle_cancelled, "_timer_handle_cancelled"),
    STATE_NAME(str_csock, "_csock"),
    STATE_NAME(str_fileno, "fileno"),
/* series: } */
    STATE_NAME(state_names[STATE_PENDING], "PENDING"),
    STATE_NAME(state_names[STATE_CANCELLED], "CANCELLED"),
    STATE_NAME(state_names[STATE_FINISHED], "FINISHED"),
};
#undef STATE_NAME

/* The reference at `offset` in st, from one of the tables above. */
static inline PyObject **
state_ref(asyncio_state *st, size_t offset)
{
    return (PyObject **)((char *)st + offset);
}

static int
asyncio_traverse(PyObject *module, visitproc visit, void *arg)
{
    asyncio_state *st = get_module_state(module);
    for (size_t i = 0; i < Py_ARRAY_LENGTH(state_refs); i++) {
        Py_VISIT(*state_ref(st, state_refs[i]));
    }
    return 0;
}

static int
asyncio_clear(PyObject *module)
{
    asyncio_state *st = get_module_state(module);
    st->helpers_ready = 0;
    /* first, while the types live: freeing an object reads its type */
    freelist_clear(&st->fi_freelist);
    freelist_clear(&st->tcb_freelist);  /* series: task */
    freelist_clear(&st->h_freelist);  /* series: loop */
/* series: loop { */
    if (st->native_tasks.next != NULL) {
        while (st->native_tasks.next != &st->native_tasks) {
            native_task_unlink(st->native_tasks.next);
        }
    }
/* series: } */
    for (size_t i = 0; i < Py_ARRAY_LENGTH(state_refs); i++) {
        Py_CLEAR(*state_ref(st, state_refs[i]));
    }
    st->rl_ts_id = 0;
    st->rl_loop = NULL;
    return 0;
}

static void
asyncio_free(void *module)
{
    asyncio_state *st = get_module_state((PyObject *)module);
    (void)asyncio_clear((PyObject *)module);
    for (size_t i = 0; i < Py_ARRAY_LENGTH(state_names_table); i++) {
        Py_CLEAR(*state_ref(st, state_names_table[i].offset));
    }
    Py_CLEAR(st->kw_context);
    Py_CLEAR(st->kw_msg);  /* series: task */
/* series: loop { */
    Py_CLEAR(st->deque_type);
    Py_CLEAR(st->deque_append);
    Py_CLEAR(st->deque_popleft);
    Py_CLEAR(st->heappush);
    Py_CLEAR(st->heappop);
    Py_CLEAR(st->heapify);
    Py_CLEAR(st->kw_loop);
    Py_CLEAR(st->kw_task_init);
    Py_CLEAR(st->kw_name_context);
/* series: } */
}
/* series: loop { */

/* Handle, TimerHandle and _EventLoopCore, and what the core uses. */
static int
asyncio_exec_loop_core(PyObject *module, asyncio_state *st)
{
    st->HandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &handle_spec, NULL);
    if (st->HandleType == NULL) {
        return -1;
    }
    st->TimerHandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &timer_spec, (PyObject *)st->HandleType);
    if (st->TimerHandleType == NULL) {
        return -1;
    }
    st->LoopCoreType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &core_spec, NULL);
    if (st->LoopCoreType == NULL) {
        return -1;
    }
    st->GatheringFutureType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &gathering_spec, (PyObject *)st->FutureType);
    if (st->GatheringFutureType == NULL) {
        return -1;
    }
    st->GatherCallbackType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &gather_callback_spec, NULL);
    if (st->GatherCallbackType == NULL) {
        return -1;
    }
    if (PyModule_AddType(module, st->HandleType) < 0
        || PyModule_AddType(module, st->TimerHandleType) < 0
        || PyModule_AddType(module, st->LoopCoreType) < 0
        || PyModule_AddType(module, st->GatheringFutureType) < 0) {
        return -1;
    }
    st->kw_loop = Py_BuildValue("(s)", "loop");
    st->kw_task_init = Py_BuildValue("(sss)", "loop", "name", "context");
    st->kw_name_context = Py_BuildValue("(ss)", "name", "context");
    if (st->kw_loop == NULL || st->kw_task_init == NULL
        || st->kw_name_context == NULL) {
        return -1;
    }
    for (int i = 0; i < CORE_PROCESS_EVENTS; i++) {
        PyObject *meth = PyDict_GetItemWithError(st->LoopCoreType->tp_dict,
                                                 st->core_own_names[i]);
        if (meth == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, st->core_own_names[i]);
            }
            return -1;
        }
        st->core_own_methods[i] = Py_NewRef(meth);
    }
    st->deque_type = (PyTypeObject *)import_attr("collections", "deque");
    if (st->deque_type == NULL) {
        return -1;
    }
    st->deque_append = PyObject_GetAttrString((PyObject *)st->deque_type,
                                              "append");
    if (st->deque_append == NULL) {
        return -1;
    }
    st->deque_popleft = PyObject_GetAttrString((PyObject *)st->deque_type,
                                               "popleft");
    if (st->deque_popleft == NULL) {
        return -1;
    }
    if ((st->heappush = import_attr("heapq", "heappush")) == NULL
        || (st->heappop = import_attr("heapq", "heappop")) == NULL
        || (st->heapify = import_attr("heapq", "heapify")) == NULL) {
        return -1;
    }
    return 0;
}
/* series: } */

static int
asyncio_exec(PyObject *module)
{
    asyncio_state *st = get_module_state(module);

#ifdef HAVE_FORK
    static int atfork_registered = 0;
    if (!atfork_registered) {
        if (pthread_atfork(NULL, NULL, asyncio_after_fork_child) != 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "cannot register an at-fork handler");
            return -1;
        }
        atfork_registered = 1;
    }
#endif

    for (size_t i = 0; i < Py_ARRAY_LENGTH(state_names_table); i++) {
        PyObject *name = PyUnicode_InternFromString(
            state_names_table[i].text);
        if (name == NULL) {
            return -1;
        }
        *state_ref(st, state_names_table[i].offset) = name;
    }
    st->kw_context = Py_BuildValue("(s)", "context");
    if (st->kw_context == NULL) {
        return -1;
    }
/* series: loop { */
    st->native_tasks.prev = st->native_tasks.next = &st->native_tasks;
/* series: } */
/* series: task { */
    st->kw_msg = Py_BuildValue("(s)", "msg");
    if (st->kw_msg == NULL) {
        return -1;
    }
/* series: } */

    st->FutureType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &future_spec, NULL);
    if (st->FutureType == NULL) {
        return -1;
    }
    st->FutureIterType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &futureiter_spec, NULL);
    if (st->FutureIterType == NULL) {
        return -1;
    }
/* series: task { */
    st->TaskType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &task_spec, (PyObject *)st->FutureType);
    if (st->TaskType == NULL) {
        return -1;
    }
/* series: } */
    /* No type slot exists for this in 3.11: calling the exact classes
       skips building a keyword dict (see future_vectorcall()). */
    st->FutureType->tp_vectorcall = future_vectorcall;
/* series: task { */
    st->TaskType->tp_vectorcall = task_vectorcall;
    st->TaskCallbackType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &task_callback_spec, NULL);
    if (st->TaskCallbackType == NULL) {
        return -1;
    }
/* series: } */
    if (PyModule_AddType(module, st->FutureType) < 0) {
        return -1;
    }
/* series: task { */
    if (ASYNCIO_EXPORT_TASK && PyModule_AddType(module, st->TaskType) < 0) {
        return -1;
    }
/* series: } */
/* series: loop { */

    if (asyncio_exec_loop_core(module, st) < 0) {
        return -1;
    }
/* series: } */
/* series: task { */

    PyObject *weakset = import_attr("weakref", "WeakSet");
    if (weakset == NULL) {
        return -1;
    }
    st->all_tasks = PyObject_CallNoArgs(weakset);
    Py_DECREF(weakset);
    if (st->all_tasks == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "_all_tasks", st->all_tasks) < 0) {
        return -1;
    }
    st->current_tasks = PyDict_New();
    if (st->current_tasks == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "_current_tasks",
                              st->current_tasks) < 0) {
        return -1;
    }
/* series: } */
    return 0;
}

static PyModuleDef_Slot asyncio_slots[] = {
    {Py_mod_exec, asyncio_exec},
    {0, NULL}
};

static struct PyModuleDef asyncio_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_asyncio",
    .m_doc = "Accelerator module for asyncio",
    .m_size = sizeof(asyncio_state),
    .m_methods = asyncio_methods,
    .m_slots = asyncio_slots,
    .m_traverse = asyncio_traverse,
    .m_clear = asyncio_clear,
    .m_free = asyncio_free,
};

PyMODINIT_FUNC
PyInit__asyncio(void)
{
    return PyModuleDef_Init(&asyncio_module);
}
