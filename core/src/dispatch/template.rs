//! `{field}` templates in the style of Python's `str.format`, checked when
//! they are configured so that rendering can never fail.

use std::fmt;

use super::error::TemplateError;

/// A text with `{field}` placeholders, validated against a fixed set of
/// field names when it is created.
///
/// `{{` and `}}` stand for literal braces. Unknown fields and unmatched
/// braces are reported by [`Template::new`], so a misconfigured intro or help
/// text is caught at start-up rather than on a user's screen.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
}

impl Template {
    /// Parses `source`, accepting only the placeholders listed in `fields`.
    pub fn new(source: &str, fields: &[&str]) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((position, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let rest = &source[position + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(TemplateError::UnmatchedBrace {
                            brace: '{',
                            position,
                        });
                    };
                    let field = &rest[..end];
                    if field.contains('{') {
                        return Err(TemplateError::UnmatchedBrace {
                            brace: '{',
                            position,
                        });
                    }
                    if !fields.contains(&field) {
                        return Err(TemplateError::UnknownField {
                            field: field.to_owned(),
                            available: fields.join(", "),
                        });
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Field(field.to_owned()));
                    // Skip the field name and the closing brace.
                    while let Some(&(i, _)) = chars.peek() {
                        if i > position + end + 1 {
                            break;
                        }
                        chars.next();
                    }
                }
                '}' => {
                    return Err(TemplateError::UnmatchedBrace {
                        brace: '}',
                        position,
                    });
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self {
            source: source.to_owned(),
            pieces,
        })
    }

    /// The template as it was written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fills in the placeholders. A field missing from `values` renders as
    /// nothing; [`Template::new`] already made sure every field is one the
    /// caller knows about.
    pub fn render(&self, values: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(self.source.len());
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(field) => {
                    if let Some((_, value)) = values.iter().find(|(name, _)| name == field) {
                        out.push_str(value);
                    }
                }
            }
        }
        out
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fields_and_escaped_braces() {
        let t = Template::new("{{{a}}} and {b}!", &["a", "b"]).unwrap();
        assert_eq!(t.render(&[("a", "1"), ("b", "two")]), "{1} and two!");
        assert_eq!(t.source(), "{{{a}}} and {b}!");
    }

    #[test]
    fn multibyte_text_around_fields() {
        let t = Template::new("é{a}ü{a}", &["a"]).unwrap();
        assert_eq!(t.render(&[("a", "ß")]), "éßüß");
    }

    #[test]
    fn rejects_unknown_fields_and_stray_braces() {
        assert!(matches!(
            Template::new("{nope}", &["a"]),
            Err(TemplateError::UnknownField { .. })
        ));
        assert!(matches!(
            Template::new("x {a", &["a"]),
            Err(TemplateError::UnmatchedBrace {
                brace: '{',
                position: 2
            })
        ));
        assert!(matches!(
            Template::new("x } y", &["a"]),
            Err(TemplateError::UnmatchedBrace {
                brace: '}',
                position: 2
            })
        ));
        assert!(matches!(
            Template::new("{a{b}", &["a"]),
            Err(TemplateError::UnmatchedBrace { .. })
        ));
        let err = Template::new("{x}", &["a", "b"]).unwrap_err().to_string();
        assert_eq!(err, "unknown field {x} in template (available: a, b)");
    }
}
