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
//! steps = 2000                        # online settings: environment steps
//! eval_every = 1000
//! # eval_episodes, batch_size: override the [suite] values for this experiment
//! [experiment.agent.nf-gcbc]          # agent config for this experiment
//! blocks = 4
//! [experiment.task.pointmaze-medium-navigate.nf-gcbc]   # per-task override (γ, α, …)
//! gamma = 0.99
//! ```
//!
//! A second column of one agent with another config is the agent's name, `@` and a label
//! (`agents = ["nf-rlbc", "nf-rlbc@maxent"]`): its table `[experiment.agent."nf-rlbc@maxent"]`
//! is merged over the agent's own, its runs live under `…/nf-rlbc@maxent/seedN`, and the tables
//! show it as its own column (the laptop suite's entropy-regularised NF-RLBC next to λ = 0).
//!
//! An ablation runs one agent in several variants: each `[[experiment.variant]]` is a column of
//! the regular tables (`nf-gcbc@no-linear`, its runs under `…/nf-gcbc@no-linear/seedN`) and a row
//! of the ablation table, which sets our number beside the paper's for the row each task stands in
//! for. `set` is merged over the agent's config and task overrides; `value` places the variant on
//! a sweep plot's x axis; `paper` is a number, or a text such as `"diverges"`.
//!
//! ```toml
//! [[experiment.variant]]
//! name = "no-linear"                  # [A-Za-z0-9._-]: a directory name
//! label = "no permutation/linear flow"
//! set = { plu_linear = false }
//! paper = { pointmaze-large-navigate = 0.26 }
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
    batch_size: Option<usize>,
    #[serde(default)]
    agent: BTreeMap<String, toml::Table>,
    #[serde(default)]
    task: BTreeMap<String, BTreeMap<String, toml::Table>>,
    #[serde(default)]
    variant: Vec<VariantSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantSpec {
    name: Spanned<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    paper: BTreeMap<String, Paper>,
}

/// The paper's entry for a variant on a task's row: a number, or a text (`"diverges"`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Paper {
    Number(f64),
    Text(String),
}

impl std::fmt::Display for Paper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Paper::Number(v) => write!(f, "{v}"),
            Paper::Text(t) => f.write_str(t),
        }
    }
}

/// The ablation variant a run belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct RunVariant {
    pub name: String,
    /// What the table's row says (the name unless given).
    pub label: String,
    /// The variant's place on a sweep plot's x axis.
    pub value: Option<f64>,
    /// The keys the variant sets (a sweep plot's x axis is named after a single one).
    pub keys: Vec<String>,
    /// The paper's number for this run's task.
    pub paper: Option<Paper>,
}

/// One run of a suite, with where it belongs in the tables.
#[derive(Clone, Debug)]
pub struct SuiteRun {
    pub setting: String,
    pub spec: RunSpec,
    pub variant: Option<RunVariant>,
    /// The label of a second column of the agent (`nf-rlbc@maxent` → `maxent`).
    pub alias: Option<String>,
}

/// A run's column in the tables (and its directory under the task): the agent, or
/// `agent@variant` in an ablation.
pub fn column(agent: &str, variant: Option<&str>) -> String {
    match variant {
        Some(v) => format!("{agent}@{v}"),
        None => agent.to_string(),
    }
}

