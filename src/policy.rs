//! The operator's import policy (`IMPORT_ALLOW` or `IMPORT_DENY`): which modules a script may
//! import. The runner enforces it inside the jail when an import runs (src/sandbox/policy.py);
//! this file holds the rule, sends it to the runner, and finds the imports /validate
//! reports. It is a policy, not a security boundary: the sandbox is (see SECURITY.md).

use serde::Serialize;

use crate::script::ImportSite;

/// Whether the listed modules are the only ones allowed, or the ones refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Allow,
    Deny,
}

/// As the runner reads it from the request line: `{"allow": [...]}` or `{"deny": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPolicy {
    pub kind: PolicyKind,
    /// Dotted module names; each covers itself and its submodules.
    pub modules: Vec<String>,
}

impl Serialize for ImportPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        let key = match self.kind {
            PolicyKind::Allow => "allow",
            PolicyKind::Deny => "deny",
        };
        map.serialize_entry(key, &self.modules)?;
        map.end()
    }
}

/// `from __future__ import ...` is a compiler directive, not a capability: never refused, so that
/// an allow list need not name it. policy.py has the same exception.
const ALWAYS_ALLOWED: &str = "__future__";

impl ImportPolicy {
    /// Whether a listed name covers `module`: itself or a submodule (`scipy` covers `scipy.stats`;
    /// `os` does not cover `os2`).
    fn covers(&self, module: &str) -> bool {
        self.modules.iter().any(|listed| {
            module
                .strip_prefix(listed.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    }

    /// Whether the policy refuses the module `module` itself.
    pub fn refuses_module(&self, module: &str) -> bool {
        if module == ALWAYS_ALLOWED {
            return false;
        }
        match self.kind {
            PolicyKind::Allow => !self.covers(module),
            PolicyKind::Deny => self.covers(module),
        }
    }

    /// The module an import statement is refused for, if any. `import a.b` asks for `a.b`;
    /// `from a import x, y` asks for `a`, and for `a.x` and `a.y` in case they are submodules: a
    /// deny list refuses it when any of them is covered, an allow list lets it pass when `a` is
    /// allowed or every `a.x` is (`IMPORT_ALLOW=scipy.stats` allows `from scipy import stats`).
    pub fn refused_by(&self, module: &str, names: &[String]) -> Option<String> {
        let submodules = names
            .iter()
            .filter(|n| n.as_str() != "*")
            .map(|n| format!("{module}.{n}"));
        match self.kind {
            PolicyKind::Deny => std::iter::once(module.to_owned())
                .chain(submodules)
                .find(|m| self.refuses_module(m)),
            PolicyKind::Allow => {
                if !self.refuses_module(module) {
                    return None;
                }
                let mut submodules = submodules.peekable();
                if submodules.peek().is_none() {
                    return Some(module.to_owned());
                }
                submodules.find(|m| self.refuses_module(m))
            }
        }
    }

    /// The message of a refusal, the same in /validate and in the runner's `policy_violation`.
    pub fn describe(module: &str) -> String {
        format!("the import of `{module}` is refused by this server's import policy")
    }

    /// What /validate reports: every import statement the policy refuses, in source order,
    /// wherever it is (a function never called, a `try` that catches the refusal: the source
    /// cannot tell whether it runs).
    pub fn findings(&self, sites: &[ImportSite]) -> Vec<RefusedImport> {
        sites
            .iter()
            .filter_map(|site| {
                let module = self.refused_by(&site.module, &site.names)?;
                Some(RefusedImport {
                    line: site.line,
                    column: site.column,
                    message: Self::describe(&module),
                    module,
                })
            })
            .collect()
    }
}

/// One import the policy refuses: /validate's problems' shape (`line`, `column`, `message`),
/// and the module refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedImport {
    pub line: usize,
    pub column: usize,
    pub module: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(kind: PolicyKind, modules: &[&str]) -> ImportPolicy {
        ImportPolicy {
            kind,
            modules: modules.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_listed_name_covers_its_submodules_only() {
        let deny = policy(PolicyKind::Deny, &["os", "scipy"]);
        assert!(deny.refuses_module("os"));
        assert!(deny.refuses_module("os.path"));
        assert!(!deny.refuses_module("os2"));
        assert!(deny.refuses_module("scipy.stats"));
        assert!(!deny.refuses_module("scipyx"));
        assert!(!deny.refuses_module("json"));
        let allow = policy(PolicyKind::Allow, &["pandas", "scipy.stats"]);
        assert!(!allow.refuses_module("pandas.io"));
        assert!(allow.refuses_module("scipy"));
        assert!(!allow.refuses_module("scipy.stats.mstats"));
        assert!(allow.refuses_module("json"));
        assert!(!allow.refuses_module("__future__"));
    }

    #[test]
    fn from_imports_are_judged_by_their_submodules_too() {
        let deny = policy(PolicyKind::Deny, &["socket", "scipy.stats"]);
        assert_eq!(
            deny.refused_by("socket", &names(&["socket"])).as_deref(),
            Some("socket")
        );
        assert_eq!(
            deny.refused_by("scipy", &names(&["linalg", "stats"]))
                .as_deref(),
            Some("scipy.stats")
        );
        assert_eq!(deny.refused_by("scipy", &names(&["linalg"])), None);
        assert_eq!(deny.refused_by("scipy", &names(&["*"])), None);
        let allow = policy(PolicyKind::Allow, &["scipy.stats", "numpy"]);
        assert_eq!(allow.refused_by("scipy", &names(&["stats"])), None);
        assert_eq!(
            allow
                .refused_by("scipy", &names(&["stats", "linalg"]))
                .as_deref(),
            Some("scipy.linalg")
        );
        assert_eq!(allow.refused_by("scipy", &[]).as_deref(), Some("scipy"));
        assert_eq!(
            allow.refused_by("scipy", &names(&["*"])).as_deref(),
            Some("scipy")
        );
        assert_eq!(allow.refused_by("numpy.linalg", &names(&["svd"])), None);
    }

    #[test]
    fn findings_name_the_module_and_its_place() {
        let report = crate::script::Report::inspect(
            "import os, ctypes\nfrom socket import socket\ndef main():\n    from scipy import stats\n    return 1\n",
            1 << 20,
        );
        let deny = policy(PolicyKind::Deny, &["ctypes", "socket", "scipy.stats"]);
        let found = deny.findings(&report.import_sites);
        let found: Vec<(usize, usize, &str)> = found
            .iter()
            .map(|f| (f.line, f.column, f.module.as_str()))
            .collect();
        assert_eq!(
            found,
            [(1, 12, "ctypes"), (2, 1, "socket"), (4, 5, "scipy.stats")]
        );
        let allow = policy(PolicyKind::Allow, &["os", "scipy"]);
        let found = allow.findings(&report.import_sites);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].message, ImportPolicy::describe("ctypes"));
    }

    #[test]
    fn the_runner_reads_one_key() {
        let deny = policy(PolicyKind::Deny, &["ctypes"]);
        assert_eq!(
            serde_json::to_string(&deny).unwrap(),
            r#"{"deny":["ctypes"]}"#
        );
        let allow = policy(PolicyKind::Allow, &["numpy", "pandas"]);
        assert_eq!(
            serde_json::to_string(&allow).unwrap(),
            r#"{"allow":["numpy","pandas"]}"#
        );
    }
}
