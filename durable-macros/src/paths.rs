//! Where the generated code finds durable-core.
//!
//! A user depends on one facade (`durable-lambda`, or `durable-local` in a
//! test-only crate) or on `durable-core` itself, and must not need any other
//! import for the expansion to compile. A proc macro cannot ask the compiler
//! which crates are in scope, so at expansion time it reads the manifest of
//! the crate being compiled (`$CARGO_MANIFEST_DIR/Cargo.toml`) and picks, in
//! this order:
//!
//! 1. `::durable_lambda::__core` when `durable-lambda` is a dependency;
//! 2. `::durable_local::__core` when `durable-local` is;
//! 3. `::durable_core` otherwise.
//!
//! Renamed dependencies (`dl = { package = "durable-lambda" }`) are followed.
//! Inside the three crates themselves the path starts with `crate`. A
//! `crate = "…"` option on the attribute wins over all of this.

use std::path::Path;

use proc_macro2::TokenStream;
use quote::quote;

/// The crates that re-export durable-core as `__core`, by preference.
const FACADES: &[&str] = &["durable-lambda", "durable-local"];
const CORE: &str = "durable-core";

/// The path generated code uses for durable-core: the `crate = "…"` option
/// when given, otherwise the one the manifest of the crate being compiled
/// calls for.
pub(crate) fn runtime(option: Option<&syn::Path>) -> TokenStream {
    if let Some(path) = option {
        return quote!(#path);
    }
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|dir| std::fs::read_to_string(Path::new(&dir).join("Cargo.toml")).ok());
    let crate_name = std::env::var("CARGO_CRATE_NAME").ok();
    let path = match manifest {
        Some(text) => choose(&Manifest::parse(&text), crate_name.as_deref()),
        None => "::durable_core".to_owned(),
    };
    match syn::parse_str::<syn::Path>(&path) {
        Ok(path) => quote!(#path),
        Err(_) => quote!(::durable_core),
    }
}

/// `durable-lambda` and `durable_lambda` name the same package.
fn same(a: &str, b: &str) -> bool {
    a.replace('_', "-") == b.replace('_', "-")
}

fn ident(name: &str) -> String {
    name.replace('-', "_")
}

/// The runtime path for a manifest, as text.
fn choose(manifest: &Manifest, crate_name: Option<&str>) -> String {
    let own = manifest.package.as_deref();
    // The library of a facade or of durable-core itself.
    if let Some(own) = own
        && crate_name.is_some_and(|name| same(name, own))
    {
        if FACADES.iter().any(|facade| same(own, facade)) {
            return "crate::__core".to_owned();
        }
        if same(own, CORE) {
            return "crate".to_owned();
        }
    }
    for facade in FACADES {
        if let Some((key, _)) = manifest
            .dependencies
            .iter()
            .find(|(_, package)| same(package, facade))
        {
            return format!("::{}::__core", ident(key));
        }
        // The tests, benches and examples of a facade see its library.
        if own.is_some_and(|own| same(own, facade)) {
            return format!("::{}::__core", ident(facade));
        }
    }
    match manifest
        .dependencies
        .iter()
        .find(|(_, package)| same(package, CORE))
    {
        Some((key, _)) => format!("::{}", ident(key)),
        None => "::durable_core".to_owned(),
    }
}

/// What the macro needs from a `Cargo.toml`: the package's name and its
/// dependencies as `(name in code, package)`.
#[derive(Debug, Default, PartialEq)]
struct Manifest {
    package: Option<String>,
    dependencies: Vec<(String, String)>,
}

/// The table a line belongs to.
enum Table {
    Package,
    /// `[dependencies]`, `[dev-dependencies]`, `[target.'…'.dependencies]`.
    Dependencies,
    /// `[dependencies.name]`: one dependency; its index in `dependencies`.
    Dependency(usize),
    Other,
}

impl Manifest {
    /// Line scanning, not a TOML parser: table headers, `key = value` and
    /// dotted `key.field = value` lines, and `package = "…"` renames written
    /// inline, dotted, or in a `[dependencies.key]` table. Multi-line inline
    /// tables are not followed.
    fn parse(text: &str) -> Self {
        let mut manifest = Manifest::default();
        let mut table = Table::Other;
        for line in text.lines() {
            let line = strip_comment(line).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                table = if header.starts_with('[') {
                    Table::Other
                } else {
                    manifest.header(header.trim_end_matches(']'))
                };
                continue;
            }
            let Some((key, value)) = split_outside_quotes(line, '=') else {
                continue;
            };
            let key_parts = dotted(key);
            let value = value.trim();
            match &table {
                Table::Package => {
                    if key_parts == ["name"] {
                        manifest.package = unquote(value);
                    }
                }
                Table::Dependencies => {
                    let Some(name) = key_parts.first() else {
                        continue;
                    };
                    let index = manifest.dependency(name);
                    let rename = match key_parts.as_slice() {
                        [_, field] if field == "package" => unquote(value),
                        [_] => inline_package(value),
                        _ => None,
                    };
                    if let Some(package) = rename {
                        manifest.dependencies[index].1 = package;
                    }
                }
                Table::Dependency(index) => {
                    if key_parts == ["package"]
                        && let Some(package) = unquote(value)
                    {
                        manifest.dependencies[*index].1 = package;
                    }
                }
                Table::Other => {}
            }
        }
        manifest
    }

    fn header(&mut self, header: &str) -> Table {
        let parts = dotted(header);
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let is_deps = |table: &str| matches!(table, "dependencies" | "dev-dependencies");
        match parts.as_slice() {
            ["package"] => Table::Package,
            [table] | ["target", _, table] if is_deps(table) => Table::Dependencies,
            [table, name] | ["target", _, table, name] if is_deps(table) => {
                Table::Dependency(self.dependency(name))
            }
            _ => Table::Other,
        }
    }

    /// The index of the dependency `name`, added (as its own package) if new.
    fn dependency(&mut self, name: &str) -> usize {
        match self.dependencies.iter().position(|(key, _)| key == name) {
            Some(index) => index,
            None => {
                self.dependencies.push((name.to_owned(), name.to_owned()));
                self.dependencies.len() - 1
            }
        }
    }
}

