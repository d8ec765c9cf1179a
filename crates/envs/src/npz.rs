//! NumPy `.npz` reading and writing, by hand on top of `zip`.
//!
//! Why not `ndarray-npy`: its writer stamps each zip entry with the current time (so two runs
//! with the same seed give different bytes and different sha256s in `data/manifest.toml`), and it
//! pulls `ndarray` into a crate that only ever holds flat `Vec`s. The format is small enough to
//! write ourselves:
//!
//! - an `.npz` is a zip archive with one entry `KEY.npy` per array (what `np.savez` writes);
//! - we store entries uncompressed (`CompressionMethod::Stored`), with a fixed last-modified time
//!   (1980-01-01 00:00:00, the DOS epoch) and fixed permissions (0o644), in the order given, so
//!   the same arrays always give the same bytes;
//! - each `.npy` is format version 1.0: `\x93NUMPY`, `\x01\x00`, a little-endian `u16` header
//!   length, then the header dict `{'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }`
//!   padded with spaces and ended by `\n` so that the data starts at a multiple of 64 bytes, then
//!   the little-endian data in C order.
//!
//! Reading accepts what NumPy writes for the dtypes we use (`<f4`, `<f8`, `<i8`, `<i4`, `|b1`,
//! `|u1`), `.npy` versions 1.0–3.0, stored or deflated entries (`np.savez_compressed`). Every
//! failure is an [`EnvError::Dataset`] naming the file and, where it applies, the key.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::dataset::Dataset;
use crate::error::{EnvError, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Bytes converted per chunk while streaming array data in or out.
const CHUNK: usize = 1 << 16;

/// The element type and values of an array.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

/// A C-ordered array as read from, or to be written to, a `.npy` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

/// A borrowed view of array data, what the writer consumes (saving a [`Dataset`] copies nothing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NpyRef<'a> {
    F32(&'a [f32]),
    I64(&'a [i64]),
    Bool(&'a [bool]),
}

/// A borrowed array: shape plus a view of its data.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrayRef<'a> {
    pub shape: Vec<usize>,
    pub data: NpyRef<'a>,
}

impl NpyData {
    pub fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::Bool(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The NumPy dtype string this data is written with.
    pub fn descr(&self) -> &'static str {
        self.as_ref().descr()
    }
    pub fn as_ref(&self) -> NpyRef<'_> {
        match self {
            NpyData::F32(v) => NpyRef::F32(v),
            NpyData::I64(v) => NpyRef::I64(v),
            NpyData::Bool(v) => NpyRef::Bool(v),
        }
    }
}

impl NpyRef<'_> {
    pub fn len(&self) -> usize {
        match self {
            NpyRef::F32(v) => v.len(),
            NpyRef::I64(v) => v.len(),
            NpyRef::Bool(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn descr(&self) -> &'static str {
        match self {
            NpyRef::F32(_) => "<f4",
            NpyRef::I64(_) => "<i8",
            NpyRef::Bool(_) => "|b1",
        }
    }
    fn item_size(&self) -> usize {
        match self {
            NpyRef::F32(_) => 4,
            NpyRef::I64(_) => 8,
            NpyRef::Bool(_) => 1,
        }
    }
}

impl NpyArray {
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self { shape, data: NpyData::F32(data) }
    }
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Self {
        Self { shape, data: NpyData::I64(data) }
    }
    pub fn bool(shape: Vec<usize>, data: Vec<bool>) -> Self {
        Self { shape, data: NpyData::Bool(data) }
    }
    pub fn view(&self) -> ArrayRef<'_> {
        ArrayRef { shape: self.shape.clone(), data: self.data.as_ref() }
    }
    /// The values as `f32` (integers and booleans converted; `<f8` was converted on reading).
    pub fn into_f32(self) -> Vec<f32> {
        match self.data {
            NpyData::F32(v) => v,
            NpyData::I64(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::Bool(v) => v.into_iter().map(|x| x as u8 as f32).collect(),
        }
    }
    /// The values as `i64` (booleans converted), or `None` for floating-point data.
    pub fn into_i64(self) -> Option<Vec<i64>> {
        match self.data {
            NpyData::F32(_) => None,
            NpyData::I64(v) => Some(v),
            NpyData::Bool(v) => Some(v.into_iter().map(|x| x as i64).collect()),
        }
    }
}

/// `(N, D)`, `(N,)`, `()` as NumPy prints shapes in headers.
fn shape_tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// A readable shape for error messages: `[1000, 2]`.
pub(crate) fn shape_str(shape: &[usize]) -> String {
    format!("{shape:?}")
}

/// The complete v1.0 header (magic through the trailing `\n`), padded so that its length is a
/// multiple of 64 bytes, exactly as `numpy.lib.format.write_array` pads it.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}", shape_tuple(shape));
    // magic (6) + version (2) + header length (2) + dict + padding + '\n'
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header_len = dict.len() + pad + 1;
    let mut out = Vec::with_capacity(unpadded + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + pad, b' ');
    out.push(b'\n');
    out
}

