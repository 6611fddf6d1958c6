//! `#[durable_step]`: parse, validate, expand.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, LitStr, Pat, Type};

use crate::diag::{Errors, item_with_error};
use crate::lint;
use crate::options::{self, RawOption};
use crate::paths;
use crate::signature::{self, arg_type, is_named};

const ATTRIBUTE: &str = "durable_step";
const KEYS: &[&str] = &["name", "retry", "semantics", "serdes", "crate"];

/// The validated options.
struct StepOptions {
    name: Option<LitStr>,
    retry: Option<Expr>,
    semantics: Option<(Ident, Span)>,
    serdes: Option<Expr>,
    krate: Option<syn::Path>,
}

/// One argument besides the context.
pub(crate) struct Arg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

/// The model of a valid step (or child-context) function.
pub(crate) struct StepFn {
    pub(crate) func: ItemFn,
    pub(crate) args: Vec<Arg>,
    pub(crate) output: Type,
    pub(crate) error: Type,
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
        serdes: None,
        krate: None,
    };
    for option in options::parse(args, ATTRIBUTE, KEYS, errors) {
        match option.key.as_str() {
            "name" => out.name = options::string(&option, errors),
            "retry" => out.retry = Some(option.value),
            "semantics" => out.semantics = semantics(&option, errors),
            "serdes" => out.serdes = Some(option.value),
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

/// What differs between the attributes on functions whose first argument is
/// a context and whose other arguments are stored for later.
pub(crate) struct Shape {
    /// The attribute's name.
    pub(crate) attribute: &'static str,
    /// The context type, first argument.
    pub(crate) context: &'static str,
    /// The usual name of the context argument.
    pub(crate) binding: &'static str,
    /// Where the other arguments go.
    pub(crate) stored_in: &'static str,
}

const SHAPE: Shape = Shape {
    attribute: ATTRIBUTE,
    context: "StepContext",
    binding: "step",
    stored_in: "the step value",
};

fn validate(func: ItemFn, errors: &mut Errors) -> Option<StepFn> {
    validate_shape(func, &SHAPE, errors)
}

/// Validates `async fn name(context: C, args…) -> Result<T, E>`.
pub(crate) fn validate_shape(func: ItemFn, shape: &Shape, errors: &mut Errors) -> Option<StepFn> {
    let Shape {
        attribute,
        context,
        binding,
        stored_in,
    } = shape;
    let sig = &func.sig;
    signature::check_common(sig, attribute, errors);
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            format!(
                "a `#[{attribute}]` function cannot be generic: its arguments are stored in {stored_in}"
            ),
        );
    }
    let result = signature::result_parts(sig, attribute, "Result<T, E>", errors);

    let mut inputs = sig.inputs.iter();
    let context_position = sig
        .inputs
        .iter()
        .position(|arg| arg_type(arg).is_some_and(|ty| is_named(ty, context)));
    let takes_first = format!(
        "a `#[{attribute}]` function takes its `{context}` first: `({binding}: {context}, args...)`"
    );
    match (inputs.next(), context_position) {
        (None, _) => errors.at(signature::args_span(sig), &takes_first),
        (Some(_), Some(0)) => {}
        (Some(_), Some(position)) => errors.spanned(
            &sig.inputs[position],
            format!(
                "the `{context}` argument of a `#[{attribute}]` function comes first: \
                 `({binding}: {context}, args...)`"
            ),
        ),
        (Some(first), None) => errors.spanned(first, &takes_first),
    }

    let mut args = Vec::new();
    for (index, arg) in sig.inputs.iter().enumerate().skip(1) {
        let FnArg::Typed(typed) = arg else { continue };
        if is_named(&typed.ty, context) {
            continue;
        }
        if matches!(*typed.ty, Type::ImplTrait(_)) {
            errors.spanned(
                &typed.ty,
                format!(
                    "a `#[{attribute}]` argument is stored in {stored_in} and cannot be \
                     `impl Trait`; name the type"
                ),
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
    let krate = paths::runtime(options.krate.as_ref());
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
    let serdes = match &options.serdes {
        Some(expr) => quote_spanned! {expr.span()=>
            type Serdes = ::std::boxed::Box<dyn #krate::Serdes<#ok>>;

            fn serdes(&self) -> Self::Serdes {
                ::std::boxed::Box::new(#expr)
            }
        },
        None => quote! {
            type Serdes = #krate::JsonSerdes;

            fn serdes(&self) -> Self::Serdes {
                #krate::JsonSerdes
            }
        },
    };
    let ctor_args = step
        .args
        .iter()
        .map(|Arg { ident, ty }| quote!(#ident: #ty));

    // Resolved at the macro's site, so an argument named `step` cannot
    // shadow it.
    let context = Ident::new("step", Span::mixed_site());
    // The constructor and the step value's type are the user's items; the
    // impls go in an anonymous const block so that nothing else is named.
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
        const _: () = {
            impl #ident {
                #[doc = #call_doc]
                #[allow(clippy::too_many_arguments)]
                #vis async fn call(#inputs) #output_ty #block
            }

            impl #krate::StepBody for #ident {
                type Output = #ok;
                type Error = #err;
                #serdes

                fn run(
                    self,
                    #context: #krate::StepContext,
                ) -> impl ::core::future::Future<Output = ::core::result::Result<#ok, #err>>
                       + ::core::marker::Send {
                    let Self { #(#names),* } = self;
                    Self::call(#context, #(#names),*)
                }

                fn defaults(&self) -> #krate::StepDefaults {
                    #krate::StepDefaults {
                        name: ::core::option::Option::Some(::std::string::String::from(#name)),
                        retry: #retry,
                        semantics: #semantics,
                    }
                }
            }
        };
    }
}
