"""Tests of Tools/bench, the benchmark suite of this repository (`make bench`,
`make callgrind`): the runner's bookkeeping (plans, eager rows measured
against stock's lazy run, unsupported cells, metrics, the issues' target
lines), benchlib's command line and JSON line, the callgrind arithmetic,
and that the network and eager-tree workloads run on this interpreter and
fail their own checks when what they measure is wrong.  No speed is
asserted."""

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

# The staged stdlib links this file to the repository's copy.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))))
BENCH = os.path.join(ROOT, 'Tools', 'bench')
HAS_EAGER = hasattr(asyncio, 'eager_task_factory')


def load(name):
    """Import Tools/bench/NAME.py; run.py and callgrind.py import siblings."""
    saved_path, saved_modules = sys.path[:], set(sys.modules)
    sys.path.insert(0, BENCH)
    try:
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(BENCH, name + '.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved_path
        for added in set(sys.modules) - saved_modules:
            del sys.modules[added]
    return module


def run_script(argv, env=None, timeout=120):
    """Run a Python script with this interpreter; (JSON line, process)."""
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(('BENCH_', 'PYTHON'))}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable] + argv, cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('{')]
    record = json.loads(lines[-1]) if lines else None
    return record, proc


@unittest.skipUnless(os.path.exists(os.path.join(BENCH, 'run.py')),
                     'needs the repository')
class RunnerTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.r = load('run')
        cls.alts = cls.r.alternatives('/nonexistent/python')
        cls.by_alt = {a.name: a for a in cls.alts}

    def w(self, name):
        return self.r.BY_NAME[name]

    def sample(self, workload, alt, ns=None, **extra):
        s = {'workload': workload, 'alt': alt, **extra}
        if ns is not None:
            s.update(ns_per_op=ns, batches=[ns], ops=1)
        return s

    def test_tree_family(self):
        names = [w.name for w in self.r.WORKLOADS if w.name.startswith('async_tree')]
        self.assertEqual(len(names), 16)
        for name in ['async_tree_none', 'async_tree_cpu_io_mixed_tg',
                     'async_tree_eager', 'async_tree_eager_tg',
                     'async_tree_eager_io', 'async_tree_eager_memoization_tg']:
            self.assertIn(name, names)
        twins = {w.name: w.lazy for w in self.r.WORKLOADS if w.lazy}
        self.assertEqual(len(twins), 8)
        for eager, lazy in [('async_tree_eager', 'async_tree_none'),
                            ('async_tree_eager_tg', 'async_tree_none_tg'),
                            ('async_tree_eager_io', 'async_tree_io'),
                            ('async_tree_eager_cpu_io_mixed_tg',
                             'async_tree_cpu_io_mixed_tg')]:
            self.assertEqual(twins[eager], lazy)
        for eager, lazy in twins.items():
            self.assertIsNone(self.w(lazy).lazy)
            self.assertEqual(self.w(lazy).script, self.w(eager).script)

    def test_eager_rows_plan(self):
        eager, lazy = self.w('async_tree_eager_memoization'), self.w('async_tree_memoization')
        plan = self.r.make_plan([lazy, eager], self.alts, 1)
        row = lambda w: sorted(a.name for _, x, a in plan if x is w)
        self.assertEqual(row(lazy), sorted(self.by_alt))
        # stock's figure comes from the lazy row: not measured twice
        self.assertEqual(row(eager), ['fork', 'fork+uvloop'])
        plan = self.r.make_plan([eager], self.alts, 2)
        self.assertEqual(sorted({a.name for _, _, a in plan}),
                         ['fork', 'fork+uvloop', 'stock'])
        self.assertEqual(len(plan), 6)

    def test_stock_runs_the_lazy_twin(self):
        eager = self.w('async_tree_eager_io_tg')
        argv = self.r.workload_argv(self.by_alt['stock'], eager, True, '--batches', '2')
        self.assertEqual(argv[1:], ['io_tg', '--quick', '--batches', '2'])
        argv = self.r.workload_argv(self.by_alt['fork'], eager, False)
        self.assertEqual(argv[1:], ['eager_io_tg'])
        self.assertTrue(argv[0].endswith('bm_async_tree.py'))

    def test_task_start_checked(self):
        wrong = self.r.wrong_impl
        eager, stock, fork = (self.w('async_tree_eager'), self.by_alt['stock'],
                              self.by_alt['fork'])
        self.assertIsNone(wrong(fork, {'task_start': 'eager'}, eager))
        self.assertIn('not eager', wrong(fork, {'task_start': 'lazy'}, eager))
        self.assertIn('unreported', wrong(fork, {}, eager))
        self.assertIsNone(wrong(stock, {'task_start': 'lazy'}, eager))
        self.assertIn('not lazy', wrong(stock, {'task_start': 'eager'}, eager))
        self.assertIn('not lazy', wrong(fork, {'task_start': 'eager'},
                                        self.w('async_tree_none')))
        self.assertIsNone(wrong(fork, {}, self.w('gather')))

    def summary(self, samples, names):
        ws = [self.w(n) for n in names]
        return dict(self.r.summary_rows(self.r.summarise(samples, self.alts, ws),
                                        self.alts))

    def test_eager_row_against_stock_lazy(self):
        rows = self.summary([
            self.sample('async_tree_memoization', 'stock', 600),
            self.sample('async_tree_memoization', 'fork', 200),
            self.sample('async_tree_eager_memoization', 'fork', 100),
        ], ['async_tree_memoization', 'async_tree_eager_memoization'])
        eager = rows['async_tree_eager_memoization']
        self.assertEqual(eager['stock']['median'], 600)
        self.assertAlmostEqual(eager['fork']['ratio'], 6.0)
        self.assertNotIn('pure', eager)
        lines = self.r.target_lines(list(rows.items()), [])
        self.assertIn('issue 16: eager memoization gather tree at least 6x '
                      "stock's lazy run: fork 6.00x -> met", lines)
        self.assertIn('issue 16: eager memoization gather tree at least 1.4x '
                      "the fork's lazy run: 2.00x -> met", lines)
        rows['async_tree_eager_memoization']['fork']['median'] = 160
        rows['async_tree_eager_memoization']['fork']['ratio'] = 3.75
        lines = self.r.target_lines(list(rows.items()), [])
        self.assertIn('issue 16: eager memoization gather tree at least 6x '
                      "stock's lazy run: fork 3.75x -> not met", lines)
        self.assertIn('issue 16: eager memoization gather tree at least 1.4x '
                      "the fork's lazy run: 1.25x -> not met", lines)

    def test_unsupported_is_not_failed(self):
        why = 'asyncio.eager_task_factory is missing'
        rows = self.summary([
            self.sample('async_tree_none', 'stock', 500),
            self.sample('async_tree_none', 'fork', 250),
            self.sample('async_tree_eager', 'fork', unsupported=why),
            self.sample('async_tree_eager_io', 'fork', unsupported=why),
            self.sample('async_tree_io', 'stock', 800),
        ], ['async_tree_none', 'async_tree_io', 'async_tree_eager',
            'async_tree_eager_io'])
        self.assertEqual(rows['async_tree_eager']['fork'], {'unsupported': why})
        self.assertEqual(self.r.format_cell(rows['async_tree_eager']['fork'], 'fork'),
                         'unsupported')
        self.assertEqual(rows['geomean async_tree_eager']['fork'], {'unsupported': why})
        self.assertAlmostEqual(rows['geomean all']['fork']['ratio'], 2.0)
        notes = self.r.failures(list(rows.items()))
        self.assertEqual(notes, [f'unsupported on fork: {why}: '
                                 'async_tree_eager, async_tree_eager_io'])
        lines = self.r.target_lines(list(rows.items()), [])
        self.assertIn("issue 16: eager async_tree_none at least 5x stock's lazy run: "
                      'unsupported on fork -> not met', lines)

    def test_failed_cell_still_failed(self):
        rows = self.summary([self.sample('gather', 'stock', 10),
                             self.sample('gather', 'fork', error='CheckFailed: x')],
                            ['gather'])
        self.assertEqual(self.r.format_cell(rows['gather']['fork'], 'fork'), 'FAILED')
        self.assertEqual(self.r.failures(list(rows.items())),
                         ['FAILED on fork: CheckFailed: x: gather (1/1 runs)'])

    def test_socket_targets(self):
        def rows(fork, uv, alt_uv=None):
            row = {'stock': {'median': 1.0}, 'fork': {'ratio': fork}}
            if uv is not None:
                row['uvloop'] = {'ratio': uv}
            if alt_uv is not None:
                row['fork+uvloop'] = {'ratio': alt_uv}
            return [('tcp_echo_protocols', row)]
        line = lambda rs: self.r.socket_target_lines(dict(rs))[0]
        self.assertTrue(line(rows(1.5, 1.3)).endswith('-> met'))
        self.assertTrue(line(rows(1.5, 1.6)).endswith('fork 1.50x, uvloop 1.60x -> not met'))
        self.assertTrue(line(rows(1.3, 1.1)).endswith('-> not met'))
        self.assertIn('uvloop undecided', line(rows(1.5, None)))
        kept = self.r.uvloop_kept_line(rows(1.0, 1.3, 1.2) + [
            ('tcp_bulk', {'uvloop': {'ratio': 2.0}, 'fork+uvloop': {'ratio': 2.1}})])
        self.assertEqual(kept, ['issue 15: fork+uvloop at least as fast as uvloop on '
                                'stock: 1/2 workloads; behind on tcp_echo_protocols '
                                '1.20x < 1.30x'])

    def test_metrics(self):
        rows = self.summary([
            self.sample('tcp_bulk', 'stock', 100, metrics={'peak_rss_growth_kib': 3000}),
            self.sample('tcp_bulk', 'stock', 110, metrics={'peak_rss_growth_kib': 1000}),
            self.sample('tcp_bulk', 'stock', 120, metrics={'peak_rss_growth_kib': 2000}),
            self.sample('tcp_bulk', 'fork', 50, metrics={'peak_rss_growth_kib': 900}),
        ], ['tcp_bulk'])
        self.assertEqual(rows['tcp_bulk']['stock']['metrics'], {'peak_rss_growth_kib': 2000})
        text = self.r.metric_table(list(rows.items()), self.alts)
        self.assertRegex(text, r'tcp_bulk +peak_rss_growth_kib +2000 +- +900 +- +-')
        md = self.r.metric_table(list(rows.items()), self.alts, markdown=True)
        self.assertIn('| tcp_bulk | peak_rss_growth_kib | 2000 | - | 900 | - | - |', md)
        self.assertEqual(self.r.metric_table([('gather', {})], self.alts), '')

    def fake_workload(self, body):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, 'bm_fake.py')
        with open(path, 'w') as f:
            f.write(body)
        return self.r.Workload('fake', path)

    def test_measure_reads_unsupported_and_metrics(self):
        alt = self.r.Alternative('fork', sys.executable, {}, eager=True)
        settings = {'min_time': 0.01, 'timeout': 60}
        impl = {'future': 'f', 'task': 't', 'loop': 'l'}
        w = self.fake_workload(textwrap.dedent(f'''\
            import json
            print(json.dumps({{"workload": "fake", "unsupported": "no", "impl": {impl!r}}}))
            '''))
        sample = self.r.measure(alt, w, settings, True)
        self.assertEqual(sample['unsupported'], 'no')
        self.assertNotIn('error', sample)
        w = self.fake_workload(textwrap.dedent(f'''\
            import json
            print(json.dumps({{"workload": "fake", "impl": {impl!r}, "ns_per_op": 5,
                              "batches": [5], "ops": 9, "metrics": {{"m": 1}}}}))
            '''))
        sample = self.r.measure(alt, w, settings, True)
        self.assertEqual((sample['ns_per_op'], sample['metrics']), (5, {'m': 1}))


