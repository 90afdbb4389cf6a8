/* gather()'s bookkeeping and _GatheringFuture (gather.c). */

typedef struct {
    PyTypeObject *GatheringFutureType;
    PyTypeObject *GatherCallbackType;
    PyObject *str_cancel_message;
    PyObject *str_close;
    PyObject *str_ensure_future;
    PyObject *str_exception;
    PyObject *str_gathering_future;
    PyObject *str_log_destroy_pending;
    /* what a released child's place in a children list holds: an object
       nothing else can see (see gather_release_finished()) */
    PyObject *released;
} gather_state;

extern const asyncio_part gather_part;
