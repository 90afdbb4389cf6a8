"""Write the fork's work as a patch series against CPython 3.11, and check it.

    generate [--out DIR]      write DIR/NNNN-*.patch (git format-patch) and
                              DIR/prepare.sh; default build/patches
    check [--out DIR] [--cc CMD] [--link CMD]
                              apply DIR as a core developer would, fail
                              loudly on anything that does not fit

What goes into which patch is Tools/patches/manifest.toml.  The patches are
made by git itself: a scratch repository gets the distro's version of every
stdlib file the series changes, then one commit per patch with that patch's
version of each file, and `git format-patch` writes them out.

The C module is a folder, Modules/_asyncio/, with a file per part; parts.h
lists the parts.  A patch adds the files of its parts (NAME.c, NAME.h),
and the files that list parts (parts.h, PCbuild/_asyncio.vcxproj and its
.filters) are written for each patch without their lines naming a part
that is not added yet.  The two upstream build files that name the
module's sources get one line each: the _asyncio line of
Modules/Setup.stdlib.in and MODULE__ASYNCIO_DEPS in Makefile.pre.in.  We
have never had those two files; their diffs are made against the lines
Debian's generated Setup.stdlib and Makefile show of them (the
MODULE_*_TRUE@ markers of Setup.stdlib.in put back) with one line of
context, the lines we can vouch for.

Upstream's tree already has Modules/_asynciomodule.c, its clinic header and
PCbuild/_asyncio.vcxproj(.filters), and a series cannot carry a diff from
contents it has never had: it adds files of ours, and prepare.sh removes
upstream's in a commit of their own first (README.md, "Sending the work
upstream").

Author: PATCH_AUTHOR ("Name <email>") or git's user.name and user.email;
a placeholder identity (an example or invalid domain) is refused.  Date:
the repository's HEAD, so the same commit always gives the same series.
Figures: Tools/bench/results.json, the committed full benchmark run.
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'Tools', 'build'))
import stdlib  # noqa: E402  (the stdlib overlay: series order, patch parsing)

MANIFEST = os.path.join(ROOT, 'Tools', 'patches', 'manifest.toml')
RESULTS = os.path.join(ROOT, 'Tools', 'bench', 'results.json')
DISTRO = stdlib.DISTRO
LIBPL = os.path.join(DISTRO, 'config-3.11-x86_64-linux-gnu')
SETUP = 'Modules/Setup.stdlib.in'
MAKEFILE = 'Makefile.pre.in'
NEWS_NAME = re.compile(
    r'^(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.gh-issue-(\d+)\.'
    r'([A-Za-z0-9_-]{6})\.rst$')


class SeriesError(Exception):
    pass


def fail(msg):
    raise SeriesError(msg)


def run(args, cwd=None, env=None, input=None):
    result = subprocess.run(args, cwd=cwd, env=env, input=input,
                            capture_output=True, text=True)
    if result.returncode:
        fail(f'{shlex.join(args)} failed (in {cwd or os.getcwd()}):\n'
             f'{result.stdout}{result.stderr}')
    return result.stdout


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


# --- the C module's parts --------------------------------------------------

PART_LINE = re.compile(r'PART\((\w+)\)')


def all_parts(c):
    """The parts in the order of parts.h."""
    return PART_LINE.findall(read(os.path.join(c['dir'], 'parts.h')))


def names_part(line, part):
    """Whether a line of a list file names the part: PART(NAME), or its
    NAME.c or NAME.h as a file name."""
    return bool(re.search(r'PART\(%s\)|(?<![\w])%s\.[ch]\b'
                          % (part, part), line))


def list_version(text, parts, added):
    """A list file without its lines naming a part not in `added`."""
    missing = [p for p in parts if p not in added]
    return ''.join(line for line in text.splitlines(keepends=True)
                   if not any(names_part(line, p) for p in missing))


def setup_line(added):
    sources = ' '.join(f'_asyncio/{name}.c' for name in ['module'] + added)
    return f'@MODULE__ASYNCIO_TRUE@_asyncio {sources}\n'


def deps_line(added):
    headers = ['module.h', 'parts.h'] + [f'{name}.h' for name in added]
    return ('MODULE__ASYNCIO_DEPS=' + ' '.join(
        f'$(srcdir)/Modules/_asyncio/{h}' for h in headers) + '\n')


def check_parts(patches, parts):
    """Every part in exactly one patch, in the order of parts.h."""
    claimed = [name for p in patches for name in p.get('parts', ())]
    unknown = [name for name in claimed if name not in parts]
    if unknown:
        fail(f'parts not in parts.h: {", ".join(unknown)}')
    if sorted(claimed) != sorted(parts) or len(set(claimed)) != len(claimed):
        fail('every part of parts.h must be in exactly one [[patch]]\'s '
             f'parts in {os.path.relpath(MANIFEST, ROOT)}')
    if claimed != parts:
        fail('the [[patch]]es add the parts out of the order of parts.h')


def c_files(c, added):
    """{path: text} of the module at a patch that has added `added`."""
    if not added:
        return {}
    files = {os.path.join(c['dir'], f): read(os.path.join(c['dir'], f))
             for f in c['common']}
    for name in added:
        for ext in ('.c', '.h'):
            rel = os.path.join(c['dir'], name + ext)
            files[rel] = read(rel)
    for rel in c['lists']:
        files[rel] = list_version(read(rel), all_parts(c), added)
    return files


# --- the two upstream build files, as far as we know them ------------------

def setup_base():
    """The part of Setup.stdlib.in around the _asyncio line: Debian's
    generated Setup.stdlib there, with the markers configure removed."""
    with open(os.path.join(LIBPL, 'Setup.stdlib')) as f:
        lines = f.read().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines)
                 if line.startswith('# Modules that should always be present'))
    block = []
    for line in lines[start - 2:]:
        if not line.strip() and block[-1:] and block[-1].startswith('@'):
            break
        name = line.split()[0] if line.strip() else ''
        if name and not line.startswith('#'):
            line = f'@MODULE_{name.upper()}_TRUE@{line}'
        block.append(line)
    return ''.join(block)


def makefile_base():
    """The module dependencies of Makefile.pre.in, as Debian's generated
    Makefile shows them."""
    with open(os.path.join(LIBPL, 'Makefile')) as f:
        text = f.read()
    block = text.split('# Module dependencies\n', 1)[1].split('\n\n', 2)
    return '# Module dependencies\n' + block[0] + '\n\n' + block[1] + '\n'


def setup_version(base, added):
    if not added:
        return base
    return re.sub(r'(?m)^@MODULE__ASYNCIO_TRUE@_asyncio .*\n',
                  lambda m: setup_line(added), base)


def makefile_version(base, added):
    if not added:
        return base
    lines = base.splitlines(keepends=True)
    new = deps_line(added)
    deps = [i for i, line in enumerate(lines) if line.startswith('MODULE_')]
    after = next((i for i in deps if lines[i] > new), deps[-1] + 1)
    return ''.join(lines[:after] + [new] + lines[after:])


# --- commit messages -------------------------------------------------------

PLACEHOLDER = re.compile(r'\{bench:([\w ]+?):([\w+]+)\}')


def load_results():
    try:
        with open(RESULTS) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f'no benchmark results for the messages ({e}): commit a full '
             f'run as {os.path.relpath(RESULTS, ROOT)} (make bench-save)')


def fill_figures(message, results):
    def sub(m):
        workload, alt = m.groups()
        cell = results.get('summary', {}).get(workload, {}).get(alt)
        if not cell or 'ratio' not in cell:
            fail(f'{m.group(0)}: no such figure in '
                 f'{os.path.relpath(RESULTS, ROOT)}')
        text = f'{cell["ratio"]:.2f}x'
        if 'spread' in cell:
            text += f' (±{cell["spread"] * 100:.0f}%)'
        return text
    return PLACEHOLDER.sub(sub, message)


def wrap_message(body):
    """Re-wrap each paragraph at 72 columns (figures change widths);
    indented paragraphs are kept as they are."""
    out = []
    for para in body.strip().split('\n\n'):
        if para.startswith(' ') or '\n ' in para:
            out.append(para)
        else:
            out.append(textwrap.fill(' '.join(para.split()), 72,
                                     break_on_hyphens=False,
                                     break_long_words=False))
    return '\n\n'.join(out) + '\n'


def subject_line(p):
    issue = p.get('upstream_issue')
    return f'gh-{issue}: {p["subject"]}' if issue else p['subject']


# --- NEWS -------------------------------------------------------------------

def check_news(path):
    """Blurb's file naming and the shape of an entry; the entry's text."""
    if not NEWS_NAME.match(os.path.basename(path)):
        fail(f'{path}: not a blurb file name '
             f'(YYYY-MM-DD-HH-MM-SS.gh-issue-NNNN.NONCE.rst)')
    text = read(path)
    if not text.strip() or not text.endswith('\n') or text.endswith('\n\n'):
        fail(f'{path}: an entry is non-empty text ending in one newline')
    if any(line != line.rstrip() for line in text.splitlines()):
        fail(f'{path}: trailing whitespace')
    if re.search(r'\bfork\b', text, re.I):
        fail(f'{path}: the entry talks about the fork; upstream readers '
             f'see only CPython')
    return text


def news_for_upstream(path, issue):
    """The entry's path in the series: filed under the upstream issue."""
    m = NEWS_NAME.match(os.path.basename(path))
    name = (f'{"-".join(m.group(i) for i in range(1, 7))}.gh-issue-{issue}.'
            f'{m.group(8)}.rst')
    return os.path.join(os.path.dirname(path), name)


