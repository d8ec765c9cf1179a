//! Suite files (`benchmarks/*.toml`): which settings, tasks, agents, seeds and budgets a study
//! runs, with per-agent configs and per-task overrides. A suite with an unknown agent or task,
//! a typo'd key or an agent/task mismatch fails before anything runs, naming the line.
//!
//! ```toml
//! [suite]
//! seeds = [0, 1]
//! eval_episodes = 10
//!
//! [[experiment]]
//! setting = "conditional-il"          # a table per setting
//! tasks = ["pointmaze-medium-navigate"]
//! agents = ["nf-gcbc", "gcbc"]
//! steps = 2000
//! eval_every = 1000
//! [experiment.agent.nf-gcbc]          # agent config for this experiment
//! blocks = 4
//! [experiment.task.pointmaze-medium-navigate.nf-gcbc]   # per-task override (γ, α, …)
//! gamma = 0.99
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rl::TrainConfig;
use serde::Deserialize;
use toml::Spanned;

use crate::agents::{check_task, configure, find};
use crate::train::RunSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    suite: Header,
    experiment: Vec<Experiment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    #[serde(default)]
    description: String,
    seeds: Vec<u64>,
    #[serde(default = "default_episodes")]
    eval_episodes: usize,
    #[serde(default = "default_batch")]
    batch_size: usize,
}

