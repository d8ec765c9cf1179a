//! The typed agent registry: each agent's config struct implements [`AgentConfig`] (its name, the
//! tasks it runs, the agents it is compared against, how to build it and how a run budget sets its
//! schedule), and the runner keeps one list of [`Entry`]s, seen through the object-safe
//! [`Registered`]. A new baseline is then one new file (the agent, its config and this impl) and
//! one line in that list.
//!
//! Configs are checked when they are read, before anything is built: an unknown key names the key
//! and the agent (serde's `deny_unknown_fields`), a NaN or infinite value anywhere names its field
//! ([`check_finite_fields`], over the serialized config, so no field can be forgotten), and each
//! config's [`AgentConfig::validate`] checks its ranges with [`Fields`].

use std::fmt::Display;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use candle_core::Device;
use envs::TaskKind;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::agent::{Agent, DataSpec, Members};
use crate::error::{Result, RlError};
use crate::train::TrainConfig;

/// The keys the user wrote in an agent's `[agent]` section (before defaults were filled in).
pub type UserTable = toml::Table;

/// What the runner needs to know about an agent, implemented by its config struct. `Default` is
/// the paper's configuration, each field documented with its value's source.
pub trait AgentConfig: Serialize + DeserializeOwned + Default + Clone + Send + 'static {
    /// The registry name (`--agent`, suite files, run directories, table columns).
    const NAME: &'static str;
    /// The agent's source file, `file!()` in the impl: the README's agent table links it.
    const SOURCE: &'static str;
    /// The agents this one's wins are counted against in the tables (the paper's comparisons).
    /// `random`, the floor, is added to every agent's list by the registry.
    const COMPARED_AGAINST: &'static [&'static str] = &[];
    type Agent: Agent + 'static;

    /// The batches the agent trains on; must equal the built agent's [`Agent::data_spec`].
    fn data_spec(&self) -> DataSpec;

    /// The task kinds the agent runs: by default those its data spec can be drawn from
    /// ([`DataSpec::task_kinds`]); a config widens it where the agent ignores what the default
    /// assumes (BC ignores rewards, so it also runs the imitation tasks).
    fn task_kinds(&self) -> Vec<TaskKind> {
        self.data_spec().task_kinds()
    }

    /// Range checks, each error naming the field (non-finite values are caught before this, by
    /// [`check_finite_fields`]).
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Lets the run budget set the schedule: e.g. a cosine schedule's length becomes the run's
    /// step count unless the user set it (`user` holds the keys the user wrote). May also change
    /// the run itself (`random` needs no gradient steps, so it asks for a single evaluation).
    fn fit_budget(&mut self, _train: &mut TrainConfig, _user: &UserTable) {}

    /// The agent for a task with these dimensions (actions in `[-1, 1]^act_dim`).
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Self::Agent>;

    /// Whether [`AgentConfig::build_members`] builds a member ensemble (the runner groups the
    /// seeds of a cell into one process only for such agents).
    const MEMBERS: bool = false;

    /// The agent as a member ensemble, member e the agent `build` gives for `seeds[e]`; `None`
    /// for agents that train solo only.
    fn build_members(&self, _obs_dim: usize, _act_dim: usize, _seeds: &[u64], _device: &Device) -> Option<Result<Box<dyn Members>>> {
        None
    }
}

/// An [`AgentConfig`] behind `dyn`, so [`Configured`] can hold any agent's config.
trait DynConfig: Send {
    fn data_spec(&self) -> DataSpec;
    fn task_kinds(&self) -> Vec<TaskKind>;
    fn fit_budget(&mut self, train: &mut TrainConfig, user: &UserTable);
    fn to_toml(&self) -> Result<String>;
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Box<dyn Agent>>;
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>>;
}

impl<C: AgentConfig> DynConfig for C {
    fn build_members(&self, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Option<Result<Box<dyn Members>>> {
        AgentConfig::build_members(self, obs_dim, act_dim, seeds, device)
    }
    fn data_spec(&self) -> DataSpec {
        AgentConfig::data_spec(self)
    }
    fn task_kinds(&self) -> Vec<TaskKind> {
        AgentConfig::task_kinds(self)
    }
    fn fit_budget(&mut self, train: &mut TrainConfig, user: &UserTable) {
        AgentConfig::fit_budget(self, train, user)
    }
    fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| RlError::Config { agent: C::NAME.into(), reason: format!("cannot write the config as TOML: {e}") })
    }
    fn build(&self, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<Box<dyn Agent>> {
        Ok(Box::new(AgentConfig::build(self, obs_dim, act_dim, seed, device)?))
    }
}

/// A member ensemble, a scratch solo agent of its config, and the resolved config as TOML.
pub type BuiltMembers = (Box<dyn Members>, Box<dyn Agent>, String);

/// A config read from a table and checked: what the suite checks look at and what builds the
/// agent.
pub struct Configured {
    name: &'static str,
    config: Box<dyn DynConfig>,
    user: UserTable,
}

impl Configured {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn data_spec(&self) -> DataSpec {
        self.config.data_spec()
    }