@unittest.skipUnless(os.path.exists(os.path.join(BENCH, 'benchlib.py')),
                     'needs the repository')
class BenchlibTests(unittest.TestCase):

    def script(self, body):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, 'bm_probe.py')
        with open(path, 'w') as f:
            f.write(f'import sys\nsys.path.insert(0, {BENCH!r})\n'
                    + textwrap.dedent(body))
        return path

    def test_batches_close_metrics(self):
        path = self.script('''\
            import benchlib
            calls = []
            def make_batch(loop, args):
                def batch():
                    calls.append(1)
                    return 4
                def close():
                    print("closed after", len(calls), file=sys.stderr)
                return benchlib.Batch(batch, close=close,
                                      metrics=lambda: {"calls": len(calls)},
                                      impl={"seen": "yes"})
            benchlib.run("probe", make_batch)
            ''')
        record, proc = run_script([path, 'v', '--batches', '3', '--warmup', '2'])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(record['workload'], 'probe_v')
        self.assertEqual((len(record['batches']), record['ops']), (3, 12))
        self.assertEqual(record['metrics'], {'calls': 5})
        self.assertEqual(record['impl']['seen'], 'yes')
        self.assertIn('closed after 5', proc.stderr)

    def test_unsupported_and_failed(self):
        path = self.script('''\
            import benchlib
            def make_coro(args):
                if args.variant == "no":
                    raise benchlib.Unsupported("not here")
                async def batch():
                    benchlib.check(False, "wrong result")
                return batch
            benchlib.run_async("probe", make_coro)
            ''')
        record, proc = run_script([path, 'no'])
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(record['unsupported'], 'not here')
        self.assertNotIn('ns_per_op', record)
        record, proc = run_script([path, 'yes'])
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(record['error'], 'CheckFailed: wrong result')

    def test_async_batch_close(self):
        path = self.script('''\
            import asyncio, benchlib
            def make_coro(args):
                async def batch():
                    await asyncio.sleep(0)
                    return 2
                async def close():
                    await asyncio.sleep(0)
                    print("async close ran", file=sys.stderr)
                return benchlib.Batch(batch, close=close)
            benchlib.run_async("probe", make_coro)
            ''')
        record, proc = run_script([path, '--batches', '1'])
        self.assertEqual(record['ops'], 2, proc.stderr)
        self.assertIn('async close ran', proc.stderr)


