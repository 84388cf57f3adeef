//! The per-core retry budget.

use crate::{Error, Result};

/// Options of a [`RetryBudget`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetOptions {
    /// Retries (and backups) allowed per 100 calls. Default 10.
    pub percent: f64,
    /// Tokens at start, so a cold core can still retry. Default 10.
    pub reserve: u32,
    /// Most tokens that can pile up in quiet times. Default 100.
    pub max_tokens: u32,
}

impl Default for BudgetOptions {
    fn default() -> Self {
        BudgetOptions {
            percent: 10.0,
            reserve: 10,
            max_tokens: 100,
        }
    }
}

/// A token bucket: each call deposits `percent / 100` of a token, each retry
/// or backup spends one. Per core (`&mut self`), so no atomics; fixed point
/// in thousandths of a token.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    deposit_milli: u64,
    balance_milli: u64,
    cap_milli: u64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        // The defaults are valid.
        RetryBudget::new(BudgetOptions::default()).expect("valid defaults")
    }
}

impl RetryBudget {
    /// A budget with `options`; `percent` must be in 0..=100 and `reserve`
    /// at most `max_tokens`.
    pub fn new(options: BudgetOptions) -> Result<Self> {
        if !(0.0..=100.0).contains(&options.percent) {
            return Err(Error::InvalidConfig(
                "retry budget percent must be in 0..=100",
            ));
        }
        if options.reserve > options.max_tokens {
            return Err(Error::InvalidConfig(
                "retry budget reserve exceeds max_tokens",
            ));
        }
        Ok(RetryBudget {
            deposit_milli: (options.percent * 10.0).round() as u64,
            balance_milli: u64::from(options.reserve) * 1000,
            cap_milli: u64::from(options.max_tokens) * 1000,
        })
    }

    /// A budget that never allows a retry.
    pub fn none() -> Self {
        RetryBudget {
            deposit_milli: 0,
            balance_milli: 0,
            cap_milli: 0,
        }
    }

    /// Records a first attempt (not a retry): deposits its share.
    #[inline]
    pub fn on_call(&mut self) {
        self.balance_milli = (self.balance_milli + self.deposit_milli).min(self.cap_milli);
    }

    /// Spends a token for a retry or backup, if there is one.
    #[inline]
    pub fn try_spend(&mut self) -> bool {
        if self.balance_milli >= 1000 {
            self.balance_milli -= 1000;
            true
        } else {
            false
        }
    }

    /// Whole tokens available.
    pub fn tokens(&self) -> u64 {
        self.balance_milli / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_retries_to_the_percentage_of_calls() {
        let mut b = RetryBudget::new(BudgetOptions {
            percent: 10.0,
            reserve: 0,
            max_tokens: 100,
        })
        .unwrap();
        let mut retries = 0;
        for _ in 0..1000 {
            b.on_call();
            // Every call fails and wants a retry.
            if b.try_spend() {
                retries += 1;
            }
        }
        assert_eq!(retries, 100);
    }

    #[test]
    fn reserve_then_empty_then_refills_up_to_cap() {
        let mut b = RetryBudget::default();
        assert_eq!(b.tokens(), 10);
        for _ in 0..10 {
            assert!(b.try_spend());
        }
        assert!(!b.try_spend());
        for _ in 0..10_000 {
            b.on_call();
        }
        assert_eq!(b.tokens(), 100);
        assert!(!RetryBudget::none().try_spend());
        assert!(
            RetryBudget::new(BudgetOptions {
                percent: 150.0,
                ..Default::default()
            })
            .is_err()
        );
    }
}
