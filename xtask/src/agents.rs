//! The agent registry: ONE list of every agent, read by `cargo xtask train --agent`, the suite
//! checks, the agent benches, the tables' comparisons and the README's agent table
//! (`cargo xtask agents`). What an agent is (name, tasks, comparisons, construction, budget) lives
//! in its config's [`rl::AgentConfig`] impl, in the agent's own file; a new agent is that file and
//! one line here.

use anyhow::{bail, Context, Result};
use candle_core::Device;
use envs::{Task, TaskKind};
use rl::{Agent, Configured, DataSpec, Entry, Registered, TrainConfig};

/// Every agent, in the order of the README's table.
pub const AGENTS: &[&dyn Registered] = &[
    &Entry::<nf_algos::NfBcConfig>::NEW,
    &Entry::<nf_algos::NfGcbcConfig>::NEW,
    &Entry::<nf_algos::NfRlbcConfig>::NEW,
    &Entry::<nf_algos::NfUgsConfig>::NEW,
    &Entry::<baselines::GcbcConfig>::NEW,
    &Entry::<baselines::FmGcbcConfig>::NEW,
    &Entry::<baselines::GcivlConfig>::NEW,
    &Entry::<baselines::GciqlConfig>::NEW,
    &Entry::<baselines::QrlConfig>::NEW,
    &Entry::<baselines::CrlConfig>::NEW,
    &Entry::<baselines::HiqlConfig>::NEW,
    &Entry::<baselines::BcConfig>::NEW,
    &Entry::<baselines::DiffusionPolicyConfig>::NEW,
    &Entry::<baselines::VqBetConfig>::NEW,
    &Entry::<baselines::BetConfig>::NEW,
    &Entry::<baselines::RebracConfig>::NEW,
    &Entry::<baselines::FqlConfig>::NEW,
    &Entry::<baselines::IqlConfig>::NEW,
    &Entry::<baselines::IfqlConfig>::NEW,
    &Entry::<baselines::IdqlConfig>::NEW,
    &Entry::<baselines::CrlUniformConfig>::NEW,
    &Entry::<baselines::CrlMinmaxConfig>::NEW,
    &Entry::<baselines::CrlOracleConfig>::NEW,
    &Entry::<baselines::random::RandomConfig>::NEW,
];

/// The floor: every table shows it, and every other agent's wins are also counted against it.
pub const FLOOR: &str = "random";

pub fn names() -> impl Iterator<Item = &'static str> {
    AGENTS.iter().map(|a| a.name())
}

/// The registry entry named `name`, or an error listing the known names.
pub fn find(name: &str) -> Result<&'static dyn Registered> {
    AGENTS.iter().copied().find(|a| a.name() == name).with_context(|| format!("unknown agent `{name}`; known agents: {}", names().collect::<Vec<_>>().join(", ")))
}

/// `--agent`'s parser: the registered names, each with the task kinds it runs in `--help`; an
/// unknown name is refused listing them.
pub fn possible_values() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(AGENTS.iter().map(|a| clap::builder::PossibleValue::new(a.name()).help(default_kinds(*a).map(|k| kinds_label(&k)).unwrap_or_default())))
}

/// Reads and checks agent `name`'s config from `table` (the `[agent]` section, or `None` for the
/// paper's defaults): unknown keys, non-finite values and out-of-range values are errors naming
/// the agent and the field.
pub fn configure(name: &str, table: Option<&toml::Table>) -> Result<Configured> {
    Ok(find(name)?.configure(table)?)
}

fn default_kinds(entry: &dyn Registered) -> Result<Vec<TaskKind>> {
    Ok(entry.configure(None)?.task_kinds())
}

fn kind_label(k: TaskKind) -> &'static str {
    match k {
        TaskKind::Imitation => "imitation",
        TaskKind::GoalConditioned => "goal-conditioned",
        TaskKind::Singletask => "singletask",
        TaskKind::Online => "online",
    }
}

