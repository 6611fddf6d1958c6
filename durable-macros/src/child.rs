//! `#[durable_child]`: a function that runs as a named child context
//! (the Python SDK's `durable_with_child_context`). Parse, validate, lint,
//! expand.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitStr};

use crate::diag::{Errors, item_with_error};
use crate::execution::context_pattern;
use crate::lint;
use crate::options;
use crate::paths;
use crate::step::{self, Arg, Shape, StepFn};

const ATTRIBUTE: &str = "durable_child";
const KEYS: &[&str] = &["name", "crate"];

const SHAPE: Shape = Shape {
    attribute: ATTRIBUTE,
    context: "DurableContext",
    binding: "ctx",
    stored_in: "the child context",
};

/// Expands `#[durable_child(args)] item`.
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
    let mut name = None;
    let mut krate = None;
    for option in options::parse(args, ATTRIBUTE, KEYS, &mut errors) {
        match option.key.as_str() {
            "name" => name = options::string(&option, &mut errors),
            "crate" => krate = options::crate_path(&option, &mut errors),
            _ => errors.at(option.key_span, "unhandled option"),
        }
    }
    // A child context's body is workflow code: the lint applies.
    let context = context_pattern(&func.sig);
    lint::check(&func.sig, context.as_ref(), &mut func.block, &mut errors);
    let child = step::validate_shape(func.clone(), &SHAPE, &mut errors);
    match (errors.finish(), child) {
        (Ok(()), Some(child)) => generate(&child, name, &paths::runtime(krate.as_ref())),
        (Err(error), _) => item_with_error(quote!(#func), &error),
        (Ok(()), None) => quote!(#func),
    }
}

fn generate(child: &StepFn, name: Option<LitStr>, krate: &TokenStream) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = &child.func;
    let ident = &sig.ident;
    let inputs = &sig.inputs;
    let output_ty = &sig.output;
    let (ok, err) = (&child.output, &child.error);
    let names: Vec<&Ident> = child.args.iter().map(|arg| &arg.ident).collect();
    let cfgs: Vec<_> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();
    let name = name.unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    let ctor_args = child
        .args
        .iter()
        .map(|Arg { ident, ty }| quote!(#ident: #ty));
    let namespace_doc = format!(
        "The body of the child context `{}` ([`{ident}`](fn@{ident})), as a plain async \
         function: `{ident}::call(ctx, args…)` runs it in `ctx` itself, without a child \
         context of its own.",
        name.value()
    );
    // Spanned on the return type: an output that cannot be checkpointed is
    // reported there.
    let result = quote_spanned! {output_ty.span()=>
        ::core::result::Result<#ok, #err>
    };

    // Resolved at the macro's site, so arguments named `parent` or `ctx`
    // cannot clash with them.
    let parent = Ident::new("parent", Span::mixed_site());
    let context = Ident::new("ctx", Span::mixed_site());

    quote! {
        #(#attrs)*
        #[allow(clippy::too_many_arguments)]
        #vis fn #ident(
            #parent: &#krate::DurableContext,
            #(#ctor_args),*
        ) -> #krate::ChildContext<
            'static,
            impl ::core::ops::FnOnce(#krate::DurableContext) -> #krate::BoxFuture<'static, #result>
                + ::core::marker::Send
                + 'static
                + use<>,
        > {
            #parent
                .run_in_child_context(
                    move |#context: #krate::DurableContext| -> #krate::BoxFuture<'static, #result> {
                        ::std::boxed::Box::pin(#ident::call(#context, #(#names),*))
                    },
                )
                .name(#name)
        }

        #(#cfgs)*
        #[doc = #namespace_doc]
        #[allow(non_camel_case_types)]
        #vis enum #ident {}

        #(#cfgs)*
        const _: () = {
            impl #ident {
                #[doc = #namespace_doc]
                #[allow(clippy::too_many_arguments)]
                #vis async fn call(#inputs) #output_ty #block
            }
        };
    }
}
