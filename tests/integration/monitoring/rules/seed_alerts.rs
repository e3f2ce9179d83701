//! The seed's alerts ship with their severities and summaries.

use crate::monitoring::support::rules;
use std::collections::BTreeSet;

/// The seeds' alerts: name, severity and summary.
const SEED_ALERTS: &[(&str, &str, &str)] = &[
    (
        "DataMoverHighFailureRate",
        "warning",
        "DataMover high failure rate",
    ),
    (
        "DataMoverLongRunningOperation",
        "warning",
        "DataMover operations taking too long",
    ),
    (
        "DataMoverCleanupFailures",
        "warning",
        "DataMover cleanup operations failing",
    ),
    (
        "DataMoverNoOperations",
        "info",
        "No DataMover operations detected",
    ),
    (
        "DataMoverJobRetriesExhausted",
        "critical",
        "DataMover jobs exhausting retries",
    ),
    (
        "TMCComponentUnhealthy",
        "critical",
        "TMC component {{ $labels.component_type }} is unhealthy",
    ),
    (
        "TMCHighErrorRate",
        "warning",
        "High error rate in TMC component {{ $labels.component_type }}",
    ),
    ("TMCSyncLagHigh", "warning", "High sync lag detected"),
    (
        "TMCClusterDisconnected",
        "critical",
        "TMC cluster {{ $labels.cluster }} is disconnected",
    ),
    (
        "TMCMigrationFailed",
        "warning",
        "TMC migration failure detected",
    ),
    (
        "TMCSyncBacklogHigh",
        "warning",
        "High sync backlog in cluster {{ $labels.cluster }}",
    ),
];

#[test]
fn the_seeds_alerts_ship_with_their_severities_and_summaries() {
    let rules = rules();
    for (name, severity, summary) in SEED_ALERTS {
        let found: Vec<_> = rules.iter().filter(|r| r.name == *name).collect();
        assert_eq!(found.len(), 1, "{name} must be defined once");
        assert!(found[0].is_alert, "{name} is an alert");
        assert_eq!(found[0].severity.as_deref(), Some(*severity), "{name}");
        assert_eq!(found[0].summary.as_deref(), Some(*summary), "{name}");
    }
    let mut names = BTreeSet::new();
    for rule in &rules {
        assert!(names.insert(&rule.name), "{} is defined twice", rule.name);
        if rule.is_alert {
            assert!(
                matches!(
                    rule.severity.as_deref(),
                    Some("critical" | "warning" | "info")
                ),
                "{}: severity",
                rule.name
            );
            assert!(rule.summary.is_some(), "{}: summary", rule.name);
        }
    }
}
