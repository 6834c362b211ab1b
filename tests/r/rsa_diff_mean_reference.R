# Reference values for RSA's "diff" and "mean" models (documented in RSA's models=, not in its
# default family), for tests/test_rsa_lrt.py.
#
# Run from the repository root, with RSA installed in a private library (never in the repository):
#   R CMD INSTALL -l /tmp/Rlib <RSA source>          # RSA 0.10.8, GitHub nicebread/RSA, GPL (>= 2)
#   RSA_LIB=/tmp/Rlib Rscript tests/r/rsa_diff_mean_reference.R
# CI never runs R: the JSON it writes (tests/reference/rsa_package_diff_mean.json) is frozen.
# It only CALLS RSA() and lavaan's exported accessors; no code is copied.
#
# diff: b1 = -b2, b3 = b4 = b5 = 0; mean: b1 = b2, b3 = b4 = b5 = 0 (RSA 0.10.8). For motcon, motcon2
# and selfother (as in rsa_package_reference.R), second-order (cubic = FALSE), MLR and ML: the
# coefficients with SEs, log-likelihood, npar, and the AICc table of diff, mean and full.

lib <- Sys.getenv("RSA_LIB", "/tmp/Rlib")
.libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages({
  library(RSA)
  library(lavaan)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_file <- file.path("tests", "reference", "rsa_package_diff_mean.json")
versions <- list(R = R.version.string, RSA = as.character(packageVersion("RSA")),
                 lavaan = as.character(packageVersion("lavaan")))

model_out <- function(m, dv, cvs) {
  pe <- parameterEstimates(m)
  pe$label[pe$lhs == dv & pe$op == "~1"] <- "b0"
  for (cv in cvs) pe$label[pe$lhs == dv & pe$op == "~" & pe$rhs == cv] <- paste0("cv:", cv)
  pe <- pe[pe$label != "" & pe$op %in% c("~", "~1"), c("label", "est", "se")]
  pe <- pe[!duplicated(pe$label), ]
  fm <- fitMeasures(m)
  list(converged = lavInspect(m, "converged"), logl = unname(fm["logl"]), npar = unname(fm["npar"]),
       df = unname(fm["df"]), params = pe)
}

run <- function(file, formula, center = "none", cvs = c()) {
  d <- read.csv(file.path(dat_dir, file))
  dv <- all.vars(formula)[1]
  out <- list(data = file, formula = deparse(formula), center = center, control_variables = cvs)
  for (est in c("MLR", "ML")) {
    args <- list(formula, d, center = center, control.variables = cvs,
                 center.control.variables = length(cvs) > 0, out.rm = FALSE,
                 models = c("diff", "mean", "full"), verbose = FALSE)
    if (est == "ML") args <- c(args, list(estimator = "ML", se = "standard"))
    r <- suppressWarnings(do.call(RSA, args))
    out[[est]] <- list(diff = model_out(r$models$diff, dv, cvs), mean = model_out(r$models$mean, dv, cvs),
                       aictab = aictab(r)[, c("Modnames", "K", "LL", "AICc", "AICcWt")])
  }
  out
}

res <- list(
  source = "R package RSA (Schoenbrodt & Humberg) with lavaan, run by tests/r/rsa_diff_mean_reference.R",
  versions = versions,
  motcon = run("rsa_motcon.csv", postVA ~ ePow * iPow),
  motcon2 = run("rsa_motcon2.csv", VA ~ EM * IM),
  selfother = run("rsa_selfother.csv", liking ~ IQ_self * IQ_friend, center = "pooled",
                  cvs = c("age", "int")))
write_json(res, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("written", out_file, "\n")
