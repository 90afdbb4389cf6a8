/* The socket transport's data path (transport.c). */

/* The attributes of a socket transport the data path reads on every call,
   kept in the object at transport_state.fields_offset (after the layout of
   the pure-Python class it derives from) and seen from Python as ordinary
   attributes: members of the type, each NULL until assigned. */
typedef struct {
    PyObject *sock;               /* _sock */
    PyObject *sock_fd;            /* _sock_fd */
    PyObject *protocol;           /* _protocol */
    PyObject *buffer;             /* _buffer */
    PyObject *conn_lost;          /* _conn_lost */
    PyObject *closing;            /* _closing */
    PyObject *eof;                /* _eof */
    PyObject *paused;             /* _paused */
    PyObject *empty_waiter;       /* _empty_waiter */
    PyObject *read_ready_cb;      /* _read_ready_cb */
    /* not an attribute: how much the last recv() of max_size bytes got
       (see transport_recv()) */
    Py_ssize_t last_read;
    /* not attributes: max_size as the last read found it, a borrowed
       reference, with the versions it was found under (see
       transport_max_size()); NULL when there is none */
    PyObject *max_size;
    unsigned int max_size_tp_version;
    uint64_t max_size_dict_version;
} transport_fields;

#define TRANSPORT_NFIELDS \
    (offsetof(transport_fields, last_read) / sizeof(PyObject *))

