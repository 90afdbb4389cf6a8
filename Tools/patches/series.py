"""Write the fork's work as a patch series against CPython 3.11, and check it.

    generate [--out DIR]      write DIR/NNNN-*.patch (git format-patch) and
                              DIR/prepare.sh; default build/patches
    check [--out DIR] [--cc CMD] [--link CMD]
                              apply DIR as a core developer would, fail
                              loudly on anything that does not fit

What goes into which patch is Tools/patches/manifest.toml.  The patches are
made by git itself: a scratch repository gets the distro's version of every
stdlib file the series changes, then one commit per patch with that patch's
version of each file, and `git format-patch` writes them out.  Author and
dates are those of the repository's HEAD, so the same commit always gives
the same series.

Modules/_asynciomodule.c is one file that every C patch adds to.  Its
banner sections ("/* ====" then a title) are assigned to patches by the
manifest; lines of a section that belong to a later patch carry a marker
in a C comment (the markers are removed from the patches):

    code;                      /* series: task */    this line comes with "task"
    /* series: task { */ ... /* series: } */        these lines do
    /* series: until task ... series: end */        these lines (inside the
                                                    comment) are the text the
                                                    lines of "task" replace:
                                                    present before "task" only

The same forms work inside an existing comment (" * series: task {").
Without any marker the whole module goes into the first patch that has
sections: splitting by sections alone would give intermediate files that
do not compile.

The upstream tree already has Modules/_asynciomodule.c and its clinic
header, and the series cannot carry a diff from contents it has never had:
it adds the module as a new file, and prepare.sh removes upstream's files
in a commit of their own first (README.md, "Sending the work upstream").
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
DISTRO = stdlib.DISTRO
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


# --- the C module: sections, markers, versions ----------------------------

MARKER = re.compile(r'series:\s*(.*?)\s*(?:\*/)?\s*$')
TRAILING_MARKER = re.compile(r'\s*/\*\s*series:[^*]*\*/')
PUNCTUATION_ONLY = re.compile(r'^\s*(/\*|\*/|\*)?\s*$')


def banner_titles(lines):
    """[(line index, title)] of the section banners."""
    found = []
    for i, line in enumerate(lines):
        if not line.startswith('/* ===='):
            continue
        inline = line.strip('/*= \n')
        if inline:
            found.append((i, inline))
        elif i + 1 < len(lines):
            found.append((i, lines[i + 1].lstrip(' *').strip()))
    return found


def section_owner(title, patches):
    """The patch whose `sections` has the longest entry matching title."""
    best, best_len = None, -1
    for p in patches:
        for entry in p.get('sections', ()):
            if (title == entry or (title.startswith(entry)
                                   and title[len(entry)] in ' :(')):
                if len(entry) > best_len:
                    best, best_len = p['name'], len(entry)
    return best


def parse_marker(line):
    """(directive, rest): directive is None, ('line', NAME), ('open', NAME),
    ('close',), ('until', NAME) or ('end',); rest is the line without the
    marker, or None when nothing but the marker is on it."""
    if 'series:' not in line:
        return None, line
    m = MARKER.search(line)
    words = m.group(1).split()
    if words == ['}']:
        directive = ('close',)
    elif words == ['end']:
        directive = ('end',)
    elif len(words) == 2 and words[0] == 'until':
        directive = ('until', words[1])
    elif len(words) == 2 and words[1] == '{':
        directive = ('open', words[0])
    elif len(words) == 1 and TRAILING_MARKER.search(line):
        directive = ('line', words[0])
    else:
        fail(f'cannot read the series marker in: {line.rstrip()}')
    rest = TRAILING_MARKER.sub('', line, count=1) if directive[0] == 'line' \
        else line[:m.start()]
    if PUNCTUATION_ONLY.match(rest):
        return directive, None
    if directive[0] != 'line':
        fail(f'a series marker must be alone on its line: {line.rstrip()}')
    return directive, rest.rstrip() + '\n'


def assign_lines(text, patches, preamble):
    """[(line, first patch index, until patch index or None)] for the C file.

    A line is in the version of patch k when first <= k < until.
    """
    lines = text.splitlines(keepends=True)
    index = {p['name']: i for i, p in enumerate(patches)}

    def idx(name, where):
        if name not in index:
            fail(f'{where}: no patch "{name}" in {os.path.relpath(MANIFEST, ROOT)}')
        return index[name]

    first_c = next((i for i, p in enumerate(patches) if p.get('sections')), 0)
    if 'series:' not in text:
        return [(line, first_c, None) for line in lines]

    banners = dict(banner_titles(lines))
    owner = idx(preamble, 'the preamble')
    # The open blocks: "{" gives lines to a patch, "until" keeps them
    # before one; each is the patch index, or None when not open.
    opened = {'block': None, 'until': None}
    slot_of = {'open': 'block', 'close': 'block', 'until': 'until',
               'end': 'until'}
    out = []
    for n, line in enumerate(lines):
        where = f'line {n + 1}'
        if n in banners:
            if opened != {'block': None, 'until': None}:
                fail(f'{where}: a series block is still open at a banner')
            name = section_owner(banners[n], patches)
            if name is None:
                fail(f'{where}: section "{banners[n]}" is in no patch\'s '
                     f'sections in {os.path.relpath(MANIFEST, ROOT)}')
            owner = index[name]
        directive, rest = parse_marker(line)
        kind = directive[0] if directive else None
        if kind in ('open', 'until'):
            if opened[slot_of[kind]] is not None:
                fail(f'{where}: series blocks of a kind do not nest')
            opened[slot_of[kind]] = idx(directive[1], where)
        elif kind in ('close', 'end'):
            if opened[slot_of[kind]] is None:
                fail(f'{where}: "{line.strip()}" closes no open block')
            opened[slot_of[kind]] = None
        if rest is None:
            continue
        block, until = opened['block'], opened['until']
        first = owner if block is None else block
        if kind == 'line':
            first = idx(directive[1], where)
        if until is not None and until <= first:
            fail(f'{where}: replaced by "{patches[until]["name"]}" before '
                 f'it is added')
        out.append((rest, first, until))
    if opened != {'block': None, 'until': None}:
        fail('a series block is not closed at the end of the file')
    return out


def c_version(assigned, k):
    return ''.join(line for line, first, until in assigned
                   if first <= k and (until is None or k < until))


# --- commit messages -------------------------------------------------------

def readme_table(readme_text):
    """{workload: {alternative: cell}} of README.md's latest full run."""
    part = readme_text.split('### Latest full run', 1)
    if len(part) < 2:
        return {}
    rows = [r for r in part[1].splitlines() if r.startswith('|')]
    if not rows:
        return {}
    head = [c.strip() for c in rows[0].strip('|').split('|')]
    table = {}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip('|').split('|')]
        table[cells[0]] = dict(zip(head, cells))
    return table


