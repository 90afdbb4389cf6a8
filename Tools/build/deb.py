"""Make a Debian package of an installed tree (`make deb`).

    deb.py --root DIR --prefix P --library A --out OUTDIR [--abiflags d]

DIR holds `make altinstall DESTDIR=DIR prefix=P`.  The package installs
the fork beside the distro's Python without replacing any of its files:
everything lives under P (/opt/python3.11-asyncio-fork by default), and
the launcher /usr/bin/python3.11-asyncio-fork runs P/bin/python3.11.  The
launcher is a script, not a link: a link would make sys.executable
/usr/bin/..., and a venv made from it would find the distro's stdlib in
/usr/lib/python3.11 instead of the fork's.

The tree links to the distro's extension modules, headers and
sitecustomize, and the interpreter is Debian's libpython3.11.a: it works
with exactly the distro packages it was built against, so Depends pins
each of them with "=" (the shared libraries the interpreter loads and the
wheels venv installs pip from only need ">=").  Nothing here needs the
network or root: dpkg-deb --root-owner-group writes the files as root's.
"""

import argparse
import glob
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prefix as prefix_py  # noqa: E402  (FORK_NAME, commit(), git())

PACKAGE = 'python3.11{abiflags}-asyncio-fork'
WHEELS = '/usr/share/python-wheels'


def fail(msg):
    sys.exit(f'deb.py: {msg}')


def run(*args):
    return subprocess.run(args, capture_output=True, text=True,
                          check=True).stdout


def owners(paths):
    """{package: [path...]} for the distro files among paths."""
    found = {}
    for path in paths:
        # With merged /usr, dpkg may know a file only by its other name.
        for name in dict.fromkeys([path, os.path.realpath(path)]):
            result = subprocess.run(['dpkg-query', '-S', name],
                                    capture_output=True, text=True)
            if result.returncode == 0:
                break
        else:
            fail(f'{path} belongs to no installed package')
        for line in result.stdout.splitlines():
            pkgs, _, _ = line.partition(': ')
            for pkg in pkgs.split(', '):
                found.setdefault(pkg.split(':')[0], []).append(path)
    return found


def version_of(package):
    return run('dpkg-query', '-W', '-f=${Version}', package).strip()


def outside_links(root):
    """The targets of the tree's links that point out of the package."""
    targets = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                target = os.readlink(path)
                if os.path.isabs(target):
                    if not os.path.exists(target):
                        fail(f'{path} points to {target}, which is missing')
                    targets.add(target)
    return sorted(targets)


def shared_libraries(binary):
    libs = []
    for line in run('ldd', binary).splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == '=>' and parts[2].startswith('/'):
            libs.append(parts[2])
    return libs


def source_of(package):
    return run('dpkg-query', '-W', '-f=${source:Package}', package).strip()


def relations(root, prefix, library):
    """(Depends, Recommends) of the package.

    What comes from the source package of the library the interpreter is
    linked from (python3.11: the extension modules, headers and
    sitecustomize the tree links to) must be that exact version.  An
    extension module of another package in lib-dynload (_tkinter of
    python3-tk) is only recommended: without it that import fails, as on
    the stock interpreter.
    """
    library_packages = owners([library])
    source = source_of(next(iter(library_packages)))
    exact, optional = dict.fromkeys(library_packages), {}
    for target in outside_links(root):
        # A directory (the headers) is listed by every package with files
        # in it; pyconfig.h is the interpreter's own.
        if os.path.isdir(target):
            target = os.path.join(target, 'pyconfig.h')
        for pkg in owners([target]):
            (exact if source_of(pkg) == source else optional)[pkg] = None
    at_least = dict.fromkeys(owners(shared_libraries(
        os.path.join(root, prefix.lstrip('/'), 'bin', 'python3.11'))))
    if os.path.isdir(os.path.join(root, prefix.lstrip('/'), 'lib',
                                  'python3.11', 'ensurepip')):
        # venv installs pip from the distro's wheels.
        at_least.update(dict.fromkeys(owners(
            glob.glob(os.path.join(WHEELS, '*.whl')))))
    depends = {pkg: f'{pkg} (= {version_of(pkg)})' for pkg in exact}
    for pkg in at_least:
        depends.setdefault(pkg, f'{pkg} (>= {version_of(pkg)})')
    recommends = [f'{pkg} (>= {version_of(pkg)})' for pkg in sorted(optional)
                  if pkg not in depends]
    return (', '.join(depends[pkg] for pkg in sorted(depends)),
            ', '.join(recommends))


