//! Property-based fuzzing of what a request goes through before anything runs: JSON decoding,
//! limit checks and script validation (/execute's `parse` and /validate's `Report::inspect`).
//! Nothing may panic; the parser's panics, which `PythonScript::parse` catches, count as failures
//! here too.
//!
//! A longer session: `PROPTEST_CASES=200000 cargo test --release --test fuzz`.

use proptest::prelude::*;
use python_script_api::configuration::Settings;
use python_script_api::routes::ExecuteRequest;
use python_script_api::script::{PythonScript, Report, ScriptError};

const SEEDS: &[&str] = &[
    "def main():\n    return 1\n",
    "import pandas as pd\n\ndef main():\n    df = pd.DataFrame({'a': [1, 2]})\n    return df.a.sum()\n",
    "async def main():\n    await x\n    return [i async for i in y]\n",
    "class A:\n    def main(self):\n        return f'{self!r:>{10}}'\n\ndef main():\n    return A()\n",
    "@d\ndef main(a, /, b=1, *c, d, **e) -> int:\n    match a:\n        case [1, *r] if r: return 2\n        case {'k': v}: return v\n        case _: return lambda q: (yield q)\n",
    "def main():\n    try:\n        pass\n    except* ValueError as e:\n        raise\n    finally:\n        del x\n",
    "x = b'\\x00' r'\\n' '''tri\nple''' \"\"\"q\"\"\"\ndef main():\n    global x\n    return x[1:2:3], {**d}, (*a,)\n",
];

fn settings() -> Settings {
    Settings::from_lookup(&|_| None).expect("default settings")
}

/// Neither check may fail to check, and /validate's report must agree with /execute's verdict:
/// a script parse() accepts has no error but main()'s signature, and the same imports.
fn check_script(source: String) -> Result<(), TestCaseError> {
    let report = Report::inspect(&source, 1 << 20);
    match PythonScript::parse(source, 1 << 20) {
        Err(ScriptError::CheckFailed(why)) => Err(TestCaseError::fail(why)),
        Ok(script) => {
            prop_assert!(report.main.defined);
            prop_assert_eq!(report.main.is_async, script.main_is_async());
            prop_assert!(report
                .errors
                .iter()
                .all(|p| p.message.starts_with("main()")));
            let mut imports = report.imports.clone();
            imports.sort();
            prop_assert_eq!(imports, script.imports());
            Ok(())
        }
        Err(e) => {
            prop_assert_eq!(&report.errors[0], &e.into());
            Ok(())
        }
    }
}

/// Edits a seed: each edit replaces, inserts or deletes a byte range with Python-heavy text.
fn mutated() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "(", ")", "[", "]", "{", "}", ":", "\n", "    ", "\t", "'", "\"", "\"\"\"", "\\", "#",
        "def ", "async ", "await ", "lambda", "yield", "match ", "case ", "f'", "{x!r}", "*", "**",
        "@", "=", ":=", "->", ",", ".", "0x", "1e", "_", "é", "\u{0}", "\r", "\u{feff}",
    ]);
    (
        prop::sample::select(SEEDS),
        prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, piece), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut s: Vec<char> = seed.chars().collect();
            for (at, remove, insert) in edits {
                let i = at.index(s.len() + 1);
                let end = (i + remove).min(s.len());
                s.splice(i..end, insert.chars());
            }
            s.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_breaks_validation(source in ".{0,400}") {
        check_script(source)?;
    }

    #[test]
    fn mutated_python_never_breaks_validation(source in mutated()) {
        check_script(source)?;
    }

    #[test]
    fn arbitrary_bodies_decode_or_fail_cleanly(body in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(request) = serde_json::from_slice::<ExecuteRequest>(&body) {
            let _ = request.limits(&settings());
        }
    }

    #[test]
    fn near_valid_bodies_decode_or_fail_cleanly(
        script in prop::option::of(".{0,50}"),
        timeout in prop::option::of(any::<i64>()),
        memory in prop::option::of(any::<f64>()),
        extra in prop::option::of("[a-z]{1,8}"),
    ) {
        let mut body = serde_json::Map::new();
        if let Some(s) = script { body.insert("script".into(), s.into()); }
        if let Some(t) = timeout { body.insert("timeout".into(), t.into()); }
        if let Some(m) = memory { body.insert("memory".into(), serde_json::json!(m)); }
        if let Some(k) = extra { body.insert(k, 1.into()); }
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Ok(request) = serde_json::from_slice::<ExecuteRequest>(&bytes) {
            let limits = request.limits(&settings());
            if let Ok(limits) = limits {
                prop_assert!((1..=300).contains(&limits.timeout.as_secs()));
                prop_assert!((32..=4096).contains(&limits.memory_mib));
            }
        }
    }
}
