//! The determinism lint: calls whose result differs between invocations are
//! rejected in the body of a workflow, outside step bodies.
//!
//! Opt-out: `#[durable::allow_nondeterministic]` on a statement or an
//! expression. The marker is removed from the output (custom attributes on
//! statements and expressions are not accepted by stable Rust otherwise).

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Block, Expr, Macro, Path, Stmt, Token};

use crate::diag::Errors;

/// What a rejected call should be replaced with.
const IN_A_STEP: &str = "run it inside a step (`ctx.step(..)`), whose result is recorded";

/// Paths (by suffix) that are rejected when called, with the reason and the
/// deterministic alternative.
const CALLS: &[(&[&str], &str, &str)] = &[
    (
        &["SystemTime", "now"],
        "reads the wall clock, which differs on replay",
        IN_A_STEP,
    ),
    (
        &["Instant", "now"],
        "reads the clock, which differs on replay",
        IN_A_STEP,
    ),
    (
        &["Utc", "now"],
        "reads the wall clock, which differs on replay",
        IN_A_STEP,
    ),
    (
        &["Local", "now"],
        "reads the wall clock, which differs on replay",
        IN_A_STEP,
    ),
    (
        &["rand", "random"],
        "draws random numbers, which differ on replay",
        IN_A_STEP,
    ),
    (
        &["rand", "rng"],
        "draws random numbers, which differ on replay",
        IN_A_STEP,
    ),
    (
        &["thread_rng"],
        "draws random numbers, which differ on replay",
        IN_A_STEP,
    ),
    (
        &["Uuid", "new_v4"],
        "draws a random id, which differs on replay",
        IN_A_STEP,
    ),
    (
        &["Uuid", "now_v7"],
        "draws a time-based id, which differs on replay",
        IN_A_STEP,
    ),
    (
        &["env", "var"],
        "reads the environment, which may differ on replay",
        "run it inside a step, or read it before the workflow starts",
    ),
    (
        &["env", "var_os"],
        "reads the environment, which may differ on replay",
        "run it inside a step, or read it before the workflow starts",
    ),
    (
        &["time", "sleep"],
        "sleeps inside the invocation, billing the wait and restarting it on replay",
        "use `ctx.wait(duration)`, which suspends the execution without compute",
    ),
    (
        &["tokio", "spawn"],
        "starts work that replay cannot track or order",
        "use map, parallel, child contexts or the combinators",
    ),
    (
        &["task", "spawn"],
        "starts work that replay cannot track or order",
        "use map, parallel, child contexts or the combinators",
    ),
    (
        &["thread", "spawn"],
        "starts work that replay cannot track or order",
        "use map, parallel, child contexts or the combinators",
    ),
];

/// Macros (by last segment) that are rejected.
const MACROS: &[(&str, &str, &str)] = &[(
    "select",
    "picks a branch by timing, which differs on replay",
    "use the combinators",
)];

/// Lints the body of a workflow function, recording one error per rejected
/// call, and strips the opt-out markers.
pub(crate) fn check(block: &mut Block, errors: &mut Errors) {
    let mut visitor = Lint {
        errors: Some(errors),
        quiet: 0,
    };
    visitor.visit_block_mut(block);
}

/// Strips the opt-out markers without linting (step bodies).
pub(crate) fn strip_markers(block: &mut Block) {
    let mut visitor = Lint {
        errors: None,
        quiet: 0,
    };
    visitor.visit_block_mut(block);
}

struct Lint<'a> {
    /// `None`: strip markers only.
    errors: Option<&'a mut Errors>,
    /// Depth of regions where the lint is off (opted out, step bodies,
    /// nested items).
    quiet: usize,
}

fn is_marker(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    matches!(
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["durable", "allow_nondeterministic"] | ["durable_macros", "allow_nondeterministic"]
    )
}

/// Removes the markers; whether there was one.
fn strip(attrs: &mut Vec<Attribute>) -> bool {
    let before = attrs.len();
    attrs.retain(|attr| !is_marker(attr));
    attrs.len() != before
}

fn expr_attrs(expr: &mut Expr) -> Option<&mut Vec<Attribute>> {
    Some(match expr {
        Expr::Array(e) => &mut e.attrs,
        Expr::Assign(e) => &mut e.attrs,
        Expr::Async(e) => &mut e.attrs,
        Expr::Await(e) => &mut e.attrs,
        Expr::Binary(e) => &mut e.attrs,
        Expr::Block(e) => &mut e.attrs,
        Expr::Break(e) => &mut e.attrs,
        Expr::Call(e) => &mut e.attrs,
        Expr::Cast(e) => &mut e.attrs,
        Expr::Closure(e) => &mut e.attrs,
        Expr::Const(e) => &mut e.attrs,
        Expr::Continue(e) => &mut e.attrs,
        Expr::Field(e) => &mut e.attrs,
        Expr::ForLoop(e) => &mut e.attrs,
        Expr::Group(e) => &mut e.attrs,
        Expr::If(e) => &mut e.attrs,
        Expr::Index(e) => &mut e.attrs,
        Expr::Let(e) => &mut e.attrs,
        Expr::Lit(e) => &mut e.attrs,
        Expr::Loop(e) => &mut e.attrs,
        Expr::Macro(e) => &mut e.attrs,
        Expr::Match(e) => &mut e.attrs,
        Expr::MethodCall(e) => &mut e.attrs,
        Expr::Paren(e) => &mut e.attrs,
        Expr::Path(e) => &mut e.attrs,
        Expr::Range(e) => &mut e.attrs,
        Expr::Reference(e) => &mut e.attrs,
        Expr::Repeat(e) => &mut e.attrs,
        Expr::Return(e) => &mut e.attrs,
        Expr::Struct(e) => &mut e.attrs,
        Expr::Try(e) => &mut e.attrs,
        Expr::TryBlock(e) => &mut e.attrs,
        Expr::Tuple(e) => &mut e.attrs,
        Expr::Unary(e) => &mut e.attrs,
        Expr::Unsafe(e) => &mut e.attrs,
        Expr::While(e) => &mut e.attrs,
        Expr::Yield(e) => &mut e.attrs,
        _ => return None,
    })
}

