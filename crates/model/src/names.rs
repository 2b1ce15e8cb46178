//! Names and descriptions, validated once at the boundary.

use serde::Serialize;

/// The longest name accepted, in characters (as Arize and Confident AI).
pub const NAME_MAX: usize = 255;
/// The longest description accepted, in characters.
pub const DESCRIPTION_MAX: usize = 1000;

/// Why a name or description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{field}` must not be empty")]
    Empty { field: &'static str },
    #[error("`{field}` is {len} characters long; the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("`{field}` must not contain control characters such as newlines or tabs")]
    Control { field: &'static str },
}

/// A display name: 1 to 255 characters after trimming, no control characters.
///
/// Names are unique in their scope regardless of case; [`Name::key`] is the form the
/// store compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Validates `raw` as the value of the field `field`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty { field });
        }
        let len = trimmed.chars().count();
        if len > NAME_MAX {
            return Err(NameError::TooLong {
                field,
                len,
                max: NAME_MAX,
            });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(NameError::Control { field });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive form used for uniqueness.
    pub fn key(&self) -> String {
        name_key(&self.0)
    }
}

/// The case-insensitive comparison form of a name.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A free-text description: at most 1000 characters. Newlines are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    /// Validates a description.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let len = raw.chars().count();
        if len > DESCRIPTION_MAX {
            return Err(NameError::TooLong {
                field: "description",
                len,
                max: DESCRIPTION_MAX,
            });
        }
        if raw
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(NameError::Control {
                field: "description",
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The description text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("name", "  Annotator ").unwrap().as_str(),
            "Annotator"
        );
        assert_eq!(
            Name::parse("name", "   "),
            Err(NameError::Empty { field: "name" })
        );
        assert!(Name::parse("name", &"x".repeat(255)).is_ok());
        assert_eq!(
            Name::parse("name", &"x".repeat(256)),
            Err(NameError::TooLong {
                field: "name",
                len: 256,
                max: 255
            })
        );
        assert_eq!(
            Name::parse("name", "a\nb"),
            Err(NameError::Control { field: "name" })
        );
    }

    #[test]
    fn unicode_names_count_characters_not_bytes() {
        let name = "é".repeat(255);
        assert!(Name::parse("name", &name).is_ok());
        assert_eq!(
            Name::parse("name", "Données Éditeur").unwrap().key(),
            "données éditeur"
        );
    }

    #[test]
    fn descriptions_allow_newlines_up_to_the_limit() {
        assert!(Description::parse("line one\nline two").is_ok());
        assert!(Description::parse(&"d".repeat(1000)).is_ok());
        assert!(matches!(
            Description::parse(&"d".repeat(1001)),
            Err(NameError::TooLong { .. })
        ));
    }
}
