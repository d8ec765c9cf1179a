//! `data/manifest.toml`: what each generated dataset file is (task, split, seed, size of the
//! recipe, generator version) and its size and sha256, so that [`ensure`] regenerates exactly
//! the files that are missing, modified or stale and skips the rest.
//!
//! ```toml
//! [files."pointmaze-large-navigate.npz"]
//! size = 36001344
//! sha256 = "…"
//! generator_version = 1
//! seed = 0
//! task = "pointmaze-large-navigate"
//! split = "train"
//! episodes = 1000
//! episode_len = 1001
//! ```
//!
//! The manifest is rewritten atomically (temporary file + rename). Processes that share a data
//! directory (parallel runs, Slurm array tasks, a `train` beside a `bench`) are serialised by
//! advisory file locks: one per dataset file while it is generated (so a file is generated once,
//! and whoever waited finds it up to date) and one for the manifest's read-modify-write (so no
//! entry is lost). The lock files are `.NAME.lock` beside the data.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::datagen::{Split, GENERATOR_VERSION};
use crate::error::{EnvError, Result};
use crate::npz::write_atomic;

/// The manifest's file name inside the data directory.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// One generated file, as recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// File size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    pub generator_version: u32,
    /// TOML integers are signed 64-bit; seeds above `i64::MAX` are written as strings.
    #[serde(with = "seed_repr")]
    pub seed: u64,
    /// The base task (dataset) name, e.g. `pointmaze-large-navigate`.
    pub task: String,
    /// `train` or `val`.
    pub split: String,
    pub episodes: usize,
    pub episode_len: usize,
}

/// The whole manifest: file name → entry, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub files: BTreeMap<String, ManifestEntry>,
}

mod seed_repr {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(seed: &u64, s: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(*seed) {
            Ok(v) => s.serialize_i64(v),
            Err(_) => s.serialize_str(&seed.to_string()),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Int(i64),
        Str(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Int(v) => u64::try_from(v).map_err(|_| serde::de::Error::custom(format!("seed {v} is negative"))),
            Repr::Str(s) => s.parse().map_err(|_| serde::de::Error::custom(format!("seed `{s}` is not an unsigned integer"))),
        }
    }
}

/// `train` / `val`.
pub fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Val => "val",
    }
}

impl Manifest {
    /// Reads `dir/manifest.toml`; a missing file is an empty manifest.
    pub fn load(dir: impl AsRef<Path>) -> Result<Manifest> {
        let path = dir.as_ref().join(MANIFEST_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| EnvError::dataset(&path, format!("not a valid manifest: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(EnvError::io(&path, e)),
        }
    }

    /// Writes `dir/manifest.toml` atomically.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let path = dir.as_ref().join(MANIFEST_FILE);
        let body = toml::to_string(self).map_err(|e| EnvError::dataset(&path, format!("cannot serialise the manifest: {e}")))?;
        let text = format!("# Generated datasets: written by `envs::manifest::ensure` (`cargo xtask datasets`); do not edit.\n\n{body}");
        write_atomic(&path, |w| std::io::Write::write_all(w, text.as_bytes()).map_err(|e| EnvError::io(&path, e)))
    }
}

/// Lower-case hex sha256 of a file's bytes.
pub fn sha256_file(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let mut file = std::fs::File::open(path).map_err(|e| EnvError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| EnvError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The file a task's split is stored in: `TASK.npz` or `TASK-val.npz`, for the task's dataset
/// (a `-singletask-taskN` variant shares its base task's file).
pub fn file_name(task: &str, split: Split) -> Result<String> {
    let m = crate::meta(task)?;
    let base = m.dataset.ok_or_else(|| EnvError::Invalid(format!("{task} has no offline dataset (online tasks collect their own data)")))?;
    Ok(format!("{base}{}.npz", split.suffix()))
}

/// What [`ensure`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The file was (re)generated; `reason` says why (missing, modified, stale, …).
    Generated { path: PathBuf, reason: String },
    /// The file matched its manifest entry and was left alone.
    UpToDate { path: PathBuf },
}

impl EnsureOutcome {
    pub fn path(&self) -> &Path {
        match self {
            EnsureOutcome::Generated { path, .. } | EnsureOutcome::UpToDate { path } => path,
        }
    }
    pub fn generated(&self) -> bool {
        matches!(self, EnsureOutcome::Generated { .. })
    }
}

/// Serialises read-modify-write cycles of manifests within this process.
static MANIFEST_LOCK: Mutex<()> = Mutex::new(());

/// An exclusive advisory lock on `dir/.NAME.lock`, held until the returned file is dropped.
/// Each call opens its own file description, so it excludes threads of this process as well as
/// other processes.
fn lock(dir: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).map_err(|e| EnvError::io(dir, e))?;
    let path = dir.join(format!(".{name}.lock"));
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| EnvError::io(&path, e))?;
    file.lock().map_err(|e| EnvError::io(&path, e))?;
    Ok(file)
}

