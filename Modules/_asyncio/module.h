/*
 * _asyncio: the C core of asyncio.  The module's private header.
 *
 * The module is made of parts, each in a file of its own and listed in
 * parts.h: the running-loop functions, Future, Task, the task registry,
 * the copy of a concurrent future's state, Handle and TimerHandle, the
 * event loop's core and gather().  Behaviour, messages and exception types
 * follow the pure-Python classes in Lib/asyncio; where the pure-Python code
 * calls back into overridable methods, the C fast paths are only taken for
 * the exact built-in types.
 *
 * The module uses multi-phase init (PEP 489), heap types and module state
 * (PEP 573).  Python helpers that are not on a hot path (repr, stack
 * extraction, exception classes) are imported lazily from asyncio on first
 * use, because this module is itself imported while asyncio is importing.
 *
 * This header holds what every part uses: the module state, the helpers of
 * module.c, and the shortcuts through which the loop core serves the parts
 * above it in parts.h.
 */

#ifndef ASYNCIO_MODULE_H
#define ASYNCIO_MODULE_H

/* Handles, futures and tasks keep a context's variables in place of a copy
   of it (module.c), which only the core's internal headers declare; built
   as a shared module, the module says it is part of the core itself. */
#if !defined(Py_BUILD_CORE_BUILTIN) && !defined(Py_BUILD_CORE_MODULE)
#  define Py_BUILD_CORE_MODULE 1
#endif

#include "Python.h"
#include "structmember.h"
#include "internal/pycore_moduleobject.h"   /* _PyModule_GetState() */
#include <stdint.h>

/* The functions one file offers the others are not static, but they are
   no API: they stay out of the symbols the interpreter (or the shared
   module) exports, where extension modules loaded later could otherwise
   bind their own functions of the same names to ours. */
#if defined(__GNUC__)
#  pragma GCC visibility push(hidden)
#endif

typedef struct asyncio_state asyncio_state;


/* ---------- Freelists ----------
 *
 * Objects made and dropped at a high rate (await iterators, the callables
 * a task hands to the loop, plain handles) keep their memory for reuse in
 * a freelist of the module state.  Such a type starts like a
 * FreelistObject: its first object reference links the free objects. */

typedef struct {
    PyObject *head;
    int len;
} freelist;

typedef struct {
    PyObject_HEAD
    PyObject *ref;      /* the object's reference; next free object */
} FreelistObject;

int raise_finalized(void);

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

/* The freelist at fl_offset in st for objects of tp, the type at
   type_offset: NULL when st is NULL or tp is no longer that type (the
   module was cleared). */
freelist *freelist_at(asyncio_state *st, PyTypeObject *tp, size_t fl_offset,
                      size_t type_offset);
void freelist_keep_or_free(freelist *fl, PyObject *op);
void freelist_object_dealloc(PyObject *self, size_t fl_offset,
                             size_t type_offset);
int freelist_object_traverse(PyObject *self, visitproc visit, void *arg);
void freelist_clear(freelist *fl);


/* ---------- The parts ---------- */

/* An interned string of the module state, by its offset in
   asyncio_state. */
typedef struct {
    size_t offset;
    const char *text;
} asyncio_name;

/* What module.c needs to know of a part (NAME_part in NAME.c). */
typedef struct {
    /* Interned names, made before any exec runs and dropped by m_free:
       they take part in no cycle, so code that runs after m_clear
       (interpreter shutdown) can still use them. */
    const asyncio_name *names;
    size_t nnames;
    /* The part's types, functions and objects; may be NULL. */
    int (*exec)(PyObject *module, asyncio_state *st);
    /* The references of asyncio_state that m_traverse visits and m_clear
       drops, by offset. */
    const size_t *refs;
    size_t nrefs;
    /* What m_clear does before any reference is dropped (objects in a
       freelist still need their type to be freed); may be NULL. */
    void (*clear)(asyncio_state *st);
    /* What m_free drops besides the names; may be NULL. */
    void (*free)(asyncio_state *st);
} asyncio_part;

/* Where a field of the state is, for the tables above and freelist_at(). */
#define ASYNCIO_OFFSET(field) offsetof(asyncio_state, field)
#define ASYNCIO_NAME(field, text) {ASYNCIO_OFFSET(field), (text)}

