//! Which packets (or raw blocks) the channel loses: independently at a fixed rate, or in
//! bursts from a Gilbert-Elliott two-state model, as netem's `loss random` and
//! `loss gemodel`.
//!
//! The model only answers "is the next unit lost?"; it knows nothing of packets or bytes.

use super::rng::{Rng, Stream};
use super::ConfigError;

/// The four parameters of netem's `loss gemodel p r 1-h 1-k`.
///
/// The channel is in a good or a bad state; each unit is first lost or not with the loss
/// probability of the current state, then the state changes (good to bad with `p`, bad to
/// good with `r`). With `loss_bad = 1` and `loss_good = 0` (the simple Gilbert model) losses
/// come in bursts whose length is geometric with mean `1 / r`, and the long-run loss rate is
/// `p / (p + r)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of going from the good to the bad state.
    pub p: f64,
    /// Probability of going from the bad to the good state.
    pub r: f64,
    /// Loss probability in the bad state (netem's 1-h).
    pub loss_bad: f64,
    /// Loss probability in the good state (netem's 1-k).
    pub loss_good: f64,
}

impl GilbertElliott {
    /// The simple Gilbert model with long-run loss rate `loss_prob` in bursts of mean length
    /// `mean_burst` (at least 1): `r = 1 / mean_burst`, `p = loss * r / (1 - loss)`.
    pub fn from_mean_burst(loss_prob: f64, mean_burst: f64) -> Result<GilbertElliott, ConfigError> {
        if !(mean_burst >= 1.0 && mean_burst.is_finite()) {
            return Err(ConfigError::MeanBurst(mean_burst));
        }
        let r = 1.0 / mean_burst;
        if loss_prob >= 1.0 {
            // Everything is lost, whatever the state.
            return Ok(GilbertElliott {
                p: 1.0,
                r: 0.0,
                loss_bad: 1.0,
                loss_good: 1.0,
            });
        }
        let p = loss_prob * r / (1.0 - loss_prob);
        if p > 1.0 {
            return Err(ConfigError::BurstsTooDense {
                loss_prob,
                mean_burst,
            });
        }
        Ok(GilbertElliott {
            p,
            r,
            loss_bad: 1.0,
            loss_good: 0.0,
        })
    }

    /// Long-run fraction of units lost.
    pub fn stationary_loss(&self) -> f64 {
        if self.p + self.r == 0.0 {
            return self.loss_good;
        }
        let bad = self.p / (self.p + self.r);
        bad * self.loss_bad + (1.0 - bad) * self.loss_good
    }
}

/// Parse `p,r[,1-h[,1-k]]` (each a rate: `0.01`, `1%`, `1e-3`); 1-h defaults to 100% and
/// 1-k to 0, as in netem.
pub fn parse_gilbert(text: &str) -> Result<GilbertElliott, ConfigError> {
    let fields: Vec<&str> = text.split(',').collect();
    if !(2..=4).contains(&fields.len()) {
        return Err(ConfigError::Gilbert(text.to_string()));
    }
    let rate = |s: &str| crate::units::parse_rate(s).map_err(ConfigError::from);
    Ok(GilbertElliott {
        p: rate(fields[0])?,
        r: rate(fields[1])?,
        loss_bad: fields.get(2).map_or(Ok(1.0), |s| rate(s))?,
        loss_good: fields.get(3).map_or(Ok(0.0), |s| rate(s))?,
    })
}

/// How units are lost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LossModel {
    /// Nothing is lost.
    #[default]
    None,
    /// Each unit independently with this probability (netem `loss random`).
    Random(f64),
    /// Bursts (netem `loss gemodel`).
    GilbertElliott(GilbertElliott),
}

/// A loss model running on the loss stream of a seed.
///
/// Draws per unit: none for [`LossModel::None`], one for [`LossModel::Random`], two for
/// Gilbert-Elliott (the loss in the current state, then the state change).
#[derive(Debug, Clone)]
pub struct Loss {
    model: LossModel,
    rng: Rng,
    bad: bool,
}

impl Loss {
    /// The model, starting in the good state.
    pub fn new(model: LossModel, seed: u64) -> Loss {
        Loss {
            model,
            rng: Rng::new(seed, Stream::Loss),
            bad: false,
        }
    }

