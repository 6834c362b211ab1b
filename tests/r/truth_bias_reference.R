# Reference values for tests/test_truth_bias.py, computed with lme4.
#
# Run from the repository root:   Rscript tests/r/truth_bias_reference.R
# Needs: r-base-core, r-cran-lme4, r-cran-jsonlite (Debian packages). CI never runs R:
# the JSON files it writes (tests/reference/truth_bias_*.json) are committed and frozen.
#
# Every variable of the truth-and-bias model (West & Kenny 2011) is built HERE, in base R,
# independently of the Python code: judgment, truth and bias centred on the mean of the
# truth; the truth split into its within-dyad part (deviation from the patient's mean) and
# its between-dyad part (the patient's mean); the anchoring bias (the judge's own rating
# in the previous session of the same patient, missing when that session is absent).
# Each file holds fixed effects, vcov, the variance components, logLik / REML criterion,
# and the forces per level of the moderator with their arm difference, as linear
# combinations L beta with SE sqrt(L V L').

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference")
dir.create(out_dir, showWarnings = FALSE)

ctrl <- lmerControl(optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))

# forces: named list of force name -> list(base term, interaction term or NULL)
forces_table <- function(fit, forces, levels) {
  b <- fixef(fit)
  V <- as.matrix(vcov(fit))
  rows <- list()
  for (nm in names(forces)) {
    f <- forces[[nm]]
    Ls <- list()
    if (is.null(f$inter)) {
      L <- setNames(rep(0, length(b)), names(b)); L[f$base] <- 1
      Ls[["all"]] <- L
    } else {
      L0 <- setNames(rep(0, length(b)), names(b)); L0[f$base] <- 1
      L1 <- L0; L1[f$inter] <- 1
      Ld <- setNames(rep(0, length(b)), names(b)); Ld[f$inter] <- 1
      Ls[[levels[1]]] <- L0
      Ls[[levels[2]]] <- L1
      Ls[[paste(levels[2], "-", levels[1])]] <- Ld
    }
    for (lv in names(Ls)) {
      L <- Ls[[lv]]
      est <- sum(L * b)
      se <- sqrt(as.numeric(t(L) %*% V %*% L))
      rows[[length(rows) + 1]] <- list(term = nm, level = lv, estimate = est, se = se)
    }
  }
  rows
}

freeze <- function(fit, name, data_file, formula_text, construction, forces, levels) {
  V <- as.matrix(vcov(fit))
  vc <- as.data.frame(VarCorr(fit), order = "lower.tri")
  out <- list(
    model = name,
    formula = formula_text,
    data = data_file,
    construction = construction,
    method = if (isREML(fit)) "REML" else "ML",
    fixed = as.list(fixef(fit)),
    vcov = lapply(seq_len(nrow(V)), function(i) as.numeric(V[i, ])),
    vcov_names = I(colnames(V)),
    varcorr = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2,
                   vcov = vc$vcov, sdcor = vc$sdcor),
    sigma = sigma(fit),
    loglik = as.numeric(logLik(fit)),
    deviance_or_remlcrit = if (isREML(fit)) as.numeric(REMLcrit(fit)) else as.numeric(deviance(fit)),
    nobs = nobs(fit),
    ngrps = as.list(ngrps(fit)),
    singular = isSingular(fit),
    forces = forces_table(fit, forces, levels),
    optimizer = "bobyqa (rhoend 1e-10)",
    R_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    Matrix_version = as.character(packageVersion("Matrix"))
  )
  path <- file.path(out_dir, sprintf("truth_bias_%s.json", name))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
  cat("wrote", path, "\n")
}

# ------------------------------------------------------------------ Acitelli (cross-sectional)
# Indistinguishable dyads, pairwise file: judgment = perception of the partner (OtherPos_A),
# truth = the partner's self-rating (SelfPos_P), bias = own self-rating (SelfPos_A); all
# three centred on the mean of the truth; random intercept per couple (Kenny's dyadr
# vignette fits the same fixed part).
aci <- read.csv(file.path("tests", "data", "tb_acitelli_pairwise.csv"))
mt <- mean(aci$SelfPos_P)
aci$J <- aci$OtherPos_A - mt
aci$Tr <- aci$SelfPos_P - mt
aci$B <- aci$SelfPos_A - mt
aci$CoupleID <- factor(aci$CoupleID)
fit <- lmer(J ~ Tr + B + (1 | CoupleID), data = aci, REML = TRUE, control = ctrl)
freeze(fit, "acitelli", "tb_acitelli_pairwise.csv", "J ~ Tr + B + (1 | CoupleID)",
       "J = OtherPos_A - mean(SelfPos_P); Tr = SelfPos_P - mean(SelfPos_P); B = SelfPos_A - mean(SelfPos_P)",
       list(`directional bias` = list(base = "(Intercept)"), truth = list(base = "Tr"),
            bias = list(base = "B")), NULL)

