//! A submitted script, checked before anything runs: size, Python 3 syntax, and a top-level main().

use rustpython_parser::ast::{ExceptHandler, Mod, Stmt};
use rustpython_parser::source_code::RandomLocator;
use rustpython_parser::{parse, Mode};

/// A script that parsed as Python 3 and defines `main` at module top level.
#[derive(Debug, Clone)]
pub struct PythonScript {
    source: String,
    main_is_async: bool,
    /// Top-level package of every absolute `import` and `from ... import`, anywhere in the
    /// script, sorted and without repeats: `import scipy.stats` gives "scipy".
    imports: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScriptError {
    #[error("the script is empty")]
    Empty,
    #[error("the script is {bytes} bytes; the limit is {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "the script must define main() at the top level (`def main():` or `async def main():`)"
    )]
    NoMain,
    #[error("the script could not be checked: {0}")]
    CheckFailed(String),
}

// The parser builds and drops the AST recursively. A 1 MiB chain like `a+a+a+...` nests half a
// million levels deep, so parsing runs on its own thread with a stack that such input cannot exhaust.
const PARSER_STACK_BYTES: usize = 1 << 30;

impl PythonScript {
    /// Checks a script. This is CPU work (up to tens of ms for a large script): call it off the
    /// async executor, e.g. inside `spawn_blocking`.
    pub fn parse(source: String, max_bytes: usize) -> Result<PythonScript, ScriptError> {
        if source.trim().is_empty() {
            return Err(ScriptError::Empty);
        }
        if source.len() > max_bytes {
            return Err(ScriptError::TooLarge {
                bytes: source.len(),
                max: max_bytes,
            });
        }
        if source.contains('\0') {
            // CPython refuses NUL bytes in source; say so before the parser trips over them.
            let offset = source.find('\0').unwrap_or(0);
            let (line, column) = line_column(&source, offset);
            return Err(ScriptError::Syntax {
                line,
                column,
                message: "source code cannot contain null bytes".to_string(),
            });
        }
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("script-parse".into())
                .stack_size(PARSER_STACK_BYTES)
                .spawn_scoped(scope, || check(&source))
                .map_err(|e| ScriptError::CheckFailed(e.to_string()))?;
            worker
                .join()
                .map_err(|_| ScriptError::CheckFailed("the parser panicked".to_string()))?
        })
        .map(|(main_is_async, imports)| PythonScript {
            source,
            main_is_async,
            imports,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn main_is_async(&self) -> bool {
        self.main_is_async
    }

    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

/// Parses, finds `main` among the module's own statements (not in classes, functions or blocks),
/// and collects the imports.
fn check(source: &str) -> Result<(bool, Vec<String>), ScriptError> {
    let module = parse(source, Mode::Module, "script.py").map_err(|e| {
        let (line, column) = line_column(source, e.offset.to_usize());
        ScriptError::Syntax {
            line,
            column,
            message: e.error.to_string(),
        }
    })?;
    let Mod::Module(module) = module else {
        return Err(ScriptError::CheckFailed("not a module".to_string()));
    };
    let main_is_async = module
        .body
        .iter()
        .rev() // a later definition wins, as at run time
        .find_map(|stmt| match stmt {
            Stmt::FunctionDef(f) if f.name.as_str() == "main" => Some(false),
            Stmt::AsyncFunctionDef(f) if f.name.as_str() == "main" => Some(true),
            _ => None,
        })
        .ok_or(ScriptError::NoMain)?;
    let mut imports = Vec::new();
    collect_imports(&module.body, &mut imports);
    imports.sort();
    imports.dedup();
    Ok((main_is_async, imports))
}

/// Walks statements (not expressions: an import is a statement) into every nested body.
/// Iterative, so that deeply nested blocks cannot exhaust the stack.
fn collect_imports(body: &[Stmt], out: &mut Vec<String>) {
    let mut pending: Vec<&[Stmt]> = vec![body];
    while let Some(stmts) = pending.pop() {
        for stmt in stmts {
            match stmt {
                Stmt::Import(s) => out.extend(s.names.iter().map(|a| top_level(&a.name))),
                Stmt::ImportFrom(s) if s.level.is_none_or(|l| l.to_u32() == 0) => {
                    out.extend(s.module.iter().map(|m| top_level(m)));
                }
                Stmt::FunctionDef(s) => pending.push(&s.body),
                Stmt::AsyncFunctionDef(s) => pending.push(&s.body),
                Stmt::ClassDef(s) => pending.push(&s.body),
                Stmt::For(s) => pending.extend([&s.body[..], &s.orelse[..]]),
                Stmt::AsyncFor(s) => pending.extend([&s.body[..], &s.orelse[..]]),
                Stmt::While(s) => pending.extend([&s.body[..], &s.orelse[..]]),
                Stmt::If(s) => pending.extend([&s.body[..], &s.orelse[..]]),
                Stmt::With(s) => pending.push(&s.body),
                Stmt::AsyncWith(s) => pending.push(&s.body),
                Stmt::Match(s) => pending.extend(s.cases.iter().map(|c| &c.body[..])),
                Stmt::Try(s) => {
                    pending.extend([&s.body[..], &s.orelse[..], &s.finalbody[..]]);
                    pending.extend(handler_bodies(&s.handlers));
                }
                Stmt::TryStar(s) => {
                    pending.extend([&s.body[..], &s.orelse[..], &s.finalbody[..]]);
                    pending.extend(handler_bodies(&s.handlers));
                }
                _ => {}
            }
        }
    }
}

fn handler_bodies(handlers: &[ExceptHandler]) -> impl Iterator<Item = &[Stmt]> {
    handlers.iter().map(|h| match h {
        ExceptHandler::ExceptHandler(h) => &h.body[..],
    })
}

fn top_level(name: &str) -> String {
    name.split('.').next().unwrap_or(name).to_owned()
}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let mut locator = RandomLocator::new(source);
    let loc = locator.locate(rustpython_parser::text_size::TextSize::new(offset as u32));
    (loc.row.get() as usize, loc.column.get() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(s: &str) -> PythonScript {
        PythonScript::parse(s.to_string(), 1 << 20).expect("valid script")
    }

    fn parse_err(s: &str) -> ScriptError {
        PythonScript::parse(s.to_string(), 1 << 20).expect_err("invalid script")
    }

    #[test]
    fn accepts_top_level_main() {
        assert!(!parse_ok("def main():\n    return 1\n").main_is_async());
        assert!(parse_ok("import asyncio\nasync def main():\n    return 1\n").main_is_async());
        parse_ok("@decorator\ndef main(x=1, *a, **k) -> int:\n    return 1\n");
        parse_ok("match x:\n    case 1:\n        pass\ndef main(): pass\n");
    }

    #[test]
    fn imports_are_collected_from_every_block() {
        let script = parse_ok(
            "import os, numpy.linalg as la\nfrom pandas import DataFrame\nfrom . import x\n\
             def main():\n    import scipy.stats\n    try:\n        import json\n    except ImportError:\n        from collections import abc\n    return 1\n",
        );
        assert_eq!(
            script.imports(),
            ["collections", "json", "numpy", "os", "pandas", "scipy"]
        );
    }

    #[test]
    fn main_must_be_defined_at_top_level() {
        assert_eq!(parse_err("# def main():\nx = 1\n"), ScriptError::NoMain);
        assert_eq!(parse_err("s = 'def main(): pass'\n"), ScriptError::NoMain);
        assert_eq!(
            parse_err("\"\"\"\ndef main():\n    pass\n\"\"\"\n"),
            ScriptError::NoMain
        );
        assert_eq!(
            parse_err("class A:\n    def main(self): pass\n"),
            ScriptError::NoMain
        );
        assert_eq!(
            parse_err("def f():\n    def main(): pass\n"),
            ScriptError::NoMain
        );
        assert_eq!(parse_err("main = lambda: 1\n"), ScriptError::NoMain);
        assert_eq!(parse_err("def mainly(): pass\n"), ScriptError::NoMain);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        match parse_err("def main():\n    return (1\n") {
            ScriptError::Syntax { line, .. } => assert!(line >= 2, "line {line}"),
            other => panic!("{other:?}"),
        }
        match parse_err("x = 1\ndef main(:\n") {
            ScriptError::Syntax { line, column, .. } => assert_eq!((line, column), (2, 10)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_err("def main():\n\treturn 1\n        return 2\n"),
            ScriptError::Syntax { .. }
        ));
        assert!(matches!(
            parse_err("def main(): pass\nx = '\0'\n"),
            ScriptError::Syntax { line: 2, .. }
        ));
    }

    #[test]
    fn empty_and_oversize_scripts_are_refused() {
        assert_eq!(parse_err("  \n\t\n"), ScriptError::Empty);
        let err = PythonScript::parse("def main(): pass\n".repeat(10), 20).unwrap_err();
        assert!(matches!(err, ScriptError::TooLarge { max: 20, .. }));
    }

    #[test]
    fn pathological_nesting_does_not_crash_the_parser() {
        let chain = format!("def main():\n    return {}1\n", "a+".repeat(400_000));
        let _ = PythonScript::parse(chain, 1 << 20);
        let lists = format!(
            "def main():\n    return {}{}\n",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        let _ = PythonScript::parse(lists, 1 << 20);
        let unary = format!("def main():\n    return {}1\n", "-".repeat(500_000));
        let _ = PythonScript::parse(unary, 1 << 20);
    }
}