@unittest.skipUnless(os.path.exists(os.path.join(BENCH, 'callgrind.py')),
                     'needs the repository')
class CallgrindToolTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.c = load('callgrind')

    def test_totals_line(self):
        text = b'events: Ir\nfn=x\n0 5\nsummary: 123456\ntotals: 123456\n'
        self.assertEqual(int(self.c.TOTALS.search(text).group(1)), 123456)

    def test_difference_per_operation(self):
        runs = {1: ({'ops': 2000}, 10_000_000), 3: ({'ops': 6000}, 30_000_000)}
        alt = self.c.runner.alternatives('/bin/true')[0]
        w = self.c.runner.BY_NAME['tcp_echo_protocols']
        args = type('Args', (), {'batches': [1, 3], 'full': False})()
        original = self.c.run_once
        self.c.run_once = lambda a, wl, q, n, *rest: runs[n] if rest else ({'ops': 1}, None)
        try:
            result = self.c.count(alt, w, args, 'valgrind', '/tmp')
            self.assertEqual(result['per_op'], 5000)
            runs[3] = ({'ops': 2000}, 30_000_000)
            self.assertIn('no difference', self.c.count(alt, w, args, 'valgrind',
                                                         '/tmp')['error'])
        finally:
            self.c.run_once = original
        text, md = self.c.tables({'x': {'stock': {'per_op': 300.0},
                                        'fork': {'per_op': 100.0}}},
                                 self.c.runner.alternatives('/bin/true')[::2][:2])
        self.assertRegex(text, r'x +300 +100 +3\.00x')


def workload(script, *args, env=None):
    return run_script([os.path.join(BENCH, script), *args,
                       '--batches', '1', '--warmup', '0'], env=env)


# The checks of the workloads themselves: each fault below must be caught.
FAULTS = {
    'echo_buffered': ('bm_tcp_buffered', '''\
        m.BufferedEcho.buffer_updated = (
            lambda self, n: self.transport.write(bytes(self.buffer[:n])[::-1]))
        benchlib.run_async("x", bm_tcp_streams.echo_batch(m.start_server, m.client))
        '''),
    'churn_reply': ('bm_tcp_churn', '''\
        real = m.Server.data_received
        def garble(self, data):
            if data.startswith(b"GET 3:7;"):
                data = b"GET 3:8;" + data[8:]
            real(self, data)
        m.Server.data_received = garble
        benchlib.run_async("x", m.make_coro)
        '''),
    'churn_server_count': ('bm_tcp_churn', '''\
        real = m.Server.connection_made
        def count_twice(self, transport):
            real(self, transport)
            if self.stats["accepted"] == 50:
                self.stats["accepted"] += 1
        m.Server.connection_made = count_twice
        benchlib.run_async("x", m.make_coro)
        '''),
    'bulk_flow_control': ('bm_tcp_bulk', '''\
        m.Writer.pause_writing = lambda self: None
        benchlib.run_async("x", m.make_coro)
        '''),
    'bulk_lost_chunk': ('bm_tcp_bulk', '''\
        real = m.Reader.data_received
        seen = []
        def lose_one(self, data):
            seen.append(1)
            if len(seen) != 5:
                real(self, data)
        m.Reader.data_received = lose_one
        benchlib.run_async("x", m.make_coro)
        '''),
    'bulk_corrupt_byte': ('bm_tcp_bulk', '''\
        m.PAYLOAD = m.PAYLOAD[:300001] + b"\\xff" + m.PAYLOAD[300002:]
        benchlib.run_async("x", m.make_coro)
        '''),
    'tls_echo': ('bm_tls_echo', '''\
        m.Echo.data_received = lambda self, d: self.transport.write(d[::-1])
        benchlib.run_async("x", m.make_coro)
        '''),
    'tree_counts': ('bm_async_tree', '''\
        m.Tree.leaf_memoization = m.Tree.leaf_io
        benchlib.run("async_tree", m.make_batch)
        '''),
}