/// Makes sure `dir` holds `task`'s `split` generated from `seed` with the recipe's size:
/// skips the work when the file exists and its size, sha256, generator version, seed and size
/// match the manifest; otherwise generates it ([`crate::generate`]), saves it and records it.
pub fn ensure(dir: impl AsRef<Path>, task: &str, seed: u64, split: Split) -> Result<EnsureOutcome> {
    ensure_with(dir, task, seed, split, None)
}

/// [`ensure`] with an explicit `(episodes, episode_len)` instead of the recipe's (tests use tiny
/// datasets). A file recorded with another size counts as stale.
pub fn ensure_with(dir: impl AsRef<Path>, task: &str, seed: u64, split: Split, size: Option<(usize, usize)>) -> Result<EnsureOutcome> {
    let dir = dir.as_ref();
    let m = crate::meta(task)?;
    let base = m.dataset.clone().ok_or_else(|| EnvError::Invalid(format!("{task} has no offline dataset (online tasks collect their own data)")))?;
    let recipe = m.recipe.expect("dataset tasks have a recipe");
    let (episodes, episode_len) = size.unwrap_or(match split {
        Split::Train => (recipe.episodes, recipe.episode_len),
        Split::Val => (recipe.episodes / 10, recipe.episode_len),
    });
    let name = format!("{base}{}.npz", split.suffix());
    let path = dir.join(&name);
    let wanted = |e: &ManifestEntry| -> Option<String> {
        let stale = [
            (e.generator_version != GENERATOR_VERSION, format!("generator version {} → {GENERATOR_VERSION}", e.generator_version)),
            (e.seed != seed, format!("seed {} → {seed}", e.seed)),
            (e.task != base || e.split != split_name(split), format!("entry is for {} {}", e.task, e.split)),
            ((e.episodes, e.episode_len) != (episodes, episode_len), format!("size {}×{} → {episodes}×{episode_len}", e.episodes, e.episode_len)),
        ];
        stale.into_iter().find(|(bad, _)| *bad).map(|(_, why)| why)
    };

    // Why the file must be (re)generated, or `None` when it is up to date.
    let stale = || -> Result<Option<String>> {
        let manifest = Manifest::load(dir)?;
        Ok(match (manifest.files.get(&name), std::fs::metadata(&path)) {
            (_, Err(_)) => Some("file missing".to_string()),
            (None, Ok(_)) => Some("not in the manifest".to_string()),
            (Some(e), Ok(meta)) => match wanted(e) {
                Some(why) => Some(why),
                None if meta.len() != e.size => Some(format!("size {} differs from the manifest's {}", meta.len(), e.size)),
                None if sha256_file(&path)? != e.sha256 => Some("sha256 differs from the manifest".to_string()),
                None => None,
            },
        })
    };
    if stale()?.is_none() {
        return Ok(EnsureOutcome::UpToDate { path });
    }
    // Someone else may be generating this very file: wait for them, then look again.
    let _generating = lock(dir, &name)?;
    let Some(reason) = stale()? else {
        return Ok(EnsureOutcome::UpToDate { path });
    };

    let ds = crate::generate_with(&base, seed, split, episodes, episode_len)?;
    ds.save_npz(&path)?;
    let entry = ManifestEntry {
        size: std::fs::metadata(&path).map_err(|e| EnvError::io(&path, e))?.len(),
        sha256: sha256_file(&path)?,
        generator_version: GENERATOR_VERSION,
        seed,
        task: base,
        split: split_name(split).into(),
        episodes,
        episode_len,
    };
    {
        let _guard = MANIFEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let _writing = lock(dir, MANIFEST_FILE)?;
        let mut manifest = Manifest::load(dir)?;
        manifest.files.insert(name, entry);
        manifest.save(dir)?;
    }
    Ok(EnsureOutcome::Generated { path, reason })
}
