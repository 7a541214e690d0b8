//! CloudWatch filter patterns for unstructured log events: the term syntax of FilterLogEvents.
//!
//! A pattern is a list of terms separated by whitespace. A plain term must appear in the message
//! (all plain terms are AND'ed), a term prefixed with `-` must not appear, and terms prefixed
//! with `?` are OR'ed: when there are any, at least one of them must appear. A term is either a
//! run of non-whitespace characters or a `"quoted phrase"` (which may contain spaces; `\"` and
//! `\\` escape a quote and a backslash). Matching is a case-sensitive substring search, as on
//! CloudWatch. The empty pattern matches every event.
//!
//! JSON patterns (`{ $.level = "ERROR" }`), space-delimited patterns (`[ip, user, ...]`) and
//! regular expressions (`%...%`) are recognised and rejected as unsupported rather than being
//! misread as terms.

/// Longest filter pattern accepted, in characters (the API's constraint).
pub const PATTERN_CHARS_MAX: usize = 1024;

/// A parsed term pattern.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilterPattern {
    /// Every one of these must appear.
    required: Vec<String>,
    /// None of these may appear.
    excluded: Vec<String>,
    /// When not empty, at least one of these must appear.
    any: Vec<String>,
}

/// Why a pattern was refused; the text is the message of the InvalidParameterException.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// A term CloudWatch would not accept, e.g. a lone `?`, `""`, or an unterminated quote.
    InvalidTerm(String),
    /// A JSON, space-delimited or regular-expression pattern, which Versa does not evaluate.
    Unsupported(&'static str),
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatternError::InvalidTerm(term) => write!(f, "Invalid character(s) in term '{term}'"),
            PatternError::Unsupported(kind) => {
                write!(f, "Invalid filter pattern: {kind} filter patterns are not supported by Versa; use terms")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Required,
    Excluded,
    Any,
}

impl FilterPattern {
    /// Parses `text`; the empty (or all-whitespace) pattern matches everything.
    pub fn parse(text: &str) -> Result<FilterPattern, PatternError> {
        let trimmed = text.trim();
        match trimmed.chars().next() {
            Some('{') => return Err(PatternError::Unsupported("JSON")),
            Some('[') => return Err(PatternError::Unsupported("space-delimited")),
            Some('%') => return Err(PatternError::Unsupported("regular expression")),
            _ => {}
        }
        let mut pattern = FilterPattern::default();
        let mut chars = trimmed.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let kind = match first {
                '-' => Kind::Excluded,
                '?' => Kind::Any,
                _ => Kind::Required,
            };
            let mut raw = String::new();
            if kind != Kind::Required {
                chars.next();
                raw.push(first);
            }
            let term = if chars.peek() == Some(&'"') {
                chars.next();
                raw.push('"');
                let mut phrase = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    raw.push(c);
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next_if(|n| *n == '"' || *n == '\\') {
                            Some(escaped) => {
                                raw.push(escaped);
                                phrase.push(escaped);
                            }
                            None => phrase.push('\\'),
                        },
                        _ => phrase.push(c),
                    }
                }
                // A phrase must be closed, non-empty, and followed by whitespace or the end.
                let trailing = chars.peek().is_some_and(|c| !c.is_whitespace());
                if !closed || phrase.is_empty() || trailing {
                    while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                        raw.push(c);
                    }
                    return Err(PatternError::InvalidTerm(raw));
                }
                phrase
            } else {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    word.push(c);
                }
                raw.push_str(&word);
                if word.is_empty() || word.contains('"') {
                    return Err(PatternError::InvalidTerm(raw));
                }
                word
            };
            match kind {
                Kind::Required => pattern.required.push(term),
                Kind::Excluded => pattern.excluded.push(term),
                Kind::Any => pattern.any.push(term),
            }
        }
        Ok(pattern)
    }

    /// Whether `message` satisfies the pattern.
    pub fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| message.contains(t.as_str()))
            && !self.excluded.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::{FilterPattern, PatternError};

    #[track_caller]
    fn check(pattern: &str, message: &str, expected: bool) {
        let parsed = FilterPattern::parse(pattern).unwrap();
        assert_eq!(parsed.matches(message), expected, "pattern {pattern:?} on {message:?}");
    }

    #[track_caller]
    fn invalid(pattern: &str, expected: &str) {
        let err = FilterPattern::parse(pattern).unwrap_err();
        assert_eq!(err.to_string(), expected, "pattern {pattern:?}");
    }

    #[test]
    fn empty_matches_everything() {
        check("", "anything", true);
        check("   ", "", true);
    }

    #[test]
    fn terms_are_anded_and_case_sensitive() {
        check("ERROR", "[ERROR] boom", true);
        check("ERROR", "[error] boom", false);
        check("ERROR boom", "[ERROR] boom", true);
        check("ERROR boom", "[ERROR] bang", false);
        check("Task timed out", "2024 Task timed out after 3.00 seconds", true);
        check("ERROR:", "ERROR: x", true);
    }

    #[test]
    fn quoted_phrases_match_literally() {
        check("\"timed out\"", "Task timed out", true);
        check("\"timed out\"", "out timed", false);
        check("\"say \\\"hi\\\"\"", "they say \"hi\" here", true);
        check("\"a\\\\b\"", "x a\\b y", true);
        check("\"ERROR 400\" request", "ERROR 400 bad request", true);
    }

    #[test]
    fn minus_excludes() {
        check("-DEBUG", "INFO ok", true);
        check("-DEBUG", "DEBUG noise", false);
        check("ERROR -\"retry later\"", "ERROR fatal", true);
        check("ERROR -\"retry later\"", "ERROR please retry later", false);
    }

    #[test]
    fn question_marks_are_ored() {
        check("?ERROR ?WARN", "WARN low disk", true);
        check("?ERROR ?WARN", "ERROR boom", true);
        check("?ERROR ?WARN", "INFO fine", false);
        check("?\"timed out\" ?Exception", "Task timed out", true);
        // Required terms still apply alongside the alternatives.
        check("db ?ERROR ?WARN", "db WARN slow", true);
        check("db ?ERROR ?WARN", "cache WARN slow", false);
        check("?ERROR -retry", "ERROR retry", false);
    }

    #[test]
    fn invalid_terms() {
        invalid("?", "Invalid character(s) in term '?'");
        invalid("ERROR -", "Invalid character(s) in term '-'");
        invalid("\"\"", "Invalid character(s) in term '\"\"'");
        invalid("\"open", "Invalid character(s) in term '\"open'");
        invalid("a\"b", "Invalid character(s) in term 'a\"b'");
        invalid("\"ab\"cd", "Invalid character(s) in term '\"ab\"cd'");
    }

    #[test]
    fn structured_patterns_are_unsupported() {
        assert_eq!(FilterPattern::parse("{ $.level = \"ERROR\" }"), Err(PatternError::Unsupported("JSON")));
        assert_eq!(FilterPattern::parse(" [ip, user]"), Err(PatternError::Unsupported("space-delimited")));
        assert_eq!(FilterPattern::parse("%ERR.*%"), Err(PatternError::Unsupported("regular expression")));
        invalid("{ $.x = 1 }", "Invalid filter pattern: JSON filter patterns are not supported by Versa; use terms");
    }
}