# --- identity ---------------------------------------------------------------

PLACEHOLDER_DOMAIN = re.compile(
    r'(^|\.)(example(\.(com|net|org))?|invalid|test|localhost)$', re.I)
IDENTITY = re.compile(r'^\s*(.+?)\s*<([^<>@\s]+@([^<>@\s]+))>\s*$')


def identity():
    """(name, email, date) for the series."""
    given = os.environ.get('PATCH_AUTHOR')
    if given:
        m = IDENTITY.match(given)
        if not m:
            fail(f'PATCH_AUTHOR={given!r}: expected "Name <email>"')
        where = 'PATCH_AUTHOR'
    else:
        name = subprocess.run(['git', 'config', 'user.name'], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
        email = subprocess.run(['git', 'config', 'user.email'], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        m = IDENTITY.match(f'{name} <{email}>')
        where = 'git config user.name/user.email'
        if not m:
            fail('no author: set git config user.name and user.email, or '
                 'PATCH_AUTHOR="Name <email>"')
    if PLACEHOLDER_DOMAIN.search(m.group(3)):
        fail(f'{where} gives {m.group(1)} <{m.group(2)}>, a placeholder '
             f'address: set PATCH_AUTHOR="Your Name <you@domain>"')
    date = run(['git', 'log', '-1', '--format=%aD'], cwd=ROOT).strip()
    return m.group(1), m.group(2), date


def git_env(who):
    name, email, date = who
    env = dict(os.environ)
    for role in ('AUTHOR', 'COMMITTER'):
        env[f'GIT_{role}_NAME'] = name
        env[f'GIT_{role}_EMAIL'] = email
        env[f'GIT_{role}_DATE'] = date
    # The user's git configuration (hooks, signing, templates) stays out.
    env['GIT_CONFIG_GLOBAL'] = os.devnull
    env['GIT_CONFIG_NOSYSTEM'] = '1'
    return env


# --- the series ------------------------------------------------------------

def load_manifest():
    with open(MANIFEST, 'rb') as f:
        return tomllib.load(f)


def claimed_by(patches, key, names, what):
    """{patch name: [names]} for the globs of each patch's `key`."""
    claimed = {}
    for p in patches:
        claimed[p['name']] = [n for n in names
                              if any(fnmatch.fnmatch(n, g)
                                     for g in p.get(key, ()))]
    flat = [n for v in claimed.values() for n in v]
    if len(set(flat)) != len(flat):
        fail(f'{what} claimed by two [[patch]]es')
    return claimed, flat


def stdlib_patches_of(patches, series_names):
    """{patch name: [patches/ paths]}, every entry of patches/series claimed
    once and in its order."""
    bases = [os.path.basename(s) for s in series_names]
    claimed, flat = claimed_by(patches, 'stdlib', bases, 'a patches/ entry')
    if flat != sorted(flat, key=bases.index):
        fail('the [[patch]]es claim patches/series entries out of order')
    stray = [b for b in bases if b not in flat]
    if stray:
        fail('patches/series entries no [[patch]] claims in '
             f'{os.path.relpath(MANIFEST, ROOT)}: {", ".join(stray)}')
    return {name: [os.path.join(stdlib.PATCHES, b) for b in v]
            for name, v in claimed.items()}


def repo_files_of(patches, fork_only):
    """{patch name: [repo paths]} for files and news; every file under Lib/
    and Misc/NEWS.d/ must be claimed or listed as fork_only."""
    found = []
    for top in ('Lib', 'Misc/NEWS.d'):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != '__pycache__']
            found += [os.path.relpath(os.path.join(dirpath, n), ROOT)
                      for n in filenames]
    found.sort()
    files, flat = claimed_by(patches, 'files', found, 'a file')
    news, flat_news = claimed_by(patches, 'news', found, 'a NEWS entry')
    for rel in found:
        if rel not in flat and rel not in flat_news and rel not in fork_only:
            fail(f'{rel} is in no patch: add it to a [[patch]]\'s files or '
                 f'news, or to fork_only in {os.path.relpath(MANIFEST, ROOT)}')
    return files, news


def plan():
    """[(patch, {path: text}, message)] of the non-empty patches."""
    manifest = load_manifest()
    patches, c = manifest['patch'], manifest['c']
    parts = all_parts(c)
    check_parts(patches, parts)
    stdlib_of = stdlib_patches_of(patches, stdlib.read_series())
    files_of, news_of = repo_files_of(patches, manifest.get('fork_only', ()))
    results = load_results()
    setup0, makefile0 = setup_base(), makefile_base()

    out, applied, added, prev = [], [], [], {}
    for p in patches:
        added += p.get('parts', [])
        now = c_files(c, added)
        now[SETUP] = setup_version(setup0, added)
        now[MAKEFILE] = makefile_version(makefile0, added)
        changes = {rel: text for rel, text in now.items()
                   if prev.get(rel) != text}
        prev = now
        applied += stdlib_of[p['name']]
        for s in stdlib_of[p['name']]:
            for relpath in stdlib.split_patch(s)[1]:
                changes[relpath] = stdlib.base_text(relpath, applied)
        for rel in files_of[p['name']]:
            changes[rel] = read(rel)
        message = p['message']
        for rel in news_of[p['name']]:
            text = check_news(rel)
            if p.get('upstream_issue'):
                changes[news_for_upstream(rel, p['upstream_issue'])] = text
            else:
                message += ('\n\nNEWS entry, for Misc/NEWS.d/next/Library/ '
                            'once an issue is opened:\n\n'
                            + textwrap.indent(text, '    '))
        if changes:
            out.append((p, changes, wrap_message(
                fill_figures(message, results))))
    return manifest, out, {SETUP: setup0, MAKEFILE: makefile0}


PREPARE = """\
#!/bin/sh
# Run at the top of a CPython 3.11 checkout, before `git am` of the series.
# Upstream's tree has its own _asyncio module, its Argument Clinic header
# and its PCbuild project; the series adds files of ours in their place,
# and a patch cannot carry a diff from contents it never had, so the old
# files go in a commit of their own.  That commit alone does not build
# (Modules/Setup.stdlib.in still names the old source); squash it into
# the next one if every commit must build.
set -e
git rm -q {files}
git commit -q -m "Remove the old _asyncio accelerator" -m \\
"The patch series that follows adds a new module in Modules/_asyncio/,
which does not use Argument Clinic, and its PCbuild project."
"""

# The build files whose context we reconstructed: one line of it.
NARROW = (SETUP, MAKEFILE)


def narrow_diffs(tmp, commit, patch_path):
    """Replace the sections of NARROW files in a format-patch file by
    their diffs with one line of context."""
    with open(patch_path) as f:
        text = f.read()
    for rel in NARROW:
        head = f'diff --git a/{rel} b/{rel}\n'
        if head not in text:
            continue
        start = text.index(head)
        end = text.find('\ndiff --git ', start + 1)
        end = text.index('\n-- \n', start) if end < 0 else end
        narrow = run(['git', 'diff', '-U1', '--no-color', f'{commit}~1',
                      commit, '--', rel], cwd=tmp)
        text = text[:start] + narrow.rstrip('\n') + text[end:]
    with open(patch_path, 'w') as f:
        f.write(text)


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def generate(out):
    manifest, planned, bases = plan()
    env = git_env(identity())
    with tempfile.TemporaryDirectory() as tmp:
        run(['git', 'init', '-q', '-b', 'main', tmp], env=env)
        # The base: what we know of upstream's version of the files.
        for p, changes, _ in planned:
            for rel in changes:
                src = os.path.join(DISTRO, rel[len('Lib/'):])
                if rel.startswith('Lib/') and os.path.exists(src):
                    write(tmp, rel, open(src).read())
        for rel, text in bases.items():
            write(tmp, rel, text)
        run(['git', 'add', '-A'], cwd=tmp, env=env)
        run(['git', 'commit', '-q', '--allow-empty', '-m', 'base'],
            cwd=tmp, env=env)
        for p, changes, message in planned:
            for rel, text in changes.items():
                write(tmp, rel, text)
            run(['git', 'add', '-A'], cwd=tmp, env=env)
            run(['git', 'commit', '-q', '--cleanup=verbatim', '-F', '-'],
                cwd=tmp, env=env,
                input=subject_line(p) + '\n\n' + message)
        if os.path.isdir(out):
            for old in glob.glob(os.path.join(out, '*.patch')):
                os.unlink(old)
        os.makedirs(out, exist_ok=True)
        # histogram: a section added between two others shows as added
        # lines, not as the old tail deleted and re-added.
        names = run(['git', 'format-patch', '--numbered',
                     '--no-signature', '--diff-algorithm=histogram',
                     '-o', os.path.abspath(out), 'HEAD~%d' % len(planned)],
                    cwd=tmp, env=env).split()
        commits = run(['git', 'rev-list', '--reverse',
                       f'HEAD~{len(planned)}..HEAD'], cwd=tmp).split()
        for commit, name in zip(commits, names):
            narrow_diffs(tmp, commit, name)
    with open(os.path.join(out, 'prepare.sh'), 'w') as f:
        f.write(PREPARE.format(files=' '.join(manifest['replaces'])))
    os.chmod(os.path.join(out, 'prepare.sh'), 0o755)
    for name in names:
        print(os.path.relpath(name, ROOT))


# --- the check -------------------------------------------------------------

PATCH_FILE = re.compile(r'^diff --git a/(\S+) b/(\S+)$', re.M)
SMOKE = """\
import asyncio, _asyncio, sys
async def main():
    await asyncio.gather(*(asyncio.sleep(0) for _ in range(100)))
    return await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2])
assert asyncio.run(main()) == 3
assert asyncio.Future is _asyncio.Future
print(' '.join(c.__module__ + '.' + c.__qualname__
               for c in (asyncio.Future, asyncio.Task)))
"""


def series_files(out):
    names = sorted(glob.glob(os.path.join(out, '[0-9][0-9][0-9][0-9]-*.patch')))
    if not names:
        fail(f'no patches in {out}: run `make patches`')
    return names


def check_named_files(names):
    """Every file the series names exists in the repository, is a distro
    stdlib file it changes, or is one of the upstream build files."""
    for name in names:
        with open(name) as f:
            text = f.read()
        if 'FIGURES PENDING' in text:
            fail(f'{os.path.basename(name)}: figures pending')
        for a, b in PATCH_FILE.findall(text):
            here = os.path.exists(os.path.join(ROOT, b))
            distro = b.startswith('Lib/') and os.path.exists(
                os.path.join(DISTRO, b[len('Lib/'):]))
            news = b.startswith('Misc/NEWS.d/')
            if not (here or distro or news or b in NARROW):
                fail(f'{os.path.basename(name)} names {b}, which is neither '
                     f'in the repository nor in {DISTRO}')
    print(f'ok   every file the {len(names)} patches name exists')


def split_git_patch(path):
    """{path: its diff} of a git format-patch file."""
    with open(path) as f:
        text = f.read()
    starts = [m.start() for m in PATCH_FILE.finditer(text)] + [len(text)]
    return {PATCH_FILE.match(text, a).group(2): text[a:b]
            for a, b in zip(starts, starts[1:])}


def check_lib_dry_run(names):
    """The Lib/ parts apply, in order, to a copy of the distro's stdlib
    laid out as the distro has it (Lib/x -> x, patch -p2)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            files = split_git_patch(name)
            lib = {rel: hunk for rel, hunk in files.items()
                   if rel.startswith('Lib/')
                   and os.path.exists(os.path.join(DISTRO, rel[4:]))}
            for rel in lib:
                dest = os.path.join(tmp, rel[4:])
                if not os.path.exists(dest):
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    shutil.copyfile(os.path.join(DISTRO, rel[4:]), dest)
            for rel, hunk in lib.items():
                result = subprocess.run(
                    ['patch', '-p2', '--batch', '--forward', '--dry-run',
                     '-d', tmp], input=hunk, capture_output=True, text=True)
                if result.returncode or 'offset' in result.stdout \
                        or 'fuzz' in result.stdout:
                    fail(f'{os.path.basename(name)}: {rel} does not apply '
                         f'cleanly to {DISTRO}:\n{result.stdout}'
                         f'{result.stderr}')
                run(['patch', '-p2', '--batch', '--forward', '--quiet',
                     '--no-backup-if-mismatch', '-d', tmp], input=hunk)
                print(f'ok   {os.path.basename(name)}: {rel} applies '
                      f'cleanly to {DISTRO}/{rel[4:]}')


def checkout_like_upstream(tmp, manifest, env):
    """A git repository standing in for a CPython 3.11 checkout: Lib/ is
    the distro's stdlib, the build files are what we know of them, and the
    files the series replaces exist (with stand-in contents)."""
    shutil.copytree(DISTRO, os.path.join(tmp, 'Lib'), symlinks=True,
                    ignore=shutil.ignore_patterns(
                        'lib-dynload', '__pycache__', 'site-packages',
                        'dist-packages'))
    write(tmp, SETUP, setup_base())
    write(tmp, MAKEFILE, makefile_base())
    for rel in manifest['replaces']:
        write(tmp, rel, 'stand-in for upstream\'s file\n')
    run(['git', 'init', '-q', '-b', 'main', tmp], env=env)
    run(['git', 'add', '-A'], cwd=tmp, env=env)
    run(['git', 'commit', '-q', '-m', 'CPython 3.11 stand-in'], cwd=tmp,
        env=env)


def check_build_files(tmp, c, n):
    """The sources each build file names are the module's files."""
    present = sorted(os.path.basename(p)[:-2] for p in
                     glob.glob(os.path.join(tmp, c['dir'], '*.c')))
    if not present:
        return
    added = [p for p in all_parts(c) if p in present]
    with open(os.path.join(tmp, SETUP)) as f:
        setup = f.read()
    with open(os.path.join(tmp, MAKEFILE)) as f:
        makefile = f.read()
    with open(os.path.join(tmp, 'PCbuild', '_asyncio.vcxproj')) as f:
        vcxproj = f.read()
    listed = sorted(re.findall(r'_asyncio\\(\w+)\.c"', vcxproj))
    if setup_line(added) not in setup or deps_line(added) not in makefile:
        fail(f'patch {n}: Setup.stdlib.in or Makefile.pre.in do not name '
             f'the module\'s files')
    if listed != present:
        fail(f'patch {n}: PCbuild/_asyncio.vcxproj lists {listed}, the '
             f'module has {present}')


def check_am(out, names, manifest, cc, link):
    """What README.md tells a core developer to do: prepare.sh, then
    `git am` of the whole series.  Then every step's C module compiles
    (and, with --link, a ./python linked from it runs asyncio), its build
    files name its files, and the last step matches the repository."""
    env = git_env(identity())
    c = manifest['c']
    with tempfile.TemporaryDirectory() as tmp:
        checkout_like_upstream(tmp, manifest, env)
        run(['sh', os.path.abspath(os.path.join(out, 'prepare.sh'))],
            cwd=tmp, env=env)
        run(['git', 'am', '-q', '--whitespace=error-all']
            + [os.path.abspath(n) for n in names], cwd=tmp, env=env)
        print(f'ok   prepare.sh and `git am` of all {len(names)} patches '
              f'onto a git repository of {DISTRO} in CPython layout')
        commits = run(['git', 'rev-list', '--reverse',
                       f'HEAD~{len(names)}..HEAD'], cwd=tmp).split()
        prefix = os.path.join(tmp, 'prefix')
        os.makedirs(os.path.join(prefix, 'lib'))
        os.symlink(os.path.join(tmp, 'Lib'),
                   os.path.join(prefix, 'lib', 'python3.11'))
        os.symlink(os.path.join(DISTRO, 'lib-dynload'),
                   os.path.join(tmp, 'Lib', 'lib-dynload'))
        objdir = os.path.join(tmp, 'obj')
        for n, commit in enumerate(commits, 1):
            run(['git', 'checkout', '-q', commit], cwd=tmp)
            sources = sorted(glob.glob(os.path.join(tmp, c['dir'], '*.c')))
            if not cc or not sources:
                continue
            check_build_files(tmp, c, n)
            shutil.rmtree(objdir, ignore_errors=True)
            os.makedirs(objdir)
            objs = []
            for src in sources:
                obj = os.path.join(objdir, os.path.basename(src)[:-2] + '.o')
                result = subprocess.run(
                    shlex.split(cc) + ['-Werror', '-c', src, '-o', obj],
                    capture_output=True, text=True)
                if result.returncode:
                    fail(f'patch {n}: {os.path.relpath(src, tmp)} does not '
                         f'compile:\n{result.stderr}')
                objs.append(obj)
            line = (f'ok   patch {n}: the module\'s {len(sources)} files '
                    f'compile and the build files name them')
            if link:
                exe = os.path.join(tmp, 'python')
                run(shlex.split(link.replace('{obj}', ' '.join(objs)))
                    + ['-o', exe])
                classes = run([exe, '-c', SMOKE],
                              env=dict(env, PYTHONHOME=prefix)).strip()
                line += f'; a ./python linked from it runs asyncio ({classes})'
            print(line)
        # The end of the series is the repository's work.
        run(['git', 'checkout', '-q', commits[-1]], cwd=tmp)
        for rel in (glob.glob(os.path.join(ROOT, c['dir'], '*'))
                    + [os.path.join(ROOT, rel) for rel in c['lists']]):
            rel = os.path.relpath(rel, ROOT)
            theirs = os.path.join(tmp, rel)
            if not os.path.exists(theirs) or open(theirs).read() != read(rel):
                fail(f'the series ends with a {rel} other than the '
                     f'repository\'s')
        # make runs this in the build directory, ./python's prefix.
        staged = os.path.join(os.getcwd(), 'lib', 'python3.11')
        for rel in run(['git', 'diff', '--name-only', f'{commits[0]}~1',
                        commits[-1]], cwd=tmp).split():
            if rel.startswith('Lib/') and os.path.isdir(staged):
                mine = os.path.join(staged, rel[4:])
                with open(mine) as a, open(os.path.join(tmp, rel)) as b:
                    if a.read() != b.read():
                        fail(f'{rel} at the end of the series differs from '
                             f'lib/python3.11/{rel[4:]} (`make` '
                             f'first?)')
        print('ok   the series ends with the repository\'s module, build '
              'files, stdlib changes and tests')


def check(out, cc, link):
    manifest = load_manifest()
    names = series_files(out)
    check_named_files(names)
    check_lib_dry_run(names)
    check_am(out, names, manifest, cc, link)
    print(f'patches-check: {out} is ready: see README.md, '
          f'"Sending the work upstream"')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('generate', 'check'):
        p = sub.add_parser(name)
        p.add_argument('--out', default=os.path.join(ROOT, 'build', 'patches'))
        if name == 'check':
            p.add_argument('--cc', help='compile command for the module\'s '
                           'files (-c SRC -o OBJ are added)')
            p.add_argument('--link', help='link command for a ./python; '
                           '{obj} is the module\'s object files')
    args = parser.parse_args()
    try:
        if args.command == 'generate':
            generate(args.out)
        else:
            check(args.out, args.cc, args.link)
    except SeriesError as e:
        sys.exit(f'series.py: FAILED: {e}')


if __name__ == '__main__':
    main()
