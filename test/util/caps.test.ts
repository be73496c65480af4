// confinement(): which security-module labels make the agent refuse to hold new programs (a
// confined agent may be refused the SIGCONT that resumes them).
import test from 'node:test';
import assert from 'node:assert/strict';
import { confinement } from '../../src/util/caps';

test('confinement: unconfined labels, complain mode and no security module are not confinement', () => {
  for (const label of ['unconfined\n', 'unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\0', 'system_u:system_r:unconfined_service_t:s0', 'my-profile (complain)\n', '']) {
    assert.equal(confinement(() => label), undefined, JSON.stringify(label));
  }
  assert.equal(confinement(() => { throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' }); }), undefined, 'no security module');
});

test('confinement: an enforced AppArmor profile or a confined SELinux domain is', () => {
  assert.equal(confinement(() => 'docker-default (enforce)\n'), 'docker-default (enforce)');
  assert.equal(confinement(() => 'system_u:system_r:container_t:s0:c123,c456\0'), 'system_u:system_r:container_t:s0:c123,c456');
});