/// The line up to a `#` that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (index, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, '#') => return &line[..index],
            _ => {}
        }
    }
    line
}

/// Splits at the first `separator` outside quotes.
fn split_outside_quotes(text: &str, separator: char) -> Option<(&str, &str)> {
    let mut quote = None;
    for (index, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, c) if c == separator => {
                return Some((&text[..index], &text[index + c.len_utf8()..]));
            }
            _ => {}
        }
    }
    None
}

/// `a."b.c".d` → `["a", "b.c", "d"]`.
fn dotted(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = key.trim();
    while let Some((part, tail)) = split_outside_quotes(rest, '.') {
        parts.push(unquote(part.trim()).unwrap_or_else(|| part.trim().to_owned()));
        rest = tail.trim();
    }
    parts.push(unquote(rest).unwrap_or_else(|| rest.to_owned()));
    parts
}

/// The content of a `"…"` or `'…'` string.
fn unquote(value: &str) -> Option<String> {
    let value = value.trim();
    ['"', '\''].iter().find_map(|&quote| {
        value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
            .map(str::to_owned)
    })
}

/// The `package = "…"` of an inline table `{ …, package = "…", … }`.
fn inline_package(value: &str) -> Option<String> {
    let mut rest = value.strip_prefix('{')?.trim_end().strip_suffix('}')?;
    while !rest.trim().is_empty() {
        let (entry, tail) = split_outside_quotes(rest, ',').unwrap_or((rest, ""));
        if let Some((key, value)) = split_outside_quotes(entry, '=')
            && key.trim() == "package"
        {
            return unquote(value);
        }
        rest = tail;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(manifest: &str, crate_name: &str) -> String {
        choose(&Manifest::parse(manifest), Some(crate_name))
    }

    #[test]
    fn a_facade_dependency_wins_over_durable_core() {
        let manifest = r#"
            [package]
            name = "orders"

            [dependencies]
            durable-core = { path = "../durable-core" }
            durable-lambda.workspace = true # the facade
            serde = "1"

            [dev-dependencies]
            durable-local = { workspace = true }
        "#;
        assert_eq!(path(manifest, "orders"), "::durable_lambda::__core");
    }

    #[test]
    fn durable_local_alone_and_durable_core_alone() {
        let local = "[package]\nname = \"t\"\n[dev-dependencies]\ndurable-local = \"0.1\"\n";
        assert_eq!(path(local, "t"), "::durable_local::__core");
        let core = "[package]\nname = \"t\"\n[dependencies]\ndurable_core = \"0.1\"\n";
        assert_eq!(path(core, "t"), "::durable_core");
        assert_eq!(path("[package]\nname = \"t\"\n", "t"), "::durable_core");
    }

    #[test]
    fn renames_are_followed_in_every_spelling() {
        let inline = "[dependencies]\ndl = { version = \"0.1\", package = \"durable-lambda\" }\n";
        assert_eq!(path(inline, "t"), "::dl::__core");
        let dotted = "[dependencies]\nlocal.package = \"durable-local\"\nlocal.version = \"0.1\"\n";
        assert_eq!(path(dotted, "t"), "::local::__core");
        let table = "[dependencies.engine]\npackage = 'durable-core'\nversion = \"0.1\"\n";
        assert_eq!(path(table, "t"), "::engine");
        let target = "[target.'cfg(unix)'.dependencies]\n\"durable-local\" = { path = \"x\" }\n";
        assert_eq!(path(target, "t"), "::durable_local::__core");
    }

    #[test]
    fn workspace_dependency_tables_and_commented_lines_do_not_count() {
        let manifest = r#"
            [package]
            name = "t"
            [dependencies.durable-core]
            workspace = true
            [dependencies]
            # durable-lambda = "0.1"
            [workspace.dependencies.durable-lambda]
            path = "x"
            [workspace.dependencies]
            durable-local = "0.1"
        "#;
        assert_eq!(path(manifest, "t"), "::durable_core");
    }

    #[test]
    fn inside_the_runtime_crates_paths_start_with_crate() {
        let core = "[package]\nname = \"durable-core\"\n";
        assert_eq!(path(core, "durable_core"), "crate");
        // Its integration tests are other crates, which see `::durable_core`.
        assert_eq!(path(core, "replay"), "::durable_core");
        let local =
            "[package]\nname = \"durable-local\"\n[dependencies]\ndurable-core.workspace = true\n";
        assert_eq!(path(local, "durable_local"), "crate::__core");
        assert_eq!(path(local, "engine"), "::durable_local::__core");
    }
}
