/* The running loop: get_running_loop() and friends (running_loop.c). */

typedef struct {
    /* Cache of the running loop of the thread that last asked for it or
       set it: thread state id + fork generation + borrowed reference.
       The reference is owned by that thread's state dict, which only
       set_running_loop() changes (and updates the cache with); when the
       thread exits the dict goes, but thread state ids are never reused,
       so a stale entry is never read.  Borrowing lets a thread's loop die
       with the thread, as with the pure version's threading.local. */
    uint64_t ts_id;
    uint64_t fork_gen;
    PyObject *loop;               /* NULL means "no running loop" */

    PyObject *events_module;      /* asyncio.events, imported on first use */
    PyObject *str_key;            /* the thread state dict's key */
    PyObject *str_get_event_loop;
    PyObject *str_get_event_loop_policy;
} running_loop_state;

extern const asyncio_part running_loop_part;

PyObject *get_running_loop_borrowed(asyncio_state *st, int *err);
PyObject *get_event_loop(asyncio_state *st);
/* The running loop (new reference), or NULL with RuntimeError. */
PyObject *get_running_loop(asyncio_state *st);
