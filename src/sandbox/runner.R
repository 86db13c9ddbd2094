# The R runner: `R --vanilla --slave --no-echo --file=/proc/self/fd/5`, started by runner.py's
# foreign.py inside the jail. It evaluates the user's script (fd 3, named script.R) in the global
# environment, one top-level expression after another; if it defines a function `main`, main(input)
# is called (main() when it takes no argument) and its value becomes the run's result. Without main
# the result is NULL, that is null.
#
# The input: input.json read by jsonlite::fromJSON with its defaults (simplifyVector: an array of
# numbers is a numeric vector, an array of objects a data frame, an object a named list); also the
# globals `input_data` and `parameters`.
# The result goes to fd 4 as one JSON object (see foreign.py), never to stdout. main()'s value
# becomes JSON through jsonlite::toJSON(value, auto_unbox = TRUE, null = "null", na = "null",
# digits = NA, POSIXt = "ISO8601", Date = "ISO8601", dataframe = "rows", factor = "string"): a
# vector of length 1 becomes a scalar (wrap it in I() to keep an array), NA becomes null, numbers
# keep 15 significant digits, a data frame becomes an array of row objects, a named list an
# object. A value jsonlite cannot convert (a function, an environment) is an invalid_result.
# An error is a runtime_error with R's message and the calls that led to it (the traceback).
local({
  result_path <- "/proc/self/fd/4"
  report <- function(json) {
    con <- file(result_path, open = "wb")
    writeBin(charToRaw(enc2utf8(json)), con)
    close(con)
  }
  str1 <- function(x) jsonlite::toJSON(x, auto_unbox = TRUE)
  fail <- function(error_type, message, traceback = "") {
    report(paste0('{"ok":false,"error_type":', str1(error_type), ',"message":', str1(message),
                  ',"traceback":', str1(traceback), "}"))
    quit(save = "no", status = 1, runLast = FALSE)
  }
  # The calls that led to the error, from the script's own first frame on (the runner's are noise).
  trace_of <- function(calls) {
    calls <- Filter(function(cl) {
      src <- attr(cl, "srcref")
      !is.null(src) && identical(attr(src, "srcfile")$filename, "script.R")
    }, calls)
    if (length(calls) == 0) return("")
    lines <- vapply(seq_along(calls), function(i) {
      cl <- calls[[i]]
      src <- attr(cl, "srcref")
      paste0(i, ": ", paste(deparse(cl, nlines = 1L), collapse = ""), " at script.R#", src[1L])
    }, "")
    paste(rev(lines), collapse = "\n")
  }
  guarded <- function(expr_fn) {
    tryCatch(
      withCallingHandlers(expr_fn(),
        error = function(e) assign(".runner_trace", trace_of(sys.calls()), envir = .runner)),
      error = function(e) {
        msg <- conditionMessage(e)
        call <- conditionCall(e)
        where <- if (is.null(call)) "" else paste0(" in ", paste(deparse(call, nlines = 1L), collapse = ""))
        kind <- if (grepl("cannot allocate|memory exhausted", msg)) "memory_limit" else "runtime_error"
        fail(kind, paste0("Error", where, ": ", msg), get0(".runner_trace", envir = .runner, ifnotfound = ""))
      })
  }
  .runner <- environment()

  script_con <- file("/proc/self/fd/3", "rb")
  script <- readChar(script_con, file.size("/proc/self/fd/3"), useBytes = TRUE)
  close(script_con)
  Encoding(script) <- "UTF-8"
  input <- jsonlite::fromJSON(readLines("input.json", warn = FALSE, encoding = "UTF-8"))
  assign("input_data", input, envir = globalenv())
  assign("parameters", jsonlite::fromJSON(readLines("parameters.json", warn = FALSE, encoding = "UTF-8"),
                                          simplifyVector = FALSE), envir = globalenv())
  exprs <- tryCatch(
    parse(text = script, keep.source = TRUE, srcfile = srcfilecopy("script.R", script)),
    error = function(e) fail("validation_error", paste0("syntax error: ", conditionMessage(e)))
  )
  guarded(function() for (e in exprs) eval(e, globalenv()))
  main <- get0("main", envir = globalenv(), mode = "function", inherits = FALSE)
  value <- NULL
  if (!is.null(main)) {
    value <- guarded(function() if (length(formals(main)) == 0) main() else main(input))
  }
  json <- tryCatch(
    jsonlite::toJSON(value, auto_unbox = TRUE, null = "null", na = "null", digits = NA,
                     POSIXt = "ISO8601", Date = "ISO8601", dataframe = "rows", factor = "string"),
    error = function(e) fail("invalid_result",
                             paste0("main() returned a value that cannot become JSON: ", conditionMessage(e)))
  )
  report(paste0('{"ok":true,"result":', json, "}"))
  quit(save = "no", status = 0, runLast = FALSE)
})
