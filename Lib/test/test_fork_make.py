"""Tests of the fork's build as a user runs it: an out-of-tree build of a
scratch copy of the repository, re-configuring, plain make needing only
build inputs, edits to the staged stdlib, the multiarch triplet, and a
sanitizer build that runs without options.  (`make test-fork`.)"""

import os
import shutil
import sys
import tempfile
import textwrap
import unittest

from test import fork_build_helpers as helpers
from test.fork_build_helpers import make, run

EDITED = 'lib/python3.11/asyncio/tasks.py'         # a file patches/ changes
UNPATCHED = 'lib/python3.11/asyncio/locks.py'      # a file no patch touches


def setUpModule():
    helpers.require_build_dir()


def copy_checkout(dest):
    """The repository's files as they are in the working tree (committed or
    not, but not ignored ones), without the build."""
    files = run(['git', '-C', helpers.ROOT, 'ls-files', '-z', '--cached',
                 '--others', '--exclude-standard']).stdout.split('\0')
    for rel in filter(None, files):
        src = os.path.join(helpers.ROOT, rel)
        if os.path.isfile(src):
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(src, target)


def fake_programs(directory, programs):
    os.makedirs(directory, exist_ok=True)
    for name, body in programs.items():
        path = os.path.join(directory, name)
        with open(path, 'w') as f:
            f.write('#!/bin/sh\n' + textwrap.dedent(body))
        os.chmod(path, 0o755)


