//! `cargo xtask bench`: expand a suite into runs and execute them, several at a time, each in
//! its own process (a crash or a kill costs one run, and a Slurm array task runs the very same
//! `run-one` entry point). Finished runs (`final.toml` present) are skipped; killed ones resume
//! from their checkpoint. Ends with the aggregate tables.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::device::DeviceName;
use crate::rundir::{write_atomic, RunDir, RunStatus};
use crate::suite;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Suite name (`benchmarks/NAME.toml`) or path.
    #[arg(long, default_value = "quick")]
    pub suite: String,
    /// Runs at a time: in all on the CPU, per device with `--devices cuda:…`. `auto`: one per
    /// core on the CPU, one per CUDA device. Each run gets `RAYON_NUM_THREADS` = cores / runs at
    /// a time (one thread each under `auto` on the CPU) unless `RAYON_NUM_THREADS` is set.
    #[arg(long, default_value = "auto")]
    pub jobs: Jobs,
    /// `cpu`, or a CUDA device list such as `cuda:0,cuda:1` (needs `--features cuda`): runs are
    /// spread over the devices, `--jobs` at a time on each.
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub devices: Vec<DeviceName>,
    /// `local`, or `slurm`: write and submit an sbatch job array, one array task per pending
    /// run. The binary, the suite, `--data` and `--results` must then be on a filesystem the
    /// nodes share.
    #[arg(long, value_enum, default_value_t = Launcher::Local)]
    pub launcher: Launcher,
    /// Extra `#SBATCH` options for `--launcher slurm`, e.g. `--slurm-opt=--partition=gpu`.
    #[arg(long = "slurm-opt")]
    pub slurm_opts: Vec<String>,
    /// With `--launcher slurm`: wait for the array to finish (`sbatch --wait`), then aggregate.
    #[arg(long)]
    pub wait: bool,
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// Check the suite and list its runs without running anything, then estimate the suite's
    /// wall time on this machine from a short timed probe of each distinct agent configuration.
    #[arg(long)]
    pub dry_run: bool,
    /// With `--dry-run`: list the runs only, without the probe and the time estimate.
    #[arg(long, requires = "dry_run")]
    pub no_estimate: bool,
    /// Runs of one cell (same agent, task, config and resume step; different seeds) trained as
    /// one member ensemble in one process, for agents that have one. `auto`: 1 on the CPU (an
    /// ensemble's member-step costs as much as a solo step there, measured), up to 25 on a CUDA
    /// device; `1` trains every run alone.
    #[arg(long, default_value = "auto")]
    pub members: MembersArg,
    /// `K/N`: run only part K of N of the suite. The runs are taken seed by seed (every run of
    /// the first seed in the suite's order, then the second seed's, …) and cut into N
    /// consecutive, equal-sized parts, so that the early parts complete whole tables for the first
    /// seeds and every part is a like mix of settings and agents. Each part writes the same run
    /// directories and ends by aggregating the whole suite (the other parts' runs listed as
    /// missing until they have run); the last part to finish writes the complete tables.
    /// `--dry-run --part K/N` lists and prices one part.
    #[arg(long)]
    pub part: Option<Part>,
}

/// `--part K/N`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Part {
    pub k: usize,
    pub n: usize,
}

impl Part {
    /// Which of `seeds` (each run's seed, in the suite's order) belong to this part: rank the
    /// runs seed-major (by the seed's first appearance, then by index) and keep the K-th of N
    /// consecutive equal slices of that ranking.
    pub fn select(self, seeds: &[u64]) -> Vec<bool> {
        let mut order: Vec<u64> = Vec::new();
        for s in seeds {
            if !order.contains(s) {
                order.push(*s);
            }
        }
        let mut ranked: Vec<usize> = (0..seeds.len()).collect();
        ranked.sort_by_key(|&i| (order.iter().position(|s| *s == seeds[i]), i));
        let mut keep = vec![false; seeds.len()];
        for (r, &i) in ranked.iter().enumerate() {
            keep[i] = r * self.n / seeds.len().max(1) == self.k - 1;
        }
        keep
    }
}

