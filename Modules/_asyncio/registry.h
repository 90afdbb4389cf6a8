/* The task registry: which tasks exist, which one each loop runs
   (registry.c). */

/* A link of the ring of registered tasks of the class that carries one
   (registry_set_linked_type()); NULL links: not registered. */
typedef struct task_link {
    struct task_link *prev;
    struct task_link *next;
} task_link;

typedef struct {
    /* Tasks of the linked class, subclasses included, are registered in
       a ring of links kept in the tasks themselves; other tasks go to a
       WeakSet that _all_tasks keeps, and iterating _all_tasks gives
       both. */
    task_link ring;               /* the ring's head */
    PyTypeObject *linked_type;    /* borrowed; NULL: none */
    Py_ssize_t link_offset;       /* where its instances keep the link */
    PyTypeObject *TaskSetType;
    /* exported as _all_tasks and _current_tasks */
    PyObject *all_tasks;          /* a _TaskSet */
    PyObject *current_tasks;      /* dict: loop -> task */
    PyObject *str_add;
    PyObject *str_discard;
} registry_state;

extern const asyncio_part registry_part;

/* Take the ring's links of instances of tp at `offset`. */
void registry_set_linked_type(asyncio_state *st, PyTypeObject *tp,
                              Py_ssize_t offset);

/* Leave the ring, if in it: a task of the linked class that is cleared or
   finalised. */
static inline void
registry_unlink(task_link *link)
{
    if (link->next == NULL) {
        return;
    }
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->prev = link->next = NULL;
}

int register_task(asyncio_state *st, PyObject *task);
int unregister_task(asyncio_state *st, PyObject *task);
int enter_task(asyncio_state *st, PyObject *loop, PyObject *task);
int leave_task(asyncio_state *st, PyObject *loop, PyObject *task);
int swap_current_task(asyncio_state *st, PyObject *loop, PyObject *task,
                      PyObject **prev);
