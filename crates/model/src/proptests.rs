//! Property tests of the parsers of names, ARNs, qualifiers, regions and principals: arbitrary
//! strings never panic; strings shaped like the real thing parse exactly when the regular
//! expression AWS quotes matches them (a real regex engine running the quoted pattern is the
//! oracle); valid values round-trip through what Versa prints.

use propkit::proptest;
use propkit::proptest::prelude::*;
use regex_lite::Regex;

use crate::arn::{ResourceArn, TAGGABLE_RESOURCE_PATTERN, is_service_arn, qualified_arn};
use crate::function::Sha256;
use crate::layer::{
    FUNCTION_LAYER_ARN_PATTERN, LAYER_NAME_PATTERN, LAYER_PRINCIPAL_PATTERN, LAYER_VERSION_ARN_PATTERN, LayerPrincipal,
    LayerRef, LayerVersionRef, layer_version_arn,
};
use crate::name::{
    FunctionRef, NameShape, QUALIFIER_PATTERN, Qualifier, Version, is_valid_alias_name, is_valid_function_name,
    is_valid_qualifier,
};
use crate::policy::{Principal, arn_like};
use crate::scope::{AccountId, Region, RegionPattern, Scope, is_region};

/// Cases of each property (all of them are pure and fast).
const CASES: u32 = 512;

fn full(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("the quoted pattern compiles")
}

/// Pieces real ARNs and names are made of, and near misses of each.
const FRAGMENTS: &[&str] = &[
    "arn",
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-eusc",
    "aws1",
    "",
    "lambda",
    "s3",
    "iam",
    "us-east-1",
    "eu-west-3",
    "us-gov-west-1",
    "us-isob-east-1",
    "eu-isoe-west-1",
    "eusc-de-east-1",
    "us-east",
    "useast1",
    "123456789012",
    "000000000000",
    "12345678901",
    "function",
    "layer",
    "awslayer",
    "code-signing-config",
    "csc-0123456789abcdefg",
    "event-source-mapping",
    "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "capacity-provider",
    "root",
    "user/x",
    "$LATEST",
    "$LATEST.PUBLISHED",
    "$latest",
    "1",
    "42",
    "99999999999",
    "prod",
    "my-fn",
    "my_fn.2",
    "*",
    "a b",
];

/// A string shaped like an ARN or a `FunctionName`: 1–9 segments joined by `:`, each a
/// fragment, a fragment with a character changed, or a short random word.
fn arnish() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        6 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        2 => "[a-zA-Z0-9_$.*/-]{0,8}",
        1 => (proptest::sample::select(FRAGMENTS), any::<proptest::sample::Index>(), any::<char>()).prop_map(
            |(f, i, c)| {
                let mut chars: Vec<char> = f.chars().collect();
                if !chars.is_empty() {
                    let at = i.index(chars.len());
                    chars[at] = c;
                }
                chars.into_iter().collect()
            }
        ),
    ];
    proptest::collection::vec(segment, 1..=9).prop_map(|s| s.join(":"))
}

/// Region-shaped strings: pieces of real region names glued together.
fn regionish() -> impl Strategy<Value = String> {
    let piece = proptest::sample::select(
        &[
            "eusc-", "us", "eu", "u", "-gov", "-iso", "b", "e", "f", "-isob", "-east", "-de", "-", "-1", "1", "-12",
            "x", "US",
        ][..],
    );
    proptest::collection::vec(piece, 1..=6).prop_map(|p| p.concat())
}

/// Anything: arbitrary Unicode, or an ARN-shaped string.
fn input() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), arnish(), propkit::mutated_text("arn:aws:lambda:us-east-1:123456789012:function:f:1")]
}

/// The parts a regex engine captures from the function-name patterns, as a [`FunctionRef`].
fn captured(re: &Regex, input: &str) -> Option<FunctionRef> {
    re.captures(input).map(|c| {
        let get = |i: usize| c.get(i).map(|m| m.as_str().to_owned());
        let strip = |g: Option<String>| g.map(|g| g.trim_end_matches(':').to_owned());
        FunctionRef {
            partition: get(1).map(|_| get(2).unwrap_or_default()),
            region: strip(get(3)),
            account: strip(get(9)),
            name: get(11).expect("the name group always takes part"),
            qualifier: get(13),
        }
    })
}

fn valid_region() -> impl Strategy<Value = String> {
    (
        prop_oneof![3 => Just(""), 1 => Just("eusc-")],
        "[a-z]{2}",
        prop_oneof![3 => Just(String::new()), 1 => Just("-gov".to_owned()), 1 => "-iso[a-z]?"],
        "[a-z]{1,8}",
        0u8..10,
    )
        .prop_map(|(e, cc, infix, word, d)| format!("{e}{cc}{infix}-{word}-{d}"))
}

fn valid_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,64}"
}

