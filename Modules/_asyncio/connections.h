/* The selector loop's side of connections (connections.c). */

typedef struct {
    /* weakref.WeakValueDictionary and weakref.KeyedRef with the methods
       they had when the part first needed them (see connections_plain());
       map_loaded is 0 until then, 1 after, -1 when weakref is not as
       expected (every map is then asked as a mapping). */
    PyObject *wvd_type;
    PyObject *wvd_getitem;
    PyObject *wvd_setitem;
    PyObject *keyedref_type;
    PyObject *keyedref_new;
    PyObject *keyedref_init;
    PyObject *weakref_dict;       /* the weakref module's namespace */
    int map_loaded;

    /* Connecting (see connections_connect()): socket.socket,
       _socket.socket's connect and connect_ex, and getsockopt()'s
       arguments for the error of a connection, (SOL_SOCKET, SO_ERROR);
       loaded on first use. */
    PyObject *socket_type;
    PyObject *sock_connect;
    PyObject *sock_connect_ex;
    PyObject *so_error_args;

    PyObject *str_data;
    PyObject *str_getitem;
    PyObject *str_init;
    PyObject *str_key;
    PyObject *str_keyedref;
    PyObject *str_new;
    PyObject *str_pending_removals;
    PyObject *str_remove;
    PyObject *str_setitem;
    PyObject *str_transports;
    PyObject *str_connect;
    PyObject *str_connect_ex;
    PyObject *str_ensure_fd_no_transport;
    PyObject *str_fileno;
    PyObject *str_getsockopt;
    PyObject *str_gettimeout;
    PyObject *str_is_closing;
    PyObject *str_set_exception;
    PyObject *str_set_result;
    PyObject *str_sock_connect;
    PyObject *str_sock_connect_cb;
    PyObject *str_sock_write_done;
    PyObject *str_add_reader;
    PyObject *str_add_writer;
    PyObject *str_remove_reader;
    PyObject *str_remove_writer;
    PyObject *kw_handle;          /* ("handle",) */
} connections_state;

extern const asyncio_part connections_part;

/* map[key] = transport for loop._transports (a WeakValueDictionary as
   BaseSelectorEventLoop makes it, or any mapping): 0, or -1 on error. */
int connections_map_set(asyncio_state *st, PyObject *map, PyObject *key,
                        PyObject *transport);
