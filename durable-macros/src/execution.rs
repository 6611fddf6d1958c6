//! `#[durable_execution]`: parse, validate, lint, expand.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Type};

use crate::diag::{Errors, item_with_error};
use crate::lint;
use crate::options;
use crate::paths;
use crate::signature::{self, arg_type, is_named};

const ATTRIBUTE: &str = "durable_execution";
const KEYS: &[&str] = &["crate"];
const SHAPE: &str = "`(event: E, ctx: DurableContext)`";

/// Expands `#[durable_execution(args)] item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(error) => {
            let error = syn::Error::new(
                error.span(),
                format!("`#[{ATTRIBUTE}]` applies to an `async fn`: {error}"),
            );
            return item_with_error(item, &error);
        }
    };
    let mut errors = Errors::default();
    let mut krate = None;
    for option in options::parse(args, ATTRIBUTE, KEYS, &mut errors) {
        if option.key == "crate" {
            krate = options::crate_path(&option, &mut errors);
        }
    }
    let krate = paths::runtime(krate.as_ref());

    let types = validate(&func, &mut errors);
    let context = context_pattern(&func.sig);
    lint::check(&func.sig, context.as_ref(), &mut func.block, &mut errors);
    let checks = match types {
        Some(types) if func.sig.generics.params.is_empty() => type_checks(&types, &krate),
        _ => TokenStream::new(),
    };
    let out = quote! {
        #func
        #checks
    };
    match errors.finish() {
        Ok(()) => out,
        Err(error) => item_with_error(out, &error),
    }
}

/// The pattern of the `DurableContext` argument, if there is one.
pub(crate) fn context_pattern(sig: &syn::Signature) -> Option<syn::Pat> {
    sig.inputs.iter().find_map(|arg| match arg {
        syn::FnArg::Typed(typed) if is_named(&typed.ty, "DurableContext") => {
            Some((*typed.pat).clone())
        }
        _ => None,
    })
}

/// The event, output and error types of a well-formed handler.
struct Types {
    event: Type,
    output: Type,
    error: Type,
}

fn validate(func: &ItemFn, errors: &mut Errors) -> Option<Types> {
    let sig = &func.sig;
    signature::check_common(sig, ATTRIBUTE, errors);
    let result = signature::result_parts(sig, ATTRIBUTE, "Result<T, DurableError>", errors);
    let is_context = |index: usize| {
        sig.inputs
            .iter()
            .nth(index)
            .and_then(arg_type)
            .is_some_and(|ty| is_named(ty, "DurableContext"))
    };
    let event = match sig.inputs.len() {
        0 => {
            errors.at(
                signature::args_span(sig),
                format!("a `#[{ATTRIBUTE}]` function takes {SHAPE}; both arguments are missing"),
            );
            None
        }
        1 if is_context(0) => {
            errors.spanned(
                &sig.inputs,
                format!(
                    "a `#[{ATTRIBUTE}]` function takes {SHAPE}; the event argument is missing \
                     (use `_event: ()` for none)"
                ),
            );
            None
        }
        1 => {
            errors.at(
                sig.paren_token.span.close(),
                format!(
                    "a `#[{ATTRIBUTE}]` function takes {SHAPE}; the context argument \
                     `ctx: DurableContext` is missing"
                ),
            );
            None
        }
        2 if is_context(1) => sig.inputs.first().and_then(arg_type).cloned(),
        2 if is_context(0) => {
            errors.spanned(
                &sig.inputs,
                format!(
                    "the arguments of a `#[{ATTRIBUTE}]` function are in the wrong order: \
                     it takes {SHAPE}"
                ),
            );
            None
        }
        _ => {
            let extra = sig.inputs.iter().skip(1);
            errors.spanned(
                quote!(#(#extra),*),
                format!(
                    "a `#[{ATTRIBUTE}]` function takes {SHAPE}; the second argument must be \
                     the `DurableContext`"
                ),
            );
            None
        }
    };
    let (output, error) = result?;
    Some(Types {
        event: event?,
        output,
        error,
    })
}

/// Assertions spanned on the user's types, so that an unmet bound points at
/// the argument or the return type rather than at the attribute or at the
/// runner (axum's `debug_handler` technique). They cost nothing at run time:
/// the functions are named, never called, inside an anonymous const block.
fn type_checks(types: &Types, krate: &TokenStream) -> TokenStream {
    let Types {
        event,
        output,
        error,
    } = types;
    let event_check = quote_spanned! {event.span()=>
        let _ = the_event_type_must_implement_deserialize_owned::<#event>;
    };
    let output_check = quote_spanned! {output.span()=>
        let _ = the_output_type_must_implement_serialize::<#output>;
    };
    let error_check = quote_spanned! {error.span()=>
        let _ = |error: #error| -> #krate::DurableError { error };
    };
    quote! {
        const _: () = {
            fn the_event_type_must_implement_deserialize_owned<T>()
            where
                T: #krate::__private::serde::de::DeserializeOwned + ::core::marker::Send,
            {
            }
            fn the_output_type_must_implement_serialize<T>()
            where
                T: #krate::__private::serde::Serialize + ::core::marker::Send,
            {
            }
            #event_check
            #output_check
            #error_check
        };
    }
}
