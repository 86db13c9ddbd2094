//! A submitted script, checked before anything runs: size, Python 3 syntax, and a top-level main().
//! `PythonScript::parse` is what /execute needs (the first problem refuses the script);
//! `Report::inspect` is what /validate answers (every problem, main()'s signature, the imports).

use rustpython_parser::ast::{Arguments, Constant, ExceptHandler, Expr, Mod, Ranged, Stmt};
use rustpython_parser::source_code::RandomLocator;
use rustpython_parser::{parse, Mode};
use serde::Serialize;

use crate::language::Language;

/// A script that parsed as Python 3 and defines `main` at module top level; or, for another
/// language (`PythonScript::foreign`), one that passed the checks that need no parser (its syntax
/// is its interpreter's to check, in the jail).
#[derive(Debug, Clone)]
pub struct PythonScript {
    language: Language,
    source: String,
    main_is_async: bool,
    /// main()'s docstring, cleaned as Python's `inspect.cleandoc` cleans it: a saved script's
    /// default description (crate::routes::scripts).
    main_docstring: Option<String>,
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
        precheck(&source, max_bytes)?;
        let facts = on_parser_thread(|| facts(&source))?;
        let main = facts.main.ok_or(ScriptError::NoMain)?;
        let mut imports = facts.imports;
        imports.sort();
        Ok(PythonScript {
            language: Language::Python,
            source,
            main_is_async: main.is_async,
            main_docstring: main.docstring,
            imports,
        })
    }

    /// A script in another language: not empty, within the size limit, no NUL byte. Its syntax
    /// and its main() are its interpreter's to check (in the jail: /validate, or the run).
    pub fn foreign(
        language: Language,
        source: String,
        max_bytes: usize,
    ) -> Result<PythonScript, ScriptError> {
        precheck(&source, max_bytes)?;
        Ok(PythonScript {
            language,
            source,
            main_is_async: false,
            main_docstring: None,
            imports: Vec::new(),
        })
    }

    /// The script for `language`: parsed if Python, prechecked otherwise.
    pub fn for_language(
        language: Language,
        source: String,
        max_bytes: usize,
    ) -> Result<PythonScript, ScriptError> {
        match language {
            Language::Python => PythonScript::parse(source, max_bytes),
            other => PythonScript::foreign(other, source, max_bytes),
        }
    }

    pub fn language(&self) -> Language {
        self.language
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn main_is_async(&self) -> bool {
        self.main_is_async
    }

    pub fn main_docstring(&self) -> Option<&str> {
        self.main_docstring.as_deref()
    }

    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

/// What /validate says about a script: every problem found (not only the first), main()'s
/// signature and the imports. Nothing in it comes from running the script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub errors: Vec<Problem>,
    pub main: MainSignature,
    /// Top-level names of the absolute imports, in first-seen order, without repeats.
    pub imports: Vec<String>,
    /// Every absolute import where it is written, in source order, for the import policy.
    #[serde(skip)]
    pub import_sites: Vec<ImportSite>,
}

/// One absolute `import a.b` (one per name) or `from a.b import x, y`, and where it is written:
/// what an import policy judges (see `crate::policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSite {
    /// The dotted module name as written (`scipy.stats`).
    pub module: String,
    /// The names a `from` import takes (`*` included); empty for `import a.b`.
    pub names: Vec<String>,
    /// 1-based: the imported name of an `import`, the `from` of a `from` import.
    pub line: usize,
    pub column: usize,
}

/// One reason the script would be refused. `line` and `column` (1-based) when it has a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MainSignature {
    pub defined: bool,
    /// Every parameter's name in order; `*args` and `**kwargs` keep their stars.
    pub parameters: Vec<String>,
    pub is_async: bool,
}

