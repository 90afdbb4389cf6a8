"""Stage the fork's standard library and keep its patch series in step.

./python runs from a staged prefix, build/, laid out like /usr:

    build/python                      the interpreter (./python links to it)
    build/lib/python3.11/             a copy of Debian's stdlib with patches/ applied
                                      and the repository's Lib/ files linked in
    build/lib/python3.11/lib-dynload  links to Debian's extension modules
    build/lib/python3/dist-packages   link to Debian's dist-packages
    build/include/python3.11          link to Debian's headers

CPython's getpath finds build/lib/python3.11/os.py beside the real
executable, so sys.prefix is build/ and the copy is imported instead of
/usr/lib/python3.11, while Debian's site.py still finds dist-packages
(uvloop, aiohttp) through the link.  A venv made by ./python records the
repository root as its home, so lib there links to build/lib too.

The stdlib is a copy, not links, so that editing a staged file can never
write through to /usr.  Patches are unified diffs with CPython-tree paths
(a/Lib/asyncio/tasks.py), listed in order in patches/series.

Commands:
    stage    [--build DIR] [--abiflags d]
                                  (re)build the staged prefix (default build/);
                                  cheap when only Lib/ files were added
    refresh  [PATCH [FILE...]]    rewrite the series from build/'s edited copy

refresh follows quilt's rule: an edited file's changes go to the last patch
of the series that touches it; FILEs (paths like Lib/asyncio/events.py) that
no patch touches yet are added to PATCH, which is created and appended to
the series if it does not exist.
"""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISTRO = '/usr/lib/python3.11'
BUILD = STAGED = STAMP = None   # set by use_build()
PATCHES = os.path.join(ROOT, 'patches')
SERIES = os.path.join(PATCHES, 'series')
# Distro files the staged copy must not offer: the stock C accelerator would
# shadow nothing (built-ins win) but could still be loaded by file name.
EXCLUDED_DYNLOAD = re.compile(r'^_asyncio\.')

FILE_HEADER = re.compile(r'^--- a/(Lib/\S+)')


def use_build(build):
    global BUILD, STAGED, STAMP
    BUILD = os.path.join(ROOT, build)
    STAGED = os.path.join(BUILD, 'lib', 'python3.11')
    STAMP = os.path.join(BUILD, 'lib', '.staged')


def fail(msg):
    sys.exit(f'stdlib.py: {msg}')


# --- the series ------------------------------------------------------------

def read_series():
    if not os.path.exists(SERIES):
        return []
    names = []
    with open(SERIES) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.append(os.path.join(PATCHES, line))
    return names


def split_patch(path):
    """Return (description, {Lib/path: hunk text}) of a patch file."""
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    desc, files, current = [], {}, None
    for line in lines:
        m = FILE_HEADER.match(line)
        if m:
            current = m.group(1)
            files[current] = []
        if current is None:
            desc.append(line)
        else:
            files[current].append(line)
    return ''.join(desc), {k: ''.join(v) for k, v in files.items()}


def write_patch(path, desc, files):
    with open(path, 'w') as f:
        f.write(desc)
        for name in sorted(files):
            f.write(files[name])


def series_digest():
    h = hashlib.sha256()
    for path in [SERIES] + read_series():
        if os.path.exists(path):
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def apply_patch(patch, libdir):
    """Apply one patch (CPython paths) to a directory laid out like Lib/."""
    result = subprocess.run(
        ['patch', '-p2', '--batch', '--forward', '--no-backup-if-mismatch',
         '--quiet', '-d', libdir, '-i', patch],
        capture_output=True, text=True)
    if result.returncode:
        fail(f'{os.path.relpath(patch, ROOT)} does not apply:\n'
             f'{result.stdout}{result.stderr}')


# --- stage -----------------------------------------------------------------

def edited_files():
    """Staged .py files changed since the last stage or refresh."""
    if not os.path.exists(STAMP):
        return []
    stamp = os.stat(STAMP).st_mtime
    found = []
    for dirpath, dirnames, filenames in os.walk(STAGED):
        dirnames[:] = [d for d in dirnames
                       if d not in ('__pycache__', 'lib-dynload')]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if (name.endswith('.py') and not os.path.islink(path)
                    and os.stat(path).st_mtime > stamp):
                found.append('Lib/' + os.path.relpath(path, STAGED))
    return sorted(found)


def link_dynload(staged):
    dynload = os.path.join(staged, 'lib-dynload')
    os.mkdir(dynload)
    for name in sorted(os.listdir(os.path.join(DISTRO, 'lib-dynload'))):
        if not EXCLUDED_DYNLOAD.match(name):
            os.symlink(os.path.join(DISTRO, 'lib-dynload', name),
                       os.path.join(dynload, name))


def link_prefix(abiflags):
    """The links that make build/ a prefix Debian's site.py understands."""
    links = {
        os.path.join(BUILD, 'lib', 'python3', 'dist-packages'):
            '/usr/lib/python3/dist-packages',
        os.path.join(BUILD, 'local', 'lib', 'python3.11', 'dist-packages'):
            '/usr/local/lib/python3.11/dist-packages',
        os.path.join(BUILD, 'include', 'python3.11' + abiflags):
            '/usr/include/python3.11' + abiflags,
    }
    if os.path.basename(BUILD) == 'build':
        links[os.path.join(ROOT, 'lib')] = os.path.join('build', 'lib')
    for link, target in links.items():
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)