# Same with gender as a (distinguishing) moderator: 0 = Husband (reference), 1 = Wife.
aci$wife <- as.numeric(aci$Gender_A == "Wife")
fit <- lmer(J ~ wife * (Tr + B) + (1 | CoupleID), data = aci, REML = TRUE, control = ctrl)
freeze(fit, "acitelli_gender", "tb_acitelli_pairwise.csv", "J ~ wife * (Tr + B) + (1 | CoupleID)",
       "as acitelli; wife = Gender_A == 'Wife'",
       list(`directional bias` = list(base = "(Intercept)", inter = "wife"),
            truth = list(base = "Tr", inter = "wife:Tr"),
            bias = list(base = "B", inter = "wife:B")),
       c("Husband", "Wife"))

# ------------------------------------------------------------------ chapter 4 (repeated)
sess_all <- read.csv(file.path("src", "alliance", "data", "files", "sessions.csv"), stringsAsFactors = FALSE)
key <- paste(sess_all$patient, sess_all$session)

build <- function(d, judge, truth, anchoring) {
  d$J_raw <- d[[judge]]
  d$T_raw <- d[[truth]]
  if (anchoring) {
    prev <- match(paste(d$patient, d$session - 1), key)  # NA when the previous session is absent
    d$A_raw <- d[[judge]][prev]
    d <- d[!is.na(d$J_raw) & !is.na(d$T_raw) & !is.na(d$A_raw), ]
  } else {
    d <- d[!is.na(d$J_raw) & !is.na(d$T_raw), ]
  }
  mt <- mean(d$T_raw)
  d$J <- d$J_raw - mt
  d$Tr <- d$T_raw - mt
  d$Tb <- ave(d$Tr, d$patient)          # between-dyad truth: patient's mean, centred
  d$Tw <- d$Tr - d$Tb                    # within-dyad truth: session deviation
  d$sc <- d$session - mean(d$session)    # session, centred on the analysed rows' mean
  if (anchoring) d$A <- d$A_raw - mt
  d$trained <- as.numeric(d$condition == "training")
  d$patient <- factor(d$patient)
  d$therapist <- factor(d$therapist)
  d
}

cons <- paste("rows with both ratings; mt = mean(truth); J = judge - mt; Tr = truth - mt;",
              "Tb = patient mean of Tr; Tw = Tr - Tb; sc = session - mean(session);",
              "trained = condition == 'training'")
arm_forces <- list(`directional bias` = list(base = "(Intercept)", inter = "trained"),
                   `temporal congruence` = list(base = "Tw", inter = "trained:Tw"),
                   `level accuracy` = list(base = "Tb", inter = "trained:Tb"))
arms <- c("control", "training")

d <- build(sess_all, "alliance_therapist", "alliance_patient", FALSE)
f <- J ~ trained * (Tw + Tb + sc) + (1 + Tw | patient) + (1 | therapist)
fit <- lmer(f, data = d, REML = TRUE, control = ctrl)
freeze(fit, "sessions_therapist", "data/sessions.csv", deparse(f), cons, arm_forces, arms)

f <- J ~ trained * (Tw + Tb + sc) + (1 + Tw | patient)
fit <- lmer(f, data = d, REML = TRUE, control = ctrl)
freeze(fit, "sessions_therapist_notherapist", "data/sessions.csv", deparse(f), cons, arm_forces, arms)

d <- build(sess_all, "alliance_patient", "alliance_therapist", FALSE)
f <- J ~ trained * (Tw + Tb + sc) + (1 + Tw | patient) + (1 | therapist)
fit <- lmer(f, data = d, REML = TRUE, control = ctrl)
freeze(fit, "sessions_patient", "data/sessions.csv", deparse(f),
       paste(cons, "(judge = alliance_patient, truth = alliance_therapist)"), arm_forces, arms)

d <- build(sess_all, "alliance_therapist", "alliance_patient", TRUE)
f <- J ~ trained * (Tw + Tb + A + sc) + (1 + Tw | patient) + (1 | therapist)
fit <- lmer(f, data = d, REML = TRUE, control = ctrl)
freeze(fit, "sessions_anchoring", "data/sessions.csv", deparse(f),
       paste(cons, "; rows also need the judge's own rating in session - 1 of the same patient;",
             "A = that rating - mt"),
       c(arm_forces, list(`bias force` = list(base = "A", inter = "trained:A"))), arms)
