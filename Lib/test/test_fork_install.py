"""Tests of `make install` and `make altinstall` into a temporary DESTDIR:
a self-contained tree with the patched stdlib byte-compiled, sysconfig
data of a static interpreter, python3.11-config, the distro's
dist-packages, and a venv with pip; the installed interpreter then runs
test_asyncio and CPython's tests that `make check` runs.  Nothing is moved
after installing: the interpreter finds its prefix from where it is.
(`make test-fork`.)"""

import os
import shutil
import sys
import tempfile
import textwrap
import unittest

from test import fork_build_helpers as helpers
from test.fork_build_helpers import make, run

# Tools/build/prefix.py: what is not byte-compiled on install.
COMPILE_EXCLUDE = r'bad_coding|badsyntax|site-packages|lib2to3/tests/data'
ABI = sys.abiflags


def setUpModule():
    helpers.require_build_dir()


class InstallTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='fork-install-')
        # Other users must be able to reach the tree (test_unprivileged_user).
        os.chmod(cls.tmp, 0o755)
        cls.destdir = os.path.join(cls.tmp, 'dest')
        cls.prefix = helpers.makefile_list('prefix')[0]
        make('install', f'DESTDIR={cls.destdir}')
        cls.root = cls.destdir + cls.prefix
        cls.bindir = os.path.join(cls.root, 'bin')
        cls.stdlib = os.path.join(cls.root, 'lib', 'python3.11')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def python(self, *args, python=None, **kwargs):
        return run([python or os.path.join(self.bindir, f'python3.11{ABI}'),
                    *args], cwd=self.tmp, **kwargs)

    def test_bin(self):
        for name in (f'python3.11{ABI}', 'python3.11', 'python3',
                     'python3.11-config', 'python3-config', 'pydoc3.11',
                     'pydoc3'):
            with self.subTest(name=name):
                path = os.path.join(self.bindir, name)
                self.assertTrue(os.access(path, os.X_OK), path)
        self.assertEqual(
            os.path.realpath(os.path.join(self.bindir, 'python3')),
            os.path.join(self.bindir, f'python3.11{ABI}'))

    def test_self_contained(self):
        # No link back into the checkout or the build directory, none
        # dangling; links into the distro (lib-dynload, headers) stay.
        local = (os.path.realpath(helpers.ROOT),
                 os.path.realpath(helpers.BUILD_DIR))
        into_checkout, dangling, distro = [], [], []
        for dirpath, dirnames, filenames in os.walk(self.destdir):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    continue
                target = os.path.realpath(path)
                if any(target == d or target.startswith(d + os.sep)
                       for d in local):
                    into_checkout.append(path)
                elif not os.path.exists(path):
                    dangling.append(path)
                elif target.startswith('/usr/'):
                    distro.append(os.path.basename(path))
        self.assertEqual(into_checkout, [])
        self.assertEqual(dangling, [])
        # lib-dynload: links to Debian's modules of this flavour only.
        suffix = f'.cpython-311{ABI}-{sys.implementation._multiarch}.so'
        self.assertIn('_json' + suffix, distro)
        self.assertEqual([n for n in distro if n.startswith('_json.')],
                         ['_json' + suffix])
        self.assertFalse(os.path.exists(
            os.path.join(self.stdlib, 'EXTERNALLY-MANAGED')))

    def test_interpreter(self):
        out = self.python('-c', textwrap.dedent('''\
            import sys, asyncio, sysconfig
            print(sys.prefix)
            print(asyncio.__file__)
            print("_asyncio" in sys.builtin_module_names)
            print(sys.version)
            v = sysconfig.get_config_vars()
            print(v["Py_ENABLE_SHARED"], v["LDLIBRARY"], v["LIBPL"])
            ''')).stdout.splitlines()
        self.assertEqual(out[0], self.root)
        self.assertEqual(out[1],
                         os.path.join(self.stdlib, 'asyncio', '__init__.py'))
        self.assertEqual(out[2], 'True')
        self.assertEqual(out[3], sys.version)
        shared, library, libpl = out[4].split()
        self.assertEqual((shared, library), ('0', f'libpython3.11{ABI}.a'))
        # LIBPL names the final place; the tree has it under DESTDIR.
        self.assertTrue(libpl.startswith(self.prefix + '/lib/python3.11/'),
                        libpl)
        self.assertTrue(os.path.isfile(self.destdir + libpl + '/' + library))

    def test_bytecode_is_current(self):
        # Compiled on install: no start recompiles, even read-only.
        self.assertEqual(
            helpers.stale_bytecode(self.stdlib, COMPILE_EXCLUDE), [])

    def test_runs_without_writing(self):
        # A start and an import of asyncio write nothing into the tree.
        before = helpers.file_times(self.root)
        self.python('-c', 'import asyncio, concurrent.futures, json, venv')
        self.assertEqual(helpers.changed_files(
            before, helpers.file_times(self.root)), [])

    @unittest.skipUnless(hasattr(os, 'getuid') and os.getuid() == 0,
                         'needs root to run as another user')
    def test_unprivileged_user(self):
        import pwd
        nobody = pwd.getpwnam('nobody')
        result = self.python('-c', 'import asyncio; print("ok")', check=False,
                             user=nobody.pw_uid, group=nobody.pw_gid,
                             extra_groups=[])
        self.assertEqual(result.stdout, 'ok\n')

    def test_dist_packages(self):
        paths = self.python('-c', 'import sys; print(*sys.path, sep="\\n")'
                            ).stdout.split()
        self.assertIn('/usr/lib/python3/dist-packages', paths)
        if os.path.isdir('/usr/local/lib/python3.11/dist-packages'):
            self.assertIn('/usr/local/lib/python3.11/dist-packages', paths)
        if os.path.isdir('/usr/lib/python3/dist-packages/uvloop'):
            self.python('-c', 'import uvloop, aiohttp')

    def test_python_config(self):
        config = os.path.join(self.bindir, 'python3.11-config')
        # sysconfig's prefix: the configured one, not DESTDIR's.
        self.assertEqual(run([config, '--prefix']).stdout.strip(), self.prefix)
        self.assertEqual(run([config, '--abiflags']).stdout.strip(), ABI)
        includes = run([config, '--includes']).stdout.split()
        self.assertIn(f'-I{self.root}/include/python3.11{ABI}', includes)
        ldflags = run([config, '--ldflags', '--embed']).stdout.split()
        self.assertIn(f'-lpython3.11{ABI}', ldflags)

    def test_embed(self):
        # The library in LIBPL is the fork's: a program embedding it has
        # _asyncio built in and says it is the fork.
        config = os.path.join(self.bindir, 'python3.11-config')
        cflags = run([config, '--cflags']).stdout.split()
        ldflags = run([config, '--ldflags', '--embed']).stdout.split()
        # LIBPL names the final place: the library is under DESTDIR.
        ldflags = [f.replace('-L' + self.prefix, '-L' + self.root)
                   for f in ldflags]
        source = os.path.join(self.tmp, 'embed.c')
        with open(source, 'w') as f:
            f.write(textwrap.dedent('''\
                #include <Python.h>
                int main(void) {
                    Py_Initialize();
                    int rc = PyRun_SimpleString(
                        "import sys, asyncio\\n"
                        "assert '_asyncio' in sys.builtin_module_names\\n"
                        "print(sys.version)\\n");
                    return Py_FinalizeEx() < 0 || rc;
                }
                '''))
        program = os.path.join(self.tmp, 'embed')
        linkforshared = self.python('-c', 'import sysconfig; print(sysconfig.'
                                    'get_config_var("LINKFORSHARED"))'
                                    ).stdout.split()
        run(['gcc', *cflags, source, '-o', program, *ldflags, *linkforshared])
        out = run([program], env=helpers.clean_env(PYTHONHOME=self.root))
        self.assertEqual(out.stdout.strip(), sys.version)

    def test_venv_with_pip(self):
        if not os.path.isdir(os.path.join(self.stdlib, 'ensurepip')):
            self.skipTest('python3.11-venv was not installed when staging')
        env_dir = os.path.join(self.tmp, 'venv')
        self.python('-m', 'venv', env_dir)
        python = os.path.join(env_dir, 'bin', 'python')
        out = self.python('-c', 'import sys, asyncio; print(sys.base_prefix); '
                          'print(asyncio.__file__); '
                          'print("_asyncio" in sys.builtin_module_names)',
                          python=python).stdout.split()
        self.assertEqual(out, [
            self.root, os.path.join(self.stdlib, 'asyncio', '__init__.py'),
            'True'])
        # pip builds and installs a C extension against the fork's headers
        # and sysconfig, without the network.
        project = os.path.join(self.tmp, 'project')
        os.makedirs(project)
        with open(os.path.join(project, 'setup.py'), 'w') as f:
            f.write('from setuptools import setup, Extension\n'
                    'setup(name="forkprobe", version="1.0", ext_modules='
                    '[Extension("forkprobe", ["forkprobe.c"])])\n')
        with open(os.path.join(project, 'forkprobe.c'), 'w') as f:
            f.write(textwrap.dedent('''\
                #include <Python.h>
                static PyModuleDef def = {PyModuleDef_HEAD_INIT, "forkprobe"};
                PyMODINIT_FUNC PyInit_forkprobe(void) {
                    PyObject *m = PyModule_Create(&def);
                    if (m && PyModule_AddIntConstant(m, "answer", 42) < 0) {
                        Py_CLEAR(m);
                    }
                    return m;
                }
                '''))
        self.python('-m', 'pip', 'install', '--no-index',
                    '--no-build-isolation', '--disable-pip-version-check',
                    project, python=python,
                    env=helpers.clean_env(PIP_CONFIG_FILE=os.devnull))
        out = self.python('-c', 'import forkprobe; print(forkprobe.answer)',
                          python=python)
        self.assertEqual(out.stdout.strip(), '42')

    def test_venv_system_site_packages(self):
        if not os.path.isdir('/usr/lib/python3/dist-packages/uvloop'):
            self.skipTest('python3-uvloop is not installed')
        env_dir = os.path.join(self.tmp, 'venv-system')
        self.python('-m', 'venv', '--without-pip', '--system-site-packages',
                    env_dir)
        self.python('-c', 'import uvloop', python=os.path.join(env_dir, 'bin',
                                                               'python'))

    def test_suites(self):
        # test_asyncio and CPython's tests `make check` runs on ./python.
        tests = ['test_asyncio'] + helpers.makefile_list('CPYTHON_TESTS')
        result = self.python('-m', 'test', *tests, '-j2', check=False,
                             timeout=3600)
        self.assertTrue(helpers.suite_passed(result), result.stdout[-6000:])


class AltinstallTests(unittest.TestCase):

    def test_altinstall_without_distro_packages(self):
        with tempfile.TemporaryDirectory(prefix='fork-altinstall-') as tmp:
            prefix = '/opt/fork-test'
            make('altinstall', f'DESTDIR={tmp}', f'prefix={prefix}',
                 'DISTRO_PACKAGES=no')
            bindir = os.path.join(tmp + prefix, 'bin')
            self.assertTrue(os.path.exists(os.path.join(bindir, 'python3.11')))
            for name in ('python3', 'python3-config', 'pydoc3'):
                self.assertFalse(
                    os.path.lexists(os.path.join(bindir, name)), name)
            paths = run([os.path.join(bindir, 'python3.11'), '-c',
                         'import sys; print(*sys.path, sep="\\n")'],
                        cwd=tmp).stdout.split()
            self.assertNotIn('/usr/lib/python3/dist-packages', paths)
            self.assertIn(f'{tmp}{prefix}/lib/python3/dist-packages', paths)


if __name__ == '__main__':
    unittest.main()