fn ends_with(path: &Path, suffix: &[&str]) -> bool {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.len() >= suffix.len()
        && segments[segments.len() - suffix.len()..]
            .iter()
            .zip(suffix)
            .all(|(a, b)| a == b)
}

fn display(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

impl Lint<'_> {
    fn quietly(&mut self, f: impl FnOnce(&mut Self)) {
        self.quiet += 1;
        f(self);
        self.quiet -= 1;
    }

    fn report(&mut self, tokens: impl ToTokens, message: String) {
        if self.quiet == 0
            && let Some(errors) = self.errors.as_deref_mut()
        {
            errors.spanned(tokens, message);
        }
    }

    fn check_call(&mut self, func: &Expr) {
        let Expr::Path(path) = func else { return };
        for (suffix, why, instead) in CALLS {
            if ends_with(&path.path, suffix) {
                let message = format!(
                    "`{}` {why}; {instead} \
                     (or opt out with `#[durable::allow_nondeterministic]`)",
                    display(&path.path)
                );
                self.report(func, message);
                return;
            }
        }
    }

    fn check_macro(&mut self, mac: &mut Macro) {
        for (last, why, instead) in MACROS {
            if mac.path.segments.last().is_some_and(|s| s.ident == last) {
                let message = format!(
                    "`{}!` {why}; {instead} (or opt out with `#[durable::allow_nondeterministic]`)",
                    display(&mac.path)
                );
                self.report(&mac.path, message);
                return;
            }
        }
        // Best effort: look into macros whose input is a list of expressions
        // (`println!`, `format!`, `vec!`, `assert!`, ...).
        let Ok(mut exprs) =
            Punctuated::<Expr, Token![,]>::parse_terminated.parse2(mac.tokens.clone())
        else {
            return;
        };
        let before: TokenStream = exprs.to_token_stream();
        for expr in exprs.iter_mut() {
            self.visit_expr_mut(expr);
        }
        let after = exprs.to_token_stream();
        if before.to_string() != after.to_string() {
            mac.tokens = after;
        }
    }
}

impl VisitMut for Lint<'_> {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        let attrs = match stmt {
            Stmt::Local(local) => Some(&mut local.attrs),
            Stmt::Macro(mac) => Some(&mut mac.attrs),
            Stmt::Expr(expr, _) => expr_attrs(expr),
            Stmt::Item(_) => None,
        };
        let allowed = attrs.is_some_and(strip);
        if allowed || matches!(stmt, Stmt::Item(_)) {
            self.quietly(|this| visit_mut::visit_stmt_mut(this, stmt));
        } else {
            visit_mut::visit_stmt_mut(self, stmt);
        }
    }

    fn visit_stmt_macro_mut(&mut self, stmt: &mut syn::StmtMacro) {
        self.check_macro(&mut stmt.mac);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if expr_attrs(expr).is_some_and(strip) {
            self.quietly(|this| this.visit_expr_mut(expr));
            return;
        }
        match expr {
            Expr::Call(call) => {
                self.check_call(&call.func);
                visit_mut::visit_expr_call_mut(self, call);
            }
            Expr::Macro(mac) => self.check_macro(&mut mac.mac),
            // The arguments of `.step(..)` are the step's body: the lint does
            // not apply there.
            Expr::MethodCall(call) if call.method == "step" => {
                self.visit_expr_mut(&mut call.receiver);
                for arg in call.args.iter_mut() {
                    self.quietly(|this| this.visit_expr_mut(arg));
                }
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};

    use super::*;

    fn lint(body: TokenStream) -> (String, usize) {
        let mut block: Block = syn::parse2(quote!({ #body })).unwrap();
        let mut errors = Errors::default();
        check(&mut block, &mut errors);
        let count = errors
            .finish()
            .err()
            .map_or(0, |error| error.into_iter().count());
        (block.to_token_stream().to_string(), count)
    }

    #[test]
    fn rejected_calls_are_counted_outside_steps_only() {
        let (_, count) = lint(quote! {
            let a = SystemTime::now();
            let b = ctx.step(|_| async { Ok(SystemTime::now()) }).await;
            let c = std::env::var("X");
            fn helper() { let _ = Instant::now(); }
        });
        assert_eq!(count, 2);
    }

    #[test]
    fn the_opt_out_marker_is_removed_and_silences_the_lint() {
        let (out, count) = lint(quote! {
            #[durable::allow_nondeterministic]
            let a = SystemTime::now();
            let b = #[durable::allow_nondeterministic] rand::random();
            println!("{:?}", #[durable::allow_nondeterministic] Instant::now());
        });
        assert_eq!(count, 0);
        assert!(!out.contains("allow_nondeterministic"), "{out}");
    }
}