class OutOfTreeBuildTests(unittest.TestCase):
    """`mkdir obj && cd obj && ../src/configure && make`, then what a user
    does to it; the tests run in the order of their names."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='fork-make-')
        cls.src = os.path.join(cls.tmp, 'src')
        cls.obj = os.path.join(cls.tmp, 'obj')
        copy_checkout(cls.src)
        os.mkdir(cls.obj)
        run([os.path.join('..', 'src', 'configure')], cwd=cls.obj)
        make('-j2', cwd=cls.obj)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def python(self, *args, program='python', env=None):
        # Without writing bytecode: the staged pyc stay as make left them.
        return run([os.path.join(self.obj, program), *args], cwd=self.tmp,
                   env=env or helpers.clean_env(PYTHONDONTWRITEBYTECODE='1'))

    def path(self, rel):
        return os.path.join(self.obj, rel)

    def test_1_built_out_of_tree(self):
        out = self.python('-c', 'import sys, asyncio, _asyncio; '
                          'print(sys.prefix); print(asyncio.__file__); '
                          'print("_asyncio" in sys.builtin_module_names)')
        self.assertEqual(out.stdout.split(), [
            self.obj, self.path('lib/python3.11/asyncio/__init__.py'), 'True'])
        # Nothing written into the source tree.
        for name in ('build', 'python', 'lib', 'include', 'Makefile'):
            self.assertFalse(os.path.lexists(os.path.join(self.src, name)),
                             name)

    def test_1_staged_bytecode_is_current(self):
        # Right after make, before any run could rewrite it.
        self.assertEqual(helpers.stale_bytecode(
            self.path('lib/python3.11/asyncio'), r'$^'), [])
        self.assertEqual(helpers.stale_bytecode(
            self.path('lib/python3.11/concurrent'), r'$^'), [])

    def test_2_make_needs_only_build_inputs(self):
        # As if uvloop and aiohttp were not installed and make could not
        # install them: plain make must still succeed, installing nothing.
        fake = os.path.join(self.tmp, 'fake-bin')
        marker = os.path.join(self.tmp, 'apt-get-ran')
        fake_programs(fake, {
            'dpkg-query': 'exit 1\n',
            'apt-get': f'touch {marker}; exit 1\n',
            'sudo': 'exit 1\n'})
        env = helpers.clean_env(PATH=fake + os.pathsep + os.environ['PATH'])
        make(cwd=self.obj, env=env)
        self.assertFalse(os.path.exists(marker))
        self.assertNotIn('deps.sh', make('-n', 'all', cwd=self.obj).stdout)

    def edit(self, rel, text):
        with open(self.path(rel), 'a') as f:
            f.write(text)

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    def test_3_staged_edits_are_not_lost(self):
        self.edit(EDITED, '\n# an edit\n')
        # A new test file in Lib/ makes make relink; the edit stays.
        test_file = os.path.join(self.src, 'Lib', 'test', 'test_asyncio',
                                 'test_fork_build.py')
        os.utime(test_file)
        make(cwd=self.obj)
        self.assertIn('# an edit', self.read(EDITED))
        # A change to the series re-stages: refused, the edit kept.
        series = os.path.join(self.src, 'patches', 'series')
        with open(series, 'a') as f:
            f.write('# a comment\n')
        result = make(cwd=self.obj, check=False)
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn('Lib/asyncio/tasks.py', result.stdout)
        self.assertIn('# an edit', self.read(EDITED))
        # Saved into the series, it survives the re-stage.
        make('patches-refresh', cwd=self.obj)
        with open(series, 'a') as f:
            f.write('# another comment\n')
        self.assertIn('staged lib/python3.11', make(cwd=self.obj).stdout)
        self.assertIn('# an edit', self.read(EDITED))
        # Quilt's rule: the edit goes to the last patch of the series that
        # touches the file, and only there.
        patch_dir = os.path.join(self.src, 'patches')
        with open(series) as f:
            names = [line.strip() for line in f
                     if line.strip() and not line.startswith('#')]
        target = EDITED.split('/', 2)[2]  # asyncio/tasks.py
        owners = []
        for name in names:
            with open(os.path.join(patch_dir, name)) as f:
                if f'/{target}\n' in f.read():
                    owners.append(name)
        self.assertTrue(owners)
        patches = run(['grep', '-l', '^+# an edit',
                       *[os.path.join(patch_dir, n) for n in names]]).stdout
        self.assertEqual(patches.split(),
                         [os.path.join(patch_dir, owners[-1])])

    def test_4_refresh_names_unowned_edits(self):
        original = self.read(UNPATCHED)
        try:
            self.edit(UNPATCHED, '\n# an edit\n')
            # make after the edit (a new test file linked in): the edit is
            # older than anything make wrote since.
            os.utime(os.path.join(self.src, 'Lib', 'test', 'test_asyncio',
                                  'test_fork_build.py'))
            make(cwd=self.obj)
            result = make('patches-refresh', cwd=self.obj, check=False)
            self.assertNotEqual(result.returncode, 0, result.stdout)
            self.assertIn('Lib/asyncio/locks.py', result.stdout)
            self.assertNotIn('already matches', result.stdout)
        finally:
            with open(self.path(UNPATCHED), 'w') as f:
                f.write(original)

    def test_5_debug_build_sees_edits(self):
        multiarch = sys.implementation._multiarch
        if not os.path.exists(f'/usr/lib/python3.11/config-3.11d-{multiarch}'
                              '/libpython3.11d.a'):
            self.skipTest('libpython3.11-dbg is not installed')
        make('debug', cwd=self.obj)
        original = self.read(UNPATCHED)
        try:
            self.edit(UNPATCHED, '\nFORK_EDIT_MARK = 17\n')
            for program in ('python', 'python-debug'):
                out = self.python('-c', 'import asyncio.locks as m; '
                                  'print(m.FORK_EDIT_MARK)', program=program)
                self.assertEqual(out.stdout.strip(), '17')
        finally:
            with open(self.path(UNPATCHED), 'w') as f:
                f.write(original)

    def test_6_reconfigure_rebuilds(self):
        def has_asan():
            symbols = run(['nm', self.path('build/python')]).stdout
            return '__asan_init' in symbols
        self.assertFalse(has_asan())
        configure = os.path.join('..', 'src', 'configure')
        run([configure, '--with-address-sanitizer'], cwd=self.obj)
        make(cwd=self.obj)
        self.assertTrue(has_asan())
        # Runs without ASAN_OPTIONS: LeakSanitizer is off by default, as the
        # uninstrumented interpreter keeps memory until exit by design.
        env = helpers.clean_env(ASAN_OPTIONS=None, PYTHONDONTWRITEBYTECODE='1')
        out = self.python('-c', 'import asyncio; print(asyncio.run('
                          'asyncio.sleep(0, "ok")))', env=env)
        self.assertEqual(out.stdout.strip(), 'ok')
        # make test runs the suite with the sanitizer settings.
        self.assertIn('PYTHONMALLOC=malloc',
                      make('-n', 'test', cwd=self.obj).stdout)
        run([configure], cwd=self.obj)
        make(cwd=self.obj)
        self.assertFalse(has_asan())


class ConfigureTests(unittest.TestCase):

    def test_multiarch_comes_from_the_compiler(self):
        # An arm64 machine's gcc names aarch64-linux-gnu: configure must look
        # for that build of Python, not x86_64's.
        with tempfile.TemporaryDirectory(prefix='fork-configure-') as tmp:
            fake_programs(tmp, {'cc': '''\
                if [ "$1" = -print-multiarch ]; then
                    echo aarch64-linux-gnu; exit 0
                fi
                exec gcc "$@"
                '''})
            result = run([os.path.join(helpers.ROOT, 'configure'),
                          'CC=' + os.path.join(tmp, 'cc')], cwd=tmp,
                         check=False)
            self.assertNotEqual(result.returncode, 0, result.stdout)
            self.assertIn('multiarch triplet... aarch64-linux-gnu',
                          result.stdout)
            self.assertIn('/usr/lib/python3.11/config-3.11-aarch64-linux-gnu/'
                          'libpython3.11.a is missing', result.stdout)


if __name__ == '__main__':
    unittest.main()