fn write_data<W: Write>(w: &mut W, data: NpyRef<'_>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(CHUNK);
    macro_rules! chunks {
        ($v:expr, $n:expr) => {
            for part in $v.chunks(CHUNK / $n) {
                buf.clear();
                for x in part {
                    buf.extend_from_slice(&x.to_le_bytes());
                }
                w.write_all(&buf)?;
            }
        };
    }
    match data {
        NpyRef::F32(v) => chunks!(v, 4),
        NpyRef::I64(v) => chunks!(v, 8),
        NpyRef::Bool(v) => {
            for part in v.chunks(CHUNK) {
                buf.clear();
                buf.extend(part.iter().map(|&b| b as u8));
                w.write_all(&buf)?;
            }
        }
    }
    Ok(())
}

/// Writes one `.npy` stream (header and data) to `w`.
pub fn write_npy<W: Write>(w: &mut W, array: &ArrayRef<'_>) -> std::io::Result<()> {
    w.write_all(&npy_header(array.data.descr(), &array.shape))?;
    write_data(w, array.data)
}

fn check_shape(path: &Path, key: &str, array: &ArrayRef<'_>) -> Result<usize> {
    let n = array.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n == array.data.len() => Ok(n),
        _ => Err(EnvError::dataset(path, format!("key `{key}`: shape {} does not match its {} values", shape_str(&array.shape), array.data.len()))),
    }
}

/// Writes a file atomically: `fill` writes into a fresh temporary file in the same directory
/// (named, and removed on any error, by `tempfile`), which is flushed, synced and renamed over
/// `path`.
pub(crate) fn write_atomic(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| EnvError::io(dir, e))?;
    let mut builder = tempfile::Builder::new();
    // tempfile's default is 0600; datasets get the usual 0666 & umask (cluster nodes share them).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir).map_err(|e| EnvError::io(dir, e))?;
    let (file, tmp_path) = tmp.into_parts();
    let mut w = BufWriter::with_capacity(1 << 20, file);
    fill(&mut w)?;
    let file = w.into_inner().map_err(|e| EnvError::io(&*tmp_path, e.into_error()))?;
    file.sync_all().map_err(|e| EnvError::io(&*tmp_path, e))?;
    drop(file);
    tmp_path.persist(path).map_err(|e| EnvError::io(path, e.error))?;
    Ok(())
}

fn zip_write_err(path: &Path, e: zip::result::ZipError) -> EnvError {
    match e {
        zip::result::ZipError::Io(e) => EnvError::io(path, e),
        other => EnvError::dataset(path, format!("writing the zip archive: {other}")),
    }
}

