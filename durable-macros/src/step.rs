//! `#[durable_step]`: parse, validate, expand.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, LitStr, Pat, Type};

use crate::diag::{Errors, item_with_error};
use crate::lint;
use crate::options::{self, RawOption};
use crate::signature::{self, arg_type, is_named};

const ATTRIBUTE: &str = "durable_step";
const KEYS: &[&str] = &["name", "retry", "semantics", "crate"];

/// The validated options.
struct StepOptions {
    name: Option<LitStr>,
    retry: Option<Expr>,
    semantics: Option<(Ident, Span)>,
    krate: Option<syn::Path>,
}

/// One argument of the step besides its `StepContext`.
struct Arg {
    ident: Ident,
    ty: Type,
}

/// The model of a valid step function.
struct StepFn {
    func: ItemFn,
    args: Vec<Arg>,
    output: Type,
    error: Type,
}

/// Expands `#[durable_step(args)] item`.
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
    // Opt-out markers are never left for the compiler, even inside steps
    // where the lint does not apply.
    lint::strip_markers(&mut func.block);
    let options = parse_options(args, &mut errors);
    let step = validate(func.clone(), &mut errors);
    match (errors.finish(), step) {
        (Ok(()), Some(step)) => generate(&step, &options),
        (Err(error), _) => item_with_error(quote!(#func), &error),
        (Ok(()), None) => quote!(#func),
    }
}

fn parse_options(args: TokenStream, errors: &mut Errors) -> StepOptions {
    let mut out = StepOptions {
        name: None,
        retry: None,
        semantics: None,
        krate: None,
    };
    for option in options::parse(args, ATTRIBUTE, KEYS, errors) {
        match option.key.as_str() {
            "name" => out.name = options::string(&option, errors),
            "retry" => out.retry = Some(option.value),
            "semantics" => out.semantics = semantics(&option, errors),
            "crate" => out.krate = options::crate_path(&option, errors),
            _ => errors.at(option.key_span, "unhandled option"),
        }
    }
    out
}

fn semantics(option: &RawOption, errors: &mut Errors) -> Option<(Ident, Span)> {
    let variant = match &option.value {
        Expr::Path(path) => {
            path.path
                .get_ident()
                .and_then(|ident| match ident.to_string().as_str() {
                    "at_most_once" => Some("AtMostOncePerRetry"),
                    "at_least_once" => Some("AtLeastOncePerRetry"),
                    _ => None,
                })
        }
        _ => None,
    };
    match variant {
        Some(variant) => Some((
            Ident::new(variant, option.value.span()),
            option.value.span(),
        )),
        None => {
            errors.spanned(
                &option.value,
                "option `semantics` is `at_most_once` or `at_least_once`",
            );
            None
        }
    }
}

fn validate(func: ItemFn, errors: &mut Errors) -> Option<StepFn> {
    let sig = &func.sig;
    signature::check_common(sig, ATTRIBUTE, errors);
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            "a `#[durable_step]` function cannot be generic: its arguments are stored in the step value",
        );
    }
    let result = signature::result_parts(sig, ATTRIBUTE, "Result<T, E>", errors);

    let mut inputs = sig.inputs.iter();
    let context_position = sig
        .inputs
        .iter()
        .position(|arg| arg_type(arg).is_some_and(|ty| is_named(ty, "StepContext")));
    match (inputs.next(), context_position) {
        (None, _) => errors.at(
            signature::args_span(sig),
            "a `#[durable_step]` function takes its `StepContext` first: \
             `(step: StepContext, args...)`",
        ),
        (Some(_), Some(0)) => {}
        (Some(_), Some(position)) => errors.spanned(
            &sig.inputs[position],
            "the `StepContext` argument of a `#[durable_step]` function comes first: \
             `(step: StepContext, args...)`",
        ),
        (Some(first), None) => errors.spanned(
            first,
            "a `#[durable_step]` function takes its `StepContext` first: \
             `(step: StepContext, args...)`",
        ),
    }

    let mut args = Vec::new();
    for (index, arg) in sig.inputs.iter().enumerate().skip(1) {
        let FnArg::Typed(typed) = arg else { continue };
        if is_named(&typed.ty, "StepContext") {
            continue;
        }
        if matches!(*typed.ty, Type::ImplTrait(_)) {
            errors.spanned(
                &typed.ty,
                "a `#[durable_step]` argument is stored in the step value and cannot be `impl Trait`; \
                 name the type",
            );
        }
        let ident = match &*typed.pat {
            Pat::Ident(pat) if pat.subpat.is_none() => {
                Ident::new(&pat.ident.to_string(), pat.ident.span())
            }
            _ => format_ident!("arg{}", index),
        };
        args.push(Arg {
            ident,
            ty: (*typed.ty).clone(),
        });
    }
    let (output, error) = result?;
    Some(StepFn {
        func,
        args,
        output,
        error,
    })
}

