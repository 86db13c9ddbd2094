# attack: fill the disk from Bash: one huge file in the working directory, files in /usr and /, /dev/shm
# shellcheck shell=bash
# category: exhaust
# request: {"timeout": 10}
# expect: status=200 result=null
breach=0
# RLIMIT_FSIZE (SIGXFSZ) or the tmpfs's size stops it; either way far below 1 GiB.
(head -c 1073741824 /dev/zero > big) 2>/dev/null
[ "$(wc -c < big)" -lt 1073741824 ] || { echo "wrote 1 GiB"; breach=1; }
rm -f big
for d in / /usr /usr/bin /etc /venv; do
  if (echo x > "$d/psa-attack") 2>/dev/null; then echo "wrote in $d"; breach=1; fi
done
(head -c 67108864 /dev/zero > /dev/shm/fill) 2>/dev/null
[ "$(wc -c < /dev/shm/fill)" -le 16777216 ] || { echo "/dev/shm over 16 MiB"; breach=1; }
exit $breach
