//! Shape checks shared by the attributes: async-ness, context arguments and
//! `Result` return types.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, PathArguments, ReturnType, Signature, Type};

use crate::diag::Errors;

/// Whether `ty` names a type whose last path segment is `name`
/// (`StepContext`, `durable_core::StepContext`, ...).
pub(crate) fn is_named(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == name),
        Type::Group(group) => is_named(&group.elem, name),
        Type::Paren(paren) => is_named(&paren.elem, name),
        _ => false,
    }
}

/// The declared type of an argument; `None` for a receiver.
pub(crate) fn arg_type(arg: &FnArg) -> Option<&Type> {
    match arg {
        FnArg::Typed(typed) => Some(&typed.ty),
        FnArg::Receiver(_) => None,
    }
}

/// Rejects `fn` (must be `async fn`), receivers and the qualifiers that a
/// durable function cannot have.
pub(crate) fn check_common(sig: &Signature, attribute: &str, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format!("`#[{attribute}]` applies to an `async fn`; add `async` before `fn`"),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.spanned(
            constness,
            format!("`#[{attribute}]` cannot be a `const fn`"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, format!("`#[{attribute}]` cannot be variadic"));
    }
    for arg in &sig.inputs {
        if let FnArg::Receiver(receiver) = arg {
            errors.spanned(
                receiver,
                format!("`#[{attribute}]` applies to free functions, not methods taking `self`"),
            );
        }
    }
}

/// `T` and `E` of a `Result<T, E>` return type, or an error on the type.
pub(crate) fn result_parts(
    sig: &Signature,
    attribute: &str,
    expected: &str,
    errors: &mut Errors,
) -> Option<(Type, Type)> {
    let ty = match &sig.output {
        ReturnType::Type(_, ty) => ty,
        ReturnType::Default => {
            errors.at(
                sig.paren_token.span.close(),
                format!("a `#[{attribute}]` function returns `{expected}`; add `-> {expected}`"),
            );
            return None;
        }
    };
    let not_result = |errors: &mut Errors| {
        errors.spanned(
            ty,
            format!(
                "a `#[{attribute}]` function returns `{expected}`, spelled out with both parameters"
            ),
        );
    };
    let Type::Path(path) = peel(ty) else {
        not_result(errors);
        return None;
    };
    let Some(last) = path.path.segments.last() else {
        not_result(errors);
        return None;
    };
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        not_result(errors);
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match (last.ident == "Result", types.as_slice()) {
        (true, [ok, err]) => Some(((*ok).clone(), (*err).clone())),
        _ => {
            not_result(errors);
            None
        }
    }
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        _ => ty,
    }
}

/// The span of the argument list, for "missing argument" errors.
pub(crate) fn args_span(sig: &Signature) -> proc_macro2::Span {
    if sig.inputs.is_empty() {
        sig.paren_token.span.join()
    } else {
        sig.inputs.span()
    }
}
