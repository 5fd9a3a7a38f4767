"""`calib eval --suite tao2024 --json`, `calib eval --svg` and `calib diagram`
on the shipped dataset (data/cifar10_densenet40_markus93): the suite's JSON
against REFERENCE_METRICS.json and the published after-temperature figures,
and the SVG parsed with xml.etree (valid XML, one panel per state, one bar
per non-empty bin, the ECE in the legend equal to the library's).

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_metrics_cli.py
Exit 0 on success, 77 when bin/calib is not built (prints why).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_metrics as T  # noqa: E402

CALIB = os.path.join(T.ROOT, 'bin', 'calib')
SHIP = os.path.join(T.ROOT, 'data', 'cifar10_densenet40_markus93')
NS = '{http://www.w3.org/2000/svg}'


def run(*args, ok=True):
    p = subprocess.run([CALIB] + list(args), capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise AssertionError('calib %s: exit %d: %s' % (' '.join(args), p.returncode, p.stderr))
    return p


class TestCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = os.path.join(cls.tmp.name, 'ts.calib')
        cls.test = ['--logits', os.path.join(SHIP, 'test', 'logits.npy'),
                    '--labels', os.path.join(SHIP, 'test', 'labels.npy')]
        run('fit', '--method', 'temperature', '--logits', os.path.join(SHIP, 'val', 'logits.npy'),
            '--labels', os.path.join(SHIP, 'val', 'labels.npy'), '-o', cls.model)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_suite_json(self):
        out = json.loads(run('eval', *self.test, '--suite', 'tao2024', '--json').stdout)
        self.assertEqual((out['suite'], out['n'], out['k']), ('tao2024', 10000, 10))
        keys = [k for k in out if k not in ('suite', 'n', 'k')]
        self.assertEqual(len(keys), 50)
        path = os.path.join(T.DATA, 'REFERENCE_METRICS.json')
        if os.path.exists(path):
            with open(path) as f:
                ref = json.load(f)['datasets']['cifar10_densenet40_markus93']['measures']
            for key in keys:
                clean = ref[key]['clean']
                tol = 1e-7 * clean if key == 'kde_ece' else 1e-9 * max(1.0, clean)
                self.assertLessEqual(abs(out[key] - clean), tol, msg=key)
        else:  # the figures published for these logits (data/README.md)
            self.assertAlmostEqual(out['ece_ew_15'], 0.055003, delta=1e-6)
            self.assertAlmostEqual(out['nll'], 0.430059, delta=1e-6)

    def test_suite_before_after(self):
        out = json.loads(run('eval', *self.test, '--model', self.model, '--suite', 'tao2024', '--json').stdout)
        self.assertEqual(out['model'], 'temperature')
        self.assertEqual(len(out['before']), 50)
        self.assertEqual(len(out['after']), 50)
        # Kull et al. 2019 after temperature scaling: ECE-15 0.009464, NLL 0.225086, Brier/k 0.010997
        self.assertAlmostEqual(out['after']['ece_ew_15'], 0.009464, delta=2e-6)
        self.assertAlmostEqual(out['after']['nll'], 0.225086, delta=1e-6)
        self.assertAlmostEqual(out['after']['brier_k'], 0.010997, delta=1e-6)
        self.assertAlmostEqual(out['before']['ece_ew_15'], 0.055003, delta=1e-6)
        human = run('eval', *self.test, '--model', self.model, '--suite', 'tao2024').stdout.splitlines()
        self.assertTrue(human[1].split() == ['measure', 'before', 'after'])
        self.assertEqual(len(human), 52)

    def check_svg(self, path, panels, bins):
        root = ET.parse(path).getroot()  # raises on invalid XML
        self.assertEqual(root.tag, NS + 'svg')
        groups = root.findall(NS + 'g')
        self.assertEqual(len(groups), panels)
        eces = []
        for g in groups:
            texts = [''.join(t.itertext()) for t in g.iter(NS + 'text')]
            ece = [t for t in texts if t.startswith('ECE')]
            self.assertEqual(len(ece), 1)
            eces.append(float(re.search(r'= ([0-9.]+)$', ece[0]).group(1)))
            rects = g.findall(NS + 'rect')
            # 2 frames + legend (3 swatch/box) + accuracy and gap bars + histogram bars
            self.assertGreater(len(rects), 5 + 2 * 5)
            self.assertLessEqual(len(rects), 5 + 3 * bins + 1)
            for r in rects:
                for attr in ('x', 'y', 'width', 'height'):
                    v = float(r.get(attr))
                    self.assertTrue(np.isfinite(v) and (attr in 'xy' or v >= 0), (attr, v))
        return eces

    def test_eval_svg(self):
        svg = os.path.join(self.tmp.name, 'rd.svg')
        out = json.loads(run('eval', *self.test, '--model', self.model, '--svg', svg, '--json').stdout)
        eces = self.check_svg(svg, 2, 15)
        self.assertAlmostEqual(eces[1], out['ece'], delta=5e-5)  # the legend shows 4 decimals
        self.assertAlmostEqual(eces[0], 0.0550, delta=5e-5)
        svg1 = os.path.join(self.tmp.name, 'raw.svg')
        run('eval', *self.test, '--svg', svg1, '--bins', '10')
        self.check_svg(svg1, 1, 10)

    def test_diagram_command(self):
        for binning in ('ew', 'ew-left', 'kumar', 'index'):
            svg = os.path.join(self.tmp.name, 'd_%s.svg' % binning)
            p = run('diagram', *self.test, '--model', self.model, '--binning', binning, '--bins', '20', '-o', svg)
            self.assertEqual(p.stdout.strip(), svg)
            self.check_svg(svg, 2, 20)
        # binary logits (k = 1): positive-class diagram
        z = np.random.default_rng(0).standard_normal(500).astype(np.float32) * 2
        y = (np.random.default_rng(1).random(500) < 1 / (1 + np.exp(-z))).astype(np.int64)
        np.save(os.path.join(self.tmp.name, 'z.npy'), z)
        np.save(os.path.join(self.tmp.name, 'y.npy'), y)
        svg = os.path.join(self.tmp.name, 'bin.svg')
        run('diagram', '--logits', os.path.join(self.tmp.name, 'z.npy'), '--labels',
            os.path.join(self.tmp.name, 'y.npy'), '-o', svg)
        self.check_svg(svg, 1, 15)

    def test_usage_errors(self):
        self.assertEqual(run('eval', *self.test, '--suite', 'nope', ok=False).returncode, 2)
        self.assertEqual(run('diagram', *self.test, '--binning', 'nope', ok=False).returncode, 2)
        self.assertEqual(run('diagram', *self.test, '--bins', '0', ok=False).returncode, 2)
        self.assertEqual(run('diagram', '--labels', 'x.npy', ok=False).returncode, 2)
        p = run('diagram', '--logits', '/nonexistent.npy', '--labels', 'y.npy', ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('usage: calib diagram', run('help', 'diagram').stdout)


def main():
    if not os.path.exists(CALIB):
        print('skipped: %s not built (make -j2 all)' % CALIB)
        return 77
    if not os.path.isdir(SHIP):
        print('skipped: the shipped dataset %s is absent' % SHIP)
        return 77
    res = unittest.main(exit=False, argv=[sys.argv[0]]).result
    return 0 if res.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