impl Problem {
    /// A problem with no place in the source (size, limits, no main()).
    pub fn general(message: impl Into<String>) -> Problem {
        Problem {
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl From<ScriptError> for Problem {
    fn from(e: ScriptError) -> Problem {
        match e {
            ScriptError::Syntax {
                line,
                column,
                message,
            } => Problem {
                line: Some(line),
                column: Some(column),
                message: format!("syntax error: {message}"),
            },
            other => Problem::general(other.to_string()),
        }
    }
}

impl Report {
    /// Everything /validate reports: the checks of `PythonScript::parse` (the same messages) and
    /// whether main() can be called as /execute calls it. CPU work, like `PythonScript::parse`.
    /// A syntax error leaves nothing else to learn: `main` and `imports` are then empty.
    pub fn inspect(source: &str, max_bytes: usize) -> Report {
        let facts =
            match precheck(source, max_bytes).and_then(|()| on_parser_thread(|| facts(source))) {
                Ok(facts) => facts,
                Err(e) => return Report::unchecked(e.into()),
            };
        let mut errors = Vec::new();
        let main = match facts.main {
            None => {
                errors.push(ScriptError::NoMain.into());
                MainSignature::default()
            }
            Some(main) => {
                if let Some(message) = main.call_problem {
                    errors.push(Problem {
                        line: Some(main.line),
                        column: Some(main.column),
                        message,
                    });
                }
                MainSignature {
                    defined: true,
                    parameters: main.parameters,
                    is_async: main.is_async,
                }
            }
        };
        let mut sites = facts.sites;
        sites.sort_by_key(|site| site.offset);
        let places = locate_ascending(source, sites.iter().map(|site| site.offset));
        let import_sites = sites
            .into_iter()
            .zip(places)
            .map(|(site, (line, column))| ImportSite {
                module: site.module,
                names: site.names,
                line,
                column,
            })
            .collect();
        Report {
            errors,
            main,
            imports: facts.imports,
            import_sites,
        }
    }

    /// A report that has only this problem: the script could not be parsed at all.
    pub fn unchecked(problem: Problem) -> Report {
        Report {
            errors: vec![problem],
            main: MainSignature::default(),
            imports: Vec::new(),
            import_sites: Vec::new(),
        }
    }
}

/// The cheap checks that come before the parser.
fn precheck(source: &str, max_bytes: usize) -> Result<(), ScriptError> {
    if source.trim().is_empty() {
        return Err(ScriptError::Empty);
    }
    if source.len() > max_bytes {
        return Err(ScriptError::TooLarge {
            bytes: source.len(),
            max: max_bytes,
        });
    }
    if let Some(offset) = source.find('\0') {
        // CPython refuses NUL bytes in source; say so before the parser trips over them.
        let (line, column) = line_column(source, offset);
        return Err(ScriptError::Syntax {
            line,
            column,
            message: "source code cannot contain null bytes".to_string(),
        });
    }
    Ok(())
}

/// Runs `work` (which parses, and drops the AST before it returns) on a thread with a big stack.
fn on_parser_thread<T: Send>(
    work: impl FnOnce() -> Result<T, ScriptError> + Send,
) -> Result<T, ScriptError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("script-parse".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, work)
            .map_err(|e| ScriptError::CheckFailed(e.to_string()))?;
        worker
            .join()
            .map_err(|_| ScriptError::CheckFailed("the parser panicked".to_string()))?
    })
}

/// What the AST says, in plain data, so that the AST itself never leaves the parser's thread.
struct Facts {
    main: Option<MainFacts>,
    /// First-seen order, without repeats.
    imports: Vec<String>,
    sites: Vec<RawSite>,
}

/// An `ImportSite` with a byte offset, before it is located.
struct RawSite {
    module: String,
    names: Vec<String>,
    offset: usize,
}

struct MainFacts {
    is_async: bool,
    parameters: Vec<String>,
    /// Why main() cannot be called with no argument or with one positional argument.
    call_problem: Option<String>,
    docstring: Option<String>,
    line: usize,
    column: usize,
}

/// Parses, finds `main` among the module's own statements (not in classes, functions or blocks),
/// and collects the imports.
fn facts(source: &str) -> Result<Facts, ScriptError> {
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
    let main = module
        .body
        .iter()
        .rev() // a later definition wins, as at run time
        .find_map(|stmt| match stmt {
            Stmt::FunctionDef(f) if f.name.as_str() == "main" => {
                Some((false, &f.args, &f.body, stmt))
            }
            Stmt::AsyncFunctionDef(f) if f.name.as_str() == "main" => {
                Some((true, &f.args, &f.body, stmt))
            }
            _ => None,
        })
        .map(|(is_async, args, body, stmt)| {
            let (line, column) = line_column(source, stmt.start().to_usize());
            MainFacts {
                is_async,
                parameters: parameter_names(args),
                call_problem: call_problem(args),
                docstring: docstring(body),
                line,
                column,
            }
        });
    let mut imports = Vec::new();
    let mut sites = Vec::new();
    collect_imports(&module.body, &mut imports, &mut sites);
    Ok(Facts {
        main,
        imports,
        sites,
    })
}

