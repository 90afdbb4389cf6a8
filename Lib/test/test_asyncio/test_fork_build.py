"""Tests of the fork's interpreter build: built-in _asyncio, staged stdlib,
Debian's dist-packages, sys.executable/-m/venv behaving as on the stock
interpreter, the sysconfig data of a static interpreter, and the version
naming the fork.  They run on the build directory's ./python and, within
test_asyncio, on an installed tree (test_fork_install)."""

import asyncio
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import unittest
from test.support import requires_subprocess

import _asyncio

DIST_PACKAGES = '/usr/lib/python3/dist-packages'
LOCAL_DIST_PACKAGES = '/usr/local/lib/python3.11/dist-packages'
STDLIB = os.path.join(sys.prefix, 'lib', 'python3.11')
# The repository, when this file is the staged link to it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))))
# The files patches/ changes: their bytecode must match the patched source.
PATCHED = ['asyncio/base_events.py', 'asyncio/events.py', 'asyncio/futures.py',
           'asyncio/selector_events.py', 'asyncio/tasks.py',
           'concurrent/futures/_base.py']
# README.md, "Run your service on the fork": which of asyncio's classes and
# functions are the C ones.
LIST_C_PARTS = """
import asyncio
c = [n for n in asyncio.__all__
     if getattr(getattr(asyncio, n), '__module__', '') == '_asyncio']
print('in C:', *sorted(c))
print('loop methods in C:', *sorted(
    n for cls in asyncio.BaseEventLoop.__mro__ if cls.__module__ == '_asyncio'
    for n in vars(cls) if not n.startswith('_')))
print('C bases of the selector loop and socket transport:', *sorted({
    cls.__name__ for top in (asyncio.SelectorEventLoop,
                             asyncio.selector_events._SelectorSocketTransport)
    for cls in top.__mro__ if cls.__module__ == '_asyncio'}))
"""
WINDOWS_CHECK = os.path.join(ROOT, 'Tools', 'build', 'windows', 'check.py')
MINGW_CC = 'x86_64-w64-mingw32-gcc'


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, check=True,
                          **kwargs).stdout


class BuiltinModuleTests(unittest.TestCase):

    def test_asyncio_is_builtin(self):
        self.assertIn('_asyncio', sys.builtin_module_names)
        self.assertEqual(_asyncio.__spec__.origin, 'built-in')
        self.assertFalse(hasattr(_asyncio, '__file__'))

    def test_distro_extension_not_staged(self):
        # The stock C accelerator must not be loadable from the staged stdlib.
        dynload = os.path.join(sys.prefix, 'lib', 'python3.11', 'lib-dynload')
        self.assertTrue(os.path.isdir(dynload), dynload)
        self.assertEqual([n for n in os.listdir(dynload)
                          if n.startswith('_asyncio.')], [])
        self.assertTrue(any(n.startswith('_json.') for n in os.listdir(dynload)))

    def test_asyncio_uses_what_the_module_provides(self):
        for module, name in ((asyncio.futures, 'Future'),
                             (asyncio.tasks, 'Task')):
            with self.subTest(name=name):
                if hasattr(_asyncio, name):
                    self.assertIs(getattr(module, name), getattr(_asyncio, name))
                else:
                    self.assertEqual(getattr(module, name).__module__,
                                     module.__name__)

    def test_stdlib_is_the_staged_copy(self):
        self.assertEqual(os.path.dirname(os.path.dirname(asyncio.__file__)),
                         sysconfig.get_path('stdlib'))
        self.assertNotEqual(os.path.realpath(asyncio.__file__),
                            '/usr/lib/python3.11/asyncio/__init__.py')

    def test_no_dangling_links(self):
        # copytree() of the stdlib (test_venv, an install) fails on one.
        dangling = []
        for dirpath, dirnames, filenames in os.walk(STDLIB):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                if os.path.islink(path) and not os.path.exists(path):
                    dangling.append(path)
        self.assertEqual(dangling, [])

    def test_not_externally_managed(self):
        # Debian's marker makes pip refuse the fork's own prefix.
        self.assertFalse(os.path.exists(
            os.path.join(STDLIB, 'EXTERNALLY-MANAGED')))

    def test_patched_modules_bytecode_is_current(self):
        # Debian's pyc of a file the series changes would be recompiled at
        # every start of a read-only tree or with PYTHONDONTWRITEBYTECODE.
        for rel in PATCHED:
            with self.subTest(rel=rel):
                source = os.path.join(STDLIB, rel)
                with open(importlib.util.cache_from_source(source), 'rb') as f:
                    header = f.read(16)
                st = os.stat(source)
                self.assertEqual(int.from_bytes(header[4:8], 'little'), 0)
                self.assertEqual(int.from_bytes(header[8:12], 'little'),
                                 int(st.st_mtime) & 0xFFFFFFFF)
                self.assertEqual(int.from_bytes(header[12:16], 'little'),
                                 st.st_size & 0xFFFFFFFF)