/* The reference at `offset` in st. */
static inline PyObject **
state_ref(asyncio_state *st, size_t offset)
{
    return (PyObject **)((char *)st + offset);
}


/* ---------- Talking to the event loop ----------
 *
 * The loop core (loop.c) gives the parts above it shortcuts for its own
 * loops: while it is not initialised they are NULL, and for loops of any
 * other kind they answer LOOP_NOT_CORE; the loop's Python methods are
 * called then. */

#define LOOP_NOT_CORE 2

typedef struct {
    /* loop.call_soon(fn[, arg], context=ctx): 0, -1 on error */
    int (*call_soon)(asyncio_state *st, PyObject *loop, PyObject *fn,
                     PyObject *arg, PyObject *ctx);
    /* loop.get_debug(): 0 or 1, -1 on error */
    int (*get_debug)(asyncio_state *st, PyObject *loop);
    /* where the loop keeps the task it runs; NULL when not a core loop */
    PyObject **(*current_task_slot)(asyncio_state *st, PyObject *loop);
    /* The version tag of the last loop type the core found not to be one
       of its own (a uvloop loop, say), whose tasks and futures ask several
       times a step: loop_may_be_core() answers for it without a call.  A
       type gets a new tag when it (or a base) changes, and tags are not
       reused.  0: none yet. */
    unsigned int other_version;
} loop_shortcuts;

int loop_call_soon(asyncio_state *st, PyObject *loop, PyObject *fn,
                   PyObject *arg, PyObject *ctx);
int loop_get_debug(asyncio_state *st, PyObject *loop);


/* ---------- Helpers of module.c ---------- */

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

/* The version of an object's instance dict; 0 when it has none.  Every
   change to a dict gives it a new version (PEP 509). */
static inline uint64_t
dict_version_of(PyObject *obj)
{
    PyObject **dictptr = _PyObject_GetDictPtr(obj);
    if (dictptr == NULL || *dictptr == NULL) {
        return 0;
    }
    return ((PyDictObject *)*dictptr)->ma_version_tag;
}

/* bool(value) for the exact types the hot paths meet (the flags, a count
   kept as an int, a bytes read, a bytearray buffer, the timer heap), whose
   bool() runs no code; -2 for any other object, whose bool() the caller
   must call. */
static inline int
quick_truth(PyObject *value)
{
    if (value == Py_False || value == Py_None) {
        return 0;
    }
    if (value == Py_True) {
        return 1;
    }
    if (PyLong_CheckExact(value)) {
        return Py_SIZE(value) != 0;
    }
    if (PyBytes_CheckExact(value)) {
        return PyBytes_GET_SIZE(value) != 0;
    }
    if (PyByteArray_CheckExact(value)) {
        return PyByteArray_GET_SIZE(value) != 0;
    }
    if (PyList_CheckExact(value)) {
        return PyList_GET_SIZE(value) != 0;
    }
    return -2;
}

/* bool(value): PyObject_IsTrue() without its call for quick_truth()'s
   types. */
static inline int
object_truth(PyObject *value)
{
    int truth = quick_truth(value);
    return truth != -2 ? truth : PyObject_IsTrue(value);
}