fn default_episodes() -> usize {
    50
}
fn default_batch() -> usize {
    256
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Experiment {
    setting: String,
    tasks: Vec<Spanned<String>>,
    agents: Vec<Spanned<String>>,
    steps: u64,
    eval_every: u64,
    #[serde(default)]
    eval_episodes: Option<usize>,
    #[serde(default)]
    agent: BTreeMap<String, toml::Table>,
    #[serde(default)]
    task: BTreeMap<String, BTreeMap<String, toml::Table>>,
}

/// One run of a suite, with where it belongs in the tables.
#[derive(Clone, Debug)]
pub struct SuiteRun {
    pub setting: String,
    pub spec: RunSpec,
}

#[derive(Clone, Debug)]
pub struct Suite {
    pub name: String,
    pub description: String,
    pub runs: Vec<SuiteRun>,
}

/// `quick` → `benchmarks/quick.toml`; anything with a `/` or `.toml` is a path.
pub fn resolve(name_or_path: &str) -> PathBuf {
    if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        PathBuf::from(name_or_path)
    } else {
        PathBuf::from("benchmarks").join(format!("{name_or_path}.toml"))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Reads and checks a suite, expanding it into runs under `results/runs/SUITE/...`.
pub fn load(path: &Path, results: &Path, data: &Path) -> Result<Suite> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading suite {}", path.display()))?;
    let file: SuiteFile = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("suite").to_string();
    let at = |span: std::ops::Range<usize>| format!("{}:{}", path.display(), line_of(&text, span.start));
    if file.suite.seeds.is_empty() {
        bail!("{}: [suite] seeds is empty", path.display());
    }
    let mut runs = Vec::new();
    for exp in &file.experiment {
        if exp.steps == 0 || exp.eval_every == 0 {
            bail!("{}: experiment `{}`: steps and eval_every must be positive", path.display(), exp.setting);
        }
        let tasks = exp.tasks.iter().map(|t| envs::Task::resolve(t.get_ref()).with_context(|| at(t.span()))).collect::<Result<Vec<_>>>()?;
        for a in &exp.agents {
            find(a.get_ref()).with_context(|| at(a.span()))?;
            let cfg = configure(a.get_ref(), exp.agent.get(a.get_ref())).with_context(|| format!("{}: [experiment.agent.{}]", path.display(), a.get_ref()))?;
            for (t, task) in exp.tasks.iter().zip(&tasks) {
                check_task(&cfg, task).with_context(|| format!("{}: agent `{}` cannot run task `{}`", at(t.span()), a.get_ref(), t.get_ref()))?;
            }
        }
        for (task, per_agent) in &exp.task {
            if !exp.tasks.iter().any(|t| t.get_ref() == task) {
                bail!("{}: experiment `{}` overrides task `{task}`, which is not in its tasks", path.display(), exp.setting);
            }
            for (agent, over) in per_agent {
                let mut merged = exp.agent.get(agent).cloned().unwrap_or_default();
                merged.extend(over.clone());
                let cfg = configure(agent, Some(&merged)).with_context(|| format!("{}: [experiment.task.{task}.{agent}]", path.display()))?;
                let resolved = &tasks[exp.tasks.iter().position(|t| t.get_ref() == task).expect("checked above")];
                check_task(&cfg, resolved).with_context(|| format!("{}: [experiment.task.{task}.{agent}]", path.display()))?;
            }
        }
        for t in &exp.tasks {
            for a in &exp.agents {
                let mut table = exp.agent.get(a.get_ref()).cloned();
                if let Some(over) = exp.task.get(t.get_ref()).and_then(|m| m.get(a.get_ref())) {
                    table.get_or_insert_with(toml::Table::new).extend(over.clone());
                }
                for &seed in &file.suite.seeds {
                    let train =
                        TrainConfig { steps: exp.steps, batch_size: file.suite.batch_size, eval_every: exp.eval_every, eval_episodes: exp.eval_episodes.unwrap_or(file.suite.eval_episodes), seed };
                    train.validate().with_context(|| format!("{}: experiment `{}`", path.display(), exp.setting))?;
                    let out = results.join("runs").join(&name).join(&exp.setting).join(t.get_ref()).join(a.get_ref()).join(format!("seed{seed}"));
                    runs.push(SuiteRun {
                        setting: exp.setting.clone(),
                        spec: RunSpec {
                            agent: a.get_ref().clone(),
                            task: t.get_ref().clone(),
                            seed,
                            train,
                            agent_table: table.clone(),
                            data: data.to_path_buf(),
                            out,
                            device: crate::device::DeviceName::Cpu,
                        },
                    });
                }
            }
        }
    }
    Ok(Suite { name, description: file.suite.description, runs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("nf-rl-suite-{}-{name}.toml", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = "[suite]\nseeds = [0, 1]\neval_episodes = 5\n\n[[experiment]]\nsetting = \"cil\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [\"nf-gcbc\", \"gcbc\"]\nsteps = 100\neval_every = 50\n[experiment.agent.gcbc]\nhidden = [32]\n[experiment.task.pointmaze-medium-navigate.gcbc]\nlr = 0.001\n";

    #[test]
    fn a_good_suite_expands_into_runs_with_merged_configs() {
        let s = load(&write("good", GOOD), Path::new("R"), Path::new("D")).unwrap();
        assert_eq!(s.runs.len(), 4);
        let g = s.runs.iter().find(|r| r.spec.agent == "gcbc" && r.spec.seed == 1).unwrap();
        let t = g.spec.agent_table.as_ref().unwrap();
        assert_eq!(t["lr"].as_float(), Some(0.001));
        assert_eq!(t["hidden"].as_array().unwrap().len(), 1);
        assert_eq!(g.spec.out, Path::new("R/runs").join(s.name.clone()).join("cil/pointmaze-medium-navigate/gcbc/seed1"));
        assert_eq!(g.spec.train.eval_episodes, 5);
    }

    #[test]
    fn bad_suites_fail_naming_the_line_or_key() {
        let cases = [
            ("agent", GOOD.replace("\"nf-gcbc\", \"gcbc\"", "\"nf-gcbc\", \"gcbcc\""), "gcbcc", Some(8)),
            ("task", GOOD.replace("[\"pointmaze-medium-navigate\"]", "[\"antmaze-medium-navigate\"]"), "antmaze-medium-navigate", Some(7)),
            ("key", GOOD.replace("steps = 100", "stepz = 100"), "stepz", None),
            ("agent-key", GOOD.replace("hidden = [32]", "hiden = [32]"), "hiden", None),
            ("mismatch", GOOD.replace("\"nf-gcbc\", \"gcbc\"", "\"nf-rlbc\""), "cannot run", Some(7)),
            ("nan", GOOD.replace("hidden = [32]", "hidden = [32]\nlr = nan"), "`lr` = NaN", None),
            ("range", GOOD.replace("lr = 0.001", "lr = -0.001"), "[experiment.task.pointmaze-medium-navigate.gcbc]", None),
            ("batch", GOOD.replace("eval_episodes = 5", "eval_episodes = 5\nbatch_size = 0"), "`batch_size`", None),
        ];
        for (name, text, needle, line) in cases {
            let err = format!("{:#}", load(&write(name, &text), Path::new("R"), Path::new("D")).unwrap_err());
            assert!(err.contains(needle), "{name}: {err}");
            if let Some(l) = line {
                assert!(err.contains(&format!(".toml:{l}")), "{name}: no line {l} in: {err}");
            }
        }
    }

    /// The repository's suites load (every agent config validated) and the paper suite has the
    /// study's columns: the value-based goal-conditioned baselines next to NF-GCBC, IQL next to
    /// NF-RLBC.
    #[test]
    fn the_repositorys_suites_load_with_the_studys_columns() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let s = load(&path, Path::new("R"), Path::new("D")).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                assert!(!s.runs.is_empty(), "{}", path.display());
                names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
            }
        }
        assert!(names.iter().any(|n| n == "quick") && names.iter().any(|n| n == "paper"), "{names:?}");
        let paper = load(&root.join("paper.toml"), Path::new("R"), Path::new("D")).unwrap();
        let agents = |setting: &str| {
            let mut a: Vec<&str> = paper.runs.iter().filter(|r| r.setting == setting).map(|r| r.spec.agent.as_str()).collect();
            a.dedup();
            a.sort();
            a.dedup();
            a
        };
        assert_eq!(agents("conditional-il"), ["crl", "fm-gcbc", "gcbc", "gciql", "gcivl", "hiql", "nf-gcbc", "qrl", "random"]);
        assert_eq!(agents("offline-rl"), ["bc", "fql", "idql", "ifql", "iql", "nf-rlbc", "random", "rebrac"]);
    }
}
