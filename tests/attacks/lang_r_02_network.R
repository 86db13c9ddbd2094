# attack: R networking: a socket to the internet and to the server's own port, the metadata server by url(), DNS
# category: net
# expect: status=200 result="contained"
main <- function() {
  breaches <- character()
  for (target in list(c("1.1.1.1", 80), c("127.0.0.1", @@SERVER_PORT@@), c("169.254.169.254", 80))) {
    con <- tryCatch(suppressWarnings(socketConnection(target[1], as.integer(target[2]), timeout = 3)),
                    error = function(e) NULL)
    if (!is.null(con)) { close(con); breaches <- c(breaches, paste("connected to", target[1])) }
  }
  got <- tryCatch(suppressWarnings(readLines(url("http://169.254.169.254/computeMetadata/v1/"))),
                  error = function(e) NULL)
  if (!is.null(got)) breaches <- c(breaches, "metadata server answered")
  if (!is.null(suppressWarnings(utils::nsl("example.com")))) breaches <- c(breaches, "dns resolved")
  if (length(breaches)) breaches else "contained"
}
