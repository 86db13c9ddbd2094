# attack: leave the jail through R's process APIs: system() and system2() with host tools, dyn.load of libc, root, other processes
# category: escape
# expect: status=200 result="contained"
main <- function() {
  breaches <- character()
  for (cmd in c("mount -t tmpfs none /mnt", "unshare -r id", "sudo id", "nsenter -t 1 -m id", "cat /etc/shadow")) {
    status <- suppressWarnings(system(paste(cmd, "2>/dev/null"), ignore.stdout = TRUE))
    if (status == 0) breaches <- c(breaches, paste(cmd, "ran"))
  }
  uid <- system("id -u", intern = TRUE)
  if (uid == "0") breaches <- c(breaches, "system() runs as root")
  # Loading libc is allowed (a mapping of a read-only file); the seccomp policy, not the loader,
  # refuses mount(2) and unshare(2), as the Python attacks escape_02 and escape_04 check.
  tryCatch(dyn.load("/usr/lib/x86_64-linux-gnu/libc.so.6"), error = function(e) NULL)
  if (dir.exists("/mnt")) breaches <- c(breaches, "/mnt exists")
  n <- length(grep("^[0-9]+$", list.files("/proc")))
  if (n > 20) breaches <- c(breaches, paste("sees", n, "processes"))
  if (length(breaches)) breaches else "contained"
}