/// Writes `arrays` to `path` as an `.npz` (entries `KEY.npy`, in the order given), atomically and
/// byte-reproducibly: the same arrays always give the same file.
pub fn write_npz(path: impl AsRef<Path>, arrays: &[(&str, NpyArray)]) -> Result<()> {
    let refs: Vec<(&str, ArrayRef<'_>)> = arrays.iter().map(|(k, a)| (*k, a.view())).collect();
    write_npz_refs(path, &refs)
}

/// [`write_npz`] over borrowed arrays.
pub fn write_npz_refs(path: impl AsRef<Path>, arrays: &[(&str, ArrayRef<'_>)]) -> Result<()> {
    let path = path.as_ref();
    let mut seen = std::collections::BTreeSet::new();
    for (key, array) in arrays {
        if key.is_empty() || key.contains('/') || !seen.insert(*key) {
            return Err(EnvError::dataset(path, format!("key `{key}` is empty, contains '/', or appears twice")));
        }
        check_shape(path, key, array)?;
    }
    write_atomic(path, |w| {
        let mut zip = ZipWriter::new(&mut *w);
        for (key, array) in arrays {
            let bytes = npy_header(array.data.descr(), &array.shape).len() as u64 + (array.data.len() * array.data.item_size()) as u64;
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Stored)
                // The DOS epoch, not "now": identical inputs must give identical bytes.
                .last_modified_time(DateTime::default())
                .unix_permissions(0o644)
                // ZIP64 only where the entry needs it (so small files stay plain zip).
                .large_file(bytes >= u32::MAX as u64);
            zip.start_file(format!("{key}.npy"), options).map_err(|e| zip_write_err(path, e))?;
            write_npy(&mut zip, array).map_err(|e| EnvError::io(path, e))?;
        }
        zip.finish().map_err(|e| zip_write_err(path, e))?;
        Ok(())
    })
}

/// The element type named by a header's `descr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    I8,
    I4,
    B1,
    U1,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        Some(match descr {
            "<f4" => Dtype::F4,
            "<f8" => Dtype::F8,
            "<i8" => Dtype::I8,
            "<i4" => Dtype::I4,
            "|b1" => Dtype::B1,
            "|u1" => Dtype::U1,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Dtype::F4 | Dtype::I4 => 4,
            Dtype::F8 | Dtype::I8 => 8,
            Dtype::B1 | Dtype::U1 => 1,
        }
    }
}

/// The parsed fields of a `.npy` header dict.
#[derive(Debug)]
struct Header {
    dtype: Dtype,
    shape: Vec<usize>,
}

/// The text after `'key':` in the header dict (accepting either quote style).
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    for q in ['\'', '"'] {
        let pat = format!("{q}{key}{q}");
        if let Some(i) = dict.find(&pat) {
            let rest = dict[i + pat.len()..].trim_start();
            return rest.strip_prefix(':').map(str::trim_start);
        }
    }
    None
}

fn parse_header(dict: &str) -> std::result::Result<Header, String> {
    let dict = dict.trim();
    if !dict.starts_with('{') || !dict.ends_with('}') {
        return Err(format!("header is not a dict: {dict:?}"));
    }
    let descr_v = dict_value(dict, "descr").ok_or_else(|| format!("header has no 'descr': {dict:?}"))?;
    let descr = match descr_v.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let body = &descr_v[1..];
            &body[..body.find(q).ok_or_else(|| format!("unterminated 'descr' in header {dict:?}"))?]
        }
        _ => return Err(format!("unsupported dtype {} (structured arrays are not supported; expected one of <f4, <f8, <i8, <i4, |b1, |u1)", descr_v.split(',').next().unwrap_or(""))),
    };
    let dtype = Dtype::parse(descr).ok_or_else(|| format!("unsupported dtype '{descr}' (expected one of <f4, <f8, <i8, <i4, |b1, |u1)"))?;
    let fortran = dict_value(dict, "fortran_order").ok_or_else(|| format!("header has no 'fortran_order': {dict:?}"))?;
    if fortran.starts_with("True") {
        return Err("array is in Fortran order; only C-ordered arrays are supported (save with np.ascontiguousarray)".into());
    } else if !fortran.starts_with("False") {
        return Err(format!("bad 'fortran_order' in header {dict:?}"));
    }
    let shape_v = dict_value(dict, "shape").ok_or_else(|| format!("header has no 'shape': {dict:?}"))?;
    let inner = shape_v.strip_prefix('(').and_then(|s| s.find(')').map(|j| &s[..j])).ok_or_else(|| format!("bad 'shape' in header {dict:?}"))?;
    let mut shape = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // NumPy on some platforms writes `3L`.
        let part = part.trim_end_matches('L');
        shape.push(part.parse::<usize>().map_err(|_| format!("bad dimension `{part}` in 'shape' of header {dict:?}"))?);
    }
    Ok(Header { dtype, shape })
}