impl std::str::FromStr for Part {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected K/N with 1 ≤ K ≤ N, e.g. 2/3");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Part { k, n })
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// `--members`: how many runs may share one process as a member ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembersArg {
    Auto,
    Fixed(usize),
}

impl std::str::FromStr for MembersArg {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "auto" => Ok(MembersArg::Auto),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(MembersArg::Fixed(n)),
                _ => Err(format!("`{s}` is not a member count; valid: `auto` or a positive number (1 trains every run alone)")),
            },
        }
    }
}

impl std::fmt::Display for MembersArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MembersArg::Auto => write!(f, "auto"),
            MembersArg::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl MembersArg {
    /// The most runs per process on `device`. On this project's 2-core CPU an ensemble of E
    /// members steps in E× the time of one solo step or a little more (quick NF-GCBC, E = 8:
    /// 1.16×; paper size, E = 4: 1.08× per member-step, `crates/nf-core/examples/step_profile.rs`):
    /// the CPU's cost is the rows computed, not the ops issued, so `auto` groups only on GPUs.
    pub fn per_group(self, device: DeviceName) -> usize {
        match (self, device) {
            (MembersArg::Fixed(n), _) => n,
            (MembersArg::Auto, DeviceName::Cpu) => 1,
            (MembersArg::Auto, DeviceName::Cuda(_)) => 25,
        }
    }
}

/// The step a run's last checkpoint holds (0 without one; `None` if it cannot be read, so the
/// run is not grouped and reports the problem itself).
fn checkpoint_step(out: &Path) -> Option<i64> {
    let path = out.join(rl::LAST_CHECKPOINT);
    if !path.exists() {
        return Some(0);
    }
    // SAFETY: the checkpoint is written to a temporary name and renamed, never modified in place.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(&path) }.ok()?;
    st.load("train.step", &candle_core::Device::Cpu).ok()?.to_vec1::<i64>().ok()?.first().copied()
}

/// Pending runs in processes: runs of one cell that may share a member ensemble (an agent with
/// one, everything but the seed equal, the same resume step) go together, up to `max` a group.
pub fn group_runs(s: &suite::Suite, pending: &[usize], max: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Vec<usize>, Option<i64>)> = Vec::new();
    for &i in pending {
        let spec = &s.runs[i].spec;
        let step = checkpoint_step(&spec.out);
        let can = max > 1 && step.is_some() && crate::agents::find(&spec.agent).is_ok_and(|a| a.has_members());
        if can {
            if let Some((g, _)) = groups.iter_mut().find(|(g, st)| g.len() < max && *st == step && crate::train::compatible(&s.runs[g[0]].spec, spec)) {
                g.push(i);
                continue;
            }
        }
        groups.push((vec![i], if can { step } else { None }));
    }
    groups.into_iter().map(|(g, _)| g).collect()
}

/// `--jobs`: how many runs share the machine at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jobs {
    /// One run per core on the CPU, one per CUDA device: measured on a 2-core machine, one
    /// thread per run steps as fast as two for every model size we have and 1.6× faster for the
    /// quick suite's small flows (gemm's threading buys nothing at these sizes), so the cores
    /// are better spent on more runs.
    Auto,
    /// Exactly this many (per device with `--devices cuda:…`).
    Fixed(usize),
}

impl std::str::FromStr for Jobs {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "auto" => Ok(Jobs::Auto),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Jobs::Fixed(n)),
                _ => Err(format!("`{s}` is not a job count; valid: `auto` (one run per core on the CPU, one per CUDA device) or a positive number")),
            },
        }
    }
}

impl std::fmt::Display for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Jobs::Auto => write!(f, "auto"),
            Jobs::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl Jobs {
    /// Runs at a time on one device of this kind, on a machine with `cores` cores.
    pub fn per_device(self, device: DeviceName, cores: usize) -> usize {
        match (self, device) {
            (Jobs::Fixed(n), _) => n,
            (Jobs::Auto, DeviceName::Cpu) => cores.max(1),
            (Jobs::Auto, DeviceName::Cuda(_)) => 1,
        }
    }
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The `RAYON_NUM_THREADS` each run gets: the user's setting if there is one, else the cores
/// shared evenly among the runs that run at once.
pub fn threads_per_run(slots: usize) -> String {
    std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| (cores() / slots.max(1)).max(1).to_string())
}

