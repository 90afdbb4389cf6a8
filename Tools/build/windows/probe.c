/*
 * Compiled first by check.py (make check-windows): fails unless the
 * headers are seen as a Windows x64 build of CPython 3.11 sees them, so
 * the check proves its stand-in pyconfig.h is in effect even when no
 * source of the module is checked yet.
 */

#include "Python.h"
#include "structmember.h"

#if !defined(MS_WINDOWS) || !defined(MS_WIN64)
#  error "the stand-in pyconfig.h is not in effect"
#endif
#if defined(HAVE_FORK) || defined(HAVE_SYS_SOCKET_H) || defined(_POSIX_THREADS)
#  error "POSIX features are configured for the Windows check"
#endif
#if !defined(Py_ENABLE_SHARED) || !defined(HAVE_DECLSPEC_DLL)
#  error "the C API is not imported from python311.dll"
#endif

int
check_windows_probe(void)
{
    /* LLP64, and the configured sizes are the compiler's. */
    Py_BUILD_ASSERT(SIZEOF_LONG == 4 && sizeof(long) == SIZEOF_LONG);
    Py_BUILD_ASSERT(sizeof(void *) == SIZEOF_VOID_P);
    Py_BUILD_ASSERT(sizeof(Py_ssize_t) == sizeof(size_t));
    Py_BUILD_ASSERT(sizeof(wchar_t) == SIZEOF_WCHAR_T);
    return 0;
}
