//! Case conversion of IDL names: `snake_case` for fields, methods and
//! modules, `UpperCamelCase` for types and union variants,
//! `SHOUTY_SNAKE_CASE` for constants and enum values; Rust keywords become
//! raw identifiers (`r#type`). Keeping the converted names unique is
//! [`crate::naming`]'s job.

use proc_macro2::{Ident, Span};

/// Splits a name into words: at `_` and other separators, before an upper
/// case letter that follows a lower case letter or digit, and before the last
/// upper case letter of a run that a lower case letter follows (`HTTPRequest`
/// → `HTTP`, `Request`). Digits stay with the word before them.
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// `userMap` → `user_map`, `testI32` → `test_i32`.
pub fn snake(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// `testString` → `TestString`, `EIGHT` → `Eight`, `Xtruct2` → `Xtruct2`.
pub fn upper_camel(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(cs.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect()
}

/// `myNumberz` → `MY_NUMBERZ`, `ONE` → `ONE`.
pub fn shouty(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| w.to_uppercase())
        .collect::<Vec<_>>()
        .join("_")
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers.
pub(crate) const NOT_RAW: &[&str] = &["crate", "self", "Self", "super", "_"];

/// A Rust identifier for `name` (already cased).
pub fn ident(name: &str) -> Ident {
    if NOT_RAW.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        for (name, s, c, u) in [
            ("userMap", "user_map", "UserMap", "USER_MAP"),
            ("testI32", "test_i32", "TestI32", "TEST_I32"),
            ("Xtruct2", "xtruct2", "Xtruct2", "XTRUCT2"),
            ("HTTPRequest", "http_request", "HttpRequest", "HTTP_REQUEST"),
            (
                "string_thing",
                "string_thing",
                "StringThing",
                "STRING_THING",
            ),
            ("EIGHT", "eight", "Eight", "EIGHT"),
            (
                "TApplicationException",
                "t_application_exception",
                "TApplicationException",
                "T_APPLICATION_EXCEPTION",
            ),
            ("a_set2500", "a_set2500", "ASet2500", "A_SET2500"),
            ("GetItem", "get_item", "GetItem", "GET_ITEM"),
        ] {
            assert_eq!(snake(name), s, "{name}");
            assert_eq!(upper_camel(name), c, "{name}");
            assert_eq!(shouty(name), u, "{name}");
        }
    }

    #[test]
    fn keywords() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("name").to_string(), "name");
    }
}
