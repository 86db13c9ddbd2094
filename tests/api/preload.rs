//! What the zygote preloads (issue 19): matplotlib, pyplot and seaborn are imported, and a
//! throw-away figure drawn, before the zygote forks its first run. A forked run must find them as
//! a cold jail's fresh imports would leave them: no open figure, the same rcParams, styles, themes
//! and fonts, and no trace of an earlier run that restyled everything it could. Each probe is
//! compared with the same probe run cold, in a server without a pool.

use serde_json::{json, Value};

use crate::fork::{fork_app, run_forked};
use crate::helpers::spawn_app_with;
use crate::pool::pool_counter;

/// Everything a run can read of matplotlib's and seaborn's state, as text. Run cold and forked:
/// the two must be equal.
const PROBE: &str = r#"
import sys
import matplotlib
import matplotlib.pyplot as plt
import matplotlib.font_manager as fm
import seaborn as sns

def main():
    rc = {k: repr(v) for k, v in matplotlib.rcParams.items()}
    state = {
        "figures": plt.get_fignums(),
        "backend": matplotlib.get_backend(),
        "interactive": matplotlib.is_interactive(),
        "rc": rc,
        "styles": sorted(plt.style.available),
        "style_library": {k: repr(dict(v)) for k, v in sorted(plt.style.library.items())},
        "fonts": sorted((f.name, f.fname) for f in fm.fontManager.ttflist),
        "fonts_open": fm._get_font.cache_info().currsize,
        "default_font": fm.findfont(fm.FontProperties(family=matplotlib.rcParams["font.family"])),
        "seaborn_style": repr(sns.axes_style()),
        "seaborn_context": repr(sns.plotting_context()),
        "seaborn_palette": sns.color_palette().as_hex(),
        "cache_dir": matplotlib.get_cachedir(),
    }
    fig = plt.figure()
    state["next_figure_number"] = fig.number
    plt.close(fig)
    return state
"#;

/// Changes every piece of plotting state a script can reach, and leaves a figure open.
const RESTYLE: &str = r#"
import glob, os
import matplotlib
import matplotlib.pyplot as plt
import matplotlib.font_manager as fm
import seaborn as sns

def main():
    plt.style.use("dark_background")
    sns.set_theme(style="darkgrid", context="poster", palette="husl", font_scale=3)
    matplotlib.rcParams["lines.linewidth"] = 9
    matplotlib.rcParams["font.family"] = ["monospace"]
    plt.style.library["psa-mine"] = {"axes.facecolor": "red"}
    plt.style.available.append("psa-mine")
    plt.ion()
    plt.figure(42).gca().plot([1, 2, 3])
    ttf = sorted(glob.glob(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "*.ttf")))[-1]
    fm.fontManager.addfont(ttf)
    fm.fontManager.ttflist.append(fm.fontManager.ttflist[0])
    fm.findfont("monospace")
    os.makedirs(matplotlib.get_cachedir(), exist_ok=True)
    for name in ("fontlist-v390.json", "fontlist-v330.json"):
        open(os.path.join(matplotlib.get_cachedir(), name), "w").write("{not json")
    return {"figures": plt.get_fignums(), "fonts": len(fm.fontManager.ttflist)}
"#;

async fn cold_probe() -> Value {
    let app = spawn_app_with(|s| s.sandbox.pool_size = 0).await;
    let (status, body) = app.execute(json!({ "script": PROBE })).await;
    assert_eq!(status, 200, "{body}");
    app.assert_healthy().await;
    body["result"].clone()
}

/// Names the keys where two probes differ, for a readable failure.
fn differences(cold: &Value, forked: &Value) -> Vec<String> {
    let (Some(cold), Some(forked)) = (cold.as_object(), forked.as_object()) else {
        return vec![format!("not objects: {cold} / {forked}")];
    };
    let mut out = Vec::new();
    for (key, value) in cold {
        if forked.get(key) != Some(value) {
            out.push(format!(
                "{key}: cold {value} / forked {:?}",
                forked.get(key)
            ));
        }
    }
    out
}

#[tokio::test]
async fn a_forked_run_finds_plotting_state_as_a_cold_import_leaves_it() {
    let cold = cold_probe().await;
    assert_eq!(cold["figures"], json!([]), "{cold}");
    assert_eq!(cold["next_figure_number"], 1, "{cold}");
    let app = fork_app(1).await;
    // The default preload is in place before the script imports anything.
    let preloaded = r#"
import sys
def main():
    wanted = ["numpy", "pandas", "scipy", "matplotlib", "matplotlib.pyplot", "seaborn"]
    return [m for m in wanted if m in sys.modules]
"#;
    let found = run_forked(&app, json!({ "script": preloaded })).await;
    assert_eq!(
        found,
        json!([
            "numpy",
            "pandas",
            "scipy",
            "matplotlib",
            "matplotlib.pyplot",
            "seaborn"
        ])
    );
    let forked = run_forked(&app, json!({ "script": PROBE })).await;
    assert_eq!(differences(&cold, &forked), Vec::<String>::new());
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_run_that_restyles_matplotlib_leaves_the_next_run_untouched() {
    let cold = cold_probe().await;
    let app = fork_app(1).await;
    let (status, restyled) = app.execute(json!({ "script": RESTYLE })).await;
    assert_eq!(status, 200, "{restyled}");
    assert_eq!(restyled["result"]["figures"], json!([42]), "{restyled}");
    // The figure it left open came back as its own, not the next run's.
    assert_eq!(restyled["files"][0]["name"], "figure-1.png", "{restyled}");
    for _ in 0..2 {
        let forked = run_forked(&app, json!({ "script": PROBE })).await;
        assert_eq!(differences(&cold, &forked), Vec::<String>::new());
    }
    assert_eq!(
        pool_counter(&app, "psa_pool_zygote_starts_total").await,
        1,
        "the zygote was replaced instead of reused"
    );
    app.assert_healthy().await;
}
