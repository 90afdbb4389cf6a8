/*
 * The task registry: _register_task(), _unregister_task(), _enter_task(),
 * _leave_task(), _swap_current_task() and current_task(), over the
 * _all_tasks set and the _current_tasks dict that asyncio.tasks imports.
 *
 * _all_tasks holds its tasks weakly, as the pure-Python weakref.WeakSet
 * does.  Tasks of the module's Task class (subclasses included) are kept
 * in a ring of links stored in the tasks themselves, which a task leaves
 * when it is cleared or destroyed: no weak reference and no Python call
 * per task; other tasks go to a WeakSet inside it.  Iterating _all_tasks
 * gives both, so asyncio.all_tasks() finds every task with or without
 * the stdlib changes of this series.  A loop core (loop.c) keeps the task
 * it runs itself, rather than in _current_tasks.
 */

#include "module.h"

/* _all_tasks */
typedef struct {
    PyObject_HEAD
    PyObject *others;             /* weakref.WeakSet of the other tasks */
} TaskSetObject;

/* The WeakSet of tasks not in the ring (borrowed), or NULL with an
   exception set once the module is cleared. */
static PyObject *
registry_others(asyncio_state *st)
{
    if (st->registry.all_tasks == NULL) {
        raise_finalized();
        return NULL;
    }
    return ((TaskSetObject *)st->registry.all_tasks)->others;
}

void
registry_set_linked_type(asyncio_state *st, PyTypeObject *tp,
                         Py_ssize_t offset)
{
    st->registry.linked_type = tp;
    st->registry.link_offset = offset;
}

/* task's link, when its class is (a subclass of) the linked one. */
static task_link *
registry_link_of(asyncio_state *st, PyObject *task)
{
    registry_state *rs = &st->registry;
    if (rs->linked_type == NULL
        || !PyObject_TypeCheck(task, rs->linked_type)) {
        return NULL;
    }
    return (task_link *)((char *)task + rs->link_offset);
}

static PyObject *
registry_task_of(asyncio_state *st, task_link *link)
{
    return (PyObject *)((char *)link - st->registry.link_offset);
}

static void
registry_link(asyncio_state *st, task_link *link)
{
    task_link *head = &st->registry.ring;
    if (link->next != NULL) {
        return;     /* registered already */
    }
    link->prev = head;
    link->next = head->next;
    head->next->prev = link;
    head->next = link;
}

int
register_task(asyncio_state *st, PyObject *task)
{
    task_link *link = registry_link_of(st, task);
    if (link != NULL) {
        registry_link(st, link);
        return 0;
    }
    PyObject *others = registry_others(st);
    if (others == NULL) {
        return -1;
    }
    return drop_result(PyObject_CallMethodOneArg(
        others, st->registry.str_add, task));
}

int
unregister_task(asyncio_state *st, PyObject *task)
{
    task_link *link = registry_link_of(st, task);
    if (link != NULL) {
        registry_unlink(link);
        return 0;
    }
    if (st->registry.all_tasks == NULL) {
        return 0;
    }
    return drop_result(PyObject_CallMethodOneArg(
        registry_others(st), st->registry.str_discard, task));
}

/* Where loop keeps its current task when it is a loop core, else NULL. */
static inline PyObject **
registry_core_slot(asyncio_state *st, PyObject *loop)
{
    if (!loop_may_be_core(st, loop)) {
        return NULL;
    }
    return st->loop_core.current_task_slot(st, loop);
}

/* Where the current task of a loop is kept: in a loop core's own slot,
   or in _current_tasks under the loop.  Enter and leave look the loop up,
   then change what they found, so the loop's hash is kept for the second
   dict call. */
typedef struct {
    PyObject **slot;    /* the loop core's slot; NULL for other loops */
    Py_hash_t hash;     /* the loop's hash once _current_tasks was asked */
} current_place;

/* The current task of loop (borrowed) in *cur, NULL if none, and where it
   is kept in *where: 0, or -1 with an exception set.  Inlined: each step
   of a task enters and leaves. */
