//! What the sandbox offers a script: its Python version, its packages and the modules it can
//! import. `scripts/setup-sandbox.sh` asks the sandbox's own interpreter and writes the answer
//! beside the venv (`environment.json`); the server reads it once, at start-up. Computing it at
//! start-up instead would cost a sandbox run of its own on every cold start, and the venv is
//! read-only for the server's lifetime anyway.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::language::{Language, Languages};

/// The manifest's file name, inside `SANDBOX_VENV`.
pub const MANIFEST_FILE: &str = "environment.json";

/// The manifest as setup-sandbox.sh writes it, and as GET /environment serves it. Fields it
/// does not know are ignored (and not served), so that an older server reads a newer manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub python_version: String,
    pub packages: Vec<Package>,
    /// Top-level names `import` finds in the sandbox: standard library (built-in modules
    /// included) and installed packages, sorted.
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// The languages' record, beside the jail's root (SANDBOX_ROOT + this suffix), written by
/// scripts/setup-sandbox.sh from each interpreter the root holds.
pub const LANGUAGES_SUFFIX: &str = ".languages.json";

/// What one language's interpreter offers, as setup-sandbox.sh recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageRecord {
    pub version: String,
    #[serde(default)]
    pub packages: Vec<Package>,
    /// Names a script can use without a package: node's built-in modules, Bash's commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builtins: Vec<String>,
}

/// One language in GET /environment: whether this server offers it, and what it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LanguageEntry {
    pub name: &'static str,
    pub available: bool,
    /// Why it is not offered (left out, or not installed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub record: Option<LanguageRecord>,
}

/// The manifest, or why there is none.
#[derive(Debug)]
pub struct Environment {
    manifest: Result<Manifest, String>,
    modules: HashSet<String>,
    languages: Vec<LanguageEntry>,
}

impl Environment {
    /// Reads `<venv>/environment.json`. A missing or unreadable manifest is not fatal: only
    /// GET /environment needs it (it then answers 503), and /validate then reports no import as
    /// unavailable rather than every one.
    pub fn load(venv: &Path) -> Environment {
        let path = venv.join(MANIFEST_FILE);
        let manifest = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Manifest>(&bytes).map_err(|e| {
                format!(
                    "{} is not a valid manifest ({e}); run scripts/setup-sandbox.sh again",
                    path.display()
                )
            }),
            Err(e) => Err(format!(
                "{} cannot be read ({e}); scripts/setup-sandbox.sh writes it",
                path.display()
            )),
        };
        match &manifest {
            Ok(m) => log::info!(
                "sandbox environment: python {}, {} packages, {} modules",
                m.python_version,
                m.packages.len(),
                m.modules.len()
            ),
            Err(reason) => log::warn!("sandbox environment unknown: {reason}"),
        }
        Environment::from_manifest(manifest)
    }

    pub fn from_manifest(manifest: Result<Manifest, String>) -> Environment {
        let modules = manifest
            .as_ref()
            .map(|m| m.modules.iter().cloned().collect())
            .unwrap_or_default();
        Environment {
            manifest,
            modules,
            languages: Vec::new(),
        }
    }

    /// Each language's entry: offered or not (`offered`, found at the sandbox's start), and what
    /// setup-sandbox.sh recorded of it (`<root>.languages.json`; Python's from the manifest).
    pub fn with_languages(mut self, offered: &Languages, root: &Path) -> Environment {
        let mut path = root.as_os_str().to_owned();
        path.push(LANGUAGES_SUFFIX);
        let records: BTreeMap<String, LanguageRecord> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!(
                    "{} is not valid ({e}): /environment lists no language versions",
                    Path::new(&path).display()
                );
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        self.languages = Language::ALL
            .into_iter()
            .map(|language| {
                let record = match (language, &self.manifest) {
                    (Language::Python, Ok(m)) => Some(LanguageRecord {
                        version: m.python_version.clone(),
                        packages: m.packages.clone(),
                        builtins: Vec::new(),
                    }),
                    _ => records.get(language.name()).cloned(),
                };
                LanguageEntry {
                    name: language.name(),
                    available: offered.is_available(language),
                    reason: offered.why_not(language).map(str::to_owned),
                    record,
                }
            })
            .collect();
        self
    }

    /// The languages, for GET /environment.
    pub fn languages(&self) -> &[LanguageEntry] {
        &self.languages
    }

    /// The manifest, or why there is none.
    pub fn manifest(&self) -> Result<&Manifest, &str> {
        self.manifest.as_ref().map_err(String::as_str)
    }

    /// Those of `imports` the sandbox does not provide, in their order. None when the manifest
    /// is unknown: an unknown environment must not make every import look missing.
    pub fn unavailable(&self, imports: &[String]) -> Vec<String> {
        if self.manifest.is_err() {
            return Vec::new();
        }
        imports
            .iter()
            .filter(|m| !self.modules.contains(m.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unavailable_imports_are_those_the_manifest_lacks() {
        let env = Environment::from_manifest(Ok(Manifest {
            python_version: "3.11.2".into(),
            packages: vec![],
            modules: names(&["json", "numpy"]),
        }));
        assert_eq!(
            env.unavailable(&names(&["numpy", "nosuch", "json", "other"])),
            ["nosuch", "other"]
        );
        let unknown = Environment::from_manifest(Err("missing".into()));
        assert!(unknown.unavailable(&names(&["nosuch"])).is_empty());
        assert_eq!(unknown.manifest(), Err("missing"));
    }

    #[test]
    fn a_missing_or_broken_manifest_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Environment::load(dir.path());
        assert!(missing.manifest().unwrap_err().contains("environment.json"));
        std::fs::write(dir.path().join(MANIFEST_FILE), "{\"python_version\": 3}").unwrap();
        let broken = Environment::load(dir.path());
        assert!(broken
            .manifest()
            .unwrap_err()
            .contains("not a valid manifest"));
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            r#"{"python_version": "3.11.2", "packages": [{"name": "numpy", "version": "2.4.6"}], "modules": ["numpy"], "later": 1}"#,
        )
        .unwrap();
        let ok = Environment::load(dir.path());
        assert_eq!(ok.manifest().unwrap().packages[0].version, "2.4.6");
    }
}
