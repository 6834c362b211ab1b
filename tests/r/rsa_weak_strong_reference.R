# Reference values for RSA's "weak" and "strong" fit patterns (in RSA's models = "all", not in its
# documented list), for tests/test_rsa_lrt.py.
#
# Run from the repository root, with RSA installed in a private library (never in the repository):
#   R CMD INSTALL -l /tmp/Rlib <RSA source>          # RSA 0.10.8, GitHub nicebread/RSA, GPL (>= 2)
#   RSA_LIB=/tmp/Rlib Rscript tests/r/rsa_weak_strong_reference.R
# CI never runs R: the JSON it writes (tests/reference/rsa_package_weak_strong.json) is frozen.
# It only CALLS RSA() and lavaan's exported accessors; no code is copied.
#
# RSA 0.10.8: "weak" is the full second-order polynomial with the inequality b3 * b5 > 0, "strong"
# adds SRSQD's equalities 2 b1 b5 == b2 b4 and 4 b3 b5 == b4^2 (with b3 * b5 > 1e-6). On motcon,
# motcon2 and selfother the full model already has b3 * b5 > 0, so weak is the full model there;
# `motcon_flipped` adds 0.5 iPow^2 to the outcome of motcon (b5 turns positive, b3 stays negative)
# so that the inequality binds. MLR and ML, second-order (cubic = FALSE); RSA's defaults otherwise.

lib <- Sys.getenv("RSA_LIB", "/tmp/Rlib")
.libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages({
  library(RSA)
  library(lavaan)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_file <- file.path("tests", "reference", "rsa_package_weak_strong.json")
versions <- list(R = R.version.string, RSA = as.character(packageVersion("RSA")),
                 lavaan = as.character(packageVersion("lavaan")))

model_out <- function(m, dv, cvs) {
  conv <- lavInspect(m, "converged")
  pe <- parameterEstimates(m)
  pe$label[pe$lhs == dv & pe$op == "~1"] <- "b0"
  for (cv in cvs) pe$label[pe$lhs == dv & pe$op == "~" & pe$rhs == cv] <- paste0("cv:", cv)
  pe <- pe[pe$label != "" & pe$op %in% c("~", "~1"), c("label", "est", "se")]
  pe <- pe[!duplicated(pe$label), ]
  out <- list(converged = conv, params = pe)
  if (conv) {
    fm <- fitMeasures(m)
    out <- c(out, list(logl = unname(fm["logl"]), npar = unname(fm["npar"]), df = unname(fm["df"])))
  }
  out
}

run <- function(file, formula, center = "none", cvs = c(), plant = NULL) {
  d <- read.csv(file.path(dat_dir, file))
  if (!is.null(plant)) d <- plant(d)
  dv <- all.vars(formula)[1]
  out <- list(data = file, formula = deparse(formula), center = center, control_variables = cvs,
              planted = if (is.null(plant)) NULL else deparse(plant))
  for (est in c("MLR", "ML")) {
    args <- list(formula, d, center = center, control.variables = cvs,
                 center.control.variables = length(cvs) > 0, out.rm = FALSE,
                 models = c("weak", "strong", "full", "SRSQD"), verbose = FALSE)
    if (est == "ML") args <- c(args, list(estimator = "ML", se = "standard"))
    r <- suppressWarnings(do.call(RSA, args))
    res <- lapply(c(weak = "weak", strong = "strong", full = "full", SRSQD = "SRSQD"),
                  function(m) model_out(r$models[[m]], dv, cvs))
    a <- tryCatch(aictab(r, models = c("weak", "strong", "full", "SRSQD"))[, c("Modnames", "K", "LL", "AICc")],
                  error = function(e) NULL)
    out[[est]] <- c(res, list(aictab = a))
  }
  out
}

res <- list(
  source = "R package RSA (Schoenbrodt & Humberg) with lavaan, run by tests/r/rsa_weak_strong_reference.R",
  versions = versions,
  motcon = run("rsa_motcon.csv", postVA ~ ePow * iPow),
  motcon_flipped = run("rsa_motcon.csv", postVA ~ ePow * iPow,
                       plant = function(d) { d$postVA <- d$postVA + 0.5 * d$iPow^2; d }),
  motcon2 = run("rsa_motcon2.csv", VA ~ EM * IM),
  selfother = run("rsa_selfother.csv", liking ~ IQ_self * IQ_friend, center = "pooled",
                  cvs = c("age", "int")))
write_json(res, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("written", out_file, "\n")
