//! Label value escaping: any value round-trips through the exposition's escapes.

use super::helpers::*;

/// Reads back the first label value of an exposition line, undoing the format's escapes.
fn first_label_value(line: &str) -> String {
    let start = line.find("=\"").unwrap() + 2;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next().unwrap() {
                'n' => out.push('\n'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                other => panic!("invalid escape \\{other} in {line}"),
            },
            c => out.push(c),
        }
    }
    panic!("unterminated label value in {line}")
}

proptest::proptest! {
    #[test]
    fn any_label_value_round_trips_through_the_exposition(value in "(\\PC|[\"\\\\\n])*") {
        let (m, c) = fresh();
        c.record_sync_backlog_size(&value, "q", 1);
        let text = m.render();
        let line = text.lines().find(|l| l.starts_with("tmc_sync_backlog_size{")).unwrap();
        proptest::prop_assert!(!line.contains('\n'));
        proptest::prop_assert_eq!(first_label_value(line), value);
    }
}
