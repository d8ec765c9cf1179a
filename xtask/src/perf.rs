//! `cargo xtask perf --compare`: our criterion figures for the models that
//! `scripts/jax_reference.py` writes in JAX, beside the script's jit-compiled figures, as one
//! Markdown table. The agent bench (`benches/agents.rs`) includes this file for the quick
//! suite's NF-GCBC, so the bench and the script size that model from the same suite table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use rl::{Configured, TrainConfig};
use serde::Deserialize;

/// The criterion group of the gradient steps (`benches/agents.rs`).
pub const GROUP: &str = "gradient step, batch 256";
/// The bench's name for the quick suite's NF-GCBC, and the script's.
pub const QUICK_NF_GCBC: &str = "nf-gcbc-quick";
/// The models both sides time, in table order, as the bench and the script name them.
pub const MODELS: &[&str] = &["nf-gcbc", "nf-rlbc", "gcbc", QUICK_NF_GCBC];
/// Relative to the repository root.
pub const SCRIPT: &str = "scripts/jax_reference.py";
pub const QUICK_SUITE: &str = "benchmarks/quick.toml";
pub const INSTALL_JAX: &str = "python3 -m pip install 'jax[cpu]'";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace root").to_path_buf()
}

/// NF-GCBC as the quick suite's first experiment runs it: its `[experiment.agent.nf-gcbc]`
/// table, its first task's dimensions and its step budget (which sets the cosine's length).
pub struct QuickNfGcbc {
    /// Read by the bench, which builds the agent; the runner needs only the task's dimensions.
    #[allow(dead_code)]
    pub config: Configured,
    #[allow(dead_code)]
    pub train: TrainConfig,
    pub task: envs::Task,
}

pub fn quick_nf_gcbc(suite: &Path) -> Result<QuickNfGcbc> {
    let text = std::fs::read_to_string(suite).with_context(|| format!("reading {}", suite.display()))?;
    let file: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", suite.display()))?;
    let exp = file.get("experiment").and_then(|e| e.as_array()).and_then(|e| e.first()).and_then(|e| e.as_table()).with_context(|| format!("{}: no [[experiment]]", suite.display()))?;
    let runs_it = exp.get("agents").and_then(|a| a.as_array()).is_some_and(|a| a.iter().any(|a| a.as_str() == Some("nf-gcbc")));
    if !runs_it {
        bail!("{}: the first experiment does not run nf-gcbc, which `{QUICK_NF_GCBC}` times", suite.display());
    }
    let table = exp.get("agent").and_then(|a| a.get("nf-gcbc")).and_then(|t| t.as_table());
    let task = exp.get("tasks").and_then(|t| t.as_array()).and_then(|t| t.first()).and_then(|t| t.as_str()).with_context(|| format!("{}: the first experiment has no tasks", suite.display()))?;
    let steps =
        exp.get("steps").and_then(|s| s.as_integer()).and_then(|s| u64::try_from(s).ok()).with_context(|| format!("{}: the first experiment's `steps` is not a positive integer", suite.display()))?;
    let config = crate::agents::configure("nf-gcbc", table).with_context(|| format!("{}: [experiment.agent.nf-gcbc]", suite.display()))?;
    Ok(QuickNfGcbc { config, train: TrainConfig { steps, ..TrainConfig::default() }, task: envs::Task::resolve(task)? })
}

/// Criterion's filter (a regex on `group/name`) for exactly [`MODELS`] in [`GROUP`].
pub fn criterion_filter() -> String {
    format!("^{GROUP}/({})$", MODELS.join("|"))
}

/// Where criterion writes its figures, found as criterion finds it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else cargo's target directory.
pub fn criterion_home(cargo: &str) -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Ok(home.into());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(target).join("criterion"));
    }
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let out = Command::new(cargo).args(["metadata", "--format-version", "1", "--no-deps"]).output().context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let meta: Metadata = serde_json::from_slice(&out.stdout).context("reading cargo metadata's target_directory")?;
    Ok(meta.target_directory.join("criterion"))
}

/// Criterion's `new/estimates.json` of one benchmark.
pub fn estimates_path(home: &Path, model: &str) -> PathBuf {
    home.join(GROUP).join(model).join("new").join("estimates.json")
}

/// The median of a criterion `estimates.json` (nanoseconds per iteration), in milliseconds.
pub fn median_ms(estimates_json: &str) -> Result<f64> {
    #[derive(Deserialize)]
    struct Estimate {
        point_estimate: f64,
    }
    #[derive(Deserialize)]
    struct Estimates {
        median: Estimate,
    }
    let e: Estimates = serde_json::from_str(estimates_json).context("expected criterion's estimates.json with `median.point_estimate`")?;
    Ok(e.median.point_estimate / 1e6)
}