    pub fn task_kinds(&self) -> Vec<TaskKind> {
        self.config.task_kinds()
    }

    /// Fits the config to the run budget (which it may change, see [`AgentConfig::fit_budget`]),
    /// then builds the agent. Returns the agent and its resolved config as TOML (written into the
    /// run directory).
    pub fn build(mut self, train: &mut TrainConfig, obs_dim: usize, act_dim: usize, seed: u64, device: &Device) -> Result<(Box<dyn Agent>, String)> {
        self.config.fit_budget(train, &self.user);
        let text = self.config.to_toml()?;
        Ok((self.config.build(obs_dim, act_dim, seed, device)?, text))
    }

    /// [`Configured::build`] for a member ensemble over `seeds`: the ensemble, a scratch solo
    /// agent of the same config (what member states are evaluated and saved through) and the
    /// resolved config; `None` when the agent has no ensemble form.
    pub fn build_members(mut self, train: &mut TrainConfig, obs_dim: usize, act_dim: usize, seeds: &[u64], device: &Device) -> Result<Option<BuiltMembers>> {
        self.config.fit_budget(train, &self.user);
        let text = self.config.to_toml()?;
        let Some(members) = self.config.build_members(obs_dim, act_dim, seeds, device) else { return Ok(None) };
        let scratch = self.config.build(obs_dim, act_dim, seeds.first().copied().unwrap_or(0), device)?;
        Ok(Some((members?, scratch, text)))
    }
}

/// One registry entry, object-safe so the runner's list holds every agent:
/// `const AGENTS: &[&dyn Registered] = &[&Entry::<NfGcbcConfig>::NEW, …]`.
pub trait Registered: Sync {
    fn name(&self) -> &'static str;
    /// See [`AgentConfig::SOURCE`].
    fn source(&self) -> &'static str;
    /// See [`AgentConfig::COMPARED_AGAINST`] (without the floor).
    fn compared_against(&self) -> &'static [&'static str];
    /// `std::any::type_name` of the agent type (a test checks every `Agent` impl is registered).
    fn agent_type(&self) -> &'static str;
    /// See [`AgentConfig::MEMBERS`].
    fn has_members(&self) -> bool;
    /// Reads `table` (an `[agent]` section; `None` for the paper's defaults) into the config and
    /// checks it: unknown keys, non-finite values, ranges.
    fn configure(&self, table: Option<&toml::Table>) -> Result<Configured>;
}

/// The registry entry of the agent whose config is `C`.
pub struct Entry<C>(PhantomData<fn() -> C>);

impl<C> Entry<C> {
    pub const NEW: Self = Entry(PhantomData);
}

impl<C: AgentConfig> Registered for Entry<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }
    fn source(&self) -> &'static str {
        C::SOURCE
    }
    fn compared_against(&self) -> &'static [&'static str] {
        C::COMPARED_AGAINST
    }
    fn agent_type(&self) -> &'static str {
        std::any::type_name::<C::Agent>()
    }
    fn has_members(&self) -> bool {
        C::MEMBERS
    }
    fn configure(&self, table: Option<&toml::Table>) -> Result<Configured> {
        let user = table.cloned().unwrap_or_default();
        let config: C = user.clone().try_into().map_err(|e| RlError::Config { agent: C::NAME.into(), reason: format!("[agent] section: {e}") })?;
        check_finite_fields(C::NAME, &config)?;
        config.validate()?;
        Ok(Configured { name: C::NAME, config: Box::new(config), user })
    }
}

/// Fails on the first NaN or infinite float anywhere in `config` (nested tables and arrays
/// included), naming its field as a TOML path (`lr`, `goals.gamma`, `hidden[2]`). Walking the
/// serialized form covers every field of every config, including ones added later.
pub fn check_finite_fields(owner: &str, config: &impl Serialize) -> Result<()> {
    fn walk(owner: &str, path: &str, v: &toml::Value) -> Result<()> {
        match v {
            toml::Value::Float(x) if !x.is_finite() => Err(RlError::Config { agent: owner.into(), reason: format!("`{path}` = {x} is not a finite number") }),
            toml::Value::Table(t) => t.iter().try_for_each(|(k, v)| walk(owner, &if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, v)),
            toml::Value::Array(a) => a.iter().enumerate().try_for_each(|(i, v)| walk(owner, &format!("{path}[{i}]"), v)),
            _ => Ok(()),
        }
    }
    let value = toml::Value::try_from(config).map_err(|e| RlError::Config { agent: owner.into(), reason: format!("cannot read the config as TOML: {e}") })?;
    walk(owner, "", &value)
}

/// Range checks for [`AgentConfig::validate`]; each error names the owner and the field and says
/// the allowed range.
pub struct Fields {
    owner: &'static str,
}

impl Fields {
    pub fn of(owner: &'static str) -> Self {
        Self { owner }
    }

    /// An error about `field` (for checks these helpers do not cover).
    pub fn error(&self, field: &str, reason: impl Display) -> RlError {
        RlError::Config { agent: self.owner.into(), reason: format!("`{field}`: {reason}") }
    }

