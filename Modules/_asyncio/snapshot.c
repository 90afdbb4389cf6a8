/*
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
 */

#include "module.h"

/* Items of st->snapshot.objects, a tuple made on first use (asyncio.futures,
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
    if (st->snapshot.objects != NULL) {
        return st->snapshot.objects;
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
    st->snapshot.objects = objs;
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
snapshot__copy_concurrent_future_state(PyObject *module,
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

static PyMethodDef snapshot_functions[] = {
    FASTCALL_KW("_copy_concurrent_future_state",
                snapshot__copy_concurrent_future_state,
                PyDoc_STR("_copy_concurrent_future_state($module, /, source, "
                          "dest)\n--\n\n"
                          "Copy a done concurrent.futures.Future into an "
                          "asyncio future.\n\n"
                          "The C version of asyncio.futures."
                          "_copy_concurrent_future_state(): False,\n"
                          "changing nothing, if source is not done or dest "
                          "is done and not\ncancelled; else True.")),
    {NULL, NULL}
};


/* ---------- The part ---------- */

static int
snapshot_exec(PyObject *module, asyncio_state *st)
{
    return PyModule_AddFunctions(module, snapshot_functions);
}

static const size_t snapshot_refs[] = {
    ASYNCIO_OFFSET(snapshot.objects),
};

const asyncio_part snapshot_part = {
    .exec = snapshot_exec,
    .refs = snapshot_refs,
    .nrefs = Py_ARRAY_LENGTH(snapshot_refs),
};
