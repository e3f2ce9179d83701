//! `spec.retention` of a schedule, field by field.

use super::{Ctx, ManifestError, type_name};
use crate::schedule::retention::{MAX_KEEP, RULES};
use yaml_serde::Value;

/// Checks `spec.retention` (`value`) of a schedule whose spec is `spec`.
pub(super) fn validate(
    value: &Value,
    spec: &yaml_serde::Mapping,
    ctx: &Ctx,
) -> Result<(), ManifestError> {
    let map = match value {
        Value::Mapping(m) => m,
        other => {
            return Err(ctx.err(
                "spec.retention",
                format!(
                    "expected a mapping of rules (e.g. {{keepLast: 7}}), got {}",
                    type_name(other)
                ),
            ));
        }
    };
    let mut rules = 0;
    for (key, value) in map {
        let key = key.as_str().unwrap_or_default();
        let path = format!("spec.retention.{key}");
        if key == "dryRun" {
            if !matches!(value, Value::Bool(_)) {
                return Err(ctx.err(
                    &path,
                    format!("expected true or false, got {}", type_name(value)),
                ));
            }
        } else if RULES.contains(&key) {
            if value
                .as_u64()
                .is_none_or(|n| n == 0 || n > u64::from(MAX_KEEP))
            {
                let got = match value {
                    Value::Number(n) => n.to_string(),
                    other => type_name(other).to_owned(),
                };
                return Err(ctx.err(
                    &path,
                    format!("expected a whole number from 1 to {MAX_KEEP} (backups kept), got {got}: leave the rule out rather than give 0"),
                ));
            }
            rules += 1;
        } else {
            return Err(ctx.err(
                &path,
                format!(
                    "unknown field {key:?}: accepted are {}, dryRun",
                    RULES.join(", ")
                ),
            ));
        }
    }
    if rules == 0 {
        return Err(ctx.err(
            "spec.retention",
            format!(
                "no rule given: set at least one of {} (e.g. keepLast: 7), or remove spec.retention to keep every backup",
                RULES.join(", ")
            ),
        ));
    }
    if spec.get("addTimestampPrefix") != Some(&Value::Bool(true)) {
        return Err(ctx.err(
            "spec.retention",
            "needs spec.addTimestampPrefix: true: without it every run syncs over one copy and there are no backups to prune; set addTimestampPrefix: true, or remove spec.retention",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use crate::manifest::{Object, parse};

    fn schedule(spec_tail: &str) -> String {
        format!(
            "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: a}}\nspec: {{schedule: '@daily', sourcePvc: p, secretName: s{spec_tail}}}\n"
        )
    }

    #[test]
    fn retention_is_refused_with_the_field_and_the_fix() {
        let cases = [
            (
                ", addTimestampPrefix: true, retention: {keepLast: -1}",
                "spec.retention.keepLast: expected a whole number from 1 to 10000 (backups kept), got -1: leave the rule out rather than give 0",
            ),
            (
                ", addTimestampPrefix: true, retention: {keepDaily: 100000}",
                "spec.retention.keepDaily: expected a whole number from 1 to 10000 (backups kept), got 100000: leave the rule out rather than give 0",
            ),
            (
                ", addTimestampPrefix: true, retention: {keepWeekly: 0}",
                "spec.retention.keepWeekly: expected a whole number from 1 to 10000 (backups kept), got 0: leave the rule out rather than give 0",
            ),
            (
                ", addTimestampPrefix: true, retention: {keepMonthly: '3'}",
                "spec.retention.keepMonthly: expected a whole number from 1 to 10000 (backups kept), got a string: leave the rule out rather than give 0",
            ),
            (
                ", addTimestampPrefix: true, retention: {keepYearly: 3}",
                "spec.retention.keepYearly: unknown field \"keepYearly\": accepted are keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, dryRun",
            ),
            (
                ", addTimestampPrefix: true, retention: {keepLast: 2, dryRun: 'yes'}",
                "spec.retention.dryRun: expected true or false, got a string",
            ),
            (
                ", addTimestampPrefix: true, retention: {dryRun: true}",
                "spec.retention: no rule given: set at least one of keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly (e.g. keepLast: 7), or remove spec.retention to keep every backup",
            ),
            (
                ", addTimestampPrefix: true, retention: 7",
                "spec.retention: expected a mapping of rules (e.g. {keepLast: 7}), got a number",
            ),
            (
                ", retention: {keepLast: 2}",
                "spec.retention: needs spec.addTimestampPrefix: true: without it every run syncs over one copy and there are no backups to prune; set addTimestampPrefix: true, or remove spec.retention",
            ),
        ];
        for (tail, expected) in cases {
            assert_eq!(
                parse(&schedule(tail)).unwrap_err().to_string(),
                format!("document 1 (DataMoverSchedule a): {expected}"),
                "{tail}"
            );
        }
    }

    #[test]
    fn retention_is_read_when_valid_and_absent_means_none() {
        let text = schedule(
            ", addTimestampPrefix: true, retention: {keepLast: 2, keepDaily: 7, dryRun: true}",
        );
        let Object::DataMoverSchedule(s) = &parse(&text).unwrap()[0] else {
            panic!("not a schedule")
        };
        let r = s.spec.retention.as_ref().unwrap();
        assert_eq!(
            (r.keep_last, r.keep_daily, r.keep_weekly, r.dry_run),
            (Some(2), Some(7), None, true)
        );
        let Object::DataMoverSchedule(s) = &parse(&schedule("")).unwrap()[0] else {
            panic!("not a schedule")
        };
        assert_eq!(s.spec.retention, None);
    }
}
