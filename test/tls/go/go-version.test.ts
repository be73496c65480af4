// goMinorVersion: which Go release a build-info version string names (it decides the ABI the
// probes may assume), and null rather than a guess for anything else.
import test from 'node:test';
import assert from 'node:assert/strict';
import { goMinorVersion } from '../../../src/tls/go';

test('release, pre-release and development versions name their minor release', () => {
  const cases: Array<[string, number | null]> = [
    ['go1.26.8', 26],
    ['go1.19', 19],
    ['go1.9.7', 9],
    ['go1.27rc1', 27],
    ['go1.22.1 X:nocoverageredesign', 22],
    ['devel go1.27-8a3c1b0 Tue Nov 3 10:00:00 2026 +0000', 27],
    ['go1.100', 100],
  ];
  for (const [v, want] of cases) assert.equal(goMinorVersion(v), want, v);
});

test('strings that name no Go 1.x release give null', () => {
  for (const v of ['', 'devel +abc', 'go2.0', 'gox1.26', 'notgo1.26', 'go1.']) assert.equal(goMinorVersion(v), null, v);
});