class SysconfigTests(unittest.TestCase):
    """A static interpreter in its own prefix, not Debian's shared one."""

    def test_static_library(self):
        v = sysconfig.get_config_vars()
        self.assertEqual(v['Py_ENABLE_SHARED'], 0)
        self.assertEqual(v['LDLIBRARY'], f'libpython3.11{sys.abiflags}.a')
        libpl = v['LIBPL']
        self.assertTrue(libpl.endswith(
            f'/lib/python3.11/config-3.11{sys.abiflags}-'
            f'{sys.implementation._multiarch}'), libpl)
        # The library the interpreter is made of, in this prefix's LIBPL
        # (an installed tree may run from DESTDIR, before its final place).
        here = os.path.join(STDLIB, os.path.basename(libpl))
        self.assertTrue(os.path.isfile(os.path.join(here, v['LDLIBRARY'])))
        self.assertFalse(os.path.lexists(
            os.path.join(here, f'libpython3.11{sys.abiflags}.so')))
        self.assertNotEqual(v['BINDIR'], '/usr/bin')
        self.assertNotIn('_asyncio', v['MODSHARED_NAMES'].split())

    def test_build_files_exist(self):
        self.assertTrue(os.path.isfile(sysconfig.get_makefile_filename()))
        self.assertTrue(os.path.isfile(sysconfig.get_config_h_filename()))
        self.assertTrue(os.path.isfile(
            os.path.join(sysconfig.get_path('include'), 'Python.h')))


