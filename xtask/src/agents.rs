//! The agent registry: name → (config from TOML, constructor). A new agent is one line here.

use anyhow::{bail, Context, Result};
use candle_core::Device;
use rl::Agent;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Every agent `cargo xtask train --agent` accepts.
pub const AGENTS: [&str; 8] = ["nf-bc", "nf-gcbc", "nf-rlbc", "gcbc", "fm-gcbc", "bc", "rebrac", "fql"];

/// Parses `table` (the `[agent]` section of a config file, or empty for the defaults) into the
/// agent's config type, naming the agent and the offending key on error.
fn parse<C: DeserializeOwned + Serialize + Default>(agent: &str, table: Option<&toml::Table>) -> Result<(C, String)> {
    let cfg: C = match table {
        None => C::default(),
        Some(t) => t.clone().try_into().with_context(|| format!("[agent] section for `{agent}`"))?,
    };
    let text = toml::to_string(&cfg)?;
    Ok((cfg, text))
}

/// What data an agent trains on, known without building it (suites check it before running).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Goal-conditioned imitation: goal-conditioned base tasks.
    GoalConditioned,
    /// Offline RL: `…-singletask-taskN` tasks.
    OfflineRl,
    /// Imitation of a dataset (action chunks): base tasks.
    Imitation,
}

pub fn kind(name: &str) -> Result<Kind> {
    Ok(match name {
        "nf-gcbc" | "gcbc" | "fm-gcbc" => Kind::GoalConditioned,
        "nf-rlbc" | "bc" | "rebrac" | "fql" => Kind::OfflineRl,
        "nf-bc" => Kind::Imitation,
        other => bail!("unknown agent `{other}`; known agents: {}", AGENTS.join(", ")),
    })
}

/// Whether agent `name` can run `task`, with the reason when not (suites check this before
/// running; `train` checks it before building anything).
/// - goal-conditioned agents: the goal-conditioned base tasks (not singletask variants, not the
///   imitation tasks, which have no goals);
/// - offline-RL agents: the `…-singletask-taskN` variants; `bc` also runs the imitation tasks,
///   as the unimodal baseline (it ignores rewards, which those tasks do not have);
/// - `nf-bc`: any base task with a dataset.
pub fn check_task(name: &str, task: &str) -> Result<()> {
    let meta = envs::meta(task)?;
    let imitation = envs::Task::resolve(task).is_ok_and(|t| t.is_imitation());
    match kind(name)? {
        Kind::GoalConditioned if imitation => bail!("{name} is goal-conditioned; {task} is an imitation task without goals (run nf-bc or bc on it)"),
        Kind::GoalConditioned if meta.singletask.is_some() => bail!("{name} is goal-conditioned; give it a goal-conditioned task, not the singletask variant {task}"),
        Kind::GoalConditioned | Kind::Imitation if meta.dataset.is_none() => bail!("{task} has no dataset (the online mazes collect their own data), so {name} cannot train on it"),
        Kind::Imitation if meta.singletask.is_some() => bail!("{name} imitates the dataset; give it the base task, not the singletask variant {task}"),
        Kind::OfflineRl if meta.singletask.is_none() && !(name == "bc" && imitation) => {
            bail!("{name} is an offline-RL agent; give it a `…-singletask-taskN` task, not {task}{}", if imitation { " (of the offline-RL agents only bc runs the imitation tasks)" } else { "" })
        }
        _ => Ok(()),
    }
}

/// Checks that `table` is a valid config for agent `name` (unknown keys, wrong types) without
/// building the agent.
pub fn check_config(name: &str, table: Option<&toml::Table>) -> Result<()> {
    match name {
        "nf-bc" => parse::<nf_algos::NfBcConfig>(name, table).map(|_| ()),
        "nf-gcbc" => parse::<nf_algos::NfGcbcConfig>(name, table).map(|_| ()),
        "nf-rlbc" => parse::<nf_algos::NfRlbcConfig>(name, table).map(|_| ()),
        "gcbc" => parse::<baselines::GcbcConfig>(name, table).map(|_| ()),
        "fm-gcbc" => parse::<baselines::FmGcbcConfig>(name, table).map(|_| ()),
        "bc" => parse::<baselines::BcConfig>(name, table).map(|_| ()),
        "rebrac" => parse::<baselines::RebracConfig>(name, table).map(|_| ()),
        "fql" => parse::<baselines::FqlConfig>(name, table).map(|_| ()),
        other => bail!("unknown agent `{other}`; known agents: {}", AGENTS.join(", ")),
    }
}

