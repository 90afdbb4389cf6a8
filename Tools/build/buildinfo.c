/* The build information of the fork's interpreter.
 *
 * Debian's libpython3.11.a has its own getbuildinfo.o, which names Debian's
 * build ("main, <date>").  This object defines the same three functions and
 * is linked ahead of the archive, so the linker never takes Debian's: then
 * sys.version, `python -VV`, sys._git and platform.python_build() name the
 * fork and the commit it was built from, and a crash report points here.
 * The Makefile compiles it as getbuildinfo.o, the name of the member it
 * replaces in the library installed in LIBPL.
 *
 * buildinfo.h (written by Tools/build/prefix.py, rewritten only when the
 * commit changes) defines FORK_GITID and FORK_GITVERSION.
 */

#include "Python.h"
#include "buildinfo.h"

/* "asyncio-fork:0123456789, Nov 28 2026, 18:32:00": the form CPython's own
   builds from git use, which platform._sys_version() parses. */
const char *
Py_GetBuildInfo(void)
{
    static char info[120];

    if (info[0] == '\0') {
        PyOS_snprintf(info, sizeof(info), "%s:%s, %s, %s",
                      FORK_GITID, FORK_GITVERSION, __DATE__, __TIME__);
    }
    return info;
}

const char *
_Py_gitversion(void)
{
    return FORK_GITVERSION;
}

const char *
_Py_gitidentifier(void)
{
    return FORK_GITID;
}