/// One line of `jax_reference.py --json`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JaxFigure {
    pub name: String,
    pub ms_per_step: f64,
    pub jax: String,
    pub device: String,
    pub threads: usize,
}

/// The script's `--json` output: one object per non-empty line.
pub fn parse_jax_lines(stdout: &str) -> Result<Vec<JaxFigure>> {
    stdout.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{SCRIPT} --json, line {}: `{l}`", i + 1))).collect()
}

/// What the JAX column shows: figures, or why there are none.
pub enum JaxColumn {
    Figures(Vec<JaxFigure>),
    Missing(String),
}

/// The comparison as Markdown: one row per model of `ours` (`None`: no criterion figure), the
/// thread counts in the header; a model without a figure on either side shows "—".
pub fn table(ours: &[(&str, Option<f64>)], our_threads: &str, jax: &JaxColumn) -> String {
    let dash = "—".to_string();
    let ms = |v: Option<f64>| v.map_or(dash.clone(), |v| format!("{v:.2}"));
    let (jax_head, by_name, note) = match jax {
        JaxColumn::Figures(f) => {
            let mut described: Vec<String> = f.iter().map(|f| format!("jax {}, {}, {} threads", f.jax, f.device, f.threads)).collect();
            described.dedup();
            let head = if described.is_empty() { "no figures".to_string() } else { described.join("; ") };
            (head, f.iter().map(|f| (f.name.as_str(), f.ms_per_step)).collect::<BTreeMap<_, _>>(), None)
        }
        JaxColumn::Missing(why) => ("not run".to_string(), BTreeMap::new(), Some(why.as_str())),
    };
    let mut out = format!("| model | nf-rl ms/step ({our_threads}) | JAX-jit ms/step ({jax_head}) | ratio (ours/JAX) |\n|---|---|---|---|\n");
    for &(model, our) in ours {
        let theirs = by_name.get(model).copied();
        let ratio = match (our, theirs) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => dash.clone(),
        };
        out += &format!("| {model} | {} | {} | {ratio} |\n", ms(our), ms(theirs));
    }
    if let Some(why) = note {
        out += &format!("\nJAX column: {why}\n");
    }
    out
}

