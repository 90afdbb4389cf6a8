/*
 * A stand-in for the pyconfig.h of a Windows x64 build of CPython 3.11,
 * written for `make check-windows` (Tools/build/windows/check.py).  It is
 * not CPython's PC/pyconfig.h: it states only what the Python headers and
 * our module test, with the values a Windows build has, so that the module
 * compiled by mingw-w64 against Debian's 3.11 headers takes the branches an
 * MSVC build of it would take.  Where a Windows build has a feature that
 * does not matter here, it is left out: a missing macro can only make the
 * check stricter.
 *
 * check.py puts this file beside symbolic links to the distro's headers
 * (build/windows/include/python), so that the `#include "pyconfig.h"` in
 * Python.h, which looks in Python.h's own directory first, finds it.
 */

#ifndef Py_CONFIG_H
#define Py_CONFIG_H

#if !defined(_WIN32) || !defined(_WIN64)
#  error "the Windows stand-in pyconfig.h is for an x64 Windows compiler"
#endif

/* The platform macros the headers and extension modules test. */
#define MS_WIN32
#define MS_WIN64
#define MS_WINDOWS

/* Windows threads: cpython/pythread.h then gives Py_tss_t a DWORD-sized
   key instead of including <pthread.h>. */
#define NT_THREADS

/* The oldest Windows the API may assume (Windows 8), set before any
   Windows header picks its own default. */
#ifndef _WIN32_WINNT
#  define _WIN32_WINNT 0x0602
#endif
#ifndef NTDDI_VERSION
#  define NTDDI_VERSION 0x06020000
#endif

/* The interpreter is python311.dll: with HAVE_DECLSPEC_DLL, pyport.h
   declares the API __declspec(dllimport) in an extension module
   (Py_BUILD_CORE_MODULE) and exports its PyInit function.  Only what the
   DLL exports (PyAPI_FUNC, PyAPI_DATA) can be linked from a .pyd, and the
   address of imported data is not a constant expression. */
#ifndef Py_NO_ENABLE_SHARED
#  define Py_ENABLE_SHARED 1
#endif
#define HAVE_DECLSPEC_DLL

/* A debug build of the interpreter is selected by the compiler's _DEBUG,
   as MSVC's /MDd sets it. */
#if defined(_DEBUG) && !defined(Py_DEBUG)
#  define Py_DEBUG
#endif

/* LLP64: long stays 32 bits while pointers and size_t are 64. */
#define SIZEOF_SHORT 2
#define SIZEOF_INT 4
#define SIZEOF_LONG 4
#define SIZEOF_LONG_LONG 8
#define SIZEOF_FLOAT 4
#define SIZEOF_DOUBLE 8
#define SIZEOF_VOID_P 8
#define SIZEOF_SIZE_T 8
#define SIZEOF_UINTPTR_T 8
#define SIZEOF_TIME_T 8
#define SIZEOF_WCHAR_T 2
#define SIZEOF__BOOL 1
#define SIZEOF_PID_T SIZEOF_INT
#define ALIGNOF_SIZE_T 8
#define ALIGNOF_LONG 4

/* Neither HAVE_SSIZE_T nor HAVE_PY_SSIZE_T: MSVC's headers have no
   ssize_t, and pyport.h then makes Py_ssize_t an intptr_t, which has the
   width a Windows build gives it. */

#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1
#define WITH_DOC_STRINGS 1
#define WITH_PYMALLOC 1
#define WITH_FREELISTS 1
#define HAVE_WCHAR_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_ERRNO_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_FCNTL_H 1
#define HAVE_PROCESS_H 1
#define HAVE_IO_H 1
#define HAVE_DIRECT_H 1
#define HAVE_CONIO_H 1

/*
 * What a Windows build does not define, and what code must therefore not
 * assume (listed so that nobody adds them here): HAVE_FORK, HAVE_UNISTD_H,
 * HAVE_PTHREAD_H, _POSIX_THREADS, HAVE_SYS_SOCKET_H, HAVE_SYS_EPOLL_H,
 * HAVE_SYS_SELECT_H, HAVE_POLL_H, HAVE_SYS_TIME_H, HAVE_CLOCK_GETTIME,
 * HAVE_SIGACTION, HAVE_SSIZE_T, HAVE_STD_ATOMIC, HAVE_BUILTIN_ATOMIC,
 * HAVE_DLOPEN, WITH_DTRACE.
 */

#endif /* Py_CONFIG_H */