/// A function's docstring (its body's first statement, when that is a string literal), cleaned
/// as `inspect.cleandoc` does: the first line's leading blanks and the other lines' common
/// indentation removed, tabs expanded to 8 columns, blank lines at both ends dropped. `None` when
/// there is none or it is blank.
fn docstring(body: &[Stmt]) -> Option<String> {
    let Some(Stmt::Expr(first)) = body.first() else {
        return None;
    };
    let Expr::Constant(constant) = first.value.as_ref() else {
        return None;
    };
    let Constant::Str(text) = &constant.value else {
        return None;
    };
    let expanded = text.replace('\t', "        ");
    let mut lines: Vec<&str> = expanded.lines().collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    let mut cleaned: Vec<String> = Vec::with_capacity(lines.len());
    if let Some(first) = lines.first_mut() {
        cleaned.push(first.trim_start().to_string());
    }
    for line in lines.iter().skip(1) {
        // Spaces only are counted, so `indent` is always a character boundary of a non-blank
        // line; a blank line shorter than it is kept empty.
        cleaned.push(line.get(indent..).unwrap_or("").to_string());
    }
    while cleaned.last().is_some_and(|l| l.trim().is_empty()) {
        cleaned.pop();
    }
    while cleaned.first().is_some_and(|l| l.trim().is_empty()) {
        cleaned.remove(0);
    }
    let cleaned = cleaned.join("\n");
    (!cleaned.trim().is_empty()).then_some(cleaned)
}

fn parameter_names(args: &Arguments) -> Vec<String> {
    let mut names: Vec<String> = args
        .posonlyargs
        .iter()
        .chain(&args.args)
        .map(|a| a.def.arg.to_string())
        .collect();
    if let Some(a) = &args.vararg {
        names.push(format!("*{}", a.arg));
    }
    names.extend(args.kwonlyargs.iter().map(|a| a.def.arg.to_string()));
    if let Some(a) = &args.kwarg {
        names.push(format!("**{}", a.arg));
    }
    names
}

/// main() is called with no argument, or with one positional argument (the request's input), so
/// it may require at most one positional parameter and no keyword-only one.
fn call_problem(args: &Arguments) -> Option<String> {
    let required = |list: &[rustpython_parser::ast::ArgWithDefault]| -> Vec<String> {
        list.iter()
            .filter(|a| a.default.is_none())
            .map(|a| a.def.arg.to_string())
            .collect()
    };
    let positional: Vec<String> = required(&args.posonlyargs)
        .into_iter()
        .chain(required(&args.args))
        .collect();
    let keyword_only = required(&args.kwonlyargs);
    if let Some(name) = keyword_only.first() {
        return Some(format!(
            "main()'s keyword-only parameter `{name}` needs a default: main() is called with no argument or with one positional argument"
        ));
    }
    (positional.len() > 1).then(|| {
        format!(
            "main() requires {} parameters ({}); it may require at most one, which receives the request's input",
            positional.len(),
            positional.join(", ")
        )
    })
}

