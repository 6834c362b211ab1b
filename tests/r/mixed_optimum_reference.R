# The REML optimum of Nestler, Humberg & Schoenbrodt's (2019) Example 1 with five random slopes
# and the uncentred level-2 means (*.mean) as covariates: a model whose REML criterion a bounded
# gradient method started at the identity misses (it stops on the boundary, with the group
# intercept variance at 0, 29 criterion units above this optimum; see alliance.mixed.optimize).
#
# Run from the repository root:   Rscript tests/r/mixed_optimum_reference.R
# Needs: r-cran-lme4, r-cran-jsonlite (Debian packages). CI never runs R: the JSON file it
# writes (tests/reference/optimum_nestler_example1_reml.json, in the format of
# tests/r/mixed_reference.R) is committed and frozen.
#
# lme4 is run with bobyqa (rhoend 1e-10) and, as a check that this is the optimum and not a
# local one, with Nelder-Mead from the same start and from a scaled start; the lowest REML
# criterion is frozen and the spread of the three is recorded.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
out_dir <- file.path("tests", "reference")
d <- read.csv(file.path("tests", "data", "mlrsa_nestler2019_example1.csv"))
d$GroupID <- factor(d$GroupID)
f <- z ~ x.c + y.c + x2.c + xy.c + y2.c + x.mean + y.mean + x2.mean + xy.mean + y2.mean +
  (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID)
fits <- list(
  bobyqa = lmer(f, data = d, REML = TRUE,
                control = lmerControl(optimizer = "bobyqa",
                                      optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))),
  nelder_mead = lmer(f, data = d, REML = TRUE,
                     control = lmerControl(optimizer = "Nelder_Mead",
                                           optCtrl = list(FtolAbs = 1e-12, FtolRel = 1e-14,
                                                          maxfun = 1e5))),
  bobyqa_scaled_start = lmer(f, data = d, REML = TRUE, start = list(theta = 0.3 * getME(
    lmer(f, data = d, REML = TRUE, control = lmerControl(optCtrl = list(maxfun = 1))), "theta")),
    control = lmerControl(optimizer = "bobyqa",
                          optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5)))
)
crit <- sapply(fits, REMLcrit)
print(crit)
fit <- fits[[which.min(crit)]]
V <- as.matrix(vcov(fit))
vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
out <- list(
  model = "nestler_example1",
  formula = paste(deparse(f, width.cutoff = 500L), collapse = " "),
  data = "mlrsa_nestler2019_example1.csv",
  method = "REML",
  fixed = as.list(fixef(fit)),
  vcov = lapply(seq_len(nrow(V)), function(i) as.numeric(V[i, ])),
  vcov_names = I(colnames(V)),
  theta = I(as.numeric(getME(fit, "theta"))),
  theta_names = I(names(getME(fit, "theta"))),
  varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, vcov = vc$vcov, sdcor = vc$sdcor),
  sigma = sigma(fit),
  loglik = as.numeric(logLik(fit)),
  deviance_or_remlcrit = as.numeric(REMLcrit(fit)),
  aic = AIC(fit),
  bic = BIC(fit),
  nobs = nobs(fit),
  ngrps = as.list(ngrps(fit)),
  singular = isSingular(fit),
  optimizer = paste("lowest REML criterion of", paste(names(crit), collapse = ", ")),
  criteria_by_optimizer = as.list(crit),
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix"))
)
path <- file.path(out_dir, "optimum_nestler_example1_reml.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
cat("wrote", path, "\n")
