# attack: read the host's secrets from R: the server's environment, the canary file, /etc/shadow, the checkout, /proc
# category: info
# expect: status=200 result="contained"
main <- function() {
  breaches <- character()
  if (any(grepl("@@CANARY@@", Sys.getenv(), fixed = TRUE))) breaches <- c(breaches, "canary in Sys.getenv()")
  for (f in c("@@HOST_CANARY_FILE@@", "/etc/shadow", "@@CHECKOUT@@/Cargo.toml", "/root", "/home", "/var")) {
    if (file.exists(f)) breaches <- c(breaches, paste("sees", f))
  }
  for (pid in grep("^[0-9]+$", list.files("/proc"), value = TRUE)) {
    env <- tryCatch(suppressWarnings(readBin(file.path("/proc", pid, "environ"), "raw", 1e6)), error = function(e) raw())
    if (grepl("@@CANARY@@", rawToChar(env[env != as.raw(0)]), fixed = TRUE)) breaches <- c(breaches, paste("canary in", pid))
  }
  if (length(breaches)) breaches else "contained"
}
