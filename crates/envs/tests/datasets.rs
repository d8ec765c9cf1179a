//! Dataset storage (`.npz`), the manifest, and OGBench-style batch sampling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use envs::manifest::{self, Manifest, ManifestEntry};
use envs::npz::{self, NpyArray, NpyData};
use envs::{Dataset, EnsureOutcome, EnvError, GcSampler, GoalConfig, Split, TransitionSampler, ValueGoals};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// A fresh, empty directory for one test.
fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("envs-datasets-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn small(seed: u64) -> Dataset {
    envs::generate_with("pointmaze-medium-navigate", seed, Split::Train, 3, 51).unwrap()
}

/// A synthetic dataset with buttons, so int64 arrays round-trip too.
fn with_buttons() -> Dataset {
    let mut ds = Dataset::new(3, 2, 1, 1, 4);
    for t in 0..10 {
        ds.observations.extend([t as f32, -0.0, f32::MIN_POSITIVE * t as f32]);
        ds.actions.extend([0.1 * t as f32, f32::NAN]);
        ds.terminals.push(if t == 4 || t == 9 { 1.0 } else { 0.0 });
        ds.qpos.push(t as f32 * 1e-7);
        ds.qvel.push(-(t as f32));
        ds.button_states.extend([t, -t, i64::MAX - t, i64::MIN + t]);
    }
    ds
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn assert_bitwise_eq(a: &Dataset, b: &Dataset) {
    assert_eq!((a.obs_dim, a.act_dim, a.qpos_dim, a.qvel_dim, a.button_dim), (b.obs_dim, b.act_dim, b.qpos_dim, b.qvel_dim, b.button_dim));
    assert_eq!(bits(&a.observations), bits(&b.observations));
    assert_eq!(bits(&a.actions), bits(&b.actions));
    assert_eq!(bits(&a.terminals), bits(&b.terminals));
    assert_eq!(bits(&a.qpos), bits(&b.qpos));
    assert_eq!(bits(&a.qvel), bits(&b.qvel));
    assert_eq!(a.button_states, b.button_states);
}

fn dataset_err(r: envs::Result<impl std::fmt::Debug>) -> (PathBuf, String) {
    match r {
        Err(EnvError::Dataset { path, reason }) => (path, reason),
        other => panic!("expected EnvError::Dataset, got {other:?}"),
    }
}

/// Asserts `r` is a Dataset error whose message names `file` and contains every one of `words`.
fn assert_dataset_err(r: envs::Result<impl std::fmt::Debug>, file: &Path, words: &[&str]) {
    let (path, reason) = dataset_err(r);
    assert_eq!(path, file);
    let msg = EnvError::Dataset { path, reason }.to_string();
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(msg.contains(name), "message does not name the file {name}: {msg}");
    for w in words {
        assert!(msg.contains(w), "message does not contain `{w}`: {msg}");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// npz

#[test]
fn npz_round_trip_is_bitwise() {
    let dir = tmp("roundtrip");
    let ds = small(3);
    assert_eq!(ds.len(), 153);
    let path = dir.join("maze.npz");
    ds.save_npz(&path).unwrap();
    let back = Dataset::load_npz(&path).unwrap();
    assert_bitwise_eq(&ds, &back);

    let raw = npz::read_npz(&path).unwrap();
    assert_eq!(raw.keys().map(String::as_str).collect::<Vec<_>>(), ["actions", "observations", "qpos", "qvel", "terminals"]);
    assert_eq!(raw["observations"].shape, vec![153, 2]);
    assert_eq!(raw["terminals"].shape, vec![153]);
    assert!(matches!(raw["observations"].data, NpyData::F32(_)));

    let b = with_buttons();
    let path = dir.join("buttons.npz");
    b.save_npz(&path).unwrap();
    let back = Dataset::load_npz(&path).unwrap();
    assert_bitwise_eq(&b, &back);
    assert_eq!(npz::read_npz(&path).unwrap()["button_states"], NpyArray::i64(vec![10, 4], b.button_states.clone()));
}

#[test]
fn npz_generic_arrays_round_trip_and_other_dtypes_convert() {
    let dir = tmp("generic");
    let path = dir.join("mixed.npz");
    let arrays = [
        ("scalar", NpyArray::f32(vec![], vec![2.5])),
        ("empty", NpyArray::f32(vec![0, 3], vec![])),
        ("cube", NpyArray::f32(vec![2, 3, 4], (0..24).map(|x| x as f32 / 7.0).collect())),
        ("ints", NpyArray::i64(vec![5], vec![-2, -1, 0, 1, i64::MAX])),
        ("flags", NpyArray::bool(vec![2, 2], vec![true, false, false, true])),
    ];
    npz::write_npz(&path, &arrays).unwrap();
    let back = npz::read_npz(&path).unwrap();
    assert_eq!(back.len(), arrays.len());
    for (k, a) in &arrays {
        assert_eq!(&back[*k], a, "key {k}");
    }
    // A shape that disagrees with the data is refused before anything is written.
    let bad = dir.join("bad.npz");
    let err = npz::write_npz(&bad, &[("x", NpyArray::f32(vec![2, 2], vec![1.0; 3]))]);
    assert_dataset_err(err, &bad, &["`x`"]);
    assert!(!bad.exists());

    // What NumPy may hand us: float64, int32, uint8, deflated entries (np.savez_compressed).
    let path = dir.join("numpy-dtypes.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let entry = |descr: &str, shape: &[usize], data: Vec<u8>| {
        let mut v = npz::npy_header(descr, shape);
        v.extend(data);
        v
    };
    let entries = [
        ("f8.npy", entry("<f8", &[3], [1.5f64, -2.25, 1e300].iter().flat_map(|x| x.to_le_bytes()).collect())),
        ("i4.npy", entry("<i4", &[2], [-7i32, 9].iter().flat_map(|x| x.to_le_bytes()).collect())),
        ("u1.npy", entry("|u1", &[1, 2], vec![0, 255])),
    ];
    for (name, bytes) in entries {
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(name, opts).unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
    }
    zip.finish().unwrap();
    let back = npz::read_npz(&path).unwrap();
    assert_eq!(back["f8"], NpyArray::f32(vec![3], vec![1.5, -2.25, f32::INFINITY]));
    assert_eq!(back["i4"], NpyArray::i64(vec![2], vec![-7, 9]));
    assert_eq!(back["u1"], NpyArray::i64(vec![1, 2], vec![0, 255]));
}

#[test]
fn npz_bytes_are_deterministic() {
    let dir = tmp("determinism");
    let (a, b, c) = (dir.join("a.npz"), dir.join("b.npz"), dir.join("c.npz"));
    small(11).save_npz(&a).unwrap();
    small(11).save_npz(&b).unwrap();
    small(12).save_npz(&c).unwrap();
    let (ha, hb, hc) = (manifest::sha256_file(&a).unwrap(), manifest::sha256_file(&b).unwrap(), manifest::sha256_file(&c).unwrap());
    assert_eq!(ha, hb, "same seed, different bytes");
    assert_ne!(ha, hc, "different seeds, same bytes");
    assert_eq!(ha, sha256_hex(&std::fs::read(&a).unwrap()));

    // Independent of the wall clock: entries carry the DOS epoch, stored, with fixed permissions.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
    for i in 0..zip.len() {
        let e = zip.by_index(i).unwrap();
        assert_eq!(e.last_modified(), Some(zip::DateTime::default()), "{}", e.name());
        assert_eq!(e.compression(), zip::CompressionMethod::Stored);
        assert_eq!(e.unix_mode().map(|m| m & 0o777), Some(0o644));
    }
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn npz_damage_is_reported_with_the_file_name() {
    let dir = tmp("damage");
    let good = dir.join("good.npz");
    small(5).save_npz(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let missing = dir.join("missing.npz");
    assert_dataset_err(Dataset::load_npz(&missing), &missing, &["cannot open"]);

    let truncated = dir.join("truncated.npz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_dataset_err(npz::read_npz(&truncated), &truncated, &[]);
    assert_dataset_err(Dataset::load_npz(&truncated), &truncated, &[]);

    let not_zip = dir.join("not-a-zip.npz");
    std::fs::write(&not_zip, b"hello, this is not a zip archive").unwrap();
    assert_dataset_err(Dataset::load_npz(&not_zip), &not_zip, &["zip"]);

    // Corrupt the header of the `observations` entry: an unsupported dtype …
    let at = |pat: &[u8]| bytes.windows(pat.len()).position(|w| w == pat).unwrap();
    let obs_header = at(b"observations.npy");
    let descr = obs_header + bytes[obs_header..].windows(5).position(|w| w == b"'<f4'").unwrap();
    let mut bad = bytes.clone();
    bad[descr + 1] = b'>';
    let corrupt = dir.join("corrupt-header.npz");
    std::fs::write(&corrupt, &bad).unwrap();
    assert_dataset_err(Dataset::load_npz(&corrupt), &corrupt, &["`observations`", "'>f4'"]);

    // … bad magic bytes …
    let magic = obs_header + bytes[obs_header..].windows(6).position(|w| w == b"\x93NUMPY").unwrap();
    let mut bad = bytes.clone();
    bad[magic + 1] = b'X';
    std::fs::write(&corrupt, &bad).unwrap();
    assert_dataset_err(Dataset::load_npz(&corrupt), &corrupt, &["`observations`", "magic"]);

    // … or a shape claiming more rows than the data holds.
    let shape = obs_header + bytes[obs_header..].windows(8).position(|w| w == b"(153, 2)").unwrap();
    let mut bad = bytes.clone();
    bad[shape + 1] = b'9';
    std::fs::write(&corrupt, &bad).unwrap();
    assert_dataset_err(Dataset::load_npz(&corrupt), &corrupt, &["`observations`", "shorter"]);

    // A flipped data byte fails the entry's CRC.
    let mut bad = bytes.clone();
    let data = magic + 10 + u16::from_le_bytes([bytes[magic + 8], bytes[magic + 9]]) as usize;
    assert_eq!(bytes[data - 1], b'\n');
    bad[data] ^= 0x40;
    std::fs::write(&corrupt, &bad).unwrap();
    assert_dataset_err(Dataset::load_npz(&corrupt), &corrupt, &["`observations`"]);
}

#[test]
fn load_names_the_missing_key_and_disagreeing_rows() {
    let dir = tmp("keys");
    let ds = small(1);
    let n = ds.len();
    let arrays = |skip: &str, short: &str| -> Vec<(&'static str, NpyArray)> {
        let rows = |k: &str| if k == short { n - 1 } else { n };
        let cut = |k: &str, v: &[f32], d: usize| v[..rows(k) * d].to_vec();
        let mut v = vec![
            ("observations", NpyArray::f32(vec![rows("observations"), 2], cut("observations", &ds.observations, 2))),
            ("actions", NpyArray::f32(vec![rows("actions"), 2], cut("actions", &ds.actions, 2))),
            ("terminals", NpyArray::f32(vec![rows("terminals")], cut("terminals", &ds.terminals, 1))),
            ("qpos", NpyArray::f32(vec![rows("qpos"), 2], cut("qpos", &ds.qpos, 2))),
            ("qvel", NpyArray::f32(vec![rows("qvel"), 2], cut("qvel", &ds.qvel, 2))),
        ];
        v.retain(|(k, _)| *k != skip);
        v
    };
    let path = dir.join("keys.npz");
    for key in ["observations", "actions", "terminals", "qpos", "qvel"] {
        npz::write_npz(&path, &arrays(key, "")).unwrap();
        let other = if key == "qvel" { "`qpos`" } else { "`qvel`" };
        assert_dataset_err(Dataset::load_npz(&path), &path, &["missing key", &format!("`{key}`"), other]);
    }
    for key in ["actions", "terminals", "qpos", "qvel"] {
        npz::write_npz(&path, &arrays("", key)).unwrap();
        assert_dataset_err(Dataset::load_npz(&path), &path, &[&format!("`{key}`"), &format!("{}", n - 1)]);
    }
    // Wrong rank names the key too.
    let mut v = arrays("", "");
    v[2].1 = NpyArray::f32(vec![n, 1], ds.terminals.clone());
    npz::write_npz(&path, &v).unwrap();
    assert_dataset_err(Dataset::load_npz(&path), &path, &["`terminals`", "1-D"]);
    npz::write_npz(&path, &arrays("", "")).unwrap();
    assert_bitwise_eq(&Dataset::load_npz(&path).unwrap(), &ds);
}

#[test]
fn check_for_task_rejects_the_wrong_task() {
    let dir = tmp("check");
    let accel = envs::generate_with("accelmaze-medium-navigate", 2, Split::Train, 2, 21).unwrap();
    assert_eq!(accel.obs_dim, 4);
    let path = dir.join("accelmaze-medium-navigate.npz");
    accel.save_npz(&path).unwrap();
    let loaded = Dataset::load_npz(&path).unwrap();
    loaded.check_for_task(&path, "accelmaze-medium-navigate").unwrap();
    loaded.check_for_task(&path, "accelmaze-medium-navigate-singletask-task2").unwrap();
    assert_dataset_err(loaded.check_for_task(&path, "pointmaze-medium-navigate"), &path, &["`observations`", "[42, 2]", "[42, 4]", "pointmaze-medium-navigate"]);

    let mut cut = loaded.clone();
    cut.terminals[41] = 0.0;
    assert_dataset_err(cut.check_for_task(&path, "accelmaze-medium-navigate"), &path, &["`terminals`", "not terminal"]);
    let mut narrow = loaded;
    narrow.act_dim = 3;
    assert_dataset_err(narrow.check_for_task(&path, "accelmaze-medium-navigate"), &path, &["`actions`", "[42, 2]", "[42, 3]"]);
    assert!(matches!(Dataset::default().check_for_task(&path, "no-such-task"), Err(EnvError::UnknownTask { .. })));
}

#[test]
fn numpy_loads_what_we_write() {
    let has_numpy = std::process::Command::new("python3").args(["-c", "import numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !has_numpy {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but `python3 -c 'import numpy'` fails: install numpy (CI must run this check)");
        }
        eprintln!("SKIPPED numpy_loads_what_we_write: python3 with numpy is not available (set CI=1 to make this a failure)");
        return;
    }
    let dir = tmp("numpy");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/numpy_load.py");
    for (name, ds) in [("maze.npz", small(9)), ("buttons.npz", with_buttons())] {
        let path = dir.join(name);
        ds.save_npz(&path).unwrap();
        let out = std::process::Command::new("python3").arg(&script).arg(&path).output().unwrap();
        assert!(out.status.success(), "numpy failed on {name}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let got: BTreeMap<&str, Vec<&str>> = text
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[0], f[1..].to_vec())
            })
            .collect();

        let n = ds.len();
        let f32s = |v: &[f32]| sha256_hex(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        let first = |v: &[f32]| format!("{:?}", v[0] as f64);
        let mut want: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        want.insert("observations", vec!["<f4".into(), format!("({n},{})", ds.obs_dim), f32s(&ds.observations), first(&ds.observations)]);
        want.insert("actions", vec!["<f4".into(), format!("({n},{})", ds.act_dim), f32s(&ds.actions), first(&ds.actions)]);
        want.insert("terminals", vec!["<f4".into(), format!("({n})"), f32s(&ds.terminals), first(&ds.terminals)]);
        want.insert("qpos", vec!["<f4".into(), format!("({n},{})", ds.qpos_dim), f32s(&ds.qpos), first(&ds.qpos)]);
        want.insert("qvel", vec!["<f4".into(), format!("({n},{})", ds.qvel_dim), f32s(&ds.qvel), first(&ds.qvel)]);
        if ds.button_dim > 0 {
            let b = &ds.button_states;
            want.insert("button_states", vec!["<i8".into(), format!("({n},{})", ds.button_dim), sha256_hex(&b.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()), b[0].to_string()]);
        }
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{name}: keys");
        for (k, w) in &want {
            let g = &got[k];
            assert_eq!(g[0], w[0], "{name} {k}: dtype");
            assert_eq!(g[1], w[1], "{name} {k}: shape");
            assert_eq!(g[2], w[2], "{name} {k}: bytes differ");
            // Python's repr of a float and Rust's Debug of an f64 agree on finite values.
            assert_eq!(g[3], w[3], "{name} {k}: first value");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// manifest

#[test]
fn manifest_ensure_skips_up_to_date_files_and_regenerates_changed_ones() {
    let dir = tmp("manifest");
    let task = "pointmaze-medium-navigate";
    let size = Some((3, 51));
    let out = envs::ensure_with(&dir, task, 7, Split::Train, size).unwrap();
    let path = dir.join("pointmaze-medium-navigate.npz");
    assert!(matches!(&out, EnsureOutcome::Generated { reason, .. } if reason.contains("missing")), "{out:?}");
    assert_eq!(out.path(), path);
    let sha = manifest::sha256_file(&path).unwrap();
    let m = Manifest::load(&dir).unwrap();
    assert_eq!(
        m.files["pointmaze-medium-navigate.npz"],
        ManifestEntry {
            size: std::fs::metadata(&path).unwrap().len(),
            sha256: sha.clone(),
            generator_version: envs::GENERATOR_VERSION,
            seed: 7,
            task: task.into(),
            split: "train".into(),
            episodes: 3,
            episode_len: 51,
        }
    );
    // The file holds what generate_with makes.
    assert_bitwise_eq(&Dataset::load_npz(&path).unwrap(), &small(7));

    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = envs::ensure_with(&dir, task, 7, Split::Train, size).unwrap();
    assert_eq!(again, EnsureOutcome::UpToDate { path: path.clone() });
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime, "an up-to-date file was rewritten");

    // Same size, one byte changed: caught by the sha256, regenerated to the original bytes.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let out = envs::ensure_with(&dir, task, 7, Split::Train, size).unwrap();
    assert!(matches!(&out, EnsureOutcome::Generated { reason, .. } if reason.contains("sha256")), "{out:?}");
    assert_eq!(manifest::sha256_file(&path).unwrap(), sha);

    // Appended bytes, another seed, another size, a deleted file: all regenerate.
    std::fs::OpenOptions::new().append(true).open(&path).and_then(|mut f| std::io::Write::write_all(&mut f, b"x")).unwrap();
    let out = envs::ensure_with(&dir, task, 7, Split::Train, size).unwrap();
    assert!(matches!(&out, EnsureOutcome::Generated { reason, .. } if reason.contains("size")), "{out:?}");
    let out = envs::ensure_with(&dir, task, 8, Split::Train, size).unwrap();
    assert!(matches!(&out, EnsureOutcome::Generated { reason, .. } if reason.contains("seed")), "{out:?}");
    assert_ne!(manifest::sha256_file(&path).unwrap(), sha);
    let out = envs::ensure_with(&dir, task, 8, Split::Train, Some((2, 51))).unwrap();
    assert!(out.generated(), "{out:?}");
    assert_eq!(Dataset::load_npz(&path).unwrap().len(), 102);
    std::fs::remove_file(&path).unwrap();
    assert!(envs::ensure_with(&dir, task, 8, Split::Train, Some((2, 51))).unwrap().generated());
    assert!(!envs::ensure_with(&dir, task, 8, Split::Train, Some((2, 51))).unwrap().generated());

    // The val split lives in its own file and entry; a stale generator version regenerates.
    let val = envs::ensure_with(&dir, task, 8, Split::Val, Some((1, 51))).unwrap();
    assert_eq!(val.path(), dir.join("pointmaze-medium-navigate-val.npz"));
    let mut m = Manifest::load(&dir).unwrap();
    assert_eq!(m.files.len(), 2);
    assert_eq!(m.files["pointmaze-medium-navigate-val.npz"].split, "val");
    m.files.get_mut("pointmaze-medium-navigate-val.npz").unwrap().generator_version = 0;
    m.save(&dir).unwrap();
    let out = envs::ensure_with(&dir, task, 8, Split::Val, Some((1, 51))).unwrap();
    assert!(matches!(&out, EnsureOutcome::Generated { reason, .. } if reason.contains("generator version")), "{out:?}");

    assert_eq!(manifest::file_name("pointmaze-medium-navigate-singletask-task3", Split::Val).unwrap(), "pointmaze-medium-navigate-val.npz");
    assert!(envs::ensure_with(&dir, "pointmaze-umaze-online", 0, Split::Train, size).is_err());
}

/// Parallel runs share a data directory: asked for the same missing file at once, one generates
/// it and the others wait and find it up to date; files generated side by side all keep their
/// manifest entries. (The file locks exclude threads as they exclude processes.)
#[test]
fn concurrent_ensures_generate_each_file_once_and_lose_no_entry() {
    let dir = tmp("concurrent");
    let tasks = ["pointmaze-medium-navigate", "pointmaze-medium-navigate", "pointmaze-medium-navigate", "pointmaze-large-navigate", "pointmaze-large-navigate", "pointmaze-giant-navigate"];
    let outcomes: Vec<(&str, EnsureOutcome)> = std::thread::scope(|s| {
        let dir = &dir;
        let handles: Vec<_> = tasks.iter().map(|&t| s.spawn(move || (t, envs::ensure_with(dir, t, 3, Split::Train, Some((2, 51))).unwrap()))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for t in ["pointmaze-medium-navigate", "pointmaze-large-navigate", "pointmaze-giant-navigate"] {
        let generated = outcomes.iter().filter(|(n, o)| *n == t && o.generated()).count();
        assert_eq!(generated, 1, "{t}: {outcomes:?}");
    }
    let m = Manifest::load(&dir).unwrap();
    assert_eq!(m.files.keys().map(String::as_str).collect::<Vec<_>>(), ["pointmaze-giant-navigate.npz", "pointmaze-large-navigate.npz", "pointmaze-medium-navigate.npz"]);
}

#[test]
fn manifest_round_trips_any_seed() {
    let dir = tmp("manifest-seed");
    let mut m = Manifest::default();
    for (name, seed) in [("a.npz", 0u64), ("b.npz", i64::MAX as u64), ("c.npz", u64::MAX)] {
        let e = ManifestEntry { size: 1, sha256: "00".into(), generator_version: 1, seed, task: "t".into(), split: "train".into(), episodes: 1, episode_len: 2 };
        m.files.insert(name.into(), e);
    }
    m.save(&dir).unwrap();
    assert_eq!(Manifest::load(&dir).unwrap(), m);
    assert_eq!(Manifest::load(dir.join("nowhere")).unwrap(), Manifest::default());
    std::fs::write(dir.join("manifest.toml"), "files = 3").unwrap();
    assert_dataset_err(Manifest::load(&dir), &dir.join("manifest.toml"), &["manifest"]);
}

// ---------------------------------------------------------------------------------------------
// sampling

/// Episodes of the given lengths; observation row `t` is `[t, episode]`, action `[t, -t]`.
fn synthetic(lens: &[usize]) -> Dataset {
    let mut ds = Dataset::new(2, 2, 1, 1, 0);
    let mut t = 0;
    for (ep, &len) in lens.iter().enumerate() {
        for k in 0..len {
            ds.observations.extend([t as f32, ep as f32]);
            ds.actions.extend([t as f32, -(t as f32)]);
            ds.terminals.push(if k + 1 == len { 1.0 } else { 0.0 });
            ds.qpos.push(0.0);
            ds.qvel.push(0.0);
            t += 1;
        }
    }
    ds
}

const LENS: [usize; 7] = [1, 2, 5, 300, 1000, 3, 40];

/// `(episode, terminal row)` of each row.
fn episode_of(ds: &Dataset) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (ep, (s, e)) in ds.episodes().into_iter().enumerate() {
        out.extend((s..e).map(|_| (ep, e - 1)));
    }
    out
}

/// Checks the transition part of a batch and the reward/mask rule; returns (t, goal) pairs.
fn check_batch(ds: &Dataset, b: &envs::Batch) -> Vec<(usize, usize)> {
    let ep = episode_of(ds);
    assert_eq!((b.obs_dim, b.act_dim), (2, 2));
    assert_eq!(b.observations.len(), b.batch * 2);
    assert_eq!(b.goals.len(), b.batch * 2);
    assert_eq!((b.rewards.len(), b.masks.len(), b.idxs.len(), b.goal_idxs.len()), (b.batch, b.batch, b.batch, b.batch));
    let mut pairs = Vec::new();
    for i in 0..b.batch {
        let (t, g) = (b.idxs[i], b.goal_idxs[i]);
        assert!(ds.terminals[t] < 0.5, "drew the terminal row {t}");
        assert_eq!(&b.observations[2 * i..2 * i + 2], ds.observation(t));
        assert_eq!(&b.next_observations[2 * i..2 * i + 2], ds.observation(t + 1));
        assert_eq!(ep[t + 1].0, ep[t].0, "next observation from another episode");
        assert_eq!(&b.actions[2 * i..2 * i + 2], ds.action(t));
        assert_eq!(&b.goals[2 * i..2 * i + 2], ds.observation(g), "goal is not row {g}");
        assert!(ds.terminals[g] < 0.5, "goal is a terminal row {g}");
        let success = (g == t) as u8 as f32;
        assert_eq!(b.masks[i], 1.0 - success, "mask at t={t}, g={g}");
        assert_eq!(b.rewards[i], success - 1.0, "reward at t={t}, g={g}");
        pairs.push((t, g));
    }
    pairs
}

#[test]
fn uniform_future_goals_stay_in_the_episode_future() {
    let ds = synthetic(&LENS);
    let ep = episode_of(&ds);
    let s = GcSampler::new(ds.clone(), GoalConfig::default()).unwrap();
    assert_eq!(s.transitions().len(), LENS.iter().map(|l| l - 1).sum::<usize>());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut seen_in_small = std::collections::BTreeSet::new();
    let mut at_last = 0;
    for _ in 0..200 {
        let b = s.sample(256, &mut rng);
        for (t, g) in check_batch(&ds, &b) {
            assert_eq!(ep[g].0, ep[t].0, "goal {g} of t={t} crosses an episode boundary");
            let last = ep[t].1 - 1;
            assert_eq!(s.transitions().episode_last(t), last);
            if t == last {
                assert_eq!(g, t, "the last transition's trajectory goal is itself (OGBench)");
                at_last += 1;
            } else {
                assert!(g > t && g <= last, "goal {g} not in [{}, {last}] for t={t}", t + 1);
            }
            if ep[t].0 == 2 && t == 3 {
                seen_in_small.insert(g);
            }
        }
    }
    assert!(at_last > 0);
    // Episode 2 is rows 3..=7 (7 terminal): from t=3 every goal in 4..=6 occurs, uniformly enough.
    assert_eq!(seen_in_small.into_iter().collect::<Vec<_>>(), vec![4, 5, 6]);
}

#[test]
fn geometric_goals_have_mean_offset_one_over_one_minus_gamma() {
    let ds = synthetic(&LENS);
    let ep = episode_of(&ds);
    let gamma = 0.9f32;
    let s = GcSampler::new(ds.clone(), GoalConfig::geometric(gamma)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (mut sum, mut count, mut ones, mut truncated) = (0.0f64, 0usize, 0usize, 0usize);
    let mut batch = envs::Batch::default();
    for _ in 0..400 {
        s.sample_into(256, &mut rng, &mut batch);
        for (t, g) in check_batch(&ds, &batch) {
            assert_eq!(ep[g].0, ep[t].0, "goal {g} of t={t} crosses an episode boundary");
            let last = ep[t].1 - 1;
            assert!(g <= last && (g > t || t == last));
            if g == last && t + 1 < last {
                truncated += 1;
            }
            if last - t > 400 {
                // Far from the end: P(truncation) = 0.9^400 ≈ 5e-19.
                let k = (g - t) as f64;
                sum += k;
                count += 1;
                ones += (k == 1.0) as usize;
            }
        }
    }
    let mean = sum / count as f64;
    let expect = 1.0 / (1.0 - gamma as f64);
    // sd of Geometric(0.1) is √0.9 / 0.1 ≈ 9.5; with ~55k samples the standard error is ~0.04.
    assert!(count > 30_000, "{count}");
    assert!((mean - expect).abs() < 0.25, "mean offset {mean}, expected {expect}");
    let p1 = ones as f64 / count as f64;
    assert!((p1 - 0.1).abs() < 0.01, "P(k = 1) = {p1}, expected 1 − γ = 0.1");
    assert!(truncated > 0, "offsets past the episode end must be truncated to its last transition");
}

#[test]
fn random_and_current_goals() {
    let ds = synthetic(&LENS);
    let ep = episode_of(&ds);
    let mut rng = ChaCha8Rng::seed_from_u64(3);

    let cfg = GoalConfig { p_curgoal: 0.0, p_trajgoal: 0.0, p_randomgoal: 1.0, ..GoalConfig::default() };
    let s = GcSampler::new(ds.clone(), cfg).unwrap();
    let mut episodes = std::collections::BTreeSet::new();
    let mut elsewhere = 0;
    let mut past = 0;
    let b = s.sample(20_000, &mut rng);
    for (t, g) in check_batch(&ds, &b) {
        episodes.insert(ep[g].0);
        elsewhere += (ep[g].0 != ep[t].0) as usize;
        past += (ep[g].0 == ep[t].0 && g < t) as usize;
    }
    // Every episode with a transition (all but the one-row episode 0) supplies goals.
    assert_eq!(episodes.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
    assert!(elsewhere > 5_000 && past > 1_000, "elsewhere {elsewhere}, past {past}");

    let cfg = GoalConfig { p_curgoal: 1.0, p_trajgoal: 0.0, p_randomgoal: 0.0, ..GoalConfig::default() };
    let b = GcSampler::new(ds.clone(), cfg).unwrap().sample(1000, &mut rng);
    for (t, g) in check_batch(&ds, &b) {
        assert_eq!(g, t);
    }
    assert!(b.rewards.iter().all(|&r| r == 0.0) && b.masks.iter().all(|&m| m == 0.0));

    // A mixture: about 20 % current goals (plus the trajectory goals of last transitions).
    let cfg = GoalConfig { p_curgoal: 0.2, p_trajgoal: 0.5, p_randomgoal: 0.3, geom_sample: true, gamma: 0.99 };
    let b = GcSampler::new(ds.clone(), cfg).unwrap().sample(20_000, &mut rng);
    let pairs = check_batch(&ds, &b);
    let cur = pairs.iter().filter(|(t, g)| t == g).count() as f64 / pairs.len() as f64;
    let other_ep = pairs.iter().filter(|(t, g)| ep[*t].0 != ep[*g].0).count() as f64 / pairs.len() as f64;
    assert!((0.19..0.24).contains(&cur), "current-goal fraction {cur}");
    // Random goals land in another episode with probability ≈ 1 − Σ (len−1)² / (Σ (len−1))².
    assert!((0.11..0.17).contains(&other_ep), "other-episode fraction {other_ep}");
    assert_eq!(b.rewards.iter().filter(|&&r| r == 0.0).count(), pairs.iter().filter(|(t, g)| t == g).count());
}

/// OGBench's value-based sampling: rewards and masks follow the value goals, and the actor goals
/// come from their own mixture (here: value goals mostly random or current, actor goals always
/// from the same episode's future); without subgoals the HIQL fields stay empty.
#[test]
fn value_and_actor_goals_come_from_their_own_mixtures() {
    let ds = synthetic(&LENS);
    let ep = episode_of(&ds);
    let value = GoalConfig { p_curgoal: 0.2, p_trajgoal: 0.5, p_randomgoal: 0.3, geom_sample: true, gamma: 0.99 };
    let actor = GoalConfig { p_curgoal: 0.0, p_trajgoal: 1.0, p_randomgoal: 0.0, geom_sample: false, gamma: 0.99 };
    let s = GcSampler::value_based(ds.clone(), ValueGoals { value, actor, subgoal_steps: 0 }).unwrap();
    let b = s.sample(20_000, &mut ChaCha8Rng::seed_from_u64(4));
    let pairs = check_batch(&ds, &b);
    let cur = pairs.iter().filter(|(t, g)| t == g).count() as f64 / pairs.len() as f64;
    assert!((0.19..0.24).contains(&cur), "current value-goal fraction {cur}");
    assert_eq!(b.actor_goals.len(), b.batch * 2);
    assert!(b.subgoals.is_empty() && b.subgoal_targets.is_empty());
    let mut differ = 0;
    for (i, &(t, g)) in pairs.iter().enumerate() {
        let a = b.actor_goals[2 * i] as usize;
        assert_eq!(ep[a].0, ep[t].0, "actor goal {a} of t={t} left the episode");
        assert!(a > t || a == ep[t].1 - 1, "actor goal {a} of t={t} is not in its future");
        differ += (a != g) as usize;
    }
    assert!(differ > 10_000, "actor goals are drawn apart from value goals: {differ} differ");
}

/// HIQL's subgoals (OGBench's `HGCDataset`): the low-level goal is the state k ahead in the same
/// episode (its last state if nearer); the high-level target is k ahead towards a future actor
/// goal, or k ahead in the episode for a random actor goal.
#[test]
fn hiql_subgoals_are_k_steps_ahead_towards_the_goal() {
    let ds = synthetic(&LENS);
    let ep = episode_of(&ds);
    let k = 10;
    let value = GoalConfig { p_curgoal: 0.2, p_trajgoal: 0.5, p_randomgoal: 0.3, geom_sample: true, gamma: 0.99 };
    let actor = GoalConfig { p_curgoal: 0.0, p_trajgoal: 0.5, p_randomgoal: 0.5, geom_sample: false, gamma: 0.99 };
    let s = GcSampler::value_based(ds.clone(), ValueGoals { value, actor, subgoal_steps: k }).unwrap();
    let b = s.sample(20_000, &mut ChaCha8Rng::seed_from_u64(5));
    let pairs = check_batch(&ds, &b);
    let (mut random, mut short) = (0, 0);
    for (i, &(t, _)) in pairs.iter().enumerate() {
        let row = |v: &[f32]| v[2 * i] as usize;
        let (low, high, target) = (row(&b.subgoals), row(&b.actor_goals), row(&b.subgoal_targets));
        let last = ep[t].1 - 1;
        assert_eq!(low, (t + k).min(last), "t={t}");
        if ep[high].0 == ep[t].0 && high >= t {
            // A future goal (or a random one that happens to lie ahead): the target is k ahead,
            // or the goal itself if nearer.
            assert!(target == (t + k).min(high) || target == low, "t={t}, goal {high}, target {target}");
            short += (high < t + k && target == high) as usize;
        } else {
            assert_eq!(target, low, "a random goal's target is k ahead in the episode (t={t})");
            random += 1;
        }
    }
    assert!(random > 5_000 && short > 100, "random goals {random}, goals nearer than k {short}");
}

#[test]
fn goal_config_is_validated() {
    let ds = synthetic(&[10]);
    let err = |cfg: GoalConfig| match GcSampler::new(ds.clone(), cfg) {
        Err(EnvError::Invalid(msg)) => msg,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let msg = err(GoalConfig { p_curgoal: 0.3, p_trajgoal: 0.5, p_randomgoal: 0.3, ..GoalConfig::default() });
    assert!(msg.contains("p_curgoal + p_trajgoal + p_randomgoal") && msg.contains("must be 1"), "{msg}");
    let msg = err(GoalConfig { p_curgoal: -0.5, p_trajgoal: 1.5, ..GoalConfig::default() });
    assert!(msg.contains("p_curgoal"), "{msg}");
    let msg = err(GoalConfig { p_trajgoal: 0.5, p_randomgoal: f32::NAN, ..GoalConfig::default() });
    assert!(msg.contains("p_randomgoal"), "{msg}");
    assert!(err(GoalConfig::geometric(1.0)).contains("gamma"));
    GcSampler::new(ds.clone(), GoalConfig { p_curgoal: 0.1, p_trajgoal: 0.7, p_randomgoal: 0.2, ..GoalConfig::default() }).unwrap();
    GcSampler::new(ds.clone(), GoalConfig::geometric(0.0)).unwrap();

    let mut cut = ds.clone();
    cut.terminals[9] = 0.0;
    assert!(matches!(TransitionSampler::new(cut), Err(EnvError::Invalid(m)) if m.contains("not terminal")));
    assert!(TransitionSampler::new(Dataset::new(2, 2, 1, 1, 0)).is_err());
    assert!(TransitionSampler::new(synthetic(&[1, 1])).is_err());
}

#[test]
fn plain_transitions_with_supplied_rewards() {
    let ds = synthetic(&LENS);
    let n = ds.len();
    let rewards: Vec<f32> = (0..n).map(|t| t as f32 * 0.5).collect();
    let masks: Vec<f32> = (0..n).map(|t| (t % 2) as f32).collect();
    assert!(TransitionSampler::new(ds.clone()).unwrap().with_rewards(rewards[1..].to_vec(), masks.clone()).is_err());
    let s = TransitionSampler::new(ds.clone()).unwrap().with_rewards(rewards.clone(), masks.clone()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let b = s.sample_transitions(5000, &mut rng);
    assert!(b.goals.is_empty() && b.goal_idxs.is_empty());
    let mut hit_terminal_next = 0;
    for (i, &t) in b.idxs.iter().enumerate() {
        assert!(ds.terminals[t] < 0.5);
        assert_eq!(&b.observations[2 * i..2 * i + 2], ds.observation(t));
        assert_eq!(&b.next_observations[2 * i..2 * i + 2], ds.observation(t + 1));
        assert_eq!(&b.actions[2 * i..2 * i + 2], ds.action(t));
        assert_eq!((b.rewards[i], b.masks[i]), (rewards[t], masks[t]));
        hit_terminal_next += (ds.terminals[t + 1] > 0.5) as usize;
    }
    assert!(hit_terminal_next > 0, "transitions into the terminal row must be drawn");
    let plain = TransitionSampler::new(ds).unwrap().sample_transitions(10, &mut rng);
    assert!(plain.rewards.iter().all(|&r| r == 0.0) && plain.masks.iter().all(|&m| m == 1.0));
}
