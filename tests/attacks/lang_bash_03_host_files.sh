# attack: read the host's secrets from Bash: the server's environment, the canary file, /etc/shadow, the checkout, other processes
# shellcheck shell=bash
# category: info
# expect: status=200 result=null
breach=0
if env | grep -q '@@CANARY@@'; then echo "the canary is in the environment"; breach=1; fi
for f in '@@HOST_CANARY_FILE@@' /etc/shadow '@@CHECKOUT@@/Cargo.toml' /root/.bash_history /home; do
  if [ -e "$f" ]; then echo "sees $f"; breach=1; fi
done
if grep -rqs '@@CANARY@@' /proc/*/environ /tmp /dev/shm 2>/dev/null; then echo "found the canary"; breach=1; fi
[ "$(id -u)" != 0 ] || { echo "root"; breach=1; }
n=0
for _ in /proc/[0-9]*; do n=$((n + 1)); done
[ "$n" -lt 20 ] || { echo "sees $n processes"; breach=1; }
exit $breach
