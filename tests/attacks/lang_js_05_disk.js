// attack: fill the disk from Node.js: the working directory until it refuses, the read-only root, /dev/shm
// category: exhaust
// request: {"timeout": 10}
// expect: status=200 result="contained"
const fs = require('fs');
function main() {
  const breaches = [];
  const chunk = Buffer.alloc(1 << 20, 1);
  let written = 0;
  let refused = null;
  try {
    const fd = fs.openSync('big', 'w');
    for (let i = 0; i < 2048; i += 1) { fs.writeSync(fd, chunk); written += 1; }
  } catch (e) { refused = e.code; }
  if (!refused) breaches.push(`wrote ${written} MiB`);
  for (const d of ['/', '/usr', '/etc', '/venv', '/usr/bin']) {
    try { fs.writeFileSync(`${d}/psa-attack`, 'x'); breaches.push(`wrote in ${d}`); } catch (e) { /* refused */ }
  }
  return breaches.length ? breaches : 'contained';
}