def loop_results(path):
    """{workload: 'N.NNx'} of the fork in a results.json whose fork run
    used a C Handle, else {}."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    fork = [a for a in data.get('alternatives', ()) if a.get('name') == 'fork']
    if not fork or not str((fork[0].get('impl') or {}).get('handle', '')
                           ).startswith('_asyncio.'):
        return {}
    return {w: f'{alts["fork"]["ratio"]:.2f}x ({data.get("mode", "?")} run '
               f'of {data.get("started", "?")[:10]})'
            for w, alts in data.get('summary', {}).items() if 'fork' in alts}


PLACEHOLDER = re.compile(r'\{(bench|loop):([\w ]+?)(?::(\w+))?\}')
PENDING = 'FIGURES PENDING'


def fill_figures(message, table, loop):
    def sub(m):
        kind, workload, alt = m.groups()
        if kind == 'bench':
            cell = table.get(workload, {}).get(alt)
            if not cell or cell == '-':
                fail(f'{m.group(0)}: no such cell in README.md\'s latest '
                     f'full run table')
            return cell
        return loop.get(workload, f'[{PENDING}: {workload}, make bench]')
    return PLACEHOLDER.sub(sub, message)


def wrap_message(body):
    """Re-wrap each paragraph at 72 columns (placeholders change widths);
    indented lines are kept as they are."""
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
    issues = ', '.join(f'gh-{n}' for n in p['issues'])
    return f'{issues}: {p["subject"]}'


# --- the series ------------------------------------------------------------

def load_manifest():
    with open(MANIFEST, 'rb') as f:
        return tomllib.load(f)


def stdlib_patches_of(patches, series_names):
    """{patch name: [patches/ paths]}, checking every series entry is
    claimed exactly once and in the order of patches/series."""
    claimed, order = {}, []
    for p in patches:
        mine = [s for s in series_names
                if any(fnmatch.fnmatch(os.path.basename(s), g)
                       for g in p.get('stdlib', ()))]
        claimed[p['name']] = mine
        order += mine
    if len(set(order)) != len(order):
        fail('a patches/series entry is claimed by two [[patch]]es')
    if order != sorted(order, key=series_names.index):
        fail('the [[patch]]es claim patches/series entries out of order')
    stray = [os.path.basename(s) for s in series_names if s not in order]
    if stray:
        fail('patches/series entries no [[patch]] claims in '
             f'{os.path.relpath(MANIFEST, ROOT)}: {", ".join(stray)}')
    return claimed


def repo_files_of(patches, fork_only):
    """{patch name: [repo paths]}; every file under Lib/ and
    Misc/NEWS.d/ must be claimed or listed as fork_only."""
    claimed = {}
    for p in patches:
        found = []
        for g in p.get('files', ()):
            found += sorted(os.path.relpath(f, ROOT)
                            for f in glob.glob(os.path.join(ROOT, g)))
        claimed[p['name']] = found
    everything = {f for v in claimed.values() for f in v}
    for top in ('Lib', 'Misc/NEWS.d'):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != '__pycache__']
            for name in filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), ROOT)
                if rel not in everything and rel not in fork_only:
                    fail(f'{rel} is in no patch: add it to a [[patch]]\'s '
                         f'files or to fork_only in '
                         f'{os.path.relpath(MANIFEST, ROOT)}')
    return claimed


def check_news(path, issue):
    """Blurb's file naming and the shape of an entry."""
    name = os.path.basename(path)
    m = NEWS_NAME.match(name)
    if not m:
        fail(f'{path}: not a blurb file name '
             f'(YYYY-MM-DD-HH-MM-SS.gh-issue-NNNN.NONCE.rst)')
    if int(m.group(7)) != issue:
        fail(f'{path}: its patch is about gh-{issue}')
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    if not text.strip() or not text.endswith('\n') or text.endswith('\n\n'):
        fail(f'{path}: an entry is non-empty text ending in one newline')
    if any(line != line.rstrip() for line in text.splitlines()):
        fail(f'{path}: trailing whitespace')
    if re.search(r'\bfork\b', text, re.I):
        fail(f'{path}: the entry talks about the fork; upstream readers '
             f'see only CPython')