fn generate(step: &StepFn, options: &StepOptions) -> TokenStream {
    let krate = options
        .krate
        .as_ref()
        .map_or_else(|| quote!(::durable_core), |path| quote!(#path));
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = &step.func;
    let ident = &sig.ident;
    let inputs = &sig.inputs;
    let output_ty = &sig.output;
    let (ok, err) = (&step.output, &step.error);
    let names: Vec<&Ident> = step.args.iter().map(|arg| &arg.ident).collect();
    let types: Vec<&Type> = step.args.iter().map(|arg| &arg.ty).collect();
    let cfgs: Vec<_> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();

    let name = options
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    let retry = match &options.retry {
        Some(expr) => quote_spanned! {expr.span()=>
            ::core::option::Option::Some({
                let strategy: ::std::sync::Arc<dyn #krate::RetryStrategy> =
                    ::std::sync::Arc::new(#expr);
                strategy
            })
        },
        None => quote!(::core::option::Option::None),
    };
    let semantics = match &options.semantics {
        Some((variant, span)) => quote_spanned! {*span=>
            ::core::option::Option::Some(#krate::StepSemantics::#variant)
        },
        None => quote!(::core::option::Option::None),
    };
    let struct_doc = format!(
        "The step value of [`{ident}`](fn@{ident}): pass it to `ctx.step(..)` to run it as the step `{}`.",
        name.value()
    );
    let call_doc = format!(
        "The body of the step `{}` as a plain async function, for unit tests and composition: \
         no checkpoint, no retry.",
        name.value()
    );
    let ctor_args = step
        .args
        .iter()
        .map(|Arg { ident, ty }| quote!(#ident: #ty));

    quote! {
        #(#attrs)*
        #[inline]
        #vis fn #ident(#(#ctor_args),*) -> #ident {
            #ident { #(#names),* }
        }

        #(#cfgs)*
        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #[must_use = "a step value does nothing until it is passed to `ctx.step(..)` and awaited"]
        #vis struct #ident {
            #(#names: #types),*
        }

        #(#cfgs)*
        impl #ident {
            #[doc = #call_doc]
            #[allow(clippy::too_many_arguments)]
            #vis async fn call(#inputs) #output_ty #block
        }

        #(#cfgs)*
        impl #krate::StepBody for #ident {
            type Output = #ok;
            type Error = #err;
            type Serdes = #krate::JsonSerdes;

            fn serdes(&self) -> #krate::JsonSerdes {
                #krate::JsonSerdes
            }

            fn run(
                self,
                step: #krate::StepContext,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<#ok, #err>>
                   + ::core::marker::Send {
                let Self { #(#names),* } = self;
                Self::call(step, #(#names),*)
            }

            fn defaults(&self) -> #krate::StepDefaults {
                #krate::StepDefaults {
                    name: ::core::option::Option::Some(::std::string::String::from(#name)),
                    retry: #retry,
                    semantics: #semantics,
                }
            }
        }
    }
}
