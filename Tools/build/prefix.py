"""Lay out a prefix for the fork's interpreter: the build directory's own
(`make`) and an installed one (`make install`, `make altinstall`).

A prefix is laid out as CPython's `make install` lays one out:

    bin/python3.11                  the interpreter (installed prefixes)
    bin/python3.11-config, pydoc3.11
    lib/python3.11/                 the staged stdlib (Tools/build/stdlib.py)
    lib/python3.11/_sysconfigdata_{abiflags}_{multiarch}.py
                                    sysconfig's data for this interpreter: a
                                    static one (Py_ENABLE_SHARED 0, LDLIBRARY
                                    libpython3.11.a) in this prefix
    lib/python3.11/config-3.11{abiflags}-{multiarch}/
                                    LIBPL: the library the interpreter is made
                                    of (Debian's with our objects), config.c,
                                    python.o, makesetup, python-config.py
    lib/python3/dist-packages/distro-dist-packages.pth
                                    puts Debian's dist-packages (uvloop,
                                    aiohttp...) on sys.path after the fork's
                                    own site directories
    include/python3.11{abiflags}    a link to Debian's headers

lib-dynload holds links to Debian's extension modules and include/ links to
Debian's headers: they match the libpython3.11.a the interpreter is linked
from only as long as the distro packages keep their version, which the
Debian package (deb.py) pins.

Commands:
    buildinfo FILE                  write the header naming the fork's commit
                                    (only when it changes)
    flavour --prefix DIR ...        the flavour files of the build directory
    install --destdir D --prefix P [--unversioned] ...
                                    copy the build directory's prefix to D+P,
                                    with no link back into the checkout
"""

import argparse
import compileall
import os
import pprint
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stdlib  # noqa: E402  (ROOT, DISTRO, the staged copy's rules)

ROOT = stdlib.ROOT
DISTRO = stdlib.DISTRO
FORK_NAME = 'asyncio-fork'
DISTRO_SITE = '/usr'          # the prefix whose dist-packages the fork adds
SITE_PTH = 'distro-dist-packages.pth'
# Files of the distro's LIBPL that a config directory of CPython's holds too.
LIBPL_FILES = ['Makefile', 'Setup', 'Setup.bootstrap', 'Setup.local',
               'Setup.stdlib', 'config.c.in', 'install-sh', 'makesetup',
               'python-config.py', 'python.o']
# Not byte-compiled on install (CPython's list): files that are not Python
# on purpose.
COMPILE_EXCLUDE = r'bad_coding|badsyntax|site-packages|lib2to3/tests/data'


def fail(msg):
    sys.exit(f'prefix.py: {msg}')


# --- what the fork is ------------------------------------------------------