impl SuiteRun {
    /// The run's [`column`].
    pub fn column(&self) -> String {
        column(&self.spec.agent, self.variant.as_ref().map(|v| v.name.as_str()).or(self.alias.as_deref()))
    }
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
    // Per setting: whether its experiments are ablations, and the variant names seen.
    let mut ablation: BTreeMap<&str, (bool, Vec<String>)> = BTreeMap::new();
    for exp in &file.experiment {
        let (is_ablation, names) = ablation.entry(exp.setting.as_str()).or_insert((!exp.variant.is_empty(), Vec::new()));
        if *is_ablation == exp.variant.is_empty() {
            bail!("{}: setting `{}` mixes experiments with and without [[experiment.variant]]; an ablation's table needs every run to be a variant", path.display(), exp.setting);
        }
        if !exp.variant.is_empty() && exp.agents.len() != 1 {
            bail!("{}: an experiment with variants runs exactly one agent (it has {})", at(exp.agents.first().map_or(0..0, |a| a.span())), exp.agents.len());
        }
        for v in &exp.variant {
            let name = v.name.get_ref();
            if !valid_name(name) {
                bail!("{}: variant name `{name}` must be non-empty and use only A-Z a-z 0-9 . _ - (it names the runs' directory)", at(v.name.span()));
            }
            if names.contains(name) {
                bail!("{}: variant `{name}` appears twice in setting `{}`", at(v.name.span()), exp.setting);
            }
            names.push(name.clone());
            if let Some(t) = v.paper.keys().find(|t| !exp.tasks.iter().any(|x| x.get_ref() == *t)) {
                bail!("{}: variant `{name}` gives the paper's number for `{t}`, which is not in the experiment's tasks", at(v.name.span()));
            }
        }
        if exp.steps == 0 || exp.eval_every == 0 {
            bail!("{}: experiment `{}`: steps and eval_every must be positive", path.display(), exp.setting);
        }
        let tasks = exp.tasks.iter().map(|t| envs::Task::resolve(t.get_ref()).with_context(|| at(t.span()))).collect::<Result<Vec<_>>>()?;
        for a in &exp.agents {
            let (agent, alias) = split_alias(a.get_ref());
            find(agent).with_context(|| at(a.span()))?;
            if let Some(label) = alias {
                if !valid_name(label) {
                    bail!("{}: column label `{label}` of `{agent}` must be non-empty and use only A-Z a-z 0-9 . _ - (it names the runs' directory)", at(a.span()));
                }
                if !exp.variant.is_empty() {
                    bail!("{}: `{}`: an ablation's columns are its variants, not agent@label", at(a.span()), a.get_ref());
                }
            }
            if exp.agents.iter().filter(|b| b.get_ref() == a.get_ref()).count() > 1 {
                bail!("{}: agent `{}` is listed twice", at(a.span()), a.get_ref());
            }
            let cfg = configure(agent, agent_table(exp, a.get_ref(), None).as_ref()).with_context(|| format!("{}: [experiment.agent.{}]", path.display(), a.get_ref()))?;
            for (t, task) in exp.tasks.iter().zip(&tasks) {
                check_task(&cfg, task).with_context(|| format!("{}: agent `{}` cannot run task `{}`", at(t.span()), a.get_ref(), t.get_ref()))?;
            }
        }
        for (task, per_agent) in &exp.task {
            if !exp.tasks.iter().any(|t| t.get_ref() == task) {
                bail!("{}: experiment `{}` overrides task `{task}`, which is not in its tasks", path.display(), exp.setting);
            }
            for agent in per_agent.keys() {
                let merged = agent_table(exp, agent, Some(task)).unwrap_or_default();
                let cfg = configure(split_alias(agent).0, Some(&merged)).with_context(|| format!("{}: [experiment.task.{task}.{agent}]", path.display()))?;
                let resolved = &tasks[exp.tasks.iter().position(|t| t.get_ref() == task).expect("checked above")];
                check_task(&cfg, resolved).with_context(|| format!("{}: [experiment.task.{task}.{agent}]", path.display()))?;
            }
        }
        let variants: Vec<Option<&VariantSpec>> = if exp.variant.is_empty() { vec![None] } else { exp.variant.iter().map(Some).collect() };
        for (t, resolved) in exp.tasks.iter().zip(&tasks) {
            for a in &exp.agents {
                for variant in &variants {
                    let (agent, alias) = split_alias(a.get_ref());
                    let mut table = agent_table(exp, a.get_ref(), Some(t.get_ref()));
                    let run_variant = match variant {
                        Some(v) => {
                            table.get_or_insert_with(toml::Table::new).extend(v.set.clone());
                            let cfg = configure(agent, table.as_ref()).with_context(|| format!("{}: variant `{}` of `{}`", at(v.name.span()), v.name.get_ref(), agent))?;
                            check_task(&cfg, resolved).with_context(|| format!("{}: variant `{}` on task `{}`", at(v.name.span()), v.name.get_ref(), t.get_ref()))?;
                            Some(RunVariant {
                                name: v.name.get_ref().clone(),
                                label: v.label.clone().unwrap_or_else(|| v.name.get_ref().clone()),
                                value: v.value,
                                keys: v.set.keys().cloned().collect(),
                                paper: v.paper.get(t.get_ref()).cloned(),
                            })
                        }
                        None => None,
                    };
                    let column = column(agent, run_variant.as_ref().map(|v| v.name.as_str()).or(alias));
                    for &seed in &file.suite.seeds {
                        let train = TrainConfig {
                            steps: exp.steps,
                            batch_size: exp.batch_size.unwrap_or(file.suite.batch_size),
                            eval_every: exp.eval_every,
                            eval_episodes: exp.eval_episodes.unwrap_or(file.suite.eval_episodes),
                            seed,
                        };
                        train.validate().with_context(|| format!("{}: experiment `{}`", path.display(), exp.setting))?;
                        let out = results.join("runs").join(&name).join(&exp.setting).join(t.get_ref()).join(&column).join(format!("seed{seed}"));
                        runs.push(SuiteRun {
                            setting: exp.setting.clone(),
                            variant: run_variant.clone(),
                            alias: alias.map(str::to_string),
                            spec: RunSpec {
                                agent: agent.to_string(),
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
    }
    Ok(Suite { name, description: file.suite.description, runs })
}

/// A directory-safe label: `[A-Za-z0-9._-]+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `nf-rlbc@maxent` → (`nf-rlbc`, Some(`maxent`)); `nf-rlbc` → (`nf-rlbc`, None).
fn split_alias(entry: &str) -> (&str, Option<&str>) {
    match entry.split_once('@') {
        Some((agent, label)) => (agent, Some(label)),
        None => (entry, None),
    }
}

/// An `agents` entry's config: the agent's table, for `agent@label` its own table over that,
/// then (with a task) the task's overrides for the agent and for the entry, in that order.
fn agent_table(exp: &Experiment, entry: &str, task: Option<&str>) -> Option<toml::Table> {
    let agent = split_alias(entry).0;
    let mut keys = vec![agent];
    if entry != agent {
        keys.push(entry);
    }
    let mut table: Option<toml::Table> = None;
    let per_task = task.and_then(|t| exp.task.get(t));
    for over in keys.iter().filter_map(|k| exp.agent.get(*k)).chain(keys.iter().filter_map(|k| per_task.and_then(|m| m.get(*k)))) {
        table.get_or_insert_with(toml::Table::new).extend(over.clone());
    }
    table
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

    const ALIAS: &str = "[suite]\nseeds = [0]\n\n[[experiment]]\nsetting = \"orl\"\ntasks = [\"pointmaze-medium-navigate-singletask-task3\"]\nagents = [\"nf-rlbc\", \"nf-rlbc@maxent\"]\nsteps = 100\neval_every = 50\n[experiment.agent.nf-rlbc]\nblocks = 2\n[experiment.agent.\"nf-rlbc@maxent\"]\nlambda = 0.1\n[experiment.task.pointmaze-medium-navigate-singletask-task3.nf-rlbc]\nalpha = 3.0\n";

    /// `agent@label` is a second column of the agent: its own directories, the agent's table and
    /// task overrides with its own table over them.
    #[test]
    fn an_agent_label_is_a_second_column_of_the_agent() {
        let s = load(&write("alias", ALIAS), Path::new("R"), Path::new("D")).unwrap();
        assert_eq!(s.runs.len(), 2);
        let (plain, maxent) = (&s.runs[0], &s.runs[1]);
        assert_eq!((plain.column(), maxent.column()), ("nf-rlbc".to_string(), "nf-rlbc@maxent".to_string()));
        assert_eq!(maxent.spec.agent, "nf-rlbc");
        assert_eq!(maxent.spec.out, Path::new("R/runs").join(&s.name).join("orl/pointmaze-medium-navigate-singletask-task3/nf-rlbc@maxent/seed0"));
        let t = maxent.spec.agent_table.as_ref().unwrap();
        assert_eq!((t["blocks"].as_integer(), t["lambda"].as_float(), t["alpha"].as_float()), (Some(2), Some(0.1), Some(3.0)));
        assert!(plain.spec.agent_table.as_ref().unwrap().get("lambda").is_none());
        assert!(maxent.variant.is_none(), "a labelled column is not an ablation variant");
    }

    #[test]
    fn bad_agent_labels_fail_naming_the_entry() {
        let cases = [
            ("empty", ALIAS.replace("\"nf-rlbc@maxent\"]", "\"nf-rlbc@\"]"), "column label ``"),
            ("chars", ALIAS.replace("\"nf-rlbc@maxent\"]", "\"nf-rlbc@max ent\"]"), "column label `max ent`"),
            ("agent", ALIAS.replace("\"nf-rlbc@maxent\"]", "\"nf-rlbcc@maxent\"]"), "nf-rlbcc"),
            ("twice", ALIAS.replace("[\"nf-rlbc\", \"nf-rlbc@maxent\"]", "[\"nf-rlbc\", \"nf-rlbc@maxent\", \"nf-rlbc@maxent\"]"), "listed twice"),
            ("key", ALIAS.replace("lambda = 0.1", "lambdaa = 0.1"), "lambdaa"),
        ];
        for (name, text, needle) in cases {
            let err = format!("{:#}", load(&write(name, &text), Path::new("R"), Path::new("D")).unwrap_err());
            assert!(err.contains(needle), "{name}: {err}");
        }
    }

    const ABLATION: &str = "[suite]\nseeds = [0, 1]\n\n[[experiment]]\nsetting = \"abl\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [\"nf-gcbc\"]\nsteps = 100\neval_every = 50\n[experiment.agent.nf-gcbc]\nblocks = 2\n[[experiment.variant]]\nname = \"full\"\npaper = { pointmaze-medium-navigate = 0.32 }\n[[experiment.variant]]\nname = \"no-linear\"\nlabel = \"no linear flow\"\nset = { plu_linear = false }\npaper = { pointmaze-medium-navigate = \"diverges\" }\n";

    /// Each variant is a column (`agent@variant`) with its own directories and its `set` merged
    /// over the agent's config; its paper entry is the task's.
    #[test]
    fn ablation_variants_expand_into_columns() {
        let s = load(&write("abl", ABLATION), Path::new("R"), Path::new("D")).unwrap();
        assert_eq!(s.runs.len(), 4);
        let r = s.runs.iter().find(|r| r.column() == "nf-gcbc@no-linear" && r.spec.seed == 1).unwrap();
        assert_eq!(r.spec.out, Path::new("R/runs").join(&s.name).join("abl/pointmaze-medium-navigate/nf-gcbc@no-linear/seed1"));
        let t = r.spec.agent_table.as_ref().unwrap();
        assert_eq!((t["blocks"].as_integer(), t["plu_linear"].as_bool()), (Some(2), Some(false)));
        let v = r.variant.as_ref().unwrap();
        assert_eq!((v.label.as_str(), &v.paper), ("no linear flow", &Some(Paper::Text("diverges".into()))));
        let full = s.runs.iter().find(|r| r.column() == "nf-gcbc@full").unwrap();
        assert_eq!(full.variant.as_ref().unwrap().paper, Some(Paper::Number(0.32)));
        assert!(full.spec.agent_table.as_ref().unwrap().get("plu_linear").is_none());
    }

    #[test]
    fn bad_ablations_fail_naming_the_variant() {
        let cases = [
            ("set-typo", ABLATION.replace("plu_linear = false", "plu_liner = false"), "plu_liner"),
            ("set-combo", ABLATION.replace("plu_linear = false", "noise_std = 0.0"), "denoise"),
            ("name", ABLATION.replace("\"no-linear\"", "\"no linear\""), "variant name `no linear`"),
            ("twice", ABLATION.replace("\"no-linear\"", "\"full\""), "appears twice"),
            ("paper-task", ABLATION.replace("= \"diverges\"", "= 0.1, kinscene-play = 0.2"), "kinscene-play"),
            ("agents", ABLATION.replace("[\"nf-gcbc\"]", "[\"nf-gcbc\", \"gcbc\"]"), "exactly one agent"),
            ("mixed", format!("{ABLATION}\n[[experiment]]\nsetting = \"abl\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [\"gcbc\"]\nsteps = 100\neval_every = 50\n"), "mixes experiments"),
        ];
        for (name, text, needle) in cases {
            let err = format!("{:#}", load(&write(name, &text), Path::new("R"), Path::new("D")).unwrap_err());
            assert!(err.contains(needle), "{name}: {err}");
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
