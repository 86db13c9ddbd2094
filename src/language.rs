//! The languages a script may be written in: the one place that says what a language is. `Language`
//! names them and `SPECS` holds, for each, everything the rest of the server needs: its name on the
//! wire, its Debian packages, the interpreter's path inside the jail, its configuration file and
//! the command the runner starts it with. `Languages` is what this server offers: the languages
//! `SANDBOX_LANGUAGES` enables whose interpreter the jail's root holds, found once at start-up.
//!
//! Python is the sandbox's own language (runner.py runs it in its own process, the zygotes preload
//! it); the others run as a child of the runner inside the same jail, under the same policy
//! (runner.py's foreign.py module, and runner.js, runner.R below).
//!
//! Not here: the isolation flags (src/sandbox/nsjail.rs, configs/python.cfg), the runner protocol
//! (src/sandbox/protocol.rs), what a request says (routes/execute/request.rs).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    JavaScript,
    R,
    Bash,
}

/// One language's facts.
pub struct Spec {
    pub language: Language,
    /// Its name in requests ("language"), in SANDBOX_LANGUAGES and in /environment.
    pub name: &'static str,
    /// The Debian packages scripts/setup-sandbox.sh installs for it.
    pub packages: &'static [&'static str],
    /// The interpreter, as the jail sees it (and as it sits under SANDBOX_ROOT).
    pub interpreter: &'static str,
    /// Its additions to configs/python.cfg (environment variables only), beside NSJAIL_CONFIG.
    pub config: &'static str,
    /// The runner's command for a run: `@script` stands for the script's source (runner.py's
    /// foreign.py passes a large one by path instead). Empty for Python, which runner.py runs.
    pub command: &'static [&'static str],
    /// The language's own runner, given to the interpreter on fd 5 (see foreign.py).
    pub runner: Option<&'static str>,
    /// The command that checks the script's syntax without running it (/validate), the script
    /// on fd 3: it exits 0 when the syntax is valid, else 1 with the parser's message.
    pub check: &'static [&'static str],
    /// What /validate says checked it.
    pub checked_by: &'static str,
}

/// runner.js: loads the script, calls main(input), writes the JSON result on fd 4.
pub const RUNNER_JS: &str = include_str!("sandbox/runner.js");
/// runner.R: the same for R, through jsonlite.
pub const RUNNER_R: &str = include_str!("sandbox/runner.R");

/// JavaScript's syntax check: the parser's message without node's own frames.
const CHECK_JS: &str = "try { new (require('vm').Script)(require('fs').readFileSync(3, 'utf8'), \
     { filename: 'script.js' }); } catch (e) { if (!(e instanceof SyntaxError)) throw e; \
     process.stderr.write(String(e.stack).split('\\n').filter((l) => !/^\\s+at /.test(l)).join('\\n')); \
     process.exit(1); }";
/// R's syntax check: parse() as runner.R parses, never evaluated.
const CHECK_R: &str = "s <- readLines(file('/proc/self/fd/3', encoding = 'UTF-8'), warn = FALSE); \
     tryCatch(invisible(parse(text = s, keep.source = FALSE, srcfile = srcfilecopy('script.R', s))), \
     error = function(e) { cat(conditionMessage(e), file = stderr()); quit(status = 1) })";

pub const SPECS: [Spec; 4] = [
    Spec {
        language: Language::Python,
        name: "python",
        packages: &["python3.11"],
        interpreter: "/usr/bin/python3.11",
        config: "python.cfg",
        command: &[],
        runner: None,
        check: &[],
        checked_by: "the server's Python parser",
    },
    Spec {
        language: Language::JavaScript,
        name: "javascript",
        packages: &["nodejs"],
        interpreter: "/usr/bin/node",
        config: "javascript.cfg",
        // The runner is small: on the command line. It reads the script from fd 3.
        command: &["/usr/bin/node", "--disable-proto=throw", "-e", "@runner"],
        runner: Some(RUNNER_JS),
        // Compiled as runner.js compiles it (a classic script named script.js), never run.
        check: &["/usr/bin/node", "-e", CHECK_JS],
        checked_by: "node: vm.Script (compiles without running)",
    },
    Spec {
        language: Language::R,
        name: "r",
        packages: &["r-base-core", "r-cran-jsonlite"],
        interpreter: "/usr/lib/R/bin/exec/R",
        config: "r.cfg",
        // R refuses -e expressions over 10 000 bytes: the runner comes as a file (fd 5).
        command: &[
            "/usr/lib/R/bin/exec/R",
            "--vanilla",
            "--slave",
            "--no-echo",
            "--file=/proc/self/fd/5",
        ],
        runner: Some(RUNNER_R),
        check: &[
            "/usr/lib/R/bin/exec/R",
            "--vanilla",
            "--slave",
            "--no-echo",
            "-e",
            CHECK_R,
        ],
        checked_by: "R: parse()",
    },
    Spec {
        language: Language::Bash,
        name: "bash",
        packages: &["bash"],
        interpreter: "/usr/bin/bash",
        config: "bash.cfg",
        // `-c source script.sh`: errors say "script.sh: line N".
        command: &[
            "/usr/bin/bash",
            "--noprofile",
            "--norc",
            "-c",
            "@script",
            "script.sh",
        ],
        runner: None,
        check: &[
            "/usr/bin/bash",
            "--noprofile",
            "--norc",
            "-n",
            "-c",
            "@script",
            "script.sh",
        ],
        checked_by: "bash -n",
    },
];

