# attack: leave the jail from Bash: load a builtin from a library, raise the limits, reach the host's root through /proc, find setuid tools
# shellcheck shell=bash
# category: escape
# expect: status=200 result=null
breach=0
if enable -f /usr/lib/x86_64-linux-gnu/libc.so.6 mount 2>/dev/null; then echo "loaded a builtin"; breach=1; fi
if ulimit -Hu unlimited 2>/dev/null && ulimit -Hn 1048576 2>/dev/null; then echo "raised hard limits"; breach=1; fi
if ls /proc/1/root/home >/dev/null 2>&1 || ls /proc/1/root/root >/dev/null 2>&1; then echo "host root via /proc"; breach=1; fi
if [ -n "$(find / -xdev -perm /6000 -type f 2>/dev/null)" ]; then echo "setuid files"; breach=1; fi
for tool in mount unshare nsenter sudo su chroot; do
  if command -v "$tool" >/dev/null; then echo "has $tool"; breach=1; fi
done
exit $breach