def package_version(library_package):
    """The distro's version with the fork's commit: 3.11.2-6+deb12u9
    +fork.412.g0123456789 (the commit count keeps later builds later)."""
    count = prefix_py.git('rev-list', '--count', 'HEAD') or '0'
    commit = prefix_py.commit().replace('-dirty', '.dirty')
    return f'{version_of(library_package)}+fork.{count}.g{commit}'


def maintainer():
    name = prefix_py.git('config', 'user.name') or 'asyncio fork'
    email = prefix_py.git('config', 'user.email') or 'root@localhost'
    return f'{name} <{email}>'


def md5sums(root):
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != 'DEBIAN')
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            with open(path, 'rb') as f:
                digest = hashlib.md5(f.read()).hexdigest()
            lines.append(f'{digest}  {os.path.relpath(path, root)}\n')
    return ''.join(lines)


def installed_size(root):
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return (total + 1023) // 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', required=True)
    parser.add_argument('--prefix', required=True)
    parser.add_argument('--library', required=True,
                        help="Debian's libpython3.11.a the interpreter links")
    parser.add_argument('--abiflags', default='')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    name = PACKAGE.format(abiflags=args.abiflags)

    launcher = os.path.join(root, 'usr', 'bin', name)
    os.makedirs(os.path.dirname(launcher), exist_ok=True)
    prefix_py.write_script(launcher, (
        '#!/bin/sh\n'
        f'# The asyncio fork of Python 3.11, installed in {args.prefix}.\n'
        f'exec {args.prefix}/bin/python3.11{args.abiflags} "$@"\n'))

    library_package = next(iter(owners([args.library])))
    depends, recommends = relations(root, args.prefix, args.library)
    arch = run('dpkg', '--print-architecture').strip()
    version = package_version(library_package)
    control = (
        f'Package: {name}\n'
        f'Version: {version}\n'
        f'Architecture: {arch}\n'
        f'Maintainer: {maintainer()}\n'
        f'Installed-Size: {installed_size(root)}\n'
        f'Depends: {depends}\n'
        + (f'Recommends: {recommends}\n' if recommends else '') +
        'Section: python\n'
        'Priority: optional\n'
        'Description: Python 3.11 with asyncio\'s core in C '
        f'({prefix_py.FORK_NAME})\n'
        ' Debian\'s Python 3.11 interpreter with the asyncio fork\'s\n'
        ' _asyncio built in (Future, Task, Handle and the event loop\'s hot\n'
        ' path in C)'
        ' and its patched standard library.  It is installed in\n'
        f' {args.prefix}, beside the distro\'s Python,\n'
        f' and runs as {name}.\n')
    debian = os.path.join(root, 'DEBIAN')
    os.makedirs(debian, exist_ok=True)
    with open(os.path.join(debian, 'control'), 'w') as f:
        f.write(control)
    with open(os.path.join(debian, 'md5sums'), 'w') as f:
        f.write(md5sums(root))

    os.makedirs(args.out, exist_ok=True)
    deb = os.path.join(args.out, f'{name}_{version}_{arch}.deb')
    subprocess.run(['dpkg-deb', '--root-owner-group', '-Zzstd', '--build',
                    root, deb], check=True, stdout=subprocess.DEVNULL)
    print(deb)


if __name__ == '__main__':
    main()
