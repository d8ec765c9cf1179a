//! The agent registry: name → (config from TOML, constructor). A new agent is one line here.

use anyhow::{bail, Context, Result};
use candle_core::Device;
use rl::Agent;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Every agent `cargo xtask train --agent` accepts.
pub const AGENTS: [&str; 4] = ["nf-gcbc", "nf-rlbc", "gcbc", "bc"];

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
        "nf-rlbc" => {
            let (cfg, text) = parse::<nf_algos::NfRlbcConfig>(name, table)?;
            (Box::new(nf_algos::NfRlbc::new(cfg, obs_dim, act_dim, seed, device)?), text)
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
