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

/// An AWS region name such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// Parses a region of the form `[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d`.
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

/// `[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`, matched in full (the model's pattern; the
/// newer `eusc-` prefix is not in the API model Versa follows).
pub(crate) fn is_region(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || !b[..2].iter().all(u8::is_ascii_lowercase) {
        return false;
    }
    let rest = &s[2..];
    // The optional group is tried first, as a backtracking regex engine would.
    let candidates: Vec<&str> = {
        let mut v = Vec::new();
        if let Some(r) = rest.strip_prefix("-gov") {
            v.push(r);
        }
        if let Some(r) = rest.strip_prefix("-iso") {
            v.push(r);
            if let Some(c) = r.as_bytes().first()
                && c.is_ascii_lowercase()
            {
                v.push(&r[1..]);
            }
        }
        v.push(rest);
        v
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for ok in ["us-east-1", "eu-west-3", "us-gov-west-1", "us-isob-east-1", "us-iso-east-1"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in
            ["", "us-east", "useast-1", "US-east-1", "us-east-12", "eusc-de-east-1", "u-east-1", "us--1", "us-east-1-"]
        {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn account_from_key() {
        assert_eq!(AccountId::from_access_key("123456789012").as_str(), "123456789012");
        assert_eq!(AccountId::from_access_key("test").as_str(), "000000000000");
        assert_eq!(AccountId::from_access_key("AKIAIOSFODNN7EXAMPLE").as_str(), "000000000000");
    }
}
