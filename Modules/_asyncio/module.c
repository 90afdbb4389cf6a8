/*
 * The _asyncio module: its definition, its state, and the helpers every
 * part uses.  The parts themselves are listed in parts.h; see module.h.
 */

#include "module.h"
#include "internal/pycore_context.h"   /* PyContext.ctx_vars */


/* ---------- The module state ---------- */

asyncio_state *
state_of_type_lookup(PyTypeObject *tp)
{
    PyObject *mod = PyType_GetModuleByDef(tp, &asyncio_module);
    if (mod == NULL) {
        return NULL;
    }
    return get_module_state(mod);
}

int
raise_finalized(void)
{
    PyErr_SetString(PyExc_RuntimeError, "_asyncio module is being finalized");
    return -1;
}

int
raise_uninitialized(void)
{
    PyErr_SetString(PyExc_RuntimeError, "Future object is not initialized.");
    return -1;
}


/* ---------- asyncio's Python helpers ---------- */

/* Import `modname` and return its attribute `name` (new reference). */
PyObject *
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

/* Fill *slot with modname.name (the module itself when name is NULL)
   unless it is filled already: 0, or -1 with an exception set.  Done on
   first need rather than at module exec, since asyncio imports this
   module half-way through its own import; after m_clear (interpreter
   shutdown) this may run again and fail, which callers report as an
   ordinary exception.  The caller may be handling an exception (a task
   step that caught one): it is kept aside while importing. */
int
import_once(PyObject **slot, const char *modname, const char *name)
{
    if (*slot != NULL) {
        return 0;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    *slot = name != NULL ? import_attr(modname, name)
                         : PyImport_ImportModule(modname);
    restore_unless(*slot == NULL, type, value, tb);
    return *slot == NULL ? -1 : 0;
}

/* The exception classes and helpers of asyncio several parts use. */
int
ensure_helpers(asyncio_state *st)
{
    if (st->helpers_ready) {
        return 0;
    }
    if (import_once(&st->CancelledError, "asyncio.exceptions",
                    "CancelledError") < 0
        || import_once(&st->InvalidStateError, "asyncio.exceptions",
                       "InvalidStateError") < 0
        || import_once(&st->extract_stack, "asyncio.format_helpers",
                       "extract_stack") < 0) {
        return -1;
    }
    st->helpers_ready = 1;
    return 0;
}

/* The state of self's module with asyncio's helpers imported, or NULL
   with an exception set. */
asyncio_state *
state_with_helpers(PyObject *self)
{
    asyncio_state *st = state_of(self);
    if (st == NULL || ensure_helpers(st) < 0) {
        return NULL;
    }
    return st;
}


/* ---------- Freelists ---------- */

#define FREELIST_MAX 255

freelist *
freelist_at(asyncio_state *st, PyTypeObject *tp, size_t fl_offset,
            size_t type_offset)
{
    if (st == NULL || *(PyTypeObject **)state_ref(st, type_offset) != tp) {
        return NULL;
    }
    return (freelist *)((char *)st + fl_offset);
}

/* The end of a tp_dealloc: keep the memory of the dead object op in fl,
   or free it when fl is NULL or full. */
void
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

/* tp_dealloc of a type whose objects hold one reference: drop it (which
   may run any code, hence the freelist is found after: freelist_at()),
   then keep the memory or free it. */
void
freelist_object_dealloc(PyObject *self, size_t fl_offset, size_t type_offset)
{
    FreelistObject *op = (FreelistObject *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(op->ref);
    freelist_keep_or_free(
        freelist_at(dealloc_state(tp), tp, fl_offset, type_offset), self);
    Py_DECREF(tp);
}

int
freelist_object_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((FreelistObject *)self)->ref);
    return 0;
}

void
freelist_clear(freelist *fl)
{
    while (fl->head != NULL) {
        PyObject *op = fl->head;
        fl->head = ((FreelistObject *)op)->ref;
        PyObject_GC_Del(op);
    }
    fl->len = 0;
}


/* ---------- Attributes ---------- */

/* An object field, None when it is NULL. */
PyObject *
get_object_field(PyObject *self, void *offset)
{
    return new_ref_or_none(*(PyObject **)field_of(self, offset));
}

