# Reference values for tests/test_growth.py: every growth model of chapter 3, fitted with lme4.
#
# Run from the repository root:   Rscript tests/r/growth_reference.R
# Needs: r-base-core, r-cran-lme4, r-cran-jsonlite (Debian packages). CI never runs R:
# the JSON file it writes (tests/reference/growth_lme4.json) is committed and frozen.
#
# Data: the shipped synthetic trial data/sessions.csv (rows with a missing rating dropped, as
# alliance.growth does). Models (time = session - 1, training = 1 in the training arm):
#
#   single rater (y = alliance_patient or alliance_therapist):
#     y ~ training + time + time:training + (1 + time | patient) + <therapist term>
#   stacked (both ratings as rows; tr = 1 for the therapist's rating, pr = 1 - tr):
#     y ~ tr * training * time (all 8 terms)
#       + (0 + pr + tr + pr:time + tr:time | patient) + <therapist term>
#
#   <therapist term>: none | (1 | therapist) | (1 + time | therapist) for one rater;
#                     none | (0 + pr + tr | therapist) | (0 + pr + tr + pr:time + tr:time | therapist)
#                     for the stacked model;
# each by REML and by ML. Fixed-effect and random-effect names are written in the package's
# spelling (see the `rename` table below) so that the test compares like with like.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

d <- read.csv(file.path("src", "alliance", "data", "files", "sessions.csv"), stringsAsFactors = FALSE)
d$time <- d$session - 1
d$training <- as.numeric(d$condition == "training")

# Strict optimizer set-up (as tests/r/mixed_reference.R) so the frozen numbers are lme4's
# optimum to high precision; bobyqa is then cross-checked with Nelder-Mead and the better
# (higher) criterion is kept, and then with 12 seeded restarts of bobyqa (see fit_best).
ctrl_b <- lmerControl(optimizer = "bobyqa",
                      optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5),
                      check.conv.singular = "ignore")
ctrl_n <- lmerControl(optimizer = "Nelder_Mead",
                      optCtrl = list(FtolAbs = 1e-12, FtolRel = 1e-14, maxfun = 1e5),
                      check.conv.singular = "ignore")

single_data <- function(col) {
  x <- d[!is.na(d[[col]]), ]
  x$y <- x[[col]]
  x$time_training <- x$time * x$training
  x
}

stacked_data <- function() {
  p <- d[!is.na(d$alliance_patient), ]
  p$y <- p$alliance_patient
  p$tr <- 0
  t <- d[!is.na(d$alliance_therapist), ]
  t$y <- t$alliance_therapist
  t$tr <- 1
  x <- rbind(p, t)
  x$pr <- 1 - x$tr
  x$tr_training <- x$tr * x$training
  x$time_tr <- x$time * x$tr
  x$time_pr <- x$time * x$pr
  x$time_training <- x$time * x$training
  x$time_training_tr <- x$time * x$training * x$tr
  x
}

rename <- c("(Intercept)" = "Intercept", "time_training" = "time:training",
            "tr" = "therapist_rater", "pr" = "patient_rater",
            "tr_training" = "training:therapist_rater", "time_tr" = "time:therapist_rater",
            "time_pr" = "time:patient_rater", "time_training_tr" = "time:training:therapist_rater",
            "training" = "training", "time" = "time")
nm <- function(x) ifelse(is.na(x), NA, ifelse(x %in% names(rename), rename[x], x))

single_fixed <- "y ~ training + time + time_training"
stacked_fixed <- "y ~ tr + training + tr_training + time + time_tr + time_training + time_training_tr"
single_ther <- c(none = "", intercept = " + (1 | therapist)",
                 `intercept+slope` = " + (1 + time | therapist)")
stacked_ther <- c(none = "", intercept = " + (0 + pr + tr | therapist)",
                  `intercept+slope` = " + (0 + pr + tr + time_pr + time_tr | therapist)")