impl Language {
    pub const ALL: [Language; 4] = [
        Language::Python,
        Language::JavaScript,
        Language::R,
        Language::Bash,
    ];

    pub fn spec(self) -> &'static Spec {
        // SPECS is in ALL's order (a test checks).
        &SPECS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// A language by its wire name, exactly (lower case).
    pub fn from_name(name: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// Parses SANDBOX_LANGUAGES: comma-separated names, Python always among them (the sandbox's own
/// runner is Python).
pub fn parse_setting(value: &str) -> Result<Vec<Language>, String> {
    let mut languages = vec![Language::Python];
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let language = Language::from_name(name).ok_or_else(|| {
            format!(
                "unknown language {name:?} (known: {})",
                Language::ALL.map(Language::name).join(", ")
            )
        })?;
        if !languages.contains(&language) {
            languages.push(language);
        }
    }
    languages.sort();
    Ok(languages)
}

/// What this server offers: each enabled language whose interpreter is in the jail's root, with
/// its configuration's environment; and why each other language is not offered.
#[derive(Debug, Clone, Default)]
pub struct Languages {
    available: BTreeMap<Language, Vec<(String, String)>>,
    unavailable: BTreeMap<Language, String>,
}

impl Languages {
    /// Looks at the jail's root and reads each language's config beside `config_path`
    /// (configs/python.cfg). Python is offered whatever the root holds: a missing interpreter is
    /// the probe's to report, as before.
    pub fn detect(enabled: &[Language], root: &Path, config_path: &Path) -> Languages {
        let mut found = Languages::default();
        for language in Language::ALL {
            let spec = language.spec();
            if language == Language::Python {
                found.available.insert(language, Vec::new());
                continue;
            }
            if !enabled.contains(&language) {
                found
                    .unavailable
                    .insert(language, "left out by SANDBOX_LANGUAGES".to_string());
                continue;
            }
            let interpreter = root.join(spec.interpreter.trim_start_matches('/'));
            if !interpreter.is_file() {
                found.unavailable.insert(
                    language,
                    format!(
                        "not installed: {} is not in the jail's root (scripts/setup-sandbox.sh \
                         installs {})",
                        spec.interpreter,
                        spec.packages.join(", ")
                    ),
                );
                continue;
            }
            let config = config_path.with_file_name(spec.config);
            match std::fs::read_to_string(&config)
                .map_err(|e| e.to_string())
                .and_then(|text| parse_env(&text))
            {
                Ok(env) => {
                    found.available.insert(language, env);
                }
                Err(e) => {
                    log::error!("language {}: {}: {e}", spec.name, config.display());
                    found.unavailable.insert(
                        language,
                        format!("its configuration {} is unusable", spec.config),
                    );
                }
            }
        }
        found
    }

    /// Every language offered, as the sandbox would for tests without a jail root.
    pub fn all_for_tests() -> Languages {
        let mut found = Languages::default();
        for language in Language::ALL {
            found.available.insert(language, Vec::new());
        }
        found
    }

    pub fn is_available(&self, language: Language) -> bool {
        self.available.contains_key(&language)
    }

    /// The names offered, in ALL's order.
    pub fn names(&self) -> Vec<&'static str> {
        self.available.keys().map(|l| l.name()).collect()
    }

    /// Why a language is not offered (`None`: it is).
    pub fn why_not(&self, language: Language) -> Option<&str> {
        self.unavailable.get(&language).map(String::as_str)
    }