#[derive(Args, Debug)]
pub struct RunOneArgs {
    #[arg(long)]
    pub suite: String,
    /// The run's index in the suite's expansion; several (`--index 3,4,5`) train as one member
    /// ensemble.
    #[arg(long, value_delimiter = ',', required = true)]
    pub index: Vec<usize>,
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceName,
}

/// Where `bench` starts its runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Launcher {
    /// Child processes on this machine, `--jobs` at a time (per device).
    Local,
    /// One Slurm job array, an array task per pending run.
    Slurm,
}

/// Executes run `index` of a suite (what each worker process, or Slurm array task, does).
pub fn run_one(args: RunOneArgs) -> Result<()> {
    let s = suite::load(&suite::resolve(&args.suite), &args.results, &args.data)?;
    let mut specs = Vec::with_capacity(args.index.len());
    for &i in &args.index {
        let run = s.runs.get(i).with_context(|| format!("suite {} has {} runs; no index {i}", s.name, s.runs.len()))?;
        let mut spec = run.spec.clone();
        spec.device = args.device;
        specs.push(spec);
    }
    crate::train::execute_group(&specs)
}

/// Finished or diverged: nothing left to run (see [`RunDir::is_settled`]).
fn done(out: &Path) -> bool {
    RunDir::new(out).is_settled()
}