    /// `value` must lie in `range` (`0.0..1.0`, `0.0..=1.0`, `1..`, …).
    pub fn range<T: PartialOrd + Display>(&self, field: &str, value: T, range: impl RangeBounds<T>) -> Result<()> {
        if range.contains(&value) {
            return Ok(());
        }
        let lo = match range.start_bound() {
            Bound::Included(a) => format!("{a} ≤ "),
            Bound::Excluded(a) => format!("{a} < "),
            Bound::Unbounded => String::new(),
        };
        let hi = match range.end_bound() {
            Bound::Included(b) => format!(" ≤ {b}"),
            Bound::Excluded(b) => format!(" < {b}"),
            Bound::Unbounded => String::new(),
        };
        Err(self.error(field, format!("{value} is out of range (need {lo}{field}{hi})")))
    }

    /// `value > 0` (learning rates, noise scales that must not vanish).
    pub fn positive(&self, field: &str, value: f64) -> Result<()> {
        self.range(field, value, (Bound::Excluded(0.0), Bound::Unbounded))
    }

    /// `value ≥ 0` (weights, penalties, decay).
    pub fn non_negative(&self, field: &str, value: f64) -> Result<()> {
        self.range(field, value, 0.0..)
    }

    /// Every width of a hidden-layer list at least 1.
    pub fn widths(&self, field: &str, widths: &[usize]) -> Result<()> {
        widths.iter().enumerate().try_for_each(|(i, &w)| self.range(&format!("{field}[{i}]"), w, 1..))
    }
}

impl TrainConfig {
    /// Every budget positive (a zero `eval_every` would never evaluate, a zero batch never learn).
    pub fn validate(&self) -> Result<()> {
        let f = Fields::of("[train]");
        f.range("steps", self.steps, 1..)?;
        f.range("batch_size", self.batch_size, 1..)?;
        f.range("eval_every", self.eval_every, 1..)?;
        f.range("eval_episodes", self.eval_episodes, 1..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        gamma: f32,
    }

    #[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        lr: f64,
        hidden: Vec<f64>,
        goals: Inner,
    }

    #[test]
    fn non_finite_values_are_found_anywhere_and_named_by_path() {
        assert!(check_finite_fields("a", &Outer { lr: 1e-3, hidden: vec![1.0, 2.0], goals: Inner { gamma: 0.9 } }).is_ok());
        let cases = [
            (Outer { lr: f64::NAN, ..Default::default() }, "`lr` = NaN"),
            (Outer { hidden: vec![1.0, f64::INFINITY], ..Default::default() }, "`hidden[1]` = inf"),
            (Outer { goals: Inner { gamma: f32::NEG_INFINITY }, ..Default::default() }, "`goals.gamma` = -inf"),
        ];
        for (cfg, want) in cases {
            let err = check_finite_fields("agent-x", &cfg).unwrap_err().to_string();
            assert!(err.starts_with("agent-x: ") && err.contains(want), "{err}");
        }
    }

    #[test]
    fn range_errors_name_the_field_and_the_range() {
        let f = Fields::of("x");
        assert!(f.range("gamma", 0.5, 0.0..1.0).is_ok());
        assert_eq!(f.range("gamma", 1.0, 0.0..1.0).unwrap_err().to_string(), "x: `gamma`: 1 is out of range (need 0 ≤ gamma < 1)");
        assert_eq!(f.positive("lr", 0.0).unwrap_err().to_string(), "x: `lr`: 0 is out of range (need 0 < lr)");
        assert!(f.positive("lr", 1e-9).is_ok());
        assert!(f.non_negative("alpha", 0.0).is_ok());
        assert!(f.non_negative("alpha", -1.0).is_err());
        assert_eq!(f.widths("hidden", &[4, 0]).unwrap_err().to_string(), "x: `hidden[1]`: 0 is out of range (need 1 ≤ hidden[1])");
        assert!(f.range("nan", f64::NAN, 0.0..1.0).is_err(), "NaN is in no range");
    }

    #[test]
    fn train_config_rejects_zero_budgets_naming_the_field() {
        assert!(TrainConfig::default().validate().is_ok());
        for (field, cfg) in [
            ("steps", TrainConfig { steps: 0, ..Default::default() }),
            ("batch_size", TrainConfig { batch_size: 0, ..Default::default() }),
            ("eval_every", TrainConfig { eval_every: 0, ..Default::default() }),
            ("eval_episodes", TrainConfig { eval_episodes: 0, ..Default::default() }),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{err}");
        }
    }

    #[test]
    fn chunks_run_every_base_task_with_a_dataset_and_transitions_only_singletask() {
        assert_eq!(DataSpec::Transitions.task_kinds(), vec![TaskKind::Singletask]);
        assert_eq!(DataSpec::GoalConditioned(envs::GoalConfig::default()).task_kinds(), vec![TaskKind::GoalConditioned]);
        let chunks = DataSpec::Chunks { obs_history: 1, action_chunk: 1, execute: 1 }.task_kinds();
        assert!(chunks.contains(&TaskKind::Imitation) && chunks.contains(&TaskKind::GoalConditioned) && !chunks.contains(&TaskKind::Singletask));
    }
}
