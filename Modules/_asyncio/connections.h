/* The selector loop's side of connections (connections.c). */

typedef struct {
    /* Connecting (see connections_connect()): _socket.socket's connect,
       connect_ex and gettimeout, and getsockopt()'s arguments for the
       error of a connection, (SOL_SOCKET, SO_ERROR); loaded on first
       use. */
    PyObject *sock_connect;
    PyObject *sock_connect_ex;
    PyObject *sock_gettimeout;
    PyObject *so_error_args;
    /* base_events.BaseEventLoop._ensure_resolved and _ipaddr_info, as
       first found: while a loop has them, _sock_connect_start() may do
       their work for a numeric address */
    PyObject *py_ensure_resolved;
    PyObject *py_ipaddr_info;

    PyObject *str_connect;
    PyObject *str_connect_ex;
    PyObject *str_ensure_fd_no_transport;
    PyObject *str_getsockopt;
    PyObject *str_gettimeout;
    PyObject *str_is_closing;
    PyObject *str_sock_connect;
    PyObject *str_sock_connect_cb;
    PyObject *str_create_future;
    PyObject *str_ensure_resolved;
    PyObject *str_ipaddr_info;
    PyObject *str_has_ipv6;
    PyObject *str_sock_write_done;
    PyObject *str_add_reader;
    PyObject *str_add_writer;
    PyObject *str_remove_reader;
    PyObject *str_remove_writer;
    /* accepting */
    PyObject *str__accept;
    PyObject *str_accept;
    PyObject *str_accept_connection2;
    PyObject *str_accept_retry_delay;
    PyObject *str_create_task;
    PyObject *str_debug_attr;
    PyObject *str_getdefaulttimeout;
    PyObject *str_setblocking;
    PyObject *str_ssl_handshake_timeout;
    PyObject *str_ssl_shutdown_timeout;
    /* making a transport */
    PyObject *str_make_socket_transport;
    PyObject *str_transport_class;
    PyObject *kw_handle;          /* ("handle",) */
} connections_state;

extern const asyncio_part connections_part;
