/* The copy of a concurrent.futures.Future's state (snapshot.c). */

typedef struct {
    /* concurrent.futures objects and names, made on first use */
    PyObject *objects;
} snapshot_state;

extern const asyncio_part snapshot_part;