typedef struct {
    /* _SelectorSocketTransport: made by _socket_transport_type() over the
       pure-Python class, which asyncio.selector_events passes in; NULL
       until then. */
    PyTypeObject *TransportType;
    Py_ssize_t fields_offset;
    /* where the pure class keeps _loop and _protocol_paused (slots) */
    Py_ssize_t loop_offset;
    Py_ssize_t protocol_paused_offset;
    /* the pure class's _maybe_resume_protocol, which does nothing while the
       protocol is not paused: the data path skips the call then */
    PyObject *py_maybe_resume_protocol;
    /* the C class's is_closing() and write(), which transport_closing()
       and transport_write_direct() stand in for */
    PyObject *own_is_closing;
    PyObject *own_write;
    /* Construction (see transport_tp_init()).  The slots of the pure
       class it sets besides _loop and _protocol_paused: */
    Py_ssize_t extra_offset;
    Py_ssize_t high_water_offset;
    Py_ssize_t low_water_offset;
    /* what the pure constructor runs, as the type was made with: while
       the type still has them, construction runs in C */
    PyObject *py_init;
    PyObject *py_set_protocol;
    PyObject *py_set_write_buffer_limits;
    PyObject *py_buffer_factory;
    PyObject *py_set_nodelay;     /* base_events._set_nodelay */
    /* the default write buffer limits, 64 KiB and 16 KiB */
    PyObject *high_water;
    PyObject *low_water;
    /* _set_nodelay()'s work on a plain socket: _socket.socket's family,
       type and proto getters (ints, without socket.socket's conversions
       to enums), the values it looks for, and setsockopt()'s arguments;
       nodelay_args is NULL when the platform has no TCP_NODELAY */
    PyObject *sock_family;
    PyObject *sock_type;
    PyObject *sock_proto;
    long af_inet;
    long af_inet6;
    long sock_stream;
    long ipproto_tcp;
    PyObject *nodelay_args;       /* (IPPROTO_TCP, TCP_NODELAY, 1) */
    /* accepting: the socket module (getdefaulttimeout() is read from it
       at the time of the call, as socket.accept() does) and ("fileno",) */
    PyObject *socket_module;
    PyObject *kw_fileno;

    /* The loop's map of transports (see transport_map_plain()):
       weakref.WeakValueDictionary and weakref.KeyedRef with the methods
       they had when first needed; map_loaded is 0 until then, 1 after,
       -1 when weakref is not as expected (every map is then used as a
       mapping). */
    PyObject *wvd_type;
    PyObject *wvd_getitem;
    PyObject *wvd_setitem;
    PyObject *keyedref_type;
    PyObject *keyedref_new;
    PyObject *keyedref_init;
    PyObject *weakref_dict;       /* the weakref module's namespace */
    int map_loaded;

    /* the members, which the type keeps a copy of */
    PyMemberDef members[TRANSPORT_NFIELDS + 1];

    /* socket.socket and its fileno(), unbound: a plain socket is read and
       written with system calls on its file descriptor */
    PyObject *socket_type;
    PyObject *sock_fileno;
    /* its C function, called directly as the method descriptor would call
       it (NULL if it is not a plain METH_NOARGS method) */
    PyCFunction sock_fileno_func;
    /* the pure class's module, whose logger and constants the data path
       reads as the pure code does */
    PyObject *py_module;
    /* where a small read lands before it gets a bytes object of its size;
       made on first use, freed by m_free */
    char *scratch;
    Py_ssize_t scratch_size;
    int scratch_busy;             /* a read is using it */

    PyObject *str_add_reader;
    PyObject *str_add_writer;
    PyObject *str_attach;
    PyObject *str_buffer_updated;
    PyObject *str_call_connection_lost;
    PyObject *str_clear;
    PyObject *str_data_received;
    PyObject *str_eof_received;
    PyObject *str_extend;
    PyObject *str_extra;
    PyObject *str_fatal_error;
    PyObject *str_get_buffer;
    PyObject *str_maybe_pause_protocol;
    PyObject *str_maybe_resume_protocol;
    PyObject *str_log_threshold;
    PyObject *str_max_size;
    PyObject *str_on_eof;
    PyObject *str_recv;
    PyObject *str_recv_into;
    PyObject *str_remove_writer;
    PyObject *str_send;
    PyObject *str_set_exception;
    PyObject *str_set_result;
    PyObject *str_shutdown;
    PyObject *str_write_ready;
    /* construction */
    PyObject *str_base_events;
    PyObject *str_buffer_factory;
    PyObject *str_buffered_protocol;
    PyObject *str_connection_made;
    PyObject *str_fileno;
    PyObject *str_futures;
    PyObject *str_get;
    PyObject *str_getpeername;
    PyObject *str_getsockname;
    PyObject *str_init;
    PyObject *str_peername;
    PyObject *str_protocol_connected;
    PyObject *str_protocols;
    PyObject *str_read_ready;
    PyObject *str_read_ready_data;
    PyObject *str_read_ready_get_buffer;
    PyObject *str_server;
    PyObject *str_set_nodelay;
    PyObject *str_set_protocol;
    PyObject *str_set_result_unless_cancelled;
    PyObject *str_set_write_buffer_limits;
    PyObject *str_setsockopt;
    PyObject *str_socket;
    PyObject *str_sockname;
    PyObject *str_transport_socket;
    PyObject *str_transports;
    PyObject *str_trsock;
    /* the map of transports */
    PyObject *str_data;
    PyObject *str_getitem;
    PyObject *str_key;
    PyObject *str_keyedref;
    PyObject *str_new;
    PyObject *str_pending_removals;
    PyObject *str_remove;
    PyObject *str_setitem;
    /* closing */
    PyObject *str_close;
    PyObject *str_connection_lost;
    PyObject *str_detach;
    PyObject *str_constants;
    PyObject *str_remove_reader;
    PyObject *str_is_closing;
    PyObject *str_write;
} transport_state;

extern const asyncio_part transport_part;

/* getattr(getattr(selector_events, modname), name), read at the time of
   the call as the pure code reads a module global (new reference). */
PyObject *transport_global(transport_state *ts, PyObject *modname,
                           PyObject *name);

/* map[key] for loop._transports, as the pure loop asks it: 1 with *value
   (new reference), 0 when there is none, -1 on error. */
int transport_map_get(transport_state *ts, PyObject *map, PyObject *key,
                      PyObject **value);

/* bool(transport.is_closing()) for a transport of the C class whose
   is_closing() is the class's own, without the call: 0 or 1, or -1 with
   an exception set; -2 for any other transport, whose method the caller
   calls. */
int transport_closing(asyncio_state *st, PyObject *transport);

/* transport.write(data) for a transport of the C class whose write() is
   the class's own, without the call: 0, or -1 with an exception set; -2
   for any other transport, whose method the caller calls. */
int transport_write_direct(asyncio_state *st, PyObject *transport,
                           PyObject *data);

/* The int a getter of _socket.socket (transport_state.sock_family, ...)
   gives for sock; -1 with an exception set on error. */
long transport_socket_int(PyObject *getter, PyObject *sock);