/// Reads the magic, version and header dict of a `.npy` stream.
fn read_header<R: Read>(r: &mut R) -> std::result::Result<(Header, usize), String> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre).map_err(|e| format!("cannot read the .npy header: {e}"))?;
    if &pre[..6] != MAGIC {
        return Err("not a .npy array (bad magic bytes)".into());
    }
    let (len, prefix) = match pre[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(|e| format!("cannot read the .npy header: {e}"))?;
            (u16::from_le_bytes(b) as usize, 10)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(|e| format!("cannot read the .npy header: {e}"))?;
            (u32::from_le_bytes(b) as usize, 12)
        }
        v => return Err(format!("unsupported .npy format version {v}.{}", pre[7])),
    };
    if len > 1 << 20 {
        return Err(format!("implausible .npy header length {len}"));
    }
    let mut dict = vec![0u8; len];
    r.read_exact(&mut dict).map_err(|e| format!("the .npy header is truncated: {e}"))?;
    let dict = String::from_utf8_lossy(&dict);
    Ok((parse_header(&dict)?, prefix + len))
}

/// Reads exactly `n` elements of `dtype` from `r`, converting to our element types.
fn read_data<R: Read>(r: &mut R, dtype: Dtype, n: usize) -> std::io::Result<NpyData> {
    let size = dtype.size();
    let mut buf = vec![0u8; CHUNK];
    let per = CHUNK / size;
    macro_rules! fill {
        ($out:ident, $conv:expr) => {{
            let mut left = n;
            while left > 0 {
                let k = left.min(per);
                let bytes = &mut buf[..k * size];
                r.read_exact(bytes)?;
                $out.extend(bytes.chunks_exact(size).map($conv));
                left -= k;
            }
        }};
    }
    Ok(match dtype {
        Dtype::F4 => {
            let mut v = Vec::with_capacity(n);
            fill!(v, |b| f32::from_le_bytes(b.try_into().unwrap()));
            NpyData::F32(v)
        }
        Dtype::F8 => {
            let mut v = Vec::with_capacity(n);
            fill!(v, |b| f64::from_le_bytes(b.try_into().unwrap()) as f32);
            NpyData::F32(v)
        }
        Dtype::I8 => {
            let mut v = Vec::with_capacity(n);
            fill!(v, |b| i64::from_le_bytes(b.try_into().unwrap()));
            NpyData::I64(v)
        }
        Dtype::I4 => {
            let mut v = Vec::with_capacity(n);
            fill!(v, |b| i32::from_le_bytes(b.try_into().unwrap()) as i64);
            NpyData::I64(v)
        }
        Dtype::U1 => {
            let mut v = Vec::with_capacity(n);
            fill!(v, |b| b[0] as i64);
            NpyData::I64(v)
        }
        Dtype::B1 => {
            let mut v = Vec::with_capacity(n);
            fill!(v, |b| b[0] != 0);
            NpyData::Bool(v)
        }
    })
}

/// Reads one `.npy` stream. `limit` (the entry's uncompressed size, when known) guards against a
/// header that claims more data than there is, before anything is allocated. The error is a
/// reason without the path (callers add it).
pub fn read_npy<R: Read>(r: &mut R, limit: Option<u64>) -> std::result::Result<NpyArray, String> {
    let (h, header_bytes) = read_header(r)?;
    let n = h.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| format!("shape {} overflows", shape_str(&h.shape)))?;
    let want = n as u128 * h.dtype.size() as u128;
    if let Some(limit) = limit {
        let have = (limit as u128).saturating_sub(header_bytes as u128);
        if want > have {
            return Err(format!("data is shorter than the header says: shape {} needs {want} bytes, the entry holds {have}", shape_str(&h.shape)));
        }
    }
    let data = read_data(r, h.dtype, n).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!("data is shorter than the header says: shape {} needs {want} bytes", shape_str(&h.shape))
        } else {
            format!("reading the data: {e}")
        }
    })?;
    // Read to the end: this is what makes `zip` verify the entry's CRC.
    let mut rest = [0u8; 1];
    match r.read(&mut rest) {
        Ok(0) => {}
        Ok(_) => return Err(format!("data is longer than the header says (shape {})", shape_str(&h.shape))),
        Err(e) => return Err(format!("reading the data: {e}")),
    }
    Ok(NpyArray { shape: h.shape, data })
}

