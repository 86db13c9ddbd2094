# attack: Bash's /dev/tcp and /dev/udp: reach the internet, the metadata server, the server's own port on loopback
# shellcheck shell=bash
# category: net
# expect: status=200 result=null
# Bash has no result: every breach is printed and makes the script exit 1 (`exited`, a failure).
breach=0
for target in 1.1.1.1/80 169.254.169.254/80 127.0.0.1/@@SERVER_PORT@@ 8.8.8.8/53; do
  if (exec 3<>"/dev/tcp/$target") 2>/dev/null; then echo "connected to $target"; breach=1; fi
done
if (exec 3<>/dev/udp/8.8.8.8/53 && echo x >&3) 2>/dev/null; then
  # UDP "connects" without a packet; sending must fail without a route.
  echo "sent UDP to 8.8.8.8"; breach=1
fi
exit $breach
