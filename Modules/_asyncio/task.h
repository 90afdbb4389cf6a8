/* Task (task.c). */

typedef struct {
    FutureObject task_future;
    PyObject *task_fut_waiter;
    PyObject *task_coro;
    PyObject *task_name;        /* NULL: "Task-<task_name_num>", made lazily */
    PyObject *task_context;
    /* After its eager step a task keeps, in place of its context when
       nothing else holds that, the context's variables (see
       task_keep_vars()); task_context_ref() makes the Context again. */
    PyObject *task_context_vars;
    unsigned long long task_name_num;
    int task_must_cancel;
    int task_log_destroy_pending;
    Py_ssize_t task_num_cancels_requested;
    task_link task_registered;  /* see registry.h */
} TaskObject;

/* Task's keyword arguments: loop, name, context, eager_start */
#define TASK_NKW 4

typedef struct {
    PyTypeObject *TaskType;
    PyTypeObject *TaskCallbackType;
    /* the callables a task hands to the loop, kept for reuse */
    freelist callback_freelist;
    /* counter behind the default task names "Task-N" */
    unsigned long long name_counter;
    /* whether the last loop whose is_running() was read without a call
       was running, and the versions of its type and dict then */
    int running;
    unsigned int running_tp_version;
    uint64_t running_dict_version;
    /* asyncio's helpers, imported on first use */
    PyObject *repr_info;          /* base_tasks._task_repr_info */
    PyObject *get_stack;          /* base_tasks._task_get_stack */
    PyObject *print_stack;        /* base_tasks._task_print_stack */
    PyObject *iscoroutine;        /* coroutines.iscoroutine */
    PyObject *base_is_running;    /* base_events.BaseEventLoop.is_running */
    PyObject *eager_factory;      /* this module's eager_task_factory */
    PyObject *str_get_loop;
    PyObject *str_is_running;
    PyObject *str_thread_id;
    PyObject *kwnames[TASK_NKW];  /* interned */
    PyObject *str_loop;
    PyObject *str_send;
    PyObject *str_throw;
    PyObject *kw_msg;             /* ("msg",) */
} task_state;

extern const asyncio_part task_part;

#define Task_CheckExact(st, obj) Py_IS_TYPE((obj), (st)->task.TaskType)

/* fut.cancel(msg=msg) for any future: 1 if cancelled now, 0 if not. */
int future_cancel_any(asyncio_state *st, PyObject *fut, PyObject *msg);
/* futures._get_loop(fut): new reference. */
PyObject *get_future_loop(asyncio_state *st, PyObject *fut);
/* Task(coro, loop=loop, context=context, eager_start=True) of the exact
   class, what eager_task_factory makes: new reference. */
PyObject *task_new_eager(asyncio_state *st, PyObject *loop, PyObject *coro,
                         PyObject *context);