/// The online mazes, as `a, b, c`.
fn online_tasks() -> String {
    envs::task_names().into_iter().filter(|t| Task::resolve(t).is_ok_and(|t| t.kind == TaskKind::Online)).collect::<Vec<_>>().join(", ")
}

fn kinds_label(kinds: &[TaskKind]) -> String {
    kinds.iter().map(|&k| kind_label(k)).collect::<Vec<_>>().join(", ")
}

/// The agents (the floor aside) whose default config runs `kind` and, if given, trains on
/// `spec`'s kind of batch, as `a`, `a or b`, `a, b or c`.
fn runners(kind: TaskKind, spec: Option<&DataSpec>) -> (String, usize) {
    let found: Vec<&str> = AGENTS
        .iter()
        .filter(|a| a.name() != FLOOR)
        .filter_map(|a| a.configure(None).ok().map(|c| (a.name(), c)))
        .filter(|(_, c)| c.task_kinds().contains(&kind) && spec.is_none_or(|s| std::mem::discriminant(s) == std::mem::discriminant(&c.data_spec())))
        .map(|(n, _)| n)
        .collect();
    let text = match found.split_last() {
        None => "none".to_string(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    };
    (text, found.len())
}

/// Whether the configured agent can run `task`, with the reason when not (suites check this
/// before running; `train` before building anything).
pub fn check_task(cfg: &Configured, task: &Task) -> Result<()> {
    let kinds = cfg.task_kinds();
    if kinds.contains(&task.kind) {
        return Ok(());
    }
    let (name, t) = (cfg.name(), task.name());
    match (cfg.data_spec(), task.kind) {
        (_, TaskKind::Online) => bail!("{t} has no dataset (the online mazes collect their own data), so {name} cannot train on it (the online agents do: {})", runners(TaskKind::Online, None).0),
        (DataSpec::Online(_), kind) => {
            bail!("{name} is an online agent: it collects its own data on the online mazes ({}); {t} is a {} task with a dataset", online_tasks(), kind_label(kind))
        }
        (DataSpec::GoalConditioned(_) | DataSpec::ValueGoals(_), TaskKind::Imitation) => {
            bail!("{name} is goal-conditioned; {t} is an imitation task without goals (run {} on it)", runners(TaskKind::Imitation, None).0)
        }
        (DataSpec::GoalConditioned(_) | DataSpec::ValueGoals(_), TaskKind::Singletask) => bail!("{name} is goal-conditioned; give it a goal-conditioned task, not the singletask variant {t}"),
        (DataSpec::Chunks { .. }, TaskKind::Singletask) => bail!("{name} imitates the dataset; give it the base task, not the singletask variant {t}"),
        (spec @ DataSpec::Transitions, kind) => {
            let note = if kind == TaskKind::Imitation {
                let (who, n) = runners(TaskKind::Imitation, Some(&spec));
                format!(" (of the offline-RL agents only {who} {} the imitation tasks)", if n == 1 { "runs" } else { "run" })
            } else {
                String::new()
            };
            bail!("{name} is an offline-RL agent; give it a `…-singletask-taskN` task, not {t}{note}")
        }
        (_, kind) => bail!("{name} runs {} tasks; {t} is a {} task", kinds_label(&kinds), kind_label(kind)),
    }
}

/// Builds agent `name` for `task` from `table` (checked as by [`configure`] and [`check_task`]).
/// The config fits the run budget first (see [`rl::AgentConfig::fit_budget`]), so this returns
/// the agent, its resolved config as TOML, and the run's train config as the agent fitted it.
pub fn make_agent(name: &str, table: Option<&toml::Table>, task: &Task, seed: u64, train: &TrainConfig, device: &Device) -> Result<(Box<dyn Agent>, String, TrainConfig)> {
    let cfg = configure(name, table)?;
    check_task(&cfg, task)?;
    let mut train = train.clone();
    let (agent, text) = cfg.build(&mut train, task.obs_dim, task.act_dim, seed, device)?;
    Ok((agent, text, train))
}

/// Agent → the agents its wins are counted against in the tables: its own comparisons (the
/// paper's) and the floor.
pub fn table_pairs() -> Vec<(&'static str, Vec<&'static str>)> {
    AGENTS.iter().filter(|a| a.name() != FLOOR).map(|a| (a.name(), a.compared_against().iter().copied().chain([FLOOR]).collect())).collect()
}

/// The README's agent table (`cargo xtask agents` prints it; a test keeps the README equal to it).
pub fn markdown_table() -> Result<String> {
    let mut md = String::from("| agent | runs (task kinds) | compared against | source |\n|---|---|---|---|\n");
    let pairs = table_pairs();
    for a in AGENTS {
        let against = pairs.iter().find(|(n, _)| *n == a.name()).map(|(_, v)| v.join(", ")).unwrap_or_else(|| "—".into());
        md.push_str(&format!("| `{}` | {} | {against} | [{}]({}) |\n", a.name(), kinds_label(&default_kinds(*a)?), a.source(), a.source()));
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(name: &str) -> toml::Table {
        let text = match name {
            "nf-gcbc" => "blocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8",
            "nf-bc" => "blocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8\naction_chunk = 3\nexecute = 2",
            "nf-rlbc" => "blocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8\ncritic_hidden = [16]",
            "rebrac" | "fql" | "iql" | "ifql" | "idql" => "actor_hidden = [16]\ncritic_hidden = [16]",
            "diffusion-policy" => "down_dims = [8, 16]\nkernel_size = 3\nn_groups = 4\nstep_embed_dim = 8\nhorizon = 4\nexecute = 2\ninference_steps = 5\nsampler = \"ddim\"",
            "vq-bet" => "obs_history = 2\naction_chunk = 3\nexecute = 2\nvqvae_n_latent_dims = 8\nvqvae_n_embed = 4\nencoder_hidden = [16]\nvqvae_steps = 10\nn_layer = 1\nn_head = 2\nn_embd = 8\ngpt_output_dim = 8\nhead_hidden = [16]",
            "bet" => "obs_history = 2\nn_clusters = 4\nkmeans_rows = 32\nn_layer = 1\nn_head = 2\nn_embd = 8",
            "gcivl" | "gciql" => "actor_hidden = [16]\nvalue_hidden = [16]",
            "qrl" => "actor_hidden = [16]\nvalue_hidden = [16]\nlatent_dim = 16",
            "crl" => "actor_hidden = [16]\nvalue_hidden = [16]\nlatent_dim = 8",
            "hiql" => "actor_hidden = [16]\nvalue_hidden = [16]\nrep_dim = 4",
            "nf-ugs" => "actor_hidden = [16]\nencoder_hidden = [16]\nrep = 4\nblocks = 2\nchannels = 16\n[online]\nenvs = 4\nunroll = 5\nbuffer = 50\nprefill = 5\nupdates = 2\ncandidates = 3",
            "crl-uniform" | "crl-minmax" | "crl-oracle" => {
                "actor_hidden = [16]\nsa_hidden = [16]\ng_hidden = [16]\nrep = 4\n[online]\nenvs = 4\nunroll = 5\nbuffer = 50\nprefill = 5\nupdates = 2\ncandidates = 3"
            }
            FLOOR => "",
            _ => "hidden = [16]",
        };
        text.parse().unwrap()
    }

    /// A task of the pointmaze family the agent runs (all have 2-D observations and actions).
    fn task_for(name: &str) -> Task {
        let kinds = configure(name, Some(&tiny(name))).unwrap().task_kinds();
        let task = if kinds.contains(&TaskKind::Online) {
            "pointmaze-umaze-online"
        } else if kinds.contains(&TaskKind::GoalConditioned) {
            "pointmaze-medium-navigate"
        } else {
            "pointmaze-medium-navigate-singletask-task3"
        };
        Task::resolve(task).unwrap()
    }

    /// Every registered agent trains through the shared loop, checkpoints, and a fresh agent
    /// loaded from the checkpoint acts exactly like the trained one; configs reject typos.
    #[test]
    fn every_agent_trains_checkpoints_and_reloads() {
        let dev = Device::Cpu;
        for name in names() {
            let task = task_for(name);
            let cfg = rl::TrainConfig { steps: 20, batch_size: 16, eval_every: 10, eval_episodes: 2, seed: 1 };
            let (mut agent, _, fitted) = make_agent(name, Some(&tiny(name)), &task, 0, &cfg, &dev).unwrap();
            let dir = std::env::temp_dir().join(format!("nf-rl-agents-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let summary = if task.kind == TaskKind::Online {
                // Environment steps: 4 environments × 5-step unrolls.
                let online = rl::TrainConfig { steps: 100, eval_every: 50, ..fitted.clone() };
                rl::train_online(agent.as_mut(), &task, &online, &dir, &mut |_| {}).unwrap()
            } else {
                let data = envs::generate_with(task.name(), 0, envs::Split::Train, 3, 101).unwrap();
                rl::train(agent.as_mut(), &task, data, &fitted, &dir, &mut |_| {}).unwrap()
            };
            assert!(summary.final_eval.success.is_finite(), "{name}");
            let csv = std::fs::read_to_string(dir.join(rl::METRICS_FILE)).unwrap();
            let evals = if task.kind == TaskKind::Online { 2 } else { fitted.steps.div_ceil(fitted.eval_every) };
            assert_eq!(csv.lines().count() as u64, 1 + evals, "{name}: one row per evaluation: {csv}");
            let (mut fresh, _, _) = make_agent(name, Some(&tiny(name)), &task, 77, &cfg, &dev).unwrap();
            rl::load_checkpoint(fresh.as_mut(), &dir.join(rl::LAST_CHECKPOINT)).unwrap();
            let width = match agent.data_spec() {
                rl::DataSpec::Chunks { obs_history, .. } => 2 * obs_history,
                _ => 2,
            };
            let obs: Vec<f32> = (0..2 * width).map(|i| i as f32 - 3.0).collect();
            let goals = [8.0f32, 8.0, 0.0, 0.0];
            let act = |a: &dyn Agent| a.act(&obs, Some(&goals), 2, &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5)).unwrap();
            assert_eq!(act(agent.as_ref()), act(fresh.as_ref()), "{name}: reloaded agent acts differently");
            let mut typo = tiny(name);
            typo.insert("lerning_rate".into(), toml::Value::Float(1e-3));
            let err = make_agent(name, Some(&typo), &task, 0, &cfg, &dev).err().unwrap();
            assert!(format!("{err:#}").contains("lerning_rate") && format!("{err:#}").contains(name), "{name}: {err:#}");
        }
        let err = make_agent("dqn", None, &task_for("gcbc"), 0, &TrainConfig::default(), &dev).err().unwrap().to_string();
        assert!(err.contains("dqn") && err.contains("nf-gcbc") && err.contains("fql"), "{err}");
    }

    /// The config's data spec (which decides the tasks an agent runs before it is built) is the
    /// built agent's, for every agent and a non-default config.
    #[test]
    fn each_config_states_its_built_agents_data_spec() {
        for a in AGENTS {
            let table = tiny(a.name());
            let cfg = a.configure(Some(&table)).unwrap();
            let spec = cfg.data_spec();
            let (agent, _) = cfg.build(&mut TrainConfig::default(), 2, 2, 0, &Device::Cpu).unwrap();
            assert_eq!(agent.data_spec(), spec, "{}", a.name());
            assert_eq!(agent.name(), a.name());
        }
    }

    /// `lr = nan` used to pass and kill the run at step 2; now it, an infinite value anywhere and
    /// an out-of-range value fail when the config is read, naming the agent and the field.
    #[test]
    fn non_finite_and_out_of_range_values_are_rejected_when_read() {
        let bad = |name: &str, key: &str, value: toml::Value| {
            let mut t = tiny(name);
            t.insert(key.into(), value);
            format!("{:#}", configure(name, Some(&t)).err().unwrap_or_else(|| panic!("{name}: {key} accepted")))
        };
        for name in names().filter(|&n| n != FLOOR) {
            for (value, why) in [(f64::NAN, "not a finite number"), (f64::INFINITY, "not a finite number"), (0.0, "out of range"), (-3e-4, "out of range")] {
                // The online agents have one learning rate per network.
                let key = if name == "nf-ugs" || name.starts_with("crl-") { "actor_lr" } else { "lr" };
                let err = bad(name, key, toml::Value::Float(value));
                assert!(err.contains(name) && err.contains(&format!("`{key}`")) && err.contains(why), "{name}, {key} = {value}: {err}");
            }
        }
        let cases = [
            ("nf-gcbc", "gamma", toml::Value::Float(1.0)),
            ("nf-gcbc", "blocks", toml::Value::Integer(0)),
            ("nf-gcbc", "encoder_hidden", toml::Value::Array(vec![toml::Value::Integer(16), toml::Value::Integer(0)])),
            ("nf-bc", "execute", toml::Value::Integer(4)),
            ("nf-rlbc", "tau", toml::Value::Float(1.5)),
            ("nf-rlbc", "discount", toml::Value::Float(1.0)),
            ("nf-rlbc", "alpha", toml::Value::Float(-1.0)),
            ("rebrac", "actor_freq", toml::Value::Integer(0)),
            ("fql", "flow_steps", toml::Value::Integer(0)),
            ("iql", "expectile", toml::Value::Float(1.0)),
            ("fm-gcbc", "flow_steps", toml::Value::Integer(0)),
            ("gcivl", "value_p_curgoal", toml::Value::Float(0.5)),
            ("gciql", "expectile", toml::Value::Float(1.0)),
            ("qrl", "latent_dim", toml::Value::Integer(12)),
            ("crl", "latent_dim", toml::Value::Integer(0)),
            ("hiql", "subgoal_steps", toml::Value::Integer(0)),
            ("ifql", "num_samples", toml::Value::Integer(0)),
            ("idql", "time_embed_dim", toml::Value::Integer(9)),
            ("diffusion-policy", "horizon", toml::Value::Integer(5)),
            ("diffusion-policy", "inference_steps", toml::Value::Integer(200)),
            ("gcbc", "hidden", toml::Value::Array(vec![toml::Value::Integer(0)])),
            ("vq-bet", "execute", toml::Value::Integer(4)),
            ("vq-bet", "n_embd", toml::Value::Integer(7)),
        ];
        for (name, key, value) in cases {
            let err = bad(name, key, value.clone());
            assert!(err.contains(name) && err.contains(&format!("`{key}")), "{name}.{key} = {value}: {err}");
        }
        let mut goals = toml::Table::new();
        goals.insert("gamma".into(), toml::Value::Float(f64::NAN));
        let err = bad("gcbc", "goals", toml::Value::Table(goals));
        assert!(err.contains("`goals.gamma`"), "{err}");
    }

    /// The schedule special cases live in the configs: NF-GCBC's and NF-BC's cosine spans the run
    /// unless the table sets it; other agents leave the budget alone.
    #[test]
    fn the_run_budget_sets_the_schedule() {
        let train = TrainConfig { steps: 1234, ..Default::default() };
        for name in ["nf-gcbc", "nf-bc"] {
            let task = task_for(name);
            let (_, text, fitted) = make_agent(name, Some(&tiny(name)), &task, 0, &train, &Device::Cpu).unwrap();
            assert!(text.contains("schedule_steps = 1234"), "{name}: {text}");
            assert_eq!(fitted, train);
            let mut set = tiny(name);
            set.insert("schedule_steps".into(), toml::Value::Integer(99));
            let (_, text, _) = make_agent(name, Some(&set), &task, 0, &train, &Device::Cpu).unwrap();
            assert!(text.contains("schedule_steps = 99"), "{name}: {text}");
        }
        let (_, _, fitted) = make_agent("gcbc", Some(&tiny("gcbc")), &task_for("gcbc"), 0, &train, &Device::Cpu).unwrap();
        assert_eq!(fitted, train);
    }

    /// Which agent runs which task, with today's reasons when not.
    #[test]
    fn agents_run_the_task_kinds_their_data_allows() {
        let check = |agent: &str, task: &str| check_task(&configure(agent, None).unwrap(), &Task::resolve(task).unwrap()).map_err(|e| e.to_string());
        assert!(check("nf-gcbc", "pointmaze-medium-navigate").is_ok());
        assert!(check("nf-rlbc", "pointmaze-medium-navigate-singletask-task1").is_ok());
        assert!(check("bc", "pointmaze-medium-navigate-singletask-task1").is_ok());
        assert!(check("bc", "pusht").is_ok(), "bc ignores rewards, so it runs the imitation tasks");
        assert!(check("nf-bc", "pusht").is_ok() && check("nf-bc", "pointmaze-medium-navigate").is_ok());
        let err = check("gcbc", "pusht").unwrap_err();
        assert!(err.contains("goal-conditioned") && err.contains("without goals (run nf-bc, bc"), "{err}");
        let err = check("fm-gcbc", "pointmaze-medium-navigate-singletask-task1").unwrap_err();
        assert!(err.contains("not the singletask variant"), "{err}");
        let err = check("nf-bc", "pointmaze-medium-navigate-singletask-task1").unwrap_err();
        assert!(err.contains("imitates the dataset"), "{err}");
        let err = check("rebrac", "pointmaze-medium-navigate").unwrap_err();
        assert!(err.contains("offline-RL agent") && err.contains("singletask-taskN"), "{err}");
        let err = check("fql", "blockpush2").unwrap_err();
        assert!(err.contains("only bc runs the imitation tasks"), "{err}");
        // The value agents: goal-conditioned ones need goals and rewards, IQL a singletask reward.
        let err = check("gcivl", "pointmaze-medium-navigate-singletask-task1").unwrap_err();
        assert!(err.contains("not the singletask variant"), "{err}");
        let err = check("gciql", "pusht").unwrap_err();
        assert!(err.contains("goal-conditioned") && err.contains("without goals"), "{err}");
        let err = check("iql", "pusht").unwrap_err();
        assert!(err.contains("only bc runs the imitation tasks"), "{err}");
        let err = check("iql", "pointmaze-medium-navigate").unwrap_err();
        assert!(err.contains("offline-RL agent") && err.contains("singletask-taskN"), "{err}");
        assert!(check("gciql", "kinpuzzle-3x3-play").is_ok() && check("iql", "kinpuzzle-3x3-play-singletask-task1").is_ok());
        let online = envs::task_names().into_iter().find(|n| n.ends_with("-online")).unwrap();
        let err = check("nf-gcbc", &online).unwrap_err();
        assert!(err.contains("has no dataset") && err.contains("nf-ugs"), "{err}");
        let err = check("nf-ugs", "pointmaze-medium-navigate").unwrap_err();
        assert!(err.contains("nf-ugs is an online agent") && err.contains("pointmaze-umaze-online") && err.contains("goal-conditioned task with a dataset"), "{err}");
        assert!(check("crl-minmax", "pointmaze-hardestmaze-online").is_ok());
    }

    #[test]
    fn names_are_unique_and_comparisons_name_registered_agents() {
        let all: Vec<&str> = names().collect();
        for (i, n) in all.iter().enumerate() {
            assert!(!all[..i].contains(n), "{n} registered twice");
        }
        for (agent, against) in table_pairs() {
            for b in against.iter().filter(|&&b| b != FLOOR) {
                assert!(all.contains(b), "{agent} is compared against unregistered {b}");
            }
        }
        let pairs = table_pairs();
        let of = |a: &str| pairs.iter().find(|(n, _)| *n == a).unwrap().1.clone();
        assert_eq!(of("nf-gcbc"), ["gcbc", "fm-gcbc", "gcivl", "gciql", "qrl", "crl", "hiql", FLOOR]);
        assert_eq!(of("nf-rlbc"), ["bc", "rebrac", "fql", "iql", "ifql", "idql", FLOOR]);
        assert_eq!(of("nf-bc"), ["bc", "diffusion-policy", "vq-bet", "bet", FLOOR]);
        assert_eq!(of("gcbc"), [FLOOR]);
        assert!(all.contains(&FLOOR), "the floor every table shows is registered");
        assert!(pairs.iter().all(|(a, _)| *a != FLOOR), "the floor is compared against nothing");
    }

    /// The README's agent table is the registry's, row for row.
    #[test]
    fn the_readme_shows_the_registry() {
        let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
        let table = markdown_table().unwrap();
        assert!(readme.contains(&table), "README.md's agent table differs from the registry; paste `cargo xtask agents`:\n{table}");
        assert_eq!(readme.matches("| agent | runs (task kinds) |").count(), 1);
    }

    /// The floor: uniform actions in the box, the same numbers for the same seed, every task
    /// kind with a dataset, and a run of one evaluation whatever the budget.
    #[test]
    fn random_is_a_cheap_uniform_floor() {
        let cfg = configure(FLOOR, None).unwrap();
        for kind in [TaskKind::GoalConditioned, TaskKind::Singletask, TaskKind::Imitation] {
            assert!(cfg.task_kinds().contains(&kind), "{kind:?}");
        }
        let train = TrainConfig { steps: 5000, eval_every: 1000, ..Default::default() };
        let (agent, text, fitted) = make_agent(FLOOR, None, &Task::resolve("blockpush2").unwrap(), 0, &train, &Device::Cpu).unwrap();
        assert_eq!((fitted.steps, fitted.eval_every, fitted.batch_size), (1, 1, train.batch_size));
        assert_eq!(text.trim(), "");
        let act = |seed| agent.act(&[0.0; 12], None, 500, &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed)).unwrap();
        let a = act(3);
        assert_eq!(a.len(), 1000);
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.06 && (var - 1.0 / 3.0).abs() < 0.03, "uniform on [-1, 1]: mean {mean}, var {var}");
        assert_eq!(a, act(3));
        assert_ne!(a, act(4));
    }

    /// Every type implementing `Agent` in nf-algos or baselines is in the registry (so a new
    /// agent cannot be forgotten), and each entry's source file is where its config lives.
    #[test]
    fn every_agent_implementation_is_registered() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let registered: Vec<&str> = AGENTS.iter().map(|a| a.agent_type().rsplit("::").next().unwrap()).collect();
        let mut found = Vec::new();
        for dir in ["crates/nf-algos/src", "crates/baselines/src"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                // `impl Agent for X`, `impl rl::Agent for X`, `impl<…> Agent for X<…>`
                for line in text.lines().map(str::trim_start).filter(|l| l.starts_with("impl")) {
                    let Some((head, tail)) = line.split_once(" for ") else { continue };
                    if head.rsplit([' ', ':', '>']).next() == Some("Agent") {
                        let ty: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        assert!(registered.contains(&ty.as_str()), "{}: `{ty}` implements Agent but is not in the registry (xtask/src/agents.rs)", path.display());
                        found.push(ty);
                    }
                }
            }
        }
        // One type may back several entries (the online CRL variants differ only in their goal rule).
        let mut distinct = registered.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(found.len(), distinct.len(), "registered {registered:?}, implemented {found:?}");
        for a in AGENTS {
            let text = std::fs::read_to_string(root.join(a.source())).unwrap();
            assert!(text.contains("impl AgentConfig for"), "{}", a.source());
        }
    }
}
