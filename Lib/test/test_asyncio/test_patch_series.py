"""Tests of Tools/patches/series.py, the writer of the patch series for
upstream review (`make patches`): its pure functions, and that the
repository's manifest covers the repository.  The series itself is checked
by `make patches-check`, which takes a while."""

import importlib.util
import os
import sys
import unittest

# The staged stdlib links this file to the repository's copy.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))))
SERIES_PY = os.path.join(ROOT, 'Tools', 'patches', 'series.py')


def load_series():
    # series.py puts Tools/build on sys.path to import its helper; regrtest
    # reports a changed sys.path.
    saved = sys.path[:]
    try:
        spec = importlib.util.spec_from_file_location('series', SERIES_PY)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


@unittest.skipUnless(os.path.exists(SERIES_PY), 'needs the repository')
class SeriesTests(unittest.TestCase):

    PARTS = ['running_loop', 'future', 'loop']
    LIST = (
        '#include "running_loop.h"\n'
        '#include "future.h"\n'
        '#include "loop.h"\n'
        '#define PARTS(PART) \\\n'
        '    PART(running_loop) \\\n'
        '    PART(future) \\\n'
        '    PART(loop) \\\n'
        '    <ClCompile Include="..\\Modules\\_asyncio\\loop.c" />\n'
        '    <ClCompile Include="..\\Modules\\_asyncio\\module.c" />\n'
    )

    @classmethod
    def setUpClass(cls):
        cls.s = load_series()

    def test_list_version_keeps_the_added_parts(self):
        text = self.s.list_version(self.LIST, self.PARTS,
                                   ['running_loop', 'future'])
        self.assertIn('"running_loop.h"', text)
        self.assertIn('PART(running_loop)', text)
        self.assertIn('PART(future)', text)
        self.assertIn('module.c', text)
        # "running_loop" names no "loop": only the loop part's lines go
        self.assertNotIn('"loop.h"', text)
        self.assertNotIn('PART(loop)', text)
        self.assertNotIn('\\loop.c', text)
        self.assertEqual(self.s.list_version(self.LIST, self.PARTS,
                                             self.PARTS), self.LIST)

    def test_build_file_lines(self):
        self.assertEqual(
            self.s.setup_line(['future']),
            '@MODULE__ASYNCIO_TRUE@_asyncio _asyncio/module.c '
            '_asyncio/future.c\n')
        deps = self.s.deps_line(['future'])
        self.assertTrue(deps.startswith('MODULE__ASYNCIO_DEPS='))
        for header in ('module.h', 'parts.h', 'future.h'):
            self.assertIn(f'$(srcdir)/Modules/_asyncio/{header}', deps)
        base = ('MODULE_MATH_DEPS=x\nMODULE__BLAKE2_DEPS=y\n\n# end\n')
        self.assertEqual(self.s.makefile_version(base, []), base)
        self.assertEqual(self.s.makefile_version(base, ['future']),
                         'MODULE_MATH_DEPS=x\n' + deps
                         + 'MODULE__BLAKE2_DEPS=y\n\n# end\n')
        setup = '@MODULE_ARRAY_TRUE@array a.c\n' \
                '@MODULE__ASYNCIO_TRUE@_asyncio _asynciomodule.c\n'
        self.assertEqual(self.s.setup_version(setup, ['future']),
                         '@MODULE_ARRAY_TRUE@array a.c\n'
                         + self.s.setup_line(['future']))

    def test_parts_in_order_once(self):
        check = self.s.check_parts
        check([{'parts': ['running_loop', 'future']}, {'parts': ['loop']},
               {}], self.PARTS)
        for patches, error in [
                ([{'parts': ['future', 'running_loop', 'loop']}], 'order'),
                ([{'parts': ['running_loop', 'future']}], 'exactly one'),
                ([{'parts': self.PARTS}, {'parts': ['loop']}], 'exactly one'),
                ([{'parts': self.PARTS + ['nine']}], 'not in parts.h')]:
            with self.subTest(patches=patches):
                with self.assertRaisesRegex(self.s.SeriesError, error):
                    check(patches, self.PARTS)

    def test_figures(self):
        results = {'summary': {'gather': {'fork': {'ratio': 3.514,
                                                   'spread': 0.19}}}}
        self.assertEqual(self.s.fill_figures('g {bench:gather:fork}.',
                                             results),
                         'g 3.51x (±19%).')
        for missing in ('{bench:gather:pure}', '{bench:nothing:fork}'):
            with self.assertRaisesRegex(self.s.SeriesError, 'no such'):
                self.s.fill_figures(missing, results)

    def test_identity(self):
        from unittest import mock
        with mock.patch.dict(os.environ,
                             {'PATCH_AUTHOR': 'Ada Lovelace <ada@python.org>'}):
            name, email, date = self.s.identity()
        self.assertEqual((name, email), ('Ada Lovelace', 'ada@python.org'))
        self.assertTrue(date)
        for author, error in [
                ('Seed maintainers <m@users.noreply.h-seed.example>',
                 'placeholder'),
                ('Someone <someone@example.com>', 'placeholder'),
                ('Someone <someone@host.invalid>', 'placeholder'),
                ('no address', 'expected')]:
            with self.subTest(author=author):
                with mock.patch.dict(os.environ, {'PATCH_AUTHOR': author}):
                    with self.assertRaisesRegex(self.s.SeriesError, error):
                        self.s.identity()

    def test_subject_and_news_for_upstream(self):
        self.assertEqual(self.s.subject_line({'subject': 'Do it'}), 'Do it')
        self.assertEqual(self.s.subject_line({'subject': 'Do it',
                                              'upstream_issue': 134173}),
                         'gh-134173: Do it')
        self.assertEqual(
            self.s.news_for_upstream(
                'Misc/NEWS.d/next/Library/'
                '2026-11-22-01-38-28.gh-issue-7.m7vJGb.rst', 134173),
            'Misc/NEWS.d/next/Library/'
            '2026-11-22-01-38-28.gh-issue-134173.m7vJGb.rst')

    def test_wrap_message(self):
        body = '\n' + 'word ' * 30 + '\n\n  kept   as is\n'
        wrapped = self.s.wrap_message(body)
        self.assertTrue(all(len(l) <= 72 for l in wrapped.splitlines()))
        self.assertTrue(wrapped.endswith('\n\n  kept   as is\n'))

    def test_news_names(self):
        match = self.s.NEWS_NAME.match
        self.assertTrue(match('2026-11-22-01-38-28.gh-issue-134173.m7vJGb.rst'))
        self.assertFalse(match('2026-11-22.gh-issue-134173.m7vJGb.rst'))
        self.assertFalse(match('2026-11-22-01-38-28.bpo-134173.m7vJGb.rst'))

    def test_manifest_covers_the_repository(self):
        # Every part, every stdlib patch and every file under Lib/ and
        # Misc/NEWS.d/ is in the series or named as the fork's own, and
        # every message's figures are in the committed results.
        manifest = self.s.load_manifest()
        patches = manifest['patch']
        self.s.check_parts(patches, self.s.all_parts(manifest['c']))
        self.s.stdlib_patches_of(patches, self.s.stdlib.read_series())
        self.s.repo_files_of(patches, manifest['fork_only'])
        results = self.s.load_results()
        for p in patches:
            self.s.fill_figures(p['message'], results)
        for rel in manifest['c']['lists']:
            self.assertTrue(os.path.exists(os.path.join(ROOT, rel)), rel)


if __name__ == '__main__':
    unittest.main()
