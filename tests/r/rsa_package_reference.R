# Reference values from the R package RSA itself (Schoenbrodt & Humberg), for tests/test_rsa_family.py.
#
# Run from the repository root, with RSA installed in a private library (never in the repository):
#   R CMD INSTALL -l /tmp/Rlib <RSA source>          # RSA 0.10.8, GitHub nicebread/RSA, GPL (>= 2)
#   RSA_LIB=/tmp/Rlib Rscript tests/r/rsa_package_reference.R
# Needs: lavaan, plyr, RColorBrewer, aplpack, ggplot2, lattice, jsonlite (Debian r-cran-* packages).
# CI never runs R: the JSON files it writes (tests/reference/rsa_package_*.json) are committed and frozen.
#
# This script only CALLS the package's exported functions (RSA, aictab, confint, compare, caRange,
# clRange) and lavaan's parameterEstimates/fitMeasures; no code of the package is copied here.
# Citation: Schoenbrodt, F. D., & Humberg, S. (2025). RSA: An R package for response surface
# analysis (version 0.10.8). https://cran.r-project.org/package=RSA  (licence GPL >= 2)
#
# For each data set (motcon, motcon2, selfother: the data shipped with RSA, copied verbatim into
# tests/data/) it records
#   * the default estimator (lavaan "MLR": robust SEs, scaled tests), out.rm = FALSE, cubic = TRUE:
#     every model of the second-order and cubic families (coefficients b0..b9, their SEs and Wald
#     CIs, the defined surface parameters, log-likelihood, K, AICc, convergence);
#   * the AICc table (aictab) of the second-order family alone (cubic = FALSE) and of both families;
#   * estimator = "ML", se = "standard": the same coefficients with ML standard errors;
#   * the default outlier rule (out.rm = TRUE, Bollen & Jackman 1980): the rows removed and the
#     full model refitted without them;
#   * the Bollen-Jackman criteria of influence.measures() one by one, and motcon with two planted
#     outliers (rows 1-2 moved; see run() below) so that the rule removes rows;
#   * confint(model = "RR"), compare() (scaled likelihood-ratio tests), caRange and clRange.

lib <- Sys.getenv("RSA_LIB", "/tmp/Rlib")
.libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages({
  library(RSA)
  library(jsonlite)
})

dat_dir <- file.path("tests", "data")
out_dir <- file.path("tests", "reference")
versions <- list(R = R.version.string, RSA = as.character(packageVersion("RSA")),
                 lavaan = as.character(packageVersion("lavaan")))

second <- c("additive", "IA", "SQD", "SRRR", "SRR", "RR", "SSQD", "SRSQD", "full", "null",
            "onlyx2", "onlyy2", "onlyx", "onlyy")
cubicm <- c("cubic", "CA", "CL", "RRCA", "RRCL")

model_out <- function(m, dv, cvs) {
  pe <- parameterEstimates(m)
  pe$label[pe$lhs == dv & pe$op == "~1"] <- "b0"
  if (length(cvs)) {
    for (cv in cvs) pe$label[pe$lhs == dv & pe$op == "~" & pe$rhs == cv] <- paste0("cv:", cv)
  }
  pe$label[pe$lhs == dv & pe$op == "~~" & pe$rhs == dv] <- "resid_var"
  pe <- pe[pe$label != "", c("label", "op", "est", "se", "z", "pvalue", "ci.lower", "ci.upper")]
  pe <- pe[!duplicated(pe$label), ]
  fm <- fitMeasures(m)
  list(converged = lavInspect(m, "converged"),
       logl = unname(fm["logl"]), npar = unname(fm["npar"]), df = unname(fm["df"]),
       baseline_df = unname(fm["baseline.df"]),
       chisq = unname(fm["chisq"]),
       chisq_scaled = if ("chisq.scaled" %in% names(fm)) unname(fm["chisq.scaled"]) else NA,
       scaling_factor = if ("chisq.scaling.factor" %in% names(fm)) unname(fm["chisq.scaling.factor"]) else NA,
       n = lavInspect(m, "nobs"),
       params = pe)
}