/* bool(res) of a call's result, consumed; -1 when the call raised. */
static inline int
call_truth(PyObject *res)
{
    if (res == NULL) {
        return -1;
    }
    int b = object_truth(res);
    Py_DECREF(res);
    return b;
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

PyObject *import_attr(const char *modname, const char *name);
int import_once(PyObject **slot, const char *modname, const char *name);
int ensure_helpers(asyncio_state *st);
asyncio_state *state_with_helpers(PyObject *self);
int raise_uninitialized(void);

/* Getters and setters for instance fields: the closure is the field's
   offset, FIELD(type, name). */
#define FIELD(type, name) ((void *)offsetof(type, name))

static inline void *
field_of(PyObject *self, void *offset)
{
    return (char *)self + (size_t)offset;
}

/* A C field that stands for the instance attribute `name` (a slot of a
   pure-Python class, or a member of ours): the value, borrowed, or NULL with
   the AttributeError reading the attribute gives while it is unset. */
static inline PyObject *
field_value(PyObject *self, PyObject *value, const char *name)
{
    if (value == NULL) {
        /* named as the pure class's message names it: a class made by a
           class statement has no module in its tp_name */
        PyErr_Format(PyExc_AttributeError,
                     "'%.100s' object has no attribute '%s'",
                     _PyType_Name(Py_TYPE(self)), name);
    }
    return value;
}

/* bool() of such a field; -1 on error.  The usual values are answered
   without a call. */
static inline int
field_truth(PyObject *self, PyObject *value, const char *name)
{
    if (field_value(self, value, name) == NULL) {
        return -1;
    }
    int truth = quick_truth(value);
    if (truth != -2) {
        return truth;
    }
    /* bool() may run code that drops the field */
    Py_INCREF(value);
    truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

PyObject *get_object_field(PyObject *self, void *offset);
PyObject *get_flag_field(PyObject *self, void *offset);
int set_flag_field(PyObject *self, PyObject *val, void *offset);
int check_not_deleted(PyObject *val);
int assigned_truth(PyObject *val);

int parse_args_by_name(const char *fname, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames,
                       const char *const *names, int n, int npos, int nreq,
                       PyObject **out);

/* Parse fast-call arguments by name.  The first `npos` names may be given
   positionally, the first `nreq` are required; out[i] is a borrowed
   reference or NULL when not given.  The usual call, positional arguments
   only and enough of them, is parsed here without a call. */
static inline int
parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames, const char *const *names, int n, int npos,
           int nreq, PyObject **out)
{
    if (kwnames != NULL || nargs < nreq || nargs > npos) {
        return parse_args_by_name(fname, args, nargs, kwnames, names, n,
                                  npos, nreq, out);
    }
    for (int i = 0; i < n; i++) {
        out[i] = i < nargs ? args[i] : NULL;
    }
    return 0;
}
int init_kwargs_fast(PyObject *kwds, const char *const *names, int n,
                     PyObject **out);
int vectorcall_kwargs_fast(PyObject *const *kwvalues, PyObject *kwnames,
                           const char *const *names, int n, PyObject **out);

/* The parameters of a METH_METHOD | METH_FASTCALL | METH_KEYWORDS
   function (PyCMethod), and its PyMethodDef entry. */
#define CMETHOD_ARGS \
    PyObject *op, PyTypeObject *cls, PyObject *const *args, size_t nargsf, \
    PyObject *kwnames
#define CMETHOD(name, func, doc) \
    {name, (PyCFunction)(void (*)(void))(func), \
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS, doc}
/* A METH_FASTCALL | METH_KEYWORDS entry. */
#define FASTCALL_KW(name, func, doc) \
    {name, (PyCFunction)(void (*)(void))(func), \
     METH_FASTCALL | METH_KEYWORDS, doc}

int check_no_args(const char *fname, size_t nargsf, PyObject *kwnames);
/* func(self, *args, **kwargs) and self.<name>(*args) for fast-call
   arguments that lack self (a method's arguments passed on). */
PyObject *call_function_with_self(PyObject *func, PyObject *self,
                                  PyObject *const *args, size_t nargsf,
                                  PyObject *kwnames);
PyObject *call_method_with_self(PyObject *name, PyObject *self,
                                PyObject *const *args, Py_ssize_t nargs);
PyObject *make_signature(const char *kind, const char *const *names, int n,
                         int ndefaults);

/* A subclass of a pure-Python class (made by a class statement) whose
   fields follow the base's layout: first object references, each a member
   of the type under the name in `fields` (so Python code, the inherited
   methods included, sees them as ordinary attributes, and the inherited
   deallocator, traverse and clear handle them), then whatever else the
   C struct of `size` bytes holds (no references).  `members` is room for
   nfields + 1 entries that the caller keeps (the state): the type copies
   them.  *offset gets where the fields start.  The subclass is also an
   attribute of the module, under the name its __module__ and __qualname__
   give (pickle looks for a class there). */
typedef struct {
    const char *name;
    const char *doc;
    const char *const *fields;
    size_t nfields;
    size_t size;                  /* of the fields' struct */
    PyMemberDef *members;
    PyMethodDef *methods;
    newfunc tp_new;               /* NULL: the base's */
    initproc tp_init;             /* NULL: the base's */
} fields_subclass_spec;

PyObject *make_fields_subclass(PyObject *module, PyObject *base,
                               const fields_subclass_spec *spec,
                               Py_ssize_t *offset);

/* found[i] = the attribute names[i] of tp, as found through its MRO (new
   references, replacing what found[i] held), for i < n: what a fast path
   keeps to tell that the class's own attribute is still the one a look-up
   finds.  -1 with AttributeError if one is missing. */
int lookup_own_attributes(PyTypeObject *tp, PyObject *const *names,
                          PyObject **found, int n);

/* Whether the pending exception is one asyncio lets propagate rather than
   report: `except (SystemExit, KeyboardInterrupt): raise`. */
static inline int
exception_propagates(void)
{
    return PyErr_ExceptionMatches(PyExc_SystemExit)
           || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt);
}

