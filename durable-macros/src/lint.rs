//! The determinism lint: calls whose result differs between invocations are
//! rejected in the body of a workflow, outside step bodies.
//!
//! Besides the calls listed in [`CALLS`] and [`MACROS`], a `for` loop over a
//! `HashMap` or `HashSet` (a local variable or parameter declared as one, or
//! a reference, `.iter()`, `.keys()`, `.values()`, `.into_iter()` or
//! `.drain()` of one) is rejected when its body calls a durable operation:
//! the iteration order is random per process, so replay would meet the
//! operations in another order.
//!
//! Opt-out: `#[durable::allow_nondeterministic]` on a statement or an
//! expression. The marker is removed from the output (custom attributes on
//! statements and expressions are not accepted by stable Rust otherwise).

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Block, Expr, FnArg, Macro, Pat, Path, Signature, Stmt, Token, Type};

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

/// Methods that start a durable operation on any receiver.
const OPERATIONS: &[&str] = &[
    "step",
    "wait",
    "run_in_child_context",
    "create_callback",
    "wait_for_callback",
    "wait_for_condition",
    "invoke",
];

/// Methods that start a durable operation on the context variable only
/// (`map` is an iterator method too).
const CONTEXT_OPERATIONS: &[&str] = &["map", "parallel"];

/// Methods through which a `for` loop iterates a collection in its own order.
const ITERATION: &[&str] = &[
    "iter",
    "iter_mut",
    "keys",
    "values",
    "values_mut",
    "into_iter",
    "into_keys",
    "into_values",
    "drain",
];

/// Lints the body of a workflow function whose signature is `sig` and whose
/// context argument is `context`, recording one error per rejected call, and
/// strips the opt-out markers.
pub(crate) fn check(
    sig: &Signature,
    context: Option<&Pat>,
    block: &mut Block,
    errors: &mut Errors,
) {
    let mut visitor = Lint {
        errors: Some(errors),
        quiet: 0,
        scopes: vec![Vec::new()],
        context: context.and_then(binding_name),
    };
    for arg in &sig.inputs {
        if let FnArg::Typed(typed) = arg {
            visitor.bind_pattern(&typed.pat, hash_type(&typed.ty));
        }
    }
    visitor.visit_block_mut(block);
}

/// Strips the opt-out markers without linting (step bodies).
pub(crate) fn strip_markers(block: &mut Block) {
    let mut visitor = Lint {
        errors: None,
        quiet: 0,
        scopes: vec![Vec::new()],
        context: None,
    };
    visitor.visit_block_mut(block);
}

struct Lint<'a> {
    /// `None`: strip markers only.
    errors: Option<&'a mut Errors>,
    /// Depth of regions where the lint is off (opted out, step bodies,
    /// nested items).
    quiet: usize,
    /// The variables in scope, innermost last, with the hash collection each
    /// is known to be (`"HashMap"`, `"HashSet"`) or `None`. A later binding
    /// of the same name shadows an earlier one.
    scopes: Vec<Vec<(String, Option<&'static str>)>>,
    /// The name of the `DurableContext` argument.
    context: Option<String>,
}

/// The variable a simple pattern binds (`x`, `mut x`, `x: T`).
fn binding_name(pat: &Pat) -> Option<String> {
    match pat {
        Pat::Ident(ident) if ident.subpat.is_none() => Some(ident.ident.to_string()),
        Pat::Type(typed) => binding_name(&typed.pat),
        _ => None,
    }
}

/// `HashMap`/`HashSet` when `ty` is one, or a reference to one.
fn hash_type(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Reference(reference) => hash_type(&reference.elem),
        Type::Paren(paren) => hash_type(&paren.elem),
        Type::Group(group) => hash_type(&group.elem),
        Type::Path(path) if path.qself.is_none() => hash_path(&path.path),
        _ => None,
    }
}

fn hash_path(path: &Path) -> Option<&'static str> {
    let last = path.segments.last()?;
    if last.ident == "HashMap" {
        Some("HashMap")
    } else if last.ident == "HashSet" {
        Some("HashSet")
    } else {
        None
    }
}

/// `HashMap`/`HashSet` when `init` builds one: `HashMap::new()`,
/// `with_capacity`, `default`, `from`, `from_iter`, or
/// `collect::<HashMap<..>>()`.
fn hash_init(init: &Expr) -> Option<&'static str> {
    match init {
        Expr::Call(call) => {
            let Expr::Path(func) = &*call.func else {
                return None;
            };
            let segments = &func.path.segments;
            let constructor = segments.last()?.ident.to_string();
            let owner = segments.iter().rev().nth(1)?;
            let is_constructor = matches!(
                constructor.as_str(),
                "new"
                    | "with_capacity"
                    | "default"
                    | "from"
                    | "from_iter"
                    | "with_hasher"
                    | "with_capacity_and_hasher"
            );
            match owner.ident.to_string().as_str() {
                "HashMap" if is_constructor => Some("HashMap"),
                "HashSet" if is_constructor => Some("HashSet"),
                _ => None,
            }
        }
        Expr::MethodCall(call) if call.method == "collect" => {
            call.turbofish.as_ref().and_then(|turbofish| {
                turbofish.args.iter().find_map(|arg| match arg {
                    syn::GenericArgument::Type(ty) => hash_type(ty),
                    _ => None,
                })
            })
        }
        Expr::Paren(paren) => hash_init(&paren.expr),
        Expr::Group(group) => hash_init(&group.expr),
        _ => None,
    }
}

