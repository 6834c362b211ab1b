# The book's chapter models (chapters 3-6) on the shipped synthetic data, built in base R.
#
# Sourced by tests/r/ddf_reference.R, tests/r/varident_reference.R and
# tests/r/lme4_timings.R (run from the repository root). Every variable is constructed here
# from data/sessions.csv, independently of the Python package, following the definitions in
# the chapters (and the earlier scripts growth_reference.R, truth_bias_reference.R,
# lagged_reference.R, rsa_reference.R, whose frozen fits these models reproduce):
#
#   growth (ch. 3):   y ~ training + time + time_training + (1 + time | patient) + <therapist>
#                     stacked: y ~ tr * training * time (8 terms)
#                              + (0 + pr + tr + time_pr + time_tr | patient) + <therapist>
#   truth and bias (ch. 4): J ~ trained * (Tw + Tb + sc) + (1 + Tw | patient) + (1 | therapist)
#   response surface (ch. 5): wellbeing ~ (x + y + x2 + xy + y2) * trained + session
#                     + (1 | therapist) + (1 | patient), ML; x, y lagged one session
#   lagged (ch. 6):   y ~ trained * (aTw + aTb + aPw + aPb + sc) + prior + (1 | patient) + (1 | therapist)
#
# Each model also lists the linear combinations the book reports (name -> named weights).

sessions <- read.csv(file.path("src", "alliance", "data", "files", "sessions.csv"),
                     stringsAsFactors = FALSE)

# ------------------------------------------------------------------ chapter 3: growth
# book/growth-single-data/begin
growth_single_data <- function(col) {
  d <- sessions[!is.na(sessions[[col]]), ]
  d$y <- d[[col]]
  d$time <- d$session - 1
  d$training <- as.numeric(d$condition == "training")
  d$time_training <- d$time * d$training
  d$patient <- factor(d$patient); d$therapist <- factor(d$therapist)
  d
}
# book/growth-single-data/end

# book/growth-stacked-data/begin
growth_stacked_data <- function() {
  p <- sessions[!is.na(sessions$alliance_patient), ]
  p$y <- p$alliance_patient; p$tr <- 0; p$rater <- "patient"
  t <- sessions[!is.na(sessions$alliance_therapist), ]
  t$y <- t$alliance_therapist; t$tr <- 1; t$rater <- "therapist"
  d <- rbind(p, t)
  d$time <- d$session - 1
  d$training <- as.numeric(d$condition == "training")
  d$pr <- 1 - d$tr
  d$tr_training <- d$tr * d$training
  d$time_tr <- d$time * d$tr
  d$time_pr <- d$time * d$pr
  d$time_training <- d$time * d$training
  d$time_training_tr <- d$time * d$training * d$tr
  d$rater <- factor(d$rater)
  d$patient <- factor(d$patient); d$therapist <- factor(d$therapist)
  d
}
# book/growth-stacked-data/end

# book/growth-single-formula/begin
growth_single_formula <- function(ther) {
  rnd <- c(none = "", intercept = " + (1 | therapist)",
           `intercept+slope` = " + (1 + time | therapist)")[[ther]]
  as.formula(paste0("y ~ training + time + time_training + (1 + time | patient)", rnd))
}
# book/growth-single-formula/end

# book/growth-stacked-formula/begin
growth_stacked_formula <- function(ther) {
  rnd <- c(none = "", intercept = " + (0 + pr + tr | therapist)",
           `intercept+slope` = " + (0 + pr + tr + time_pr + time_tr | therapist)")[[ther]]
  as.formula(paste0("y ~ tr + training + tr_training + time + time_tr + time_training + ",
                    "time_training_tr + (0 + pr + tr + time_pr + time_tr | patient)", rnd))
}
# book/growth-stacked-formula/end

# the package's names of the stacked model's fixed effects
growth_rename <- c("(Intercept)" = "Intercept", "time_training" = "time:training",
                   "tr" = "therapist_rater", "tr_training" = "training:therapist_rater",
                   "time_tr" = "time:therapist_rater",
                   "time_training_tr" = "time:training:therapist_rater",
                   "training" = "training", "time" = "time")