static inline Py_ALWAYS_INLINE int
registry_find_current(asyncio_state *st, PyObject *loop,
                      current_place *where, PyObject **cur)
{
    registry_state *rs = &st->registry;
    where->slot = NULL;
    where->hash = -1;
    *cur = NULL;
    if (rs->current_tasks == NULL) {
        return raise_finalized();
    }
    /* a loop core keeps the task it runs itself; _current_tasks still
       holds what the pure _py_enter_task() put there */
    where->slot = registry_core_slot(st, loop);
    if (where->slot != NULL
        && (*where->slot != NULL || PyDict_GET_SIZE(rs->current_tasks) == 0)) {
        *cur = *where->slot;
        return 0;
    }
    where->hash = PyObject_Hash(loop);
    if (where->hash == -1) {
        return -1;
    }
    *cur = _PyDict_GetItem_KnownHash(rs->current_tasks, loop, where->hash);
    if (*cur == NULL && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

/* The current task of loop (borrowed) in *cur, NULL if none: 0, or -1
   with an exception set. */
static int
registry_current_task(asyncio_state *st, PyObject *loop, PyObject **cur)
{
    current_place where;
    return registry_find_current(st, loop, &where, cur);
}

int
enter_task(asyncio_state *st, PyObject *loop, PyObject *task)
{
    current_place where;
    PyObject *cur;
    if (registry_find_current(st, loop, &where, &cur) < 0) {
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
    if (where.slot != NULL) {
        Py_XSETREF(*where.slot, Py_NewRef(task));
        return 0;
    }
    return _PyDict_SetItem_KnownHash(st->registry.current_tasks, loop, task,
                                     where.hash);
}

int
leave_task(asyncio_state *st, PyObject *loop, PyObject *task)
{
    current_place where;
    PyObject *cur;
    if (registry_find_current(st, loop, &where, &cur) < 0) {
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
    if (where.slot != NULL && *where.slot != NULL) {
        Py_CLEAR(*where.slot);
        return 0;
    }
    /* the task was found in _current_tasks, so the hash is known */
    assert(where.hash != -1);
    return _PyDict_DelItem_KnownHash(st->registry.current_tasks, loop,
                                     where.hash);
}


/* Make task (NULL: no task) the one loop runs, whichever ran before, as
   an eager task's first step does: the previous one goes to *prev (a new
   reference; NULL if none).  The task is kept where
   registry_current_task() found the previous one, so that swapping the
   previous one back leaves the registry as it was. */
int
swap_current_task(asyncio_state *st, PyObject *loop, PyObject *task,
                  PyObject **prev)
{
    registry_state *rs = &st->registry;
    *prev = NULL;
    if (rs->current_tasks == NULL) {
        return raise_finalized();
    }
    PyObject **slot = registry_core_slot(st, loop);
    if (slot != NULL
        && (*slot != NULL || PyDict_GET_SIZE(rs->current_tasks) == 0)) {
        *prev = *slot;
        *slot = Py_XNewRef(task);
        return 0;
    }
    PyObject *cur = PyDict_GetItemWithError(rs->current_tasks, loop);
    if (cur == NULL && PyErr_Occurred()) {
        return -1;
    }
    Py_XINCREF(cur);
    int rc = 0;
    if (task != NULL) {
        rc = PyDict_SetItem(rs->current_tasks, loop, task);
    }
    else if (cur != NULL) {
        rc = PyDict_DelItem(rs->current_tasks, loop);
    }
    if (rc < 0) {
        Py_XDECREF(cur);
        return -1;
    }
    *prev = cur;
    return 0;
}


/* ---------- _all_tasks ---------- */

/* The tasks in the ring then the others, as a new list.  Appending
   allocates no GC object, so no task can leave the ring during the walk;
   iterating the WeakSet may raise RuntimeError if it changes meanwhile,
   which asyncio.all_tasks() retries. */
static PyObject *
taskset_list(asyncio_state *st)
{
    PyObject *others = registry_others(st);
    PyObject *list = others != NULL ? PyList_New(0) : NULL;
    if (list == NULL) {
        return NULL;
    }
    task_link *head = &st->registry.ring;
    for (task_link *link = head->next; link != head; link = link->next) {
        if (PyList_Append(list, registry_task_of(st, link)) < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    PyObject *rest = PySequence_List(others);
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (rest == NULL || PyList_SetSlice(list, n, n, rest) < 0) {
        Py_XDECREF(rest);
        Py_DECREF(list);
        return NULL;
    }
    Py_DECREF(rest);
    return list;
}

static PyObject *
taskset_iter(PyObject *self)
{
    asyncio_state *st = state_of(self);
    PyObject *list = st != NULL ? taskset_list(st) : NULL;
    if (list == NULL) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(list);
    Py_DECREF(list);
    return it;
}

static Py_ssize_t
taskset_len(PyObject *self)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return -1;
    }
    Py_ssize_t n = PyObject_Size(((TaskSetObject *)self)->others);
    task_link *head = &st->registry.ring;
    for (task_link *link = head->next; n >= 0 && link != head;
         link = link->next) {
        n++;
    }
    return n;
}

static int
taskset_contains(PyObject *self, PyObject *task)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return -1;
    }
    task_link *link = registry_link_of(st, task);
    if (link != NULL) {
        return link->next != NULL;
    }
    return PySequence_Contains(((TaskSetObject *)self)->others, task);
}

static PyObject *
taskset_add(PyObject *self, PyObject *task)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return none_or_error(register_task(st, task));
}

static PyObject *
taskset_discard(PyObject *self, PyObject *task)
{
    asyncio_state *st = state_of(self);
    if (st == NULL) {
        return NULL;
    }
    return none_or_error(unregister_task(st, task));
}

static int
taskset_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((TaskSetObject *)self)->others);
    return 0;
}