pub fn run(args: BenchArgs) -> Result<()> {
    // Slots: `jobs` on the CPU, or `jobs` on each listed CUDA device.
    let devices = &args.devices;
    let listed = devices.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",");
    if devices.is_empty() || (devices.len() > 1 && devices.contains(&DeviceName::Cpu)) {
        bail!("--devices {listed}: expected `cpu` or a list of `cuda:N`");
    }
    // A dry run on devices this build or machine lacks still lists the runs; only the estimate
    // needs the device.
    let mut unusable = None;
    for d in devices {
        if let Err(e) = d.open().with_context(|| format!("--devices {listed}")) {
            if !args.dry_run {
                return Err(e);
            }
            unusable.get_or_insert(format!("{e:#}"));
        }
    }
    let slots: Vec<DeviceName> = devices.iter().flat_map(|d| std::iter::repeat_n(*d, args.jobs.per_device(*d, cores()))).collect();
    if args.launcher == Launcher::Slurm && devices != &[DeviceName::Cpu] {
        bail!("--launcher slurm takes GPUs from Slurm (`--slurm-opt=--gres=gpu:1`), not --devices");
    }
    let path = suite::resolve(&args.suite);
    let s = suite::load(&path, &args.results, &args.data)?;
    println!("suite {} ({}): {} runs, {} at a time (--jobs {})", s.name, path.display(), s.runs.len(), slots.len(), args.jobs);
    if !s.description.is_empty() {
        println!("{}", s.description.trim());
    }
    let selected = args.part.map(|p| p.select(&s.runs.iter().map(|r| r.spec.seed).collect::<Vec<_>>()));
    let in_part = |i: usize| selected.as_ref().is_none_or(|keep| keep[i]);
    if let Some(p) = args.part {
        println!("part {p}: {} of the {} runs", (0..s.runs.len()).filter(|&i| in_part(i)).count(), s.runs.len());
    }
    let pending: Vec<usize> = (0..s.runs.len()).filter(|&i| in_part(i) && !done(&s.runs[i].spec.out)).collect();
    if args.dry_run {
        for (i, r) in s.runs.iter().enumerate().filter(|(i, _)| in_part(*i)) {
            let state = if done(&r.spec.out) { "done" } else { "to run" };
            println!("{i:5} {:16} {:48} {:8} seed {} ({} steps) {state}", r.setting, r.spec.task, r.column(), r.spec.seed, r.spec.train.steps);
        }
        let groups = group_runs(&s, &pending, args.members.per_group(devices[0]));
        if groups.len() < pending.len() {
            println!("member ensembles (--members {}): {} pending runs in {} processes", args.members, pending.len(), groups.len());
        }
        if !args.no_estimate {
            let at_once = match args.launcher {
                Launcher::Local => Some(slots.len()),
                Launcher::Slurm => match args.jobs {
                    Jobs::Fixed(n) => Some(n),
                    Jobs::Auto => None,
                },
            };
            match unusable {
                Some(why) => println!("no time estimate on {listed}: {why} (GPU figures need `--features cuda` and the device; drop --devices for the CPU estimate)"),
                None => {
                    print!(
                        "{}",
                        crate::plan::estimate(
                            &s,
                            crate::plan::Files { suite: &path, results: &args.results, data: &args.data },
                            devices[0],
                            at_once,
                            &threads_per_run(slots.len()),
                            &pending,
                            &groups
                        )?
                    )
                }
            }
        }
        return Ok(());
    }
    // Datasets first, in this process: workers then only read them (no manifest races).
    let mut tasks: Vec<&str> = pending.iter().map(|&i| s.runs[i].spec.task.as_str()).collect();
    tasks.sort();
    tasks.dedup();
    // The online mazes have no dataset: their agents collect their own data.
    for t in tasks.into_iter().filter(|t| !t.ends_with("-online")) {
        let o = envs::manifest::ensure(&args.data, t, 0, envs::Split::Train)?;
        if o.generated() {
            println!("generated {}", o.path().display());
        }
    }
    let skipped = (0..s.runs.len()).filter(|&i| in_part(i)).count() - pending.len();
    if skipped > 0 {
        println!("{skipped} runs already finished: skipped");
        let diverged = diverged_runs(&s).len();
        if diverged > 0 {
            println!("  ({diverged} of them diverged earlier: delete their run directories to run them again)");
        }
    }
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let threads = threads_per_run(slots.len());
    let groups = group_runs(&s, &pending, args.members.per_group(devices[0]));
    if groups.len() < pending.len() {
        println!("{} runs in {} processes (member ensembles, --members {})", pending.len(), groups.len(), args.members);
    }
    if args.launcher == Launcher::Slurm {
        return slurm(&args, &s, &path, &exe, &groups);
    }
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} runs (eta {eta}) {msg}").unwrap());
    let mut queue = groups.into_iter();
    let mut running: Vec<(Vec<usize>, usize, Child)> = Vec::new();
    let mut free: Vec<usize> = (0..slots.len()).rev().collect();
    let mut failed: Vec<(usize, String)> = Vec::new();
    let mut diverged = 0;
    loop {
        while !free.is_empty() {
            let Some(group) = queue.next() else { break };
            let slot = free.pop().expect("checked non-empty");
            // An ensemble's process logs into its first member's run directory; the others'
            // logs say where.
            let dir = RunDir::new(&s.runs[group[0]].spec.out);
            dir.create()?;
            let log = dir.create_log()?;
            for &i in &group[1..] {
                let d = RunDir::new(&s.runs[i].spec.out);
                d.create()?;
                writeln!(d.create_log()?, "trained as a member ensemble with {}; its log is {}", s.runs[group[0]].spec.out.display(), dir.log_path().display())?;
            }
            let child = Command::new(&exe)
                .args(["run-one", "--suite"])
                .arg(&path)
                .arg("--index")
                .arg(group.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","))
                .arg("--results")
                .arg(&args.results)
                .arg("--data")
                .arg(&args.data)
                .arg("--device")
                .arg(slots[slot].to_string())
                .env("RAYON_NUM_THREADS", &threads)
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .spawn()
                .context("starting a run process")?;
            running.push((group, slot, child));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut k = 0;
        while k < running.len() {
            if let Some(status) = running[k].2.try_wait()? {
                let (group, slot, _) = running.remove(k);
                free.push(slot);
                let log = RunDir::new(&s.runs[group[0]].spec.out).log_path();
                for &i in &group {
                    let dir = RunDir::new(&s.runs[i].spec.out);
                    if let (false, Ok(Some(d))) = (dir.is_done(), dir.read_diverged()) {
                        // A result, not a crash: the tables show it (the study's σ = 0), and it is
                        // not rerun; the exit status still counts it.
                        bar.println(format!("DIVERGED {} {} seed{}: {d}", s.runs[i].column(), s.runs[i].spec.task, s.runs[i].spec.seed));
                        diverged += 1;
                    } else if !dir.is_done() {
                        // The worker's own failure, when it recorded one; else how its process ended.
                        let why = match dir.read_status() {
                            Ok(Some(failed @ RunStatus::Failed(_))) => failed,
                            _ => RunStatus::Failed(format!("process exited with {status}; see {}", log.display())),
                        };
                        dir.write_status(&why)?;
                        let why = why.to_string();
                        bar.println(format!("FAILED {} {} seed{}: {why}", s.runs[i].column(), s.runs[i].spec.task, s.runs[i].spec.seed));
                        failed.push((i, why));
                    }
                    bar.inc(1);
                }
            } else {
                k += 1;
            }
        }
        let names: Vec<String> = running
            .iter()
            .map(|(g, slot, _)| format!("{}/{}{}@{}", s.runs[g[0]].column(), s.runs[g[0]].spec.task, if g.len() > 1 { format!("×{}", g.len()) } else { String::new() }, slots[*slot]))
            .collect();
        bar.set_message(format!("running {} | failed {} | {}", running.len(), failed.len(), names.join(", ")));
    }
    bar.finish_and_clear();
    println!("{} runs finished, {diverged} diverged (shown in the tables), {} failed, {} skipped", pending.len() - failed.len() - diverged, failed.len(), skipped);
    let report = crate::aggregate::aggregate(&s, &args.results)?;
    println!("{report}");
    // A divergence is a result the tables show, but the suite still has runs without a score:
    // the exit status says so, this time and on every rerun that skips them.
    let diverged = diverged_runs(&s);
    if !failed.is_empty() || !diverged.is_empty() {
        bail!(
            "{} runs failed (their errors are in each run's `status` file) and {} diverged (a non-finite loss, shown in the tables: {})",
            failed.len(),
            diverged.len(),
            diverged.iter().map(|i| format!("{} {} seed{}", s.runs[*i].column(), s.runs[*i].spec.task, s.runs[*i].spec.seed)).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The suite's runs that diverged (settled without a result).
fn diverged_runs(s: &suite::Suite) -> Vec<usize> {
    (0..s.runs.len()).filter(|&i| RunDir::new(&s.runs[i].spec.out).is_diverged()).collect()
}

/// Writes `results/slurm/SUITE-<time>/array.sbatch` (one array task per pending run, each the
/// same `run-one` a local bench starts) and submits it. Each task asks for one CPU and runs one
/// thread (the thread policy of `--jobs auto`; `--slurm-opt=--cpus-per-task=N` asks for more, and
/// the task then runs N threads); `--jobs N` caps the tasks running at once, `auto` leaves that
/// to Slurm.
fn slurm(args: &BenchArgs, s: &suite::Suite, suite_path: &Path, exe: &Path, groups: &[Vec<usize>]) -> Result<()> {
    let pending: Vec<usize> = groups.iter().flatten().copied().collect();
    if pending.is_empty() {
        println!("nothing to submit: every run is finished");
        println!("{}", crate::aggregate::aggregate(s, &args.results)?);
        return Ok(());
    }
    let abs = |p: &Path| -> Result<PathBuf> {
        std::fs::create_dir_all(p).ok();
        std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()))
    };
    let (results, data) = (abs(&args.results)?, abs(&args.data)?);
    let suite_abs = std::fs::canonicalize(suite_path).with_context(|| format!("resolving {}", suite_path.display()))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let dir = results.join("slurm").join(format!("{}-{stamp}", s.name));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for &i in &pending {
        std::fs::create_dir_all(&s.runs[i].spec.out)?;
    }
    let mut script = String::from("#!/bin/bash\n");
    let cap = match args.jobs {
        Jobs::Fixed(n) => format!("%{n}"),
        Jobs::Auto => String::new(),
    };
    script.push_str(&format!("#SBATCH --job-name=nfrl-{}\n#SBATCH --array=0-{}{cap}\n#SBATCH --cpus-per-task=1\n#SBATCH --output={}/%A_%a.out\n", s.name, groups.len() - 1, dir.display()));
    for o in &args.slurm_opts {
        script.push_str(&format!("#SBATCH {o}\n"));
    }
    script.push_str(&format!("# One array task per pending run of suite {} (indices into its expansion; a comma list is a member ensemble).\n", s.name));
    script.push_str(&format!("RUNS=({})\n", groups.iter().map(|g| g.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join(" ")));
    script.push_str("export RAYON_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n");
    script.push_str(&format!("exec {:?} run-one --suite {:?} --index ${{RUNS[$SLURM_ARRAY_TASK_ID]}} --results {:?} --data {:?}\n", exe, suite_abs, results, data));
    let file = dir.join("array.sbatch");
    write_atomic(&file, &script)?;
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable");
    if args.wait {
        cmd.arg("--wait");
    }
    let out = cmd.arg(&file).output().context("running sbatch (is Slurm installed and the cluster up?)")?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() && !args.wait {
        bail!("sbatch failed: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    }
    let job = stdout.lines().next().unwrap_or("").to_string();
    println!("submitted Slurm job {job}: {} array tasks for {} runs ({}); logs in {}", groups.len(), pending.len(), file.display(), dir.display());
    if !args.wait {
        println!("when it finishes: cargo xtask aggregate --suite {}", args.suite);
        return Ok(());
    }
    let failed: Vec<&suite::SuiteRun> = pending.iter().map(|&i| &s.runs[i]).filter(|r| !done(&r.spec.out)).collect();
    for r in &failed {
        let run = RunDir::new(&r.spec.out);
        // A run that never started keeps no status (the tables say "not started"); one that
        // recorded its own failure keeps it.
        match run.read_status() {
            Ok(None | Some(RunStatus::Failed(_))) => {}
            Ok(Some(status)) => run.write_status(&RunStatus::Failed(format!("the Slurm task ended without a result ({status}); see {}", dir.display())))?,
            Err(e) => run.write_status(&RunStatus::Failed(format!("the Slurm task ended without a result ({e:#}); see {}", dir.display())))?,
        }
    }
    println!("{}", crate::aggregate::aggregate(s, &args.results)?);
    if !failed.is_empty() {
        bail!("{} of {} Slurm runs failed (see each run's `status`)", failed.len(), pending.len());
    }
    let diverged = diverged_runs(s);
    if !diverged.is_empty() {
        bail!("{} runs diverged (a non-finite loss, shown in the tables; see each run's `diverged.toml`)", diverged.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--part K/N` parses, refuses nonsense, and the parts cover every run exactly once, seed by
    /// seed.
    #[test]
    fn parts_partition_the_runs() {
        // 10 cells × seeds [3, 1] in the suite's order: cell c's runs are 2c (seed 3), 2c + 1 (seed 1).
        let seeds: Vec<u64> = (0..20).map(|i| if i % 2 == 0 { 3 } else { 1 }).collect();
        let parts: Vec<Vec<bool>> = (1..=4).map(|k| format!("{k}/4").parse::<Part>().unwrap().select(&seeds)).collect();
        for i in 0..seeds.len() {
            assert_eq!(parts.iter().filter(|p| p[i]).count(), 1, "run {i}");
        }
        let sizes: Vec<usize> = parts.iter().map(|p| p.iter().filter(|x| **x).count()).collect();
        assert_eq!(sizes, [5, 5, 5, 5]);
        // Parts 1 and 2 are the first seed's ten runs, in index order; 3 and 4 the second's.
        assert!((0..seeds.len()).all(|i| (parts[0][i] || parts[1][i]) == (seeds[i] == 3)));
        assert!(parts[0][0] && parts[0][8] && !parts[0][10] && parts[1][10]);
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Part>().unwrap_err().contains("expected K/N"), "{bad}");
        }
        assert_eq!(" 2 / 4".trim().parse::<Part>().map(|p| p.to_string()), Ok("2/4".to_string()));
    }
}