@unittest.skipUnless(os.path.exists(os.path.join(BENCH, 'run.py')),
                     'needs the repository')
class WorkloadTests(unittest.TestCase):
    """The new workloads on this interpreter: one batch each, checked."""

    def setUp(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        self.cert_env = {'BENCH_CERT_DIR': os.path.join(tmp, 'tls')}

    def assertRan(self, result, name, ops):
        record, proc = result
        self.assertIsNotNone(record, proc.stderr)
        self.assertNotIn('error', record)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(record['workload'], name)
        self.assertEqual(record['ops'], ops)
        self.assertGreater(record['ns_per_op'], 0)
        return record

    def test_network_workloads(self):
        self.assertRan(workload('bm_tcp_buffered.py'), 'tcp_echo_buffered', 2000)
        self.assertRan(workload('bm_tcp_churn.py'), 'tcp_churn', 200)
        record = self.assertRan(workload('bm_tcp_bulk.py'), 'tcp_bulk', 16)
        self.assertGreater(record['metrics']['peak_rss_kib'], 0)
        self.assertGreaterEqual(record['metrics']['peak_rss_growth_kib'], 0)

    @unittest.skipUnless(shutil.which('openssl'), 'needs the openssl command')
    def test_tls_echo_makes_its_certificate(self):
        self.assertRan(workload('bm_tls_echo.py', env=self.cert_env), 'tls_echo', 2000)
        cert_dir = self.cert_env['BENCH_CERT_DIR']
        self.assertEqual(sorted(os.listdir(cert_dir)), ['cert.pem', 'key.pem'])
        mtime = os.path.getmtime(os.path.join(cert_dir, 'cert.pem'))
        self.assertRan(workload('bm_tls_echo.py', env=self.cert_env), 'tls_echo', 2000)
        self.assertEqual(os.path.getmtime(os.path.join(cert_dir, 'cert.pem')), mtime)

    def test_lazy_trees(self):
        for variant in ['none_tg', 'memoization']:
            with self.subTest(variant=variant):
                record = self.assertRan(workload('bm_async_tree.py', variant, '--quick'),
                                        f'async_tree_{variant}', 9330)
                self.assertEqual(record['impl']['task_start'], 'lazy')

    def test_eager_tree(self):
        record, proc = workload('bm_async_tree.py', 'eager_memoization_tg', '--quick')
        if HAS_EAGER:
            record = self.assertRan((record, proc),
                                    'async_tree_eager_memoization_tg', 9330)
            self.assertEqual(record['impl']['task_start'], 'eager')
        else:
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(record['unsupported'],
                             'asyncio.eager_task_factory is missing')
            self.assertNotIn('ns_per_op', record)

    def test_faults_are_caught(self):
        for fault, (module, body) in FAULTS.items():
            if module == 'bm_tls_echo' and not shutil.which('openssl'):
                continue
            with self.subTest(fault=fault):
                tmp = tempfile.mkdtemp()
                self.addCleanup(shutil.rmtree, tmp)
                path = os.path.join(tmp, 'fault.py')
                with open(path, 'w') as f:
                    f.write(f'import sys\nsys.path.insert(0, {BENCH!r})\n'
                            f'import benchlib, bm_tcp_streams\nimport {module} as m\n'
                            + textwrap.dedent(body))
                args = ['memoization', '--quick'] if module == 'bm_async_tree' else []
                record, proc = run_script([path, *args, '--batches', '1',
                                           '--warmup', '0'], env=self.cert_env)
                self.assertIsNotNone(record, proc.stderr)
                self.assertEqual(proc.returncode, 1, record)
                self.assertTrue(record['error'].startswith('CheckFailed'), record)


if __name__ == '__main__':
    unittest.main()