static int
taskset_clear(PyObject *self)
{
    Py_CLEAR(((TaskSetObject *)self)->others);
    return 0;
}

static void
taskset_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)taskset_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef taskset_methods[] = {
    {"add", taskset_add, METH_O,
     PyDoc_STR("add($self, task, /)\n--\n\nAdd a task to the set.")},
    {"discard", taskset_discard, METH_O,
     PyDoc_STR("discard($self, task, /)\n--\n\n"
               "Remove a task from the set if it is a member.")},
    {NULL, NULL}
};

static PyType_Slot taskset_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "The set of tasks asyncio.all_tasks() reads, holding them weakly.")},
    {Py_tp_dealloc, taskset_dealloc},
    {Py_tp_traverse, taskset_traverse},
    {Py_tp_clear, taskset_clear},
    {Py_tp_iter, taskset_iter},
    {Py_sq_length, taskset_len},
    {Py_sq_contains, taskset_contains},
    {Py_tp_methods, taskset_methods},
    {0, NULL}
};

static PyType_Spec taskset_spec = {
    .name = "_asyncio._TaskSet",
    .basicsize = sizeof(TaskSetObject),
    .flags = (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
              | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION),
    .slots = taskset_slots,
};


/* ---------- Module functions ---------- */

/* _register_task(task) and _unregister_task(task), by `func`: task may
   be given by keyword, as with 3.11's own accelerator. */
static PyObject *
registry_task_func(PyObject *module, PyObject *const *args,
                   Py_ssize_t nargs, PyObject *kwnames, const char *fname,
                   int (*func)(asyncio_state *, PyObject *))
{
    static const char *const names[] = {"task"};
    PyObject *task;
    if (parse_args(fname, args, nargs, kwnames, names, 1, 1, 1, &task) < 0) {
        return NULL;
    }
    return none_or_error(func(get_module_state(module), task));
}

static PyObject *
registry__register_task(PyObject *module, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames)
{
    return registry_task_func(module, args, nargs, kwnames,
                              "_register_task", register_task);
}

static PyObject *
registry__unregister_task(PyObject *module, PyObject *const *args,
                          Py_ssize_t nargs, PyObject *kwnames)
{
    return registry_task_func(module, args, nargs, kwnames,
                              "_unregister_task", unregister_task);
}

/* _enter_task(loop, task) and _leave_task(loop, task), by `func`. */
static PyObject *
registry_loop_task_func(PyObject *module, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames,
                        const char *fname,
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
registry__enter_task(PyObject *module, PyObject *const *args,
                     Py_ssize_t nargs, PyObject *kwnames)
{
    return registry_loop_task_func(module, args, nargs, kwnames,
                                   "_enter_task", enter_task);
}

static PyObject *
registry__leave_task(PyObject *module, PyObject *const *args,
                     Py_ssize_t nargs, PyObject *kwnames)
{
    return registry_loop_task_func(module, args, nargs, kwnames,
                                   "_leave_task", leave_task);
}

/* _swap_current_task(loop, task) */
static PyObject *
registry__swap_current_task(PyObject *module, PyObject *const *args,
                            Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"loop", "task"};
    PyObject *argv[2];
    if (parse_args("_swap_current_task", args, nargs, kwnames, names, 2, 2,
                   2, argv) < 0) {
        return NULL;
    }
    PyObject *prev;
    if (swap_current_task(get_module_state(module), argv[0],
                          argv[1] != Py_None ? argv[1] : NULL, &prev) < 0) {
        return NULL;
    }
    return prev != NULL ? prev : Py_NewRef(Py_None);
}

