"""A compile check of the C module for Windows, run on Linux.

`make check-windows` runs it.  It is a compile check, not a Windows test
run: nothing is executed on Windows.  It cross-compiles the given C
sources with Debian's mingw-w64 (x86_64-w64-mingw32-gcc) against the
distro's Python 3.11 headers and our stand-in for a Windows build's
pyconfig.h (pyconfig.h beside this file), so that the sources take the
branches a Windows build of CPython 3.11 takes (MS_WINDOWS; no HAVE_FORK,
HAVE_SYS_SOCKET_H, HAVE_SYS_EPOLL_H, ...; long is 32 bits; the C API is
imported from python311.dll).  For every source, in the release and the
debug configuration, it

1. compiles it (-std=c11 -Wpedantic and the build's warnings): every
   warning fails the check except the one -Wpedantic gives for a function
   pointer kept in a void * (PyType_Slot.pfunc), which every Windows
   compiler accepts; -Werror cannot spare that one warning, so this script
   applies the rule.  Headers that mingw-w64 ships and MSVC does not
   (<pthread.h>, <unistd.h>, ...) are stubs that stop the compile with
   advice;
2. scans the source's own text as a preprocessor that claims to be MSVC
   sees it (__GNUC__-guarded code dropped, macros not expanded) for
   GCC-only constructs and POSIX-only names that mingw-w64 accepts and
   MSVC does not (__attribute__, __builtin_*, ssize_t, MSG_DONTWAIT, ...:
   DENIED below);

then, when every source of the module is in the check, it links them as a
.pyd against an import library of exactly what the headers declare
PyAPI_FUNC/PyAPI_DATA (what python311.dll exports), so that a call to a
private function the DLL does not export fails here as on Windows, and
requires the .pyd to export a PyInit function.

A probe (probe.c) is compiled first; it fails unless the stand-in is in
effect.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, 'pyconfig.h')
PROBE = os.path.relpath(os.path.join(HERE, 'probe.c'))

# The two builds of a module upstream's PCbuild makes: Release and Debug
# (MSVC's /MDd defines _DEBUG, which the stand-in turns into Py_DEBUG).
CONFIGS = {
    'release': ['-O2', '-DNDEBUG'],
    'debug': ['-Og', '-D_DEBUG'],
}
# None, as for a stdlib module that upstream's build systems make a shared
# library (PCbuild: _asyncio.pyd): a source that needs the internal API
# must define Py_BUILD_CORE_MODULE itself (unless Py_BUILD_CORE_BUILTIN is
# given); pyport.h then declares the C API dllimport.
DEFINES = []
# The build's warnings (Makefile.pre.in) plus ISO C conformance, which is
# what catches GNU extensions, and VLAs, which MSVC never had.
WARNINGS = ['-std=c11', '-Wpedantic', '-Wall', '-Wextra',
            '-Wno-unused-parameter', '-Wno-missing-field-initializers',
            '-Wstrict-prototypes', '-Wvla', '-fdiagnostics-plain-output']
# Warnings that are not portability problems; everything else fails.
ALLOWED_WARNINGS = re.compile(
    r'ISO C forbids (?:initialization|assignment|conversion|passing argument'
    r'|return) .*(?:between function pointer and .void \*.'
    r'|of (?:function|object) pointer to (?:object|function) pointer type)')
# What the scan's preprocessor claims to be: MSVC 2019 (16.10), not GCC.
AS_MSVC = ['-U__GNUC__', '-U__GNUC_MINOR__', '-U__GNUC_PATCHLEVEL__',
           '-D_MSC_VER=1929']

# Headers mingw-w64 ships that MSVC does not, with the Windows way.  (Not
# pthread_time.h and its kind: mingw-w64's own <time.h> includes them.)
MSVC_ABSENT = {
    'pthread.h': 'guard it with #ifdef HAVE_FORK (pthread_atfork) or use '
                 'the PyThread_* API and Py_tss_t',
    'sched.h': 'see pthread.h',
    'semaphore.h': 'use the PyThread_* locks',
    'unistd.h': 'Python.h includes it only #ifndef MS_WINDOWS; guard the '
                'POSIX calls',
    'dirent.h': 'guard it #ifndef MS_WINDOWS',
    'strings.h': 'use <string.h> (strcasecmp is _stricmp on Windows)',
    'libgen.h': 'guard it #ifndef MS_WINDOWS',
    'getopt.h': 'guard it #ifndef MS_WINDOWS',
    'sys/time.h': 'use _PyTime_* / PyTime_* or guard with HAVE_SYS_TIME_H',
    'sys/param.h': 'guard it #ifndef MS_WINDOWS',
    'sys/socket.h': 'guard it with HAVE_SYS_SOCKET_H; Windows has '
                    '<winsock2.h>',
    'sys/select.h': 'guard it with HAVE_SYS_SELECT_H; select() is in '
                    '<winsock2.h>',
    'sys/epoll.h': 'guard it with HAVE_SYS_EPOLL_H',
    'sys/un.h': 'guard it #ifndef MS_WINDOWS',
    'sys/uio.h': 'guard it #ifndef MS_WINDOWS',
    'sys/mman.h': 'guard it #ifndef MS_WINDOWS',
    'sys/wait.h': 'guard it with HAVE_FORK',
    'sys/ioctl.h': 'guard it; Winsock has ioctlsocket()',
    'sys/resource.h': 'guard it #ifndef MS_WINDOWS',
    'sys/eventfd.h': 'guard it #ifndef MS_WINDOWS',
    'poll.h': 'guard it; Winsock has WSAPoll()',
    'netdb.h': 'guard it with HAVE_SYS_SOCKET_H; Windows has <ws2tcpip.h>',
    'netinet/in.h': 'guard it; Windows has <winsock2.h>',
    'netinet/tcp.h': 'guard it; Windows has <winsock2.h>',
    'arpa/inet.h': 'guard it; Windows has <ws2tcpip.h>',
    'dlfcn.h': 'guard it #ifndef MS_WINDOWS',
    'stdatomic.h': 'optional C11, not in 3.11\'s MSVC build: use a lock or '
                   'the GIL',
    'threads.h': 'optional C11, not in MSVC\'s C: use the PyThread_* API',
}

# Names in the module's own text that mingw-w64 accepts but MSVC does not:
# (pattern, advice).  Member names (after . or ->) are not names here.
GUARD = 'or guard it with #if defined(__GNUC__) || defined(__clang__)'
DENIED = [
    (r'__attribute__',
     'GCC attribute syntax: use the Python macros (Py_UNUSED, '
     'Py_ALWAYS_INLINE, Py_NO_INLINE, Py_DEPRECATED) ' + GUARD),
    (r'__builtin_\w+',
     'GCC built-in: give MSVC a plain C branch, ' + GUARD),
    (r'typeof|__typeof__|__typeof|__auto_type',
     'MSVC\'s C has no typeof: spell the type'),
    (r'__extension__|__asm__|asm|__volatile__|__thread|__label__|__int128'
     r'|__alignof__|__inline__|__signed__|__const',
     'GNU keyword: ' + GUARD),
    (r'_Static_assert',
     'MSVC accepts it only under /std:c11, which 3.11\'s headers do not '
     'assume (their own static checks use Py_BUILD_ASSERT): use '
     'Py_BUILD_ASSERT() inside a function'),
    (r'_Alignas|_Alignof|_Generic|_Noreturn',
     'a C11 keyword MSVC accepts only under /std:c11, which 3.11\'s headers '
     'do not assume (Py_NO_RETURN exists for _Noreturn)'),
    (r'_Thread_local|_Atomic|_Complex|_Imaginary',
     'an optional C11 feature MSVC\'s C lacks: use Py_tss_t, a lock or '
     'the GIL'),
    (r'ssize_t',
     'MSVC\'s headers have no ssize_t: use Py_ssize_t (Winsock\'s send() '
     'and recv() return int)'),
    (r'pthread_\w+',
     'no pthreads on Windows: guard pthread_atfork() with HAVE_FORK, use '
     'PyThread_* and Py_tss_t otherwise'),
    (r'fork|vfork|waitpid',
     'no fork() on Windows: guard it with HAVE_FORK'),
    (r'MSG_DONTWAIT|MSG_NOSIGNAL|SOCK_NONBLOCK|SOCK_CLOEXEC|O_NONBLOCK'
     r'|F_GETFL|F_SETFL|fcntl',
     'not in Winsock: make the socket non-blocking once '
     '(ioctlsocket(FIONBIO); Python\'s sockets already are) or guard it'),
    (r'socketpair|poll|epoll_(?:create1?|ctl|p?wait|event|data_t)'
     r'|EPOLL(?:IN|OUT|PRI|ERR|HUP|RDHUP|ET|ONESHOT|_CTL_\w+|_CLOEXEC)',
     'POSIX/Linux only: guard it (HAVE_SYS_EPOLL_H for epoll; WSAPoll() '
     'is Windows\' poll)'),
    (r'gettimeofday|clock_gettime|nanosleep|usleep|sigaction|sigprocmask',
     'POSIX only: use the _PyTime_* functions or guard it'),
    (r'strcasecmp|strncasecmp|strndup|strtok_r|localtime_r|gmtime_r'
     r'|strerror_r',
     'POSIX only: use the PyOS_* helpers (PyOS_stricmp, ...) or the '
     'Windows *_s forms'),
]
# Matched against whole identifiers: group dN is DENIED[N].
DENIED_RE = re.compile('|'.join(f'(?P<d{i}>{p})'
                                for i, (p, _) in enumerate(DENIED)))

LINE_MARKER = re.compile(r'^# (\d+) "((?:[^"\\]|\\.)*)"')
TOKEN = re.compile(r'/\*|//|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
                   r'|->|[A-Za-z_]\w*|\S')
DIAGNOSTIC = re.compile(r'^(?P<where>[^:\s][^:]*:\d+:(?:\d+:)?) '
                        r'(?P<kind>error|warning|note|fatal error): '
                        r'(?P<msg>.*)$')
# An attribute such as _Py_NO_RETURN's, which may sit before the name.
ATTRIBUTE = re.compile(r'__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)')
DLLIMPORT = re.compile(r'__attribute__\s*\(\(\s*dllimport\s*\)\)'
                       r'|__declspec\s*\(\s*dllimport\s*\)')


class Checker:

    def __init__(self, cc, include, build):
        self.cc = cc
        self.build = build
        self.python_dir = os.path.join(build, 'include', 'python')
        self.absent_dir = os.path.join(build, 'include', 'msvc-absent')
        self.make_tree(include)
        self.failures = []

    # --- the header tree -------------------------------------------------

    def make_tree(self, include):
        """build/include/python: links to the distro's headers and to the
        stand-in pyconfig.h, whose directory Python.h's #include
        "pyconfig.h" searches first; build/include/msvc-absent: stubs."""
        if not os.path.exists(os.path.join(include, 'Python.h')):
            sys.exit(f'check.py: no Python.h in {include}')
        shutil.rmtree(os.path.join(self.build, 'include'), ignore_errors=True)
        os.makedirs(self.python_dir)
        for name in os.listdir(include):
            if name != 'pyconfig.h':
                os.symlink(os.path.join(include, name),
                           os.path.join(self.python_dir, name))
        os.symlink(STANDIN, os.path.join(self.python_dir, 'pyconfig.h'))
        for header, advice in MSVC_ABSENT.items():
            path = os.path.join(self.absent_dir, header)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(f'/* Written by {os.path.relpath(__file__)}. */\n'
                        f'#error "<{header}> is not in MSVC\'s headers: '
                        f'{advice}"\n')

    def flags(self, config):
        # The stubs come before the compiler's own directories; the Python
        # headers are system headers, so only the sources' warnings count.
        # GCC would rename a system header to its real path when that is
        # shorter, and Python.h's "pyconfig.h" would then be the distro's.
        return (WARNINGS + CONFIGS[config] + DEFINES
                + ['-fno-canonical-system-headers',
                   '-I', self.absent_dir, '-isystem', self.python_dir])

    def fail(self, what, text):
        self.failures.append(what)
        print(f'check-windows: FAIL {what}')
        if text:
            print(text.rstrip())

    # --- 1. compile -------------------------------------------------------

    def compile(self, src, obj, config):
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        proc = tool(self.cc, *self.flags(config), '-c', src, '-o', obj)
        kept = [group for group in diagnostic_groups(proc.stderr)
                if not allowed(group)]
        if proc.returncode != 0 or kept:
            self.fail(f'{src} [{config}]: compiler diagnostics',
                      '\n'.join('\n'.join(g) for g in kept) or proc.stderr)
            return False
        return True

    # --- 2. scan ----------------------------------------------------------

    def scan(self, src, config, own_dirs):
        """Denied names in the text of our own files (the source and the
        headers next to it) that an MSVC preprocessor would keep."""
        proc = self.preprocess(src, config, ['-fdirectives-only'] + AS_MSVC)
        if proc.returncode != 0 and not proc.stdout:
            self.fail(f'{src} [{config}]: preprocessing as MSVC', proc.stderr)
            return False
        # An #error (one of the stubs) is the compile's to report; the
        # text around it is still scanned.
        out = proc.stdout
        findings = []
        for path, lineno, token in own_tokens(out, own_dirs):
            m = DENIED_RE.fullmatch(token)
            if m:
                index = int(m.lastgroup[1:])
                findings.append(f'{path}:{lineno}: {token}: '
                                f'{DENIED[index][1]}')
        if findings:
            self.fail(f'{src} [{config}]: constructs MSVC does not accept',
                      '\n'.join(sorted(set(findings), key=line_order)))
            return False
        return True

    def preprocess(self, src, config, extra):
        return tool(self.cc, *self.flags(config), *extra, '-E', src)

    # --- 3. link ----------------------------------------------------------

    def exported(self, sources, config):
        """Names the Python headers declare imported from python311.dll,
        as {name: is_data}."""
        names = {}
        for src in sources:
            proc = self.preprocess(src, config, [])
            if proc.returncode != 0:
                return None
            text = ''.join(python_header_text(proc.stdout, self.python_dir))
            for m in DLLIMPORT.finditer(text):
                end = text.find(';', m.end())
                name, is_data = declared_name(text[m.end():end])
                if name:
                    names[name] = is_data
        return names

    def link(self, sources, objs, config):
        names = self.exported(sources, config)
        if names is None:
            self.fail(f'link [{config}]: preprocessing failed', '')
            return False
        outdir = os.path.join(self.build, config)
        dll = 'python311_d.dll' if config == 'debug' else 'python311.dll'
        deffile = os.path.join(outdir, dll.replace('.dll', '.def'))
        implib = os.path.join(outdir, 'lib' + dll.replace('.dll', '.a'))
        with open(deffile, 'w') as f:
            f.write(f'LIBRARY {dll}\nEXPORTS\n')
            for name in sorted(names):
                f.write(f'    {name}{" DATA" if names[name] else ""}\n')
        proc = tool(self.binutil('dlltool'), '--input-def', deffile,
                    '--dllname', dll, '--output-lib', implib)
        if proc.returncode != 0:
            self.fail(f'link [{config}]: dlltool', proc.stderr)
            return False
        pyd = os.path.join(outdir, 'module.pyd')
        proc = tool(self.cc, '-shared', '-o', pyd, *objs, implib)
        if proc.returncode != 0:
            self.fail(f'link [{config}]: a .pyd against {dll}\'s exports '
                      '(a private function python311.dll does not export?)',
                      proc.stderr)
            return False
        dump = tool(self.binutil('objdump'), '-p', pyd).stdout
        if not any(name.startswith('PyInit_') for name in exports(dump)):
            self.fail(f'link [{config}]: the .pyd exports no PyInit_ function',
                      '')
            return False
        return True

    def binutil(self, name):
        """The binutils program for the compiler's target."""
        prefix = self.cc[:-len('gcc')] if self.cc.endswith('gcc') \
            else 'x86_64-w64-mingw32-'
        return prefix + name