/* An int flag, as a bool. */
PyObject *
get_flag_field(PyObject *self, void *offset)
{
    return PyBool_FromLong(*(int *)field_of(self, offset));
}

/* 0 for a value assigned to an attribute; -1 with AttributeError for a
   deletion (val NULL). */
int
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
int
assigned_truth(PyObject *val)
{
    if (check_not_deleted(val) < 0) {
        return -1;
    }
    return object_truth(val);
}

/* An int flag set to bool(val). */
int
set_flag_field(PyObject *self, PyObject *val, void *offset)
{
    int b = assigned_truth(val);
    if (b < 0) {
        return -1;
    }
    *(int *)field_of(self, offset) = b;
    return 0;
}


/* ---------- Arguments ---------- */

/* parse_args() for a call with keywords, or with the wrong number of
   positional arguments, which it reports. */
int
parse_args_by_name(const char *fname, PyObject *const *args,
                   Py_ssize_t nargs, PyObject *kwnames,
                   const char *const *names, int n, int npos, int nreq,
                   PyObject **out)
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

/* Fast path of keyword parsing for __init__: when every key of `kwds`
   (NULL or a dict) is one of names[0..n-1], store the values in out[]
   (left alone for absent names) and return 1; else return 0 and let the
   caller fall back to PyArg_ParseTupleAndKeywords for its messages. */
int
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
int
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

/* TypeError unless a PyCMethod got no arguments. */
int
check_no_args(const char *fname, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 0
        || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_Format(PyExc_TypeError, "%s() takes no arguments", fname);
        return -1;
    }
    return 0;
}


/* inspect.Signature([Parameter(names[i], kind), ...]) for a callable
   object that is neither a function nor a builtin, which inspect reads
   from its __signature__: `kind` names a Parameter kind, and the last
   `ndefaults` parameters default to None.  Not on any hot path: made
   when asked for. */
PyObject *
make_signature(const char *kind, const char *const *names, int n,
               int ndefaults)
{
    PyObject *res = NULL, *sig_cls = NULL, *kind_obj = NULL;
    PyObject *params = NULL, *kw_default = NULL;
    PyObject *param_cls = import_attr("inspect", "Parameter");
    if (param_cls == NULL
        || (sig_cls = import_attr("inspect", "Signature")) == NULL
        || (kind_obj = PyObject_GetAttrString(param_cls, kind)) == NULL
        || (kw_default = Py_BuildValue("(s)", "default")) == NULL
        || (params = PyList_New(n)) == NULL) {
        goto done;
    }
    for (int i = 0; i < n; i++) {
        PyObject *name = PyUnicode_FromString(names[i]);
        if (name == NULL) {
            goto done;
        }
        PyObject *argv[3] = {name, kind_obj, Py_None};
        PyObject *param = PyObject_Vectorcall(
            param_cls, argv, 2, i >= n - ndefaults ? kw_default : NULL);
        Py_DECREF(name);
        if (param == NULL) {
            goto done;
        }
        PyList_SET_ITEM(params, i, param);
    }
    res = PyObject_CallOneArg(sig_cls, params);
done:
    Py_XDECREF(params);
    Py_XDECREF(kw_default);
    Py_XDECREF(kind_obj);
    Py_XDECREF(sig_cls);
    Py_XDECREF(param_cls);
    return res;
}


/* ---------- Subclasses of pure-Python classes ---------- */