/* current_task(loop=None) */
static PyObject *
registry_current_task_func(PyObject *module, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"loop"};
    asyncio_state *st = get_module_state(module);
    PyObject *loop;
    if (parse_args("current_task", args, nargs, kwnames, names, 1, 1, 0,
                   &loop) < 0) {
        return NULL;
    }
    loop = loop != NULL && loop != Py_None ? Py_NewRef(loop)
                                           : get_running_loop(st);
    if (loop == NULL) {
        return NULL;
    }
    PyObject *cur;
    int rc = registry_current_task(st, loop, &cur);
    Py_DECREF(loop);
    return rc < 0 ? NULL : new_ref_or_none(cur);
}

static PyMethodDef registry_functions[] = {
    FASTCALL_KW("_register_task", registry__register_task,
                PyDoc_STR("_register_task($module, /, task)\n--\n\n"
                          "Add task to the tasks asyncio.all_tasks() "
                          "reports.\n\n"
                          "Tasks of this module's Task class do this "
                          "themselves; other task\nclasses call it.")),
    FASTCALL_KW("_unregister_task", registry__unregister_task,
                PyDoc_STR("_unregister_task($module, /, task)\n--\n\n"
                          "Remove task from the tasks asyncio.all_tasks() "
                          "reports.\n\n"
                          "Nothing happens if it is not among them.")),
    FASTCALL_KW("_enter_task", registry__enter_task,
                PyDoc_STR("_enter_task($module, /, loop, task)\n--\n\n"
                          "Record task as the task loop is running now.\n\n"
                          "RuntimeError is raised if loop is running "
                          "another task.")),
    FASTCALL_KW("_leave_task", registry__leave_task,
                PyDoc_STR("_leave_task($module, /, loop, task)\n--\n\n"
                          "Record that loop is no longer running task.\n\n"
                          "RuntimeError is raised if task is not the task "
                          "loop is running.")),
    FASTCALL_KW("_swap_current_task", registry__swap_current_task,
                PyDoc_STR("_swap_current_task($module, /, loop, task)\n--\n\n"
                          "Record task as the one loop is running now.\n\n"
                          "None records that it runs none.  The task it "
                          "was running before\n(or None) is returned; "
                          "unlike _enter_task(), nothing is checked.")),
    FASTCALL_KW("current_task", registry_current_task_func,
                PyDoc_STR("current_task($module, /, loop=None)\n--\n\n"
                          "Return the task loop is running, or None.\n\n"
                          "loop defaults to the running event loop; "
                          "RuntimeError is raised\nif there is none.")),
    {NULL, NULL}
};


/* ---------- The part ---------- */

static int
registry_exec(PyObject *module, asyncio_state *st)
{
    registry_state *rs = &st->registry;
    rs->ring.prev = rs->ring.next = &rs->ring;
    rs->TaskSetType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &taskset_spec, NULL);
    if (rs->TaskSetType == NULL) {
        return -1;
    }
    TaskSetObject *set = PyObject_GC_New(TaskSetObject, rs->TaskSetType);
    if (set == NULL) {
        return -1;
    }
    set->others = NULL;
    PyObject_GC_Track(set);
    rs->all_tasks = (PyObject *)set;
    PyObject *weakset = import_attr("weakref", "WeakSet");
    if (weakset == NULL) {
        return -1;
    }
    set->others = PyObject_CallNoArgs(weakset);
    Py_DECREF(weakset);
    if (set->others == NULL
        || PyModule_AddObjectRef(module, "_all_tasks", rs->all_tasks) < 0) {
        return -1;
    }
    rs->current_tasks = PyDict_New();
    if (rs->current_tasks == NULL
        || PyModule_AddObjectRef(module, "_current_tasks",
                                 rs->current_tasks) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, registry_functions);
}

/* The tasks leave the ring (the ring holds no references). */
static void
registry_clear(asyncio_state *st)
{
    task_link *head = &st->registry.ring;
    if (head->next != NULL) {
        while (head->next != head) {
            registry_unlink(head->next);
        }
    }
    st->registry.linked_type = NULL;
}

static const asyncio_name registry_names[] = {
    ASYNCIO_NAME(registry.str_add, "add"),
    ASYNCIO_NAME(registry.str_discard, "discard"),
};

static const size_t registry_refs[] = {
    ASYNCIO_OFFSET(registry.TaskSetType),
    ASYNCIO_OFFSET(registry.all_tasks),
    ASYNCIO_OFFSET(registry.current_tasks),
};

const asyncio_part registry_part = {
    .names = registry_names,
    .nnames = Py_ARRAY_LENGTH(registry_names),
    .exec = registry_exec,
    .refs = registry_refs,
    .nrefs = Py_ARRAY_LENGTH(registry_refs),
    .clear = registry_clear,
};
