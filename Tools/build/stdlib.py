"""Stage the fork's standard library and keep its patch series in step.

./python runs from a prefix laid out like /usr, the build directory (the
repository root, or the directory configure ran in):

    build/python                    the interpreter (./python links to it)
    lib/python3.11/                 a copy of Debian's stdlib with patches/
                                    applied and the repository's Lib/ files
                                    linked in
    lib/python3.11/lib-dynload      links to Debian's extension modules
    lib/.staged                     what the copy was made from (JSON)

prefix.py adds what depends on the flavour built (sysconfig data, the
config directory, include/, the link to Debian's dist-packages).  CPython's
getpath looks for lib/python3.11/os.py from the real executable's
directory upwards, so ./python, build/python, build-debug/python and a venv
made by any of them (whose home is the build directory) all get the build
directory as their prefix and share one copy: an edit to a staged file is
seen by the release and the debug interpreter alike.

The stdlib is a copy, not links, so that editing a staged file can never
write through to /usr.  Patches are unified diffs with CPython-tree paths
(a/Lib/asyncio/tasks.py), listed in order in patches/series.  The copy
leaves out Debian's own build descriptions (config-3.11*, _sysconfigdata_*),
the stock _asyncio extension and Debian's EXTERNALLY-MANAGED marker (the
fork's prefix is the user's own); the files the series changes are
byte-compiled again, so that no start has to recompile them.

lib/.staged records a hash of every staged .py file as the copy left it;
a file whose content differs is an edit, whatever its modification time.
A re-stage (the series or the distro's stdlib changed) refuses to run
over edits that are not in patches/.

Commands:
    stage    [--prefix DIR]       (re)build the staged copy (default .);
                                  cheap when only Lib/ files were added
    refresh  [--prefix DIR] [PATCH [FILE...]]
                                  rewrite the series from the edited copy

refresh follows quilt's rule: an edited file's changes go to the last patch
of the series that touches it; FILEs (paths like Lib/asyncio/events.py) that
no patch touches yet are added to PATCH, which is created and appended to
the series if it does not exist.
"""

import argparse
import compileall
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISTRO = '/usr/lib/python3.11'
PREFIX = STAGED = STAMP = None   # set by use_prefix()
PATCHES = os.path.join(ROOT, 'patches')
SERIES = os.path.join(PATCHES, 'series')
# Distro files the staged copy must not offer: the stock C accelerator would
# shadow nothing (built-ins win) but could still be loaded by file name.
EXCLUDED_DYNLOAD = re.compile(r'^_asyncio\.')
# Descriptions of the distro's own builds; prefix.py writes ours per flavour.
FLAVOUR_FILES = re.compile(r'^(config-3\.11.*|_sysconfigdata_.*\.py)$')
LEFT_OUT = {'lib-dynload', 'EXTERNALLY-MANAGED'}

FILE_HEADER = re.compile(r'^--- a/(Lib/\S+)')


def use_prefix(prefix):
    global PREFIX, STAGED, STAMP
    PREFIX = os.path.abspath(prefix)
    STAGED = os.path.join(PREFIX, 'lib', 'python3.11')
    STAMP = os.path.join(PREFIX, 'lib', '.staged')


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

