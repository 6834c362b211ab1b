# Reference values for the scaled (robust) likelihood-ratio tests of the RSA model family and for the
# piecewise models absdiff and absunc (tests/test_rsa_lrt.py).
#
# Run from the repository root, with RSA installed in a private library (never in the repository):
#   R CMD INSTALL -l /tmp/Rlib <RSA source>          # RSA 0.10.8, GitHub nicebread/RSA, GPL (>= 2)
#   RSA_LIB=/tmp/Rlib Rscript tests/r/rsa_lrt_reference.R
# CI never runs R: the JSON it writes (tests/reference/rsa_package_lrt.json) is committed and frozen.
# It only CALLS RSA(), lavaan's sem(), lavTestLRT() and exported accessors; no code is copied.
#
# Scaled tests. RSA's default estimator is lavaan's "MLR": every model's chi-square against the
# unrestricted model (the full polynomial; the cubic one with cubic = TRUE) is scaled by the
# Yuan-Bentler (Mplus variant) factor c, and compare() / lavTestLRT(method = "default") test nested
# models by the Satorra-Bentler (2001) scaled difference T_d = (T0 - T1) / cd,
# cd = (d0 c0 - d1 c1) / (d0 - d1). For each data set (motcon, motcon2, selfother, as in
# rsa_package_reference.R) and cubic in FALSE/TRUE this records every model's chisq, df, scaled
# chisq and scaling factor, and lavTestLRT() for every nested pair the package tests
# (alliance.rsa.family.NESTED_PAIRS). The fits use tight optimiser control and the exactly inverted
# bordered information of tests/r/rsa_rotated_reference.R for SRRR and SRSQD (the other models have
# no non-linear constraint: they keep lavaan's default control, with which they converge).
#
# Piecewise models (RSA's models = "absdiff", "absunc"; Edwards 2002): W = sign(X - Y) (0 on the
# line of congruence), absunc z = b0 + b1 X + b2 Y + w2 W X + w3 W Y (w1 W fixed at 0 unless
# breakline = TRUE), absdiff the same with b1 = b2 = 0 and w2 = -w3, i.e. z = b0 + w2 |X - Y|. RSA
# fits both WITHOUT the control variables (its model strings omit them); for selfother the same
# lavaan syntax with the control variables added is fitted here too (`absdiff_cv`, `absunc_cv`).

