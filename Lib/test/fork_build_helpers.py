"""Helpers of the tests of the fork as users build, install and package it
(test_fork_make, test_fork_install, test_fork_deb; `make test-fork`).
Not a test module itself.

Those tests run make in the build directory of the interpreter running
them (its sys.prefix, which holds the Makefile) or in a scratch copy of
the repository, so they need the checkout: in an installed tree they are
skipped.  They take minutes, hence the "cpu" resource (`-u cpu`).
"""

import os
import re
import subprocess
import sys
import unittest
from test import support

# The repository: this file is the staged link to it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__))))
# The build directory of the interpreter running the tests.
BUILD_DIR = sys.prefix


def require_build_dir():
    support.requires('cpu')
    if not os.path.exists(os.path.join(BUILD_DIR, 'Makefile')):
        raise unittest.SkipTest('needs the build directory of the '
                                'interpreter')
    if not os.path.isdir(os.path.join(ROOT, 'Tools', 'build')):
        raise unittest.SkipTest('needs the repository')


def clean_env(**changes):
    """The environment for make and the interpreters under test: without an
    outer make's jobserver or the running interpreter's settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')
           and not k.startswith('PYTHON')}
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


def run(args, cwd=None, check=True, timeout=1800, env=None, **kwargs):
    """Run a command; on failure raise AssertionError with its output."""
    result = subprocess.run(args, cwd=cwd, env=env or clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=timeout, **kwargs)
    if check and result.returncode:
        raise AssertionError(f'{" ".join(map(str, args))} exited '
                             f'{result.returncode}:\n{result.stdout[-6000:]}')
    return result


def make(*targets, cwd=BUILD_DIR, check=True, env=None):
    return run(['make', '--no-print-directory', *targets], cwd=cwd,
               check=check, env=env)


def makefile_list(name, makefile=os.path.join(BUILD_DIR, 'Makefile')):
    """The words of a variable of the Makefile (continuation lines too)."""
    with open(makefile) as f:
        text = f.read().replace('\\\n', ' ')
    m = re.search(rf'^{name}=(.*)$', text, re.MULTILINE)
    return m.group(1).split() if m else []


def suite_passed(result):
    return (result.returncode == 0
            and 'Tests result: SUCCESS' in result.stdout)


def file_times(top):
    """{path: mtime} of every file under top, links not followed."""
    times = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames:
            path = os.path.join(dirpath, name)
            times[path] = os.lstat(path).st_mtime_ns
    return times


def changed_files(before, after):
    return sorted(p for p in after if before.get(p) != after[p])


def stale_bytecode(stdlib_dir, exclude):
    """The .py files under stdlib_dir without a current pyc (timestamp or
    hash-based; sources matching the exclude pattern are skipped)."""
    import importlib.util
    pattern = re.compile(exclude)
    stale = []
    for dirpath, dirnames, filenames in os.walk(stdlib_dir):
        dirnames[:] = [d for d in dirnames
                       if d not in ('__pycache__', 'lib-dynload')]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not name.endswith('.py') or pattern.search(path):
                continue
            try:
                with open(importlib.util.cache_from_source(path), 'rb') as f:
                    header = f.read(16)
            except OSError:
                stale.append(path)
                continue
            flags = int.from_bytes(header[4:8], 'little')
            st = os.stat(path)
            if flags == 0 and (
                    int.from_bytes(header[8:12], 'little')
                    != int(st.st_mtime) & 0xFFFFFFFF
                    or int.from_bytes(header[12:16], 'little')
                    != st.st_size & 0xFFFFFFFF):
                stale.append(path)
    return stale