class IdentificationTests(unittest.TestCase):
    """The version names the fork and its commit, so a report about it does
    not point at Debian's build."""

    def git(self, *args):
        try:
            return subprocess.run(['git', '-C', ROOT, *args], text=True,
                                  capture_output=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    def test_version(self):
        build = platform.python_build()[0]
        self.assertRegex(build,
                         r'^asyncio-fork:([0-9a-f]{7,}(-dirty)?|unknown)$')
        self.assertIn(f'({build}, ', sys.version)
        self.assertEqual(sys._git[1:], tuple(build.split(':')))
        if self.git('rev-parse', 'HEAD') is not None:
            # A commit of this repository (HEAD, unless committed since the
            # last make).
            commit = build.split(':')[1].split('-')[0]
            self.assertIsNotNone(self.git('cat-file', '-e',
                                          commit + '^{commit}'))

    @requires_subprocess()
    def test_dash_VV(self):
        out = run(sys.executable, '-VV')
        self.assertEqual(out.strip(), f'Python {sys.version}')
        self.assertIn('asyncio-fork:', out)

    @requires_subprocess()
    def test_list_c_parts(self):
        out = run(sys.executable, '-c', LIST_C_PARTS).splitlines()
        self.assertEqual(len(out), 3, out)
        c_parts = out[0].split()
        for name in ('Future', 'Task', 'Handle', 'TimerHandle',
                     'get_running_loop', 'current_task', 'StreamReader',
                     'StreamWriter', 'StreamReaderProtocol'):
            self.assertIn(name, c_parts)
        self.assertNotIn('Queue', c_parts)
        self.assertIn('call_soon', out[1].split())
        self.assertEqual(out[2].split(':')[1].split(),
                         ['_EventLoopCore', '_SelectorLoopCore',
                          '_SelectorSocketTransport'])


@requires_subprocess()
class InterpreterTests(unittest.TestCase):

    def test_executable_runs_itself(self):
        out = run(sys.executable, '-c',
                  'import sys, _asyncio; print(sys.executable); '
                  'print("_asyncio" in sys.builtin_module_names)')
        self.assertEqual(out.split(), [sys.executable, 'True'])

    def test_dash_m(self):
        out = run(sys.executable, '-m', 'json.tool', input='{"a": [1]}')
        self.assertEqual(out.split(), ['{', '"a":', '[', '1', ']', '}'])

    def test_dist_packages_visible(self):
        # As for /usr/bin/python3.11, after the fork's own site directories;
        # an installed tree leaves them out if configured so.
        site_dir = os.path.join(sys.prefix, 'lib', 'python3', 'dist-packages')
        # The prefix's own: pip must never write through it into /usr.
        self.assertTrue(os.path.isdir(site_dir))
        self.assertFalse(os.path.islink(site_dir))
        pth = os.path.join(site_dir, 'distro-dist-packages.pth')
        if not os.path.exists(pth):
            self.assertNotIn(DIST_PACKAGES, sys.path)
            return      # installed --without-distro-packages
        self.assertIn(DIST_PACKAGES, sys.path)
        if os.path.isdir(LOCAL_DIST_PACKAGES):
            self.assertLess(sys.path.index(LOCAL_DIST_PACKAGES),
                            sys.path.index(DIST_PACKAGES))
        for name in ('uvloop', 'aiohttp'):
            with self.subTest(name=name):
                if not os.path.isdir(os.path.join(DIST_PACKAGES, name)):
                    self.skipTest(f'python3-{name} is not installed')
                out = run(sys.executable, '-c',
                          f'import {name}; print({name}.__file__)')
                self.assertTrue(out.startswith(DIST_PACKAGES), out)

    def test_venv(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = os.path.join(tmp, 'env')
            run(sys.executable, '-m', 'venv', '--without-pip', env)
            python = os.path.join(env, 'bin', 'python')
            out = run(python, '-c',
                      'import sys, asyncio, _asyncio; print(sys.prefix); '
                      'print(sys.base_prefix); print(asyncio.__file__); '
                      'print("_asyncio" in sys.builtin_module_names)')
            prefix, base_prefix, asyncio_file, builtin = out.split()
            self.assertEqual(prefix, env)
            # The same prefix as the interpreter that made it (test_venv).
            self.assertEqual(base_prefix, sys.base_prefix)
            self.assertEqual(builtin, 'True')
            self.assertEqual(asyncio_file, asyncio.__file__)


@requires_subprocess()
@unittest.skipUnless(os.path.exists(WINDOWS_CHECK), 'needs the repository')
@unittest.skipUnless(shutil.which(MINGW_CC), 'needs gcc-mingw-w64-x86-64 '
                     '(Tools/build/deps.sh windows)')
class WindowsCompileCheckTests(unittest.TestCase):
    """Tools/build/windows/check.py (make check-windows) on small modules:
    it must pass portable code and name each kind of problem it exists
    for.  The release configuration only, to keep it quick."""

    # A module that builds on Windows: POSIX and GCC-only code behind the
    # guards an MSVC build takes the other branch of, functions in
    # PyType_Slot, imported data used at run time.
    PORTABLE = """
        #if !defined(Py_BUILD_CORE_BUILTIN) && !defined(Py_BUILD_CORE_MODULE)
        #  define Py_BUILD_CORE_MODULE 1
        #endif
        #include "Python.h"
        #include "internal/pycore_context.h"
        #ifdef HAVE_FORK
        #  include <pthread.h>
        static void after(void) { }
        static int on_fork(void) { return pthread_atfork(NULL, NULL, after); }
        #endif
        #if defined(__GNUC__) || defined(__clang__)
        #  define UNLIKELY(x) __builtin_expect(!!(x), 0)
        #else
        #  define UNLIKELY(x) (x)
        #endif
        static PyType_Slot slots[] = {
            {Py_tp_iter, PyObject_SelfIter},
            {0, NULL},
        };
        static PyType_Spec spec = {"m.T", sizeof(PyObject), 0,
                                   Py_TPFLAGS_DEFAULT, slots};
        static int
        m_exec(PyObject *m)
        {
            Py_BUILD_ASSERT(sizeof(Py_ssize_t) == sizeof(void *));
            PyObject *t = PyType_FromSpec(&spec);
            if (UNLIKELY(t == NULL)) {
                PyErr_SetString(PyExc_RuntimeError, "no type");
                return -1;
            }
            return PyModule_AddObject(m, "T", t);
        }
        static PyModuleDef_Slot m_slots[] = {{Py_mod_exec, m_exec}, {0, NULL}};
        static struct PyModuleDef m_def = {
            PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, m_slots,
        };
        PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&m_def); }
        """

    def check(self, source, *args):
        with tempfile.TemporaryDirectory() as tmp:
            srcdir = os.path.join(tmp, 'src')
            os.mkdir(srcdir)
            path = os.path.join(srcdir, 'm.c')
            with open(path, 'w') as f:
                f.write(textwrap.dedent(source))
            proc = subprocess.run(
                [sys.executable, WINDOWS_CHECK, '--config', 'release',
                 '--build', os.path.join(tmp, 'build'), *args, path],
                capture_output=True, text=True)
        return proc.returncode, proc.stdout + proc.stderr

    def assert_fails_with(self, source, *messages):
        rc, out = self.check(source)
        self.assertEqual(rc, 1, out)
        for message in messages:
            self.assertIn(message, out)

    def test_portable_module_passes_and_links(self):
        rc, out = self.check(self.PORTABLE)
        self.assertEqual(rc, 0, out)
        self.assertIn('linked', out.splitlines()[-1])
        self.assertNotIn('not linked', out)

    def test_compiler_diagnostics_fail(self):
        self.assert_fails_with("""
            #include "Python.h"
            /* imported data has no constant address */
            static PyObject **error = &PyExc_RuntimeError;
            int
            f(PyObject *op, int n)
            {
                char buf[n];                           /* VLA */
                long bits = (long)op;                  /* LLP64 */
                int m = ({ int t = n; t + 1; });       /* GNU extension */
                buf[0] = (char)m;
                return buf[0] + (int)bits + (error != NULL);
            }
            """,
            'initializer element is not constant', '[-Wvla]',
            '[-Wpointer-to-int-cast]', 'braced-groups within expressions')

    def test_constructs_msvc_rejects_are_named(self):
        rc, out = self.check("""
            #include "Python.h"
            _Static_assert(sizeof(int) == 4, "int");
            __attribute__((unused)) static int
            f(int n)
            {
                ssize_t k = n;
            #ifdef HAVE_FORK
                ssize_t guarded = fork();
            #endif
                return (int)k;
            }
            """)
        self.assertEqual(rc, 1, out)
        found = [line.split(':')[1:3] for line in out.splitlines()
                 if line.startswith(os.sep)]
        self.assertEqual(found, [['3', ' _Static_assert'],
                                 ['4', ' __attribute__'],
                                 ['7', ' ssize_t']])

    def test_header_msvc_lacks_fails(self):
        self.assert_fails_with("""
            #include "Python.h"
            #include <unistd.h>
            int f(void) { return 0; }
            """,
            "<unistd.h> is not in MSVC's headers")

    def test_function_python311_dll_does_not_export_fails_to_link(self):
        self.assert_fails_with("""
            #define Py_BUILD_CORE_MODULE 1
            #include "Python.h"
            #include "internal/pycore_bytes_methods.h"
            static PyObject *
            f(PyObject *self, PyObject *arg)
            {
                return _Py_bytes_isspace("a", 1);   /* extern, not PyAPI */
            }
            static PyMethodDef methods[] = {
                {"f", f, METH_O, NULL}, {NULL, NULL, 0, NULL},
            };
            static struct PyModuleDef m_def = {
                PyModuleDef_HEAD_INIT, "m", NULL, 0, methods,
            };
            PyMODINIT_FUNC PyInit_m(void) { return PyModuleDef_Init(&m_def); }
            """,
            "undefined reference to `_Py_bytes_isspace'")

    def test_internal_header_needs_py_build_core_module(self):
        # Upstream's build systems pass no Py_BUILD_CORE* for a shared
        # stdlib module; the source must say it uses the internal API.
        source = self.PORTABLE.replace('Py_BUILD_CORE_MODULE 1', 'UNUSED 1')
        self.assert_fails_with(source, 'requires Py_BUILD_CORE define')

    def test_pending_sources_are_named_and_not_linked(self):
        rc, out = self.check(self.PORTABLE, '--pending', 'Modules/other.c')
        self.assertEqual(rc, 0, out)
        self.assertIn('pending, not checked yet: Modules/other.c', out)
        self.assertIn('not linked', out)


if __name__ == '__main__':
    unittest.main()