/// Reads every array of an `.npz`, keyed by entry name without `.npy`.
pub fn read_npz(path: impl AsRef<Path>) -> Result<BTreeMap<String, NpyArray>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| EnvError::dataset(path, format!("cannot open the file: {e}")))?;
    read_npz_from(path, BufReader::with_capacity(1 << 20, file))
}

fn read_npz_from<R: Read + Seek>(path: &Path, reader: R) -> Result<BTreeMap<String, NpyArray>> {
    let mut zip = ZipArchive::new(reader).map_err(|e| EnvError::dataset(path, format!("not a readable .npz (zip) file, perhaps truncated: {e}")))?;
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| EnvError::dataset(path, format!("zip entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        let key = name.strip_suffix(".npy").ok_or_else(|| EnvError::dataset(path, format!("entry `{name}` is not a .npy array")))?.to_string();
        let limit = entry.size();
        let array = read_npy(&mut entry, Some(limit)).map_err(|r| EnvError::dataset(path, format!("key `{key}`: {r}")))?;
        out.insert(key, array);
    }
    Ok(out)
}

/// The keys OGBench's `.npz` datasets hold, in the order we write them.
pub const DATASET_KEYS: [&str; 6] = ["observations", "actions", "terminals", "qpos", "qvel", "button_states"];

impl Dataset {
    /// The arrays this dataset is saved as, checking that every field has `len() * dim` values.
    fn npz_arrays(&self, path: &Path) -> Result<Vec<(&'static str, ArrayRef<'_>)>> {
        let n = self.len();
        let mut v = vec![
            ("observations", ArrayRef { shape: vec![n, self.obs_dim], data: NpyRef::F32(&self.observations) }),
            ("actions", ArrayRef { shape: vec![n, self.act_dim], data: NpyRef::F32(&self.actions) }),
            ("terminals", ArrayRef { shape: vec![n], data: NpyRef::F32(&self.terminals) }),
            ("qpos", ArrayRef { shape: vec![n, self.qpos_dim], data: NpyRef::F32(&self.qpos) }),
            ("qvel", ArrayRef { shape: vec![n, self.qvel_dim], data: NpyRef::F32(&self.qvel) }),
        ];
        if self.button_dim > 0 {
            v.push(("button_states", ArrayRef { shape: vec![n, self.button_dim], data: NpyRef::I64(&self.button_states) }));
        } else if !self.button_states.is_empty() {
            return Err(EnvError::dataset(path, format!("key `button_states`: button_dim is 0 but there are {} values", self.button_states.len())));
        }
        for (key, a) in &v {
            if a.shape.iter().product::<usize>() != a.data.len() {
                return Err(EnvError::dataset(
                    path,
                    format!("key `{key}`: the dataset has {n} rows of {} values, so {} values, but holds {}", a.shape.get(1).copied().unwrap_or(1), a.shape.iter().product::<usize>(), a.data.len()),
                ));
            }
        }
        Ok(v)
    }

    /// Saves in OGBench's layout (`observations`, `actions`, `terminals`, `qpos`, `qvel` as
    /// float32, `button_states` as int64 when `button_dim > 0`), atomically and reproducibly.
    pub fn save_npz(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let arrays = self.npz_arrays(path)?;
        write_npz_refs(path, &arrays)
    }

    /// Loads a dataset saved by [`Dataset::save_npz`] or by OGBench (float64 and integer arrays
    /// are converted). Checks that the keys exist, have the right rank, and agree on the number
    /// of rows, naming the key at fault.
    pub fn load_npz(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let mut arrays = read_npz(path)?;
        let has_buttons = arrays.contains_key("button_states");
        let present = arrays.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let mut take = |key: &str, rank: usize| -> Result<NpyArray> {
            let a = arrays.remove(key).ok_or_else(|| EnvError::dataset(path, format!("missing key `{key}` (the file has {present})")))?;
            if a.shape.len() != rank {
                return Err(EnvError::dataset(path, format!("key `{key}`: expected a {rank}-D array, found shape {}", shape_str(&a.shape))));
            }
            Ok(a)
        };
        let obs = take("observations", 2)?;
        let act = take("actions", 2)?;
        let term = take("terminals", 1)?;
        let qpos = take("qpos", 2)?;
        let qvel = take("qvel", 2)?;
        let buttons = if has_buttons { Some(take("button_states", 2)?) } else { None };
        let n = obs.shape[0];
        let named: [(&str, Option<&NpyArray>); 5] = [("actions", Some(&act)), ("terminals", Some(&term)), ("qpos", Some(&qpos)), ("qvel", Some(&qvel)), ("button_states", buttons.as_ref())];
        for (key, a) in named {
            if let Some(a) = a {
                if a.shape[0] != n {
                    return Err(EnvError::dataset(path, format!("key `{key}` has {} rows but `observations` has {n} (shape {} vs {})", a.shape[0], shape_str(&a.shape), shape_str(&obs.shape))));
                }
            }
        }
        let mut ds = Dataset::new(obs.shape[1], act.shape[1], qpos.shape[1], qvel.shape[1], buttons.as_ref().map_or(0, |b| b.shape[1]));
        ds.observations = obs.into_f32();
        ds.actions = act.into_f32();
        ds.terminals = term.into_f32();
        ds.qpos = qpos.into_f32();
        ds.qvel = qvel.into_f32();
        if let Some(b) = buttons {
            ds.button_states = b.into_i64().ok_or_else(|| EnvError::dataset(path, "key `button_states`: expected an integer or boolean array, found float"))?;
        }
        Ok(ds)
    }

    /// Checks that this dataset (read from `path`, named in errors) fits `task`: observation and
    /// action widths equal the task's specs, and the last row ends an episode.
    pub fn check_for_task(&self, path: impl AsRef<Path>, task: &str) -> Result<()> {
        let path = path.as_ref();
        let env = crate::make(task)?;
        let n = self.len();
        let checks = [("observations", self.obs_dim, env.observation_spec().dim()), ("actions", self.act_dim, env.action_spec().dim())];
        for (key, found, expected) in checks {
            if found != expected {
                return Err(EnvError::dataset(path, format!("key `{key}`: task {task} expects shape [{n}, {expected}], found [{n}, {found}]")));
            }
        }
        match self.terminals.last() {
            None => Err(EnvError::dataset(path, format!("key `terminals`: the dataset is empty (task {task})"))),
            Some(&t) if t <= 0.5 => Err(EnvError::dataset(path, format!("key `terminals`: the last row ({}) is not terminal, so the final episode is cut off", n - 1))),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_padded_to_64_and_parses_back() {
        for shape in [vec![], vec![7], vec![1000, 2], vec![123456789, 29, 3]] {
            let h = npy_header("<f4", &shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            let (parsed, len) = read_header(&mut &h[..]).unwrap();
            assert_eq!(len, h.len());
            assert_eq!(parsed.shape, shape);
            assert_eq!(parsed.dtype, Dtype::F4);
        }
        let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
        let h = npy_header("<i8", &[3]);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
        assert_eq!(&h[10..10 + dict.len()], dict.as_bytes());
        assert!(h[10 + dict.len()..h.len() - 1].iter().all(|&b| b == b' '));
    }

    #[test]
    fn header_rejects_fortran_and_unknown_dtypes() {
        assert!(parse_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }").unwrap_err().contains("Fortran"));
        assert!(parse_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }").unwrap_err().contains("'>f4'"));
        assert!(parse_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }").unwrap_err().contains("structured"));
        let h = parse_header("{'shape': (5, 1), 'fortran_order': False, 'descr': '|u1'}").unwrap();
        assert_eq!((h.dtype, h.shape), (Dtype::U1, vec![5, 1]));
    }
}