    /// Decide the fate of the next unit: true when it is lost.
    #[inline]
    pub fn lose(&mut self) -> bool {
        match self.model {
            LossModel::None => false,
            LossModel::Random(prob) => self.rng.chance(prob),
            LossModel::GilbertElliott(ge) => {
                let lost = self
                    .rng
                    .chance(if self.bad { ge.loss_bad } else { ge.loss_good });
                let switch = self.rng.chance(if self.bad { ge.r } else { ge.p });
                self.bad ^= switch;
                lost
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within_4_sd(observed: f64, mean: f64, sd: f64) -> bool {
        (observed - mean).abs() <= 4.0 * sd
    }

    #[test]
    fn random_loss_rate_is_binomial() {
        let n = 200_000u64;
        for (seed, p) in [(1, 0.01), (2, 0.05), (3, 0.5)] {
            let mut loss = Loss::new(LossModel::Random(p), seed);
            let lost = (0..n).filter(|_| loss.lose()).count() as f64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(within_4_sd(lost, n as f64 * p, sd), "p {p}: {lost} of {n}");
        }
    }

    /// Lengths of the runs of consecutive losses.
    fn bursts(loss: &mut Loss, n: usize) -> (usize, Vec<usize>) {
        let mut lengths = Vec::new();
        let mut run = 0;
        let mut lost = 0;
        for _ in 0..n {
            if loss.lose() {
                run += 1;
                lost += 1;
            } else if run > 0 {
                lengths.push(run);
                run = 0;
            }
        }
        (lost, lengths)
    }

    #[test]
    fn mean_burst_form_gives_the_rate_and_the_mean_burst_length() {
        let n = 1_000_000;
        for (seed, rate, mean) in [(1, 0.02, 5.0), (2, 0.1, 3.0), (3, 0.01, 1.0)] {
            let ge = GilbertElliott::from_mean_burst(rate, mean).unwrap();
            assert!((ge.stationary_loss() - rate).abs() < 1e-12);
            let mut loss = Loss::new(LossModel::GilbertElliott(ge), seed);
            let (lost, lengths) = bursts(&mut loss, n);
            // Burst lengths are geometric with mean 1/r: variance (1-r)/r^2.
            let r = ge.r;
            let count = lengths.len() as f64;
            let observed_mean = lengths.iter().sum::<usize>() as f64 / count;
            let sd_of_mean = ((1.0 - r) / (r * r) / count).sqrt();
            assert!(
                within_4_sd(observed_mean, mean, sd_of_mean),
                "mean burst {observed_mean} for {mean} ({count} bursts)"
            );
            // Losses are correlated, so the rate's spread is wider than binomial: allow the
            // spread of the number of bursts times the mean length, generously.
            let observed_rate = lost as f64 / n as f64;
            assert!(
                (observed_rate - rate).abs() < 0.15 * rate,
                "rate {observed_rate} for {rate}"
            );
        }
    }

    #[test]
    fn impossible_bursts_are_refused() {
        assert!(GilbertElliott::from_mean_burst(0.9, 1.0).is_err());
        assert!(GilbertElliott::from_mean_burst(0.1, 0.5).is_err());
        assert!(GilbertElliott::from_mean_burst(0.1, f64::NAN).is_err());
        let all = GilbertElliott::from_mean_burst(1.0, 4.0).unwrap();
        let mut loss = Loss::new(LossModel::GilbertElliott(all), 1);
        assert!((0..1000).all(|_| loss.lose()));
    }

    #[test]
    fn gilbert_parameters_parse_with_netem_defaults() {
        let ge = parse_gilbert("1%,30%").unwrap();
        assert_eq!(
            ge,
            GilbertElliott {
                p: 0.01,
                r: 0.3,
                loss_bad: 1.0,
                loss_good: 0.0
            }
        );
        let ge = parse_gilbert("0.01,0.3,0.8,1e-3").unwrap();
        assert_eq!((ge.loss_bad, ge.loss_good), (0.8, 1e-3));
        assert!(parse_gilbert("1%").is_err());
        assert!(parse_gilbert("1%,2%,3%,4%,5%").is_err());
        assert!(parse_gilbert("1%,150%").is_err());
        assert!(parse_gilbert("a,b").is_err());
    }

    #[test]
    fn four_parameter_model_matches_its_stationary_loss() {
        let ge = parse_gilbert("2%,20%,60%,1%").unwrap();
        let mut loss = Loss::new(LossModel::GilbertElliott(ge), 11);
        let n = 1_000_000;
        let lost = (0..n).filter(|_| loss.lose()).count() as f64 / n as f64;
        assert!((lost - ge.stationary_loss()).abs() < 0.1 * ge.stationary_loss());
    }
}
