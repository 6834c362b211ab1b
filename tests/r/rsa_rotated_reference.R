# Reference values for the two RSA models with NON-LINEAR constraints, SRRR and SRSQD, and the
# evidence for why the defaults of RSA/lavaan disagree with alliance on them (tests/test_rsa_family.py).
#
# Run from the repository root, with RSA installed in a private library (never in the repository):
#   R CMD INSTALL -l /tmp/Rlib <RSA source>          # RSA 0.10.8, GitHub nicebread/RSA, GPL (>= 2)
#   RSA_LIB=/tmp/Rlib Rscript tests/r/rsa_rotated_reference.R
# CI never runs R: the JSON it writes (tests/reference/rsa_package_rotated.json) is committed and frozen.
# It only CALLS RSA() and lavaan's exported accessors; no code of either package is copied.
#
# What RSA does (RSA.R, 0.10.8): SRRR is the full polynomial with "b4^2 == 4*b3*b5" and the
# inequalities b3, b5 > 1e-6 ("up") or < -1e-6 ("down"); SRSQD adds "2*b1*b5 == b2*b4"; with
# cubic = TRUE both are fitted inside the cubic polynomial with b6..b9 == 0. lavaan estimates them
# with nlminb.constr (an augmented Lagrangian) and computes the covariance from the EXPECTED
# information of the unconstrained parameters, bordered by the Jacobian H of the active constraints
# (lav_model_information_augment_invert), inverted by MASS::ginv(tol = .Machine$double.eps^(3/4)).
#
# Two numerical effects make the package defaults differ from the exact constrained ML solution:
#  1. estimates: nlminb.constr stops at rel.tol 1e-9 and an outer tolerance of 1e-6 on the
#     constraints (motcon SRSQD: 4e-4 relative off). Here every fit is repeated with
#     control = list(rel.tol = 1e-14, control.outer = list(tol = 1e-12, itmax = 500L)), passed
#     through RSA() to lavaan (`tight`).
#  2. standard errors: with cubic = TRUE the bordered information matrix holds the moments of the
#     cubic terms (selfother: IQ-scale predictors centred at the pooled mean, x^3 up to ~1e4), its
#     singular values span more than 1/eps^(3/4), and ginv's tolerance silently drops directions:
#     lavaan's SEs of SRRR/SRSQD on selfother are off by up to 20%. `exact` re-runs the same fits
#     with one change inside lavaan: the bordered matrix (its decoupled multiplier block left out,
#     which does not change the parameter block) is equilibrated and inverted by solve() -- the
#     same formula, inverted exactly. For a well-conditioned matrix (cubic = FALSE, or motcon)
#     both agree; `stock` is lavaan unchanged.
# For each data set (motcon, motcon2, selfother, as in rsa_package_reference.R) and cubic in
# FALSE/TRUE, estimator MLR (RSA's default: robust.sem SEs) and ML (se = "standard"), the file
# holds b0..b5 (and covariates) with their SEs, the log-likelihood, the rotation, and the largest
# constraint residual at lavaan's solution.