PyObject *
make_fields_subclass(PyObject *module, PyObject *base,
                     const fields_subclass_spec *spec, Py_ssize_t *offset)
{
    if (!PyType_Check(base)
        || !(((PyTypeObject *)base)->tp_flags & Py_TPFLAGS_HEAPTYPE)
        || ((PyTypeObject *)base)->tp_itemsize != 0) {
        PyErr_Format(PyExc_TypeError,
                     "the base of %s must be a class made by a class "
                     "statement, not %R", spec->name, base);
        return NULL;
    }
    Py_ssize_t align = (Py_ssize_t)sizeof(PyObject *);
    Py_ssize_t start = (((PyTypeObject *)base)->tp_basicsize + align - 1)
                       / align * align;
    for (size_t i = 0; i < spec->nfields; i++) {
        spec->members[i] = (PyMemberDef){
            (char *)spec->fields[i], T_OBJECT_EX,
            start + (Py_ssize_t)(i * sizeof(PyObject *)), 0, NULL};
    }
    spec->members[spec->nfields] = (PyMemberDef){NULL};
    /* The optional slots go last: a zero slot id ends the list. */
    PyType_Slot slots[6] = {
        {Py_tp_doc, (void *)spec->doc},
        {Py_tp_methods, spec->methods},
        {Py_tp_members, spec->members},
    };
    int nslots = 3;
    if (spec->tp_new != NULL) {
        slots[nslots++] = (PyType_Slot){Py_tp_new, (void *)spec->tp_new};
    }
    if (spec->tp_init != NULL) {
        slots[nslots++] = (PyType_Slot){Py_tp_init, (void *)spec->tp_init};
    }
    slots[nslots] = (PyType_Slot){0, NULL};
    PyType_Spec type_spec = {
        .name = spec->name,
        .basicsize = (int)(start + (Py_ssize_t)spec->size),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
        .slots = slots,
    };
    PyObject *type = PyType_FromModuleAndSpec(module, &type_spec, base);
    if (type == NULL || PyModule_AddObjectRef(
            module, strchr(spec->name, '.') + 1, type) < 0) {
        Py_XDECREF(type);
        return NULL;
    }
    *offset = start;
    return type;
}

int
lookup_own_attributes(PyTypeObject *tp, PyObject *const *names,
                      PyObject **found, int n)
{
    for (int i = 0; i < n; i++) {
        PyObject *attr = _PyType_Lookup(tp, names[i]);
        if (attr == NULL) {
            PyErr_SetObject(PyExc_AttributeError, names[i]);
            return -1;
        }
        Py_XSETREF(found[i], Py_NewRef(attr));
    }
    return 0;
}


/* ---------- Talking to the event loop ---------- */

/* loop.call_soon(fn[, arg], context=ctx); ctx NULL omits the keyword.
   Every argument is held for the duration of the call: the loop may run
   arbitrary code that drops the references our callers borrowed from. */
