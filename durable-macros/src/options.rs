//! `key = value` attribute options, with duplicate and unknown-key detection.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Token};

use crate::diag::Errors;

/// One `key = value` option.
pub(crate) struct RawOption {
    /// The key as written.
    pub(crate) key: String,
    /// Where the key is.
    pub(crate) key_span: Span,
    /// The value expression.
    pub(crate) value: Expr,
}

/// Parses `key = value, ...`; unknown keys, duplicates and malformed options
/// are recorded in `errors` and left out.
pub(crate) fn parse(
    args: TokenStream,
    attribute: &str,
    accepted: &[&str],
    errors: &mut Errors,
) -> Vec<RawOption> {
    let accepted_list = accepted
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                format!(
                    "{error}: `#[{attribute}]` takes options of the form `key = value`; \
                     accepted keys: {accepted_list}"
                ),
            ));
            return Vec::new();
        }
    };
    let mut options: Vec<RawOption> = Vec::new();
    for meta in metas {
        let path = meta.path().clone();
        let key = path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect::<Vec<_>>()
            .join("::");
        if !accepted.contains(&key.as_str()) {
            errors.spanned(
                &path,
                format!(
                    "unknown option `{key}` for `#[{attribute}]`; accepted keys: {accepted_list}"
                ),
            );
            continue;
        }
        if options.iter().any(|seen| seen.key == key) {
            errors.spanned(&path, format!("option `{key}` is set more than once"));
            continue;
        }
        let value = match meta {
            Meta::NameValue(pair) => pair.value,
            other => {
                errors.spanned(
                    &other,
                    format!("option `{key}` needs a value: write `{key} = ...`"),
                );
                continue;
            }
        };
        options.push(RawOption {
            key,
            key_span: path.span(),
            value,
        });
    }
    options
}

/// A string literal value, or an error on the value.
pub(crate) fn string(option: &RawOption, errors: &mut Errors) -> Option<LitStr> {
    match &option.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        other => {
            errors.spanned(
                other,
                format!(
                    "option `{}` takes a string literal, e.g. `{} = \"...\"`",
                    option.key, option.key
                ),
            );
            None
        }
    }
}

/// The `crate = "path"` option: the path generated code uses for durable-core.
pub(crate) fn crate_path(option: &RawOption, errors: &mut Errors) -> Option<syn::Path> {
    let lit = string(option, errors)?;
    match lit.parse::<syn::Path>() {
        Ok(path) => Some(path),
        Err(_) => {
            errors.spanned(
                &lit,
                "option `crate` takes a path to the durable-core crate, e.g. `crate = \"::my_sdk::durable_core\"`",
            );
            None
        }
    }
}
