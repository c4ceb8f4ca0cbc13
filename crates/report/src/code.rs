//! [`Code`]: the rule codes as a type, so a finding cannot name a rule the catalogue lacks.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::Severity;
use crate::rules::Rule;

/// Declares [`Code`] with its list, spelling and parser from one list of identifiers, so the
/// three cannot disagree.
macro_rules! codes {
    ($($code:ident),+ $(,)?) => {
        /// A stable rule code (`G001`, `C003`, `R010`, `F002`, `A012`, ...). Its severity, name
        /// and help live in the one catalogue, [`crate::rules::RULES`] (see [`Code::rule`]).
        ///
        /// Serialises, displays and parses as its spelling (`"G001"`); orders by it too, so
        /// sorting findings is the same as when codes were strings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($code),+
        }

        impl Code {
            /// Every code, in catalogue order (the order of [`crate::rules::RULES`]).
            pub const ALL: &'static [Code] = &[$(Code::$code),+];

            /// The code as written in reports and docs: `"G001"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code)),+
                }
            }
        }

        impl FromStr for Code {
            type Err = UnknownCode;

            /// Exactly the spelling [`Code::as_str`] gives; anything else is [`UnknownCode`].
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($code) => Ok(Code::$code),)+
                    _ => Err(UnknownCode(s.to_string())),
                }
            }
        }
    };
}

codes! {
    G001, G002, G003, G004, G005,
    C001, C002, C003, C004, C005, C006,
    R001, R002, R003, R004, R005, R006, R007, R008, R009, R010,
    F001, F002, F003, F004, F005, F006, F007, F008,
    A001, A002, A003, A004, A005, A006, A007, A008, A009, A010, A011, A012,
    L001, L002, L003, L004,
}

/// A string that names no rule code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a rule code (codes look like G001, C003, R010, F002, A012)")]
pub struct UnknownCode(pub String);

impl Code {
    /// How many codes there are: the catalogue has exactly this many entries.
    pub const COUNT: usize = Code::ALL.len();

    /// Position in [`Code::ALL`] and in [`crate::rules::RULES`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The catalogue entry: what, why, how to fix, default severity.
    pub fn rule(self) -> &'static Rule {
        &crate::rules::RULES[self.index()]
    }

    /// The default severity of a finding with this code.
    pub fn severity(self) -> Severity {
        self.rule().severity
    }

    /// The rule's kebab-case name (`unregistered-emergency-script`).
    pub fn name(self) -> &'static str {
        self.rule().name
    }

    /// What the rule detects, in one sentence.
    pub fn summary(self) -> &'static str {
        self.rule().what
    }

    /// How to fix a finding of this rule: the help a finding carries unless its check says
    /// something more specific.
    pub fn help(self) -> &'static str {
        self.rule().fix
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

// Ordered by spelling, as the `&str` codes were, so `Report::sort` keeps its order.
impl Ord for Code {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// Comparisons with the spelling, so tests and callers can say `f.code == "C004"`.
impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Code> for str {
    fn eq(&self, other: &Code) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RULES;

    #[test]
    fn every_code_has_its_own_catalogue_entry() {
        assert_eq!(RULES.len(), Code::COUNT);
        for &code in Code::ALL {
            assert_eq!(code.rule().code, code, "RULES[{}]", code.index());
            assert!(!code.name().is_empty() && !code.summary().is_empty());
            assert!(!code.help().is_empty(), "{code} has no help");
        }
    }

    #[test]
    fn every_spelling_parses_back_to_its_code() {
        for &code in Code::ALL {
            assert_eq!(code.as_str().parse::<Code>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
    }

    #[test]
    fn an_unknown_code_is_an_error() {
        for bad in ["X999", "G000", "R099", "g001", " G001", "", "G0011"] {
            let err = bad.parse::<Code>().unwrap_err();
            assert_eq!(err, UnknownCode(bad.to_string()));
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn codes_order_and_compare_by_spelling() {
        let mut codes = vec![Code::R001, Code::A010, Code::G001, Code::C003];
        codes.sort();
        assert_eq!(codes, [Code::A010, Code::C003, Code::G001, Code::R001]);
        assert_eq!(Code::C004, "C004");
        assert_eq!("C004", Code::C004);
        assert_ne!(Code::C004, "C005");
        assert_eq!(Code::R005.severity(), Severity::Warning);
        assert_eq!(Code::G001.name(), "unregistered-emergency-script");
    }
}