/// The thread count our side runs with: candle's CPU kernels and rayon read `RAYON_NUM_THREADS`,
/// else use every core.
pub fn our_threads() -> String {
    match std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0) {
        Some(n) => format!("{n} thread{}, RAYON_NUM_THREADS", if n == 1 { "" } else { "s" }),
        None => format!("{} threads, every core", std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Runs the four criterion figures, then the script if JAX imports, and prints the table.
/// `extra` goes to criterion after the filter.
pub fn compare(cargo: &str, extra: &[String]) -> Result<()> {
    let root = repo_root();
    let status = Command::new(cargo).current_dir(&root).args(["bench", "-p", "xtask", "--bench", "agents", "--"]).arg(criterion_filter()).args(extra).status().context("running cargo bench")?;
    if !status.success() {
        bail!("cargo bench -p xtask --bench agents failed ({status})");
    }
    let home = criterion_home(cargo)?;
    let ours: Vec<(&str, Option<f64>)> = MODELS
        .iter()
        .map(|&m| {
            let path = estimates_path(&home, m);
            let ms = std::fs::read_to_string(&path).ok().map(|t| median_ms(&t).with_context(|| path.display().to_string())).transpose()?;
            Ok((m, ms))
        })
        .collect::<Result<_>>()?;
    let jax_imports = Command::new("python3").args(["-c", "import jax"]).output().is_ok_and(|o| o.status.success());
    let (jax, failure) = if jax_imports {
        let quick = quick_nf_gcbc(&root.join(QUICK_SUITE))?;
        let dims = format!("{},{}", quick.task.obs_dim, quick.task.act_dim);
        eprintln!("running {SCRIPT} (compiles each model, then times it)…");
        let out = Command::new("python3")
            .current_dir(&root)
            .arg(SCRIPT)
            .args(["--json", "--models", &MODELS.join(","), "--quick-suite", QUICK_SUITE, "--quick-dims", &dims])
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("running python3 {SCRIPT}"))?;
        let figures = parse_jax_lines(&String::from_utf8_lossy(&out.stdout))?;
        let failure = (!out.status.success()).then(|| format!("python3 {SCRIPT} failed ({})", out.status));
        (JaxColumn::Figures(figures), failure)
    } else {
        (JaxColumn::Missing(format!("`python3 -c 'import jax'` fails; install JAX (CPU) with `{INSTALL_JAX}` and rerun")), None)
    };
    print!("{}", table(&ours, &our_threads(), &jax));
    match failure {
        Some(f) => bail!(f),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Criterion 0.7's estimates.json as written for one benchmark (times in ns).
    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.1e8,"upper_bound":1.2e8},"point_estimate":1.15e8,"standard_error":1e6},
        "median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.12e8,"upper_bound":1.14e8},"point_estimate":113250000.0,"standard_error":5e5},
        "median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1e5,"upper_bound":3e5},"point_estimate":2e5,"standard_error":1e4},
        "slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1e6,"upper_bound":3e6},"point_estimate":2e6,"standard_error":1e5}}"#;

    #[test]
    fn median_is_read_in_milliseconds() {
        assert!((median_ms(ESTIMATES).unwrap() - 113.25).abs() < 1e-9);
        let err = median_ms(r#"{"mean":{}}"#).unwrap_err();
        assert!(format!("{err:#}").contains("median.point_estimate"), "{err:#}");
    }

    #[test]
    fn script_lines_and_estimates_make_the_table() {
        let stdout = concat!(
            r#"{"name": "nf-gcbc", "ms_per_step": 45.0, "jax": "0.10.2", "device": "cpu", "threads": 2, "steps": 30, "batch": 256}"#,
            "\n\n",
            r#"{"name": "gcbc", "ms_per_step": 20.0, "jax": "0.10.2", "device": "cpu", "threads": 2, "steps": 30, "batch": 256}"#,
            "\n"
        );
        let figures = parse_jax_lines(stdout).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0], JaxFigure { name: "nf-gcbc".into(), ms_per_step: 45.0, jax: "0.10.2".into(), device: "cpu".into(), threads: 2 });
        let ours = [("nf-gcbc", Some(median_ms(ESTIMATES).unwrap())), ("nf-rlbc", None), ("gcbc", Some(25.0)), (QUICK_NF_GCBC, Some(3.0))];
        let t = table(&ours, "1 thread, RAYON_NUM_THREADS", &JaxColumn::Figures(figures));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| model | nf-rl ms/step (1 thread, RAYON_NUM_THREADS) | JAX-jit ms/step (jax 0.10.2, cpu, 2 threads) | ratio (ours/JAX) |");
        assert_eq!(lines[2], "| nf-gcbc | 113.25 | 45.00 | 2.52× |");
        // Missing on our side, on theirs, or on both: a dash, and no ratio.
        assert_eq!(lines[3], "| nf-rlbc | — | — | — |");
        assert_eq!(lines[4], "| gcbc | 25.00 | 20.00 | 1.25× |");
        assert_eq!(lines[5], "| nf-gcbc-quick | 3.00 | — | — |");
        assert_eq!(lines.len(), 6);
    }

    #[test]
    fn missing_jax_still_shows_our_column_and_how_to_install() {
        let t = table(&[("gcbc", Some(25.0))], "2 threads, every core", &JaxColumn::Missing(format!("install with `{INSTALL_JAX}`")));
        assert!(t.contains("| gcbc | 25.00 | — | — |"), "{t}");
        assert!(t.contains("pip install 'jax[cpu]'"), "{t}");
    }

    #[test]
    fn a_bad_script_line_names_the_line() {
        let err = parse_jax_lines("{\"name\": \"gcbc\"}\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 1"), "{err:#}");
    }

    #[test]
    fn the_suites_first_experiment_sizes_the_quick_model() {
        let dir = tempfile::tempdir().unwrap();
        let suite = dir.path().join("s.toml");
        let exp = |agents: &str| {
            format!("[[experiment]]\nsetting = \"x\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [{agents}]\nsteps = 700\neval_every = 100\n\n[experiment.agent.nf-gcbc]\nblocks = 3\n")
        };
        std::fs::write(&suite, exp("\"gcbc\", \"nf-gcbc\"")).unwrap();
        let q = quick_nf_gcbc(&suite).unwrap();
        let task = envs::Task::resolve("pointmaze-medium-navigate").unwrap();
        assert_eq!((q.task.obs_dim, q.task.act_dim), (task.obs_dim, task.act_dim));
        let mut train = q.train;
        let (agent, resolved) = q.config.build(&mut train, task.obs_dim, task.act_dim, 0, &candle_core::Device::Cpu).unwrap();
        assert_eq!(agent.name(), "nf-gcbc");
        assert!(resolved.contains("blocks = 3"), "the table reaches the config: {resolved}");
        assert!(resolved.contains("schedule_steps = 700"), "the cosine spans the experiment's steps: {resolved}");
        std::fs::write(&suite, exp("\"gcbc\"")).unwrap();
        let err = quick_nf_gcbc(&suite).err().expect("an experiment without nf-gcbc is refused");
        assert!(format!("{err:#}").contains("does not run nf-gcbc"), "{err:#}");
    }
}