    /// The environment a language's interpreter gets on top of the jail's (its config's envars).
    pub fn env(&self, language: Language) -> &[(String, String)] {
        self.available
            .get(&language)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The language a request names (`None`: Python), or the error that says which are offered.
    pub fn resolve(&self, name: Option<&str>) -> Result<Language, String> {
        let Some(name) = name else {
            return Ok(Language::Python);
        };
        let offered = self.names().join(", ");
        match Language::from_name(name) {
            Some(language) if self.is_available(language) => Ok(language),
            Some(language) => Err(format!(
                "language {name:?} is not available on this server ({}); available: {offered}",
                self.why_not(language).unwrap_or("not installed")
            )),
            None => Err(format!("unknown language {name:?}; available: {offered}")),
        }
    }
}

/// A language config's environment: its `envar: "NAME=value"` lines. Comments and blank lines
/// aside, any other line is refused: a language's file must not be able to carry an isolation
/// setting, which python.cfg and nsjail.rs alone decide.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let value = line
            .strip_prefix("envar:")
            .map(str::trim)
            .and_then(|v| v.strip_prefix('"'))
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains(['"', '\\']))
            .ok_or_else(|| {
                format!(
                    "line {}: only `envar: \"NAME=value\"` lines may add to python.cfg",
                    number + 1
                )
            })?;
        let (name, value) = value
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| format!("line {}: an envar without NAME=", number + 1))?;
        env.push((name.to_string(), value.to_string()));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_enums_order() {
        for language in Language::ALL {
            assert_eq!(language.spec().language, language);
            assert_eq!(Language::from_name(language.name()), Some(language));
        }
        assert_eq!(Language::from_name("Python"), None);
    }

    /// The fds foreign.py gives the interpreter (script 3, result 4, runner 5) are the ones the
    /// commands here and the runners read and write, and the script's name is the same everywhere.
    #[test]
    fn the_fds_and_names_agree_with_foreign_py_and_the_runners() {
        let foreign = include_str!("sandbox/foreign.py");
        assert!(foreign.contains("SCRIPT_FD, RESULT_FD, RUNNER_FD = 3, 4, 5"));
        assert!(
            RUNNER_JS.contains("const SCRIPT_FD = 3;")
                && RUNNER_JS.contains("const RESULT_FD = 4;")
        );
        assert!(
            RUNNER_JS.contains("filename: 'script.js'")
                && CHECK_JS.contains("filename: 'script.js'")
        );
        assert!(
            RUNNER_R.contains("\"/proc/self/fd/3\"") && RUNNER_R.contains("\"/proc/self/fd/4\"")
        );
        assert!(
            RUNNER_R.contains("srcfilecopy(\"script.R\"")
                && CHECK_R.contains("srcfilecopy('script.R'")
        );
        assert!(Language::R
            .spec()
            .command
            .contains(&"--file=/proc/self/fd/5"));
        assert!(CHECK_R.contains("/proc/self/fd/3"));
        assert!(Language::Bash.spec().command.contains(&"script.sh"));
        for (name, script) in [
            ("javascript", "script.js"),
            ("r", "script.R"),
            ("bash", "script.sh"),
        ] {
            assert!(
                foreign.contains(&format!("\"{name}\": \"{script}\"")),
                "{name}"
            );
        }
    }

    #[test]
    fn the_setting_always_has_python() {
        assert_eq!(
            parse_setting("bash").unwrap(),
            [Language::Python, Language::Bash]
        );
        assert_eq!(
            parse_setting("r, javascript,python,").unwrap(),
            [Language::Python, Language::JavaScript, Language::R]
        );
        assert!(parse_setting("cobol").unwrap_err().contains("cobol"));
    }

    #[test]
    fn every_language_config_only_adds_environment() {
        for spec in &SPECS[1..] {
            let path = format!("{}/configs/{}", env!("CARGO_MANIFEST_DIR"), spec.config);
            let text = std::fs::read_to_string(&path).unwrap();
            let env = parse_env(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(!env.is_empty(), "{path}");
        }
        assert!(parse_env("clone_newnet: false").is_err());
        assert!(parse_env("envar: \"A=1\"\nmount { }").is_err());
        assert_eq!(
            parse_env("# c\nenvar: \"A=b=c\"").unwrap(),
            [("A".to_string(), "b=c".to_string())]
        );
    }

    #[test]
    fn a_missing_language_is_named_with_the_available_ones() {
        let langs = Languages::detect(
            &[Language::Python, Language::Bash],
            Path::new("/nonexistent"),
            Path::new("configs/python.cfg"),
        );
        let err = langs.resolve(Some("bash")).unwrap_err();
        assert!(
            err.contains("not installed") && err.contains("available: python"),
            "{err}"
        );
        let err = langs.resolve(Some("r")).unwrap_err();
        assert!(err.contains("SANDBOX_LANGUAGES"), "{err}");
        let err = langs.resolve(Some("cobol")).unwrap_err();
        assert!(err.contains("unknown language"), "{err}");
        assert_eq!(langs.resolve(None), Ok(Language::Python));
    }
}
