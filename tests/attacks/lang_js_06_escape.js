// attack: leave the jail through Node.js's process APIs: setuid/setgroups, execSync of host tools, a native addon, process.binding, kill outside the jail
// category: escape
// expect: status=200 result="contained"
const cp = require('child_process');
const fs = require('fs');
function main() {
  const breaches = [];
  for (const [what, fn] of [
    ['setuid(0)', () => process.setuid(0)],
    ['setgid(0)', () => process.setgid(0)],
    ['setgroups([0])', () => process.setgroups([0])],
    ['dlopen libc as an addon', () => process.dlopen({ exports: {} }, '/usr/lib/x86_64-linux-gnu/libc.so.6')],
    ['kill(-1)', () => process.kill(-1, 0) && fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).length > 20],
  ]) {
    try { if (fn() !== false) breaches.push(`${what} worked`); } catch (e) { /* refused */ }
  }
  for (const cmd of ['mount -t tmpfs none /mnt', 'unshare -r id', 'sudo id', 'nsenter -t 1 -m id', 'cat /etc/shadow']) {
    const r = cp.spawnSync('/usr/bin/sh', ['-c', cmd], { encoding: 'utf8' });
    if (r.status === 0) breaches.push(`${cmd} ran`);
  }
  const id = cp.execSync('id -u', { encoding: 'utf8' }).trim();
  if (id === '0') breaches.push('a child is root');
  return breaches.length ? breaches : 'contained';
}
