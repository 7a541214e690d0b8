//! Property tests of the untrusted text this crate parses: schedule expressions (both
//! dialects, and the next tick of whatever parses, in UTC and a DST zone), event patterns (and
//! matching what parses against mutated events) and input paths, each mutated from valid
//! input. Nothing panics; a parsed expression's next tick is after the instant asked.

use propkit::proptest::prelude::*;

use crate::pattern::Pattern;
use crate::schedule::{Dialect, Expression, Zone};

const CASES: u32 = 256;

const EXPRESSIONS: &[&str] = &[
    "rate(5 minutes)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(15 10 ? * 6L 2002-2005)",
    "cron(0 2 ? * SAT#3 *)",
    "cron(0/5 5 ? JAN 1-5 2022)",
    "cron(0 0 LW * ? *)",
    "cron(0 0 15W * ? *)",
    "at(2030-02-28T23:59:59)",
];

const PATTERN: &str = r#"{"source": ["shop", {"prefix": "sh"}], "detail": {"n": [{"numeric": [">", 1, "<=", 5]}],
    "s": [{"anything-but": {"suffix": "x"}}, {"wildcard": "a*b"}, {"equals-ignore-case": "Q"}], "e": [{"exists": false}]},
    "$or": [{"a": [1]}, {"b": [null, true]}]}"#;

proptest! {
    #![proptest_config(propkit::config(CASES))]

    #[test]
    fn expressions_never_panic(text in propkit::proptest::sample::select(EXPRESSIONS).prop_flat_map(propkit::mutated_text), at in 0i64..4_102_444_800_000) {
        for dialect in [Dialect::Events, Dialect::Scheduler] {
            if let Ok(e) = Expression::parse(&text, dialect) {
                let zones = [Some(Zone::utc()), Zone::load("America/New_York")];
                for z in zones.iter().flatten() {
                    if let Some(next) = e.next_after(at, at / 2, z, 1) {
                        prop_assert!(next > at, "{text}: {next} after {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn patterns_never_panic(text in propkit::mutated_text(PATTERN), event in propkit::json_value()) {
        if let Ok(p) = Pattern::parse(&text) {
            let _ = p.matches(&event);
            let _ = p.matches(&serde_json::json!({"source": "shop", "detail": {"n": 3, "s": ["ab", "Q"]}, "a": [1]}));
        }
    }

    #[test]
    fn input_paths_never_panic(text in propkit::mutated_text("$.detail['a b'].c[2]"), event in propkit::json_value()) {
        if let Some(steps) = crate::ticker::json_path(&text) {
            let t = crate::TargetDoc {
                id: "t".into(),
                arn: "arn".into(),
                input: None,
                input_path: Some(text.clone()),
                input_transformer: None,
                retry_policy: None,
                dead_letter_config: None,
            };
            let _ = (steps, crate::ticker::target_payload(&t, &event));
        }
    }
}