def head_identity():
    """Author and date for the series: the repository's HEAD."""
    fmt = run(['git', 'log', '-1', '--format=%an%n%ae%n%aD'], cwd=ROOT)
    name, email, date = fmt.splitlines()
    return name, email, date


def git_env(identity):
    name, email, date = identity
    env = dict(os.environ)
    for who in ('AUTHOR', 'COMMITTER'):
        env[f'GIT_{who}_NAME'] = name
        env[f'GIT_{who}_EMAIL'] = email
        env[f'GIT_{who}_DATE'] = date
    # The user's git configuration (hooks, signing, templates) stays out.
    env['GIT_CONFIG_GLOBAL'] = os.devnull
    env['GIT_CONFIG_NOSYSTEM'] = '1'
    return env


def stdlib_version(relpath, patch_paths):
    """A distro stdlib file (CPython path Lib/...) with patches applied."""
    return stdlib.base_text(relpath, patch_paths)


def plan(out_warnings):
    """[(patch, {path: text}, message)] of the non-empty patches."""
    manifest = load_manifest()
    patches = manifest['patch']
    series_names = stdlib.read_series()
    stdlib_of = stdlib_patches_of(patches, series_names)
    files_of = repo_files_of(patches, manifest.get('fork_only', ()))

    c_rel = manifest['c']['source']
    with open(os.path.join(ROOT, c_rel)) as f:
        c_text = f.read()
    assigned = assign_lines(c_text, patches, manifest['c']['preamble'])
    if 'series:' not in c_text:
        out_warnings.append(f'{c_rel} has no series markers: the whole '
                            f'module goes into the first C patch')

    with open(os.path.join(ROOT, 'README.md')) as f:
        table = readme_table(f.read())
    loop = loop_results(os.path.join(ROOT, 'build', 'bench', 'results.json'))

    result, applied, prev_c = [], [], ''
    for k, p in enumerate(patches):
        changes = {}
        c_now = c_version(assigned, k)
        if c_now != prev_c:
            changes[c_rel] = c_now
        prev_c = c_now
        applied += stdlib_of[p['name']]
        for s in stdlib_of[p['name']]:
            for relpath in stdlib.split_patch(s)[1]:
                changes[relpath] = stdlib_version(relpath, applied)
        for rel in files_of[p['name']]:
            if rel.startswith('Misc/NEWS.d/'):
                check_news(rel, p['issues'][0])
            with open(os.path.join(ROOT, rel)) as f:
                changes[rel] = f.read()
        if not changes:
            continue
        message = wrap_message(fill_figures(p['message'], table, loop))
        if PENDING in message:
            out_warnings.append(f'patch "{p["name"]}": benchmark figures '
                                f'pending (no build/bench/results.json '
                                f'from a C-Handle build)')
        result.append((p, changes, message))
    return manifest, result