def tool(*args):
    return subprocess.run(args, capture_output=True, text=True)


def exports(objdump_p):
    """The names in the export table that `objdump -p` prints."""
    table = objdump_p.partition('[Ordinal/Name Pointer] Table')[2]
    for line in table.splitlines()[1:]:
        m = re.match(r'\s*\[\s*\d+\]\s+(\S+)', line)
        if not m:
            break
        yield m.group(1)


def diagnostic_groups(stderr):
    """The compiler's messages, each with its context lines before it and
    its notes after it."""
    groups, pending = [], []
    for line in stderr.splitlines():
        m = DIAGNOSTIC.match(line)
        if m and m.group('kind') == 'note' and groups and not pending:
            groups[-1].append(line)
        elif m:
            groups.append(pending + [line])
            pending = []
        else:
            pending.append(line)
    if pending:
        groups.append(pending)
    return groups


def allowed(group):
    for line in group:
        m = DIAGNOSTIC.match(line)
        if m and m.group('kind') != 'note':
            return (m.group('kind') == 'warning'
                    and bool(ALLOWED_WARNINGS.search(m.group('msg'))))
    return False


def own_tokens(text, own_dirs):
    """(path, line, identifier) for the identifiers of the preprocessed
    text that come from files under own_dirs, skipping comments, string
    and character literals and the names of members (after . or ->)."""
    path, lineno, own, in_comment = None, 0, False, False
    for line in text.splitlines():
        m = LINE_MARKER.match(line)
        if m:
            lineno, path = int(m.group(1)), m.group(2)
            real = os.path.realpath(path)
            own = any(real.startswith(d + os.sep) for d in own_dirs)
            continue
        if own:
            previous = None
            pos = 0
            while pos < len(line):
                if in_comment:
                    end = line.find('*/', pos)
                    if end < 0:
                        break
                    in_comment, pos = False, end + 2
                    continue
                m = TOKEN.search(line, pos)
                if not m:
                    break
                token, pos = m.group(), m.end()
                if token == '/*':
                    in_comment = True
                elif token == '//':
                    break
                elif (token[0].isalpha() or token[0] == '_') and \
                        previous not in ('.', '->'):
                    yield path, lineno, token
                previous = token
        lineno += 1