lib <- Sys.getenv("RSA_LIB", "/tmp/Rlib")
.libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages({
  library(RSA)
  library(lavaan)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_file <- file.path("tests", "reference", "rsa_package_rotated.json")
versions <- list(R = R.version.string, RSA = as.character(packageVersion("RSA")),
                 lavaan = as.character(packageVersion("lavaan")))

stock_invert <- lavaan:::lav_model_information_augment_invert
exact_invert <- function(lavmodel = NULL, information = NULL, inverted = FALSE, check.pd = FALSE,
                         use.ginv = FALSE) {
  npar <- nrow(information)
  # lavaan's own bordered matrix: [INFO + H'H, 0, H'; 0, 2 diag(lambda), 0; H, 0, 0]
  A <- stock_invert(lavmodel = lavmodel, information = information, inverted = FALSE,
                    check.pd = check.pd, use.ginv = use.ginv)
  if (!inverted || nrow(A) == npar) {
    return(stock_invert(lavmodel = lavmodel, information = information, inverted = inverted,
                        check.pd = check.pd, use.ginv = use.ginv))
  }
  ncon <- (nrow(A) - npar) %/% 2
  keep <- c(seq_len(npar), npar + ncon + seq_len(ncon))  # drop the decoupled multiplier block
  K <- A[keep, keep]
  s <- 1 / sqrt(apply(abs(K), 1, max))                    # symmetric equilibration
  Kinv <- s * t(s * t(solve(s * t(s * t(K)))))            # S (S K S)^-1 S
  Kinv[seq_len(npar), seq_len(npar), drop = FALSE]
}
use_invert <- function(f) {
  unlockBinding("lav_model_information_augment_invert", asNamespace("lavaan"))
  assign("lav_model_information_augment_invert", f, envir = asNamespace("lavaan"))
}

tight <- list(rel.tol = 1e-14, control.outer = list(tol = 1e-12, itmax = 500L))

model_out <- function(m, dv, cvs, rot) {
  pe <- parameterEstimates(m)
  pe$label[pe$lhs == dv & pe$op == "~1"] <- "b0"
  for (cv in cvs) pe$label[pe$lhs == dv & pe$op == "~" & pe$rhs == cv] <- paste0("cv:", cv)
  pe <- pe[pe$label %in% c("b0", paste0("b", 1:9), paste0("cv:", cvs)) & pe$op %in% c("~", "~1"),
           c("label", "est", "se")]
  pe <- pe[!duplicated(pe$label), ]
  b <- setNames(pe$est, pe$label)
  resid <- abs(b[["b4"]]^2 - 4 * b[["b3"]] * b[["b5"]])
  list(logl = unname(fitMeasures(m, "logl")), converged = lavInspect(m, "converged"),
       rotation = rot, max_constraint_residual = resid, params = pe)
}

run <- function(file, formula, center = "none", cvs = c()) {
  d <- read.csv(file.path(dat_dir, file))
  dv <- all.vars(formula)[1]
  out <- list(data = file, formula = deparse(formula), center = center, control_variables = cvs)
  for (cubic in c(FALSE, TRUE)) {
    models <- c("SRRR", "SRSQD", "full", if (cubic) "cubic")
    for (est in c("MLR", "ML")) {
      for (inv in c("stock", "exact")) {
        use_invert(if (inv == "stock") stock_invert else exact_invert)
        args <- list(formula, d, center = center, control.variables = cvs,
                     center.control.variables = length(cvs) > 0, out.rm = FALSE, models = models,
                     cubic = cubic, verbose = FALSE, control = tight)
        if (est == "ML") args <- c(args, list(estimator = "ML", se = "standard"))
        r <- suppressWarnings(do.call(RSA, args))
        key <- paste0(if (cubic) "cubic" else "second", "_", est, "_", inv)
        out[[key]] <- list(
          SRRR = model_out(r$models$SRRR, dv, cvs, r$SRRR.rot),
          SRSQD = model_out(r$models$SRSQD, dv, cvs, r$SRSQD.rot))
      }
    }
  }
  use_invert(stock_invert)
  out
}

res <- list(
  source = "R package RSA (Schoenbrodt & Humberg) with lavaan, run by tests/r/rsa_rotated_reference.R",
  versions = versions,
  control = "control = list(rel.tol = 1e-14, control.outer = list(tol = 1e-12, itmax = 500L))",
  motcon = run("rsa_motcon.csv", postVA ~ ePow * iPow),
  motcon2 = run("rsa_motcon2.csv", VA ~ EM * IM),
  selfother = run("rsa_selfother.csv", liking ~ IQ_self * IQ_friend, center = "pooled",
                  cvs = c("age", "int")))
write_json(res, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("written", out_file, "\n")