lib <- Sys.getenv("RSA_LIB", "/tmp/Rlib")
.libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages({
  library(RSA)
  library(lavaan)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_file <- file.path("tests", "reference", "rsa_package_lrt.json")
versions <- list(R = R.version.string, RSA = as.character(packageVersion("RSA")),
                 lavaan = as.character(packageVersion("lavaan")))

stock_invert <- lavaan:::lav_model_information_augment_invert
exact_invert <- function(lavmodel = NULL, information = NULL, inverted = FALSE, check.pd = FALSE,
                         use.ginv = FALSE) {
  npar <- nrow(information)
  A <- stock_invert(lavmodel = lavmodel, information = information, inverted = FALSE,
                    check.pd = check.pd, use.ginv = use.ginv)
  if (!inverted || nrow(A) == npar) {
    return(stock_invert(lavmodel = lavmodel, information = information, inverted = inverted,
                        check.pd = check.pd, use.ginv = use.ginv))
  }
  ncon <- (nrow(A) - npar) %/% 2
  keep <- c(seq_len(npar), npar + ncon + seq_len(ncon))
  K <- A[keep, keep]
  s <- 1 / sqrt(apply(abs(K), 1, max))
  Kinv <- s * t(s * t(solve(s * t(s * t(K)))))
  Kinv[seq_len(npar), seq_len(npar), drop = FALSE]
}
use_invert <- function(f) {
  unlockBinding("lav_model_information_augment_invert", asNamespace("lavaan"))
  assign("lav_model_information_augment_invert", f, envir = asNamespace("lavaan"))
}
tight <- list(rel.tol = 1e-14, control.outer = list(tol = 1e-12, itmax = 500L))

pairs <- list(c("null", "onlyx"), c("null", "onlyy"), c("onlyx", "onlyx2"), c("onlyy", "onlyy2"),
              c("onlyx", "additive"), c("onlyy", "additive"), c("onlyx2", "full"), c("onlyy2", "full"),
              c("null", "additive"), c("additive", "IA"), c("IA", "full"), c("additive", "SRR"),
              c("null", "SQD"), c("SQD", "SSQD"), c("SQD", "RR"), c("SSQD", "SRR"), c("RR", "SRR"),
              c("SSQD", "SRSQD"), c("SRSQD", "SRRR"), c("SRR", "SRRR"), c("SRRR", "full"),
              c("SRR", "full"), c("full", "cubic"), c("SQD", "CA"), c("SQD", "CL"), c("RR", "RRCA"),
              c("RR", "RRCL"), c("CA", "RRCA"), c("CL", "RRCL"), c("CA", "cubic"), c("CL", "cubic"),
              c("RRCA", "cubic"), c("RRCL", "cubic"), c("absdiff", "absunc"))

model_fit <- function(m) {
  if (!lavInspect(m, "converged")) return(list(converged = FALSE))
  fm <- fitMeasures(m)
  get <- function(k) if (k %in% names(fm)) unname(fm[k]) else NA
  list(converged = lavInspect(m, "converged"), logl = get("logl"), npar = get("npar"),
       df = get("df"), chisq = get("chisq"), chisq_scaled = get("chisq.scaled"),
       scaling_factor = get("chisq.scaling.factor"))
}

model_params <- function(m, dv, cvs) {
  pe <- parameterEstimates(m)
  pe$label[pe$lhs == dv & pe$op == "~1"] <- "b0"
  for (cv in cvs) pe$label[pe$lhs == dv & pe$op == "~" & pe$rhs == cv] <- paste0("cv:", cv)
  pe <- pe[pe$label != "" & pe$op %in% c("~", "~1"), c("label", "est", "se")]
  pe[!duplicated(pe$label), ]
}

lrt <- function(models) {
  out <- list()
  for (p in pairs) {
    a <- models[[p[1]]]
    b <- models[[p[2]]]
    if (is.null(a) || is.null(b) || !lavInspect(a, "converged") || !lavInspect(b, "converged")) next
    t <- suppressWarnings(lavTestLRT(b, a, method = "default"))
    out[[length(out) + 1]] <- list(smaller = p[1], larger = p[2],
                                   chisq_diff = t[["Chisq diff"]][2], df_diff = t[["Df diff"]][2],
                                   p = t[["Pr(>Chisq)"]][2])
  }
  out
}

run <- function(file, formula, center = "none", cvs = c()) {
  d <- read.csv(file.path(dat_dir, file))
  dv <- all.vars(formula)[1]
  out <- list(data = file, formula = deparse(formula), center = center, control_variables = cvs)
  use_invert(exact_invert)
  for (cubic in c(FALSE, TRUE)) {
    fit <- function(...) suppressWarnings(RSA(formula, d, center = center, control.variables = cvs,
                                               center.control.variables = length(cvs) > 0,
                                               out.rm = FALSE, cubic = cubic, verbose = FALSE, ...))
    # lavaan's default control for the models with linear constraints (with rel.tol = 1e-14 its
    # nlminb reports no convergence for them); tight control for the two non-linear ones
    r <- fit(models = "default")
    rt <- fit(models = c("SRRR", "SRSQD", if (cubic) "cubic" else "full"), control = tight)
    ms <- r$models[!sapply(r$models, is.null)]
    ms$SRRR <- rt$models$SRRR
    ms$SRSQD <- rt$models$SRSQD
    key <- if (cubic) "cubic" else "second"
    out[[key]] <- list(models = lapply(ms, model_fit), lrt = lrt(ms))
  }
  # the piecewise models, as RSA fits them (no control variables), MLR and ML
  for (est in c("MLR", "ML")) {
    args <- list(formula, d, center = center, control.variables = cvs,
                 center.control.variables = length(cvs) > 0, out.rm = FALSE,
                 models = c("absdiff", "absunc"), verbose = FALSE)
    if (est == "ML") args <- c(args, list(estimator = "ML", se = "standard"))
    r <- suppressWarnings(do.call(RSA, args))
    pw <- list()
    for (m in c("absdiff", "absunc")) {
      pw[[m]] <- c(model_fit(r$models[[m]]), list(params = model_params(r$models[[m]], dv, c())))
    }
    pw$lrt <- lrt(r$models[c("absdiff", "absunc")])
    if (length(cvs)) {  # the same syntax with the control variables, fitted by lavaan directly
      dd <- r$data
      IV1 <- all.vars(formula)[2]
      IV2 <- all.vars(formula)[3]
      rhs <- paste0(dv, " ~ b1*", IV1, " + b2*", IV2, " + w1*W + w2*W_", IV1, " + w3*W_", IV2,
                    " + ", paste(cvs, collapse = " + "))
      syn <- list(absdiff = paste(rhs, "b1 == 0", "b2 == 0", "w1 == 0", "w2 == -w3", sep = "\n"),
                  absunc = paste(rhs, "w1 == 0", sep = "\n"))
      fits <- list()
      for (m in names(syn)) {
        sa <- list(syn[[m]], data = dd, fixed.x = TRUE, meanstructure = TRUE)
        if (est == "ML") sa <- c(sa, list(estimator = "ML", se = "standard")) else
          sa <- c(sa, list(estimator = "MLR", se = "robust"))
        fits[[m]] <- suppressWarnings(do.call("sem", sa))
        pw[[paste0(m, "_cv")]] <- c(model_fit(fits[[m]]), list(params = model_params(fits[[m]], dv, cvs)))
      }
      pw$lrt_cv <- lrt(fits)
    }
    out[[paste0("piecewise_", est)]] <- pw
  }
  use_invert(stock_invert)
  out
}

res <- list(
  source = "R package RSA (Schoenbrodt & Humberg) with lavaan, run by tests/r/rsa_lrt_reference.R",
  versions = versions,
  control = "SRRR, SRSQD: control = list(rel.tol = 1e-14, control.outer = list(tol = 1e-12, itmax = 500L)); other models lavaan's default",
  motcon = run("rsa_motcon.csv", postVA ~ ePow * iPow),
  motcon2 = run("rsa_motcon2.csv", VA ~ EM * IM),
  selfother = run("rsa_selfother.csv", liking ~ IQ_self * IQ_friend, center = "pooled",
                  cvs = c("age", "int")))
write_json(res, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("written", out_file, "\n")