def python_header_text(text, python_dir):
    """The lines of the preprocessed text that come from the Python
    headers."""
    inside = False
    for line in text.splitlines(keepends=True):
        m = LINE_MARKER.match(line)
        if m:
            inside = m.group(2).startswith(python_dir + os.sep)
        elif inside:
            yield line


def declared_name(decl):
    """(name, is_data) of a declaration after its dllimport attribute:
    'PyObject * PyFoo(PyObject *)', 'PyTypeObject PyFoo_Type',
    'char *(*PyOS_Hook)(FILE *)'."""
    decl = ATTRIBUTE.sub(' ', decl)
    paren = decl.find('(')
    pointer = re.match(r'\(\s*\*\s*(\w+)\s*\)', decl[paren:]) \
        if paren >= 0 else None
    if pointer:
        return pointer.group(1), True
    head = decl if paren < 0 else decl[:paren]
    names = re.findall(r'[A-Za-z_]\w*', head.split('[')[0])
    return (names[-1] if names else None), paren < 0


def line_order(finding):
    path, line, _ = finding.split(':', 2)
    return path, int(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cc', default='x86_64-w64-mingw32-gcc')
    parser.add_argument('--include', default='/usr/include/python3.11',
                        help='the distro\'s Python headers')
    parser.add_argument('--build', default='build/windows')
    parser.add_argument('--pending', action='append', default=[],
                        help='a source of the module left out of the check '
                             'until its fixes land (repeatable)')
    parser.add_argument('--config', action='append', choices=CONFIGS,
                        help='only this configuration (repeatable; '
                             'default: all)')
    parser.add_argument('sources', nargs='*')
    args = parser.parse_args()
    configs = args.config or list(CONFIGS)
    if shutil.which(args.cc) is None:
        sys.exit(f'check.py: {args.cc} is missing: apt-get install '
                 'gcc-mingw-w64-x86-64 (Tools/build/deps.sh windows)')

    checker = Checker(args.cc, args.include, os.path.abspath(args.build))
    own_dirs = sorted({os.path.dirname(os.path.realpath(s))
                       for s in args.sources})
    # The probe first: it proves the stand-in is in effect, so the check
    # means something even when every source is still pending.
    for config in configs:
        checker.compile(PROBE, os.path.join(checker.build, config, 'probe.o'),
                        config)
    for config in configs:
        objs = []
        for src in args.sources:
            name = os.path.relpath(src)
            if name.startswith(os.pardir):
                name = os.path.basename(src)
            name = os.path.splitext(name)[0]
            obj = os.path.join(checker.build, config,
                               re.sub(r'\W', '_', name) + '.o')
            ok = checker.compile(src, obj, config)
            ok = checker.scan(src, config, own_dirs) and ok
            if ok:
                objs.append(obj)
        # Linking needs every source of the module.
        if objs and len(objs) == len(args.sources) and not args.pending:
            checker.link(args.sources, objs, config)

    for src in args.pending:
        print(f'check-windows: pending, not checked yet: {src}')
    if checker.failures:
        print(f'check-windows: {len(checker.failures)} failure(s)')
        return 1
    linked = 'not linked' if args.pending or not args.sources else 'linked'
    print(f'check-windows: ok: the probe and {len(args.sources)} source(s) '
          f'compiled for Windows x64 ({", ".join(configs)}), {linked}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
