# Residual variance per level of a factor (a variance function): nlme::lme with varIdent.
#
# Run from the repository root:   Rscript tests/r/varident_reference.R
# Needs: r-cran-nlme, r-cran-jsonlite (Debian packages). CI never runs R: the JSON files it
# writes (tests/reference/varident_*.json) are committed and frozen.
#
# Models (variables built in base R by tests/r/chapter_models.R and below):
#   * the stacked two-rater growth model of chapter 3 with a residual variance per rater,
#       y ~ tr * training * time (8 terms), random = list(therapist = pdSymm(~ 0 + pr + tr),
#       patient = pdSymm(~ 0 + pr + tr + time_pr + time_tr)), weights = varIdent(~ 1 | rater),
#     by REML and by ML (lme4 has no variance functions; the package's fit_growth(rater="both")
#     defaults to this model);
#   * the Acitelli couples (distinguishable dyads: wife / husband) cross-sectional truth and
#     bias model with a random intercept per couple and a residual variance per gender,
#       J ~ wife * (Tr + B), random = ~ 1 | CoupleID, weights = varIdent(~ 1 | Gender_A), REML.
# Frozen: fixed effects, their covariance (nlme's vcov, the GLS form), logLik, the residual SD of
# the reference level and the SD ratios of the others, and every random-effect covariance matrix.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
source(file.path("tests", "r", "chapter_models.R"))
out_dir <- file.path("tests", "reference")
ctl <- lmeControl(maxIter = 500, msMaxIter = 500, niterEM = 100, msMaxEval = 5000,
                  tolerance = 1e-10, msTol = 1e-14, opt = "nlminb")

freeze <- function(fit, name, data_name, model_text, rename = NULL) {
  V <- as.matrix(vcov(fit))
  nm <- function(x) if (is.null(rename)) x else ifelse(x %in% names(rename), rename[x], x)
  ratios <- coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
  re <- lapply(pdMatrix(fit$modelStruct$reStruct), function(m) {
    G <- unclass(m) * fit$sigma^2
    list(names = I(rownames(G)), cov = lapply(seq_len(nrow(G)), function(i) as.numeric(G[i, ])))
  })
  out <- list(
    model = name, data = data_name, formula = model_text,
    method = fit$method, loglik = as.numeric(logLik(fit)), nobs = fit$dims$N,
    fixed = as.list(setNames(fixef(fit), nm(names(fixef(fit))))),
    vcov_names = I(nm(colnames(V))),
    vcov = lapply(seq_len(nrow(V)), function(i) as.numeric(V[i, ])),
    sigma = fit$sigma,
    sd_ratio = as.list(ratios),
    random = re,
    source = paste("nlme", as.character(packageVersion("nlme")), "lme() with varIdent,",
                   "nlminb, tolerances 1e-10/1e-14; tests/r/varident_reference.R"),
    R_version = R.version.string
  )
  path <- file.path(out_dir, sprintf("varident_%s.json", name))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
  cat("wrote", path, "logLik", as.numeric(logLik(fit)), "\n")
}

# ------------------------------------------------------------------ chapter 3: stacked growth
# book/growth-stacked-nlme/begin
d <- growth_stacked_data()
f <- y ~ tr + training + tr_training + time + time_tr + time_training + time_training_tr
rnd <- list(therapist = pdSymm(~ 0 + pr + tr), patient = pdSymm(~ 0 + pr + tr + time_pr + time_tr))
text <- paste("y ~ tr * training * time (8 terms); random = list(therapist = pdSymm(~ 0 + pr + tr),",
              "patient = pdSymm(~ 0 + pr + tr + time_pr + time_tr)); weights = varIdent(~ 1 | rater)")
for (meth in c("REML", "ML")) {
  fit <- lme(f, random = rnd, weights = varIdent(form = ~ 1 | rater), data = d, method = meth,
             control = ctl)
# book/growth-stacked-nlme/end
  freeze(fit, paste0("growth_stacked_", tolower(meth)), "data/sessions.csv", text, growth_rename)
}
# the package's default: an intercept and a slope per rater for therapists too (4 x 4), REML
rnd_slope <- list(therapist = pdSymm(~ 0 + pr + tr + time_pr + time_tr),
                  patient = pdSymm(~ 0 + pr + tr + time_pr + time_tr))
text_slope <- sub("therapist = pdSymm(~ 0 + pr + tr)",
                  "therapist = pdSymm(~ 0 + pr + tr + time_pr + time_tr)", text, fixed = TRUE)
fit <- lme(f, random = rnd_slope, weights = varIdent(form = ~ 1 | rater), data = d,
           method = "REML", control = ctl)
freeze(fit, "growth_stacked_slope_reml", "data/sessions.csv", text_slope, growth_rename)

# ------------------------------------------------------------------ Acitelli, distinguishable dyads
aci <- read.csv(file.path("tests", "data", "tb_acitelli_pairwise.csv"))
mt <- mean(aci$SelfPos_P)
aci$J <- aci$OtherPos_A - mt
aci$Tr <- aci$SelfPos_P - mt
aci$B <- aci$SelfPos_A - mt
aci$wife <- as.numeric(aci$Gender_A == "Wife")
aci$CoupleID <- factor(aci$CoupleID)
fit <- lme(J ~ wife * (Tr + B), random = ~ 1 | CoupleID, weights = varIdent(form = ~ 1 | Gender_A),
           data = aci, method = "REML", control = ctl)
freeze(fit, "acitelli_gender", "tb_acitelli_pairwise.csv",
       paste("J ~ wife * (Tr + B), random = ~ 1 | CoupleID, weights = varIdent(~ 1 | Gender_A);",
             "J = OtherPos_A - mean(SelfPos_P), Tr = SelfPos_P - mean(SelfPos_P),",
             "B = SelfPos_A - mean(SelfPos_P), wife = Gender_A == 'Wife'"))
