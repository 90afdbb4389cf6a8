"""Tests of `make deb`: a Debian package installing the fork beside the
distro's Python.  The test builds it, checks what it holds and depends on,
installs it with dpkg, runs the installed interpreter's test_asyncio and a
venv, and removes it, leaving nothing behind.

FORK_DEB_TEST=system (CI, as root; `make check DEBTEST=system`) installs
it on this machine with dpkg -i and runs it through its launcher; the
default installs it into a scratch root with dpkg --root, so that
concurrent runs and a developer's machine are left alone.
(`make test-fork`.)"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from test import fork_build_helpers as helpers
from test.fork_build_helpers import make, run

ABI = sys.abiflags
PACKAGE = f'python3.11{ABI}-asyncio-fork'
LAUNCHER = f'/usr/bin/{PACKAGE}'
MODE = os.environ.get('FORK_DEB_TEST', 'scratch')
# Distro packages whose files must be untouched by installing and removing.
DISTRO_PYTHON = ['python3.11', 'python3.11-minimal', 'libpython3.11-stdlib',
                 'libpython3.11-minimal', 'libpython3.11-dev']


def setUpModule():
    helpers.require_build_dir()
    if shutil.which('dpkg-deb') is None:
        raise unittest.SkipTest('needs dpkg-deb')


def field(deb, name):
    return run(['dpkg-deb', '--field', deb, name]).stdout.strip()


def installed_version(package):
    result = subprocess.run(['dpkg-query', '-W',
                             '-f=${db:Status-Status} ${Version}', package],
                            capture_output=True, text=True)
    status, _, version = result.stdout.partition(' ')
    if result.returncode == 0 and status == 'installed':
        return version
    return None


def relations(text):
    """[(package, operator, version)] of a Depends-like field."""
    out = []
    for entry in filter(None, (e.strip() for e in text.split(','))):
        name, _, rest = entry.partition(' (')
        op, _, version = rest.rstrip(')').partition(' ')
        out.append((name, op, version))
    return out


class DebTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='fork-deb-')
        os.chmod(cls.tmp, 0o755)
        make('deb', f'DEBDIR={cls.tmp}')
        debs = [n for n in os.listdir(cls.tmp) if n.endswith('.deb')]
        if len(debs) != 1:
            raise AssertionError(f'make deb wrote {debs}')
        cls.deb = os.path.join(cls.tmp, debs[0])
        cls.prefix = helpers.makefile_list('DEB_PREFIX')[0].replace(
            '$(ABIFLAGS)', ABI)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_control(self):
        self.assertEqual(field(self.deb, 'Package'), PACKAGE)
        commit = run(['git', '-C', helpers.ROOT, 'rev-parse', '--short=10',
                      'HEAD']).stdout.strip()
        self.assertIn('+fork.', field(self.deb, 'Version'))
        self.assertIn(f'.g{commit}', field(self.deb, 'Version'))
        depends = relations(field(self.deb, 'Depends'))
        names = {name for name, op, version in depends}
        linked = 'libpython3.11-dbg' if ABI else 'libpython3.11-dev'
        for name in (linked, 'libpython3.11-stdlib', 'libpython3.11-minimal'):
            self.assertIn(name, names)
        for name, op, version in depends:
            with self.subTest(name=name):
                self.assertEqual(installed_version(name) is not None, True)
                if name.startswith('libpython3.11'):
                    # Exactly what the interpreter was linked against.
                    self.assertEqual((op, version),
                                     ('=', installed_version(name)))
                else:
                    self.assertIn(op, ('=', '>='))
                    run(['dpkg', '--compare-versions', installed_version(name),
                         'ge', version])

    def test_contents_beside_the_distro(self):
        listing = run(['dpkg-deb', '--contents', self.deb]).stdout
        paths = [line.split()[5][1:].split(' -> ')[0]
                 for line in listing.splitlines()]
        files = [p.rstrip('/') for p in paths if not p.endswith('/')]
        outside = [p for p in files
                   if not p.startswith(self.prefix + '/') and p != LAUNCHER]
        self.assertEqual(outside, [])
        self.assertIn(f'{self.prefix}/bin/python3.11{ABI}', files)
        self.assertIn(f'{self.prefix}/lib/python3.11/asyncio/tasks.py', files)
        # Neither the prefix nor the launcher is any other package's.
        for path in (self.prefix, LAUNCHER):
            result = subprocess.run(['dpkg-query', '-S', path],
                                    capture_output=True, text=True)
            if result.returncode == 0:
                self.assertEqual(result.stdout.split(':')[0], PACKAGE, path)

    def test_install_run_remove(self):
        if os.getuid() != 0:
            self.skipTest('dpkg needs root to install')
        if MODE == 'system':
            self.install_on_this_machine()
        else:
            self.install_into_scratch_root()

    def check_installed(self, python, root):
        """The installed interpreter: its test_asyncio, a venv with pip,
        and nothing written into the package's files."""
        before = helpers.file_times(root + self.prefix)
        out = run([python, '-c', 'import sys, asyncio; print(sys.prefix); '
                   'print(asyncio.__file__); print(sys.version)'],
                  cwd=self.tmp).stdout.splitlines()
        stdlib = f'{root}{self.prefix}/lib/python3.11'
        self.assertEqual(out, [root + self.prefix,
                               f'{stdlib}/asyncio/__init__.py', sys.version])
        result = run([python, '-m', 'test', 'test_asyncio', '-j2'],
                     cwd=self.tmp, check=False, timeout=3600)
        self.assertTrue(helpers.suite_passed(result), result.stdout[-6000:])
        env_dir = os.path.join(self.tmp, 'venv')
        run([python, '-m', 'venv', env_dir], cwd=self.tmp)
        venv_python = os.path.join(env_dir, 'bin', 'python')
        out = run([venv_python, '-c', 'import sys, _asyncio; '
                   'print(sys.base_prefix); '
                   'print("_asyncio" in sys.builtin_module_names)'],
                  cwd=self.tmp).stdout.split()
        self.assertEqual(out, [root + self.prefix, 'True'])
        run([venv_python, '-m', 'pip', '--version'], cwd=self.tmp)
        shutil.rmtree(env_dir)
        self.assertEqual(helpers.changed_files(
            before, helpers.file_times(root + self.prefix)), [])

    def install_into_scratch_root(self):
        root = os.path.join(self.tmp, 'root')
        admin = os.path.join(root, 'var', 'lib', 'dpkg')
        os.makedirs(os.path.join(admin, 'info'))
        os.makedirs(os.path.join(admin, 'updates'))
        open(os.path.join(admin, 'status'), 'w').close()
        dpkg = ['dpkg', f'--root={root}']
        # The scratch database knows none of the distro's packages;
        # test_control checks the dependencies against this machine's.
        run([*dpkg, '--force-depends', '--install', self.deb])
        launcher = os.path.join(root, LAUNCHER.lstrip('/'))
        with open(launcher) as f:
            self.assertIn(f'exec {self.prefix}/bin/python3.11{ABI} "$@"',
                          f.read())
        self.check_installed(os.path.join(root + self.prefix, 'bin',
                                          f'python3.11{ABI}'), root)
        run([*dpkg, '--purge', PACKAGE])
        left = [os.path.join(d, n) for d, dirs, names in os.walk(root)
                for n in dirs + names]
        self.assertEqual([p for p in left if not p.startswith(admin)],
                         [os.path.join(root, 'var'),
                          os.path.join(root, 'var', 'lib')])

    def install_on_this_machine(self):
        if installed_version(PACKAGE) is not None:
            self.skipTest(f'{PACKAGE} is already installed here')
        verify_before = run(['dpkg', '--verify', *DISTRO_PYTHON],
                            check=False).stdout
        run(['dpkg', '--install', self.deb])
        try:
            self.check_installed(LAUNCHER, '')
        finally:
            run(['dpkg', '--purge', PACKAGE])
        self.assertIsNone(installed_version(PACKAGE))
        self.assertFalse(os.path.lexists(self.prefix))
        self.assertFalse(os.path.lexists(LAUNCHER))
        self.assertEqual(run(['dpkg', '--verify', *DISTRO_PYTHON],
                             check=False).stdout, verify_before)


if __name__ == '__main__':
    unittest.main()