def file_hash(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def staged_sources(staged):
    """The staged .py files that are copies (not links), by Lib/ path."""
    for dirpath, dirnames, filenames in os.walk(staged):
        dirnames[:] = [d for d in dirnames
                       if d not in ('__pycache__', 'lib-dynload')
                       and not FLAVOUR_FILES.match(d)]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if (name.endswith('.py') and not FLAVOUR_FILES.match(name)
                    and not os.path.islink(path)):
                yield 'Lib/' + os.path.relpath(path, staged), path


def read_stamp():
    if not os.path.exists(STAMP):
        return {}
    with open(STAMP) as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        # Written before the stamp recorded hashes: only a series digest,
        # and edits were told by their modification times.
        return {'series': text.strip(), 'files': None,
                'mtime': os.stat(STAMP).st_mtime}


def write_stamp(stamp):
    with open(STAMP + '.new', 'w') as f:
        json.dump(stamp, f, indent=0, sort_keys=True)
    os.replace(STAMP + '.new', STAMP)


def edited_files(stamp):
    """Staged .py files whose content is not what staging or the last
    refresh left there (files the copy did not have count too)."""
    if not os.path.isdir(STAGED) or 'series' not in stamp:
        return []
    known = stamp['files']
    found = []
    for rel, path in staged_sources(STAGED):
        if known is None:
            edited = os.stat(path).st_mtime > stamp['mtime']
        else:
            edited = known.get(rel) != file_hash(path)
        if edited:
            found.append(rel)
    return sorted(found)


def distro_identity():
    """Changes when the distro's stdlib is upgraded or gains a package
    (python3.11-venv's ensurepip, python3-distutils...)."""
    return [os.stat(DISTRO).st_mtime_ns,
            os.stat(os.path.join(DISTRO, 'os.py')).st_mtime_ns]


def sync_dynload(staged):
    """lib-dynload: a link to each of Debian's extension modules (both ABI
    flavours, so that installing python3.11-dbg later is picked up)."""
    dynload = os.path.join(staged, 'lib-dynload')
    os.makedirs(dynload, exist_ok=True)
    source = os.path.join(DISTRO, 'lib-dynload')
    wanted = {name for name in os.listdir(source)
              if not EXCLUDED_DYNLOAD.match(name)}
    for name in os.listdir(dynload):
        if name not in wanted:
            os.unlink(os.path.join(dynload, name))
    for name in sorted(wanted - set(os.listdir(dynload))):
        os.symlink(os.path.join(source, name), os.path.join(dynload, name))


def anchor_links(copy):
    """Make the copy's relative links that leave it absolute (to the
    distro's targets), and drop those whose target is gone: a dangling
    link breaks copytree() in test_venv and `make install`."""
    for dirpath, dirnames, filenames in os.walk(copy):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                continue
            target = os.readlink(path)
            if os.path.isabs(target) or os.path.exists(path):
                if not os.path.exists(path):
                    os.unlink(path)
                continue
            distro_dir = os.path.join(DISTRO, os.path.relpath(dirpath, copy))
            resolved = os.path.normpath(os.path.join(distro_dir, target))
            os.unlink(path)
            if os.path.exists(resolved):
                os.symlink(resolved, path)


def copy_distro(dest):
    def ignore(directory, names):
        top = os.path.samefile(directory, DISTRO)
        return [n for n in names
                if top and (n in LEFT_OUT or FLAVOUR_FILES.match(n))]
    shutil.copytree(DISTRO, dest, symlinks=True, ignore=ignore)
    anchor_links(dest)


def compile_files(staged, relpaths):
    """Byte-compile the named files of the copy, so that their pyc match
    the patched source; Debian's pyc of the original are stale."""
    for rel in relpaths:
        path = os.path.join(staged, rel[len('Lib/'):])
        if os.path.exists(path) and path.endswith('.py'):
            if not compileall.compile_file(path, quiet=2, force=True):
                fail(f'{rel} does not compile')


def migrate_old_layout():
    """Checkouts made before the build directory became the prefix have
    lib -> build/lib; move the copy (and any edits in it) into place."""
    lib = os.path.join(PREFIX, 'lib')
    if os.path.islink(lib):
        old = os.path.realpath(lib)
        os.unlink(lib)
        if os.path.isdir(old):
            os.rename(old, lib)
            print(f'stdlib.py: moved {os.path.relpath(old, PREFIX)} to lib/')
            # Those are copies of Debian's, not prefix.py's.
            staged = os.path.join(lib, 'python3.11')
            for name in os.listdir(staged):
                path = os.path.join(staged, name)
                if FLAVOUR_FILES.match(name):
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)


def stage():
    migrate_old_layout()
    stamp = read_stamp()
    if (stamp.get('series') != series_digest() or not os.path.isdir(STAGED)
            or stamp.get('distro') != distro_identity()):
        edited = edited_files(stamp)
        if edited:
            fail('the staged stdlib has edits that are not in patches/:\n  '
                 + '\n  '.join(edited)
                 + '\nrun `make patches-refresh` to keep them, or remove '
                   f'{os.path.relpath(STAGED, os.getcwd())} to drop them')
        tmp = STAGED + '.new'
        shutil.rmtree(tmp, ignore_errors=True)
        copy_distro(tmp)
        patched = set()
        for patch in read_series():
            apply_patch(patch, tmp)
            patched.update(split_patch(patch)[1])
        compile_files(tmp, sorted(patched))
        if os.path.isdir(STAGED):
            # Keep the flavour files prefix.py wrote for each ABI built.
            for name in os.listdir(STAGED):
                if FLAVOUR_FILES.match(name):
                    os.rename(os.path.join(STAGED, name),
                              os.path.join(tmp, name))
            shutil.rmtree(STAGED)
        stamp = {'series': series_digest(), 'distro': distro_identity(),
                 'files': {rel: file_hash(path)
                           for rel, path in staged_sources(tmp)}}
        os.rename(tmp, STAGED)
        print(f'staged {os.path.relpath(STAGED, os.getcwd())} with '
              f'{len(read_series())} patch(es)')
    sync_dynload(STAGED)
    overlay_repo_lib()
    write_stamp(stamp)


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
    stamp = read_stamp()
    stray = [f for f in edited_files(stamp) if f not in owner]
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
    # Every edited file was one the series owns: the copy is now what the
    # series makes.
    stamp.update(series=series_digest(),
                 files={rel: file_hash(path)
                        for rel, path in staged_sources(STAGED)})
    write_stamp(stamp)
    if not changed:
        print('the series already matches the staged copy')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('stage')
    p.add_argument('--prefix', default='.')
    p = sub.add_parser('refresh')
    p.add_argument('--prefix', default='.')
    p.add_argument('patch', nargs='?')
    p.add_argument('files', nargs='*')
    args = parser.parse_args()
    use_prefix(args.prefix)
    if args.command == 'stage':
        stage()
    else:
        refresh(args.patch, args.files)


if __name__ == '__main__':
    main()
