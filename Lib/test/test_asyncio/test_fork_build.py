"""Tests of the fork's interpreter build: built-in _asyncio, staged stdlib,
Debian's dist-packages, and sys.executable/-m/venv behaving as on the stock
interpreter."""

import asyncio
import os
import subprocess
import sys
import sysconfig
import tempfile
import unittest
from test.support import requires_subprocess

import _asyncio

DIST_PACKAGES = '/usr/lib/python3/dist-packages'


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
        self.assertIn(os.path.join(sys.prefix, 'lib', 'python3', 'dist-packages'),
                      sys.path)
        for name in ('uvloop', 'aiohttp'):
            with self.subTest(name=name):
                if not os.path.isdir(os.path.join(DIST_PACKAGES, name)):
                    self.skipTest(f'python3-{name} is not installed')
                out = run(sys.executable, '-c',
                          f'import {name}; print({name}.__file__)')
                self.assertTrue(out.startswith(sys.prefix) or
                                out.startswith(DIST_PACKAGES), out)

    def test_venv(self):
        with tempfile.TemporaryDirectory() as tmp:
            env = os.path.join(tmp, 'env')
            run(sys.executable, '-m', 'venv', '--without-pip', env)
            python = os.path.join(env, 'bin', 'python')
            out = run(python, '-c',
                      'import sys, asyncio, _asyncio; print(sys.prefix); '
                      'print(asyncio.__file__); '
                      'print("_asyncio" in sys.builtin_module_names)')
            prefix, asyncio_file, builtin = out.split()
            self.assertEqual(prefix, env)
            self.assertEqual(builtin, 'True')
            # The venv runs a staged copy with the same patches applied
            # (a debug build's venv may use the release build's copy).
            self.assertNotEqual(os.path.realpath(asyncio_file),
                                '/usr/lib/python3.11/asyncio/__init__.py')
            for name in ('futures.py', 'tasks.py'):
                with open(os.path.join(os.path.dirname(asyncio_file), name)) as f:
                    theirs = f.read()
                with open(os.path.join(os.path.dirname(asyncio.__file__), name)) as f:
                    self.assertEqual(theirs, f.read())


if __name__ == '__main__':
    unittest.main()
