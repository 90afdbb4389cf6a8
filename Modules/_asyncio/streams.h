/* The data path of asyncio's streams (streams.c). */

/* The attributes of a StreamReader the data path reads, kept in the object
   after the layout of the pure-Python class (reader_offset) and seen from
   Python as ordinary attributes, like the transport's (transport.h). */
typedef struct {
    PyObject *buffer;             /* _buffer */
    PyObject *eof;                /* _eof */
    PyObject *waiter;             /* _waiter */
    PyObject *exception;          /* _exception */
    PyObject *transport;          /* _transport */
    PyObject *paused;             /* _paused */
    PyObject *limit;              /* _limit */
    PyObject *loop;               /* _loop */
} reader_fields;

#define READER_NFIELDS (sizeof(reader_fields) / sizeof(PyObject *))

/* A StreamWriter's, likewise. */
typedef struct {
    PyObject *transport;          /* _transport */
    PyObject *protocol;           /* _protocol */
    PyObject *reader;             /* _reader */
    PyObject *loop;               /* _loop */
    PyObject *complete_fut;       /* _complete_fut */
} writer_fields;

#define WRITER_NFIELDS (sizeof(writer_fields) / sizeof(PyObject *))

/* A StreamReaderProtocol's, likewise: what feeding the reader and drain()
   read.  Read through protocol_field(), which honours a subclass that
   hides them. */
enum {
    PROTOCOL_PAUSED,              /* _paused */
    PROTOCOL_CONNECTION_LOST,     /* _connection_lost */
    PROTOCOL_STREAM_READER_WR,    /* _stream_reader_wr */
    PROTOCOL_NFIELDS
};

/* The methods of the reader the read operations call, which they run
   themselves while they are the C type's own: see streams_own(). */
enum {
    READER_WAIT_FOR_DATA,
    READER_MAYBE_RESUME,
    READER_WAKEUP_WAITER,
    READER_FEED_DATA,
    READER_EXCEPTION,
    READER_READ,
    READER_READUNTIL,
    READER_NOWN
};

typedef struct {
    /* StreamReader, StreamWriter and StreamReaderProtocol, made by
       _stream_types() over the pure-Python classes; NULL until then. */
    PyTypeObject *ReaderType;
    PyTypeObject *WriterType;
    PyTypeObject *ProtocolType;
    Py_ssize_t reader_offset;
    Py_ssize_t writer_offset;
    PyMemberDef reader_members[READER_NFIELDS + 1];
    PyMemberDef writer_members[WRITER_NFIELDS + 1];
    Py_ssize_t protocol_offset;
    PyMemberDef protocol_members[PROTOCOL_NFIELDS + 1];
    /* the protocol's field names, and the member descriptors the C
       protocol class has for them */
    PyObject *protocol_names[PROTOCOL_NFIELDS];
    PyObject *protocol_own[PROTOCOL_NFIELDS];
    /* the reader's methods as its C type has them (see the enum) */
    PyObject *reader_own[READER_NOWN];
    /* what the pure classes have that the fast paths stand in for */
    PyObject *py_stream_reader;   /* StreamReaderProtocol._stream_reader */
    PyObject *py_drain_helper;    /* FlowControlMixin._drain_helper */
    /* the awaitables the read operations and drain() return */
    PyTypeObject *OpType;
    /* what the C classes hold those methods as (see coromethod_install()) */
    PyTypeObject *CoroMethodType;
    /* asyncio's, imported on first use */
    PyObject *IncompleteReadError;
    PyObject *LimitOverrunError;
    PyObject *sleep;              /* asyncio.tasks.sleep */

    PyObject *reader_names[READER_NOWN];
    PyObject *str_cancelled;
    PyObject *str_close;
    PyObject *str_create_future;
    PyObject *str_drain_helper;
    PyObject *str_extend;
    PyObject *str_feed_data;
    PyObject *str_is_closing;
    PyObject *str_pause_reading;
    PyObject *str_readexactly;
    PyObject *str_resume_reading;
    PyObject *str_set_exception;
    PyObject *str_set_result;
    PyObject *str_stream_reader;
    PyObject *str_throw;
    PyObject *str_write;
} streams_state;

extern const asyncio_part streams_part;
