//! The automatic rollback rule (SPEC §9) as a pure function of the candidate decisions
//! counted over the rollback window. The control plane gathers the counts; the verdict
//! lives here so it is tested once and explained by the figures it returns.

use serde::Serialize;

use crate::model::{DecisionKind, Rollout};

/// The figures behind a rollback, written into the `rollback` history entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackFigures {
    /// Candidate decisions in the window.
    pub candidate_decisions: u64,
    /// Of those, decisions listed in `rollback_decisions`.
    pub watched_decisions: u64,
    pub share: f64,
    pub threshold: f64,
    pub min_requests: u64,
    pub window_minutes: u64,
    pub watched: Vec<DecisionKind>,
}

/// Whether the candidate must be rolled back, given how many times it decided each way
/// over the last `rollback_window_minutes`. `None` while `rollback_on_spike` is off, while
/// fewer than `rollback_min_requests` decisions exist, or while the share of watched
/// decisions does not exceed the threshold.
pub fn verdict(rollout: &Rollout, counts: &[(DecisionKind, u64)]) -> Option<RollbackFigures> {
    if !rollout.rollback_on_spike {
        return None;
    }
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if total == 0 || total < rollout.rollback_min_requests {
        return None;
    }
    let watched: u64 = counts
        .iter()
        .filter(|(decision, _)| rollout.rollback_decisions.contains(decision))
        .map(|(_, n)| n)
        .sum();
    let share = watched as f64 / total as f64;
    (share > rollout.rollback_threshold).then(|| RollbackFigures {
        candidate_decisions: total,
        watched_decisions: watched,
        share,
        threshold: rollout.rollback_threshold,
        min_requests: rollout.rollback_min_requests,
        window_minutes: rollout.rollback_window_minutes,
        watched: rollout.rollback_decisions.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DecisionKind::{Allow, Escalate, Refuse, Rewrite};

    fn rollout() -> Rollout {
        Rollout {
            rollback_on_spike: true,
            rollback_threshold: 0.25,
            rollback_min_requests: 20,
            ..Rollout::default()
        }
    }

    #[test]
    fn rolls_back_when_the_watched_share_exceeds_the_threshold() {
        let figures = verdict(&rollout(), &[(Allow, 14), (Refuse, 4), (Escalate, 2)]).unwrap();
        assert_eq!(figures.candidate_decisions, 20);
        assert_eq!(figures.watched_decisions, 6);
        assert!((figures.share - 0.3).abs() < 1e-9);
    }

    #[test]
    fn a_share_equal_to_the_threshold_is_not_a_spike() {
        assert_eq!(verdict(&rollout(), &[(Allow, 15), (Refuse, 5)]), None);
    }

    #[test]
    fn waits_for_the_minimum_number_of_decisions() {
        assert_eq!(verdict(&rollout(), &[(Refuse, 19)]), None);
        assert!(verdict(&rollout(), &[(Refuse, 20)]).is_some());
    }

    #[test]
    fn only_listed_decisions_count_as_watched() {
        // Rewrites are not watched by default.
        assert_eq!(verdict(&rollout(), &[(Rewrite, 100), (Allow, 1)]), None);
        let watching_rewrites = Rollout {
            rollback_decisions: vec![Rewrite],
            ..rollout()
        };
        assert!(verdict(&watching_rewrites, &[(Rewrite, 100), (Allow, 1)]).is_some());
    }

    #[test]
    fn nothing_happens_with_rollback_off() {
        let off = Rollout {
            rollback_on_spike: false,
            ..rollout()
        };
        assert_eq!(verdict(&off, &[(Refuse, 1000)]), None);
    }
}
