/* The event loop's core, _EventLoopCore (loop.c). */

/* The methods of the loop core whose overrides it respects: see
   core_method_is_own(). */
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
    CORE_ADD_CALLBACK,
    CORE_IS_CLOSED,
    CORE_NOWN
};

typedef struct {
    PyTypeObject *LoopCoreType;
    PyTypeObject *SelectorLoopCoreType;   /* _SelectorLoopCore */
    /* The methods of _EventLoopCore that core_method_is_own() looks for,
       by name and as found in the type's dict. */
    PyObject *own_names[CORE_NOWN];
    PyObject *own_methods[CORE_NOWN];
    /* The version tag of the last type core_own_mask() found to be a
       subclass of _EventLoopCore: a type gets a new tag when it (or a
       base) changes, and tags are not reused, so an object with that tag
       is a core without a walk of the MRO.  0: none yet. */
    unsigned int type_version;
    /* selectors.EpollSelector, for the core's shortcut around its
       select(), and socket.socket, for its write to the self-pipe; loaded
       with the selector loop's methods in own_methods[] by
       core_load_selector_refs(). */
    PyObject *epoll_selector_type;
    PyObject *epoll_type;         /* select.epoll */
    PyObject *epoll_fileno;       /* select.epoll.fileno, unbound */
    PyObject *selector_key_type;  /* selectors.SelectorKey */
    /* selector_events._py_selector_methods, for what _SelectorLoopCore
       leaves to the pure-Python methods; imported on first use */
    PyObject *py_selector_methods;
    PyObject *socket_type;        /* socket.socket */
    int selector_refs_loaded;

    /* asyncio.tasks, whose _ensure_future, Task and _GatheringFuture
       create_task and gather look up on every call, and the pure-Python
       create_task (base_events._py_hot_path), for the cases the core
       hands back to it; imported on first use. */
    PyObject *tasks_module;
    PyObject *py_create_task;
    /* asyncio.futures, whose Future create_future() makes (as found when
       the module's dict had the version recorded), and the pure-Python
       create_future, which runs in debug mode */
    PyObject *futures_module;
    PyObject *future_class;
    uint64_t futures_dict_version;
    PyObject *py_create_future;

    /* What the loop core uses of collections and heapq, taken at exec:
       builtins that take part in no cycle, dropped by m_free. */
    PyTypeObject *deque_type;
    PyObject *deque_append;
    PyObject *deque_popleft;
    PyObject *heappush;
    PyObject *heappop;
    PyObject *heapify;

    PyObject *str_Future;
    PyObject *str_Task;
    PyObject *str_create_future;
    PyObject *str_append;
    PyObject *str_cancelled_attr;
    PyObject *str_clock_resolution;
    PyObject *str_csock;
    PyObject *str_current_handle;
    PyObject *str_events;
    PyObject *str_fd_to_key;
    PyObject *str_fileno;
    PyObject *str_popleft;
    PyObject *str_process_events;
    PyObject *str_handler[4];     /* _add_reader ... _remove_writer */
    PyObject *str_map;
    PyObject *str_selector_methods[5];
    PyObject *str_remove_reader;
    PyObject *str_remove_writer;
    PyObject *str_run;
    PyObject *str_scheduled_attr;
    PyObject *str_select;
    PyObject *str_selector;
    PyObject *str_set_name;
    PyObject *str_source_traceback;
    PyObject *str_task_factory;
    PyObject *str_timer_cancelled;
    PyObject *str_when_attr;
    PyObject *kw_task_init;       /* ("loop", "name", "context") */
    PyObject *kw_name_context;    /* ("name", "context") */
} loop_state;

extern const asyncio_part loop_part;

/* loop.create_task(coro), by the core when that is the core's own. */
PyObject *loop_create_task(asyncio_state *st, PyObject *loop,
                           PyObject *coro);
/* asyncio.tasks.<name>, read on every call (new reference). */
PyObject *tasks_attr(asyncio_state *st, PyObject *name);
/* selector_events._py_selector_methods[name](self, *args, **kwargs): the
   pure-Python method of the selector loop, for what the C one leaves to
   it. */
PyObject *loop_call_py_selector_method(asyncio_state *st, PyObject *self,
                                       PyObject *name, PyObject *const *args,
                                       size_t nargsf, PyObject *kwnames);
/* Make each of defs (a METH_METHOD table, ending in {NULL}) a method of
   _SelectorLoopCore: what the parts after this one give the selector
   loop. */
int loop_add_selector_methods(asyncio_state *st, PyMethodDef *defs);

/* Whether obj's instance dict has name (which shadows a method of its
   class): 1 or 0, never an error. */
int loop_instance_has(PyObject *obj, PyObject *name);