run <- function(name, file, formula, center = "none", cvs = c(), center_cvs = FALSE, plant = NULL,
                light = FALSE) {
  d <- read.csv(file.path(dat_dir, file))
  if (!is.null(plant)) d <- plant(d)
  dv <- all.vars(formula)[1]
  fit <- function(...) suppressWarnings(RSA(formula, d, center = center, control.variables = cvs,
                                             center.control.variables = center_cvs, verbose = FALSE, ...))
  r2 <- fit(out.rm = FALSE, cubic = FALSE)
  bj <- fit(out.rm = TRUE, cubic = FALSE)
  if (light) {  # the outlier rule only
    write_json(list(data = file, formula = deparse(formula), planted = deparse(plant),
                    source = "R package RSA (Schoenbrodt & Humberg), run by tests/r/rsa_package_reference.R",
                    versions = versions, n = nrow(d), outliers_bj1980 = bj$outliers,
                    full_bj1980 = model_out(bj$models$full, dv, cvs),
                    aictab_second_bj1980 = aictab(bj)[, c("Modnames", "K", "LL", "AICc", "Delta_AICc", "AICcWt")]),
               file.path(out_dir, paste0("rsa_package_", name, ".json")), digits = NA,
               auto_unbox = TRUE, pretty = TRUE, na = "null")
    cat(name, ": done\n")
    return(invisible(NULL))
  }
  r3 <- fit(out.rm = FALSE, cubic = TRUE)
  ml <- fit(out.rm = FALSE, cubic = TRUE, estimator = "ML", se = "standard")
  bj3 <- fit(out.rm = TRUE, cubic = TRUE, models = "cubic")
  models <- list()
  for (m in c(second, cubicm)) {
    if (!is.null(r3$models[[m]])) models[[m]] <- model_out(r3$models[[m]], dv, cvs)
  }
  models_ml <- list()
  for (m in c(second, cubicm)) {
    if (!is.null(ml$models[[m]])) models_ml[[m]] <- model_out(ml$models[[m]], dv, cvs)
  }
  ci_rr <- confint(r3, model = "RR", digits = NA)
  cmp <- suppressWarnings(compare(r2, verbose = FALSE))
  ca <- caRange(r3, model = "CA", verbose = FALSE)
  rrca <- caRange(r3, model = "RRCA", verbose = FALSE)
  cl <- clRange(r3, model = "CL")
  rrcl <- clRange(r3, model = "RRCL")
  # the three Bollen-Jackman criteria one by one (influence.measures of the full lm, as RSA uses)
  X <- r2$data
  inf <- influence.measures(lm(as.formula(paste(dv, "~", paste(c(all.vars(formula)[2:3],
          paste0(all.vars(formula)[2], "2"), paste0(all.vars(formula)[2], "_", all.vars(formula)[3]),
          paste0(all.vars(formula)[3], "2"), cvs), collapse = " + "))), data = X))
  flags <- lapply(c("dffit", "cook.d", "hat"), function(k) which(inf$is.inf[, k]))
  names(flags) <- c("dffit", "cook_d", "hat")
  out <- list(
    data = file, formula = deparse(formula), center = center, control_variables = cvs,
    center_control_variables = center_cvs,
    source = "R package RSA (Schoenbrodt & Humberg), run by tests/r/rsa_package_reference.R",
    versions = versions,
    n = nrow(d),
    srrr_rotation = r3$SRRR.rot, srsqd_rotation = r3$SRSQD.rot,
    models = models,
    models_ml = models_ml,
    aictab_second = aictab(r2)[, c("Modnames", "K", "LL", "AICc", "Delta_AICc", "AICcWt")],
    aictab_all = aictab(r3)[, c("Modnames", "K", "LL", "AICc", "Delta_AICc", "AICcWt")],
    confint_rr = data.frame(term = rownames(ci_rr), ci_low = ci_rr[, 1], ci_high = ci_rr[, 2],
                            p = ci_rr[, 3]),
    compare = data.frame(set = cmp$set, model = cmp$model, df = cmp$Df, chisq = cmp$Chisq,
                         chisq_diff = cmp[["Chisq diff"]], df_diff = cmp[["Df diff"]],
                         p = cmp[["Pr(>Chisq)"]]),
    influence_flags = flags,
    outliers_bj1980 = bj$outliers,
    full_bj1980 = model_out(bj$models$full, dv, cvs),
    outliers_bj1980_cubic = bj3$outliers,
    cubic_bj1980 = model_out(bj3$models$cubic, dv, cvs),
    caRange = list(CA = ca[c("behind", "percentage.behind", "how_many_bad_points", "percentage_bad_points")],
                   RRCA = rrca[c("behind", "percentage.behind", "how_many_bad_points", "percentage_bad_points")]),
    clRange = list(CL = list(k1 = cl$k1, k2 = cl$k2, regions = cl$regions),
                   RRCL = list(k1 = rrcl$k1, k2 = rrcl$k2, regions = rrcl$regions))
  )
  write_json(out, file.path(out_dir, paste0("rsa_package_", name, ".json")), digits = NA,
             auto_unbox = TRUE, pretty = TRUE, na = "null")
  cat(name, ": done\n")
}

run("motcon", "rsa_motcon.csv", postVA ~ ePow * iPow)
# motcon with two planted multivariate outliers (rows 1 and 2 moved far out), so that the default
# Bollen-Jackman rule removes rows; the tests plant the same values
run("motcon_planted", "rsa_motcon.csv", postVA ~ ePow * iPow,
    light = TRUE,
    plant = function(d) { d[1, c("ePow", "iPow", "postVA")] <- c(5, -4, -10); d[2, c("ePow", "iPow", "postVA")] <- c(4, 0, 10); d })
run("motcon2", "rsa_motcon2.csv", VA ~ EM * IM)
run("selfother", "rsa_selfother.csv", liking ~ IQ_self * IQ_friend, center = "pooled",
    cvs = c("age", "int"), center_cvs = TRUE)
