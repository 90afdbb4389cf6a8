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

    PATCHES = [{'name': 'one', 'sections': ['Alpha', 'Beta']},
               {'name': 'two', 'sections': ['Beta gamma', 'Delta']},
               {'name': 'three'}]

    C = (
        '/* head */\n'
        '/* ====\n'
        ' * Alpha\n'
        ' * ==== */\n'
        'int a;\n'
        'int b;  /* series: two */\n'
        '/* series: three { */\n'
        'int c;\n'
        '/* series: } */\n'
        '/* series: until two\n'
        'int old;\n'
        'series: end */\n'
        '/* ====\n'
        ' * Beta gamma: more\n'
        ' * ==== */\n'
        'int d;\n'
        '/* ================ end of Delta ===== */\n'
        'int e;\n'
    )

    @classmethod
    def setUpClass(cls):
        cls.s = load_series()

    def versions(self, text):
        assigned = self.s.assign_lines(text, self.PATCHES, 'one')
        return [self.s.c_version(assigned, k) for k in range(3)]

    def test_banners(self):
        lines = self.C.splitlines(keepends=True)
        self.assertEqual([t for _, t in self.s.banner_titles(lines)],
                         ['Alpha', 'Beta gamma: more', 'end of Delta'])

    def test_longest_section_wins(self):
        owner = self.s.section_owner
        self.assertEqual(owner('Beta', self.PATCHES), 'one')
        self.assertEqual(owner('Beta gamma: more', self.PATCHES), 'two')
        self.assertEqual(owner('Alphabet', self.PATCHES), None)
        self.assertEqual(owner('Alpha (x)', self.PATCHES), 'one')

    def test_markers_split_the_file(self):
        one, two, three = self.versions(
            self.C.replace('end of Delta', 'Delta'))
        self.assertIn('int a;\nint old;\n', one)
        self.assertNotIn('int b', one)
        self.assertNotIn('int d', one)
        self.assertIn('int a;\nint b;\n/* ====', two)
        self.assertNotIn('old', two)
        self.assertIn('int d;', two)
        self.assertIn('int b;\nint c;\n/* ====', three)
        self.assertNotIn('series:', three)

    def test_unknown_section_fails(self):
        with self.assertRaisesRegex(self.s.SeriesError, 'end of Delta'):
            self.versions(self.C)

    def test_without_markers_all_in_first_c_patch(self):
        text = 'int a;\n/* ====\n * Nowhere\n * ==== */\nint b;\n'
        patches = [{'name': 'lib'}] + self.PATCHES
        assigned = self.s.assign_lines(text, patches, 'one')
        self.assertEqual(self.s.c_version(assigned, 0), '')
        self.assertEqual(self.s.c_version(assigned, 1), text)

    def test_bad_markers(self):
        for text, error in [
                ('/* series: two { */\n', 'not closed'),
                ('/* series: } */\n', 'closes no open block'),
                ('int x;  /* series: nine */\n', 'no patch "nine"'),
                ('int x; /* series: two { */\n', 'alone on its line'),
                ('/* series: one { */\n/* series: two { */\n', 'nest'),
                ('/* series: until one\nint x;\nseries: end */\n',
                 'before it is added')]:
            with self.subTest(text=text):
                with self.assertRaisesRegex(self.s.SeriesError, error):
                    self.versions('/* ====\n * Alpha\n * ==== */\n' + text)

    def test_figures(self):
        readme = ('### Latest full run\n\n'
                  '| workload | clock | fork |\n|---|---|---:|\n'
                  '| gather | cpu | 1.10x ±9% |\n')
        table = self.s.readme_table(readme)
        self.assertEqual(table['gather']['fork'], '1.10x ±9%')
        filled = self.s.fill_figures('g {bench:gather:fork}, l {loop:gather}',
                                     table, {})
        self.assertEqual(filled, 'g 1.10x ±9%, l [FIGURES PENDING: '
                                 'gather, make bench]')
        self.assertEqual(self.s.fill_figures('{loop:gather}', table,
                                             {'gather': '2.00x'}), '2.00x')
        with self.assertRaises(self.s.SeriesError):
            self.s.fill_figures('{bench:gather:pure}', table, {})

    def test_loop_results_skip_cells_without_ratio(self):
        import json
        import tempfile
        data = {'mode': 'quick', 'started': '2026-11-28T10:00:00',
                'alternatives': [{'name': 'fork',
                                  'impl': {'handle': '_asyncio.Handle'}}],
                'summary': {'gather': {'fork': {'ratio': 2.5}},
                            'tcp_bulk': {'fork': {'error': 'boom'}},
                            'async_tree_eager': {'fork': {'unsupported': 'no'}},
                            'copy_future_state': {'stock': {'median': 1.0}}}}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'results.json')
            with open(path, 'w') as f:
                json.dump(data, f)
            self.assertEqual(self.s.loop_results(path),
                             {'gather': '2.50x (quick run of 2026-11-28)'})

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
        # Every stdlib patch and every file under Lib/ and Misc/NEWS.d/ is
        # in the series or named as the fork's own; the module's markers
        # (if any) name known patches and sections.
        manifest = self.s.load_manifest()
        patches = manifest['patch']
        self.s.stdlib_patches_of(patches, self.s.stdlib.read_series())
        self.s.repo_files_of(patches, manifest['fork_only'])
        with open(os.path.join(ROOT, manifest['c']['source'])) as f:
            self.s.assign_lines(f.read(), patches, manifest['c']['preamble'])


if __name__ == '__main__':
    unittest.main()