def overlay_repo_lib():
    """Link the repository's own Lib/ files (new tests) into the copy.

    A repository file may only add to the stdlib: one that would replace a
    distro file is refused, since stdlib changes belong in patches/.
    """
    libroot = os.path.join(ROOT, 'Lib')
    for dirpath, dirnames, filenames in os.walk(libroot):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        for name in filenames:
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, libroot)
            if os.path.exists(os.path.join(DISTRO, rel)):
                fail(f'Lib/{rel} would replace a distro stdlib file; '
                     f'put the change in a patch instead')
            dest = os.path.join(STAGED, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.islink(dest) and os.readlink(dest) == src:
                continue
            if os.path.lexists(dest):
                os.unlink(dest)
            os.symlink(src, dest)
    # Drop links to repository files that no longer exist.
    for dirpath, dirnames, filenames in os.walk(STAGED):
        dirnames[:] = [d for d in dirnames if d != 'lib-dynload']
        for name in filenames:
            path = os.path.join(dirpath, name)
            if (os.path.islink(path)
                    and os.readlink(path).startswith(libroot + os.sep)
                    and not os.path.exists(path)):
                os.unlink(path)


def write_stamp():
    """Record that the staged copy matches the series as it is now."""
    with open(STAMP, 'w') as f:
        f.write(series_digest() + '\n')


def stage(abiflags):
    # The copy is the same for both ABI flavours; only link_prefix() differs.
    current = None
    if os.path.exists(STAMP):
        with open(STAMP) as f:
            current = f.read().strip()
    if current != series_digest() or not os.path.isdir(STAGED):
        edited = edited_files()
        if edited:
            fail('the staged stdlib has edits that are not in patches/:\n  '
                 + '\n  '.join(edited)
                 + '\nrun `make patches-refresh` to keep them, or remove '
                   'build/lib to drop them')
        tmp = STAGED + '.new'
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(DISTRO, tmp, symlinks=True,
                        ignore=shutil.ignore_patterns('lib-dynload'))
        link_dynload(tmp)
        for patch in read_series():
            apply_patch(patch, tmp)
        shutil.rmtree(STAGED, ignore_errors=True)
        os.rename(tmp, STAGED)
        print(f'staged {os.path.relpath(STAGED, ROOT)} with '
              f'{len(read_series())} patch(es)')
    link_prefix(abiflags)
    overlay_repo_lib()
    write_stamp()


# --- refresh ---------------------------------------------------------------

def base_text(relpath, patches):
    """The distro file with the given patches applied (those touching it)."""
    src = os.path.join(DISTRO, relpath[len('Lib/'):])
    with tempfile.TemporaryDirectory() as tmp:
        dest = os.path.join(tmp, relpath[len('Lib/'):])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.exists(src):
            shutil.copyfile(src, dest)
        for patch in patches:
            _, files = split_patch(patch)
            if relpath in files:
                with tempfile.NamedTemporaryFile('w', suffix='.patch') as one:
                    one.write(files[relpath])
                    one.flush()
                    apply_patch(one.name, tmp)
        with open(dest) as f:
            return f.read()


def file_diff(relpath, old_text, new_path):
    with tempfile.NamedTemporaryFile('w', suffix='.py') as old:
        old.write(old_text)
        old.flush()
        result = subprocess.run(
            ['diff', '-u', '--label', 'a/' + relpath, '--label', 'b/' + relpath,
             old.name, new_path], capture_output=True, text=True)
    if result.returncode > 1:
        fail(result.stderr)
    return result.stdout


def refresh(patch_name, new_files):
    series = read_series()
    owner = {}  # file -> index of the last patch touching it
    for i, patch in enumerate(series):
        for relpath in split_patch(patch)[1]:
            owner[relpath] = i
    target = None
    if patch_name:
        target = os.path.join(PATCHES, os.path.basename(patch_name))
        if target not in series:
            with open(target, 'w') as f:
                f.write(f'{os.path.basename(target)}: describe the change here\n\n')
            with open(SERIES, 'a') as f:
                f.write(os.path.basename(target) + '\n')
            series.append(target)
    for relpath in new_files:
        if relpath not in owner:
            if target is None:
                fail(f'{relpath} is in no patch: name one with PATCH=')
            owner[relpath] = series.index(target)
    stray = [f for f in edited_files() if f not in owner]
    if stray:
        fail('edited files that no patch touches (name them with PATCH= '
             'and FILES=):\n  ' + '\n  '.join(stray))

    changed = 0
    for i, patch in enumerate(series):
        desc, files = split_patch(patch)
        mine = [f for f, j in owner.items() if j == i]
        for relpath in mine:
            staged = os.path.join(STAGED, relpath[len('Lib/'):])
            hunk = file_diff(relpath, base_text(relpath, series[:i]), staged)
            if hunk:
                files[relpath] = hunk
            else:
                files.pop(relpath, None)
        old = open(patch).read()
        write_patch(patch, desc, files)
        if open(patch).read() != old:
            changed += 1
            print(f'refreshed {os.path.relpath(patch, ROOT)}')
    write_stamp()
    if not changed:
        print('the series already matches the staged copy')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('stage')
    p.add_argument('--build', default='build')
    p.add_argument('--abiflags', default='')
    p = sub.add_parser('refresh')
    p.add_argument('patch', nargs='?')
    p.add_argument('files', nargs='*')
    args = parser.parse_args()
    use_build(getattr(args, 'build', 'build'))
    if args.command == 'stage':
        stage(args.abiflags)
    else:
        refresh(args.patch, args.files)


if __name__ == '__main__':
    main()
