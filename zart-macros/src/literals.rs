//! Attribute values, validated at expansion with the runtime's own parsers (cron, time
//! zones, durations, windows), each error spanned on the offending literal.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, Lit, LitStr};

use crate::args::{did_you_mean, Arg};
use crate::errors::Errors;

fn unwrap_group(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => unwrap_group(&group.expr),
        Expr::Paren(paren) => unwrap_group(&paren.expr),
        other => other,
    }
}

/// A string literal value.
pub fn string(arg: &Arg, errors: &mut Errors, example: &str) -> Option<LitStr> {
    let value = arg.value(errors, example)?;
    match unwrap_group(value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        other => {
            errors.spanned(
                other,
                format!("`{}` takes a string literal: `{example}`", arg.key),
            );
            None
        }
    }
}

/// A whole number value.
pub fn integer(arg: &Arg, errors: &mut Errors, example: &str) -> Option<u64> {
    let value = arg.value(errors, example)?;
    let parsed = match unwrap_group(value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(lit), ..
        }) => lit.base10_parse::<u64>().ok(),
        _ => None,
    };
    if parsed.is_none() {
        errors.spanned(
            value,
            format!("`{}` takes a whole number: `{example}`", arg.key),
        );
    }
    parsed
}

/// A task, step or schedule name.
pub fn name(arg: &Arg, errors: &mut Errors) -> Option<LitStr> {
    let lit = string(arg, errors, &format!("{} = \"checkout\"", arg.key))?;
    let value = lit.value();
    if value.is_empty() {
        errors.spanned(&lit, "a name must not be empty");
        return None;
    }
    if value.starts_with("__zart") {
        errors.spanned(
            &lit,
            "names starting with `__zart` are reserved for Zart's own tasks",
        );
        return None;
    }
    Some(lit)
}

/// A priority: a whole number from -32768 to 32767 (higher is claimed first).
pub fn priority(arg: &Arg, errors: &mut Errors) -> Option<i16> {
    const EXAMPLE: &str = "priority = 10";
    let value = arg.value(errors, EXAMPLE)?;
    let (negative, literal) = match unwrap_group(value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(lit), ..
        }) => (false, Some(lit)),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match unwrap_group(expr) {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(lit), ..
            }) => (true, Some(lit)),
            _ => (true, None),
        },
        _ => (false, None),
    };
    let parsed = literal
        .and_then(|lit| lit.base10_parse::<i32>().ok())
        .map(|n| if negative { -n } else { n })
        .and_then(|n| i16::try_from(n).ok());
    if parsed.is_none() {
        errors.spanned(
            value,
            format!(
                "`priority` takes a whole number from {} to {} (higher is claimed first; 0 is the default): `{EXAMPLE}`",
                i16::MIN,
                i16::MAX
            ),
        );
    }
    parsed
}

/// A queue name: any non-empty string.
pub fn queue(arg: &Arg, errors: &mut Errors) -> Option<LitStr> {
    let lit = string(arg, errors, "queue = \"emails\"")?;
    if lit.value().is_empty() {
        errors.spanned(
            &lit,
            "a queue name must not be empty (leave `queue` out for the default queue)",
        );
        return None;
    }
    Some(lit)
}

/// A duration literal (`"200ms"`, `"1h30m"`), in milliseconds. Zero is refused: every
/// duration an attribute takes is a wait or a limit.
pub fn duration(arg: &Arg, errors: &mut Errors) -> Option<u64> {
    let lit = string(arg, errors, &format!("{} = \"30s\"", arg.key))?;
    duration_literal(&lit, errors)
}

pub fn duration_literal(lit: &LitStr, errors: &mut Errors) -> Option<u64> {
    match zart_schedule::parse_duration(&lit.value()) {
        Ok(duration) if duration.is_zero() => {
            errors.spanned(lit, "a duration of zero makes no sense here");
            None
        }
        Ok(duration) => Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
        Err(error) => {
            errors.spanned(lit, error);
            None
        }
    }
}