growth_single_contrasts <- list(
  `growth, control` = c(time = 1),
  `growth, training` = c(time = 1, time_training = 1),
  `growth difference` = c(time_training = 1),
  `difference at session 6` = c(training = 1, time_training = 5)
)
growth_stacked_contrasts <- list(
  `growth difference, patient-rated` = c(time_training = 1),
  `growth difference, therapist-rated` = c(time_training = 1, time_training_tr = 1),
  `rater difference in the growth difference` = c(time_training_tr = 1)
)

# ------------------------------------------------------------------ chapter 4: truth and bias
# book/truth-bias/begin
tb_data <- function(judge = "alliance_therapist", truth = "alliance_patient") {
  d <- sessions[!is.na(sessions[[judge]]) & !is.na(sessions[[truth]]), ]
  mt <- mean(d[[truth]])
  d$J <- d[[judge]] - mt
  d$Tr <- d[[truth]] - mt
  d$Tb <- ave(d$Tr, d$patient)
  d$Tw <- d$Tr - d$Tb
  d$sc <- d$session - mean(d$session)
  d$trained <- as.numeric(d$condition == "training")
  d$patient <- factor(d$patient); d$therapist <- factor(d$therapist)
  d
}
tb_formula <- J ~ trained * (Tw + Tb + sc) + (1 + Tw | patient) + (1 | therapist)
tb_formula_slope <- J ~ trained * (Tw + Tb + sc) + (1 + Tw | patient) + (1 + Tw | therapist)
tb_contrasts <- list(
  `directional bias, control` = c(`(Intercept)` = 1),
  `directional bias, training` = c(`(Intercept)` = 1, trained = 1),
  `directional bias, training - control` = c(trained = 1),
  `temporal congruence, control` = c(Tw = 1),
  `temporal congruence, training` = c(Tw = 1, `trained:Tw` = 1),
  `temporal congruence, training - control` = c(`trained:Tw` = 1),
  `level accuracy, control` = c(Tb = 1),
  `level accuracy, training` = c(Tb = 1, `trained:Tb` = 1),
  `level accuracy, training - control` = c(`trained:Tb` = 1)
)
# book/truth-bias/end

# ------------------------------------------------------------------ chapter 5: response surface
# book/rsa/begin
rsa_data <- function() {
  s <- sessions
  key <- paste(s$patient, s$session)
  prev <- match(paste(s$patient, s$session - 1), key)   # same patient, exactly one session earlier
  s$x_raw <- s$alliance_therapist[prev]
  s$y_raw <- s$alliance_patient[prev]
  cc <- s[!is.na(s$wellbeing) & !is.na(s$x_raw) & !is.na(s$y_raw), ]
  c5 <- mean(c(cc$x_raw, cc$y_raw))
  cc$x <- cc$x_raw - c5; cc$y <- cc$y_raw - c5
  cc$x2 <- cc$x^2; cc$xy <- cc$x * cc$y; cc$y2 <- cc$y^2
  cc$trained <- as.numeric(cc$condition == "training")
  cc$therapist <- factor(cc$therapist); cc$patient <- factor(cc$patient)
  cc
}
rsa_formula <- wellbeing ~ x + y + x2 + xy + y2 + trained + trained:x + trained:y + trained:x2 +
  trained:xy + trained:y2 + session + (1 | therapist) + (1 | patient)
rsa_L <- rbind(a1 = c(1, 1, 0, 0, 0), a2 = c(0, 0, 1, 1, 1), a3 = c(1, -1, 0, 0, 0),
               a4 = c(0, 0, 1, -1, 1), a5 = c(0, 0, 1, 0, -1))