fn valid_qualifier() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some("$LATEST".to_owned())),
        1 => (1u32..1000).prop_map(|n| Some(n.to_string())),
        2 => "[a-zA-Z0-9_-]{1,128}".prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// No parser panics, whatever the string.
    #[test]
    fn arbitrary_strings_never_panic(s in input(), t in input()) {
        for shape in [NameShape::Plain, NameShape::Namespaced] {
            if let Some(r) = FunctionRef::parse(&s, shape) {
                prop_assert!(!r.name.is_empty());
                prop_assert!(s.contains(r.name.as_str()));
            }
        }
        let _ = ResourceArn::parse(&s);
        for p in [RegionPattern::FUNCTION_NAME, RegionPattern::MODEL, RegionPattern::ISO_B, RegionPattern::GOV_ONLY] {
            let _ = p.matches(&s);
            let _ = is_service_arn(&s, p);
        }
        let _ = (LayerRef::parse(&s), LayerVersionRef::parse_function_layer(&s), LayerVersionRef::parse_arn(&s));
        let _ = (LayerPrincipal::parse(&s), Principal::parse(&s), Region::parse(&s), AccountId::parse(&s));
        prop_assert_eq!(AccountId::from_access_key(&s).as_str().len(), 12);
        let _ = (Version::parse(&s), Qualifier::classify(&s), Sha256::from_hex(&s));
        let _ = (is_valid_alias_name(&s), is_valid_function_name(&s), is_valid_qualifier(&s));
        let _ = (crate::runtime::status(&s), crate::runtime::is_valid_env_key(&s), crate::runtime::runtime_version(&s));
        let _ = arn_like(&s, &t);
        let _ = crate::validate::render(&[crate::validate::Violation::pattern(&s, &t, QUALIFIER_PATTERN)]);
        let _ = crate::validate::compact_json_map([(s.as_str(), t.as_str())]);
    }

    /// `FunctionRef::parse` accepts exactly what the quoted patterns match, and takes the parts
    /// a backtracking engine captures.
    #[test]
    fn function_names_agree_with_the_quoted_patterns(s in prop_oneof![arnish(), any::<String>()]) {
        for shape in [NameShape::Plain, NameShape::Namespaced] {
            let re = full(shape.pattern());
            prop_assert_eq!(FunctionRef::parse(&s, shape), captured(&re, &s), "{:?} {:?}", shape, s);
        }
    }

    /// Full and partial ARNs of valid names round-trip: parsed into their parts, printed back.
    #[test]
    fn valid_function_arns_round_trip(
        region in valid_region(),
        account in "[0-9]{12}",
        name in valid_name(),
        qualifier in valid_qualifier(),
    ) {
        let scope = Scope { account: AccountId::parse(&account).unwrap(), region: Region::parse(&region).unwrap() };
        let arn = match &qualifier {
            Some(q) => qualified_arn(&scope, &name, q),
            None => crate::arn::function_arn(&scope, &name),
        };
        for shape in [NameShape::Plain, NameShape::Namespaced] {
            let r = FunctionRef::parse(&arn, shape).unwrap();
            prop_assert_eq!(r.partition.as_deref(), Some("aws"));
            prop_assert_eq!(r.region.as_deref(), Some(region.as_str()));
            prop_assert_eq!(r.account.as_deref(), Some(account.as_str()));
            prop_assert_eq!(&r.name, &name);
            prop_assert_eq!(&r.qualifier, &qualifier);
            let partial = format!("{account}:function:{name}{}", qualifier.as_ref().map(|q| format!(":{q}")).unwrap_or_default());
            let p = FunctionRef::parse(&partial, shape).unwrap();
            prop_assert_eq!((p.region, p.account.as_deref(), &p.name, &p.qualifier), (None, Some(account.as_str()), &name, &qualifier));
        }
        prop_assert!(is_valid_function_name(&name));
        if let Some(q) = &qualifier {
            prop_assert!(is_valid_qualifier(q));
            let classified = Qualifier::classify(q);
            match classified {
                Qualifier::Latest => prop_assert_eq!(q.as_str(), "$LATEST"),
                Qualifier::Version(v) => prop_assert_eq!(Version::parse(&v).map(|v| v.to_string()), Some(v.clone())),
                Qualifier::Alias(a) => prop_assert!(is_valid_alias_name(&a)),
            }
        }
        let tagged = ResourceArn::parse(&arn);
        if !region.starts_with("eusc-") {
            let tagged = tagged.unwrap();
            prop_assert_eq!((tagged.region, tagged.account), (region.clone(), account.clone()));
        }
    }

    /// A bare name (with a qualifier) is read as a name, unless it also reads as a region or an
    /// account prefix, as the pattern prefers.
    #[test]
    fn bare_names_round_trip(name in valid_name(), qualifier in valid_qualifier()) {
        let input = format!("{name}{}", qualifier.as_ref().map(|q| format!(":{q}")).unwrap_or_default());
        let r = FunctionRef::parse(&input, NameShape::Plain).unwrap();
        let prefix_like = is_region(&name) || AccountId::parse(&name).is_some() || name == "function";
        if !(prefix_like && qualifier.is_some()) {
            prop_assert_eq!((r.region, r.account, r.name, r.qualifier), (None, None, name, qualifier));
        }
    }

    /// Region patterns against the regular expressions they stand for.
    #[test]
    fn regions_agree_with_the_quoted_patterns(s in prop_oneof![regionish(), valid_region(), any::<String>()]) {
        let cases = [
            (RegionPattern::FUNCTION_NAME, r"(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"),
            (RegionPattern::MODEL, r"[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"),
            (RegionPattern::ISO_B, r"[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}"),
            (RegionPattern::GOV_ONLY, r"[a-z]{2}(-gov)?-[a-z]+-\d{1}"),
        ];
        for (pattern, text) in cases {
            // `\d` is ASCII in Java's patterns; regex-lite's is too.
            prop_assert_eq!(pattern.matches(&s), full(text).is_match(&s), "{} {:?}", text, s);
        }
        prop_assert_eq!(Region::parse(&s).is_some(), is_region(&s));
    }

    /// Taggable resource ARNs, layer names and ARNs, layer principals and qualifiers against
    /// their quoted patterns.
    #[test]
    fn arns_agree_with_the_quoted_patterns(s in arnish()) {
        prop_assert_eq!(ResourceArn::parse(&s).is_some(), full(TAGGABLE_RESOURCE_PATTERN).is_match(&s), "{:?}", s);
        prop_assert_eq!(LayerRef::parse(&s).is_some(), full(LAYER_NAME_PATTERN).is_match(&s), "{:?}", s);
        prop_assert_eq!(
            LayerVersionRef::parse_function_layer(&s).is_some(),
            full(FUNCTION_LAYER_ARN_PATTERN).is_match(&s),
            "{:?}", s
        );
        prop_assert_eq!(LayerVersionRef::parse_arn(&s).is_some(), full(LAYER_VERSION_ARN_PATTERN).is_match(&s), "{:?}", s);
        prop_assert_eq!(LayerPrincipal::parse(&s).is_some(), full(LAYER_PRINCIPAL_PATTERN).is_match(&s), "{:?}", s);
        prop_assert_eq!(is_valid_qualifier(&s), full(QUALIFIER_PATTERN).is_match(&s), "{:?}", s);
        // `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`: regex-lite has no look-ahead; the look-ahead is the
        // all-digits test.
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(is_valid_alias_name(&s), !digits && full("[a-zA-Z0-9-_]+").is_match(&s), "{:?}", s);
    }

    /// Layer version ARNs Versa prints parse back into their parts.
    #[test]
    fn layer_version_arns_round_trip(
        region in valid_region().prop_filter("layer regions have no eusc- or iso letters but b", |r| {
            RegionPattern::ISO_B.matches(r)
        }),
        account in "[0-9]{12}",
        name in "[a-zA-Z0-9_-]{1,64}",
        version in 1u32..,
    ) {
        let scope = Scope { account: AccountId::parse(&account).unwrap(), region: Region::parse(&region).unwrap() };
        let arn = layer_version_arn(&scope, &name, version);
        let r = LayerVersionRef::parse_arn(&arn).unwrap();
        prop_assert_eq!((&r.region, &r.account, &r.name, r.version), (&region, &account, &name, Some(version)));
        prop_assert_eq!(r.layer_arn(), crate::layer::layer_arn(&scope, &name));
        let l = LayerRef::parse(&r.layer_arn()).unwrap();
        prop_assert_eq!((l.region, l.account, l.name), (Some(region), Some(account), name));
    }

    /// IAM's `ArnLike` against a regex engine (`*` is `.*`, `?` is `.`, the rest literal).
    #[test]
    fn arn_like_agrees_with_a_regex_engine(
        pattern in "[a:*?b-]{0,10}",
        value in prop_oneof!["[a:b-]{0,12}", any::<String>()],
    ) {
        let mut re = String::from("(?s)");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex_lite::escape(&c.to_string())),
            }
        }
        prop_assert_eq!(arn_like(&pattern, &value), full(&re).is_match(&value), "{:?} {:?}", pattern, value);
    }

    /// Digests round-trip through their hex names; other text is not a digest.
    #[test]
    fn digests_round_trip(bytes in any::<[u8; 32]>(), s in any::<String>()) {
        let d = Sha256(bytes);
        prop_assert_eq!(Sha256::from_hex(&d.to_hex()), Some(d));
        if let Some(d) = Sha256::from_hex(&s) {
            prop_assert_eq!(d.to_hex(), s);
        }
    }

    /// Doubles render in Java's syntax, which parses back to the same value.
    #[test]
    fn java_doubles_parse_back(x in any::<f64>()) {
        let s = crate::validate::java_double(x);
        if x.is_finite() {
            prop_assert_eq!(s.replace('E', "e").parse::<f64>().unwrap(), x);
            prop_assert!(s.contains('.'));
        }
    }
}