/// `Duration::from_millis(ms)`.
pub fn millis(ms: u64) -> TokenStream {
    quote!(::core::time::Duration::from_millis(#ms))
}

/// A cron expression, parsed by the runtime's parser.
pub fn cron(lit: &LitStr, errors: &mut Errors) -> bool {
    match lit.value().parse::<zart_schedule::CronExpr>() {
        Ok(_) => true,
        Err(error) => {
            errors.spanned(lit, error);
            false
        }
    }
}

/// An IANA time zone name.
pub fn timezone(lit: &LitStr, errors: &mut Errors) -> bool {
    match zart_schedule::parse_timezone(&lit.value()) {
        Ok(_) => true,
        Err(error) => {
            errors.spanned(lit, error);
            false
        }
    }
}

/// A time window literal (`"mon-fri 09:00-17:00"`) in `timezone`.
pub fn window(lit: &LitStr, timezone: &str, errors: &mut Errors) -> bool {
    match zart_schedule::TimeWindow::parse(timezone, &lit.value()) {
        Ok(_) => true,
        Err(error) => {
            errors.spanned(lit, error);
            false
        }
    }
}

/// One of a policy enum's variants, written in snake case (`skip_if_running`): the path
/// of the variant.
pub fn policy(
    arg: &Arg,
    errors: &mut Errors,
    enum_path: TokenStream,
    variants: &[(&str, &str)],
) -> Option<TokenStream> {
    let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
    let example = format!("{} = {}", arg.key, names[0]);
    let value = arg.value(errors, &example)?;
    let given = match unwrap_group(value) {
        Expr::Path(path) => path.path.get_ident().map(ToString::to_string),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.value()),
        _ => None,
    };
    match variants
        .iter()
        .find(|(name, _)| Some(*name) == given.as_deref())
    {
        Some((_, variant)) => {
            let variant = syn::Ident::new(variant, proc_macro2::Span::call_site());
            Some(quote!(#enum_path::#variant))
        }
        None => {
            let hint = given
                .map(|given| did_you_mean(&given, &names))
                .unwrap_or_default();
            errors.spanned(
                value,
                format!("`{}` is one of: {}{hint}", arg.key, names.join(", ")),
            );
            None
        }
    }
}

/// A retry policy: `retry = 5` (attempts, default backoff), `retry = none`,
/// `retry = exponential(max_attempts = 5, initial = "200ms", max = "30s", multiplier = 2.0,
/// jitter = 0.2)` or `retry = fixed(max_attempts = 3, delay = "1s", jitter = 0.0)`, each
/// key optional. Returns a `RetryConfig` expression.
pub fn retry(arg: &Arg, errors: &mut Errors) -> Option<TokenStream> {
    const EXAMPLE: &str =
        "retry = exponential(max_attempts = 5, initial = \"200ms\", max = \"30s\")";
    let value = arg.value(errors, EXAMPLE)?;
    let (kind, settings) = match unwrap_group(value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(lit), ..
        }) => {
            let attempts = attempts(lit, errors)?;
            return Some(quote!(::zart::scheduler::RetryConfig::exponential(#attempts)));
        }
        Expr::Path(path) if path.path.is_ident("none") => {
            return Some(quote!(::zart::scheduler::RetryConfig::none()));
        }
        Expr::Path(path) if path.path.is_ident("exponential") => ("exponential", Vec::new()),
        Expr::Path(path) if path.path.is_ident("fixed") => ("fixed", Vec::new()),
        Expr::Call(call) => {
            let kind = match unwrap_group(&call.func) {
                Expr::Path(path) if path.path.is_ident("exponential") => "exponential",
                Expr::Path(path) if path.path.is_ident("fixed") => "fixed",
                other => {
                    let hint = retry_kind_hint(other, &["exponential", "fixed"]);
                    errors.spanned(other, format!("a retry policy is `exponential(..)`, `fixed(..)`, `none` or a number of attempts{hint}"));
                    return None;
                }
            };
            (kind, call.args.iter().collect())
        }
        other => {
            let hint = retry_kind_hint(other, &["exponential", "fixed", "none"]);
            errors.spanned(
                other,
                format!("a retry policy is `exponential(..)`, `fixed(..)`, `none` or a number of attempts{hint}: `{EXAMPLE}`"),
            );
            return None;
        }
    };
    let valid: &[&str] = match kind {
        "exponential" => &["max_attempts", "initial", "max", "multiplier", "jitter"],
        _ => &["max_attempts", "delay", "jitter"],
    };
    let mut fields = Vec::new();
    let mut ok = true;
    let (mut initial, mut max) = (None, None);
    for setting in settings {
        let Expr::Assign(assign) = unwrap_group(setting) else {
            errors.spanned(
                setting,
                format!(
                    "`{kind}(..)` takes `key = value` settings: {}",
                    valid.join(", ")
                ),
            );
            ok = false;
            continue;
        };
        let key = match unwrap_group(&assign.left) {
            Expr::Path(path) => path.path.get_ident().map(ToString::to_string),
            _ => None,
        }
        .unwrap_or_default();
        if !valid.contains(&key.as_str()) {
            let hint = did_you_mean(&key, valid);
            errors.spanned(
                &assign.left,
                format!(
                    "unknown setting `{key}` for `{kind}(..)`{hint}; the settings are: {}",
                    valid.join(", ")
                ),
            );
            ok = false;
            continue;
        }
        let right = unwrap_group(&assign.right);
        let field = match key.as_str() {
            "max_attempts" => match right {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(lit), ..
                }) => attempts(lit, errors).map(|n| quote!(max_attempts: #n)),
                other => {
                    errors.spanned(
                        other,
                        "`max_attempts` is a whole number, the first attempt included",
                    );
                    None
                }
            },
            "initial" | "max" | "delay" => match right {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(lit), ..
                }) => duration_literal(lit, errors).map(|ms| {
                    let value = millis(ms);
                    match key.as_str() {
                        "initial" => {
                            initial = Some((ms, lit.clone()));
                            quote!(initial_delay: #value)
                        }
                        "max" => {
                            max = Some(ms);
                            quote!(max_delay: #value)
                        }
                        _ => quote!(initial_delay: #value, max_delay: #value),
                    }
                }),
                other => {
                    errors.spanned(
                        other,
                        format!("`{key}` is a duration literal such as \"500ms\""),
                    );
                    None
                }
            },
            "multiplier" | "jitter" => {
                let number = match right {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Float(lit),
                        ..
                    }) => lit.base10_parse::<f64>().ok(),
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Int(lit), ..
                    }) => lit.base10_parse::<f64>().ok(),
                    _ => None,
                };
                match (key.as_str(), number) {
                    ("multiplier", Some(m)) if m >= 1.0 && m.is_finite() => {
                        Some(quote!(backoff_multiplier: #m))
                    }
                    ("jitter", Some(j)) if (0.0..=1.0).contains(&j) => Some(quote!(jitter: #j)),
                    ("multiplier", _) => {
                        errors.spanned(
                            right,
                            "`multiplier` is a number of at least 1.0 (1.0: no growth)",
                        );
                        None
                    }
                    _ => {
                        errors.spanned(
                            right,
                            "`jitter` is a fraction from 0.0 (exact delays) to 1.0",
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        match field {
            Some(field) => fields.push(field),
            None => ok = false,
        }
    }
    if let (Some((initial, lit)), Some(max)) = (initial, max) {
        if initial > max {
            errors.spanned(lit, "the initial delay is longer than `max`");
            ok = false;
        }
    }
    if kind == "fixed" {
        fields.push(quote!(backoff_multiplier: 1.0));
    }
    ok.then(|| quote!(::zart::scheduler::RetryConfig { #(#fields,)* ..::zart::scheduler::RetryConfig::default() }))
}

/// A suggestion for a misspelt retry kind (`exponentail`), if it is a plain word.
fn retry_kind_hint(expr: &Expr, kinds: &[&str]) -> String {
    match expr {
        Expr::Path(path) => path
            .path
            .get_ident()
            .map(|kind| did_you_mean(&kind.to_string(), kinds))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn attempts(lit: &syn::LitInt, errors: &mut Errors) -> Option<u32> {
    match lit.base10_parse::<u32>() {
        Ok(0) | Err(_) => {
            errors.spanned(
                lit,
                "the number of attempts is at least 1 (the first attempt counts)",
            );
            None
        }
        Ok(n) => Some(n),
    }
}