def git(*args):
    try:
        return subprocess.run(['git', '-C', ROOT, *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def commit():
    """The checkout's commit, with -dirty if tracked files are changed;
    'unknown' outside a git checkout."""
    head = git('rev-parse', '--short=10', 'HEAD')
    if head is None:
        return 'unknown'
    if git('status', '--porcelain', '--untracked-files=no'):
        head += '-dirty'
    return head


def write_if_changed(path, text):
    """Write only a changed text, so that make rebuilds only what uses it."""
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path + '.new', 'w') as f:
        f.write(text)
    os.replace(path + '.new', path)


def buildinfo(path):
    write_if_changed(path, (
        '/* Written by Tools/build/prefix.py for Tools/build/buildinfo.c. */\n'
        f'#define FORK_GITID "{FORK_NAME}"\n'
        f'#define FORK_GITVERSION "{commit()}"\n'))


# --- the flavour files -----------------------------------------------------

class Flavour:
    """One ABI flavour of the interpreter as configure described it."""

    def __init__(self, args):
        self.abiflags = args.abiflags
        self.multiarch = args.multiarch
        self.distro_libpl = args.libpl
        self.library = args.library
        self.config_c = args.config_c
        self.libs = args.libs
        self.linkforshared = args.linkforshared
        self.config_args = args.config_args

    @property
    def sysconfigdata(self):
        return f'_sysconfigdata_{self.abiflags}_{self.multiarch}.py'

    @property
    def libpl_name(self):
        return f'config-3.11{self.abiflags}-{self.multiarch}'

    @property
    def include_name(self):
        return f'python3.11{self.abiflags}'

    def distro_vars(self):
        namespace = {}
        with open(os.path.join(DISTRO, self.sysconfigdata)) as f:
            exec(f.read(), namespace)
        return namespace['build_time_vars']

    def build_vars(self, prefix):
        """Debian's build_time_vars with what differs for this interpreter
        installed in prefix: the paths, and a static libpython."""
        v = dict(self.distro_vars())
        lib = f'{prefix}/lib'
        libdest = f'{lib}/python3.11'
        include = f'{prefix}/include'
        # Where the headers are: prefix/include only links to them, and a
        # DESTDIR or relocated tree (setuptools builds from INCLUDEPY) then
        # builds extensions as well.
        includepy = f'/usr/include/{self.include_name}'
        library = os.path.basename(self.library)
        v.update({
            'prefix': prefix, 'exec_prefix': prefix,
            'BINDIR': f'{prefix}/bin', 'LIBDIR': lib, 'SCRIPTDIR': lib,
            'LIBDEST': libdest, 'DESTLIB': libdest, 'BINLIBDEST': libdest,
            'MACHDESTLIB': libdest, 'DESTSHARED': f'{libdest}/lib-dynload',
            'LIBPL': f'{libdest}/{self.libpl_name}',
            'LIBPC': f'{lib}/pkgconfig',
            'INCLUDEDIR': include, 'CONFINCLUDEDIR': include,
            'INCLUDEPY': includepy, 'CONFINCLUDEPY': includepy,
            'INCLDIRSTOMAKE': f'{include} {include} {includepy} {includepy}',
            'DESTDIRS': f'{prefix} {lib} {libdest} {libdest}/lib-dynload',
            'datarootdir': f'{prefix}/share', 'MANDIR': f'{prefix}/share/man',
            'Py_ENABLE_SHARED': 0, 'PY_ENABLE_SHARED': 0,
            'LIBRARY': library, 'LDLIBRARY': library, 'BLDLIBRARY': library,
            'INSTSONAME': library, 'LIBRARY_DEPS': library,
            'LDLIBRARYDIR': '', 'PY3LIBRARY': '', 'RUNSHARED': '',
            'LIBS': self.libs, 'CONFIG_ARGS': self.config_args,
            # How a program embedding the library links (test_fork_install):
            # the archive is not position-independent, and extension modules
            # take the C API from the executable.
            'LINKFORSHARED': self.linkforshared,
        })
        # _asyncio is built in, not a shared module in lib-dynload.
        shared = v['MODSHARED_NAMES'].split()
        if '_asyncio' in shared:
            shared.remove('_asyncio')
            v['MODSHARED_NAMES'] = ' '.join(shared)
            v['MODBUILT_NAMES'] += ' _asyncio'
        return v

    def write(self, root, prefix, link_library, distro_packages):
        """The flavour files of the prefix at root, which will be used from
        prefix (root differs for a DESTDIR install)."""
        libdest = os.path.join(root, 'lib', 'python3.11')
        data = os.path.join(libdest, self.sysconfigdata)
        # Always written: it is make's target for the whole flavour.
        text = pprint.pformat(self.build_vars(prefix))
        with open(data, 'w') as f:
            f.write('# sysconfig data of the asyncio fork\'s interpreter, '
                    'written by\n# Tools/build/prefix.py from Debian\'s.\n'
                    f'build_time_vars = {text}\n')
        compileall.compile_file(data, quiet=2)

        libpl = os.path.join(libdest, self.libpl_name)
        os.makedirs(libpl, exist_ok=True)
        library = os.path.join(libpl, os.path.basename(self.library))
        ours = LIBPL_FILES + ['config.c', os.path.basename(library),
                              '__pycache__']
        for name in os.listdir(libpl):
            # Such as Debian's libpython3.11.so link, which is not ours.
            path = os.path.join(libpl, name)
            if name in ours:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        for name in LIBPL_FILES:
            copy_file(os.path.join(self.distro_libpl, name),
                      os.path.join(libpl, name))
        copy_file(self.config_c, os.path.join(libpl, 'config.c'))
        if link_library:
            replace_link(os.path.abspath(self.library), library)
        else:
            copy_file(self.library, library)

        replace_link(f'/usr/include/{self.include_name}',
                     os.path.join(root, 'include', self.include_name))

        site = os.path.join(root, 'lib', 'python3', 'dist-packages')
        if os.path.islink(site):     # the link of an older layout
            os.unlink(site)
        # The prefix's own site directory, the one Debian's site.py looks
        # for first after local/ (it holds nothing else).
        os.makedirs(site, exist_ok=True)
        pth = os.path.join(site, SITE_PTH)
        if distro_packages:
            write_if_changed(pth, (
                f'# Debian\'s dist-packages, as {DISTRO_SITE}/bin/python3.11 '
                'sees them: delete this file to leave them out.\n'
                # One line, run by exec() in site.addpackage(): no
                # comprehension, whose scope would not see the imports.
                'import os, site; list(map(site.addsitedir, filter(os.path.'
                f'isdir, site.getsitepackages([{DISTRO_SITE!r}]))))\n'))
        elif os.path.exists(pth):
            os.unlink(pth)


def copy_file(src, dest):
    """Copy with the source's times (a copied pyc stays valid), replacing
    dest even if it is a link or a running program."""
    tmp = dest + '.new'
    if os.path.lexists(tmp):
        os.unlink(tmp)
    shutil.copy2(src, tmp)
    os.replace(tmp, dest)


def replace_link(target, link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.lexists(link) and not (os.path.islink(link)
                                      and os.readlink(link) == target):
        if os.path.isdir(link) and not os.path.islink(link):
            shutil.rmtree(link)
        else:
            os.unlink(link)
    if not os.path.lexists(link):
        os.symlink(target, link)


# --- install ---------------------------------------------------------------

def inside(path, *dirs):
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def copy_tree(src, dest, local_dirs, skip):
    """Copy the staged tree; links into local_dirs (the checkout and the
    build directory) become copies of what they point to, other links
    (into /usr and /etc) stay links."""
    os.makedirs(dest, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if skip(name):
            continue
        s, d = os.path.join(src, name), os.path.join(dest, name)
        if os.path.islink(s):
            target = os.path.realpath(s)
            if not inside(target, *local_dirs):
                replace_link(os.readlink(s), d)
                continue
            s = target
        if os.path.isdir(s):
            copy_tree(s, d, local_dirs, lambda name: False)
        else:
            if os.path.islink(d):
                os.unlink(d)
            elif os.path.isdir(d):
                shutil.rmtree(d)
            copy_file(s, d)


def write_script(path, text):
    with open(path + '.new', 'w') as f:
        f.write(text)
    os.chmod(path + '.new', 0o755)
    os.replace(path + '.new', path)


def install(args, flavour):
    prefix = os.path.normpath(args.prefix)
    if not os.path.isabs(prefix):
        fail(f'the prefix must be an absolute path, not {args.prefix!r}')
    dest = os.path.normpath(args.destdir + prefix) if args.destdir else prefix
    if os.path.exists(os.path.join(dest, 'lib', 'python3.11')) and \
            os.path.samefile(os.path.join(dest, 'lib', 'python3.11'), DISTRO):
        fail(f'{dest} is the distro\'s own prefix: choose another --prefix')
    build = os.path.abspath('.')
    stdlib.use_prefix(build)
    local = [os.path.realpath(ROOT), os.path.realpath(build)]
    if inside(os.path.realpath(stdlib.STAGED), os.path.realpath(dest)):
        fail(f'{dest} holds the build directory\'s own prefix')

    libdest = os.path.join(dest, 'lib', 'python3.11')
    copy_tree(stdlib.STAGED, libdest, local,
              lambda name: bool(stdlib.FLAVOUR_FILES.match(name))
              or name.endswith('.new'))
    flavour.write(dest, prefix, link_library=False,
                  distro_packages=args.distro_packages == 'yes')
    # The staged lib-dynload links both ABI flavours' modules; an installed
    # interpreter only loads its own.
    dynload = os.path.join(libdest, 'lib-dynload')
    tag = f'.cpython-311{flavour.abiflags}-'
    for name in os.listdir(dynload):
        if '.cpython-311' in name and tag not in name:
            os.unlink(os.path.join(dynload, name))

    bindir = os.path.join(dest, 'bin')
    os.makedirs(bindir, exist_ok=True)
    abi = flavour.abiflags
    python = f'python3.11{abi}'
    copy_file(args.python, os.path.join(bindir, python))
    os.chmod(os.path.join(bindir, python), 0o755)
    write_script(os.path.join(bindir, f'{python}-config'), (
        '#!/bin/sh\n'
        '# python-config of the asyncio fork: CPython\'s python-config.py,\n'
        '# run by the interpreter beside this script.\n'
        'bindir=$(dirname "$(readlink -f "$0")")\n'
        f'exec "$bindir/{python}" -I -S "$bindir/../lib/python3.11/'
        f'{flavour.libpl_name}/python-config.py" "$@"\n'))
    write_script(os.path.join(bindir, 'pydoc3.11'), (
        f'#!{prefix}/bin/{python}\n'
        'import pydoc\n'
        'if __name__ == \'__main__\':\n'
        '    pydoc.cli()\n'))
    links = {}
    if abi:
        links.update({'python3.11': python,
                      'python3.11-config': f'{python}-config'})
    if args.unversioned:
        links.update({'python3': 'python3.11', 'pydoc3': 'pydoc3.11',
                      'python3-config': 'python3.11-config'})
    for name, target in links.items():
        replace_link(target, os.path.join(bindir, name))

    # The stdlib's bytecode, by the installed interpreter (CPython's rule):
    # a read-only tree or PYTHONDONTWRITEBYTECODE never recompiles at start.
    result = subprocess.run(
        [os.path.join(bindir, python), '-I', '-S', '-m', 'compileall', '-q',
         '-j0', '-d', os.path.join(prefix, 'lib', 'python3.11'),
         '-x', COMPILE_EXCLUDE, libdest],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        fail('byte-compiling the installed stdlib failed:\n' + result.stdout)
    print(f'installed the fork in {dest}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('buildinfo')
    p.add_argument('path')
    for name in ('flavour', 'install'):
        p = sub.add_parser(name)
        p.add_argument('--prefix', required=True)
        p.add_argument('--abiflags', default='')
        p.add_argument('--multiarch', required=True)
        p.add_argument('--libpl', required=True, help="the distro's LIBPL")
        p.add_argument('--library', required=True,
                       help='the libpython3.11.a the interpreter is made of')
        p.add_argument('--config-c', required=True)
        p.add_argument('--libs', required=True)
        p.add_argument('--linkforshared', required=True,
                       help='how the interpreter itself was linked')
        p.add_argument('--config-args', default='')
        if name == 'install':
            p.add_argument('--destdir', default='')
            p.add_argument('--python', required=True)
            p.add_argument('--distro-packages', choices=('yes', 'no'),
                           default='yes')
            p.add_argument('--unversioned', action='store_true',
                           help='python3, python3-config and pydoc3 too')
    args = parser.parse_args()
    if args.command == 'buildinfo':
        buildinfo(args.path)
    elif args.command == 'flavour':
        Flavour(args).write(os.path.abspath(args.prefix),
                            os.path.abspath(args.prefix), link_library=True,
                            distro_packages=True)
    else:
        install(args, Flavour(args))


if __name__ == '__main__':
    main()
