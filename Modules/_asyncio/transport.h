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
    /* the members, which the type keeps a copy of */
    PyMemberDef members[TRANSPORT_NFIELDS + 1];

    /* socket.socket and its fileno(), unbound: a plain socket is read and
       written with system calls on its file descriptor */
    PyObject *socket_type;
    PyObject *sock_fileno;
    /* the pure class's module, whose logger and constants the data path
       reads as the pure code does */
    PyObject *py_module;
    /* where a small read lands before it gets a bytes object of its size;
       made on first use, freed by m_free */
    char *scratch;
    Py_ssize_t scratch_size;

    PyObject *str_add_writer;
    PyObject *str_buffer_updated;
    PyObject *str_call_connection_lost;
    PyObject *str_clear;
    PyObject *str_data_received;
    PyObject *str_extend;
    PyObject *str_fatal_error;
    PyObject *str_get_buffer;
    PyObject *str_maybe_pause_protocol;
    PyObject *str_maybe_resume_protocol;
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
} transport_state;

extern const asyncio_part transport_part;
