//! Attribute arguments: `key = value` pairs (or a bare `key`), checked against the keys
//! an attribute takes.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token};

use crate::errors::Errors;

/// One `key = value` (or bare `key`) argument.
pub struct Arg {
    pub key: Ident,
    pub value: Option<Expr>,
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Arg { key, value })
    }
}

impl Arg {
    /// The value, or an error saying that `key = ...` needs one.
    pub fn value(&self, errors: &mut Errors, example: &str) -> Option<&Expr> {
        if self.value.is_none() {
            errors.spanned(
                &self.key,
                format!("`{}` takes a value: `{}`", self.key, example),
            );
        }
        self.value.as_ref()
    }
}

/// The arguments of one attribute, by key.
pub struct Args {
    args: Vec<Arg>,
    /// Whether every argument was read. After a syntax error or an unknown key, a key that
    /// looks missing may be the one misspelt, already reported.
    complete: bool,
}

impl Args {
    /// Parses `tokens` and reports keys that `attribute` does not take (listing the ones it
    /// does) and keys given twice.
    pub fn parse(
        tokens: TokenStream,
        attribute: &str,
        valid: &[&str],
        errors: &mut Errors,
    ) -> Args {
        let parsed = Punctuated::<Arg, Token![,]>::parse_terminated.parse2(tokens);
        let mut complete = true;
        let args = match parsed {
            Ok(args) => args.into_iter().collect::<Vec<_>>(),
            Err(error) => {
                complete = false;
                errors.push(syn::Error::new(
                    error.span(),
                    format!(
                        "{error}; #[{attribute}] takes `key = value` pairs separated by commas (keys: {})",
                        valid.join(", ")
                    ),
                ));
                Vec::new()
            }
        };
        let mut kept: Vec<Arg> = Vec::new();
        for arg in args {
            let key = arg.key.to_string();
            if !valid.contains(&key.as_str()) {
                complete = false;
                let hint = did_you_mean(&key, valid);
                errors.spanned(
                    &arg.key,
                    format!(
                        "unknown key `{key}` for #[{attribute}]{hint}; the keys it takes are: {}",
                        valid.join(", ")
                    ),
                );
            } else if kept.iter().any(|k| k.key == arg.key) {
                errors.spanned(&arg.key, format!("`{key}` is given twice"));
            } else {
                kept.push(arg);
            }
        }
        Args {
            args: kept,
            complete,
        }
    }

    /// Whether every argument was read: only then is a key that is not given missing.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    pub fn get(&self, key: &str) -> Option<&Arg> {
        self.args.iter().find(|arg| arg.key == key)
    }

    pub fn span_of(&self, key: &str) -> Option<Span> {
        self.get(key).map(|arg| arg.key.span())
    }
}

/// ` (did you mean `key`?)` naming the valid word nearest to a mistyped one, or nothing
/// when none is near.
pub fn did_you_mean(word: &str, valid: &[&str]) -> String {
    closest(word, valid)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// The valid key nearest to a mistyped one, if any is near.
fn closest<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|candidate| (distance(key, candidate), *candidate))
        .filter(|(d, candidate)| *d <= 2.max(candidate.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
