/*
 * The running loop: get_running_loop(), _get_running_loop(),
 * _set_running_loop(), get_event_loop() and _get_event_loop(), which
 * asyncio.events takes from this module.
 *
 * The loop is kept in the thread state dict, as a (loop, fork generation)
 * pair, and the last answer is cached in the module state (see
 * running_loop_state), so asking for it costs a comparison or two.
 */

#include "module.h"

#ifdef HAVE_FORK
#  include <pthread.h>          /* pthread_atfork() */
#endif

/* Bumped in the child after fork(): a running loop set before the fork is
   not running in the child.  The pure-Python version compares os.getpid()
   for the same effect; a counter avoids a system call on every lookup. */
static uint64_t fork_generation = 0;

#ifdef HAVE_FORK
static void
running_loop_after_fork_child(void)
{
    fork_generation++;
}
#endif

/* Return the running loop of this thread, borrowed, or NULL (with no
   exception set) when there is none; -1 in *err on failure. */
PyObject *
get_running_loop_borrowed(asyncio_state *st, int *err)
{
    running_loop_state *rl = &st->running_loop;
    PyThreadState *ts = PyThreadState_Get();
    *err = 0;
    if (rl->ts_id == ts->id && rl->fork_gen == fork_generation) {
        return rl->loop;
    }
    PyObject *tsdict = PyThreadState_GetDict();
    if (tsdict == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "thread-local storage is not available");
        *err = -1;
        return NULL;
    }
    PyObject *loop = NULL;
    PyObject *item = PyDict_GetItemWithError(tsdict, rl->str_key);
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
    rl->ts_id = ts->id;
    rl->fork_gen = fork_generation;
    rl->loop = loop;
    return loop;
}

static int
set_running_loop(asyncio_state *st, PyObject *loop)
{
    running_loop_state *rl = &st->running_loop;
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
    rl->ts_id = 0;
    rl->loop = NULL;
    int rc = PyDict_SetItem(tsdict, rl->str_key, item);
    Py_DECREF(item);
    if (rc < 0) {
        return -1;
    }
    PyThreadState *ts = PyThreadState_Get();
    rl->ts_id = ts->id;
    rl->fork_gen = fork_generation;
    rl->loop = loop == Py_None ? NULL : loop;
    return 0;
}

/* Running loop, else the policy's loop (new reference). */
PyObject *
get_event_loop(asyncio_state *st)
{
    running_loop_state *rl = &st->running_loop;
    int err;
    PyObject *loop = get_running_loop_borrowed(st, &err);
    if (err) {
        return NULL;
    }
    if (loop != NULL) {
        return Py_NewRef(loop);
    }
    if (import_once(&rl->events_module, "asyncio.events", NULL) < 0) {
        return NULL;
    }
    /* Looked up on every call, like the pure-Python version, so that
       patching asyncio.events.get_event_loop_policy is honoured. */
    PyObject *policy = PyObject_CallMethodNoArgs(
        rl->events_module, rl->str_get_event_loop_policy);
    if (policy == NULL) {
        return NULL;
    }
    loop = PyObject_CallMethodNoArgs(policy, rl->str_get_event_loop);
    Py_DECREF(policy);
    return loop;
}

PyObject *
get_running_loop(asyncio_state *st)
{
    int err;
    PyObject *loop = get_running_loop_borrowed(st, &err);
    if (loop == NULL && !err) {
        PyErr_SetString(PyExc_RuntimeError, "no running event loop");
    }
    return Py_XNewRef(loop);
}

static PyObject *
running_loop__get_running_loop(PyObject *module, PyObject *Py_UNUSED(arg))
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
running_loop_get_running_loop(PyObject *module, PyObject *Py_UNUSED(arg))
{
    return get_running_loop(get_module_state(module));
}

static PyObject *
running_loop__set_running_loop(PyObject *module, PyObject *loop)
{
    return none_or_error(set_running_loop(get_module_state(module), loop));
}

static PyObject *
running_loop_get_event_loop(PyObject *module, PyObject *Py_UNUSED(arg))
{
    return get_event_loop(get_module_state(module));
}

static PyObject *
running_loop__get_event_loop(PyObject *module, PyObject *const *args,
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

static PyMethodDef running_loop_functions[] = {
    {"get_event_loop", running_loop_get_event_loop, METH_NOARGS,
     PyDoc_STR("get_event_loop($module, /)\n--\n\n"
               "Return the running event loop, or else the current "
               "policy's loop.\n\n"
               "Inside a coroutine or a callback the answer is always the "
               "loop that\nruns it; elsewhere it is what\n"
               "get_event_loop_policy().get_event_loop() returns.")},
    FASTCALL_KW("_get_event_loop", running_loop__get_event_loop,
                PyDoc_STR("_get_event_loop($module, /, stacklevel=3)\n--\n\n"
                          "Like get_event_loop(); stacklevel is accepted "
                          "and unused.")),
    {"get_running_loop", running_loop_get_running_loop, METH_NOARGS,
     PyDoc_STR("get_running_loop($module, /)\n--\n\n"
               "Return the event loop running in this thread.\n\n"
               "RuntimeError is raised when no loop is running.")},
    {"_get_running_loop", running_loop__get_running_loop, METH_NOARGS,
     PyDoc_STR("_get_running_loop($module, /)\n--\n\n"
               "Return the event loop running in this thread, or None.\n\n"
               "A low-level function for event loop implementations.")},
    {"_set_running_loop", running_loop__set_running_loop, METH_O,
     PyDoc_STR("_set_running_loop($module, loop, /)\n--\n\n"
               "Make loop the event loop running in this thread (None: "
               "none).\n\n"
               "A low-level function for event loop implementations.")},
    {NULL, NULL}
};

static int
running_loop_exec(PyObject *module, asyncio_state *st)
{
#ifdef HAVE_FORK
    static int atfork_registered = 0;
    if (!atfork_registered) {
        if (pthread_atfork(NULL, NULL, running_loop_after_fork_child) != 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "cannot register an at-fork handler");
            return -1;
        }
        atfork_registered = 1;
    }
#endif
    return PyModule_AddFunctions(module, running_loop_functions);
}

/* The cache holds a borrowed reference: m_clear only forgets it. */
static void
running_loop_clear(asyncio_state *st)
{
    st->running_loop.ts_id = 0;
    st->running_loop.loop = NULL;
}

static const asyncio_name running_loop_names[] = {
    ASYNCIO_NAME(running_loop.str_key, "__asyncio_running_event_loop__"),
    ASYNCIO_NAME(running_loop.str_get_event_loop, "get_event_loop"),
    ASYNCIO_NAME(running_loop.str_get_event_loop_policy,
                 "get_event_loop_policy"),
};

static const size_t running_loop_refs[] = {
    ASYNCIO_OFFSET(running_loop.events_module),
};

const asyncio_part running_loop_part = {
    .names = running_loop_names,
    .nnames = Py_ARRAY_LENGTH(running_loop_names),
    .exec = running_loop_exec,
    .refs = running_loop_refs,
    .nrefs = Py_ARRAY_LENGTH(running_loop_refs),
    .clear = running_loop_clear,
};