PREPARE = """\
#!/bin/sh
# Run at the top of a CPython 3.11 checkout, before `git am` of the series.
# Upstream's tree has its own Modules/_asynciomodule.c (and the Argument
# Clinic header it includes); the series adds a new module in its place,
# and a patch cannot carry a diff from contents it never had, so the old
# files go in a commit of their own.  That commit alone does not build
# (Modules/Setup.stdlib.in still names the source); squash it into the
# next one if every commit must build.
set -e
git rm -q {files}
git commit -q -m "Remove the old _asyncio accelerator" -m \\
"The patch series that follows adds a new Modules/_asynciomodule.c, which
does not use Argument Clinic."
"""


def generate(out):
    warnings = []
    manifest, planned = plan(warnings)
    identity = head_identity()
    env = git_env(identity)
    with tempfile.TemporaryDirectory() as tmp:
        run(['git', 'init', '-q', '-b', 'main', tmp], env=env)
        # The base: the distro's version of the stdlib files the series
        # changes, at their CPython paths.
        for p, changes, _ in planned:
            for rel in changes:
                src = os.path.join(DISTRO, rel[len('Lib/'):])
                if rel.startswith('Lib/') and os.path.exists(src):
                    write(tmp, rel, open(src).read())
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
        names = run(['git', 'format-patch', '-q', '--numbered',
                     '--no-signature', '--diff-algorithm=histogram',
                     '-o', os.path.abspath(out), 'HEAD~%d' % len(planned)],
                    cwd=tmp, env=env).split()
    with open(os.path.join(out, 'prepare.sh'), 'w') as f:
        f.write(PREPARE.format(files=' '.join(manifest['replaces'])))
    os.chmod(os.path.join(out, 'prepare.sh'), 0o755)
    for name in names:
        print(os.path.relpath(name, ROOT))
    for w in warnings:
        print(f'warning: {w}', file=sys.stderr)


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


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


