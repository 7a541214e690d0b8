//! The account and region a request acts in.

use std::fmt;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// The account every caller whose access key is not a 12-digit number acts in.
    pub const DEFAULT: &'static str = "000000000000";

    /// Parses a 12-digit account id.
    pub fn parse(s: &str) -> Option<AccountId> {
        is_account_id(s).then(|| AccountId(s.to_owned()))
    }

    /// The account a caller with this access key id acts in: the key itself when it is 12
    /// digits (the convention of local AWS endpoints), otherwise [`AccountId::DEFAULT`].
    pub fn from_access_key(access_key_id: &str) -> AccountId {
        AccountId::parse(access_key_id).unwrap_or_else(|| AccountId(Self::DEFAULT.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS region name such as `us-east-1` (or `eusc-de-east-1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// Parses a region of the form `(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`, the
    /// region part of the function-name patterns AWS quotes today.
    pub fn parse(s: &str) -> Option<Region> {
        is_region(s).then(|| Region(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The account and region a request acts in. All state is partitioned by scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: AccountId,
    pub region: Region,
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Which `-iso…` infix a region pattern allows after the two leading letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsoInfix {
    /// `(-gov)?`: no ISO regions.
    None,
    /// `((-gov)|(-iso(b?)))?`.
    OptionalB,
    /// `((-gov)|(-iso([a-z]?)))?`.
    OptionalLetter,
}

/// One of the region sub-patterns the API's regular expressions use, each
/// `(eusc-)?[a-z]{2}<infix>-[a-z]+-\d{1}` with or without the `eusc-` prefix. Matching is in
/// full, and succeeds exactly when the regular expression would match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionPattern {
    pub eusc: bool,
    pub iso: IsoInfix,
}

impl RegionPattern {
    /// `(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`: function names, as AWS quotes
    /// their patterns today.
    pub const FUNCTION_NAME: RegionPattern = RegionPattern { eusc: true, iso: IsoInfix::OptionalLetter };
    /// `[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`: the API model's (taggable resources).
    pub const MODEL: RegionPattern = RegionPattern { eusc: false, iso: IsoInfix::OptionalLetter };
    /// `[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}`: destination ARNs, as AWS quotes them.
    pub const ISO_B: RegionPattern = RegionPattern { eusc: false, iso: IsoInfix::OptionalB };
    /// `[a-z]{2}(-gov)?-[a-z]+-\d{1}`: the model's `Arn` (source ARNs) and `MasterRegion`.
    pub const GOV_ONLY: RegionPattern = RegionPattern { eusc: false, iso: IsoInfix::None };

    /// Whether all of `s` matches this pattern.
    pub fn matches(self, s: &str) -> bool {
        if self.eusc
            && let Some(rest) = s.strip_prefix("eusc-")
            && self.matches_base(rest)
        {
            return true;
        }
        self.matches_base(s)
    }

    /// `[a-z]{2}<infix>-[a-z]+-\d{1}`. Every way the optional infix can be taken is tried, so
    /// the answer is the regular expression's.
    fn matches_base(self, s: &str) -> bool {
        let b = s.as_bytes();
        if b.len() < 2 || !b[..2].iter().all(u8::is_ascii_lowercase) {
            return false;
        }
        let rest = &s[2..];
        let mut candidates: Vec<&str> = vec![rest];
        if let Some(r) = rest.strip_prefix("-gov") {
            candidates.push(r);
        }
        if self.iso != IsoInfix::None
            && let Some(r) = rest.strip_prefix("-iso")
        {
            candidates.push(r);
            let letter_ok = |c: u8| match self.iso {
                IsoInfix::OptionalB => c == b'b',
                _ => c.is_ascii_lowercase(),
            };
            if let Some(&c) = r.as_bytes().first()
                && letter_ok(c)
            {
                candidates.push(&r[1..]);
            }
        }
        candidates.into_iter().any(|r| {
            // -[a-z]+-\d
            let Some(r) = r.strip_prefix('-') else { return false };
            let Some((word, digit)) = r.rsplit_once('-') else { return false };
            !word.is_empty()
                && word.bytes().all(|c| c.is_ascii_lowercase())
                && digit.len() == 1
                && digit.as_bytes()[0].is_ascii_digit()
        })
    }
}

/// `(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`, matched in full: a region as the
/// function-name patterns AWS quotes today accept it (so `eusc-de-east-1` is a region).
pub fn is_region(s: &str) -> bool {
    RegionPattern::FUNCTION_NAME.matches(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-west-3",
            "us-gov-west-1",
            "us-isob-east-1",
            "us-iso-east-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
            "eusc-us-gov-west-1",
            // `[a-z]+` can take what looks like an infix.
            "us-isolated-1",
            "us-gov-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "useast-1",
            "US-east-1",
            "us-east-12",
            "u-east-1",
            "us--1",
            "us-east-1-",
            "eusc-",
            "eusc-eusc-de-east-1",
            "EUSC-de-east-1",
            "eusc-d-east-1",
            "us-isobb-1-",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn region_pattern_variants() {
        let m = RegionPattern::MODEL;
        assert!(m.matches("us-isof-south-1") && !m.matches("eusc-de-east-1"));
        let b = RegionPattern::ISO_B;
        assert!(b.matches("us-isob-east-1") && b.matches("us-iso-east-1") && !b.matches("eu-isoe-west-1"));
        let g = RegionPattern::GOV_ONLY;
        assert!(g.matches("us-gov-west-1") && g.matches("us-isolated-1"));
        assert!(!g.matches("us-iso-east-1") && !g.matches("us-isob-east-1") && !g.matches("eusc-de-east-1"));
    }

    #[test]
    fn region_patterns_agree_with_a_regex_engine() {
        const PIECES: &[&str] =
            &["eusc-", "us", "eu", "u", "-gov", "-iso", "b", "e", "-isob", "-east", "-de", "-", "-1", "1", "-12", "x"];
        let cases = [
            (RegionPattern::FUNCTION_NAME, r"(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"),
            (RegionPattern::MODEL, r"[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"),
            (RegionPattern::ISO_B, r"[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}"),
            (RegionPattern::GOV_ONLY, r"[a-z]{2}(-gov)?-[a-z]+-\d{1}"),
        ];
        for (pattern, text) in cases {
            let re = regex_lite::Regex::new(&format!("^(?:{text})$")).unwrap();
            let mut seed: u64 = 7;
            for _ in 0..20_000 {
                let mut s = String::new();
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                for i in 0..1 + (seed >> 60) as usize % 6 {
                    s.push_str(PIECES[((seed >> (i * 4 + 8)) as usize) % PIECES.len()]);
                }
                assert_eq!(pattern.matches(&s), re.is_match(&s), "{text} {s:?}");
            }
        }
    }

    #[test]
    fn account_from_key() {
        assert_eq!(AccountId::from_access_key("123456789012").as_str(), "123456789012");
        assert_eq!(AccountId::from_access_key("test").as_str(), "000000000000");
        assert_eq!(AccountId::from_access_key("AKIAIOSFODNN7EXAMPLE").as_str(), "000000000000");
    }
}