/// Builds `name` for a task with the given dimensions; returns the agent and its resolved
/// config as TOML (written into the run directory).
pub fn make_agent(name: &str, table: Option<&toml::Table>, obs_dim: usize, act_dim: usize, seed: u64, steps: u64, device: &Device) -> Result<(Box<dyn Agent>, String)> {
    Ok(match name {
        "nf-gcbc" => {
            let (mut cfg, _) = parse::<nf_algos::NfGcbcConfig>(name, table)?;
            if table.is_none_or(|t| !t.contains_key("schedule_steps")) {
                cfg.schedule_steps = steps as usize;
            }
            let text = toml::to_string(&cfg)?;
            (Box::new(nf_algos::NfGcbc::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        "nf-bc" => {
            let (mut cfg, _) = parse::<nf_algos::NfBcConfig>(name, table)?;
            if table.is_none_or(|t| !t.contains_key("schedule_steps")) {
                cfg.schedule_steps = steps as usize;
            }
            let text = toml::to_string(&cfg)?;
            (Box::new(nf_algos::NfBc::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        "nf-rlbc" => {
            let (cfg, text) = parse::<nf_algos::NfRlbcConfig>(name, table)?;
            (Box::new(nf_algos::NfRlbc::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        "fm-gcbc" => {
            let (cfg, text) = parse::<baselines::FmGcbcConfig>(name, table)?;
            (Box::new(baselines::FmGcbc::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        "rebrac" => {
            let (cfg, text) = parse::<baselines::RebracConfig>(name, table)?;
            (Box::new(baselines::Rebrac::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        "fql" => {
            let (cfg, text) = parse::<baselines::FqlConfig>(name, table)?;
            (Box::new(baselines::Fql::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        "bc" => {
            let (cfg, text) = parse::<baselines::BcConfig>(name, table)?;
            (Box::new(baselines::Bc::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        "gcbc" => {
            let (cfg, text) = parse::<baselines::GcbcConfig>(name, table)?;
            (Box::new(baselines::Gcbc::new(cfg, obs_dim, act_dim, seed, device)?), text)
        }
        other => bail!("unknown agent `{other}`; known agents: {}", AGENTS.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn tiny(name: &str) -> toml::Table {
        let text = match name {
            "nf-gcbc" => "blocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8",
            "nf-bc" => "blocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8\naction_chunk = 3\nexecute = 2",
            "nf-rlbc" => "blocks = 2\nchannels = 16\nencoder_hidden = [16]\nrep = 8\ncritic_hidden = [16]",
            "rebrac" | "fql" => "actor_hidden = [16]\ncritic_hidden = [16]",
            _ => "hidden = [16]",
        };
        text.parse().unwrap()
    }

    /// Every registered agent trains through the shared loop, checkpoints, and a fresh agent
    /// loaded from the checkpoint acts exactly like the trained one; configs reject typos.
    #[test]
    fn every_agent_trains_checkpoints_and_reloads() {
        let dev = Device::Cpu;
        for name in AGENTS {
            let (mut agent, _) = make_agent(name, Some(&tiny(name)), 2, 2, 0, 20, &dev).unwrap();
            let task = match agent.data_spec() {
                rl::DataSpec::GoalConditioned(_) | rl::DataSpec::Chunks { .. } => "pointmaze-medium-navigate",
                rl::DataSpec::Transitions => "pointmaze-medium-navigate-singletask-task3",
            };
            let dir = std::env::temp_dir().join(format!("nf-rl-agents-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let data = envs::generate_with(task, 0, envs::Split::Train, 3, 101).unwrap();
            let cfg = rl::TrainConfig { steps: 20, batch_size: 16, eval_every: 10, eval_episodes: 2, seed: 1 };
            let summary = rl::train(agent.as_mut(), &envs::Task::resolve(task).unwrap(), data, &cfg, &dir, &mut |_| {}).unwrap();
            assert!(summary.final_eval.success.is_finite(), "{name}");
            let csv = std::fs::read_to_string(dir.join(rl::METRICS_FILE)).unwrap();
            assert_eq!(csv.lines().count(), 3, "{name}: {csv}");
            let (mut fresh, _) = make_agent(name, Some(&tiny(name)), 2, 2, 77, 20, &dev).unwrap();
            rl::load_checkpoint(fresh.as_mut(), &dir.join(rl::LAST_CHECKPOINT)).unwrap();
            let width = match agent.data_spec() {
                rl::DataSpec::Chunks { obs_history, .. } => 2 * obs_history,
                _ => 2,
            };
            let obs: Vec<f32> = (0..2 * width).map(|i| i as f32 - 3.0).collect();
            let goals = [8.0f32, 8.0, 0.0, 0.0];
            let act = |a: &dyn Agent| a.act(&obs, Some(&goals), 2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5)).unwrap();
            assert_eq!(act(agent.as_ref()), act(fresh.as_ref()), "{name}: reloaded agent acts differently");
            let mut typo = tiny(name);
            typo.insert("lerning_rate".into(), toml::Value::Float(1e-3));
            let err = make_agent(name, Some(&typo), 2, 2, 0, 20, &dev).err().unwrap();
            assert!(format!("{err:#}").contains("lerning_rate"), "{name}: {err:#}");
        }
        assert!(make_agent("dqn", None, 2, 2, 0, 20, &dev).is_err());
    }
}