/// The variable a `for` loop iterates when it is a plain name, possibly
/// behind `&`, `&mut` or one of the [`ITERATION`] methods.
fn iterated_variable(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Reference(reference) => iterated_variable(&reference.expr),
        Expr::Paren(paren) => iterated_variable(&paren.expr),
        Expr::Group(group) => iterated_variable(&group.expr),
        Expr::MethodCall(call)
            if call.args.is_empty() && ITERATION.iter().any(|m| call.method == m) =>
        {
            match &*call.receiver {
                Expr::Path(_) | Expr::Paren(_) | Expr::Group(_) | Expr::Reference(_) => {
                    iterated_variable(&call.receiver)
                }
                _ => None,
            }
        }
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().map(ToString::to_string),
        _ => None,
    }
}

/// Finds a durable operation call in a loop body.
struct FindsOperation<'a> {
    context: Option<&'a str>,
    found: bool,
}

// `VisitMut` on a copy: syn's `visit` feature is not enabled, and the copy is
// only made for loops over hash collections.
impl VisitMut for FindsOperation<'_> {
    fn visit_expr_method_call_mut(&mut self, call: &mut syn::ExprMethodCall) {
        let method = call.method.to_string();
        let on_context = || match &*call.receiver {
            Expr::Path(path) => self
                .context
                .is_some_and(|context| path.path.is_ident(context)),
            _ => false,
        };
        if OPERATIONS.contains(&method.as_str())
            || (CONTEXT_OPERATIONS.contains(&method.as_str()) && on_context())
        {
            self.found = true;
        }
        visit_mut::visit_expr_method_call_mut(self, call);
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        if let Ok(mut exprs) =
            Punctuated::<Expr, Token![,]>::parse_terminated.parse2(mac.tokens.clone())
        {
            for expr in exprs.iter_mut() {
                self.visit_expr_mut(expr);
            }
        }
    }
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

    /// Runs `f` in a new scope of variables.
    fn scoped(&mut self, f: impl FnOnce(&mut Self)) {
        self.scopes.push(Vec::new());
        f(self);
        self.scopes.pop();
    }

    fn bind(&mut self, name: String, kind: Option<&'static str>) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push((name, kind));
        }
    }

    /// Binds the variables of `pat`: a simple binding gets `kind`, those of a
    /// destructuring pattern are not hash collections.
    fn bind_pattern(&mut self, pat: &Pat, kind: Option<&'static str>) {
        match pat {
            Pat::Type(typed) => {
                let kind = hash_type(&typed.ty).or(kind);
                self.bind_pattern(&typed.pat, kind);
            }
            Pat::Ident(ident) if ident.subpat.is_none() => {
                self.bind(ident.ident.to_string(), kind);
            }
            other => {
                let mut names = Names(Vec::new());
                names.visit_pat_mut(&mut other.clone());
                for name in names.0 {
                    self.bind(name, None);
                }
            }
        }
    }

    fn kind_of(&self, name: &str) -> Option<&'static str> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|scope| scope.iter().rev())
            .find(|(bound, _)| bound == name)
            .and_then(|(_, kind)| *kind)
    }

    /// Rejects `for .. in <hash collection>` whose body calls a durable
    /// operation.
    fn check_for_loop(&mut self, for_loop: &syn::ExprForLoop) {
        if self.quiet > 0 || self.errors.is_none() {
            return;
        }
        let Some(name) = iterated_variable(&for_loop.expr) else {
            return;
        };
        let Some(kind) = self.kind_of(&name) else {
            return;
        };
        let mut finder = FindsOperation {
            context: self.context.as_deref(),
            found: false,
        };
        finder.visit_block_mut(&mut for_loop.body.clone());
        if !finder.found {
            return;
        }
        let alternative = if kind == "HashMap" {
            "BTreeMap"
        } else {
            "BTreeSet"
        };
        let message = format!(
            "iterating the `{kind}` `{name}` visits its entries in an order that changes from \
             one process to the next, and this loop calls durable operations, so replay would \
             meet them in another order; sort first: collect the entries into a `Vec` and sort \
             it, or use a `{alternative}` (or opt out with `#[durable::allow_nondeterministic]`)"
        );
        self.report(&for_loop.expr, message);
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

/// Every variable a pattern binds.
struct Names(Vec<String>);

impl VisitMut for Names {
    fn visit_pat_ident_mut(&mut self, ident: &mut syn::PatIdent) {
        self.0.push(ident.ident.to_string());
        visit_mut::visit_pat_ident_mut(self, ident);
    }
}

impl VisitMut for Lint<'_> {
    fn visit_block_mut(&mut self, block: &mut Block) {
        self.scoped(|this| visit_mut::visit_block_mut(this, block));
    }

    fn visit_local_mut(&mut self, local: &mut syn::Local) {
        // The initializer runs before the bindings exist.
        if let Some(init) = &mut local.init {
            self.visit_expr_mut(&mut init.expr);
            if let Some((_, diverge)) = &mut init.diverge {
                self.visit_expr_mut(diverge);
            }
        }
        let kind = local.init.as_ref().and_then(|init| hash_init(&init.expr));
        self.bind_pattern(&local.pat, kind);
    }

    fn visit_pat_mut(&mut self, pat: &mut Pat) {
        // Bindings of `if let`, `while let`, `match` arms and closures:
        // never hash collections as far as the lint knows (they shadow).
        self.bind_pattern(pat, None);
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        self.scoped(|this| visit_mut::visit_arm_mut(this, arm));
    }

    fn visit_expr_closure_mut(&mut self, closure: &mut syn::ExprClosure) {
        self.scoped(|this| visit_mut::visit_expr_closure_mut(this, closure));
    }

    fn visit_expr_if_mut(&mut self, expr: &mut syn::ExprIf) {
        self.scoped(|this| visit_mut::visit_expr_if_mut(this, expr));
    }

    fn visit_expr_while_mut(&mut self, expr: &mut syn::ExprWhile) {
        self.scoped(|this| visit_mut::visit_expr_while_mut(this, expr));
    }

    fn visit_expr_for_loop_mut(&mut self, for_loop: &mut syn::ExprForLoop) {
        self.check_for_loop(for_loop);
        self.visit_expr_mut(&mut for_loop.expr);
        self.scoped(|this| {
            this.bind_pattern(&for_loop.pat, None);
            this.visit_block_mut(&mut for_loop.body);
        });
    }

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
        lint_fn(quote!(async fn handler(event: (), ctx: DurableContext) { #body }))
    }

    fn lint_fn(func: TokenStream) -> (String, usize) {
        let mut func: syn::ItemFn = syn::parse2(func).unwrap();
        let mut errors = Errors::default();
        let context = crate::execution::context_pattern(&func.sig);
        check(&func.sig, context.as_ref(), &mut func.block, &mut errors);
        let block = func.block;
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

    #[test]
    fn loops_over_hash_collections_that_call_durable_operations_are_counted() {
        let (_, count) = lint_fn(quote! {
            async fn handler(event: HashMap<String, u32>, ctx: DurableContext) {
                for (k, v) in &event { ctx.step(work(k)).await; }
                let set: std::collections::HashSet<u32> = Default::default();
                for x in set.iter() { ctx.wait(d).await; }
                let mut built = HashMap::new();
                for x in built.drain() { println!("{:?}", ctx.invoke(x)); }
                let collected = v.into_iter().collect::<HashSet<_>>();
                for x in collected { let _ = async { ctx.run_in_child_context(f).await }; }
                let keys = HashMap::<u8, u8>::with_capacity(3);
                for k in keys.keys() { ctx.map(k); }
            }
        });
        assert_eq!(count, 5);
    }

    #[test]
    fn loops_without_operations_sorted_loops_and_shadowed_names_pass() {
        let (_, count) = lint(quote! {
            let m = HashMap::new();
            for (k, v) in &m { total += v; }                   // no durable operation
            for k in m.keys() { names.map(k); }                // `map` not on the context
            let mut sorted: Vec<_> = m.into_iter().collect();
            sorted.sort();
            for (k, v) in sorted { ctx.step(work(k)).await; }  // sorted first
            {
                let m = vec![1, 2];                            // shadows the map
                for x in &m { ctx.step(work(x)).await; }
            }
            if let Some(m) = other { for x in m.iter() { ctx.step(work(x)).await; } }
            let b: BTreeMap<u8, u8> = BTreeMap::new();
            for x in &b { ctx.step(work(x)).await; }
            #[durable::allow_nondeterministic]
            for x in &m { ctx.step(work(x)).await; }
        });
        assert_eq!(count, 0);
    }

    #[test]
    fn a_map_declared_in_an_outer_block_is_still_known_inside() {
        let (_, count) = lint(quote! {
            let m: &HashMap<u8, u8> = &input;
            if ready {
                for x in m.values() { ctx.step(work(x)).await; }
            }
            let m = vec![1];
            for x in &m { ctx.step(work(x)).await; }
        });
        assert_eq!(count, 1);
    }
}
