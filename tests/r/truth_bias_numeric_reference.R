# Truth and bias with a numeric moderator: the Acitelli couples, forces moderated linearly by
# years of marriage (Yearsmar), as alliance.truth_bias.fit_truth_bias_cross does for a numeric
# moderator with more than two values (before issue 10 it made 124 categories of it).
#
# Run from the repository root:   Rscript tests/r/truth_bias_numeric_reference.R
# Needs: r-cran-lme4, r-cran-lmertest, r-cran-jsonlite. CI never runs R: the JSON file
# (tests/reference/numeric_moderator_acitelli_years.json) is frozen.
#
# J, Tr, B centred on the mean of the truth (SelfPos_P); Y = Yearsmar - mean(Yearsmar) over the
# rows; J ~ Y * (Tr + B) + (1 | CoupleID), REML. Forces at Yearsmar = mean - SD, mean, mean + SD
# and per year, as L beta with Satterthwaite t (lmerTest::contest).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})
aci <- read.csv(file.path("tests", "data", "tb_acitelli_pairwise.csv"))
mt <- mean(aci$SelfPos_P)
aci$J <- aci$OtherPos_A - mt
aci$Tr <- aci$SelfPos_P - mt
aci$B <- aci$SelfPos_A - mt
m <- mean(aci$Yearsmar); s <- sd(aci$Yearsmar)
aci$Y <- aci$Yearsmar - m
aci$CoupleID <- factor(aci$CoupleID)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
fit <- lmerTest::lmer(J ~ Y * (Tr + B) + (1 | CoupleID), data = aci, REML = TRUE, control = ctrl)
b <- fixef(fit)
forces <- list(`directional bias` = c("(Intercept)", "Y"), `truth force` = c("Tr", "Y:Tr"),
               `bias force` = c("B", "Y:B"))
rows <- list()
for (nm in names(forces)) {
  f <- forces[[nm]]
  for (a in c(m - s, m, m + s)) {
    L <- setNames(rep(0, length(b)), names(b)); L[f[1]] <- 1; L[f[2]] <- a - m
    ct <- contest(fit, L, joint = FALSE)
    rows[[length(rows) + 1]] <- list(term = nm, at = a, estimate = ct$Estimate,
                                     se = ct$`Std. Error`, df = ct$df, p = ct$`Pr(>|t|)`)
  }
  L <- setNames(rep(0, length(b)), names(b)); L[f[2]] <- 1
  ct <- contest(fit, L, joint = FALSE)
  rows[[length(rows) + 1]] <- list(term = nm, at = NA, estimate = ct$Estimate,
                                   se = ct$`Std. Error`, df = ct$df, p = ct$`Pr(>|t|)`)
}
out <- list(data = "tb_acitelli_pairwise.csv",
            model = "J ~ Y * (Tr + B) + (1 | CoupleID), REML; Y = Yearsmar - mean(Yearsmar)",
            loglik = as.numeric(logLik(fit)), mean = m, sd = s, forces = rows,
            source = paste("lmerTest", as.character(packageVersion("lmerTest")),
                           "contest (Satterthwaite); tests/r/truth_bias_numeric_reference.R"),
            R_version = R.version.string)
path <- file.path("tests", "reference", "numeric_moderator_acitelli_years.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
cat("wrote", path, "\n")
