//! Diagnostics: an accumulator of spanned errors, and the fallback output
//! that keeps the user's item alive when expansion fails.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Collects every error of one expansion so that a single compile reports
/// them all (`syn::Error::combine`).
#[derive(Default)]
#[must_use = "collected errors must be turned into compile errors with `finish`"]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Records an error spanned on `tokens`.
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn at(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// `Err` with every recorded error, or `Ok` when there were none.
    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// The item as written (or as far as it could be kept) followed by the
/// errors, so that IDE features keep working on the item while it is being
/// edited (tokio-macros' `token_stream_with_error`).
pub(crate) fn item_with_error(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out
}