def check_named_files(names, manifest):
    """Every file the series names exists in the repository, or is a
    distro stdlib file the series changes."""
    for name in names:
        with open(name) as f:
            text = f.read()
        for a, b in PATCH_FILE.findall(text):
            here = os.path.exists(os.path.join(ROOT, b))
            distro = b.startswith('Lib/') and os.path.exists(
                os.path.join(DISTRO, b[len('Lib/'):]))
            if not (here or distro):
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
    the distro's stdlib, and the files the series replaces exist (with
    stand-in contents, as we do not have upstream's)."""
    shutil.copytree(DISTRO, os.path.join(tmp, 'Lib'), symlinks=True,
                    ignore=shutil.ignore_patterns(
                        'lib-dynload', '__pycache__', 'site-packages',
                        'dist-packages'))
    for rel in manifest['replaces']:
        write(tmp, rel, '/* stand-in for upstream\'s file */\n')
    run(['git', 'init', '-q', '-b', 'main', tmp], env=env)
    run(['git', 'add', '-A'], cwd=tmp, env=env)
    run(['git', 'commit', '-q', '-m', 'CPython 3.11 stand-in'], cwd=tmp,
        env=env)


def check_am(out, names, manifest, cc, link):
    """What README.md tells a core developer to do: prepare.sh, then
    `git am` of the whole series.  Then every step's C module compiles
    (and, with --link, a ./python linked from it runs asyncio), and the
    last step matches the repository."""
    env = git_env(head_identity())
    with tempfile.TemporaryDirectory() as tmp:
        checkout_like_upstream(tmp, manifest, env)
        run(['sh', os.path.abspath(os.path.join(out, 'prepare.sh'))],
            cwd=tmp, env=env)
        run(['git', 'am', '-q', '--whitespace=error-all']
            + [os.path.abspath(n) for n in names], cwd=tmp, env=env)
        print(f'ok   prepare.sh and `git am` of all {len(names)} patches '
              f'onto a git repository of {DISTRO} in CPython layout')
        c_rel = manifest['c']['source']
        commits = run(['git', 'rev-list', '--reverse',
                       f'HEAD~{len(names)}..HEAD'], cwd=tmp).split()
        prefix = os.path.join(tmp, 'prefix')
        os.makedirs(os.path.join(prefix, 'lib'))
        os.symlink(os.path.join(tmp, 'Lib'),
                   os.path.join(prefix, 'lib', 'python3.11'))
        os.symlink(os.path.join(DISTRO, 'lib-dynload'),
                   os.path.join(tmp, 'Lib', 'lib-dynload'))
        for n, commit in enumerate(commits, 1):
            run(['git', 'checkout', '-q', commit], cwd=tmp)
            src = os.path.join(tmp, c_rel)
            if cc and os.path.exists(src):
                obj = os.path.join(tmp, 'step.o')
                result = subprocess.run(
                    shlex.split(cc) + ['-Werror', '-c', src, '-o', obj],
                    capture_output=True, text=True)
                if result.returncode:
                    fail(f'patch {n}: {c_rel} does not compile:\n'
                         f'{result.stderr}')
                line = f'ok   patch {n}: {c_rel} compiles'
                if link:
                    exe = os.path.join(tmp, 'python')
                    run(shlex.split(link.replace('{obj}', obj)) + ['-o', exe])
                    classes = run([exe, '-c', SMOKE],
                                  env=dict(env, PYTHONHOME=prefix)).strip()
                    line += f'; a ./python linked from it runs asyncio ({classes})'
                print(line)
        # The end of the series is the repository's work, less the markers.
        run(['git', 'checkout', '-q', commits[-1]], cwd=tmp)
        with open(os.path.join(ROOT, c_rel)) as f:
            expected = c_version(assign_lines(
                f.read(), manifest['patch'], manifest['c']['preamble']),
                len(manifest['patch']))
        with open(os.path.join(tmp, c_rel)) as f:
            if f.read() != expected:
                fail(f'the series ends with a {c_rel} other than the '
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
        print('ok   the series ends with the repository\'s module, stdlib '
              'changes and tests')


def check(out, cc, link):
    manifest = load_manifest()
    names = series_files(out)
    check_named_files(names, manifest)
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
            p.add_argument('--cc', help='compile command for the C module '
                           '(-c SRC -o OBJ are added)')
            p.add_argument('--link', help='link command for a ./python; '
                           '{obj} is the module\'s object file')
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
