# The JavaScript language (SANDBOX_LANGUAGES contains "javascript"): added to chroot/manifest by
# scripts/build-jail-root.py. Same format as chroot/manifest. Debian package: nodejs (the host's
# /usr/bin/node: Debian 12's nodejs 18 links libnode.so.108, which the builder adds with ldd; a
# host with another vendor's nodejs package gets that one, and /environment reports its version).
/usr/bin/node