/// Walks statements (not expressions: an import is a statement) into every nested body, in
/// source order. Iterative, so that deeply nested blocks cannot exhaust the stack.
fn collect_imports(body: &[Stmt], out: &mut Vec<String>, sites: &mut Vec<RawSite>) {
    // A set beside the list: a 1 MiB script can import a hundred thousand distinct names.
    let mut seen = std::collections::HashSet::new();
    let mut add = |name: &str| {
        let top = top_level(name);
        if seen.insert(top.clone()) {
            out.push(top);
        }
    };
    // A stack of statement iterators: a block's bodies are walked before the statements that
    // follow it, so names come out in the order they appear.
    let mut stack: Vec<std::slice::Iter<Stmt>> = vec![body.iter()];
    while let Some(stmts) = stack.last_mut() {
        let Some(stmt) = stmts.next() else {
            stack.pop();
            continue;
        };
        let mut blocks: Vec<&[Stmt]> = Vec::new();
        match stmt {
            Stmt::Import(s) => {
                for alias in &s.names {
                    add(&alias.name);
                    sites.push(RawSite {
                        module: alias.name.to_string(),
                        names: Vec::new(),
                        offset: alias.start().to_usize(),
                    });
                }
            }
            Stmt::ImportFrom(s) if s.level.is_none_or(|l| l.to_u32() == 0) => {
                if let Some(module) = &s.module {
                    add(module);
                    sites.push(RawSite {
                        module: module.to_string(),
                        names: s.names.iter().map(|a| a.name.to_string()).collect(),
                        offset: s.start().to_usize(),
                    });
                }
            }
            Stmt::FunctionDef(s) => blocks.push(&s.body),
            Stmt::AsyncFunctionDef(s) => blocks.push(&s.body),
            Stmt::ClassDef(s) => blocks.push(&s.body),
            Stmt::For(s) => blocks.extend([&s.body[..], &s.orelse[..]]),
            Stmt::AsyncFor(s) => blocks.extend([&s.body[..], &s.orelse[..]]),
            Stmt::While(s) => blocks.extend([&s.body[..], &s.orelse[..]]),
            Stmt::If(s) => blocks.extend([&s.body[..], &s.orelse[..]]),
            Stmt::With(s) => blocks.push(&s.body),
            Stmt::AsyncWith(s) => blocks.push(&s.body),
            Stmt::Match(s) => blocks.extend(s.cases.iter().map(|c| &c.body[..])),
            Stmt::Try(s) => {
                blocks.push(&s.body);
                blocks.extend(handler_bodies(&s.handlers));
                blocks.extend([&s.orelse[..], &s.finalbody[..]]);
            }
            Stmt::TryStar(s) => {
                blocks.push(&s.body);
                blocks.extend(handler_bodies(&s.handlers));
                blocks.extend([&s.orelse[..], &s.finalbody[..]]);
            }
            _ => {}
        }
        // Last pushed is walked first.
        stack.extend(blocks.into_iter().rev().map(|b| b.iter()));
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

/// The 1-based lines and columns (in characters, as `line_column` counts them) of ascending byte
/// offsets, in one pass over the source: locating each offset afresh would cost a scan of its
/// line, and a 1 MiB script can be one line of a hundred thousand imports.
fn locate_ascending(source: &str, offsets: impl Iterator<Item = usize>) -> Vec<(usize, usize)> {
    let bytes = source.as_bytes();
    let (mut at, mut line, mut column) = (0, 1, 1);
    offsets
        .map(|offset| {
            while at < offset.min(bytes.len()) {
                match bytes[at] {
                    b'\n' => (line, column) = (line + 1, 1),
                    // A lone CR ends a line too; the CR of CRLF leaves that to the LF.
                    b'\r' if bytes.get(at + 1) != Some(&b'\n') => (line, column) = (line + 1, 1),
                    b'\r' => {}
                    b if b & 0xC0 != 0x80 => column += 1, // not a UTF-8 continuation byte
                    _ => {}
                }
                at += 1;
            }
            (line, column)
        })
        .collect()
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
    fn mains_docstring_is_cleaned_as_inspect_cleandoc_does() {
        let doc = |s: &str| parse_ok(s).main_docstring().map(str::to_string);
        assert_eq!(
            doc("def main():\n    \"\"\"Adds numbers.\n\n    Returns the sum.\n    \"\"\"\n    return 1\n"),
            Some("Adds numbers.\n\nReturns the sum.".to_string())
        );
        assert_eq!(
            doc("async def main():\n    'One line.'\n"),
            Some("One line.".into())
        );
        assert_eq!(doc("def main():\n    return 1\n"), None);
        assert_eq!(doc("def main():\n    x = 'not a docstring'\n"), None);
        assert_eq!(doc("def main():\n    '   '\n"), None);
        assert_eq!(doc("'''module doc'''\ndef main():\n    pass\n"), None);
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

    fn inspect(s: &str) -> Report {
        Report::inspect(s, 1 << 20)
    }

    #[test]
    fn the_report_lists_imports_in_first_seen_order() {
        let report = inspect(
            "import pandas as pd, os.path\nfrom . import x\nfrom .sub import y\n\
             def main():\n    try:\n        import json\n    except ImportError:\n        from collections import abc\n    import os\n    return 1\n\
             import numpy.linalg\nfrom scipy.stats import norm\n",
        );
        assert_eq!(report.errors, []);
        assert_eq!(
            report.imports,
            ["pandas", "os", "json", "collections", "numpy", "scipy"]
        );
    }

    #[test]
    fn the_report_describes_main() {
        let report = inspect("async def main(data, /, b=1, *rest, flag=False, **kw):\n    pass\n");
        assert_eq!(report.errors, []);
        assert!(report.main.defined && report.main.is_async);
        assert_eq!(
            report.main.parameters,
            ["data", "b", "*rest", "flag", "**kw"]
        );
        let report = inspect("def main(): pass\nasync def main(): pass\n");
        assert!(report.main.is_async, "the later definition wins");
    }

    #[test]
    fn main_may_require_one_positional_parameter_at_most() {
        assert_eq!(inspect("def main(data):\n    return data\n").errors, []);
        let report = inspect("import os\n\ndef main(a, b):\n    pass\n");
        assert_eq!(report.errors.len(), 1, "{report:?}");
        let problem = &report.errors[0];
        assert_eq!((problem.line, problem.column), (Some(3), Some(1)));
        assert!(problem.message.contains("(a, b)"), "{problem:?}");
        assert_eq!(report.main.parameters, ["a", "b"]);
        let report = inspect("def main(*, key):\n    pass\n");
        assert!(report.errors[0].message.contains("`key`"), "{report:?}");
    }

    #[test]
    fn the_report_carries_the_checks_of_parse() {
        let report = inspect("x = 1\ndef main(:\n");
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            (report.errors[0].line, report.errors[0].column),
            (Some(2), Some(10))
        );
        assert!(!report.main.defined);
        assert_eq!(inspect("x = 1\n").errors, [ScriptError::NoMain.into()]);
        assert_eq!(inspect(" \n").errors, [ScriptError::Empty.into()]);
        let big = "def main(): pass\n".repeat(10);
        let too_large = PythonScript::parse(big.clone(), 20).unwrap_err();
        assert_eq!(Report::inspect(&big, 20).errors, [too_large.into()]);
        assert_eq!(
            inspect("def main(): pass\nx = '\0'\n").errors[0].line,
            Some(2)
        );
    }

    #[test]
    fn import_sites_say_where_each_import_is() {
        let report = inspect(
            "import os, ctypes as c\r\nfrom socket import socket, AF_INET\n\
             def main():\n    é = 1; import scipy.stats\n    from . import x\n    return 1\n",
        );
        let sites: Vec<(&str, Vec<&str>, usize, usize)> = report
            .import_sites
            .iter()
            .map(|s| {
                let names = s.names.iter().map(String::as_str).collect();
                (s.module.as_str(), names, s.line, s.column)
            })
            .collect();
        assert_eq!(
            sites,
            [
                ("os", vec![], 1, 8),
                ("ctypes", vec![], 1, 12),
                ("socket", vec!["socket", "AF_INET"], 2, 1),
                ("scipy.stats", vec![], 4, 19),
            ]
        );
        // The columns agree with the parser's own locator (used for syntax errors).
        let source = "x = 'ü'; import a\n\timport b\rimport c\n";
        let offsets = [
            source.find("a\n").unwrap(),
            source.find('b').unwrap(),
            source.find('c').unwrap(),
        ];
        let expected: Vec<_> = offsets.iter().map(|&o| line_column(source, o)).collect();
        assert_eq!(locate_ascending(source, offsets.into_iter()), expected);
    }

    #[test]
    fn many_distinct_imports_are_collected_quickly() {
        let source: String = (0..100_000).map(|i| format!("import m{i}\n")).collect();
        let start = std::time::Instant::now();
        let report = Report::inspect(&source, usize::MAX);
        assert_eq!(report.imports.len(), 100_000);
        assert_eq!(report.imports[99_999], "m99999");
        assert_eq!(report.import_sites[99_999].line, 100_000);
        // All on one line that is not ASCII: locating them stays linear.
        let line: String = (0..100_000).map(|i| format!("import m{i}; ")).collect();
        let source = format!("é = 1; {line}\n");
        let report = Report::inspect(&source, usize::MAX);
        let last = source.find("m99999;").unwrap();
        assert_eq!(
            report.import_sites[99_999].column,
            source[..last].chars().count() + 1
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
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
        let _ = PythonScript::parse(unary.clone(), 1 << 20);
        let _ = Report::inspect(&unary, 1 << 20);
    }
}