PyObject *context_or_copy(PyObject *ctx);
int context_keep(PyObject *context, PyObject **ctx, PyObject **vars);
int context_realize(PyObject **ctx, PyObject **vars);
PyObject *context_ref(PyObject **ctx, PyObject **vars);
PyObject *context_vars_if_sole(PyObject *ctx);
PyObject *fetch_exception(void);
void raise_instance(PyObject *exc);
PyObject *new_exception_v(PyObject *cls, const char *fmt, va_list vargs);
void raise_formatted(PyObject *cls, const char *fmt, ...);


/* ---------- The module state ---------- */

#include "parts.h"

struct asyncio_state {
    /* asyncio's exceptions and the helpers several parts use, imported
       on first use: see ensure_helpers(). */
    int helpers_ready;
    PyObject *CancelledError;
    PyObject *InvalidStateError;
    PyObject *extract_stack;      /* format_helpers.extract_stack */

    /* The loop core's shortcuts (see loop_shortcuts). */
    loop_shortcuts loop_core;

    /* Interned names several parts use, and constant tuples; like every
       part's names, they outlive m_clear. */
    PyObject *str_add_done_callback;
    PyObject *str_blocking;
    PyObject *str_call_exception_handler;
    PyObject *str_call_soon;
    PyObject *str_cancel;
    PyObject *str_cancelled;
    PyObject *str_context;
    PyObject *str_done;
    PyObject *str_get_debug;
    PyObject *str_loop;
    PyObject *str_make_cancelled_error;
    PyObject *str_result;
    PyObject *kw_context;         /* ("context",) */
    PyObject *kw_loop;            /* ("loop",) */

    /* Each part's own state. */
#define ASYNCIO_PART_STATE(name) name##_state name;
    ASYNCIO_PARTS(ASYNCIO_PART_STATE)
#undef ASYNCIO_PART_STATE
};

static inline asyncio_state *
get_module_state(PyObject *module)
{
    return (asyncio_state *)_PyModule_GetState(module);
}

extern struct PyModuleDef asyncio_module;

/* Whether the loop core's shortcuts (see loop_shortcuts) are worth asking
   about loop: they are there (loop.c sets and clears them together), and
   loop is not of the last type found to be no loop core, for which they
   would answer LOOP_NOT_CORE. */
static inline int
loop_may_be_core(asyncio_state *st, PyObject *loop)
{
    PyTypeObject *tp = Py_TYPE(loop);
    return st->loop_core.call_soon != NULL
           && !((tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)
                && tp->tp_version_tag == st->loop_core.other_version);
}

asyncio_state *state_of_type_lookup(PyTypeObject *tp);

/* State from an instance of one of our types or of a subclass; NULL with
   an exception set once the module is gone.  Futures and tasks ask for it
   on every step, so one of our own types is answered from the module it
   names, without the calls; a subclass is looked up along its MRO. */
static inline asyncio_state *
state_of_type(PyTypeObject *tp)
{
    if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyObject *mod = ((PyHeapTypeObject *)tp)->ht_module;
        if (mod != NULL && _PyModule_GetDef(mod) == &asyncio_module) {
            return get_module_state(mod);
        }
    }
    return state_of_type_lookup(tp);
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

/* The state of a PyCMethod's defining class: always one of our types,
   made with the module, so no check is needed. */
static inline asyncio_state *
cls_state(PyTypeObject *cls)
{
    assert(_PyModule_GetDef(((PyHeapTypeObject *)cls)->ht_module)
           == &asyncio_module);
    return get_module_state(((PyHeapTypeObject *)cls)->ht_module);
}

#if defined(__GNUC__)
#  pragma GCC visibility pop
#endif

#endif /* ASYNCIO_MODULE_H */