# book/rsa/end
rsa_contrasts <- function(coef_names) {
  base <- c("x", "y", "x2", "xy", "y2")
  inter <- paste0("trained:", base)
  inter <- ifelse(inter %in% coef_names, inter, paste0(base, ":trained"))
  out <- list()
  for (a in rownames(rsa_L)) {
    out[[paste0(a, ", control")]] <- setNames(rsa_L[a, ], base)
    out[[paste0(a, ", training")]] <- c(setNames(rsa_L[a, ], base), setNames(rsa_L[a, ], inter))
    out[[paste0(a, ", difference")]] <- setNames(rsa_L[a, ], inter)
  }
  lapply(out, function(w) w[w != 0])
}

# ------------------------------------------------------------------ chapter 6: lagged outcomes
# book/lagged/begin
lagged_data <- function() {
  raw <- sessions
  key <- paste(raw$patient, raw$session, sep = "\r")
  prev_row <- match(paste(raw$patient, raw$session - 1, sep = "\r"), key)
  lagged <- function(col) raw[[col]][prev_row]
  pmean <- function(col) ave(raw[[col]], raw$patient, FUN = function(v) mean(v, na.rm = TRUE))
  ok <- !is.na(raw$wellbeing) & !is.na(prev_row) & !is.na(lagged("alliance_therapist")) &
    !is.na(lagged("alliance_patient")) & !is.na(lagged("wellbeing"))
  d <- data.frame(y = raw$wellbeing[ok], patient = factor(raw$patient[ok]),
                  therapist = factor(raw$therapist[ok]),
                  trained = as.numeric(raw$condition[ok] == "training"))
  pmT <- pmean("alliance_therapist")[ok]; pmP <- pmean("alliance_patient")[ok]
  d$aTw <- lagged("alliance_therapist")[ok] - pmT
  d$aTb <- pmT - mean(pmT)
  d$aPw <- lagged("alliance_patient")[ok] - pmP
  d$aPb <- pmP - mean(pmP)
  d$prior <- lagged("wellbeing")[ok] - pmean("wellbeing")[ok]
  d$sc <- raw$session[ok] - mean(raw$session[ok])
  d
}
lagged_formula <- y ~ trained * (aTw + aTb + aPw + aPb + sc) + prior + (1 | patient) + (1 | therapist)
# book/lagged/end
lagged_contrasts <- list(
  `alliance_therapist within, control` = c(aTw = 1),
  `alliance_therapist within, training` = c(aTw = 1, `trained:aTw` = 1),
  `alliance_therapist within, training - control` = c(`trained:aTw` = 1),
  `alliance_patient within, control` = c(aPw = 1),
  `alliance_patient within, training` = c(aPw = 1, `trained:aPw` = 1),
  `alliance_patient within, training - control` = c(`trained:aPw` = 1)
)

# ------------------------------------------------------------------ every chapter model
chapter_models <- function() {
  gp <- growth_single_data("alliance_patient")
  gt <- growth_single_data("alliance_therapist")
  gs <- growth_stacked_data()
  tb <- tb_data()
  rs <- rsa_data()
  lg <- lagged_data()
  list(
    growth_therapist = list(data = gt, formula = growth_single_formula("intercept"), REML = TRUE,
                            contrasts = growth_single_contrasts),
    growth_therapist_slope = list(data = gt, formula = growth_single_formula("intercept+slope"),
                                  REML = TRUE, contrasts = growth_single_contrasts),
    growth_patient = list(data = gp, formula = growth_single_formula("intercept"), REML = TRUE,
                          contrasts = growth_single_contrasts),
    growth_patient_slope = list(data = gp, formula = growth_single_formula("intercept+slope"),
                                REML = TRUE, contrasts = growth_single_contrasts),
    growth_stacked = list(data = gs, formula = growth_stacked_formula("intercept"), REML = TRUE,
                          contrasts = growth_stacked_contrasts),
    truth_bias = list(data = tb, formula = tb_formula, REML = TRUE, contrasts = tb_contrasts),
    truth_bias_slope = list(data = tb, formula = tb_formula_slope, REML = TRUE,
                            contrasts = tb_contrasts),
    rsa = list(data = rs, formula = rsa_formula, REML = FALSE, contrasts = NULL),
    lagged = list(data = lg, formula = lagged_formula, REML = TRUE, contrasts = lagged_contrasts)
  )
}
