# Small-sample degrees of freedom: Satterthwaite (lmerTest) and Kenward-Roger (pbkrtest via
# lmerTest) for the reference data sets and every chapter model of the book.
#
# Run from the repository root:   Rscript tests/r/ddf_reference.R
# Needs: r-cran-lme4, r-cran-lmertest, r-cran-pbkrtest, r-cran-jsonlite (Debian packages).
# CI never runs R: the JSON files it writes (tests/reference/ddf_*.json) are committed and frozen.
#
# For each model: the fixed-effects table under each method (estimate, SE, df, t, p:
# summary(fit, ddf = ...)$coefficients), and the linear combinations the book reports (arm
# differences, forces per arm, growth differences, a1-a5) with lmerTest::contest(joint = FALSE).
# Kenward-Roger is defined for REML fits only (lmerTest refuses ML fits), so ML models carry
# Satterthwaite alone. Fits use bobyqa with rhoend 1e-10 (as every other reference script) so
# that the optimum, and with it the df, is lme4's to high precision.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})
source(file.path("tests", "r", "chapter_models.R"))

out_dir <- file.path("tests", "reference")
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5),
                    check.conv.singular = "ignore")

coef_table <- function(fit, ddf) {
  # book/lmertest-summary/begin
  cf <- summary(fit, ddf = ddf)$coefficients
  # book/lmertest-summary/end
  data.frame(term = rownames(cf), estimate = cf[, "Estimate"], se = cf[, "Std. Error"],
             df = cf[, "df"], t = cf[, "t value"], p = cf[, "Pr(>|t|)"], row.names = NULL)
}

contrast_table <- function(fit, contrasts, ddf) {
  b <- fixef(fit)
  rows <- lapply(names(contrasts), function(nm) {
    w <- contrasts[[nm]]
    stopifnot(all(names(w) %in% names(b)))
    L <- setNames(rep(0, length(b)), names(b)); L[names(w)] <- w
    ct <- contest(fit, L, joint = FALSE, ddf = ddf)
    list(name = nm, weights = as.list(w), estimate = ct$Estimate, se = ct$`Std. Error`,
         df = ct$df, t = ct$`t value`, p = ct$`Pr(>|t|)`)
  })
  rows
}

freeze <- function(name, formula, data, REML, contrasts = NULL, data_name = "data/sessions.csv") {
  # book/lmertest-fit/begin
  fit <- lmerTest::lmer(formula, data = data, REML = REML, control = ctrl)
  # book/lmertest-fit/end
  methods <- if (REML) c("Satterthwaite", "Kenward-Roger") else "Satterthwaite"
  out <- list(
    model = name, formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    data = data_name, method = if (REML) "REML" else "ML",
    loglik = as.numeric(logLik(fit)), singular = isSingular(fit), nobs = nobs(fit),
    source = paste("lmerTest", as.character(packageVersion("lmerTest")), "/ pbkrtest",
                   as.character(packageVersion("pbkrtest")), "/ lme4",
                   as.character(packageVersion("lme4")), "(bobyqa, rhoend 1e-10); tests/r/ddf_reference.R"),
    R_version = R.version.string
  )
  for (m in methods) {
    key <- if (m == "Satterthwaite") "satterthwaite" else "kenward_roger"
    out[[paste0("fixed_", key)]] <- coef_table(fit, m)
    if (!is.null(contrasts)) out[[paste0("contrasts_", key)]] <- contrast_table(fit, contrasts, m)
  }
  path <- file.path(out_dir, sprintf("ddf_%s.json", name))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), path)
  cat("wrote", path, "singular", isSingular(fit), "\n")
}

# ------------------------------------------------------------------ reference data sets
dd <- file.path("tests", "data")
sleep <- read.csv(file.path(dd, "growth_sleepstudy.csv")); sleep$Subject <- factor(sleep$Subject)
freeze("sleepstudy_reml", Reaction ~ Days + (Days | Subject), sleep, TRUE,
       list(`day 5` = c(`(Intercept)` = 1, Days = 5)), "growth_sleepstudy.csv")
freeze("sleepstudy_ml", Reaction ~ Days + (Days | Subject), sleep, FALSE,
       list(`day 5` = c(`(Intercept)` = 1, Days = 5)), "growth_sleepstudy.csv")
ortho <- read.csv(file.path(dd, "growth_orthodont.csv")); ortho$Subject <- factor(ortho$Subject)
freeze("orthodont_reml", distance ~ age + (age | Subject), ortho, TRUE, NULL, "growth_orthodont.csv")
diet <- read.csv(file.path(dd, "growth_dietox.csv")); diet$Pig <- factor(diet$Pig)
freeze("dietox_reml", Weight ~ Time + (Time | Pig), diet, TRUE, NULL, "growth_dietox.csv")
nest <- read.csv(file.path(dd, "mixed_nested.csv"))
nest$cluster <- factor(nest$cluster); nest$subject <- factor(nest$subject)
freeze("nested_reml", y ~ time + (1 | cluster) + (time | subject), nest, TRUE, NULL, "mixed_nested.csv")
pen <- read.csv(file.path(dd, "mixed_penicillin.csv"))
pen$plate <- factor(pen$plate); pen$sample <- factor(pen$sample)
freeze("penicillin_reml", diameter ~ 1 + (1 | plate) + (1 | sample), pen, TRUE, NULL, "mixed_penicillin.csv")
ex1 <- read.csv(file.path(dd, "mlrsa_nestler2019_example1.csv")); ex1$GroupID <- factor(ex1$GroupID)
freeze("nestler_example1_reml",
       z ~ x.c + y.c + x2.c + xy.c + y2.c + x.mean + y.mean + x2.mean + xy.mean + y2.mean +
         (1 + x.c + y.c + x2.c + xy.c + y2.c | GroupID), ex1, TRUE,
       list(a1 = c(x.c = 1, y.c = 1), a2 = c(x2.c = 1, xy.c = 1, y2.c = 1), a3 = c(x.c = 1, y.c = -1),
            a4 = c(x2.c = 1, xy.c = -1, y2.c = 1), a5 = c(x2.c = 1, y2.c = -1)),
       "mlrsa_nestler2019_example1.csv")

# ------------------------------------------------------------------ the book's chapter models
models <- chapter_models()
for (name in names(models)) {
  m <- models[[name]]
  cons <- m$contrasts
  if (name == "rsa") {
    fit0 <- lme4::lmer(m$formula, data = m$data, REML = FALSE, control = ctrl)
    cons <- rsa_contrasts(names(fixef(fit0)))
  }
  freeze(name, m$formula, m$data, m$REML, cons)
}