fit_best <- function(f, data, reml) {
  msgs <- character(0)
  fits <- lapply(list(ctrl_b, ctrl_n), function(ct) {
    withCallingHandlers(lmer(f, data = data, REML = reml, control = ct),
                        warning = function(w) {
                          msgs <<- c(msgs, conditionMessage(w))
                          invokeRestart("muffleWarning")
                        })
  })
  crit <- sapply(fits, function(m) as.numeric(logLik(m)))
  best <- fits[[which.max(crit)]]
  optimizer <- c("bobyqa", "Nelder_Mead")[which.max(crit)]
  # Singular fits with many covariance parameters (the stacked model's two 4 x 4 matrices) can
  # stop at a worse local optimum: restart bobyqa from 12 seeded perturbations of the best
  # theta (non-negative where theta is bounded) and keep the highest criterion.
  set.seed(20221110)
  th0 <- getME(best, "theta")
  lower <- getME(best, "lower")
  restarts <- numeric(0)
  for (k in 1:12) {
    st <- th0 + rnorm(length(th0), 0, 0.3)
    st[lower == 0] <- abs(st[lower == 0])
    m <- tryCatch(suppressWarnings(lmer(f, data = data, REML = reml, control = ctrl_b,
                                        start = list(theta = st))), error = function(e) NULL)
    if (is.null(m)) next
    restarts <- c(restarts, as.numeric(logLik(m)))
    if (as.numeric(logLik(m)) > as.numeric(logLik(best)) + 1e-9) {
      best <- m
      optimizer <- paste0("bobyqa (restart ", k, ")")
    }
  }
  list(fit = best, optimizer = optimizer, loglik_bobyqa = crit[1], loglik_nelder_mead = crit[2],
       loglik_restarts_max = if (length(restarts)) max(restarts) else NA,
       warnings = unique(msgs))
}

out <- list()
for (rater in c("patient", "therapist", "both")) {
  if (rater == "both") {
    data <- stacked_data()
    fixed <- stacked_fixed
    re <- " + (0 + pr + tr + time_pr + time_tr | patient)"
    ther <- stacked_ther
  } else {
    data <- single_data(paste0("alliance_", rater))
    fixed <- single_fixed
    re <- " + (1 + time | patient)"
    ther <- single_ther
  }
  for (te in names(ther)) {
    f <- as.formula(paste0(fixed, re, ther[[te]]))
    for (reml in c(TRUE, FALSE)) {
      b <- fit_best(f, data, reml)
      fit <- b$fit
      V <- as.matrix(vcov(fit))
      se <- sqrt(diag(V))
      vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
      key <- paste(rater, te, if (reml) "REML" else "ML", sep = "|")
      out[[key]] <- list(
        rater = rater,
        therapist_effects = te,
        method = if (reml) "REML" else "ML",
        formula = paste(deparse(f, width.cutoff = 500L), collapse = " "),
        data = "data/sessions.csv (rows with the rating missing dropped)",
        fixed = setNames(as.list(unname(fixef(fit))), nm(names(fixef(fit)))),
        se = setNames(as.list(unname(se)), nm(names(se))),
        varcorr = list(grp = vc$grp, var1 = unname(nm(vc$var1)), var2 = unname(nm(vc$var2)),
                       vcov = vc$vcov, sdcor = vc$sdcor),
        sigma = sigma(fit),
        loglik = as.numeric(logLik(fit)),
        deviance_or_remlcrit = if (reml) as.numeric(REMLcrit(fit)) else as.numeric(deviance(fit)),
        aic = AIC(fit),
        nobs = nobs(fit),
        ngrps = as.list(ngrps(fit)),
        singular = isSingular(fit),
        optimizer = b$optimizer,
        loglik_bobyqa = b$loglik_bobyqa,
        loglik_nelder_mead = b$loglik_nelder_mead,
        lme4_warnings = I(b$warnings)
      )
    }
  }
}

res <- list(
  source = "lme4::lmer on data/sessions.csv, script tests/r/growth_reference.R",
  R_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  Matrix_version = as.character(packageVersion("Matrix")),
  models = out
)
dir.create(file.path("tests", "reference"), showWarnings = FALSE)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path("tests", "reference", "growth_lme4.json"))
cat("wrote tests/reference/growth_lme4.json with", length(out), "models\n")
