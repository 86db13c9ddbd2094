// attack: read the host's secrets from Node.js: the server's environment, the canary file, /etc/shadow, the checkout, /proc
// category: info
// expect: status=200 result="contained"
const fs = require('fs');
function main() {
  const breaches = [];
  if (JSON.stringify(process.env).includes('@@CANARY@@')) breaches.push('canary in process.env');
  for (const f of ['@@HOST_CANARY_FILE@@', '/etc/shadow', '@@CHECKOUT@@/Cargo.toml', '/root', '/home', '/var']) {
    if (fs.existsSync(f)) breaches.push(`sees ${f}`);
  }
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`, 'latin1').includes('@@CANARY@@')) breaches.push(`canary in ${pid}`);
    } catch (e) { /* not ours to read */ }
  }
  if (process.getuid() === 0) breaches.push('root');
  return breaches.length ? breaches : 'contained';
}
