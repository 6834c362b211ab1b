# Reference values for the constrained response-surface family on MULTILEVEL, MODERATED data
# (tests/test_rsa_family.py), computed with lme4 (the RSA package has no multilevel models).
#
# Run from the repository root:   Rscript tests/r/rsa_family_multilevel_reference.R
# Needs: r-cran-lme4, r-cran-jsonlite. CI never runs R; the output is frozen in
# tests/reference/rsa_family_chapter5.json.
#
# The book's chapter-5 model (lagged well-being on the previous session's therapist- and
# patient-rated alliance, by arm, session trend, therapist and patient random intercepts, ML),
# with each model of the family imposed on BOTH arms' surfaces: a model with reduced columns
# r_k = sum_j w_kj T_j (T = x, y, x2, xy, y2) enters as r_k and r_k * trained. Written from the
# model definitions (Schoenbrodt 2016; the RSA package's constraints), no code copied.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
s <- read.csv(file.path("src", "alliance", "data", "files", "sessions.csv"))
key <- paste(s$patient, s$session)
prev <- match(paste(s$patient, s$session - 1), key)
s$x_raw <- s$alliance_therapist[prev]
s$y_raw <- s$alliance_patient[prev]
cc <- s[!is.na(s$wellbeing) & !is.na(s$x_raw) & !is.na(s$y_raw), ]
c5 <- mean(c(cc$x_raw, cc$y_raw))
x <- cc$x_raw - c5; y <- cc$y_raw - c5
P <- cbind(x = x, y = y, x2 = x^2, xy = x * y, y2 = y^2)
trained <- as.numeric(cc$condition == "training")
W <- list(
  null = NULL,
  onlyx = rbind(c(1, 0, 0, 0, 0)),
  additive = rbind(c(1, 0, 0, 0, 0), c(0, 1, 0, 0, 0)),
  IA = rbind(c(1, 0, 0, 0, 0), c(0, 1, 0, 0, 0), c(0, 0, 0, 1, 0)),
  SQD = rbind(c(0, 0, 1, -2, 1)),
  SSQD = rbind(c(1, -1, 0, 0, 0), c(0, 0, 1, -2, 1)),
  RR = rbind(c(1, 1, 0, 0, 0), c(0, 0, 1, -2, 1)),
  SRR = rbind(c(1, 0, 0, 0, 0), c(0, 1, 0, 0, 0), c(0, 0, 1, -2, 1)),
  full = diag(5)
)
out <- list(source = "lme4::lmer (bobyqa, rhoend 1e-10), ML; this script",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            center = c5, n = nrow(cc), models = list())
for (m in names(W)) {
  d <- data.frame(wellbeing = cc$wellbeing, trained = trained, session = cc$session,
                  therapist = factor(cc$therapist), patient = factor(cc$patient))
  rhs <- "trained + session"
  if (!is.null(W[[m]])) {
    R <- P %*% t(W[[m]])
    colnames(R) <- paste0("r", seq_len(ncol(R)))
    for (k in colnames(R)) { d[[k]] <- R[, k]; d[[paste0(k, "_t")]] <- R[, k] * trained }
    rhs <- paste(rhs, "+", paste(c(colnames(R), paste0(colnames(R), "_t")), collapse = " + "))
  }
  f <- lmer(as.formula(paste("wellbeing ~", rhs, "+ (1 | therapist) + (1 | patient)")), data = d,
            REML = FALSE, control = ctrl)
  b <- fixef(f); V <- as.matrix(vcov(f))
  res <- list(loglik = as.numeric(logLik(f)), npar = attr(logLik(f), "df"))
  if (!is.null(W[[m]])) {
    k <- nrow(W[[m]])
    base <- paste0("r", seq_len(k)); int <- paste0(base, "_t")
    Wt <- t(W[[m]])                       # 5 x k: b = Wt c
    Lsurf <- rbind(c(1, 1, 0, 0, 0), c(0, 0, 1, 1, 1), c(1, -1, 0, 0, 0), c(0, 0, 1, -1, 1), c(0, 0, 1, 0, -1))
    surf <- function(cols) {
      L <- Lsurf %*% Wt
      M <- matrix(0, 5, length(b)); M[, match(cols[[1]], names(b))] <- L
      if (length(cols) > 1) M[, match(cols[[2]], names(b))] <- L
      data.frame(term = paste0("a", 1:5), estimate = drop(M %*% b), se = sqrt(diag(M %*% V %*% t(M))))
    }
    res$control <- surf(list(base))
    res$training <- surf(list(base, int))
  }
  out$models[[m]] <- res
}
write_json(out, file.path("tests", "reference", "rsa_family_chapter5.json"), digits = NA,
           auto_unbox = TRUE, pretty = TRUE)
cat("wrote tests/reference/rsa_family_chapter5.json\n")
