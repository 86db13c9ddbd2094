// attack: Node.js networking: TCP to the internet and the server's own port, DNS, the metadata server over HTTP, UDP
// category: net
// expect: status=200 result="contained"
const net = require('net');
const dns = require('dns');
const http = require('http');
const dgram = require('dgram');
function attempt(fn) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timed out'), 3000);
    fn((err) => { clearTimeout(timer); resolve(err ? null : 'succeeded'); });
  });
}
async function main() {
  const breaches = [];
  for (const [host, port] of [['1.1.1.1', 80], ['127.0.0.1', @@SERVER_PORT@@], ['169.254.169.254', 80]]) {
    const r = await attempt((done) => {
      const s = net.connect(port, host, () => { s.destroy(); done(null); });
      s.on('error', (e) => done(e));
    });
    if (r) breaches.push(`tcp ${host}:${port} ${r}`);
  }
  const d = await attempt((done) => dns.lookup('example.com', (e) => done(e)));
  if (d === 'succeeded') breaches.push('dns resolved');
  const h = await attempt((done) => {
    http.get('http://169.254.169.254/computeMetadata/v1/', { headers: { 'Metadata-Flavor': 'Google' } },
      (res) => { res.resume(); done(null); }).on('error', (e) => done(e));
  });
  if (h === 'succeeded') breaches.push('metadata server answered');
  const u = await attempt((done) => {
    const s = dgram.createSocket('udp4');
    s.on('error', (e) => { s.close(); done(e); });
    s.send('x', 53, '8.8.8.8', (e) => { s.close(); done(e); });
  });
  if (u === 'succeeded') breaches.push('udp sent');
  return breaches.length ? breaches : 'contained';
}