int
loop_call_soon(asyncio_state *st, PyObject *loop, PyObject *fn,
               PyObject *arg, PyObject *ctx)
{
    if (loop_may_be_core(st, loop)) {
        int rc = st->loop_core.call_soon(st, loop, fn, arg, ctx);
        if (rc != LOOP_NOT_CORE) {
            return rc;
        }
    }
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

/* loop.get_debug() as an int. */
int
loop_get_debug(asyncio_state *st, PyObject *loop)
{
    if (loop_may_be_core(st, loop)) {
        int rc = st->loop_core.get_debug(st, loop);
        if (rc != LOOP_NOT_CORE) {
            return rc;
        }
    }
    return call_truth(PyObject_CallMethodNoArgs(loop, st->str_get_debug));
}


/* Fast-call arguments with self put in front of them: callable(self, *args,
   **kwargs), or, when callable is NULL, self.<name>(*args, **kwargs). */
static PyObject *
call_with_self(PyObject *callable, PyObject *name, PyObject *self,
               PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t n = nargs + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8];
    PyObject **stack = small;
    if (n + 1 > (Py_ssize_t)Py_ARRAY_LENGTH(small)) {
        stack = PyMem_New(PyObject *, n + 1);
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
    }
    stack[0] = self;
    for (Py_ssize_t i = 0; i < n; i++) {
        stack[i + 1] = args[i];
    }
    PyObject *res = callable != NULL
        ? PyObject_Vectorcall(callable, stack, nargs + 1, kwnames)
        : PyObject_VectorcallMethod(
              name, stack, (nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET,
              kwnames);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return res;
}

PyObject *
call_function_with_self(PyObject *func, PyObject *self,
                        PyObject *const *args, size_t nargsf,
                        PyObject *kwnames)
{
    return call_with_self(func, NULL, self, args, nargsf, kwnames);
}

PyObject *
call_method_with_self(PyObject *name, PyObject *self, PyObject *const *args,
                      Py_ssize_t nargs)
{
    return call_with_self(NULL, name, self, args, (size_t)nargs, NULL);
}


/* ---------- Contexts and exceptions ---------- */

/* A new reference to ctx, or to a copy of the current context when ctx is
   NULL or None (what `context=None` means throughout asyncio). */
PyObject *
context_or_copy(PyObject *ctx)
{
    if (ctx == NULL || ctx == Py_None) {
        return PyContext_CopyCurrent();
    }
    return Py_NewRef(ctx);
}

/* A copy of the current context is a new Context holding the variables
   the current one has (a HAMT, which never changes: setting a variable
   makes a new one).  What keeps such a copy for later may keep just those
   variables, and make the Context only when it is used: one object fewer
   meanwhile, for the garbage collector to go over.

   context_keep() keeps `context` in such a pair of fields, *ctx and
   *vars, which hold nothing on entry: a given context in *ctx; for NULL or
   None (a copy of the current context), the current context's variables
   in *vars, or, when the thread has no context yet, a copy in *ctx.  0, or
   -1 on error. */
int
context_keep(PyObject *context, PyObject **ctx, PyObject **vars)
{
    *ctx = NULL;
    *vars = NULL;
    if (context == NULL || context == Py_None) {
        PyContext *current = (PyContext *)PyThreadState_Get()->context;
        if (current != NULL) {
            *vars = Py_NewRef((PyObject *)current->ctx_vars);
            return 0;
        }
    }
    *ctx = context_or_copy(context);
    return *ctx == NULL ? -1 : 0;
}

/* ctx's variables (a new reference) when ctx is a Context that nothing
   but its one owner holds -- no other reference, no weak reference, not
   entered -- so that the owner may keep them in its place; else NULL. */
PyObject *
context_vars_if_sole(PyObject *ctx)
{
    PyContext *c = (PyContext *)ctx;
    if (!PyContext_CheckExact(ctx) || Py_REFCNT(ctx) != 1
        || c->ctx_weakreflist != NULL || c->ctx_entered) {
        return NULL;
    }
    return Py_NewRef((PyObject *)c->ctx_vars);
}

/* For an object that keeps in *vars the variables of a context copy in
   place of the Context in *ctx: make that Context now, the one a copy made
   when the variables were read would be, and drop the variables.  0 (also
   when *vars is NULL), or -1 on error with both fields unchanged. */
int
context_realize(PyObject **ctx, PyObject **vars)
{
    if (*vars == NULL) {
        return 0;
    }
    PyObject *made = PyContext_New();
    if (made == NULL) {
        return -1;
    }
    Py_SETREF(((PyContext *)made)->ctx_vars, (PyHamtObject *)*vars);
    *vars = NULL;
    Py_XSETREF(*ctx, made);
    return 0;
}

/* The Context such a pair of fields stands for, made now if only its
   variables were kept (context_realize()): a new reference, None when
   the pair holds nothing, NULL on error. */
PyObject *
context_ref(PyObject **ctx, PyObject **vars)
{
    if (context_realize(ctx, vars) < 0) {
        return NULL;
    }
    return new_ref_or_none(*ctx);
}

/* Fetch the current exception as a normalized instance whose
   __traceback__ is set (new reference); NULL if none. */
PyObject *
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

/* Raise an exception instance (with its own __traceback__). */
void
raise_instance(PyObject *exc)
{
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
}

/* cls(message formatted from fmt and vargs): new reference or NULL. */
PyObject *
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
void
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


/* ---------- The module ---------- */

#define ASYNCIO_PART_ENTRY(name) &name##_part,
static const asyncio_part *const asyncio_parts[] = {
    ASYNCIO_PARTS(ASYNCIO_PART_ENTRY)
};
#undef ASYNCIO_PART_ENTRY

#define NPARTS Py_ARRAY_LENGTH(asyncio_parts)

/* What module.c holds for all parts, as if it were a part itself. */
static const asyncio_name common_names[] = {
    ASYNCIO_NAME(str_add_done_callback, "add_done_callback"),
    ASYNCIO_NAME(str_blocking, "_asyncio_future_blocking"),
    ASYNCIO_NAME(str_call_exception_handler, "call_exception_handler"),
    ASYNCIO_NAME(str_call_soon, "call_soon"),
    ASYNCIO_NAME(str_cancel, "cancel"),
    ASYNCIO_NAME(str_cancelled, "cancelled"),
    ASYNCIO_NAME(str_context, "context"),
    ASYNCIO_NAME(str_done, "done"),
    ASYNCIO_NAME(str_get_debug, "get_debug"),
    ASYNCIO_NAME(str_loop, "loop"),
    ASYNCIO_NAME(str_make_cancelled_error, "_make_cancelled_error"),
    ASYNCIO_NAME(str_result, "result"),
};

static const size_t common_refs[] = {
    ASYNCIO_OFFSET(CancelledError),
    ASYNCIO_OFFSET(InvalidStateError),
    ASYNCIO_OFFSET(extract_stack),
};

static void
common_clear(asyncio_state *st)
{
    st->helpers_ready = 0;
}

static void
common_free(asyncio_state *st)
{
    Py_CLEAR(st->kw_context);
    Py_CLEAR(st->kw_loop);
}

static const asyncio_part common_part = {
    .names = common_names,
    .nnames = Py_ARRAY_LENGTH(common_names),
    .refs = common_refs,
    .nrefs = Py_ARRAY_LENGTH(common_refs),
    .clear = common_clear,
    .free = common_free,
};

/* The common part, then the parts of parts.h: i = 0 .. NPARTS. */
static inline const asyncio_part *
part_at(size_t i)
{
    return i == 0 ? &common_part : asyncio_parts[i - 1];
}

static int
asyncio_exec(PyObject *module)
{
    asyncio_state *st = get_module_state(module);
    for (size_t i = 0; i <= NPARTS; i++) {
        const asyncio_part *part = part_at(i);
        for (size_t j = 0; j < part->nnames; j++) {
            PyObject *name = PyUnicode_InternFromString(part->names[j].text);
            if (name == NULL) {
                return -1;
            }
            *state_ref(st, part->names[j].offset) = name;
        }
    }
    /* of interned names, as a call written in Python has: a callee
       compares them by identity first */
    st->kw_context = PyTuple_Pack(1, st->str_context);
    st->kw_loop = PyTuple_Pack(1, st->str_loop);
    if (st->kw_context == NULL || st->kw_loop == NULL) {
        return -1;
    }
    for (size_t i = 1; i <= NPARTS; i++) {
        const asyncio_part *part = part_at(i);
        if (part->exec != NULL && part->exec(module, st) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
asyncio_traverse(PyObject *module, visitproc visit, void *arg)
{
    asyncio_state *st = get_module_state(module);
    for (size_t i = 0; i <= NPARTS; i++) {
        const asyncio_part *part = part_at(i);
        for (size_t j = 0; j < part->nrefs; j++) {
            Py_VISIT(*state_ref(st, part->refs[j]));
        }
    }
    return 0;
}

static int
asyncio_clear(PyObject *module)
{
    asyncio_state *st = get_module_state(module);
    /* first, while the types live: freeing an object reads its type */
    for (size_t i = 0; i <= NPARTS; i++) {
        const asyncio_part *part = part_at(i);
        if (part->clear != NULL) {
            part->clear(st);
        }
    }
    for (size_t i = 0; i <= NPARTS; i++) {
        const asyncio_part *part = part_at(i);
        for (size_t j = 0; j < part->nrefs; j++) {
            Py_CLEAR(*state_ref(st, part->refs[j]));
        }
    }
    return 0;
}

static void
asyncio_free(void *module)
{
    asyncio_state *st = get_module_state((PyObject *)module);
    (void)asyncio_clear((PyObject *)module);
    for (size_t i = 0; i <= NPARTS; i++) {
        const asyncio_part *part = part_at(i);
        if (part->free != NULL) {
            part->free(st);
        }
        for (size_t j = 0; j < part->nnames; j++) {
            Py_CLEAR(*state_ref(st, part->names[j].offset));
        }
    }
}

static PyModuleDef_Slot asyncio_slots[] = {
    {Py_mod_exec, asyncio_exec},
    {0, NULL}
};

struct PyModuleDef asyncio_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_asyncio",
    .m_doc = "Accelerator module for asyncio",
    .m_size = sizeof(asyncio_state),
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
