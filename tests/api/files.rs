//! Data in and out of a run: `input` and `parameters`, input files and load_file(), files left in
//! ./output/, captured figures and save_result(). Hostile names, sizes and output trees are refused
//! plainly, and the server stays healthy with nothing left behind.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_str().expect("a base64 string"))
        .expect("valid base64")
}

/// Bytes that are not text: every value, in a scrambled order.
fn junk(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// The `files` of a response by name.
fn file<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no file {name:?} in {body}"))
}

fn names(body: &Value) -> Vec<&str> {
    body["files"]
        .as_array()
        .map(|files| files.iter().map(|f| f["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

async fn assert_survived(app: &TestApp) {
    app.assert_healthy().await;
    app.assert_no_leftovers().await;
}

#[tokio::test]
async fn input_reaches_main_and_the_globals() {
    let app = spawn_app().await;
    let script = "def main(data):\n    return {'arg': data, 'same': data is input_data, 'params': parameters}\n";
    let (status, body) = app
        .execute(json!({"script": script, "input": {"rows": [1, 2]}, "parameters": {"k": "v"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({"arg": {"rows": [1, 2]}, "same": true, "params": {"k": "v"}})
    );

    // The globals exist for top-level code and a main() without a parameter too.
    let script = "seen = (input_data, parameters)\ndef main():\n    return seen\n";
    let (status, body) = app
        .execute(json!({"script": script, "input": [1, "two"], "parameters": {"n": 3}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!([[1, "two"], {"n": 3}]));
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!([null, {}]), "the defaults");

    // Without an input: a required parameter gets None, a default stays; an explicit null is sent.
    let (_, body) = app.run("def main(data):\n    return data\n").await;
    assert_eq!(body["result"], Value::Null, "{body}");
    let (_, body) = app.run("def main(data=5):\n    return data\n").await;
    assert_eq!(body["result"], 5, "{body}");
    let (_, body) = app
        .execute(json!({"script": "def main(data=5):\n    return data\n", "input": null}))
        .await;
    assert_eq!(body["result"], Value::Null, "{body}");
    let (_, body) = app
        .execute(json!({"script": "async def main(*args):\n    return list(args)\n", "input": 4}))
        .await;
    assert_eq!(body["result"], json!([4]), "{body}");

    // main() must be callable with the input alone.
    let (status, body) = app
        .execute(json!({"script": "def main(a, b):\n    return 1\n", "input": 1}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_type"], "validation_error");
    assert!(body["error"].as_str().unwrap().contains("a, b"), "{body}");

    for bad in [json!([1]), json!("x"), json!(3)] {
        let (status, body) = app
            .execute(json!({"script": "def main():\n    return 1\n", "parameters": bad}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_type"], "invalid_request");
    }
}

#[tokio::test]
async fn files_are_loaded_by_type() {
    let app = spawn_app().await;
    let bytes = junk(4096);
    let script = r#"
import os
def main():
    csv = load_file("data.csv")
    tsv = load_file("data.tsv")
    return {
        "listing": sorted(f for f in os.listdir(".") if f != ".matplotlib"),
        "csv": {"columns": list(csv.columns), "total": int(csv["v"].sum())},
        "tsv": tsv.shape,
        "semicolons": load_file("semi.csv", sep=";").to_dict("list"),
        "json": load_file("config.json"),
        "bytes": load_file("blob.bin"),
        "text_is_bytes": load_file("notes.txt"),
    }
"#;
    let (status, body) = app
        .execute(json!({"script": script, "files": [
            {"name": "data.csv", "content": "k,v\na,1\nb,2\n"},
            {"name": "data.tsv", "content": "k\tv\na\t1\n", "encoding": "utf8"},
            {"name": "semi.csv", "content": "a;b\n1;2\n"},
            {"name": "config.json", "content": "{\"threshold\": 0.5, \"tags\": [\"ü\"]}"},
            {"name": "blob.bin", "content": b64(&bytes), "encoding": "base64"},
            {"name": "notes.txt", "content": "héllo"},
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let r = &body["result"];
    assert_eq!(
        r["listing"],
        json!([
            "blob.bin",
            "config.json",
            "data.csv",
            "data.tsv",
            "notes.txt",
            "output",
            "semi.csv"
        ])
    );
    assert_eq!(r["csv"], json!({"columns": ["k", "v"], "total": 3}));
    assert_eq!(r["tsv"], json!([1, 2]));
    assert_eq!(r["semicolons"], json!({"a": [1], "b": [2]}));
    assert_eq!(r["json"], json!({"threshold": 0.5, "tags": ["ü"]}));
    assert_eq!(unb64(&r["bytes"]), bytes, "binary content survives exactly");
    assert_eq!(unb64(&r["text_is_bytes"]), "héllo".as_bytes());

    // base64 wrapped in lines, as `base64` prints it, is fine.
    let wrapped: String = b64(&bytes)
        .as_bytes()
        .chunks(76)
        .map(|l| format!("{}\n", std::str::from_utf8(l).unwrap()))
        .collect();
    let (status, body) = app
        .execute(json!({"script": "def main():\n    return load_file('b')\n",
                        "files": [{"name": "b", "content": wrapped, "encoding": "base64"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(unb64(&body["result"]), bytes);
}

#[tokio::test]
async fn parquet_goes_out_and_back_in() {
    let app = spawn_app().await;
    let write = "import pandas as pd\ndef main():\n    pd.DataFrame({'a': [1, 2], 'b': ['x', None]}).to_parquet('output/t.parquet')\n";
    let (status, body) = app.run(write).await;
    assert_eq!(status, 200, "{body}");
    let parquet = file(&body, "t.parquet")["content_base64"].clone();
    assert_eq!(&unb64(&parquet)[..4], b"PAR1");
    let (status, body) = app
        .execute(json!({"script": "def main():\n    return load_file('t.parquet')\n",
                        "files": [{"name": "t.parquet", "content": parquet, "encoding": "base64"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!([{"a": 1, "b": "x"}, {"a": 2, "b": null}])
    );
}

#[tokio::test]
async fn file_names_that_leave_the_directory_are_refused() {
    let app = spawn_app().await;
    let long = "n".repeat(300);
    let cases: [(&str, &str); 9] = [
        ("../x", "'/'"),
        ("/etc/passwd", "'/'"),
        ("a/b", "'/'"),
        ("x\0y", "NUL"),
        (".", "directory"),
        ("..", "directory"),
        ("", "empty"),
        (&long, "255 bytes"),
        ("output", "reserved"),
    ];
    for (name, reason) in cases {
        let (status, body) = app
            .execute(json!({"script": "def main():\n    return 1\n",
                            "files": [{"name": name, "content": "x"}]}))
            .await;
        assert_eq!(status, 400, "{name:?}: {body}");
        assert_eq!(body["error_type"], "invalid_request");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(reason), "{name:?}: {error}");
        assert!(error.len() < 200, "the name is shown cut short: {error}");
    }
    let (status, body) = app
        .execute(json!({"script": "def main():\n    return 1\n", "files": [
            {"name": "a.csv", "content": "1"}, {"name": "a.csv", "content": "2"}]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("twice"), "{body}");
    // A field that is not part of a file, and an unknown encoding.
    for bad in [
        json!({"name": "a", "content": "x", "mode": "0777"}),
        json!({"name": "a", "content": "x", "encoding": "hex"}),
        json!({"name": "a"}),
    ] {
        let (status, body) = app
            .execute(json!({"script": "def main():\n    return 1\n", "files": [bad]}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_type"], "invalid_request");
    }
    assert_survived(&app).await;
}

#[tokio::test]
async fn base64_must_be_valid() {
    let app = spawn_app().await;
    for bad in ["not base64!", "AAEC/w=", "AAEC-w==", "QQ==QQ=="] {
        let (status, body) = app
            .execute(json!({"script": "def main():\n    return 1\n",
                            "files": [{"name": "b.bin", "content": bad, "encoding": "base64"}]}))
            .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["error_type"], "invalid_request");
        assert!(body["error"].as_str().unwrap().contains("base64"), "{body}");
    }
    assert_survived(&app).await;
}

#[tokio::test]
async fn oversized_files_are_refused() {
    let app = spawn_app_with(|s| {
        s.max_input_files = 3;
        s.max_input_files_bytes = 64 * 1024;
    })
    .await;
    let four: Vec<Value> = (0..4)
        .map(|i| json!({"name": format!("f{i}"), "content": ""}))
        .collect();
    let (status, body) = app
        .execute(json!({"script": "def main():\n    return 1\n", "files": four}))
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error_type"], "payload_too_large");
    assert!(
        body["error"].as_str().unwrap().contains("limit is 3"),
        "{body}"
    );

    // Decoded sizes count, across files, whatever the encoding.
    for files in [
        json!([{"name": "a", "content": "x".repeat(40 * 1024)},
               {"name": "b", "content": b64(&junk(30 * 1024)), "encoding": "base64"}]),
        json!([{"name": "a", "content": b64(&junk(64 * 1024 + 1)), "encoding": "base64"}]),
    ] {
        let (status, body) = app
            .execute(json!({"script": "def main():\n    return 1\n", "files": files}))
            .await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error_type"], "payload_too_large");
    }
    // Exactly at the cap is fine.
    let (status, body) = app
        .execute(json!({"script": "import os\ndef main():\n    return os.path.getsize('a')\n",
                        "files": [{"name": "a", "content": b64(&junk(64 * 1024)), "encoding": "base64"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 64 * 1024);
    assert_survived(&app).await;
}

#[tokio::test]
async fn output_files_come_back() {
    let app = spawn_app().await;
    let bytes = junk(70_000);
    let script = r#"
import base64, os
def main():
    os.makedirs("output/plots/deep")
    with open("output/report.csv", "w") as f:
        f.write("a,b\n1,2\n")
    with open("output/plots/deep/blob.bin", "wb") as f:
        f.write(base64.b64decode(input_data))
    open("output/empty", "w").close()
    os.mkdir("output/nothing-in-here")
    return "done"
"#;
    let (status, body) = app
        .execute(json!({"script": script, "input": b64(&bytes)}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        names(&body),
        ["empty", "plots/deep/blob.bin", "report.csv"],
        "sorted, relative to output/, directories not listed"
    );
    let csv = file(&body, "report.csv");
    assert_eq!(csv["size"], 8);
    assert_eq!(csv["mime_type"], "text/csv");
    assert_eq!(unb64(&csv["content_base64"]), b"a,b\n1,2\n");
    let blob = file(&body, "plots/deep/blob.bin");
    assert_eq!(blob["size"], 70_000);
    assert_eq!(blob["mime_type"], "application/octet-stream");
    assert_eq!(unb64(&blob["content_base64"]), bytes);
    assert_eq!(file(&body, "empty")["size"], 0);

    // Nothing in output/: no "files" at all, as before.
    let (status, body) = app.run("def main():\n    return 1\n").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("files").is_none() && body.get("results").is_none(),
        "{body}"
    );
    // output/ removed, or replaced by a symlink to a directory full of files: nothing either.
    for script in [
        "import os\ndef main():\n    os.rmdir('output')\n",
        "import os\ndef main():\n    os.rmdir('output')\n    os.symlink('/venv/bin', 'output')\n",
    ] {
        let (status, body) = app.run(script).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("files").is_none(), "{body}");
    }
}

#[tokio::test]
async fn symlinks_and_special_files_in_output_are_not_followed() {
    let app = spawn_app().await;
    let script = r#"
import os, socket
def main():
    os.symlink("/etc/passwd", "output/passwd")
    os.symlink("/venv/bin", "output/bin")
    os.symlink("/proc/self/environ", "output/environ")
    os.mkfifo("output/fifo")
    socket.socket(socket.AF_UNIX).bind("output/sock")
    with open("mine.json", "w") as f:
        f.write("{}")
    os.link("mine.json", "output/hardlink.json")
    with open("output/real.txt", "w") as f:
        f.write("mine")
    return sorted(os.listdir("output"))
"#;
    let started = Instant::now();
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a FIFO blocked"
    );
    assert_eq!(
        body["result"],
        json!([
            "bin",
            "environ",
            "fifo",
            "hardlink.json",
            "passwd",
            "real.txt",
            "sock"
        ])
    );
    // A hard link is a regular file of the run's own /tmp; everything else is skipped.
    assert_eq!(names(&body), ["hardlink.json", "real.txt"], "{body}");
    for f in body["files"].as_array().unwrap() {
        let content = String::from_utf8_lossy(&unb64(&f["content_base64"])).into_owned();
        assert!(
            !content.contains("nobody:") && !content.contains("PATH="),
            "{content}"
        );
    }
    assert_survived(&app).await;
}

#[tokio::test]
async fn ten_thousand_tiny_output_files_are_an_output_limit() {
    let app = spawn_app().await;
    let script = r#"
import os
def main():
    for i in range(10000):
        with open("output/f%05d.txt" % i, "w") as f:
            f.write("x")
    return "written"
"#;
    let started = Instant::now();
    let (status, body) = app.run(script).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    assert!(
        body["error"].as_str().unwrap().contains("64 files"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // The same number of empty directories is bounded as well.
    let script = "import os\ndef main():\n    for i in range(10000):\n        os.mkdir('output/d%05d' % i)\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    assert_survived(&app).await;
}

#[tokio::test]
async fn output_sizes_are_capped() {
    let app = spawn_app_with(|s| {
        s.sandbox.max_output_files = 2;
        s.sandbox.max_output_files_bytes = 100_000;
    })
    .await;
    let write = |sizes: &[usize]| {
        let files: Vec<String> = sizes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("    open('output/f{i}', 'wb').write(b'x' * {n})\n"))
            .collect();
        format!("def main():\n{}    return 1\n", files.concat())
    };
    let (status, body) = app.run(&write(&[60_000, 40_000])).await;
    assert_eq!(status, 200, "at the caps: {body}");
    assert_eq!(names(&body), ["f0", "f1"]);
    let (status, body) = app.run(&write(&[60_000, 40_001])).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    assert!(
        body["error"].as_str().unwrap().contains("100000 bytes"),
        "{body}"
    );
    let (status, body) = app.run(&write(&[1, 1, 1])).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    // A long path is refused rather than returned.
    let deep = "import os\ndef main():\n    p = 'output/' + '/'.join(['d' * 200] * 6)\n    os.makedirs(p)\n    open(p + '/x', 'w').close()\n";
    let (status, body) = app.run(deep).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    assert_survived(&app).await;
}

#[tokio::test]
async fn open_figures_come_back_as_png() {
    let app = spawn_app().await;
    let script = r#"
import matplotlib.pyplot as plt
def main():
    plt.plot([1, 2, 3], [3, 1, 2])
    plt.title("first")
    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [1, 2])
    with open("output/figure-1.png", "wb") as f:
        f.write(b"mine")
    return plt.get_backend()
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"].as_str().unwrap().to_lowercase(), "agg");
    assert_eq!(
        body["stderr"], "",
        "no font-cache rebuild, no fc-list noise"
    );
    assert_eq!(
        names(&body),
        ["figure-1.png", "figure-2.png", "figure-3.png"]
    );
    assert_eq!(
        unb64(&file(&body, "figure-1.png")["content_base64"]),
        b"mine",
        "the script's own file keeps its name"
    );
    for name in ["figure-2.png", "figure-3.png"] {
        let png = file(&body, name);
        assert_eq!(png["mime_type"], "image/png");
        assert!(png["size"].as_u64().unwrap() > 1000, "{png}");
        assert_eq!(&unb64(&png["content_base64"])[..8], b"\x89PNG\r\n\x1a\n");
    }

    let (status, body) = app
        .execute(json!({"script": script, "capture_figures": false}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["figure-1.png"]);

    // Closed figures are not captured; seaborn draws on pyplot's.
    let script = "import matplotlib.pyplot as plt\nimport seaborn as sns\ndef main():\n    plt.figure(); plt.close('all')\n    sns.histplot([1, 2, 2, 3])\n";
    let (status, body) = app.execute(json!({"script": script, "memory": 512})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["figure-1.png"]);
}

#[tokio::test]
async fn save_result_adds_to_results() {
    let app = spawn_app().await;
    let script = r#"
import numpy as np
save_result("at_top_level", 1)
def main():
    save_result("stats", {"mean": np.float64(2.5), "nan": float("nan")})
    save_result("replaced", "old")
    save_result("replaced", [1, 2])
    return "main's own"
"#;
    let (status, body) = app.run(script).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], "main's own");
    assert_eq!(
        body["results"],
        json!({"at_top_level": 1, "stats": {"mean": 2.5, "nan": null}, "replaced": [1, 2]})
    );
    let (status, body) = app
        .run("def main():\n    save_result('bad', object())\n")
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "runtime_error");
    assert!(
        body["error"].as_str().unwrap().contains("results['bad']"),
        "{body}"
    );
    assert!(body["traceback"].as_str().unwrap().contains("script.py"));
    let (status, body) = app.run("def main():\n    save_result(1, 1)\n").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "runtime_error");
}

#[tokio::test]
async fn saved_results_share_the_result_cap() {
    let app = spawn_app_with(|s| s.sandbox.max_result_bytes = 64 * 1024).await;
    let (status, body) = app
        .run("def main():\n    for i in range(100):\n        save_result(str(i), 'x' * 1000)\n")
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    let (status, body) = app
        .run("def main():\n    save_result('a', 'x' * 40000)\n    return 'y' * 40000\n")
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    assert_survived(&app).await;
}

/// A script that writes its own frame on the result channel and exits.
fn forge(extras: &str) -> String {
    let frame = format!(r#"{{"ok":true,"result":1,{extras}}}"#);
    format!(
        "import os\ndef main():\n    os.write(3, b'%d\\n' % {len} + {frame:?}.encode())\n    os._exit(0)\n",
        len = frame.len()
    )
}

#[tokio::test]
async fn forged_files_in_the_frame_are_checked() {
    let app = spawn_app_with(|s| s.sandbox.max_output_files = 1).await;
    let entry = r#"{"name":"a.html","content_base64":"eA=="}"#;
    let (status, body) = app.run(&forge(&format!(r#""files":[{entry}]"#))).await;
    assert_eq!(
        status, 200,
        "a well-formed forgery is the script's own output: {body}"
    );
    let (status, body) = app
        .run(&forge(&format!(r#""files":[{entry},{entry}]"#)))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "output_limit");
    for bad in [
        r#""files":[{"name":"a","content_base64":"","extra":1}]"#,
        r#""files":{"a":1}"#,
        r#""results":[1]"#,
        r#""usage":{"cpu_time_ms":1,"max_rss_kib":2,"gpu":3}"#,
        r#""extra":1"#,
    ] {
        let (status, body) = app.run(&forge(bad)).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error_type"], "invalid_result");
    }
    assert_survived(&app).await;
}

/// What a client saves by name must stay in its folder, and what it is told about a file must be
/// true of the bytes it gets: names, sizes and types are the server's, not the frame's.
#[tokio::test]
async fn forged_output_files_cannot_name_paths_outside_the_folder_or_lie_about_content() {
    let app = spawn_app().await;
    for (name, content) in [
        ("../../../home/user/.bashrc", "eA=="),
        ("/etc/cron.d/evil", "eA=="),
        ("..\\..\\x", "eA=="),
        ("a/../../b", "eA=="),
        ("ok.txt", "not base64 at all"),
        ("ok.txt", "eA="),
    ] {
        let extras = format!(r#""files":[{{"name":{name:?},"content_base64":{content:?}}}]"#);
        let (status, body) = app.run(&forge(&extras)).await;
        assert_eq!(status, 422, "{name:?} {content:?}: {body}");
        assert_eq!(body["error_type"], "invalid_result", "{body}");
        assert!(body.get("files").is_none(), "{body}");
    }
    // An honest script can name a file so too: it is told which, not that it forged the channel.
    let script = "def main():\n    open('output/a\\\\b.csv', 'w').close()\n";
    let (status, body) = app.run(script).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "invalid_result", "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("a\\\\b.csv") && !error.contains("fd 3"),
        "{error}"
    );
    // A size and a type in the frame are not the runner's fields: a forgery.
    let extras =
        r#""files":[{"name":"a.txt","size":99,"mime_type":"text/html","content_base64":"eA=="}]"#;
    let (status, body) = app.run(&forge(extras)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_type"], "invalid_result");
    // A well-formed forgery gets the server's size and type.
    let extras = r#""files":[{"name":"page.html","content_base64":"PGI+aGk8L2I+"}]"#;
    let (status, body) = app.run(&forge(extras)).await;
    assert_eq!(status, 200, "{body}");
    let page = file(&body, "page.html");
    assert_eq!(page["size"], 9);
    assert_eq!(page["mime_type"], "text/html");
    assert_eq!(unb64(&page["content_base64"]), b"<b>hi</b>");
    assert_survived(&app).await;
}

#[tokio::test]
async fn big_output_files_near_the_memory_limit_end_plainly() {
    let app = spawn_app_with(|s| s.sandbox.max_output_files_bytes = 48 << 20).await;
    // 40 MiB of output in a 96 MiB run: reading and encoding it needs more than is left.
    let script = "def main():\n    with open('output/big.bin', 'wb') as f:\n        f.write(b'x' * (40 << 20))\n";
    let (status, body) = app.execute(json!({"script": script, "memory": 96})).await;
    assert_eq!(status, 422, "{body:.300}");
    assert_eq!(body["error_type"], "memory_limit", "{body:.300}");
    assert_survived(&app).await;
}
